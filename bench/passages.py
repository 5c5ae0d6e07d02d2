"""Long-document benchmark: does a hit point at the section that answers?

    python bench/passages.py [--eval ../shared/eval] [--manuals 10] [--sections 240] \
        [CONFIG ...]

Judged collections are rebuilt as long Markdown "manuals": each abstract becomes a
``## Title`` section, ``--sections`` of them per file, so a question's answer is one
section among hundreds in a file. The sections hold the relevant abstracts of the
collection's judged queries (in the order of its queries file, as many as fit) and
other abstracts picked at random (``--seed``). Each file is ingested through the
ingest service, then every query runs through the search service once per
configuration, all in one process (by default the re-ranker's second look off, then
the defaults; a CONFIG is comma-separated FusionSettings fields, as for
``tune_fusion.py``), and the top hit is scored:

- hit@1: the top file holds a relevant section;
- passage@1: the top hit's ``path:line`` falls inside a relevant section;
- p50: the warm query latency in milliseconds (re-rank cache emptied before each query);
- won/lost: queries whose passage@1 this configuration gets right and the first one
  wrong, and the other way round.

SciFact's train split is what the settings were tuned on; Cranfield is held out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from judged import DEFAULT_EVAL, available
from tune_fusion import parse

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.semantic_core.ingest.service import IngestOptions
from modules.semantic_core.module import semantic_core
from modules.semantic_core.search.evaluation import load_qrels, load_queries
from modules.semantic_core.search.fusion import FusionSettings
from modules.semantic_core.search.service import SearchOptions, SearchService

DEFAULT_CONFIGS = ["second_look_documents=0", ""]


@dataclass(frozen=True)
class Section:
    path: Path
    first: int  # the line of its heading
    last: int  # its last line


def abstracts(corpus: Path) -> dict[str, tuple[str, str]]:
    out = {}
    with corpus.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            title = record.get("title", "").strip().rstrip(" .") or f"Abstract {record['_id']}"
            out[record["_id"]] = (title, " ".join(record["text"].split()))
    return out


def pick(
    texts: dict[str, tuple[str, str]],
    queries: list[tuple[str, str]],
    qrels: dict[str, dict[str, int]],
    room: int,
    rng: random.Random,
) -> tuple[list[tuple[str, str]], list[str]]:
    """Queries whose relevant abstracts all fit in ``room``, and the abstracts to write."""
    chosen, kept = [], set()
    for query_id, text in queries:
        relevant = {d for d, grade in qrels[query_id].items() if grade > 0 and d in texts}
        if relevant and len(kept | relevant) <= room:
            chosen.append((query_id, text))
            kept |= relevant
    others = sorted(set(texts) - kept)
    kept_list = sorted(kept) + rng.sample(others, min(room - len(kept), len(others)))
    rng.shuffle(kept_list)
    return chosen, kept_list


def write_manuals(
    folder: Path, texts: dict[str, tuple[str, str]], ids: list[str], sections: int
) -> dict[str, Section]:
    """Markdown files of ``sections`` abstracts each; where each abstract landed."""
    folder.mkdir(parents=True)
    where: dict[str, Section] = {}
    for number, start in enumerate(range(0, len(ids), sections), start=1):
        path = folder / f"manual-{number:02d}.md"
        lines = [f"# Manual {number}", ""]
        for doc_id in ids[start : start + sections]:
            title, body = texts[doc_id]
            first = len(lines) + 1
            lines += [f"## {title}", "", body, ""]
            where[doc_id] = Section(path, first, len(lines))
        path.write_text("\n".join(lines), encoding="utf-8")
    return where


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def score(
    search: SearchService,
    collection: str,
    queries: list[tuple[str, str]],
    relevant: dict[str, list[Section]],
    fusion: FusionSettings,
) -> tuple[dict[str, float], set[str]]:
    """The figures, and the queries whose passage@1 is right."""
    options = SearchOptions(collection=collection, top_k=1)
    hits = 0
    right: set[str] = set()
    times = []
    for query_id, text in queries:
        search._rerank_cache.clear()  # every query pays its re-rank, as a new question would
        started = time.perf_counter()
        result = await search.search(text, options, fusion)
        times.append((time.perf_counter() - started) * 1000)
        if not result.hits:
            continue
        top = result.hits[0]
        sections = [s for s in relevant[query_id] if str(s.path) == top.document.path]
        hits += bool(sections)
        if any(s.first <= top.line <= s.last for s in sections):
            right.add(query_id)
    figures = {
        "hit@1": hits / len(queries),
        "passage@1": len(right) / len(queries),
        "passage|hit": len(right) / hits if hits else 0.0,
        "p50 ms": percentile(times, 50),
    }
    return figures, right


async def run_dataset(
    root: Path, name: str, beir: Path, qrels_name: str, args: argparse.Namespace
) -> None:
    texts = abstracts(beir / "corpus.jsonl")
    qrels = load_qrels(beir / "qrels" / qrels_name)
    judged = [(q, t) for q, t in load_queries(beir / "queries.jsonl") if q in qrels]
    rng = random.Random(args.seed)
    room = args.manuals * args.sections
    queries, ids = pick(texts, judged, qrels, room, rng)
    where = write_manuals(root / "docs" / name, texts, ids, args.sections)
    relevant = {
        q: [where[d] for d, grade in qrels[q].items() if grade > 0 and d in where]
        for q, _ in queries
    }
    async with AppContext(Settings(data_dir=root / "data")) as app:
        service = semantic_core(app)
        started = time.perf_counter()
        report = await service.ingest.ingest_paths(
            [root / "docs" / name], IngestOptions(collection=name)
        )
        print(
            f"{name}: {len(queries)} queries ({qrels_name}), {len(ids)} sections in "
            f"{args.manuals} files, {report.chunks} chunks, ingested in "
            f"{time.perf_counter() - started:.0f} s"
        )
        await service.search.search(queries[0][1], SearchOptions(collection=name))  # warm up
        first: set[str] | None = None
        for config in args.configs or DEFAULT_CONFIGS:
            figures, right = await score(service.search, name, queries, relevant, parse(config))
            first = right if first is None else first
            print(
                f"  {config or 'defaults':32s} "
                + "  ".join(f"{k} {v:.3f}" for k, v in figures.items())
                + f"  won/lost {len(right - first)}/{len(first - right)}"
            )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="analyzer-passages-") as tmp:
        for name, beir, qrels_name in available(args.eval):
            await run_dataset(Path(tmp), name, beir, qrels_name, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--manuals", type=int, default=10)
    parser.add_argument("--sections", type=int, default=240)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("configs", nargs="*", metavar="CONFIG")
    asyncio.run(main(parser.parse_args()))
