"""Keyword search ranks the index's best matches before filtering them (by path, and by
collection in the shared trigram index), and falls back to every match when those best
ones are not enough. A collection's own FTS5 index needs no collection filter."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.core.database.service import DatabaseService
from modules.semantic_core.db_models import DATABASE_NAME, Collection
from modules.semantic_core.index import fulltext_sqlite
from modules.semantic_core.ingest.service import Record
from modules.semantic_core.module import semantic_core
from tests.helpers import FakeModels, ingest_records, within_app

pytestmark = pytest.mark.sqlite_only("the ranked head is SQLite's FTS5 query")

FILLER = "an unrelated sentence about gardens and weather and the price of bread. " * 6


def strong(index: int) -> Record:
    return Record(uid=f"strong-{index}", text=f"river river river bank {index}")


def weak(index: int) -> Record:
    return Record(uid=f"weak-{index}", text=f"{FILLER} a river once, note {index}. {FILLER}")


@pytest.fixture
def two_collections(settings: Settings) -> Settings:
    """'loud' holds many chunks that rank high for "river" and one that ranks low; 'quiet'
    a few that rank low."""
    models = FakeModels()
    trigram = {"trigram": True}
    loud = [strong(i) for i in range(40)] + [weak(99)]
    ingest_records(settings, loud, models, collection="loud", **trigram)
    ingest_records(settings, [weak(i) for i in range(6)], models, collection="quiet", **trigram)
    return settings


def keyword(
    settings: Settings, collection: str, limit: int, glob: str | None = None, trigram: bool = False
) -> Any:
    async def work(context: AppContext) -> tuple[list, list]:
        database = context.get_service("core.database.service")
        crud = context.get_service("core.database.crud_service")
        found = await crud.values(Collection, ["id"], filters={"name": collection})
        collection_id = found[0][0]
        index = semantic_core(context).index
        query = "river" if not trigram else "iver"
        fast = await index.keyword(collection_id, 0, query, limit, glob, trigram)
        full = await every_match(database, collection_id, limit, glob, trigram)
        return fast, full

    return within_app(settings, work, FakeModels())


async def every_match(
    database: DatabaseService, collection_id: int, limit: int, glob: str | None, trigram: bool
) -> list[tuple[int, int, float]]:
    """The reference: every match of the collection joined, then ranked."""
    if trigram:
        table, weights, match = "chunks_trigram", "", '"iver"'
    else:
        table = f"chunks_fts_{collection_id}"
        weights = ", " + ", ".join(str(w) for w in fulltext_sqlite.BM25_WEIGHTS)
        match = '"river"'
    sql = (
        f"SELECT c.id, c.document_id, -bm25({table}{weights}) AS score FROM {table} "
        f"JOIN chunks c ON c.id = {table}.rowid JOIN documents d ON d.id = c.document_id "
        f"WHERE {table} MATCH :match AND d.collection_id = :collection "
        + ("AND d.path GLOB :glob " if glob else "")
        + "ORDER BY score DESC LIMIT :limit"
    )
    params: dict[str, Any] = {"match": match, "collection": collection_id, "limit": limit}
    if glob:
        params["glob"] = glob
    async with database.read_session(DATABASE_NAME) as session:
        rows = (await session.execute(text(sql), params)).all()
    return [(int(c), int(d), float(s)) for c, d, s in rows]


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each time the ranked head came up short: whether every match was read again."""
    seen: list[bool] = []
    original = fulltext_sqlite._more_matches

    async def spy(*args: Any) -> bool:
        seen.append(await original(*args))
        return seen[-1]

    monkeypatch.setattr(fulltext_sqlite, "_more_matches", spy)
    return seen


def test_a_collection_ranked_below_another_gets_its_best_chunks_in_one_query(
    two_collections: Settings, fallbacks: list[bool]
) -> None:
    # Its own index: the loud collection's 40 better chunks are not in it.
    fast, full = keyword(two_collections, "quiet", 3)
    assert fallbacks == []
    assert len(fast) == 3
    assert fast == full


def test_the_ranked_head_gives_the_same_rows_as_every_match(
    two_collections: Settings, fallbacks: list[bool]
) -> None:
    fast, full = keyword(two_collections, "loud", 5)
    assert fallbacks == []  # one query
    assert len(fast) == 5
    assert fast == full


def test_fewer_matches_than_wanted_are_all_returned(two_collections: Settings) -> None:
    fast, full = keyword(two_collections, "quiet", 50)
    assert len(fast) == 6
    assert fast == full


def test_a_path_filter_applies_before_the_limit(two_collections: Settings) -> None:
    # strong-3 and strong-30 to strong-39 match the glob: 11 documents, 3 wanted.
    fast, full = keyword(two_collections, "loud", 3, glob="strong-3*")
    assert fast == full
    assert len(fast) == 3


def test_a_path_filter_that_passes_too_few_of_the_head_reads_every_match(
    two_collections: Settings, fallbacks: list[bool]
) -> None:
    # The one weak chunk of 'loud' ranks below its 40 strong ones: not in the best 4.
    fast, full = keyword(two_collections, "loud", 1, glob="weak-*")
    assert fallbacks == [True]
    assert len(fast) == 1
    assert fast == full


def test_the_shared_trigram_index_filters_by_collection_and_falls_back(
    two_collections: Settings, fallbacks: list[bool]
) -> None:
    # The trigram index holds both collections: its best 12 rows are all 'loud'.
    fast, full = keyword(two_collections, "quiet", 3, trigram=True)
    assert fallbacks == [True]
    assert len(fast) == 3
    assert fast == full


def test_one_collection_ranks_just_the_trigram_rows_wanted(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_records(
        settings, [strong(i) for i in range(20)], FakeModels(), collection="loud", trigram=True
    )
    alone = []
    one_collection = fulltext_sqlite._one_collection

    async def watch(session: Any) -> bool:
        alone.append(await one_collection(session))
        return alone[-1]

    monkeypatch.setattr(fulltext_sqlite, "_one_collection", watch)
    fast, full = keyword(settings, "loud", 4, trigram=True)
    assert alone == [True]  # so the head is the 4 rows wanted
    assert len(fast) == 4
    assert fast == full
