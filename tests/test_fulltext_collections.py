"""BM25 per collection: each collection's keyword scores come from its own chunks alone.

On SQLite every collection has its own FTS5 table, made and dropped with the collection
and kept by triggers that route each chunk to its collection's table; revision 9 splits
the one index older databases share. PostgreSQL computes BM25 per collection in SQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.semantic_core.db_models import SCHEMA_REVISION, Collection, Document
from modules.semantic_core.ingest.service import Record
from modules.semantic_core.module import semantic_core
from tests.helpers import (
    FakeModels,
    cli,
    cli_json,
    count_rows,
    fulltext_hits,
    fulltext_tables,
    indexed_chunks,
    ingest_records,
    one_line_error,
    sqlite_rows,
    stored_rows,
    within_app,
)

QUERY = "heron river"
# Collection A: a few chunks that hold the query's words at different rates.
NOTES = [
    Record(uid="a-1", text="A heron waits by the river at dawn."),
    Record(uid="a-2", text="The river floods in spring; the fields drown."),
    Record(uid="a-3", text="Herons nest in tall trees far from any road."),
    Record(uid="a-4", text="Bread, butter and a pot of tea on the table."),
]
# Collection B: many chunks full of "river" and none of "heron": beside A in one index,
# it makes "river" common and "heron" rare, and longer chunks move the average length.
OTHERS = [
    Record(uid=f"b-{n}", text=f"river river river barge lock weir towpath number {n} " * 3)
    for n in range(30)
]


def keyword(settings: Settings, collection: str, query: str = QUERY, **options: Any) -> Any:
    """(document uid, score) of a keyword search in ``collection``, best first."""

    async def work(context: AppContext) -> list[tuple[str, float]]:
        crud = context.get_service("core.database.crud_service")
        found = await crud.find(Collection, {"name": collection})
        hits = await semantic_core(context).index.keyword(
            found.id, found.version, query, 10, options.get("glob"), options.get("trigram", False)
        )
        uids = dict(await crud.values(Document, ["id", "uid"]))
        return [(uids[document], score) for _, document, score in hits]

    return within_app(settings, work, FakeModels())


def drop(settings: Settings, collection: str) -> None:
    async def work(context: AppContext) -> None:
        await semantic_core(context).catalog.drop(collection)

    within_app(settings, work, FakeModels())


def collection_id(settings: Settings, name: str) -> int:
    rows = stored_rows(settings.data_dir / "semantic_core.db", "SELECT id, name FROM collections")
    return {found: number for number, found in rows}[name]


def schema_names(database: Path, collection: int) -> list[str]:
    """What the schema holds for one collection's index: tables, view and triggers."""
    sql = "SELECT name FROM sqlite_master WHERE name GLOB 'chunks_fts_*' OR name GLOB 'chunks_of_*'"
    own = {f"chunks_fts_{collection}", f"chunks_of_{collection}"}
    return sorted(
        name
        for (name,) in sqlite_rows(database, sql)
        if name in own or name.startswith(f"chunks_fts_{collection}_")
    )


def test_scores_in_a_collection_do_not_move_when_another_is_added_or_dropped(
    settings: Settings,
) -> None:
    models = FakeModels()
    ingest_records(settings, NOTES, models, collection="a")
    alone = keyword(settings, "a")

    ingest_records(settings, OTHERS, models, collection="b")
    beside = keyword(settings, "a")
    assert keyword(settings, "b")  # B answers from its own chunks
    drop(settings, "b")
    after = keyword(settings, "a")

    assert len(alone) == 3
    for found in (beside, after):
        assert [uid for uid, _ in found] == [uid for uid, _ in alone]
        assert [score for _, score in found] == pytest.approx([s for _, s in alone], rel=1e-9)


@pytest.mark.sqlite_only("reads SQLite's schema")
def test_each_chunk_is_indexed_in_its_collections_table_alone(settings: Settings) -> None:
    models = FakeModels()
    ingest_records(settings, NOTES, models, collection="a")
    ingest_records(settings, OTHERS, models, collection="b")
    database = settings.data_dir / "semantic_core.db"
    a, b = collection_id(settings, "a"), collection_id(settings, "b")

    assert fulltext_tables(database) == sorted([f"chunks_fts_{a}", f"chunks_fts_{b}"])
    assert count_rows(database, f"chunks_fts_{a}_docsize") == len(NOTES)
    assert count_rows(database, f"chunks_fts_{b}_docsize") == len(OTHERS)
    # Counting the table itself reads its content view: the collection's chunks.
    assert count_rows(database, f"chunks_fts_{a}") == len(NOTES)

    changed = [Record(uid="a-4", text="A kingfisher, not a heron, by the weir.")]
    ingest_records(settings, NOTES[:3] + changed, models, collection="a")

    async def remove(context: AppContext) -> None:
        await semantic_core(context).catalog.remove("a", ["a-2"])

    within_app(settings, remove, models)

    assert [uid for uid, _ in keyword(settings, "a", "kingfisher")] == ["a-4"]
    assert [uid for uid, _ in keyword(settings, "a", "bread")] == []
    assert [uid for uid, _ in keyword(settings, "a", "floods")] == []
    assert count_rows(database, f"chunks_fts_{a}_docsize") == 3
    assert count_rows(database, f"chunks_fts_{b}_docsize") == len(OTHERS)
    assert indexed_chunks(database) == count_rows(database, "chunks")
    assert (
        sqlite_rows(
            database, f"INSERT INTO chunks_fts_{a}(chunks_fts_{a}) VALUES ('integrity-check')"
        )
        == []
    )


@pytest.mark.sqlite_only("reads SQLite's schema")
def test_a_dropped_collection_takes_its_index_and_triggers_with_it(settings: Settings) -> None:
    models = FakeModels()
    ingest_records(settings, NOTES, models, collection="a")
    ingest_records(settings, OTHERS, models, collection="b")
    database = settings.data_dir / "semantic_core.db"
    b = collection_id(settings, "b")
    assert len(schema_names(database, b)) > 5  # table, view, shadow tables, triggers

    drop(settings, "b")

    assert schema_names(database, b) == []
    assert indexed_chunks(database) == count_rows(database, "chunks") == len(NOTES)
    assert [uid for uid, _ in keyword(settings, "a")][:1] == ["a-1"]


@pytest.mark.sqlite_only("SQLite gives a collection made again its old id")
def test_a_collection_made_again_under_its_old_id_finds_only_its_new_chunks(
    settings: Settings,
) -> None:
    models = FakeModels()
    ingest_records(settings, NOTES, models, collection="a")
    ingest_records(settings, OTHERS, models, collection="b")
    b = collection_id(settings, "b")
    drop(settings, "b")

    ingest_records(
        settings, [Record(uid="c-1", text="A lock keeper and a heron.")], models, collection="b"
    )

    assert collection_id(settings, "b") == b  # the same id, a new life
    assert [uid for uid, _ in keyword(settings, "b", "towpath barge")] == []
    assert [uid for uid, _ in keyword(settings, "b", "heron")] == ["c-1"]
    database = settings.data_dir / "semantic_core.db"
    assert count_rows(database, f"chunks_fts_{b}_docsize") == 1


# The full-text index of revision 8: one FTS5 table for every collection's chunks.
REVISION_8_INDEX = [
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(heading, text, content='chunks', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    """CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text);
    END""",
    """CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, heading, text)
        VALUES ('delete', old.id, old.heading, old.text);
    END""",
    """CREATE TRIGGER chunks_fts_update AFTER UPDATE OF heading, text ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, heading, text)
        VALUES ('delete', old.id, old.heading, old.text);
        INSERT INTO chunks_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text);
    END""",
    "INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')",
]


def as_revision_8(database: Path, collections: list[int]) -> None:
    """The database taken back to revision 8's shape: the shared index, no other."""
    for number in collections:
        for event in ("insert", "delete", "update"):
            stored_rows(database, f"DROP TRIGGER chunks_fts_{number}_{event}")
        stored_rows(database, f"DROP TABLE chunks_fts_{number}")
        stored_rows(database, f"DROP VIEW chunks_of_{number}")
    for statement in REVISION_8_INDEX:
        stored_rows(database, statement)
    stored_rows(database, "UPDATE analyzer_schema SET revision = 8")


@pytest.mark.sqlite_only("revision 9 splits SQLite's shared FTS5 index")
def test_a_revision_8_index_is_split_per_collection_with_the_same_results(
    settings: Settings,
) -> None:
    models = FakeModels()
    ingest_records(settings, NOTES, models, collection="a")
    ingest_records(settings, OTHERS, models, collection="b")
    wanted = {name: keyword(settings, name) for name in ("a", "b")}
    database = settings.data_dir / "semantic_core.db"
    ids = [collection_id(settings, name) for name in ("a", "b")]
    as_revision_8(database, ids)
    assert fulltext_tables(database) == []
    shared = sqlite_rows(database, "SELECT count(*) FROM chunks_fts_docsize")[0][0]
    assert shared == len(NOTES) + len(OTHERS)

    found = {name: keyword(settings, name) for name in ("a", "b")}  # boots: upgrades

    assert stored_rows(database, "SELECT revision FROM analyzer_schema") == [(SCHEMA_REVISION,)]
    assert found == wanted and found["a"] and found["b"]
    assert fulltext_tables(database) == sorted(f"chunks_fts_{n}" for n in ids)
    assert (
        sqlite_rows(
            database,
            "SELECT name FROM sqlite_master WHERE name GLOB "
            "'chunks_fts' OR name GLOB 'chunks_fts_[a-z]*'",
        )
        == []
    )
    ingest_records(settings, [Record(uid="a-5", text="Egrets and herons.")], models, collection="a")
    assert indexed_chunks(database) == count_rows(database, "chunks") == 35
    assert sorted(fulltext_hits(database, "egret")) == sorted(
        c for (c,) in sqlite_rows(database, "SELECT id FROM chunks WHERE text LIKE '%Egret%'")
    )


@pytest.mark.sqlite_only("the trigram index is SQLite's")
def test_trigram_search_stays_within_its_collection(settings: Settings) -> None:
    models = FakeModels()
    ingest_records(settings, NOTES, models, collection="a", trigram=True)
    ingest_records(settings, OTHERS, models, collection="b", trigram=True)

    assert [uid for uid, _ in keyword(settings, "a", "ingfis", trigram=True)] == []
    assert {uid for uid, _ in keyword(settings, "a", "eron", trigram=True)} == {"a-1", "a-3"}
    found = keyword(settings, "b", "owpat", trigram=True)
    assert len(found) == 10 and all(uid.startswith("b-") for uid, _ in found)


@pytest.mark.sqlite_only("db-status lists SQLite's tables")
def test_db_status_counts_each_collections_own_chunks(settings: Settings) -> None:
    models = FakeModels()
    ingest_records(settings, NOTES, models, collection="a")
    ingest_records(settings, OTHERS, models, collection="b")
    status = cli_json("--data-dir", str(settings.data_dir), "db-status")
    [semantic] = [d for d in status["databases"] if d["name"] == "semantic_core"]
    rows = {t["name"]: t["rows"] for t in semantic["tables"]}
    a, b = collection_id(settings, "a"), collection_id(settings, "b")
    assert (rows[f"chunks_fts_{a}"], rows[f"chunks_fts_{b}"]) == (len(NOTES), len(OTHERS))
    assert "chunks_fts" not in rows


@pytest.mark.sqlite_only("removes a table from SQLite's schema by hand")
def test_a_collection_without_its_index_is_a_one_line_error(settings: Settings) -> None:
    ingest_records(settings, NOTES, FakeModels(), collection="a")
    a = collection_id(settings, "a")
    stored_rows(settings.data_dir / "semantic_core.db", f"DROP TABLE chunks_fts_{a}")
    result = cli(
        "--data-dir",
        str(settings.data_dir),
        "query",
        "heron",
        "-c",
        "a",
        "--mode",
        "keyword",
        models=FakeModels(),
    )
    one_line_error(result, 1, "no keyword index", "ingest it again")
