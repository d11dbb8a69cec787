"""Migration 0021: an enrollment's lookup may be released (NULL); and back, where each released
lookup gets a placeholder no code can have."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from ward.helpers import record_birth, start_enrollment, ward_headers

from migrations.test_0011_scale_indexes import _migrate


def _lookup_nullable(engine: sa.Engine) -> bool:
    columns = {c["name"]: c for c in sa.inspect(engine).get_columns("enrollment")}
    return bool(columns["lookup"]["nullable"])


def test_0021_lets_a_lookup_go_and_back(app: Any, client: Any) -> None:
    headers = ward_headers(app)
    birth_id = record_birth(client, headers)["id"]
    released = start_enrollment(client, headers, birth_id)["id"]
    kept = start_enrollment(client, headers, birth_id)  # supersedes the first
    engine = app.state.services.engine
    assert _lookup_nullable(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE enrollment SET lookup = NULL WHERE id = :id"), {"id": released}
        )

    _migrate(engine, "0020", down=True)
    assert not _lookup_nullable(engine)
    with engine.connect() as connection:
        lookups = dict(connection.execute(sa.text("SELECT id, lookup FROM enrollment")).all())
    assert lookups == {released: released[:8], kept["id"]: kept["code"][:4]}
    _migrate(engine, "head")
    assert _lookup_nullable(engine)
