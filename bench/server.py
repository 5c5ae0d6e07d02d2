"""Resident server benchmark: cold CLI commands with and without `analyzer serve`, side by side.

    python bench/server.py [--runs 7] [--clients 4] [--queries 50] [--new-files 1000]

On the SciFact abstracts written as files (5,183) and ingested once, in one run:

1. Cold CLI processes, as a person types them (the `analyzer` script), each command
   timed `--runs` times with the server up and with ANALYZER_SERVER=off, interleaved;
   distinct queries and documents per run, so no answer comes from a cache.
2. Warm hybrid latency inside the server: the `seconds` that `query --json` reports,
   over distinct SciFact train claims.
3. Load: `--clients` concurrent clients x `--queries` queries each through the server,
   while an ingest of `--new-files` new files runs through it too: throughput, p50/p95,
   errors, and whether every answer was consistent (well-formed, ranked, and naming
   only documents that exist).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import write_corpus  # noqa: E402

from modules.semantic_core.search.metrics import percentile  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval" / "scifact"
TARGETS = {  # seconds, with the server up (DESIGN section 7, the service issue)
    "query (hybrid)": 0.30,
    "query --mode keyword": 0.12,
    "db-status": 0.10,
    "ingest (unchanged)": 0.30,
}


def analyzer_command() -> list[str]:
    script = Path(sys.executable).with_name("analyzer")
    return [str(script)] if script.exists() else [sys.executable, "-m", "analyzer"]


def run_cli(
    args: list[str], server: bool, check: bool = True
) -> tuple[float, subprocess.CompletedProcess[str]]:
    environ = {**os.environ, "ANALYZER_SERVER": "on" if server else "off"}
    started = time.perf_counter()
    done = subprocess.run(
        [*analyzer_command(), *args], capture_output=True, text=True, env=environ, check=False
    )
    elapsed = time.perf_counter() - started
    if check and done.returncode != 0:
        raise SystemExit(f"analyzer {' '.join(args[:4])} ... failed: {done.stderr.strip()}")
    return elapsed, done


def claims(limit: int, skip: int = 0) -> list[str]:
    """SciFact claims in a fixed random order; each part of the benchmark takes its own."""
    queries = [json.loads(line)["text"] for line in (SHARED / "queries.jsonl").open()]
    random.Random(7).shuffle(queries)
    return queries[skip : skip + limit]


def cold_cases(data: Path, docs: Path, runs: int) -> list[tuple[str, Callable[[int], list[str]]]]:
    base = ["--data-dir", str(data)]
    texts = claims(runs * 3)
    names = sorted(p.name for p in docs.iterdir())
    picks = random.Random(11).sample(names, runs * 2)
    return [
        ("query (hybrid)", lambda i: [*base, "query", texts[i]]),
        ("query --mode keyword", lambda i: [*base, "query", texts[runs + i], "--mode", "keyword"]),
        (
            "query --mode semantic",
            lambda i: [*base, "query", texts[2 * runs + i], "--mode", "semantic"],
        ),
        ("similar DOC", lambda i: [*base, "similar", picks[i]]),
        ("show DOC", lambda i: [*base, "show", picks[runs + i]]),
        ("db-status", lambda i: [*base, "db-status"]),
        ("ingest (unchanged)", lambda i: [*base, "ingest", str(docs)]),
    ]


def measure_cold(data: Path, docs: Path, runs: int) -> list[tuple[str, list[float], list[float]]]:
    cases = cold_cases(data, docs, runs)
    with_server: dict[str, list[float]] = {name: [] for name, _ in cases}
    without: dict[str, list[float]] = {name: [] for name, _ in cases}
    for run in range(runs):
        for name, args in cases:
            with_server[name].append(run_cli(args(run), server=True)[0])
            without[name].append(run_cli(args(run), server=False)[0])
    return [(name, with_server[name], without[name]) for name, _ in cases]


def floors(runs: int) -> list[tuple[str, list[float]]]:
    python = [sys.executable, "-c", "pass"]
    version = [*analyzer_command(), "--version"]
    found = []
    for name, command in (("python -c pass", python), ("analyzer --version", version)):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        found.append((name, times))
    return found


def warm_hybrid(data: Path, count: int) -> list[float]:
    latencies = []
    for text in claims(count, skip=100):
        _, done = run_cli(["--data-dir", str(data), "query", text, "--json"], server=True)
        latencies.append(json.loads(done.stdout)["seconds"])
    return latencies


def load_test(
    data: Path, folder: Path, clients: int, per_client: int
) -> tuple[dict[str, float], dict]:
    texts = claims(clients * per_client, skip=300)
    answers: list[tuple[float, subprocess.CompletedProcess[str]]] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        for text in texts[index * per_client : (index + 1) * per_client]:
            args = ["--data-dir", str(data), "query", text, "--json"]
            answer = run_cli(args, server=True, check=False)
            with lock:
                answers.append(answer)

    started = time.perf_counter()
    ingest = subprocess.Popen(
        [*analyzer_command(), "--data-dir", str(data), "ingest", str(folder), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    queries_done = time.perf_counter() - started
    out, err = ingest.communicate()
    report = json.loads(out) if ingest.returncode == 0 else {"error": err.strip()}
    latencies = [seconds for seconds, _ in answers]
    errors = sum(1 for _, done in answers if done.returncode != 0)
    figures = {
        "queries": len(answers),
        "seconds": queries_done,
        "throughput": len(answers) / queries_done,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "errors": errors,
        "consistent": consistent(data, [done for _, done in answers]),
    }
    return figures, report


def consistent(data: Path, answers: list[subprocess.CompletedProcess[str]]) -> bool:
    """Every answer well-formed, ranked by score, naming only documents that exist."""
    conn = sqlite3.connect(data / "semantic_core.db")
    try:
        known = {row[0] for row in conn.execute("SELECT uid FROM documents")}
    finally:
        conn.close()
    for done in answers:
        if done.returncode != 0:
            return False
        results = json.loads(done.stdout)["results"]
        scores = [r["score"] for r in results]
        if not results or scores != sorted(scores, reverse=True):
            return False
        if any(r["document_id"] not in known for r in results):
            return False
        if len({r["document_id"] for r in results}) != len(results):
            return False
    return True


def server_rss(data: Path) -> float:
    record = json.loads((data / "server.lock").read_text())
    for line in Path(f"/proc/{record['pid']}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def new_files(corpus: Path, target: Path, count: int) -> None:
    """``count`` new documents: SciFact abstracts, sentences shuffled, under new names."""
    rng = random.Random(3)
    lines = corpus.open(encoding="utf-8").readlines()
    for index in range(count):
        record = json.loads(lines[index])
        sentences = record["text"].split(". ")
        rng.shuffle(sentences)
        (target / f"new-{index:04d}.txt").write_text(
            f"{record['title']} (revised)\n\n{'. '.join(sentences)}\n", encoding="utf-8"
        )


def row(name: str, with_server: list[float], without: list[float]) -> str:
    a, b = statistics.median(with_server), statistics.median(without)
    target = TARGETS.get(name)
    mark = "" if target is None else (" meets" if a <= target else " MISSES") + f" {target:.2f} s"
    return (
        f"| {name} | {a:.3f} s ({min(with_server):.3f}-{max(with_server):.3f}) | "
        f"{b:.3f} s ({min(without):.3f}-{max(without):.3f}) | {b / a:.1f}x |{mark}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--new-files", type=int, default=1000)
    parser.add_argument("--warm", type=int, default=50, help="queries for the warm latency")
    args = parser.parse_args()
    corpus = SHARED / "corpus.jsonl"
    if not corpus.is_file():
        raise SystemExit(f"no SciFact corpus at {corpus}")
    with tempfile.TemporaryDirectory(prefix="analyzer-server-bench-") as tmp:
        docs, data, extra = Path(tmp) / "docs", Path(tmp) / "data", Path(tmp) / "new"
        docs.mkdir()
        extra.mkdir()
        count, _ = write_corpus(corpus, docs, None)
        ingest_s, done = run_cli(["--data-dir", str(data), "ingest", str(docs), "--json"], False)
        print(
            f"SciFact as {count} files, {json.loads(done.stdout)['chunks']} chunks, "
            f"first ingest {ingest_s:.1f} s"
        )
        run_cli(["--data-dir", str(data), "serve", "--idle-timeout", "30m"], server=False)
        try:
            # What a person has usually done before: a few queries, and the keywords once.
            for warmup in claims(3, skip=50):
                run_cli(["--data-dir", str(data), "query", warmup], server=True)
            run_cli(["--data-dir", str(data), "keywords"], server=True)
            report(args, data, docs, extra, corpus)
        finally:
            run_cli(["--data-dir", str(data), "serve", "--stop"], server=False)


def report(args: argparse.Namespace, data: Path, docs: Path, extra: Path, corpus: Path) -> None:
    print(f"\nCold CLI processes, median of {args.runs} (min-max), interleaved:\n")
    print("| command | with `analyzer serve` | without | ratio |")
    print("| --- | --- | --- | --- |")
    for name, times in floors(args.runs):
        print(f"| {name} | {statistics.median(times):.3f} s | | |")
    for name, with_server, without in measure_cold(data, docs, args.runs):
        print(row(name, with_server, without))
    warm = warm_hybrid(data, args.warm)
    print(
        f"\nWarm hybrid inside the server over {len(warm)} distinct claims: "
        f"p50 {percentile(warm, 50) * 1000:.0f} ms, p95 {percentile(warm, 95) * 1000:.0f} ms "
        f"(target p50 <= 150 ms); server RSS {server_rss(data):.0f} MiB"
    )
    new_files(corpus, extra, args.new_files)
    figures, ingested = load_test(data, extra, args.clients, args.queries)
    print(
        f"\nLoad: {args.clients} clients x {args.queries} queries (hybrid) through the server "
        f"while it ingests {args.new_files} new files:\n"
        f"  {figures['queries']} queries in {figures['seconds']:.1f} s = "
        f"{figures['throughput']:.1f} queries/s; p50 {figures['p50']:.2f} s, "
        f"p95 {figures['p95']:.2f} s; errors {figures['errors']}; "
        f"consistent answers: {'yes' if figures['consistent'] else 'NO'}\n"
        f"  ingest through the same server: {ingested.get('new', '?')} new files in "
        f"{ingested.get('seconds', float('nan')):.1f} s of its own {ingested.get('error', '')}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
