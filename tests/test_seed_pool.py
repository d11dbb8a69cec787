"""`birthreg.seed_pool.build`: a batch is made with the cyclic garbage collector off, and leaves
it nothing to collect."""

from __future__ import annotations

import gc
import random
from typing import Any

import pytest

from birthreg import seed, seed_pool
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.models import now


def test_a_batch_is_made_with_the_collector_off_and_leaves_it_no_cycles(
    app: Any, service_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(service_settings.database_url)
    try:
        moment = now()
        context, counters = seed._context(engine, service_settings, moment)
        plans = next(iter(seed._plans(counters, random.Random(3), 30, 20, moment)))
    finally:
        engine.dispose()
    add_birth = seed_pool.add_birth
    collecting: list[bool] = []

    def watched(*args: Any) -> None:
        collecting.append(gc.isenabled())
        add_birth(*args)

    monkeypatch.setattr(seed_pool, "add_birth", watched)
    seed_pool.build(context, plans, True)  # the first batch: what is made once is made
    gc.collect()
    built = seed_pool.build(context, plans, True)
    assert collecting == [False] * (2 * len(plans)) and gc.isenabled()
    assert built.births == len(plans) and built.entries == len(built.middles) > 0
    assert gc.collect() == 0
    # The collector is left as it was found, also when a batch fails.
    gc.disable()
    try:
        seed_pool.build(context, plans[:1], True)
        assert not gc.isenabled()
    finally:
        gc.enable()
    monkeypatch.setattr(seed_pool, "add_birth", lambda *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        seed_pool.build(context, plans[:1], True)
    assert gc.isenabled()
