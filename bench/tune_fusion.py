"""Hybrid settings sweep on a BEIR collection's judged queries (tune on SciFact train only).

    python bench/tune_fusion.py ../shared/eval/scifact rerank_depth=20 \\
        rerank_depth=30,rerank_max_tokens=128 keyword_share=0.4

Each argument is one configuration: comma-separated FusionSettings fields. All run in
one process, so re-rank vectors computed for one configuration are reused by the next
one with the same passage length. Prints nDCG@10, Recall@100 and latency for each.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.semantic_core.module import semantic_core
from modules.semantic_core.search.fusion import FusionSettings


def parse(config: str) -> FusionSettings:
    types = {f.name: f.type for f in fields(FusionSettings)}
    values = {}
    for pair in filter(None, config.split(",")):
        name, value = pair.split("=")
        values[name] = float(value) if types[name] == "float" else int(value)
        if types[name] == "bool":
            values[name] = bool(values[name])
    return FusionSettings(**values)


async def main(beir: Path, configs: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="analyzer-tune-") as tmp:
        async with AppContext(Settings(data_dir=Path(tmp))) as app:
            evaluation = semantic_core(app).eval
            for config in configs or [""]:
                report = await evaluation.evaluate(beir, ["hybrid"], fusion=parse(config))
                scores = report.modes[0]
                print(
                    f"{config or 'defaults':45s} nDCG@10 {scores.ndcg_at_10:.4f}  "
                    f"Recall@100 {scores.recall_at_100:.4f}  p50 {scores.latency_p50_ms:.0f} ms",
                    flush=True,
                )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2:]))
