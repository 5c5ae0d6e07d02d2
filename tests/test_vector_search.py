"""Semantic search over the vectors kept in memory: the sketch pass and exact rescoring
(``VectorIndex``), the batched read from the database, and what a server reports of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.core.module import core
from modules.semantic_core.collections import require_documents
from modules.semantic_core.index import vector_index, vector_read
from modules.semantic_core.index.vector_index import VectorIndex
from modules.semantic_core.ingest.service import Record
from modules.semantic_core.module import semantic_core
from modules.semantic_core.search.service import SearchOptions
from modules.semantic_core.vectors import from_blobs, normalise_rows, to_blob
from tests.helpers import FakeModels, ingest_records, within_app

DIMENSION = 64


@pytest.fixture
def small_sketch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sketch from 2,000 rows on and rescore 100: the two-step search on small data."""
    monkeypatch.setattr(vector_index, "EXACT_BELOW", 2_000)
    monkeypatch.setattr(vector_index, "RESCORE_MIN", 100)
    monkeypatch.setattr(vector_index, "RESCORE_PER_RESULT", 2)
    monkeypatch.setattr(vector_index, "BLOCK_ROWS", 1_000)  # several blocks


def clustered_rows(count: int, seed: int) -> np.ndarray:
    """float16 rows as static embeddings are: a shared direction, clusters, noise, and
    lengths that are not one. Each cluster holds fewer rows than are rescored: rows
    that differ only by noise outside the sketch's directions are told apart by the
    rescoring alone (see ``vector_index``)."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(DIMENSION)
    clusters = count // 40
    centres = rng.standard_normal((clusters, DIMENSION))
    rows = 2 * common + 3 * centres[rng.integers(0, clusters, count)]
    rows += rng.standard_normal((count, DIMENSION))
    return (rows * rng.uniform(0.5, 2.0, (count, 1))).astype(np.float16)


def exact_order(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Rows by cosine with ``query``, in float64: the answer the search must give."""
    unit = rows.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    return np.argsort(-(unit @ query.astype(np.float64)), kind="stable")


def planted(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, a query, and the ten rows planted nearest it, nearest first: each planted
    row is the query turned away by a growing angle, inside a cluster of other rows."""
    rng = np.random.default_rng(seed)
    rows = clustered_rows(count, seed).astype(np.float32)
    query = rows[7] / np.linalg.norm(rows[7])  # inside a cluster: close rivals around it
    rows[7] = rows[8]  # the row itself would come first
    places = rng.choice(np.arange(100, count), 10, replace=False)
    for step, place in enumerate(places):
        away = rng.standard_normal(DIMENSION)
        away -= (away @ query) * query
        away /= np.linalg.norm(away)
        angle = 0.02 + 0.01 * step
        rows[place] = (np.cos(angle) * query + np.sin(angle) * away) * (1 + step)
    return rows.astype(np.float16), query.astype(np.float32), places


@pytest.mark.usefixtures("small_sketch")
def test_the_sketch_pass_finds_the_planted_ten_in_order() -> None:
    rows, query, places = planted(6_000, seed=3)
    assert exact_order(rows, query)[:10].tolist() == places.tolist()  # the answer holds
    index = VectorIndex.build(np.arange(6_000) + 1000, np.arange(6_000) // 3, rows)
    assert index.sketched
    found, scores = index.nearest(query, 10)
    assert found.tolist() == places.tolist()
    assert index.chunk_ids[found].tolist() == (places + 1000).tolist()
    assert scores[0] == pytest.approx(np.cos(0.02), abs=2e-3)


@pytest.mark.usefixtures("small_sketch")
def test_rescoring_returns_the_exact_cosine_order_of_its_candidates() -> None:
    rows = clustered_rows(5_000, seed=5)
    index = VectorIndex.build(np.arange(5_000), np.arange(5_000), rows)
    rng = np.random.default_rng(9)
    for query_row in rng.choice(5_000, 5, replace=False):
        query = rows[query_row].astype(np.float32)
        query /= np.linalg.norm(query)
        found, scores = index.nearest(query, 30)
        candidates = index.candidates(query, 100)
        assert set(found.tolist()) <= set(candidates.tolist())
        # The order returned is the exact order of the candidates, and so are the scores.
        within = candidates[exact_order(rows[candidates], query)][:30]
        assert found.tolist() == within.tolist()
        unit = rows[found].astype(np.float64)
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
        np.testing.assert_allclose(scores, unit @ query, atol=1e-5)
        # Rescoring every row is the exact search.
        everything, _ = index.nearest(query, 30, rescore=5_000)
        assert everything.tolist() == exact_order(rows, query)[:30].tolist()


@pytest.mark.usefixtures("small_sketch")
def test_only_allowed_rows_come_back_and_in_exact_order() -> None:
    rows = clustered_rows(4_000, seed=13)
    index = VectorIndex.build(np.arange(4_000), np.arange(4_000), rows)
    query = rows[0].astype(np.float32) / np.linalg.norm(rows[0].astype(np.float32))
    allowed = np.arange(4_000) % 7 == 3
    found, _ = index.nearest(query, 20, allowed)
    assert allowed[found].all() and len(found) == 20
    exact = [r for r in exact_order(rows, query) if allowed[r]][:20]
    assert found.tolist() == exact
    few = np.zeros(4_000, dtype=bool)
    few[[5, 50, 500]] = True  # fewer allowed than asked for: all of them, exactly
    found, _ = index.nearest(query, 20, few)
    assert sorted(found.tolist()) == [5, 50, 500]


def test_a_small_index_scores_as_the_whole_float32_product_did() -> None:
    rows = clustered_rows(500, seed=17)
    index = VectorIndex.build(np.arange(500), np.arange(500), rows)
    assert not index.sketched
    before = normalise_rows(from_blobs([to_blob(r) for r in rows], DIMENSION))
    query = before[3]
    found, scores = index.nearest(query, 25)
    expected = before @ query
    top = np.argpartition(-expected, 24)[:25]
    top = top[np.argsort(-expected[top], kind="stable")]
    assert found.tolist() == top.tolist()
    np.testing.assert_array_equal(scores, expected[top])


def test_an_empty_index_finds_nothing() -> None:
    empty = np.zeros(0, dtype=np.int64)
    index = VectorIndex.build(empty, empty, np.zeros((0, 8), dtype=np.float16))
    found, scores = index.nearest(np.ones(8, dtype=np.float32), 10)
    assert len(found) == 0 and len(scores) == 0


# --- through the database ---------------------------------------------------------------


def records(start: int, count: int) -> list[Record]:
    words = ["bread", "flour", "yeast", "tomato", "basil", "chess", "opening", "knight"]
    return [
        Record(uid=f"r{i}", text=f"note {i} about {words[i % 8]} and {words[(i * 3) % 8]}")
        for i in range(start, start + count)
    ]


async def kept_index(context: AppContext) -> tuple[VectorIndex, Any]:
    services = semantic_core(context)
    collection = await require_documents(core(context).crud, "default")
    index = await services.index.chunk_matrix(collection.id, collection.version)
    return index, collection.version


def stored_vectors(context: AppContext) -> Any:
    async def read() -> list[tuple[int, bytes]]:
        from sqlalchemy import text

        database = context.get_service("core.database.service")
        async with database.read_session("semantic_core") as session:
            result = await session.execute(
                text("SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL ORDER BY id")
            )
            return [(int(i), bytes(b)) for i, b in result.all()]

    return read()


def test_the_batched_read_gives_every_stored_vector_in_order(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = FakeModels()
    ingest_records(settings, records(0, 30), models=models)
    monkeypatch.setattr(vector_read, "BATCH_ROWS", 7)  # several batches, a short last one

    async def work(context: AppContext) -> None:
        index, _ = await kept_index(context)
        stored = await stored_vectors(context)
        assert index.chunk_ids.tolist() == [i for i, _ in stored]
        expected = normalise_rows(from_blobs([b for _, b in stored], DIMENSION))
        np.testing.assert_array_equal(index.vectors, expected)

    within_app(settings, work, models)


def test_a_collection_that_changes_gets_its_vectors_read_again(settings: Settings) -> None:
    models = FakeModels()
    ingest_records(settings, records(0, 20), models=models)

    async def work(context: AppContext) -> None:
        first, version = await kept_index(context)
        again, _ = await kept_index(context)
        assert again is first  # unchanged: kept
        await semantic_core(context).ingest.ingest_records(records(20, 5), _options())
        changed, new_version = await kept_index(context)
        assert new_version != version
        assert changed is not first
        assert changed.rows == first.rows + 5
        hits = await semantic_core(context).search.search(
            "note 23 about", SearchOptions(mode="semantic", top_k=30)
        )
        assert "r23" in [h.document.path for h in hits.hits]

    within_app(settings, work, models)


def _options() -> Any:
    from modules.semantic_core.ingest.service import IngestOptions

    return IngestOptions()


def test_a_keyword_search_reads_no_vectors(settings: Settings) -> None:
    models = FakeModels()
    ingest_records(settings, records(0, 20), models=models)

    async def work(context: AppContext) -> None:
        services = semantic_core(context)
        found = await services.search.search("yeast", SearchOptions(mode="keyword"))
        assert found.hits
        assert services.index.cache_status() == []
        await services.search.search("yeast", SearchOptions(mode="semantic"))
        if not await services.index.vectors_in_database():  # pgvector searches there
            assert [k["rows"] for k in services.index.cache_status()] == [20]

    within_app(settings, work, models)


def test_the_server_status_reports_the_vectors_kept(settings: Settings) -> None:
    from analyzer.server.resident import ResidentServer, ServeOptions

    models = FakeModels()
    ingest_records(settings, records(0, 12), models=models)

    async def work(context: AppContext) -> dict[str, Any]:
        server = ResidentServer(settings, ServeOptions(), command=None)
        try:
            server.app = context
            before = server.status()["caches"]
            assert before == {"vector_bytes": 0, "vectors": []}
            await kept_index(context)  # as a semantic search does without pgvector
            return server.status()["caches"]
        finally:
            server._pool.shutdown()

    caches = within_app(settings, work, models)
    (kept,) = caches["vectors"]
    assert kept["rows"] == 12 and kept["dimension"] == DIMENSION
    assert kept["bytes"] >= 12 * DIMENSION * 4 and caches["vector_bytes"] == kept["bytes"]
    assert kept["search"] == "exact"


def test_stored_vectors_of_different_lengths_are_named(tmp_path: Path) -> None:
    from analyzer.errors import DatabaseError

    with pytest.raises(DatabaseError, match="collection 4 differ in length; re-embed"):
        vector_read._decoded([b"\x00" * 8, b"\x00" * 6], 4, None)
