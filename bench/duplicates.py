"""Duplicates benchmark: every pair of the 5,183 SciFact abstracts, in blocked matrix products.

    python bench/duplicates.py [--corpus ../shared/eval/scifact/corpus.jsonl] [--limit N]
                               [--threshold 0.9] [--plant 50]

Ingests the abstracts as records (the ingest service's ``ingest_records``) into a
temporary data dir, plus ``--plant`` records that copy an abstract with three
words changed; each must come out paired with its source. Then runs the analysis
service's duplicate scan twice: once for the timings (read, shingle vectors, pair
scan, store), once under tracemalloc for the peak memory of the whole call; and
times the pair scan alone on the same vectors, with its own peak. Exits quietly
when the corpus is absent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.core.module import core
from modules.semantic_core.analysis.corpus import Corpus
from modules.semantic_core.analysis.duplicates import (
    DEFAULT_THRESHOLD,
    HASH_DIMENSIONS,
    DuplicatesReport,
    near_pairs,
    shingle_matrix,
)
from modules.semantic_core.ingest.service import IngestOptions, Record
from modules.semantic_core.module import semantic_core

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[2] / "shared" / "eval" / "scifact" / "corpus.jsonl"
)
COLLECTION = "scifact"
MIB = 2**20


def read_records(corpus: Path, limit: int | None) -> list[Record]:
    records = []
    with corpus.open(encoding="utf-8") as lines:
        for line in lines:
            if limit is not None and len(records) >= limit:
                break
            row = json.loads(line)
            records.append(Record(uid=row["_id"], text=row["text"], title=row.get("title", "")))
    return records


def planted_copies(records: list[Record], count: int) -> list[Record]:
    """Copies of ``count`` abstracts spread over the corpus, three words replaced in each."""
    step = max(1, len(records) // max(count, 1))
    copies = []
    for record in records[::step][:count]:
        words = record.text.split()
        for position in (len(words) // 4, len(words) // 2, 3 * len(words) // 4):
            words[position] = "changed"
        copies.append(Record(f"copy-of-{record.uid}", " ".join(words), record.title))
    return copies


def recall(report: DuplicatesReport, copies: list[Record]) -> str:
    found = {frozenset((p.first.uid, p.second.uid)) for p in report.pairs}
    hits = sum(frozenset((c.uid, c.uid.removeprefix("copy-of-"))) in found for c in copies)
    return f"planted copies found: {hits}/{len(copies)}"


async def scan_with_service(app: AppContext, threshold: float, copies: list[Record]) -> None:
    service = semantic_core(app).analysis
    started = time.perf_counter()
    report = await service.duplicates(COLLECTION, threshold)
    total = time.perf_counter() - started
    laps = "  ".join(f"{name} {seconds:.3f} s" for name, seconds in report.timings.items())
    print(
        f"duplicates at {threshold}: {len(report.pairs)} pairs in {len(report.clusters)} "
        f"clusters over {report.documents} documents; {total:.2f} s ({laps})"
    )
    exact = sum(p.kind == "exact" for p in report.pairs)
    print(f"  exact {exact}, near {len(report.pairs) - exact}; {recall(report, copies)}")
    tracemalloc.start()
    await service.duplicates(COLLECTION, threshold)
    peak = tracemalloc.get_traced_memory()[1] / MIB
    tracemalloc.stop()
    print(f"peak traced memory of the whole duplicates call: {peak:.0f} MiB")


def scan_alone(texts: list[str], threshold: float) -> None:
    matrix = shingle_matrix(texts)
    started = time.perf_counter()
    near_pairs(matrix, threshold)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    near_pairs(matrix, threshold)
    peak = tracemalloc.get_traced_memory()[1] / MIB
    tracemalloc.stop()
    n = len(matrix)
    print(
        f"pair scan alone: {n:,} x {n:,} ({n * (n - 1) // 2:,} pairs) x {HASH_DIMENSIONS} dims "
        f"in {seconds:.2f} s; vectors {matrix.nbytes / MIB:.0f} MiB, "
        f"scan peak {peak:.0f} MiB beyond them"
    )


async def run(
    data_dir: Path, records: list[Record], copies: list[Record], threshold: float
) -> None:
    async with AppContext(Settings(data_dir=data_dir)) as app:
        started = time.perf_counter()
        ingested = await semantic_core(app).ingest.ingest_records(
            records + copies, IngestOptions(collection=COLLECTION)
        )
        elapsed = time.perf_counter() - started
        print(f"ingested {ingested.new} records, {ingested.chunks} chunks in {elapsed:.1f} s")
        await scan_with_service(app, threshold, copies)
        corpus = Corpus(core(app).crud)
        texts = await corpus.texts((await corpus.collection(COLLECTION)).id)
    scan_alone(list(texts.values()), threshold)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS (ingest included): {rss:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--plant", type=int, default=50, help="near-copies to add")
    args = parser.parse_args()
    if not args.corpus.is_file():
        print(f"skipped: no corpus at {args.corpus} (pass --corpus)")
        return
    records = read_records(args.corpus, args.limit)
    copies = planted_copies(records, args.plant)
    with tempfile.TemporaryDirectory(prefix="analyzer-bench-") as tmp:
        asyncio.run(run(Path(tmp) / "data", records, copies, args.threshold))


if __name__ == "__main__":
    main()
