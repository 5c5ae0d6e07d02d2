"""Score benchmark: can a user threshold the score a hit shows?

    python bench/scores.py [--eval ../shared/eval] [--top-k 10]

Each judged collection is ingested as the ``eval`` command ingests it; then every
judged query runs in each mode and the score of each of its top hits is recorded,
labelled relevant (judged above 0) or not. For hybrid, two scores of the same hits
are compared side by side: the fused score that orders them (min-max scaled per
query, so the top hit is near 1 whatever it is) and the score the product shows and
``--min-score`` compares (the re-ranker's cosine). For each it prints the median
score of relevant and other hits, the share of queries whose top hit scores 0.99 or
more, and, for a few thresholds, the share of relevant and of other hits kept.
A score a user can threshold keeps most relevant hits and drops many others at the
same value on every query.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from judged import DEFAULT_EVAL, available

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.semantic_core.ingest.service import IngestOptions
from modules.semantic_core.module import semantic_core
from modules.semantic_core.search.evaluation import load_corpus, load_qrels, load_queries
from modules.semantic_core.search.service import Hit, SearchOptions

THRESHOLDS = {
    "hybrid": (0.3, 0.4, 0.5, 0.6),
    "hybrid (fused)": (0.3, 0.5, 0.7, 0.9),
    "semantic": (0.3, 0.4, 0.5, 0.6),
    "keyword": (5.0, 10.0, 15.0, 20.0),
}


def scores_of(label: str, hit: Hit) -> float:
    return hit.signals["fused"].score if label == "hybrid (fused)" else hit.score


def summary(label: str, rows: list[tuple[bool, bool, float]]) -> str:
    """``rows``: (top hit?, relevant?, score) of every hit of every query."""
    relevant = [s for _, r, s in rows if r]
    others = [s for _, r, s in rows if not r]
    tops = [s for top, _, s in rows if top]
    near_one = sum(s >= 0.99 for s in tops) / len(tops)
    kept = "  ".join(
        f">={t:g}: {sum(s >= t for s in relevant) / len(relevant):.0%}"
        f"/{sum(s >= t for s in others) / len(others):.0%}"
        for t in THRESHOLDS[label]
    )
    return (
        f"  {label:15s} median relevant {statistics.median(relevant):6.2f}  "
        f"others {statistics.median(others):6.2f}  top>=0.99 {near_one:4.0%}  "
        f"kept relevant/others {kept}"
    )


async def run_dataset(data: Path, name: str, beir: Path, qrels_name: str, top_k: int) -> None:
    qrels = load_qrels(beir / "qrels" / qrels_name)
    queries = [(q, t) for q, t in load_queries(beir / "queries.jsonl") if q in qrels]
    async with AppContext(Settings(data_dir=data)) as app:
        service = semantic_core(app)
        await service.ingest.ingest_records(
            load_corpus(beir / "corpus.jsonl"), IngestOptions(collection=name)
        )
        print(f"{name}: {len(queries)} queries ({qrels_name}), top {top_k} hits each")
        for mode in ("hybrid", "semantic", "keyword"):
            labels = ["hybrid", "hybrid (fused)"] if mode == "hybrid" else [mode]
            rows: dict[str, list[tuple[bool, bool, float]]] = {label: [] for label in labels}
            options = SearchOptions(collection=name, top_k=top_k, mode=mode)
            for query_id, text in queries:
                result = await service.search.search(text, options)
                judged = qrels[query_id]
                for hit in result.hits:
                    relevant = judged.get(hit.document.uid, 0) > 0
                    for label in labels:
                        rows[label].append((hit.rank == 1, relevant, scores_of(label, hit)))
            for label in labels:
                print(summary(label, rows[label]))


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="analyzer-scores-") as tmp:
        for name, beir, qrels_name in available(args.eval):
            await run_dataset(Path(tmp) / name, name, beir, qrels_name, args.top_k)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--top-k", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
