"""Semantic search at scale: exact and quantised searches side by side, and the cold read.

    python bench/vectors.py [--sizes 100000,300000,1000000] [--queries 200]
                            [--cold-rows 1000000] [--work /tmp/vectors] [--libraries]

Rows: chunk vectors made from the bundled static model's vectors of SciFact sentences,
each row the mean of four to seven sentences drawn from three abstracts (as the long
documents of ``bench/long_documents.py`` mix them), stored float16 as ingest stores
them. Queries: SciFact's claims. For each size, in one run: time per query and memory
of the exact float32 product (what the search did), the float16 matrix scored in
blocks, an int8 matrix with a scale per row, and ``VectorIndex`` (sign codes of the
centred rows, exact rescoring) at several rescoring depths, with recall@10 and
recall@100 against the exact answer; ``--libraries`` adds faiss and usearch when they
import. Then the cold read of ``--cold-rows`` blobs from a SQLite file through
SQLAlchemy (as ``chunk_matrix`` read them), through the driver's own fetchall, and
the decoding. Exits quietly when the corpus is absent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modules.semantic_core.index.vector_index import RESCORE_MIN, VectorIndex

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "eval" / "scifact"
MIB = 2**20


def sentence_vectors(corpus: Path) -> tuple[np.ndarray, np.ndarray]:
    """Static vectors of every sentence of the corpus, and each sentence's abstract."""
    from modules.semantic_core.embeddings.registry import process_models

    sentences, owners = [], []
    with corpus.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            row = json.loads(line)
            for sentence in re.split(r"(?<=[.!?])\s+", row["text"]):
                if len(sentence) > 20:
                    sentences.append(sentence)
                    owners.append(number)
    vectors = process_models().embedder().encode(sentences)
    return vectors.astype(np.float32), np.asarray(owners)


def chunk_rows(sentences: np.ndarray, owners: np.ndarray, count: int) -> np.ndarray:
    """``count`` float16 rows, each the normalised mean of 4-7 sentences of 3 abstracts."""
    rng = np.random.default_rng(22)
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    out = np.empty((count, sentences.shape[1]), dtype=np.float16)
    for start in range(0, count, 100_000):
        size = min(100_000, count - start)
        total = np.zeros((size, sentences.shape[1]), dtype=np.float32)
        for _ in range(3):  # three abstracts, one to three consecutive sentences of each
            first = rng.choice(starts, size) + rng.integers(0, 4, size)
            for offset in range(rng.integers(1, 3)):
                total += sentences[np.minimum(first + offset, len(sentences) - 1)]
        total /= np.linalg.norm(total, axis=1, keepdims=True)
        out[start : start + size] = total
    return out


def query_vectors(path: Path, count: int) -> np.ndarray:
    from modules.semantic_core.embeddings.registry import process_models

    with path.open(encoding="utf-8") as lines:
        claims = [json.loads(line)["text"] for line in lines][:count]
    return process_models().embedder().encode(claims).astype(np.float32)


def timed(search: Callable[[np.ndarray], np.ndarray], queries: np.ndarray) -> tuple[float, list]:
    """Median milliseconds per query, and each query's answer (row numbers)."""
    times, answers = [], []
    search(queries[0])  # first call: caches, lazy imports
    for query in queries:
        started = time.perf_counter()
        answers.append(search(query))
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times), answers


def recall(found: list, exact: list, k: int) -> float:
    pairs = zip(found, exact, strict=True)
    hits = [len(set(f[:k].tolist()) & set(e[:k].tolist())) / k for f, e in pairs]
    return float(np.mean(hits))


def top(scores: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def sign_codes(vectors: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Sign bits of ``vectors @ rotation``, one uint64 array per 64 bits (words, n):
    column by column, each XOR and population count runs over one contiguous array."""
    bits = np.packbits((vectors @ rotation) > 0, axis=1)
    return np.ascontiguousarray(bits.view(np.uint64).T)


def hamming(codes: np.ndarray, query_code: np.ndarray) -> np.ndarray:
    distances = np.bitwise_count(codes[0] ^ query_code[0]).astype(np.uint16)
    for word in range(1, len(codes)):
        distances += np.bitwise_count(codes[word] ^ query_code[word])
    return distances


def compare(rows16: np.ndarray, queries: np.ndarray, libraries: bool) -> list[tuple]:
    """(method, ms/query, recall@10, recall@100, MB held) for one matrix size."""
    k = 100
    exact32 = rows16.astype(np.float32)
    exact32 /= np.linalg.norm(exact32, axis=1, keepdims=True)
    ms, exact = timed(lambda q: top(exact32 @ q, k), queries)
    table = [("float32 exact (before)", ms, 1.0, 1.0, exact32.nbytes / MIB)]
    centre = exact32.mean(axis=0)
    exact32 = None  # its memory back before the next matrix

    started = time.perf_counter()
    index = VectorIndex.build(np.arange(len(rows16)), np.arange(len(rows16)), rows16)
    built = time.perf_counter() - started
    ms, found = timed(lambda q: top(index.exact_scores(q), k), queries)
    table.append(("float16, blocks of 32k, exact", ms, recall(found, exact, 10),
                  recall(found, exact, 100), index.vectors.nbytes / MIB))  # fmt: skip

    scale = np.abs(rows16).max(axis=1, keepdims=True).astype(np.float32) / 127
    rows8 = np.round(rows16 / scale).astype(np.int8)
    scale = (scale / index.norms).ravel()

    def int8_search(q: np.ndarray) -> np.ndarray:
        out = np.empty(len(rows8), dtype=np.float32)
        for start in range(0, len(rows8), 32_768):
            out[start : start + 32_768] = rows8[start : start + 32_768].astype(np.float32) @ q
        return top(out * scale, k)

    ms, found = timed(int8_search, queries)
    table.append(("int8, scale per row, exact pass", ms, recall(found, exact, 10),
                  recall(found, exact, 100), (rows8.nbytes + scale.nbytes) / MIB))  # fmt: skip
    rows8 = None

    # Sign bits of the centred rows after a random rotation (which spreads the variance
    # over the bits: recall@10 0.857 -> 0.944 at 2,000 of 100k rescored).
    rotation = np.linalg.qr(np.random.default_rng(1).standard_normal((256, 256)))[0]
    rotation = rotation.astype(np.float32)
    codes = np.concatenate(
        [sign_codes(block / index.norms[s : s + len(block)] - centre, rotation)
         for s, block in blocks(rows16)], axis=1)  # fmt: skip
    codes_mb = codes.nbytes / MIB + index.vectors.nbytes / MIB

    def binary(q: np.ndarray, take: int) -> np.ndarray:
        distances = hamming(codes, sign_codes((q - centre)[None, :], rotation)[:, 0])
        rows = np.argpartition(distances, take)[:take]
        return rows[top(index.exact_scores(q, rows), k)]

    for take in (2000, 5000, 20000):
        if take < len(rows16):
            ms, found = timed(lambda q, t=take: binary(q, t), queries)
            r10, r100 = recall(found, exact, 10), recall(found, exact, 100)
            table.append((f"sign codes 256 bits + rescore {take}", ms, r10, r100, codes_mb))
    for take in (2000, 5000, 10000):
        ms, found = timed(lambda q, t=take: index.nearest(q, k, rescore=t)[0], queries)
        label = f"sketch {index.sketch.shape[1]} + rescore {take}"
        label += " (default)" if take == RESCORE_MIN else ""
        r10, r100 = recall(found, exact, 10), recall(found, exact, 100)
        table.append((label, ms, r10, r100, index.nbytes / MIB))
    table.append((f"  (VectorIndex.build: {built:.1f} s)", 0.0, 0.0, 0.0, 0.0))
    if libraries:
        table += library_rows(index, queries, exact, k)
    return table


def blocks(rows16: np.ndarray, size: int = 100_000):  # noqa: ANN201
    for start in range(0, len(rows16), size):
        yield start, rows16[start : start + size].astype(np.float32)


def library_rows(index: VectorIndex, queries: np.ndarray, exact: list, k: int) -> list[tuple]:
    table = []
    rows32 = index.vectors.astype(np.float32) / index.norms
    try:
        import faiss

        faiss.omp_set_num_threads(1)
        flat = faiss.IndexFlatIP(rows32.shape[1])
        flat.add(rows32)
        ms, found = timed(lambda q: flat.search(q[None, :], k)[1][0], queries)
        table.append(("faiss IndexFlatIP", ms, recall(found, exact, 10),
                      recall(found, exact, 100), rows32.nbytes / MIB))  # fmt: skip
        flat = None
        if len(rows32) <= 300_000:
            started = time.perf_counter()
            hnsw = faiss.IndexHNSWFlat(rows32.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
            hnsw.add(rows32)
            built = time.perf_counter() - started
            hnsw.hnsw.efSearch = 128
            ms, found = timed(lambda q: hnsw.search(q[None, :], k)[1][0], queries)
            table.append((f"faiss HNSW M16 ef128 (build {built:.0f} s)", ms,
                          recall(found, exact, 10), recall(found, exact, 100),
                          rows32.nbytes * 1.25 / MIB))  # fmt: skip
    except ImportError:
        print("faiss does not import; skipped", file=sys.stderr)
    try:
        if len(rows32) > 100_000:  # its build alone took 205 s at 100k rows here
            raise ImportError
        from usearch.index import Index

        started = time.perf_counter()
        ann = Index(ndim=rows32.shape[1], metric="ip", dtype="f16")
        ann.add(np.arange(len(rows32)), rows32, threads=2)
        built = time.perf_counter() - started
        ms, found = timed(lambda q: ann.search(q, k).keys, queries)
        table.append((f"usearch HNSW f16 (build {built:.0f} s)", ms, recall(found, exact, 10),
                      recall(found, exact, 100), ann.memory_usage / MIB))  # fmt: skip
    except ImportError:
        print("usearch skipped (does not import, or more than 100k rows)", file=sys.stderr)
    return table


# --- the cold read ------------------------------------------------------------------


SELECT = (
    "SELECT c.id, c.document_id, c.embedding FROM chunks c "
    "JOIN documents d ON d.id = c.document_id "
    "WHERE d.collection_id = 1 AND c.embedding IS NOT NULL ORDER BY c.id"
)


def make_table(path: Path, rows16: np.ndarray) -> None:
    """chunks(id, document_id, text, embedding) and documents(id, collection_id)."""
    if path.exists():
        with sqlite3.connect(path) as db:
            if db.execute("SELECT count(*) FROM chunks").fetchone()[0] == len(rows16):
                return
        path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE documents (id INTEGER PRIMARY KEY, collection_id INTEGER)")
        db.execute(
            "CREATE TABLE chunks (id INTEGER PRIMARY KEY, document_id INTEGER, "
            "text TEXT, embedding BLOB)"
        )
        db.execute("CREATE INDEX chunks_document ON chunks (document_id)")
        documents = (len(rows16) + 2) // 3
        db.executemany("INSERT INTO documents VALUES (?, 1)", ((i,) for i in range(documents)))
        filler = "word " * 160  # a chunk's text lies between its row's blobs on the page
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?)",
            ((i, i // 3, filler, rows16[i].tobytes()) for i in range(len(rows16))),
        )


async def read_sqlalchemy(path: Path) -> list:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text(SELECT))).all()
    finally:
        await engine.dispose()


async def read_driver(path: Path) -> list:
    """What ``chunk_matrix`` does now: a count, then batches from aiosqlite's cursor."""
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from modules.semantic_core.index.vector_read import collection_vectors

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with AsyncSession(engine) as session:
            ids, _, _ = await collection_vectors(session, 1)
            return list(ids)
    finally:
        await engine.dispose()


def read_sqlite3(path: Path) -> list:
    with sqlite3.connect(path) as db:
        return db.execute(SELECT).fetchall()


def cold_reads(path: Path, rows: int) -> list[tuple[str, float]]:
    from modules.semantic_core.vectors import from_blobs

    out = []
    for name, read in (
        ("SQLAlchemy (aiosqlite) .all()", lambda: asyncio.run(read_sqlalchemy(path))),
        ("count + driver batches into one matrix (now)", lambda: asyncio.run(read_driver(path))),
        ("sqlite3 fetchall", lambda: read_sqlite3(path)),
    ):
        started = time.perf_counter()
        result = read()
        seconds = time.perf_counter() - started
        assert len(result) == rows
        out.append((name, seconds))
    blobs = [row[2] for row in result]
    started = time.perf_counter()
    decoded = from_blobs(blobs, len(blobs[0]) // 2)
    out.append(("decode to float32 (before)", time.perf_counter() - started))
    del decoded
    started = time.perf_counter()
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1)
    VectorIndex.build(np.zeros(len(blobs)), np.zeros(len(blobs)), matrix)
    out.append(("join + VectorIndex.build", time.perf_counter() - started))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cold-rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/vectors"))
    parser.add_argument("--libraries", action="store_true")
    parser.add_argument("--corpus", type=Path, default=SCIFACT)
    args = parser.parse_args()
    if not (args.corpus / "corpus.jsonl").exists():
        print(f"no corpus at {args.corpus}; nothing to measure")
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    sentences, owners = sentence_vectors(args.corpus / "corpus.jsonl")
    rows16 = chunk_rows(sentences, owners, max([*sizes, args.cold_rows]))
    queries = query_vectors(args.corpus / "queries.jsonl", args.queries)
    print(f"{len(sentences)} sentences; {len(queries)} queries; numpy {np.__version__}")
    for size in sizes:
        print(f"\n{size:,} rows x {rows16.shape[1]}")
        print(f"{'method':44} {'ms/query':>9} {'R@10':>6} {'R@100':>6} {'MB':>7}")
        for name, ms, r10, r100, mb in compare(rows16[:size], queries, args.libraries):
            print(f"{name:44} {ms:9.1f} {r10:6.3f} {r100:6.3f} {mb:7.0f}")
    if args.cold_rows:
        args.work.mkdir(parents=True, exist_ok=True)
        path = args.work / f"blobs-{args.cold_rows}.db"
        make_table(path, rows16[: args.cold_rows])
        print(f"\ncold read of {args.cold_rows:,} rows ({path.stat().st_size / MIB:.0f} MB file)")
        for name, seconds in cold_reads(path, args.cold_rows):
            print(f"{name:44} {seconds:9.2f} s")


if __name__ == "__main__":
    main()
