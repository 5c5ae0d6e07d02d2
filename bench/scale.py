"""Scale benchmark: everything that grows with the corpus, from 10k to 300k documents.

    python bench/scale.py [--documents 10000 100000 300000] [--workdir /tmp/analyzer-scale-n]
        [--queries 30] [--cold 5] [--postgres] [--workers 3] [--fresh] [--skip-analysis]
    python bench/scale.py --growth 1000000 [--documents 10000] [--runs 2]

1. Per size N, a corpus of N text files (kept in ``--workdir`` and reused by later runs):
   each document mixes the sentences of three SciFact abstracts chosen by a seeded
   generator, about 390 words, 3.2 chunks; its title is the first abstract's title.
   The same N always gives the same files.
2. First ingest as a fresh ``analyzer ingest`` process (no server): time, chunks/s,
   peak RSS of the process, size of the data directory; then an unchanged re-ingest.
   With ``--postgres`` both databases live on a PostgreSQL 16 + pgvector server started
   for the run (the test suite's, fsync off) and ``--workers`` ingest processes run at
   once, each on its share of the folders.
3. Cold queries: ``analyzer query --json`` as fresh processes without a server, per mode,
   ``--cold`` distinct SciFact claims each (wall time of the process).
4. Through a running ``analyzer serve``: p50/p95 of the ``seconds`` that ``query --json``
   reports, per mode, over ``--queries`` distinct claims; ``similar``, ``duplicates``,
   ``topics`` and ``keywords`` as whole commands (twice: the first may build a cache);
   the first ``show`` after one file changed and was ingested again; the server's
   resident memory (now and at its peak) and what ``serve --status`` says it keeps.
5. The floors on the same data: FTS5 alone (``MATCH ... ORDER BY rank LIMIT 10`` with
   sqlite3, no join; SQLite only) and one numpy product of a matrix of as many rows.

``--growth CHUNKS``: does ingest slow down as the database grows? The first size's data
directory is copied twice: one copy stays as it is, the other is grown to CHUNKS chunks by
copying its stored rows in SQL (the full-text triggers fire as on any insert). Then the
same folder of new documents (another seed) is ingested into fresh copies of each, the two
alternating ``--runs`` times: chunks/s and peak RSS at each size.

Every server the run starts is stopped when it ends, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modules.semantic_core.index.fulltext_sqlite import match_expression  # noqa: E402
from modules.semantic_core.search.metrics import percentile  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
COLLECTION = "scale"
SEED = 22
WORDS_PER_DOCUMENT = 390
FILES_PER_FOLDER = 1000
MODES = ("keyword", "semantic", "hybrid")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


# --- the corpus -----------------------------------------------------------------------


def abstracts() -> list[tuple[str, list[str]]]:
    """SciFact's abstracts as (title, sentences)."""
    found = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            sentences = [s for s in _SENTENCE.split(record["text"]) if s.strip()]
            if sentences:
                found.append((record["title"].strip(), sentences))
    return found


def document(rng: random.Random, pool: list[tuple[str, list[str]]]) -> str:
    """Sentences of three abstracts, interleaved, cut at about WORDS_PER_DOCUMENT words."""
    chosen = rng.sample(pool, 3)
    queues = [list(sentences) for _, sentences in chosen]
    body, words = [], 0
    while words < WORDS_PER_DOCUMENT and any(queues):
        queue = rng.choice([q for q in queues if q])
        sentence = queue.pop(0)
        body.append(sentence)
        words += len(sentence.split())
    paragraphs = [" ".join(body[i : i + 4]) for i in range(0, len(body), 4)]
    return chosen[0][0] + "\n\n" + "\n\n".join(paragraphs) + "\n"


def write_corpus(folder: Path, count: int, seed: int = SEED) -> Path:
    """N documents under ``folder`` (made once; a marker file says it is complete)."""
    marker = folder / ".complete"
    if marker.exists():
        return folder
    pool, rng = abstracts(), random.Random(seed)
    for index in range(count):
        target = folder / f"d{index // FILES_PER_FOLDER:03d}" / f"doc-{index:06d}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(document(rng, pool), encoding="utf-8")
    marker.write_text(str(count))
    return folder


def claims(count: int, skip: int) -> list[str]:
    """SciFact claims in a fixed order; every part of the run takes its own."""
    texts = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").open()]
    random.Random(7).shuffle(texts)
    return texts[skip : skip + count]


# --- processes ----------------------------------------------------------------------------


def analyzer_command() -> list[str]:
    script = Path(sys.executable).with_name("analyzer")
    return [str(script)] if script.exists() else [sys.executable, "-m", "analyzer"]


class Runner:
    """Runs ``analyzer`` against one data directory (and databases, on PostgreSQL)."""

    def __init__(self, data: Path, environment: dict[str, str]) -> None:
        self.data = data
        self.environment = {**os.environ, **environment}

    def start(self, args: list[str], server: bool = False) -> subprocess.Popen[str]:
        environment = {**self.environment, "ANALYZER_SERVER": "on" if server else "off"}
        return subprocess.Popen(
            [*analyzer_command(), "--data-dir", str(self.data), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )

    def run(self, args: list[str], server: bool = False) -> tuple[float, str]:
        """(seconds, stdout) of one command; a failure ends the run."""
        started = time.perf_counter()
        process = self.start(args, server)
        out, err = process.communicate()
        elapsed = time.perf_counter() - started
        if process.returncode != 0:
            raise SystemExit(f"analyzer {' '.join(args[:3])} failed: {err.strip()[-400:]}")
        return elapsed, out


def peak_rss_of(args: list[str], runner: Runner) -> tuple[float, str, int]:
    """(seconds, stdout, peak RSS in KiB) of one command without a server: it runs as the
    only child of a small Python process, whose children's rusage is then its alone."""
    probe = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "t = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps({'seconds': t, 'rss': rss, 'code': done.returncode,"
        " 'out': done.stdout, 'err': done.stderr[-400:]}))\n"
    )
    command = [*analyzer_command(), "--data-dir", str(runner.data), *args]
    environment = {**runner.environment, "ANALYZER_SERVER": "off"}
    done = subprocess.run(
        [sys.executable, "-c", probe, *command], capture_output=True, text=True, env=environment
    )
    figures = json.loads(done.stdout)
    if figures["code"] != 0:
        raise SystemExit(f"analyzer {' '.join(args[:3])} failed: {figures['err'].strip()}")
    return figures["seconds"], figures["out"], figures["rss"]


@contextlib.contextmanager
def server(runner: Runner) -> Iterator[None]:
    runner.run(["serve", "--idle-timeout", "2h"])
    try:
        yield
    finally:
        subprocess.run(
            [*analyzer_command(), "--data-dir", str(runner.data), "serve", "--stop"],
            env={**runner.environment, "ANALYZER_SERVER": "off"},
            capture_output=True,
            check=False,
        )


def server_memory(data: Path) -> tuple[float, float]:
    """(resident, peak resident) MiB of the running server."""
    record = json.loads((data / "server.lock").read_text())
    found = {}
    for line in Path(f"/proc/{record['pid']}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found.get("VmRSS", float("nan")), found.get("VmHWM", float("nan"))


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- the measurements ---------------------------------------------------------------------


def ingest(runner: Runner, corpus: Path, workers: int) -> dict[str, float]:
    """First ingest (one process, or ``workers`` at once on shares of the folders)."""
    folders = sorted(p for p in corpus.iterdir() if p.is_dir())
    if workers <= 1:
        seconds, out, rss = peak_rss_of(["ingest", str(corpus), "-c", COLLECTION, "--json"], runner)
        chunks = json.loads(out)["chunks"]
        return {"seconds": seconds, "chunks": chunks, "rss_mib": rss / 1024}
    shares = [folders[i::workers] for i in range(workers)]
    started = time.perf_counter()
    processes = [
        runner.start(["ingest", *map(str, share), "-c", COLLECTION, "--json"]) for share in shares
    ]
    outputs = [p.communicate() for p in processes]
    seconds = time.perf_counter() - started
    for process, (_, err) in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise SystemExit(f"a parallel ingest failed: {err.strip()[-400:]}")
    chunks = sum(json.loads(out)["chunks"] for out, _ in outputs)
    return {"seconds": seconds, "chunks": chunks, "rss_mib": float("nan")}


def query_latencies(runner: Runner, count: int, server: bool) -> dict[str, list[float]]:
    """Per mode, ``count`` distinct claims: without a server, the wall time of each fresh
    process; through the server, the ``seconds`` that ``query --json`` reports."""
    found: dict[str, list[float]] = {mode: [] for mode in MODES}
    texts = claims(count * len(MODES), skip=200 if server else 0)
    for index in range(count):
        for offset, mode in enumerate(MODES):
            text = texts[index * len(MODES) + offset]
            args = ["query", text, "-c", COLLECTION, "--mode", mode, "--json"]
            seconds, out = runner.run(args, server=server)
            found[mode].append(json.loads(out)["seconds"] if server else seconds)
    return found


def analysis(runner: Runner, corpus: Path) -> dict[str, list[float]]:
    """Each analysis command twice through the server (the first may build a cache)."""
    some = sorted((corpus / "d000").iterdir())
    commands = {
        "similar": ["similar", str(some[1]), "-c", COLLECTION],
        "duplicates": ["duplicates", "-c", COLLECTION],
        "topics": ["topics", "-c", COLLECTION],
        "keywords": ["keywords", "-c", COLLECTION],
    }
    return {
        name: [runner.run(args, server=True)[0] for _ in range(2)]
        for name, args in commands.items()
    }


def show_after_change(runner: Runner, corpus: Path) -> float:
    """The first ``show`` of a document after another one changed and was ingested."""
    some = sorted((corpus / "d000").iterdir())
    changed, shown = some[0], some[2]
    original = changed.read_text(encoding="utf-8")
    try:
        changed.write_text(original + f"\nA line added at {time.time()}.\n", encoding="utf-8")
        runner.run(["ingest", str(changed), "-c", COLLECTION], server=True)
        return runner.run(["show", str(shown), "-c", COLLECTION], server=True)[0]
    finally:
        changed.write_text(original, encoding="utf-8")
        runner.run(["ingest", str(changed), "-c", COLLECTION], server=True)


def fts_floor(data: Path, count: int) -> list[float]:
    """FTS5 alone: the index's best 10 rows for each claim, no join, no filter."""
    connection = sqlite3.connect(data / "semantic_core.db")
    try:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'chunks_fts%'"
                " AND sql LIKE '%porter%'"
            )
        ]
        table = names[-1]
        times = []
        for text in claims(count, skip=200):
            expression = match_expression(text)
            started = time.perf_counter()
            connection.execute(
                f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY rank LIMIT 10",
                (expression,),
            ).fetchall()
            times.append(time.perf_counter() - started)
        return times
    finally:
        connection.close()


def numpy_floor(rows: int, count: int) -> list[float]:
    import numpy as np

    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((rows, 256), dtype=np.float32)
    times = []
    for _ in range(count):
        query = rng.standard_normal(256, dtype=np.float32)
        started = time.perf_counter()
        np.argpartition(-(matrix @ query), 10)[:10]
        times.append(time.perf_counter() - started)
    return times


# --- one size ---------------------------------------------------------------------------


def measure(size: int, args: argparse.Namespace, postgres: Any) -> dict[str, object]:
    corpus = write_corpus(args.workdir / f"corpus-{size}", size)
    data = args.workdir / (f"pg-data-{size}" if postgres else f"data-{size}")
    environment: dict[str, str] = {}
    if postgres is not None:
        environment = {
            "ANALYZER_DB_FRAMEWORK_URL": postgres.create_database(f"scale_{size}_fw"),
            "ANALYZER_DB_SEMANTIC_CORE_URL": postgres.create_database(f"scale_{size}_sc"),
        }
    # Markers live beside the data directory: a file of its own inside it would be one
    # that analyzer did not make (and that its privacy check reports).
    marker = data.with_name(data.name + ".ingested")
    if args.fresh or postgres is not None:
        subprocess.run(["rm", "-rf", str(data), str(marker)], check=True)
    runner = Runner(data, environment)
    figures: dict[str, object] = {"documents": size}
    if not marker.exists():
        first = ingest(runner, corpus, args.workers if postgres is not None else 1)
        figures["ingest"] = first
        marker.write_text(json.dumps(first))
    else:
        figures["ingest"] = {**json.loads(marker.read_text()), "reused": True}
    if postgres is None:
        figures["db_mib"] = folder_size(data) / 2**20
    else:
        sizes = postgres.psql(
            f"SELECT pg_database_size('scale_{size}_sc') + pg_database_size('scale_{size}_fw')"
        )
        figures["db_mib"] = int(sizes) / 2**20
    figures["reingest"] = runner.run(["ingest", str(corpus), "-c", COLLECTION])[0]
    figures["cold"] = query_latencies(runner, args.cold, server=False)
    with server(runner):
        runner.run(["query", "warm up", "-c", COLLECTION], server=True)
        figures["warm"] = query_latencies(runner, args.queries, server=True)
        if not args.skip_analysis:
            figures["analysis"] = analysis(runner, corpus)
            figures["show_after_change"] = show_after_change(runner, corpus)
        figures["server_mib"] = server_memory(data)
        status = runner.run(["serve", "--status", "--json"], server=True)[1]
        figures["status"] = json.loads(status)
    if postgres is None:
        figures["fts_floor"] = fts_floor(data, args.queries)
    chunks = int(figures["ingest"]["chunks"])
    figures["numpy_floor"] = numpy_floor(chunks, args.queries)
    return figures


# --- growth -------------------------------------------------------------------------------

_DOCUMENT_COLUMNS = (
    "collection_id, title, format, content_hash, size_bytes, mtime_ns, char_count, metadata, "
    "embedding, sketch, created_at, updated_at"
)
_CHUNK_COLUMNS = (
    "ordinal, text, heading, char_start, char_end, line_start, line_end, token_count, "
    "embedding, source_line, page, line_map"
)


def grow(database: Path, target: int) -> int:
    """Copies the stored documents and their chunks until ``target`` chunks are stored."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        count = connection.execute("SELECT count(*) FROM chunks").fetchone()[0]
        while count < target:
            last = connection.execute("SELECT max(id) FROM documents").fetchone()[0]
            connection.execute("BEGIN")
            connection.execute(
                f"INSERT INTO documents (id, uid, path, {_DOCUMENT_COLUMNS}) "
                f"SELECT id + :last, uid || '~' || :last, path || '~' || :last, "
                f"{_DOCUMENT_COLUMNS} FROM documents WHERE id <= :last",
                {"last": last},
            )
            connection.execute(
                f"INSERT INTO chunks (document_id, {_CHUNK_COLUMNS}) "
                f"SELECT document_id + :last, {_CHUNK_COLUMNS} FROM chunks "
                "WHERE document_id <= :last ORDER BY id LIMIT :wanted",
                {"last": last, "wanted": target - count},
            )
            connection.execute("COMMIT")
            count = connection.execute("SELECT count(*) FROM chunks").fetchone()[0]
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count
    finally:
        connection.close()


def growth(args: argparse.Namespace) -> None:
    size = args.documents[0]
    corpus = write_corpus(args.workdir / f"corpus-{size}", size)
    new = write_corpus(args.workdir / f"corpus-new-{size}", size, seed=SEED + 1)
    base = args.workdir / f"growth-base-{size}"
    base_marker = base.with_name(base.name + ".ingested")
    if not base_marker.exists():
        subprocess.run(["rm", "-rf", str(base)], check=True)
        ingest(Runner(base, {}), corpus, 1)
        base_marker.write_text("")
    grown = args.workdir / f"growth-{args.growth}"
    grown_marker = grown.with_name(grown.name + ".grown")
    if not grown_marker.exists():
        subprocess.run(["rm", "-rf", str(grown)], check=True)
        subprocess.run(["cp", "-r", str(base), str(grown)], check=True)
        started = time.perf_counter()
        chunks = grow(grown / "semantic_core.db", args.growth)
        print(f"grown to {chunks:,} chunks in {time.perf_counter() - started:.0f} s")
        grown_marker.write_text(str(chunks))
    rows: dict[str, list[dict[str, float]]] = {"small": [], "large": []}
    for _ in range(args.runs):
        for label, source in (("small", base), ("large", grown)):
            target = args.workdir / "growth-run"
            subprocess.run(["rm", "-rf", str(target)], check=True)
            subprocess.run(["cp", "-r", str(source), str(target)], check=True)
            stored = sqlite3.connect(target / "semantic_core.db")
            before = stored.execute("SELECT count(*) FROM chunks").fetchone()[0]
            stored.close()
            figures = ingest(Runner(target, {}), new, 1)
            rows[label].append({**figures, "before": before})
            print(
                f"{label}: {before:,} chunks stored, {figures['chunks']:,} new in "
                f"{figures['seconds']:.1f} s, {figures['chunks'] / figures['seconds']:.0f} "
                f"chunks/s, peak RSS {figures['rss_mib']:.0f} MiB",
                flush=True,
            )
    subprocess.run(["rm", "-rf", str(args.workdir / "growth-run")], check=True)
    rates = {k: [r["chunks"] / r["seconds"] for r in v] for k, v in rows.items()}
    ratio = statistics.median(rates["large"]) / statistics.median(rates["small"])
    print(
        f"\ningest throughput into {rows['large'][0]['before']:,} chunks / into "
        f"{rows['small'][0]['before']:,} chunks: {ratio:.2f}"
    )


# --- the report ---------------------------------------------------------------------------


def ms(values: list[float]) -> str:
    return f"{percentile(values, 50) * 1000:.0f} / {percentile(values, 95) * 1000:.0f}"


def report(results: list[dict[str, object]], backend: str) -> None:
    print(f"\n## {backend}\n")
    print(
        "| documents / chunks | first ingest | chunks/s | ingest RSS | DB | re-ingest "
        "| cold keyword / semantic / hybrid p50 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        first = r["ingest"]
        rate = first["chunks"] / first["seconds"]
        cold = r["cold"]
        print(
            f"| {r['documents']:,} / {int(first['chunks']):,} | {first['seconds']:.0f} s "
            f"| {rate:.0f} | {first['rss_mib']:.0f} MiB | {r['db_mib']:.0f} MiB "
            f"| {r['reingest']:.1f} s | "
            + " / ".join(f"{statistics.median(cold[m]):.2f} s" for m in MODES)
            + " |"
        )
    print(
        "\n| documents | warm keyword p50/p95 | semantic | hybrid | FTS5 floor | numpy floor "
        "| server RSS / peak |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        warm = r["warm"]
        rss, peak = r["server_mib"]
        fts = ms(r["fts_floor"]) + " ms" if "fts_floor" in r else "n/a"
        print(
            f"| {r['documents']:,} | "
            + " | ".join(ms(warm[m]) + " ms" for m in MODES)
            + f" | {fts} | {ms(r['numpy_floor'])} ms | {rss:.0f} / {peak:.0f} MiB |"
        )
    if any("analysis" in r for r in results):
        print(
            "\n| documents | similar | duplicates | topics | keywords (first / again) "
            "| first show after a change |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for r in results:
            if "analysis" not in r:
                continue
            a = r["analysis"]
            cells = " | ".join(f"{a[k][0]:.1f} / {a[k][1]:.1f} s" for k in a)
            print(f"| {r['documents']:,} | {cells} | {r['show_after_change']:.2f} s |")
    for r in results:
        print(f"\n`serve --status` at {r['documents']:,} documents: {json.dumps(r['status'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/analyzer-scale-n"))
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--cold", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--fresh", action="store_true", help="ingest again even if kept")
    parser.add_argument("--skip-analysis", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--growth", type=int, help="ingest into a database grown to this")
    parser.add_argument("--runs", type=int, default=2, help="with --growth")
    args = parser.parse_args()
    if not (SCIFACT / "corpus.jsonl").is_file():
        raise SystemExit(f"no SciFact corpus at {SCIFACT}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.growth:
        growth(args)
        return
    results = []
    with contextlib.ExitStack() as stack:
        postgres = None
        if args.postgres:
            sys.path.insert(0, str(ROOT / "tests"))
            from postgres_server import running_server

            postgres = stack.enter_context(running_server())
        for size in args.documents:
            results.append(measure(size, args, postgres))
            print(f"measured {size:,} documents", file=sys.stderr, flush=True)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1, default=str))
    report(results, "PostgreSQL + pgvector" if args.postgres else "SQLite (embedded default)")


if __name__ == "__main__":
    main()
