"""EvalService: retrieval quality on a BEIR-layout test collection.

The corpus goes into a scratch collection through the same ingest service as any
document (records keep their BEIR ``_id``), every judged query runs through the
same search service as ``analyzer query``, and the rankings are scored.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.errors import UsageError
from analyzer.paths import absolute
from modules.semantic_core.ingest.service import IngestOptions, IngestService, Record
from modules.semantic_core.search.fusion import DEFAULT_FUSION, FusionSettings
from modules.semantic_core.search.metrics import (
    Qrels,
    mean,
    mrr_at_k,
    ndcg_at_k,
    percentile,
    recall_at_k,
)
from modules.semantic_core.search.modes import Mode, check_mode
from modules.semantic_core.search.service import SearchOptions, SearchService

RANK_DEPTH = 100


@dataclass(frozen=True)
class ModeScores:
    mode: str
    queries: int
    ndcg_at_10: float
    recall_at_100: float
    mrr_at_10: float
    latency_p50_ms: float
    latency_p95_ms: float


@dataclass
class EvalReport:
    dataset: str
    collection: str
    documents: int
    qrels: str
    modes: list[ModeScores] = field(default_factory=list)
    ingest_seconds: float = 0.0


class EvalService:
    def __init__(self, ingest: IngestService, search: SearchService) -> None:
        self._ingest = ingest
        self._search = search

    async def evaluate(
        self,
        beir_dir: Path,
        modes: Sequence[str],
        qrels_file: Path | None = None,
        collection: str | None = None,
        fusion: FusionSettings = DEFAULT_FUSION,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> EvalReport:
        checked = [check_mode(mode) for mode in modes]
        beir_dir = absolute(beir_dir)
        qrels_file = absolute(qrels_file) if qrels_file is not None else None
        corpus, queries_file, qrels_path = _layout(beir_dir, qrels_file)
        qrels = load_qrels(qrels_path)
        queries = [(qid, text) for qid, text in load_queries(queries_file) if qid in qrels]
        if not queries:
            raise UsageError(f"no query in {queries_file} has a judgement in {qrels_path}")
        name = collection or f"eval-{beir_dir.resolve().name}"
        started = time.perf_counter()
        ingested = await self._ingest.ingest_records(
            load_corpus(corpus), IngestOptions(collection=name)
        )
        report = EvalReport(
            dataset=beir_dir.resolve().name,
            collection=name,
            documents=ingested.new + ingested.updated + ingested.unchanged,
            qrels=qrels_path.name,
            ingest_seconds=time.perf_counter() - started,
        )
        for mode in checked:
            report.modes.append(
                await self._score_mode(mode, name, queries, qrels, fusion, progress)
            )
        return report

    async def _score_mode(
        self,
        mode: Mode,
        collection: str,
        queries: list[tuple[str, str]],
        qrels: Qrels,
        fusion: FusionSettings,
        progress: Callable[[str, int, int], None] | None,
    ) -> ModeScores:
        # Judgements name documents one by one: a copy folded into another would count
        # as a miss, so every copy keeps its own rank here.
        options = SearchOptions(collection=collection, top_k=RANK_DEPTH, mode=mode, all_copies=True)
        ndcg, recall, mrr, latency = [], [], [], []
        for done, (query_id, text) in enumerate(queries, start=1):
            result = await self._search.search(text, options, fusion)
            ranking = [hit.document.uid for hit in result.hits]
            judged = qrels[query_id]
            ndcg.append(ndcg_at_k(ranking, judged, 10))
            recall.append(recall_at_k(ranking, judged, 100))
            mrr.append(mrr_at_k(ranking, judged, 10))
            latency.append(result.seconds * 1000)
            if progress is not None:
                progress(mode.value, done, len(queries))
        return ModeScores(
            mode=mode.value,
            queries=len(queries),
            ndcg_at_10=mean(ndcg),
            recall_at_100=mean(recall),
            mrr_at_10=mean(mrr),
            latency_p50_ms=percentile(latency, 50),
            latency_p95_ms=percentile(latency, 95),
        )


def _layout(beir_dir: Path, qrels_file: Path | None) -> tuple[Path, Path, Path]:
    corpus, queries = beir_dir / "corpus.jsonl", beir_dir / "queries.jsonl"
    for required in (corpus, queries):
        if not required.is_file():
            raise UsageError(
                f"{required} is missing; a BEIR directory holds corpus.jsonl, "
                "queries.jsonl and qrels/*.tsv"
            )
    if qrels_file is None:
        found = sorted((beir_dir / "qrels").glob("*.tsv"))
        preferred = [p for p in found if p.stem in ("test", "dev", "train")]
        if not found:
            raise UsageError(f"no qrels/*.tsv under {beir_dir}; pass --qrels FILE")
        qrels_file = (preferred or found)[0]
    if not qrels_file.is_file():
        raise UsageError(f"qrels file {qrels_file} does not exist")
    return corpus, queries, qrels_file


def load_corpus(path: Path) -> Iterator[Record]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                yield Record(
                    uid=str(row["_id"]), text=row.get("text") or "", title=row.get("title") or ""
                )
            except (json.JSONDecodeError, KeyError) as exc:
                raise UsageError(f"{path}:{number}: not a BEIR corpus line ({exc})") from None


def load_queries(path: Path) -> Iterator[tuple[str, str]]:
    """BEIR ``queries.jsonl`` lines (``_id``, ``text``), or one query per line (id: line no.)."""
    with path.open(encoding="utf-8") as lines:
        yield from read_queries(lines, str(path))


def read_queries(lines: Iterable[str], source: str) -> Iterator[tuple[str, str]]:
    """``load_queries`` of lines already open (standard input); ``source`` names them."""
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("{"):
            try:
                row = json.loads(stripped)
                yield str(row["_id"]), str(row["text"])
                continue
            except (json.JSONDecodeError, KeyError) as exc:
                raise UsageError(f"{source}:{number}: not a BEIR query line ({exc})") from None
        yield str(number), stripped


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3 or row[0] == "query-id":
                continue
            try:
                qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
            except ValueError:
                raise UsageError(f"{path}: bad qrels row {row!r}") from None
    return qrels
