"""Cold queries on a folder of real documents: this checkout against another, in one run.

    python bench/cold_queries.py --folder DIR --against CHECKOUT

Ingests DIR once with each checkout's code (``git worktree add /tmp/base REV`` makes
one), then runs everyday questions as whole CLI processes without a server (what a
person pays without ``analyzer serve``), alternating the two checkouts so that a busy
machine slows both alike. Prints the median per mode and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = [
    "undo the last git commit but keep the changes",
    "extract a tar archive into a directory",
    "ignore duplicate lines in the shell history",
    "find files modified in the last 7 days",
    "change the owner of a file",
    "run a job every day",
    "show disk usage of a folder",
]
MODES = ("hybrid", "keyword")


def analyzer(code: Path, data: Path, *args: str) -> float:
    """Seconds one ``analyzer`` process took, run with the code of checkout ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, "-m", "analyzer", "--no-server", "--data-dir", str(data), *args]
    started = time.perf_counter()
    # cwd: ``python -m`` puts the working directory first on the path.
    subprocess.run(command, cwd=code, env=env, capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--against", type=Path, required=True)
    args = parser.parse_args()
    codes = {"against": args.against.resolve(), "this": Path(__file__).resolve().parents[1]}
    with tempfile.TemporaryDirectory(prefix="analyzer-bench-") as tmp:
        data = {name: Path(tmp) / name for name in codes}
        for name, code in codes.items():
            analyzer(code, data[name], "ingest", str(args.folder), "--json")
        times: dict[str, dict[str, list[float]]] = {n: {m: [] for m in MODES} for n in codes}
        for question in QUESTIONS:
            for mode in MODES:
                for name, code in codes.items():
                    seconds = analyzer(code, data[name], "query", question, "-m", mode, "-j")
                    times[name][mode].append(seconds)
    for name in codes:
        medians = ", ".join(f"{m} {statistics.median(times[name][m]):.3f} s" for m in MODES)
        print(f"{name:<8} median of {len(QUESTIONS)} cold queries: {medians}")
    for mode in MODES:
        ratio = statistics.median(times["this"][mode]) / statistics.median(times["against"][mode])
        print(f"{mode}: this/against {ratio:.2f}")


if __name__ == "__main__":
    main()
