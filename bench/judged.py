"""The judged collections the benchmarks score, and the splits they use.

SciFact's train split is what the settings were tuned on; Cranfield is held out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
DATASETS = {"scifact": "train.tsv", "cranfield": "test.tsv"}


def available(eval_dir: Path) -> Iterator[tuple[str, Path, str]]:
    """(name, BEIR directory, qrels file name) of each collection found; the others are
    named as skipped."""
    for name, qrels_name in DATASETS.items():
        beir = eval_dir / name
        if (beir / "qrels" / qrels_name).is_file():
            yield name, beir, qrels_name
        else:
            print(f"{name}: {beir} not found, skipped")
