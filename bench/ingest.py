"""Ingest benchmark: the SciFact abstracts as files, first ingest versus unchanged re-ingest.

    python bench/ingest.py [--corpus ../shared/eval/scifact/corpus.jsonl] [--limit N]

Writes one text file per abstract (title on the first line) into a temporary
directory, then times whole CLI runs (`analyzer ingest DIR --json`) in fresh
processes: the first ingest, then an unchanged re-ingest. Prints documents/s,
chunks/s, MB/s, peak RSS of each run, the ratio between them, and the floor
every command pays (`analyzer db-status` on the same data dir).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[2] / "shared" / "eval" / "scifact" / "corpus.jsonl"
)


def write_corpus(corpus: Path, target: Path, limit: int | None) -> tuple[int, int]:
    count = size = 0
    with corpus.open(encoding="utf-8") as lines:
        for line in lines:
            if limit is not None and count >= limit:
                break
            record = json.loads(line)
            text = f"{record.get('title', '').strip()}\n\n{record.get('text', '').strip()}\n"
            path = target / f"{record['_id']}.txt"
            path.write_text(text, encoding="utf-8")
            size += path.stat().st_size
            count += 1
    return count, size


def timed_cli(args: list[str]) -> tuple[float, dict, int]:
    """Wall time, the --json report, and the child's peak RSS in KiB."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "analyzer", *args], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"analyzer failed ({done.returncode}): {done.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, json.loads(done.stdout), peak


def framework_floor(data_dir: Path) -> float:
    """Median wall time of `analyzer db-status` on the same data dir."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "analyzer", "--data-dir", str(data_dir), "db-status"],
            capture_output=True,
            check=True,
        )
        times.append(time.perf_counter() - started)
    return sorted(times)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    if not args.corpus.is_file():
        raise SystemExit(f"no corpus at {args.corpus}; pass --corpus")
    with tempfile.TemporaryDirectory(prefix="analyzer-bench-") as tmp:
        docs_dir, data_dir = Path(tmp) / "docs", Path(tmp) / "data"
        docs_dir.mkdir()
        count, size = write_corpus(args.corpus, docs_dir, args.limit)
        base = ["--data-dir", str(data_dir), "ingest", str(docs_dir), "--json"]
        first_s, first, first_rss = timed_cli(base)
        again_s, again, again_rss = timed_cli(base)
        floor_s = framework_floor(data_dir)
    mb = size / 1e6
    print(f"corpus: {count} files, {mb:.1f} MB, {first['chunks']} chunks, model {first['model']}")
    print(
        f"first ingest:     {first_s:6.2f} s  {count / first_s:7.0f} docs/s  "
        f"{first['chunks'] / first_s:7.0f} chunks/s  {mb / first_s:5.2f} MB/s  "
        f"peak RSS {first_rss / 1024:.0f} MiB"
    )
    print(
        f"unchanged again:  {again_s:6.2f} s  {count / again_s:7.0f} docs/s  "
        f"(unchanged {again['unchanged']}, new {again['new']})  "
        f"peak RSS {max(first_rss, again_rss) / 1024:.0f} MiB (max of both runs)"
    )
    print(
        f"re-ingest speed-up: {first_s / again_s:.1f}x whole CLI runs; "
        f"{first['seconds'] / again['seconds']:.1f}x for the ingest work alone "
        f"({first['seconds']:.2f} s vs {again['seconds']:.2f} s, process start excluded)"
    )
    print(
        f"framework floor:  {floor_s:6.2f} s  (`analyzer db-status`, median of 3: interpreter, "
        f"imports and database start-up that every command pays)"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
