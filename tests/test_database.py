"""Database infrastructure against real SQLite files: pragmas, locking, schema revisions."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, text

from analyzer.app_context import AppContext
from analyzer.errors import SchemaMismatchError
from analyzer.settings import Settings
from modules.core.database.database_infrastructure import DatabaseRuntime
from modules.semantic_core.db_models import SCHEMA_REVISION
from tests.conftest import PLUGIN
from tests.helpers import run, server_url, stored_rows


@pytest.mark.sqlite_only("SQLite's pragmas")
def test_pragmas_hold_on_every_pooled_connection(settings: Settings) -> None:
    async def scenario() -> list[tuple[str, int, int, int]]:
        async with AppContext(settings) as app:
            engine = app.get_service("core.database.service").engine("semantic_core", readonly=True)
            connections = [await engine.connect() for _ in range(4)]
            seen = []
            for conn in connections:
                row = []
                for pragma in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous"):
                    row.append((await conn.exec_driver_sql(f"PRAGMA {pragma}")).scalar_one())
                seen.append(tuple(row))
            for conn in connections:
                await conn.close()
            return seen

    assert run(scenario()) == [("wal", 1, 2000, 1)] * 4


def _note_writer(app: AppContext, title: str, hold_s: float, log: list[str]):
    from tests.plugins.notes_plugin.db_models import Note

    async def write() -> None:
        async with app.get_service("core.database.service").session("plugin_notes") as session:
            session.add(Note(title=title))
            await session.flush()  # BEGIN IMMEDIATE happens here
            log.append(f"{title} inserted")
            await asyncio.sleep(hold_s)
        log.append(f"{title} committed")

    return write


def test_two_concurrent_writers_wait_rather_than_fail(settings: Settings) -> None:
    log: list[str] = []

    async def scenario() -> int:
        async with (
            AppContext(settings, extra_packages=[PLUGIN]) as first,
            AppContext(settings, extra_packages=[PLUGIN]) as second,
        ):
            slow = asyncio.create_task(_note_writer(first, "slow", 0.5, log)())
            await asyncio.sleep(0.1)
            await _note_writer(second, "fast", 0.0, log)()
            await slow
            crud = first.get_service("core.database.crud_service")
            from tests.plugins.notes_plugin.db_models import Note

            return await crud.count(Note)

    assert run(scenario()) == 2
    # The second writer got the lock only after the first committed: it waited for the lock.
    assert log == ["slow inserted", "slow committed", "fast inserted", "fast committed"]


def test_readers_are_not_blocked_by_a_writer(settings: Settings) -> None:
    from tests.plugins.notes_plugin.db_models import Note

    async def scenario() -> tuple[int, float]:
        async with AppContext(settings, extra_packages=[PLUGIN]) as app:
            database = app.get_service("core.database.service")
            crud = app.get_service("core.database.crud_service")
            await crud.create(Note(title="first"))
            async with database.session("plugin_notes") as session:
                session.add(Note(title="uncommitted"))
                await session.flush()
                started = time.perf_counter()
                seen = await crud.count(Note)
                return seen, time.perf_counter() - started

    seen, elapsed = run(scenario())
    assert seen == 1
    assert elapsed < 1.5  # well under the 2 s busy timeout: the reader did not wait


def _stamp_revision(path: Path, module: str, revision: int) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE analyzer_schema SET revision = ? WHERE module = ?", (revision, module))
    conn.close()  # the last connection to close checkpoints the WAL into the file


async def _boot_and_close(settings: Settings) -> None:
    async with AppContext(settings):
        pass


@pytest.mark.sqlite_only("compares a SQLite file's bytes")
def test_a_database_newer_than_the_code_is_refused_and_left_alone(settings: Settings) -> None:
    run(_boot_and_close(settings))
    path = settings.data_dir / "semantic_core.db"
    _stamp_revision(path, "modules.semantic_core.db_models", 99)
    before = path.read_bytes()
    with pytest.raises(SchemaMismatchError) as caught:
        run(_boot_and_close(settings))
    assert str(path) in caught.value.message
    assert f"99 > {SCHEMA_REVISION}" in caught.value.message
    assert "upgrade analyzer" in caught.value.message
    assert path.read_bytes() == before


def test_a_revision_1_semantic_core_database_is_upgraded_and_keeps_its_rows(
    settings: Settings,
) -> None:
    path = settings.data_dir / "semantic_core.db"
    on_postgres = server_url(path) is not None
    as_revision_1(  # revision 1: no generation, search vector, source locations, epoch
        settings,
        path,
        "INSERT INTO collections (name, model_id, dimension, settings, created_at, "
        "updated_at) VALUES ('kept', 'm', 4, '{}', '2026-01-01', '2026-01-01')",
        "ALTER TABLE collections DROP COLUMN generation",
        "ALTER TABLE collections DROP COLUMN epoch",
        "ALTER TABLE chunks DROP COLUMN source_line",
        "ALTER TABLE chunks DROP COLUMN page",
        "ALTER TABLE chunks DROP COLUMN line_map",
        "ALTER TABLE documents DROP COLUMN sketch",
        *(["ALTER TABLE chunks DROP COLUMN search"] if on_postgres else []),
    )

    run(_boot_and_close(settings))

    assert stored_rows(path, "SELECT name, generation FROM collections") == [("kept", 0)]
    assert stored_rows(path, "SELECT revision FROM analyzer_schema") == [(SCHEMA_REVISION,)]
    if on_postgres:  # revision 3 gave chunks their search vector and its index
        assert stored_rows(path, "SELECT count(search) FROM chunks") == [(0,)]


def as_revision_1(settings: Settings, path: Path, *statements: str) -> None:
    """Databases created by this version, then taken back to schema revision 1 (on the
    backend under test: ``path`` names the SQLite file or, through the environment,
    its PostgreSQL database)."""
    run(_boot_and_close(settings))
    for statement in statements:
        stored_rows(path, statement)
    stored_rows(path, "UPDATE analyzer_schema SET revision = 1")


def _notes_metadata(with_rank: bool) -> SimpleNamespace:
    metadata = MetaData()
    columns = [Column("id", Integer, primary_key=True), Column("title", String(50))]
    if with_rank:
        columns.append(Column("rank", Integer, nullable=False, server_default="0"))
    Table("notes", metadata, *columns)
    return SimpleNamespace(metadata=metadata)


def _add_rank(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE notes ADD COLUMN rank INTEGER NOT NULL DEFAULT 0"))


def test_an_older_database_is_upgraded_on_boot_keeping_its_rows(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"
    v1 = SimpleNamespace(__name__="notes.models", SCHEMA_REVISION=1)
    v2 = SimpleNamespace(__name__="notes.models", SCHEMA_REVISION=2, MIGRATIONS={2: _add_rank})

    async def boot(base: SimpleNamespace, models: SimpleNamespace) -> dict[str, int]:
        runtime = DatabaseRuntime({"notes": url}, busy_timeout_s=1.0)
        await runtime.open("notes", base, [models])  # type: ignore[arg-type]
        revisions = runtime.get("notes").revisions
        await runtime.dispose()
        return revisions

    run(boot(_notes_metadata(False), v1))
    with sqlite3.connect(tmp_path / "notes.db") as conn:
        conn.execute("INSERT INTO notes (title) VALUES ('kept')")
    assert run(boot(_notes_metadata(True), v2)) == {"notes.models": 2}
    with sqlite3.connect(tmp_path / "notes.db") as conn:
        assert conn.execute("SELECT title, rank FROM notes").fetchall() == [("kept", 0)]
        revision = conn.execute("SELECT revision FROM analyzer_schema").fetchone()
    assert revision == (2,)


def test_an_upgrade_without_a_migration_is_refused(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}"

    async def boot(models: SimpleNamespace) -> None:
        runtime = DatabaseRuntime({"notes": url}, busy_timeout_s=1.0)
        try:
            await runtime.open("notes", _notes_metadata(False), [models])  # type: ignore[arg-type]
        finally:
            await runtime.dispose()

    run(boot(SimpleNamespace(__name__="notes.models", SCHEMA_REVISION=1)))
    with pytest.raises(SchemaMismatchError, match="no migration leads to 2"):
        run(boot(SimpleNamespace(__name__="notes.models", SCHEMA_REVISION=2)))


def test_a_revision_1_framework_database_is_upgraded_and_keeps_its_runs(
    settings: Settings,
) -> None:
    from modules.core.db_models import SCHEMA_REVISION as FRAMEWORK_REVISION

    path = settings.data_dir / "framework.db"
    as_revision_1(  # what revision 1 looked like: runs without their process
        settings,
        path,
        "INSERT INTO command_runs (command, arguments, started_at, status) "
        "VALUES ('ingest', '{}', '2026-01-01', 'ok')",
        "ALTER TABLE command_runs DROP COLUMN pid",
        "ALTER TABLE command_runs DROP COLUMN host",
    )

    run(_boot_and_close(settings))

    rows = stored_rows(path, "SELECT command, status, pid FROM command_runs")
    assert rows == [("ingest", "ok", None)]
    assert stored_rows(path, "SELECT revision FROM analyzer_schema") == [(FRAMEWORK_REVISION,)]
