"""`birthreg seed` on PostgreSQL as a bulk load: its batches written with the foreign keys'
triggers off where its role may (`session_replication_role`), and a big seed's tables without
their secondary indexes until it ends (`birthreg.seed_indexes`). Every reference still holds,
nothing else is turned off, a role that may not seeds with the checks on, and the indexes come
back as they were, also after a seed stopped by an error or by force."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servicekit import reset_postgres
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from typer.testing import CliRunner

from birthreg import seed, seed_indexes
from birthreg.bootstrap import initialise
from birthreg.cli import app as cli
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.seed import run_seed

LIMITED_ROLE = "birthreg_seed_limited"

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("BIRTHREG_TEST_DATABASE_URL")
    if not url:
        pytest.skip("BIRTHREG_TEST_DATABASE_URL is not set")
    reset_postgres(url)
    return url


def _settings(url: str, data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, database_url=url, base_url="http://testserver",
                    env="development", _env_file=None)  # type: ignore[call-arg]


# Names read from the catalog, not given by anyone.
_ORPHANS = ('SELECT count(*) FROM {table} t WHERE t."{column}" IS NOT NULL AND NOT EXISTS '
            '(SELECT 1 FROM {target} r WHERE r."{target_column}" = t."{column}")')


def _orphans(engine: Engine) -> dict[str, int]:
    """Per foreign key (every one in the schema has one column), the rows whose reference
    names no row."""
    with engine.connect() as connection:
        keys = connection.execute(text("""
            SELECT c.conname, c.conrelid::regclass::text, a.attname,
                   c.confrelid::regclass::text, fa.attname
            FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1]
            WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
        """)).all()
        assert keys, "the schema has foreign keys"
        return {
            name: connection.execute(text(_ORPHANS.format(
                table=table, column=column, target=target, target_column=target_column
            ))).scalar_one()
            for name, table, column, target, target_column in keys
        }


def test_every_reference_holds_after_a_seed(postgres_url: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seed, "BATCH", 30)
    settings = _settings(postgres_url, tmp_path / "data")
    initialise(settings)
    result = run_seed(settings, 90, days=20, rng=random.Random(3), processes=2)
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            # The role may turn the checks off (so this seed did), and the schema has no
            # trigger of its own that `replica` would silence with them.
            assert connection.execute(text("SHOW is_superuser")).scalar_one() == "on"
            assert connection.execute(text(
                "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"
            )).scalar_one() == 0
        orphans = _orphans(engine)
    finally:
        engine.dispose()
    assert result.rows["registry_submission"] > 0
    assert set(orphans.values()) == {0}, {k: v for k, v in orphans.items() if v}


@pytest.fixture
def limited_url(postgres_url: str) -> Iterator[str]:
    """The test database as a role that is no superuser, with the rights the seed needs."""
    engine = make_engine(postgres_url)
    try:
        with engine.begin() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": LIMITED_ROLE}
            ).first()
            if exists is None:
                connection.execute(text(f"CREATE ROLE {LIMITED_ROLE} LOGIN NOSUPERUSER"))
            connection.execute(text(f"GRANT ALL ON SCHEMA public TO {LIMITED_ROLE}"))
        yield make_url(postgres_url).set(username=LIMITED_ROLE).render_as_string(
            hide_password=False)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP OWNED BY {LIMITED_ROLE}"))
            connection.execute(text(f"DROP ROLE {LIMITED_ROLE}"))
        engine.dispose()


def test_a_role_that_may_not_turn_checks_off_seeds_with_them(
    limited_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seed, "BATCH", 30)
    settings = _settings(limited_url, tmp_path / "data")
    initialise(settings)  # as the limited role: it owns the tables it makes
    engine = make_engine(limited_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SHOW is_superuser")).scalar_one() == "off"
        result = run_seed(settings, 40, days=10, rng=random.Random(5), processes=1)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM birth")).scalar_one() == 40
        # Such a role may not turn the checks off, and with them on a dangling row is refused.
        with pytest.raises(DBAPIError, match="permission denied"), engine.begin() as connection:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        with pytest.raises(IntegrityError, match="foreign key"), engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO registry_search_key (key, submission_id, received_at) "
                "VALUES ('t:X', 'no-such-submission', now())"
            ))
    finally:
        engine.dispose()
    assert result.births == 40


def _indexes(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return dict(connection.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        )).all())


def _used_index(engine: Engine, query: str) -> str:
    with engine.connect() as connection:
        connection.execute(text("SET enable_seqscan = off"))
        return "\n".join(connection.execute(text(f"EXPLAIN {query}")).scalars())


@pytest.fixture
def big(postgres_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, Engine, dict[str, str]]]:
    """An initialised database where a seed of 50 births is big (`seed_indexes.BULK`): its
    settings, an engine, and its indexes before any seed."""
    monkeypatch.setattr(seed, "BATCH", 30)
    monkeypatch.setattr(seed_indexes, "BULK", 50)
    settings = _settings(postgres_url, tmp_path / "data")
    initialise(settings)
    engine = make_engine(postgres_url)
    try:
        yield settings, engine, _indexes(engine)
    finally:
        engine.dispose()


def test_a_big_seed_sets_the_secondary_indexes_aside_and_makes_them_again(
    big: tuple[Settings, Engine, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, engine, before = big
    seen: list[set[str]] = []
    write = seed._write

    def watched(*args: Any) -> int:  # what the tables have while the batches are written
        seen.append(set(_indexes(engine)))
        return write(*args)

    monkeypatch.setattr(seed, "_write", watched)
    result = run_seed(settings, 60, days=20, rng=random.Random(4), processes=1)
    after = _indexes(engine)
    plan = _used_index(engine, "SELECT id FROM registry_submission WHERE mother_iin = 'x'")
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT to_regclass('seed_dropped_index')"))
        assert kept.scalar_one() is None
    aside = set(before) - seen[0]
    assert "ix_registry_submission_mother_iin" in aside and "ix_audit_entry_object" in aside
    assert "registry_submission_pkey" not in aside
    assert "ix_registry_submission_tracking_number" not in aside  # unique: kept
    assert all(indexes == seen[0] for indexes in seen)
    assert after == before
    # The result says how many were made again and how long that took (the command prints it).
    assert result.indexes == len(aside)
    assert 0 < result.index_seconds < result.seconds
    assert "ix_registry_submission_mother_iin" in plan
    # A second seed of fewer births than the database holds keeps them all.
    seen.clear()
    smaller = run_seed(settings, 20, days=5, rng=random.Random(5), processes=1)
    assert seen and all(indexes == set(before) for indexes in seen)
    assert smaller.indexes == 0


def test_the_seed_command_says_how_long_the_indexes_took(
    big: tuple[Settings, Engine, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, engine, before = big
    for name, value in (("DATA_DIR", str(settings.data_dir)), ("ENV", "development"),
                        ("DATABASE_URL", settings.database_url), ("BASE_URL", settings.base_url)):
        monkeypatch.setenv(f"BIRTHREG_{name}", value)
    result = CliRunner().invoke(cli, ["seed", "--births", "60", "--days", "20"])
    assert result.exit_code == 0, result.output
    said = [line for line in result.output.splitlines() if "made again" in line]
    assert len(said) == 1 and said[0].startswith("seed   ")
    assert int(said[0].split()[1]) >= 2  # at least the two named above
    assert _indexes(engine) == before
    # A seed too small to set them aside says nothing of them.
    again = CliRunner().invoke(cli, ["seed", "--births", "5", "--days", "2"])
    assert again.exit_code == 0, again.output
    assert "made again" not in again.output


def test_indexes_come_back_after_a_seed_stopped_by_an_error_or_by_force(
    big: tuple[Settings, Engine, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, engine, before = big

    def fail(*_args: Any) -> int:
        raise RuntimeError("the seed stops")

    monkeypatch.setattr(seed, "_write", fail)
    with pytest.raises(RuntimeError, match="the seed stops"):
        run_seed(settings, 60, days=20, rng=random.Random(4), processes=1)
    assert _indexes(engine) == before
    # Stopped by force between setting them aside and making them again: what was kept is
    # enough for `birthreg init` (or the next seed) to make them.
    aside = seed_indexes.set_aside(engine, ("registry_submission", "audit_entry"))
    assert aside and not set(aside) & set(_indexes(engine))
    result = initialise(settings)
    assert _indexes(engine) == before
    assert sum("set aside by a seed" in line for line in result.made) == len(aside)
