"""Query benchmark: in-process latency per mode, a 100k-chunk collection, and cold CLI runs.

    python bench/query.py [--queries 200] [--synthetic-chunks 100000] [--cold-runs 5]

1. Ingests the SciFact corpus (../shared/eval/scifact) as records into a temporary
   data dir, then runs the first N train queries in one process per mode and prints
   p50/p95 latency.
2. Builds a synthetic collection of about 100,000 chunks (sentences of SciFact
   abstracts recombined into short records) and times the same queries there.
3. Times `analyzer query` end to end in fresh processes (cold start) on the SciFact
   collection in every mode, next to the floors every process pays (the bare
   interpreter, `analyzer --version`, `analyzer db-status`), and prints the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.semantic_core.ingest.service import IngestOptions, Record
from modules.semantic_core.module import semantic_core
from modules.semantic_core.search.evaluation import load_corpus, load_queries
from modules.semantic_core.search.metrics import percentile
from modules.semantic_core.search.modes import MODES
from modules.semantic_core.search.service import SearchOptions

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "eval" / "scifact"


def synthetic_records(corpus: Path, chunks: int, seed: int = 7) -> list[Record]:
    """Short records of 3 to 6 sentences drawn from real abstracts: one chunk each."""
    sentences = [
        s
        for record in load_corpus(corpus)
        for s in re.split(r"(?<=[.!?])\s+", record.text)
        if len(s) > 40
    ]
    rng = random.Random(seed)
    return [
        Record(uid=f"syn-{i}", text=" ".join(rng.sample(sentences, rng.randint(3, 6))))
        for i in range(chunks)
    ]


async def ingest(data: Path, collection: str, records: list[Record]) -> float:
    started = time.perf_counter()
    async with AppContext(Settings(data_dir=data)) as app:
        service = semantic_core(app).ingest
        report = await service.ingest_records(records, IngestOptions(collection=collection))
    print(
        f"  ingested {collection}: {report.new} records, {report.chunks} chunks "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return time.perf_counter() - started


async def latencies(data: Path, collection: str, queries: list[str]) -> None:
    async with AppContext(Settings(data_dir=data)) as app:
        service = semantic_core(app).search
        for mode in MODES:
            options = SearchOptions(collection=collection, top_k=10, mode=mode)
            await service.search(queries[0], options)  # load models and vectors once
            times = []
            for text in queries:
                started = time.perf_counter()
                await service.search(text, options)
                times.append((time.perf_counter() - started) * 1000)
            print(
                f"  {mode:8s} p50 {percentile(times, 50):6.1f} ms   "
                f"p95 {percentile(times, 95):6.1f} ms   ({len(times)} queries, warm process)"
            )


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])} ...: {done.stderr.strip()}")
    return elapsed


RERANK_COST = """
import json, sys, time
started = time.perf_counter()
from modules.semantic_core.embeddings.registry import process_models
model = process_models().reranker()
loaded = time.perf_counter()
model.encode(json.loads(sys.argv[1]), max_length=64)
model.encode([sys.argv[2]])
print(json.dumps([loaded - started, time.perf_counter() - loaded]))
"""


def rerank_cost(corpus: Path, queries: list[str], runs: int) -> None:
    """Fresh processes: load the re-rank model, then encode one query and 40 passages."""
    records = [json.loads(line) for line, _ in zip(corpus.open(), range(40 * runs), strict=False)]
    loads, encodes = [], []
    for run in range(runs):
        passages = [r["title"] + "\n" + r["text"] for r in records[run * 40 : run * 40 + 40]]
        done = subprocess.run(
            [sys.executable, "-c", RERANK_COST, json.dumps(passages), queries[run]],
            capture_output=True,
            text=True,
            check=True,
        )
        load, encode = json.loads(done.stdout)
        loads.append(load)
        encodes.append(encode)
    print(
        f"  re-rank model in a fresh process: load (numpy, onnxruntime, graph) median "
        f"{statistics.median(loads):.2f} s; encode 40 passages of 64 tokens and the query "
        f"{statistics.median(encodes):.2f} s ({runs} runs)"
    )


def cold_runs(data: Path, collection: str, queries: list[str], runs: int) -> None:
    """Fresh processes, interleaved so that machine noise hits every row alike."""
    cli = [sys.executable, "-m", "analyzer"]
    rows: dict[str, list[float]] = {
        "python -c pass (interpreter floor)": [],
        "analyzer --version (CLI floor)": [],
        "analyzer db-status (framework boot)": [],
    }
    rows.update({f"analyzer query --mode {mode}": [] for mode in MODES})
    for text in queries[:runs]:
        rows["python -c pass (interpreter floor)"].append(timed([sys.executable, "-c", "pass"]))
        rows["analyzer --version (CLI floor)"].append(timed([*cli, "--version"]))
        rows["analyzer db-status (framework boot)"].append(
            timed([*cli, "--data-dir", str(data), "db-status"])
        )
        for mode in MODES:
            rows[f"analyzer query --mode {mode}"].append(
                timed(
                    [
                        *cli,
                        "--data-dir",
                        str(data),
                        "query",
                        text,
                        "--collection",
                        collection,
                        "--mode",
                        mode,
                        "--json",
                    ]
                )
            )
    print(f"  cold processes, {runs} runs each (distinct queries), median / min / max:")
    for name, times in rows.items():
        print(
            f"    {name:38s} {statistics.median(times):5.2f} s  "
            f"{min(times):5.2f} s  {max(times):5.2f} s"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--synthetic-chunks", type=int, default=100_000)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()
    if not (SCIFACT / "corpus.jsonl").is_file():
        raise SystemExit(f"no SciFact data at {SCIFACT}")
    queries = [text for _, text in load_queries(SCIFACT / "queries.jsonl")][: args.queries]
    with tempfile.TemporaryDirectory(prefix="analyzer-bench-") as tmp:
        data = Path(tmp) / "data"
        print("SciFact (5,183 abstracts):")
        await ingest(data, "scifact", list(load_corpus(SCIFACT / "corpus.jsonl")))
        await latencies(data, "scifact", queries)
        cold_runs(data, "scifact", queries, args.cold_runs)
        rerank_cost(SCIFACT / "corpus.jsonl", queries, args.cold_runs)
        if args.synthetic_chunks:
            print(f"Synthetic ({args.synthetic_chunks:,} one-chunk records):")
            records = synthetic_records(SCIFACT / "corpus.jsonl", args.synthetic_chunks)
            await ingest(data, "synthetic", records)
            await latencies(data, "synthetic", queries)


if __name__ == "__main__":
    asyncio.run(main())
