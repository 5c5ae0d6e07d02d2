"""BM25 per collection on SQLite: one FTS5 index shared by every collection (revision 8)
against one index per collection (revision 9), side by side in one run.

    python bench/fts_collections.py [--big /tmp/analyzer-scale/c150000/data/semantic_core.db]
        [--workdir /tmp/fts-collections/bench] [--queries 300] [--extra-collections 0]

1. SciFact's abstracts are ingested once (fake embeddings: only the text matters here)
   into a data directory kept in ``--workdir``; its documents and chunks are then copied
   into two new databases, one of each layout, with the layout's triggers indexing them.
   ``--extra-collections`` adds that many empty collections to the new layout, whose
   triggers every insert then also asks.
2. SciFact keyword nDCG@10 (train and test judgements) on each layout: alone.
3. A large collection (``--big``: a data directory's ``semantic_core.db``, such as the one
   ``bench/scale.py`` keeps for ~150k chunks) is copied in beside it, batch by batch
   (500 chunks, as an ingest writes them), the two layouts taking turns: the time the
   inserts take with each layout's triggers (no embeddings copied: the triggers' share
   of the write is what differs).
4. SciFact nDCG@10 again, now beside the large collection, on each layout.
5. Keyword query latency (SciFact claims; the queries' SQL as ``keyword_search`` runs it,
   through sqlite3 so no other layer is timed) in the large collection and in SciFact
   beside it, the layouts taking turns query by query; and the floor (the collection's
   index alone: ``MATCH ... ORDER BY rank LIMIT 10``, no join).
6. Revision 9's upgrade of the shared layout (its index rebuilt per collection).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modules.semantic_core.index import fulltext_sqlite  # noqa: E402
from modules.semantic_core.search.evaluation import load_qrels, load_queries  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
BATCH = 500
DEPTH = 100  # chunks ranked per query for nDCG (as the eval asks for 100 documents)
WEIGHTS = ", " + ", ".join(str(w) for w in fulltext_sqlite.BM25_WEIGHTS)

# Revision 8's index: one FTS5 table over every collection's chunks.
SHARED_DDL = [
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(heading, text, content='chunks', "
    f"content_rowid='id', tokenize='{fulltext_sqlite.FTS_TOKENIZER}')",
    """CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text);
    END""",
    """CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, heading, text)
        VALUES ('delete', old.id, old.heading, old.text);
    END""",
]
CHUNK_COLUMNS = (
    "id, document_id, ordinal, text, heading, char_start, char_end, line_start, line_end, "
    "token_count, source_line, page"
)
DOCUMENT_COLUMNS = (
    "id, collection_id, uid, path, title, format, content_hash, size_bytes, mtime_ns, "
    "char_count, metadata, created_at, updated_at"
)


# --- the data -------------------------------------------------------------------------


async def ingest_scifact(data: Path) -> Path:
    """SciFact's abstracts in a data directory of this version (kept between runs)."""
    database = data / "semantic_core.db"
    if database.exists():
        return database
    from analyzer.app_context import AppContext
    from analyzer.settings import Settings
    from modules.semantic_core.ingest.service import IngestOptions
    from modules.semantic_core.module import semantic_core
    from modules.semantic_core.search.evaluation import load_corpus
    from tests.helpers import FakeModels, overrides_for

    settings = Settings(data_dir=data)
    async with AppContext(settings, overrides=overrides_for(FakeModels())) as app:
        records = load_corpus(SCIFACT / "corpus.jsonl")
        await semantic_core(app).ingest.ingest_records(records, IngestOptions(collection="sf"))
    return database


def empty_database(path: Path, source: Path) -> sqlite3.Connection:
    """A database with ``source``'s tables and no rows, no full-text index yet."""
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    with sqlite3.connect(source) as origin:
        tables = origin.execute(
            "SELECT sql FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL "
            "AND tbl_name IN ('collections', 'documents', 'chunks') ORDER BY type DESC"
        ).fetchall()
    for (sql,) in tables:
        connection.execute(sql)
    return connection


def add_collection(connection: sqlite3.Connection, number: int, name: str, shared: bool) -> None:
    connection.execute(
        "INSERT INTO collections (id, name, model_id, dimension, settings, generation, epoch, "
        "created_at, updated_at) VALUES (?, ?, 'm', 4, '{}', 0, '', '2026-01-01', '2026-01-01')",
        (number, name),
    )
    if not shared:
        for statement in fulltext_sqlite._collection_ddl(number):
            connection.execute(statement)


def copy_collection(
    targets: list[sqlite3.Connection],
    source: Path,
    source_collection: int,
    number: int,
    id_offset: int,
) -> list[float]:
    """The documents and chunks of ``source_collection`` in ``source`` written into each
    target as collection ``number``, batch by batch, the targets taking turns; the
    seconds each target's chunk inserts took."""
    origin = sqlite3.connect(source)
    documents = origin.execute(
        f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE collection_id = ? ORDER BY id",
        (source_collection,),
    ).fetchall()
    moved_documents = [(d[0] + id_offset, number, *d[2:]) for d in documents]
    marks = ", ".join("?" * len(DOCUMENT_COLUMNS.split(",")))
    for target in targets:
        target.execute("BEGIN")
        target.executemany(
            f"INSERT INTO documents ({DOCUMENT_COLUMNS}) VALUES ({marks})", moved_documents
        )
        target.execute("COMMIT")
    cursor = origin.execute(
        f"SELECT c.{CHUNK_COLUMNS.replace(', ', ', c.')} FROM chunks c "
        "JOIN documents d ON d.id = c.document_id WHERE d.collection_id = ? ORDER BY c.id",
        (source_collection,),
    )
    marks = ", ".join("?" * len(CHUNK_COLUMNS.split(",")))
    seconds = [0.0] * len(targets)
    while batch := cursor.fetchmany(BATCH):
        rows = [(c[0] + id_offset, c[1] + id_offset, *c[2:]) for c in batch]
        for n, target in enumerate(targets):
            started = time.perf_counter()
            target.execute("BEGIN")
            target.executemany(f"INSERT INTO chunks ({CHUNK_COLUMNS}) VALUES ({marks})", rows)
            target.execute("COMMIT")
            seconds[n] += time.perf_counter() - started
    origin.close()
    return seconds


# --- the two searches -------------------------------------------------------------------


def shared_search(
    connection: sqlite3.Connection, collection: int, match: str, limit: int
) -> list[tuple[int, int, float]]:
    """Revision 8's keyword search: the shared index's best rows, then the collection's;
    every match of the collection when those were not enough."""
    alone = connection.execute("SELECT count(*) FROM collections").fetchone()[0] <= 1
    head = limit if alone else limit * fulltext_sqlite.HEAD_FACTOR
    params = {"match": match, "collection": collection, "limit": limit, "head": head}
    rows = connection.execute(
        "SELECT c.id, c.document_id, r.score FROM ("
        f"SELECT rowid AS id, -bm25(chunks_fts{WEIGHTS}) AS score FROM chunks_fts "
        "WHERE chunks_fts MATCH :match ORDER BY score DESC LIMIT :head) r "
        "JOIN chunks c ON c.id = r.id JOIN documents d ON d.id = c.document_id "
        "WHERE d.collection_id = :collection ORDER BY r.score DESC LIMIT :limit",
        params,
    ).fetchall()
    if len(rows) < limit:
        more = connection.execute(
            "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
            (match, head + 1),
        ).fetchone()[0]
        if more > head:
            rows = connection.execute(
                f"SELECT c.id, c.document_id, -bm25(chunks_fts{WEIGHTS}) AS score "
                "FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid "
                "JOIN documents d ON d.id = c.document_id WHERE chunks_fts MATCH :match "
                "AND d.collection_id = :collection ORDER BY score DESC LIMIT :limit",
                params,
            ).fetchall()
    return rows


def own_search(
    connection: sqlite3.Connection, collection: int, match: str, limit: int
) -> list[tuple[int, int, float]]:
    """Revision 9's keyword search (no path): the SQL ``keyword_search`` runs."""
    table = fulltext_sqlite.fts_table(collection)
    sql = fulltext_sqlite._Search(table, WEIGHTS, by_collection=False, path_glob=None).ranked()
    return connection.execute(sql, {"match": match, "limit": limit, "head": limit}).fetchall()


def floor(connection: sqlite3.Connection, collection: int, match: str, limit: int) -> list[Any]:
    table = fulltext_sqlite.fts_table(collection)
    sql = f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY rank LIMIT ?"
    return connection.execute(sql, (match, limit)).fetchall()


# --- measures ---------------------------------------------------------------------------


def claims() -> list[tuple[str, str]]:
    return list(load_queries(SCIFACT / "queries.jsonl"))


def ndcg_at_10(ranking: list[str], judged: dict[str, int]) -> float:
    gains = [judged.get(uid, 0) for uid in ranking[:10]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted(judged.values(), reverse=True)[:10]
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best else 0.0


def scifact_ndcg(connection: sqlite3.Connection, search: Any, collection: int) -> dict[str, float]:
    """Mean nDCG@10 of the keyword ranking of documents (each at its best chunk)."""
    uids = dict(
        connection.execute("SELECT id, uid FROM documents WHERE collection_id = ?", (collection,))
    )
    texts = dict(claims())
    found = {}
    for split in ("train", "test"):
        path = SCIFACT / "qrels" / f"{split}.tsv"
        if not path.exists():
            continue
        qrels = load_qrels(path)
        scores = []
        for query_id, judged in qrels.items():
            match = fulltext_sqlite.match_expression(texts[query_id])
            rows = search(connection, collection, match, DEPTH) if match else []
            ranking = list(dict.fromkeys(uids[d] for _, d, _ in rows))
            scores.append(ndcg_at_10(ranking, judged))
        found[split] = statistics.fmean(scores)
    return found


def latencies(
    pairs: list[tuple[str, sqlite3.Connection, Any]], collection: int, count: int
) -> dict[str, list[float]]:
    """Seconds per query for each (name, connection, search), taking turns query by query."""
    times: dict[str, list[float]] = {name: [] for name, _, _ in pairs}
    for _, text in claims()[200 : 200 + count]:
        match = fulltext_sqlite.match_expression(text)
        if match is None:
            continue
        for name, connection, search in pairs:
            started = time.perf_counter()
            search(connection, collection, match, 10)
            times[name].append(time.perf_counter() - started)
    return times


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--big", type=Path, default=Path("/tmp/analyzer-scale/c150000/data/semantic_core.db")
    )
    parser.add_argument("--big-collection", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fts-collections/bench"))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--extra-collections", type=int, default=0)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    scifact = asyncio.run(ingest_scifact(args.workdir / "scifact-data"))
    [(sf_id,)] = sqlite3.connect(scifact).execute("SELECT id FROM collections").fetchall()

    shared = empty_database(args.workdir / "shared.db", scifact)
    own = empty_database(args.workdir / "own.db", scifact)
    for statement in SHARED_DDL:
        shared.execute(statement)
    add_collection(shared, 1, "sf", shared=True)
    add_collection(own, 1, "sf", shared=False)
    for extra in range(args.extra_collections):
        add_collection(own, 10 + extra, f"empty-{extra}", shared=False)
    seconds = copy_collection([shared, own], scifact, sf_id, 1, 0)
    print(f"SciFact chunks written: shared {seconds[0]:.2f} s, own {seconds[1]:.2f} s")

    alone = {
        n: scifact_ndcg(c, s, 1)
        for n, c, s in (("shared", shared, shared_search), ("own", own, own_search))
    }
    print(f"SciFact keyword nDCG@10 alone: {alone}")

    add_collection(shared, 2, "big", shared=True)
    add_collection(own, 2, "big", shared=False)
    started = time.perf_counter()
    seconds = copy_collection([shared, own], args.big, args.big_collection, 2, 10_000_000)
    chunks = own.execute("SELECT count(*) FROM chunks").fetchone()[0]
    print(f"large collection copied in {time.perf_counter() - started:.0f} s; {chunks} chunks")
    print(
        f"chunk inserts with the triggers: shared {seconds[0]:.1f} s, own {seconds[1]:.1f} s"
        f" (own/shared {seconds[1] / seconds[0]:.2f})"
    )

    beside = {
        n: scifact_ndcg(c, s, 1)
        for n, c, s in (("shared", shared, shared_search), ("own", own, own_search))
    }
    print(f"SciFact keyword nDCG@10 beside the large collection: {beside}")

    for label, collection in (("large collection", 2), ("SciFact beside it", 1)):
        times = latencies(
            [("shared", shared, shared_search), ("own", own, own_search), ("floor", own, floor)],
            collection,
            args.queries,
        )
        summary = ", ".join(
            f"{name} p50 {ms(values, 0.5):.1f} ms p95 {ms(values, 0.95):.1f} ms"
            for name, values in times.items()
        )
        ratio = statistics.median(times["own"]) / statistics.median(times["shared"])
        floor_ratio = statistics.median(times["own"]) / statistics.median(times["floor"])
        print(
            f"keyword, {label}: {summary}; own/shared p50 {ratio:.2f}, own/floor {floor_ratio:.2f}"
        )

    shared.close()
    own.close()
    upgrade_copy = args.workdir / "upgraded.db"
    shutil.copyfile(args.workdir / "shared.db", upgrade_copy)
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{upgrade_copy}")
    started = time.perf_counter()
    with engine.begin() as connection:
        fulltext_sqlite.upgrade(connection)
    print(f"revision 9 upgrade of the shared layout: {time.perf_counter() - started:.1f} s")
    engine.dispose()
    for path in ("shared.db", "own.db", "upgraded.db"):
        for suffix in ("", "-wal", "-shm"):
            (args.workdir / (path + suffix)).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
