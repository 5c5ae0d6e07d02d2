"""What a hit's score means, what ``--min-score`` compares, and which passage of a long
document a hit shows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.semantic_core.ingest.service import IngestOptions
from modules.semantic_core.module import semantic_core
from modules.semantic_core.search.fusion import FusionSettings, grouped
from modules.semantic_core.search.service import SearchOptions, SearchResult
from tests.helpers import cli, cli_json

SAMPLE_DOCS = Path(__file__).resolve().parents[1] / "sample_docs"


def search(data: Path, *args: str) -> list[dict]:
    return cli_json("--data-dir", str(data), "query", *args, "--json")["results"]


def test_the_shown_hybrid_score_never_rises_down_the_list(sample_data_dir: Path) -> None:
    """Hybrid orders by the fused mix; each hit shows the re-ranker's cosine, lowered to the
    score above it when that is lower, so the column a person reads is the ranking."""
    results = search(sample_data_dir, "how to store bread", "--top-k", "40")
    assert len(results) >= 10
    fused = [r["signals"]["fused"]["rank"] for r in results]
    assert fused == sorted(fused)  # the order is the fused score's
    # Results past the re-rank depth have no cosine and show 0.
    cosines = [r["signals"].get("rerank", {"score": 0.0})["score"] for r in results]
    assert cosines != sorted(cosines, reverse=True)  # the cosines alone would rise somewhere
    lowest = float("inf")
    for result, cosine in zip(results, cosines, strict=True):
        lowest = min(lowest, cosine)
        assert result["score"] == pytest.approx(lowest)
    assert results[0]["score"] == pytest.approx(cosines[0])
    assert results[0]["score"] < 0.99  # a cosine, not a per-query maximum of 1


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
def test_min_score_keeps_exactly_the_hits_that_show_that_score(
    sample_data_dir: Path, mode: str
) -> None:
    question = "watering tomatoes in hot weather"
    everything = search(sample_data_dir, question, "--mode", mode, "--top-k", "50")
    scores = sorted(r["score"] for r in everything)
    threshold = scores[len(scores) // 2]  # half of them fall below it
    kept = search(
        sample_data_dir, question, "--mode", mode, "--top-k", "50", "--min-score", str(threshold)
    )
    expected = [r["document"] for r in everything if r["score"] >= threshold]
    assert [r["document"] for r in kept] == expected
    assert 0 < len(kept) < len(everything)
    assert [r["score"] for r in kept] == sorted((r["score"] for r in kept), reverse=True)
    own = "rerank" if mode == "hybrid" else mode
    assert all(r["signals"][own]["score"] >= threshold - 1e-6 for r in kept)
    if mode != "hybrid":  # a first-stage signal's own score: its order is the shown order
        assert all(r["score"] == pytest.approx(r["signals"][mode]["score"]) for r in kept)


def test_a_hits_score_does_not_depend_on_the_rest_of_the_collection(data_dir: Path) -> None:
    burns = SAMPLE_DOCS / "health" / "first-aid-for-burns.pdf"
    others = [burns, *sorted(SAMPLE_DOCS.rglob("*.md"))[:4]]
    base = ["--data-dir", str(data_dir)]
    assert cli(*base, "ingest", str(burns), "-c", "alone").exit_code == 0
    assert cli(*base, "ingest", *map(str, others), "-c", "among").exit_code == 0
    question = "how long to cool a burn under running water"
    alone = search(data_dir, question, "-c", "alone")
    among = [r for r in search(data_dir, question, "-c", "among") if r["document"] == str(burns)]
    # int8 activations are quantised per batch, so the other passages move it a little
    assert alone[0]["score"] == pytest.approx(among[0]["score"], abs=0.05)
    assert 0.3 < alone[0]["score"] < 0.95


def test_min_score_help_says_what_the_score_is() -> None:
    shown = cli("query", "--help")
    assert "--min-score" in shown.output and "cosine" in shown.output


# --- the passage that answers -----------------------------------------------------------

FILLER = (
    "Set the terminal type with set terminal before plotting to a file. The output file "
    "is chosen with set output; each plot command writes one page of the output. Fonts, "
    "sizes and colours belong to the terminal, so a script that writes both a PNG and a "
    "PDF sets the terminal twice and repeats the plot command for each of them, and the "
    "second file is complete only once the output is closed or set to another file."
)
# BM25 likes the ellipse section: it says "axis" and "scale" over and over. The section
# that answers the question is set logscale.
MANUAL_SECTIONS = {
    "set style ellipse": (
        "The set style ellipse command sets the default size of ellipse objects. The major "
        "axis and the minor axis of an ellipse are measured along the x axis or the y axis: "
        "units xy scales the major axis by the x axis and the minor axis by the y axis, "
        "units yy scales both axes by the y axis. The axis scale applies even when the y "
        "axis is logarithmic."
    ),
    "set logscale": (
        "Use set logscale y to draw the vertical axis in powers of ten rather than evenly "
        "spaced values. The base defaults to 10; set logscale y 2 draws it in powers of two. "
        "Data at or below zero cannot be shown on a log scale and is skipped."
    ),
}


def write_manual(folder: Path) -> tuple[Path, dict[str, tuple[int, int]]]:
    """A long Markdown manual; the line range of each named section."""
    lines = ["# Plotting manual", ""]
    ranges = {}
    for number in range(1, 41):
        heading = {13: "set style ellipse", 29: "set logscale"}.get(number)
        first = len(lines) + 1
        body = MANUAL_SECTIONS[heading] if heading else f"{FILLER} Topic {number}."
        lines += [f"## {heading or f'set option {number}'}", "", body, ""]
        if heading:
            ranges[heading] = (first, len(lines))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plotting.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path, ranges


async def top_hit_with(settings: Settings, folder: Path, fusion: FusionSettings) -> SearchResult:
    async with AppContext(settings) as app:
        service = semantic_core(app)
        await service.ingest.ingest_paths([folder], IngestOptions(collection="manual"))
        options = SearchOptions(collection="manual", top_k=1)
        return await service.search.search("logarithmic y axis", options, fusion)


def test_a_long_document_shows_the_section_that_answers(settings: Settings, tmp_path: Path) -> None:
    path, ranges = write_manual(tmp_path / "docs")
    first_look = FusionSettings(second_look_documents=0, locate_documents=0)
    first = asyncio.run(top_hit_with(settings, path.parent, first_look))
    start, end = ranges["set style ellipse"]
    assert start <= first.hits[0].line <= end  # BM25's favourite chunk
    start, end = ranges["set logscale"]
    # The second look (a second chunk read for the ranking) finds the section that
    # answers, and the line windows (read to point the hit) keep it.
    for fusion in (FusionSettings(locate_documents=0), FusionSettings()):
        hit = asyncio.run(top_hit_with(settings, path.parent, fusion)).hits[0]
        assert start <= hit.line <= end, (fusion, hit.line, hit.heading)
        assert hit.heading.endswith("set logscale")
        assert "logscale" in hit.snippet


def test_grouping_keeps_a_documents_next_chunks_for_the_second_look() -> None:
    hits = [(1, 10, 9.0), (2, 20, 8.0), (3, 10, 7.0), (4, 10, 6.0), (5, 10, 5.0)]
    by_document = grouped("keyword", hits, per_chunk=False, others=2)
    assert [(c.key, c.chunk_id, c.others) for c in by_document] == [
        (10, 1, [(3, 7.0), (4, 6.0)]),
        (20, 2, []),
    ]
    assert all(c.others == [] for c in grouped("keyword", hits, per_chunk=True, others=2))
