"""Keyword search on PostgreSQL scores a bounded number of chunks: the rarest terms' chunks
in full, then at most a few hundred holding only common terms.

Every ranking here is checked against BM25 computed in the test from each chunk's whole
tsvector (``unnest``), the exact ranking the bounded search approximates.
"""

from __future__ import annotations

import asyncio
import fnmatch
import math
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from analyzer.settings import Settings, database_urls_from_env
from modules.semantic_core.index import fulltext_postgres
from modules.semantic_core.ingest.service import Record
from tests.helpers import FakeModels, ingest_records
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.own_databases

FILLER = (
    "river stone bridge lantern meadow harbor candle orchard willow ember quarry falcon "
    "thistle copper saddle beacon garnet hollow juniper marble nettle pebble quiver "
    "rafter sorrel timber velvet walnut yarrow"
).split()


def corpus(documents: int, seed: int = 5) -> list[Record]:
    """Documents of filler words in which "alpha" is common (in every document), "gamma"
    frequent (every third) and "zephyr" rare (three documents, one in its title)."""
    rng = random.Random(seed)
    records = []
    for i in range(documents):
        words = rng.choices(FILLER, k=rng.randint(20, 60))
        words += ["alpha"] * rng.randint(1, 3)
        words += ["gamma"] if i % 3 == 0 else []
        words += ["zephyr"] * (i % 2 + 1) if i in (7, 19, 31) else []
        rng.shuffle(words)
        title = "Zephyr notes" if i == 19 else f"Notes {rng.choice(FILLER)} {i}"
        folder = "kept" if i % 2 else "other"
        records.append(Record(uid=f"{folder}/doc-{i:03d}", title=title, text=" ".join(words)))
    return records


def ingest(env: dict[str, str], data_dir: Path, records: list[Record], collection: str) -> None:
    settings = Settings(data_dir=data_dir, database_urls=database_urls_from_env(env))
    report = ingest_records(settings, records, FakeModels(), collection=collection)
    assert report.failed == 0 and report.new == len(records)


def in_database(env: dict[str, str], work: Callable[[Any], Awaitable[Any]]) -> Any:
    """``await work(session)`` in one transaction on the semantic_core database."""
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    url = env["ANALYZER_DB_SEMANTIC_CORE_URL"].replace("postgresql://", "postgresql+asyncpg://")

    async def scenario() -> Any:
        engine = create_async_engine(url)
        try:
            async with AsyncSession(engine) as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(scenario())


def collection_id(env: dict[str, str], name: str) -> int:
    from sqlalchemy import text

    async def work(session: Any) -> int:
        found = await session.execute(
            text("SELECT id FROM collections WHERE name = :n"), {"n": name}
        )
        return int(found.scalar_one())

    return in_database(env, work)


def search(
    env: dict[str, str], collection: int, query: str, limit: int = 10, glob: str | None = None
) -> list[tuple[int, int, float]]:
    async def work(session: Any) -> list[tuple[int, int, float]]:
        statistics = await fulltext_postgres.collection_statistics(session, collection)
        return await fulltext_postgres.keyword_search(
            session, collection, query, limit, glob, statistics
        )

    return in_database(env, work)


def exact_bm25(
    env: dict[str, str], collection: int, query: str, glob: str | None = None
) -> list[tuple[int, int, float]]:
    """BM25 over every chunk of the collection, from the whole vectors, best first."""
    from sqlalchemy import text

    async def work(session: Any) -> tuple[list[Any], list[str]]:
        rows = await session.execute(
            text(
                "SELECT c.id, c.document_id, d.path, length(c.search), u.lexeme, "
                "cardinality(u.positions), cardinality(array_positions(u.weights, 'A')) "
                "FROM chunks c JOIN documents d ON d.id = c.document_id "
                "LEFT JOIN LATERAL unnest(c.search) AS u ON true "
                "WHERE d.collection_id = :c"
            ),
            {"c": collection},
        )
        words = " ".join(fulltext_postgres.query_terms(query))
        lexemes = await session.execute(
            text("SELECT tsvector_to_array(to_tsvector('english', :w))"), {"w": words}
        )
        return list(rows), list(lexemes.scalar_one())

    rows, lexemes = in_database(env, work)
    chunks: dict[int, tuple[int, str, int]] = {}
    tf: dict[int, dict[str, float]] = {}
    for chunk, document, path, length, lexeme, positions, in_heading in rows:
        chunks[chunk] = (document, path, length)
        if lexeme in lexemes:
            weight = fulltext_postgres.HEADING_WEIGHT - 1
            tf.setdefault(chunk, {})[lexeme] = positions + weight * in_heading
    count = len(chunks)
    average = sum(length for _, _, length in chunks.values()) / count
    df = {lexeme: sum(lexeme in terms for terms in tf.values()) for lexeme in lexemes}
    k1, b = fulltext_postgres.K1, fulltext_postgres.B
    scored = []
    for chunk, terms in tf.items():
        document, path, length = chunks[chunk]
        if glob and not fnmatch.fnmatchcase(path, glob):
            continue
        score = sum(
            math.log(1 + (count - df[t] + 0.5) / (df[t] + 0.5))
            * f
            * (k1 + 1)
            / (f + k1 * (1 - b + b * length / average))
            for t, f in terms.items()
        )
        scored.append((chunk, document, score))
    return sorted(scored, key=lambda hit: (-hit[2], hit[0]))


def assert_same_ranking(found: list[tuple[int, int, float]], exact: list[Any]) -> None:
    assert [hit[:2] for hit in found] == [hit[:2] for hit in exact]
    assert [hit[2] for hit in found] == pytest.approx([hit[2] for hit in exact], rel=1e-9)


@pytest.fixture
def stored(postgres_env: dict[str, str], tmp_path: Path) -> tuple[dict[str, str], int]:
    ingest(postgres_env, tmp_path / "data", corpus(60), "notes")
    return postgres_env, collection_id(postgres_env, "notes")


QUERIES = ["zephyr", "alpha zephyr", "gamma alpha", "alpha", "Zephyr and the gamma river", "x"]


def test_where_no_cap_applies_the_top_10_is_the_exact_bm25_top_10(
    stored: tuple[dict[str, str], int],
) -> None:
    env, collection = stored
    for query in QUERIES:
        exact = exact_bm25(env, collection, query)
        assert_same_ranking(search(env, collection, query), exact[:10])
    assert search(env, collection, "the of and") == []


def test_with_common_terms_capped_the_rare_terms_chunks_still_come_first(
    stored: tuple[dict[str, str], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "alpha" (every chunk) and "gamma" (every third) are past a budget of 10 rows, so
    only 4 of their chunks are read; the three "zephyr" documents are all found, in
    their exact order and with their exact scores."""
    env, collection = stored
    monkeypatch.setattr(fulltext_postgres, "RARE_ROWS", 10)
    monkeypatch.setattr(fulltext_postgres, "COMMON_ROWS", 4)
    exact = exact_bm25(env, collection, "alpha gamma zephyr")
    found = search(env, collection, "alpha gamma zephyr", limit=50)
    zephyr = exact_bm25(env, collection, "zephyr")
    assert len(zephyr) >= 3
    holders = {chunk for chunk, _, _ in zephyr}
    assert_same_ranking(found[: len(holders)], exact[: len(holders)])
    assert {chunk for chunk, _, _ in found[: len(holders)]} == holders
    # Everything else comes from the capped stages (the chunks holding both common terms,
    # then those holding either), 4 chunks between them.
    assert len(found) <= len(holders) + 4


def test_a_common_term_alone_reads_at_most_its_cap(
    stored: tuple[dict[str, str], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    env, collection = stored
    monkeypatch.setattr(fulltext_postgres, "RARE_ROWS", 10)
    monkeypatch.setattr(fulltext_postgres, "COMMON_ROWS", 4)
    found = search(env, collection, "alpha", limit=100)
    assert len(found) == 4
    exact = {chunk: score for chunk, _, score in exact_bm25(env, collection, "alpha")}
    assert len(exact) > 50
    for chunk, _, score in found:
        assert score == pytest.approx(exact[chunk], rel=1e-9)


def test_a_path_glob_still_narrows_a_capped_search(
    stored: tuple[dict[str, str], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    env, collection = stored
    for rows in (1000, 10):
        monkeypatch.setattr(fulltext_postgres, "RARE_ROWS", rows)
        monkeypatch.setattr(fulltext_postgres, "COMMON_ROWS", rows)
        for query in ("alpha zephyr", "gamma"):
            found = search(env, collection, query, limit=100, glob="kept/*")
            exact = exact_bm25(env, collection, query, glob="kept/*")
            assert found and {hit[:2] for hit in found} <= {hit[:2] for hit in exact}
            if rows == 1000:
                assert_same_ranking(found, exact[:100])
    monkeypatch.setattr(fulltext_postgres, "RARE_ROWS", 10)
    # The three "zephyr" documents are odd-numbered, so all under kept/.
    found = search(env, collection, "zephyr", glob="kept/*")
    assert found
    assert_same_ranking(found, exact_bm25(env, collection, "zephyr", "kept/*"))
    assert search(env, collection, "zephyr", glob="other/*") == []


def test_statistics_and_hits_stay_within_the_collection(
    postgres_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two collections in one database: each one's search finds only its own chunks and
    scores them by its own document frequencies, capped or not."""
    ingest(postgres_env, tmp_path / "data", corpus(40, seed=1), "first")
    ingest(postgres_env, tmp_path / "data", corpus(25, seed=2), "second")
    for name in ("first", "second"):
        collection = collection_id(postgres_env, name)
        for rows in (1000, 10):
            monkeypatch.setattr(fulltext_postgres, "RARE_ROWS", rows)
            monkeypatch.setattr(fulltext_postgres, "COMMON_ROWS", rows)
            exact = exact_bm25(postgres_env, collection, "zephyr gamma")
            found = search(postgres_env, collection, "zephyr gamma", limit=100)
            own = {hit[0] for hit in exact}
            assert found and {hit[0] for hit in found} <= own
            holders = len(exact_bm25(postgres_env, collection, "zephyr"))
            assert_same_ranking(found[:holders], exact[:holders])


def test_after_analyze_a_common_terms_frequency_is_estimated_and_rare_ones_counted(
    stored: tuple[dict[str, str], int],
    monkeypatch: pytest.MonkeyPatch,
    postgres_server: PostgresServer,
) -> None:
    """Once ANALYZE has listed "alpha" among the most common lexemes, its frequency comes
    from there (it is in every chunk: the estimate is the whole collection) and the rare
    term's is counted: the rare chunks keep their exact scores."""
    env, collection = stored
    database = env["ANALYZER_DB_SEMANTIC_CORE_URL"].rsplit("/", 1)[1]
    postgres_server.psql("ANALYZE chunks", database)
    monkeypatch.setattr(fulltext_postgres, "RARE_ROWS", 10)
    monkeypatch.setattr(fulltext_postgres, "COMMON_ROWS", 4)

    async def terms(session: Any) -> Any:
        statistics = await fulltext_postgres.collection_statistics(session, collection)
        return await fulltext_postgres._terms(session, collection, "alpha zephyr", statistics[0])

    found_terms, alone = in_database(env, terms)
    by_lexeme = {term.lexeme: term for term in found_terms}
    exact_df = len(exact_bm25(env, collection, "alpha"))
    assert alone
    assert not by_lexeme["alpha"].counted
    assert abs(by_lexeme["alpha"].df - exact_df) <= exact_df // 20
    assert by_lexeme["zephyr"].counted
    assert by_lexeme["zephyr"].df == len(exact_bm25(env, collection, "zephyr"))
    exact = exact_bm25(env, collection, "zephyr")
    found = search(env, collection, "alpha zephyr")
    assert [hit[0] for hit in found[: len(exact)]] == [hit[0] for hit in exact]


def test_the_planner_setting_it_needs_is_put_back_for_the_rest_of_the_transaction(
    stored: tuple[dict[str, str], int],
) -> None:
    """A command's reads can share one snapshot transaction: what runs after a keyword
    search in it plans as it would have."""
    from sqlalchemy import text

    env, collection = stored

    async def work(session: Any) -> tuple[list[Any], str]:
        statistics = await fulltext_postgres.collection_statistics(session, collection)
        found = await fulltext_postgres.keyword_search(
            session, collection, "alpha zephyr", 10, None, statistics
        )
        setting = await session.execute(text("SELECT current_setting('enable_seqscan')"))
        return found, setting.scalar_one()

    found, setting = in_database(env, work)
    assert found and setting == "on"
