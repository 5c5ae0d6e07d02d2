"""Real-documents benchmark: does a hit point at the passage that answers?

    python bench/realdocs_corpus.py /tmp/realdocs
    python bench/realdocs.py --corpus /tmp/realdocs [--questions FILE] \
        [--modes hybrid,keyword,semantic] [--misses] [--json] [CONFIG ...]

The corpus is Debian's documentation as it ships (HTML manuals split per page and on one
page, PDFs, reStructuredText, man pages rendered to text, READMEs), built by
``realdocs_corpus.py``. The questions (``realdocs_questions.jsonl``) are worded as a person
asks them, each with the file that answers and the lines of that file on disk (or the PDF
page), and optionally ``also``: other places that answer as well (the same option in
another format).

The corpus is ingested once through the ingest service into a temporary data directory,
then every question runs through the search service (top 10) once per mode, and in
hybrid mode once per configuration (a CONFIG is comma-separated FusionSettings fields, as
for ``tune_fusion.py``; none: the defaults):

- doc@1, doc@3: an answering file is the first hit, or among the first three;
- loc@1, loc@3: such a hit's ``path:line`` is within 10 lines of the answering lines (the
  same page for a PDF);
- MRR: the mean reciprocal rank of the first answering file in the top 10;
- p50: the warm query latency in milliseconds (re-rank cache emptied before each query).

``--misses`` lists each question whose first hit is not at the answer, with where it
pointed and why: the right file at the wrong place, another file that answers (an ``also``
copy) at the wrong place, another file of the same manual, or another document altogether.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tune_fusion import parse

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.semantic_core.ingest.service import IngestOptions
from modules.semantic_core.module import semantic_core
from modules.semantic_core.search.fusion import FusionSettings
from modules.semantic_core.search.service import Hit, SearchOptions, SearchService

COLLECTION = "realdocs"
DEFAULT_QUESTIONS = Path(__file__).with_name("realdocs_questions.jsonl")
SLACK = 10  # lines either side of the answer a hit may start at
TOP_K = 10


@dataclass(frozen=True)
class Place:
    path: str  # relative to the corpus root
    first: int | None = None  # lines of the file on disk; None for a PDF page
    last: int | None = None
    page: int | None = None

    @classmethod
    def parse(cls, record: dict) -> Place:
        lines = record.get("lines") or [None, None]
        return cls(record["path"], lines[0], lines[1], record.get("page"))

    def holds(self, path: str, line: int | None, page: int | None) -> bool:
        if path != self.path:
            return False
        if self.page is not None:
            return page == self.page
        return line is not None and self.first - SLACK <= line <= self.last + SLACK

    def __str__(self) -> str:
        if self.page is not None:
            return f"{self.path}#page={self.page}"
        return f"{self.path}:{self.first}-{self.last}"


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answers: tuple[Place, ...]  # the first one is the main answer

    @property
    def paths(self) -> set[str]:
        return {place.path for place in self.answers}


@dataclass
class Outcome:
    question: Question
    got: list[tuple[str, int | None, int | None]]  # (path, line, page) of each hit
    ms: float

    def document_rank(self) -> int | None:
        ranks = [r for r, (path, _, _) in enumerate(self.got, 1) if path in self.question.paths]
        return ranks[0] if ranks else None

    def located(self, depth: int) -> bool:
        return any(place.holds(*hit) for hit in self.got[:depth] for place in self.question.answers)

    def kind(self) -> str:
        if not self.got:
            return "no hit"
        top = self.got[0][0]
        if top == self.question.answers[0].path:
            return "right document, wrong place"
        if top in self.question.paths:
            return "another answering copy, wrong place"
        if any(top.split("/")[0] == p.split("/")[0] for p in self.question.paths):
            return "another file of the same manual"
        return "wrong document"


def where(hit: Hit, root: str) -> tuple[str, int | None, int | None]:
    """(path relative to the corpus, line of the file, PDF page) of a hit: the one place
    that reads the hit's location fields."""
    path = hit.document.path.removeprefix(root).lstrip("/")
    return path, hit.line, hit.page


def load_questions(path: Path) -> list[Question]:
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            places = [Place.parse(record)] + [Place.parse(a) for a in record.get("also", [])]
            questions.append(Question(record["id"], record["question"], tuple(places)))
    return questions


def check_answers(corpus: Path, questions: list[Question]) -> None:
    """Fail early on an answer that names a file or lines the corpus does not have."""
    for question in questions:
        for place in question.answers:
            file = corpus / place.path
            if not file.is_file():
                raise SystemExit(f"{question.id}: {place.path} is not in {corpus}")
            if place.page is None:
                count = file.read_bytes().count(b"\n") + 1
                if not 1 <= place.first <= place.last <= count:
                    raise SystemExit(f"{question.id}: {place} outside 1-{count}")


async def run_questions(
    search: SearchService,
    questions: list[Question],
    mode: str,
    fusion: FusionSettings,
    root: str,
) -> list[Outcome]:
    options = SearchOptions(collection=COLLECTION, top_k=TOP_K, mode=mode)
    outcomes = []
    for question in questions:
        search._rerank_cache.clear()  # every query pays its re-rank, as a new question would
        started = time.perf_counter()
        result = await search.search(question.text, options, fusion)
        ms = (time.perf_counter() - started) * 1000
        outcomes.append(Outcome(question, [where(h, root) for h in result.hits], ms))
    return outcomes


def figures(outcomes: list[Outcome]) -> dict[str, float]:
    n = len(outcomes)
    ranks = [o.document_rank() for o in outcomes]
    return {
        "doc@1": sum(r == 1 for r in ranks) / n,
        "doc@3": sum(r is not None and r <= 3 for r in ranks) / n,
        "loc@1": sum(o.located(1) for o in outcomes) / n,
        "loc@3": sum(o.located(3) for o in outcomes) / n,
        "MRR": sum(1 / r for r in ranks if r) / n,
        "p50 ms": statistics.median(o.ms for o in outcomes),
    }


def print_misses(outcomes: list[Outcome]) -> None:
    misses = [o for o in outcomes if not o.located(1)]
    for kind in sorted({o.kind() for o in misses}):
        print(f"    {kind}:")
        for o in (o for o in misses if o.kind() == kind):
            path, line, page = o.got[0] if o.got else ("-", None, None)
            got = f"{path}#page={page}" if page else f"{path}:{line}"
            rank = o.document_rank() or "-"
            want = o.question.answers[0]
            print(f"      {o.question.id}  want {want}  got {got}  doc rank {rank}")


def runs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(mode, CONFIG) pairs: each CONFIG in hybrid mode, the other modes once."""
    out = []
    for mode in args.modes.split(","):
        configs = (args.configs or [""]) if mode == "hybrid" else [""]
        out += [(mode, config) for config in configs]
    return out


async def main(args: argparse.Namespace) -> None:
    corpus = args.corpus.resolve()
    questions = load_questions(args.questions)
    check_answers(corpus, questions)
    report_json: dict = {"questions": len(questions), "runs": []}
    with tempfile.TemporaryDirectory(prefix="analyzer-realdocs-") as tmp:
        data_dir = args.data_dir or Path(tmp)  # a kept one is ingested again incrementally
        async with AppContext(Settings(data_dir=data_dir)) as app:
            service = semantic_core(app)
            started = time.perf_counter()
            report = await service.ingest.ingest_paths(
                [corpus], IngestOptions(collection=COLLECTION)
            )
            seconds = time.perf_counter() - started
            files = report.new + report.updated + report.unchanged
            print(
                f"{corpus}: {files} files ingested ({report.skipped} skipped, {report.failed} "
                f"failed), {report.chunks} chunks in {seconds:.1f} s; {len(questions)} questions"
            )
            for problem in report.problems:
                print(f"  {problem.status}: {problem.path}: {problem.reason}")
            report_json |= {"files": files, "chunks": report.chunks, "ingest_s": seconds}
            await service.search.search(questions[0].text, SearchOptions(collection=COLLECTION))
            for mode, config in runs(args):
                outcomes = await run_questions(
                    service.search, questions, mode, parse(config), str(corpus)
                )
                scores = figures(outcomes)
                label = f"{mode} {config}".strip()
                print(f"  {label:40s} " + "  ".join(f"{k} {v:.3f}" for k, v in scores.items()))
                if args.misses:
                    print_misses(outcomes)
                report_json["runs"].append(
                    {
                        "mode": mode,
                        "config": config,
                        **scores,
                        "top": {o.question.id: o.got[:3] for o in outcomes},
                    }  # fmt: skip
                )
    if args.json:
        args.json.write_text(json.dumps(report_json, indent=1), encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--modes", default="hybrid,keyword,semantic")
    parser.add_argument("--misses", action="store_true", help="list the questions missed")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    parser.add_argument(
        "--data-dir", type=Path, help="keep the index here between runs (default: a temporary one)"
    )
    parser.add_argument("configs", nargs="*", metavar="CONFIG")
    asyncio.run(main(parser.parse_args()))
