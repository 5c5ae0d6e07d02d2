"""CRUDService against a real SQLite file in tmp_path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event

from analyzer.app_context import AppContext
from analyzer.errors import ConflictError, NotFoundError, UsageError
from analyzer.settings import Settings
from tests.conftest import PLUGIN
from tests.helpers import run
from tests.plugins.notes_plugin.db_models import Note


def with_crud(settings: Settings, body: Callable[[Any], Awaitable[Any]]) -> Any:
    async def scenario() -> Any:
        async with AppContext(settings, extra_packages=[PLUGIN]) as app:
            return await body(app.get_service("core.database.crud_service"))

    return run(scenario())


def test_create_get_update_delete_round_trip(settings: Settings) -> None:
    async def body(crud: Any) -> tuple[str, str, bool]:
        note = await crud.create(Note(title="alpha", tags=["x", "y"]))
        fetched = await crud.get(Note, note.id)
        updated = await crud.update(Note, note.id, {"body": "changed"})
        await crud.delete(Note, note.id)
        return fetched.title, updated.body, await crud.exists(Note, {"id": note.id})

    assert with_crud(settings, body) == ("alpha", "changed", False)


def test_list_filters_orders_limits_and_offsets(settings: Settings) -> None:
    async def body(crud: Any) -> list[Any]:
        await crud.bulk_insert(Note, [{"title": f"n{i}", "rank": i % 3} for i in range(10)])
        return [
            [n.title for n in await crud.list(Note, filters={"rank": 1}, order_by="-title")],
            [n.title for n in await crud.list(Note, order_by=["rank", "title"], limit=3)],
            [n.title for n in await crud.list(Note, order_by="title", limit=2, offset=8)],
            [n.title for n in await crud.list(Note, filters={"title": ["n1", "n2"]})],
            await crud.count(Note, filters={"rank": 0}),
            await crud.exists(Note, {"title": "n9"}),
            (await crud.find(Note, {"title": "missing"})),
        ]

    by_rank, first_three, last_two, in_list, zeros, exists, missing = with_crud(settings, body)
    assert by_rank == ["n7", "n4", "n1"]
    assert first_three == ["n0", "n3", "n6"]
    assert last_two == ["n8", "n9"]
    assert in_list == ["n1", "n2"]
    assert zeros == 4
    assert exists is True
    assert missing is None


def test_bulk_insert_uses_one_statement_per_batch(settings: Settings) -> None:
    statements: list[bool] = []

    async def body(crud: Any) -> int:
        engine = crud._database.engine("plugin_notes")

        def count(conn: Any, cursor: Any, sql: str, params: Any, ctx: Any, many: bool) -> None:
            if sql.startswith("INSERT INTO notes"):
                statements.append(many)

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        await crud.bulk_insert(Note, [{"title": f"t{i}"} for i in range(1050)], batch_size=500)
        return await crud.count(Note)

    assert with_crud(settings, body) == 1050
    assert statements == [True, True, True]


def test_bulk_upsert_inserts_new_rows_and_updates_existing_ones(settings: Settings) -> None:
    async def body(crud: Any) -> list[tuple[str, int]]:
        await crud.bulk_insert(Note, [{"title": "a", "rank": 1}, {"title": "b", "rank": 2}])
        rows = [{"title": "b", "rank": 20}, {"title": "c", "rank": 30}]
        await crud.bulk_upsert(Note, rows, conflict_columns=["title"], update_columns=["rank"])
        return [(n.title, n.rank) for n in await crud.list(Note, order_by="title")]

    assert with_crud(settings, body) == [("a", 1), ("b", 20), ("c", 30)]


def test_writes_in_one_transaction_commit_together_or_not_at_all(settings: Settings) -> None:
    async def body(crud: Any) -> int:
        with pytest.raises(ConflictError):
            async with crud.transaction(Note) as session:
                await crud.create(Note(title="kept?"), session=session)
                await crud.create(Note(title="kept?"), session=session)
        return await crud.count(Note)

    assert with_crud(settings, body) == 0


def test_typed_errors(settings: Settings) -> None:
    async def body(crud: Any) -> None:
        await crud.create(Note(title="dup"))
        with pytest.raises(ConflictError, match="plugin_notes.db"):
            await crud.create(Note(title="dup"))
        with pytest.raises(NotFoundError, match="no Note with key 999"):
            await crud.get(Note, 999)
        with pytest.raises(NotFoundError):
            await crud.update(Note, 999, {"body": "x"})
        with pytest.raises(NotFoundError):
            await crud.delete(Note, 999)
        with pytest.raises(UsageError, match="has no column 'colour'"):
            await crud.list(Note, filters={"colour": "red"})

    with_crud(settings, body)


@pytest.mark.sqlite_only("checks the SQLite file it writes")
def test_the_database_is_resolved_from_the_model_class(settings: Settings) -> None:
    from modules.semantic_core.db_models import Collection

    async def body(crud: Any) -> tuple[int, int]:
        await crud.create(Collection(name="c", model_id="m", dimension=3))
        return await crud.count(Collection), await crud.count(Note)

    assert with_crud(settings, body) == (1, 0)
    assert (settings.data_dir / "semantic_core.db").stat().st_size > 0
