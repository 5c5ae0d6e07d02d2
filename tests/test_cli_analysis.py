"""``analyzer similar | duplicates | keywords | topics | show`` through Typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import Result

from tests.helpers import SAMPLE_DOCS, cli, cli_json, one_line_error


def invoke(data: Path, *args: str) -> Result:
    return cli("--data-dir", str(data), *args)


def as_json(data: Path, *args: str) -> dict:
    return cli_json("--data-dir", str(data), *args)


def name(path: str) -> str:
    return Path(path).relative_to(SAMPLE_DOCS).as_posix()


# --- similar ------------------------------------------------------------------------------


def test_similar_json_lists_ranked_documents(sample_data_dir: Path) -> None:
    report = as_json(sample_data_dir, "similar", "kitchen/bread-basics.md", "--top-k", "4")
    assert name(report["document"]) == "kitchen/bread-basics.md"
    assert report["collection"] == "default" and report["title"].startswith("Bread Basics")
    results = report["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4]
    assert name(results[0]["document"]) == "kitchen/bread-basics-copy.md"
    assert set(results[0]) == {"rank", "score", "document", "document_id", "title"}
    assert all(0 < r["score"] <= 1 for r in results)


def test_similar_table_names_the_documents(sample_data_dir: Path) -> None:
    result = invoke(sample_data_dir, "similar", "money/emergency-fund.md", "--top-k", "2")
    assert result.exit_code == 0, result.output
    assert "Building an Emergency Fund" in result.stdout and "Similar to" in result.stdout


# --- duplicates and show ------------------------------------------------------------------


def test_duplicates_json_finds_the_three_planted_groups(sample_data_dir: Path) -> None:
    report = as_json(sample_data_dir, "duplicates")
    pairs = {
        tuple(sorted((name(p["first"]["document"]), name(p["second"]["document"]))))
        for p in report["pairs"]
    }
    assert pairs == {
        ("kitchen/bread-basics-copy.md", "kitchen/bread-basics.md"),
        ("money/emergency-fund-updated.md", "money/emergency-fund.md"),
        ("outdoors/cycling/fixing-a-flat-tire.md", "outdoors/cycling/fixing-a-flat-tire.txt"),
    }
    assert report["threshold"] == 0.9 and report["documents"] == 47
    assert report["signal"].startswith("word-2-shingles")
    assert [c["cluster"] for c in report["clusters"]] == [1, 2, 3]
    assert all(p["kind"] == "near" and p["score"] >= 0.9 for p in report["pairs"])


def test_show_lists_the_stored_duplicates_after_a_scan(sample_data_dir: Path) -> None:
    assert invoke(sample_data_dir, "duplicates").exit_code == 0
    profile = as_json(sample_data_dir, "show", "money/emergency-fund-updated.md")
    stored = profile["duplicates"]
    assert stored["threshold"] == 0.9 and stored["stale"] is False
    assert [name(d["document"]) for d in stored["documents"]] == ["money/emergency-fund.md"]
    table = invoke(sample_data_dir, "show", "money/emergency-fund-updated.md")
    assert table.exit_code == 0 and "Duplicates (scan of" in table.stdout


def test_show_json_holds_metadata_statistics_summary_and_similar(sample_data_dir: Path) -> None:
    profile = as_json(sample_data_dir, "show", str(SAMPLE_DOCS / "kitchen/apfelkuchen.txt"))
    assert profile["format"] == "text" and profile["size_bytes"] > 0
    assert profile["ingested_at"] and profile["updated_at"]
    stats = profile["statistics"]
    assert stats["language"] == "de" and stats["chunks"] >= 1
    assert stats["words"] > 100 and stats["characters"] > stats["words"]
    assert len(profile["summary"]) == 3
    assert profile["keywords"] and {"term", "kind", "score"} == set(profile["keywords"][0])
    assert len(profile["similar"]) == 5


def test_show_table_says_when_duplicates_were_never_computed(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "heron.md").write_text("# Heron\n\nThe grey heron waits at the edge of the pond.\n")
    data = tmp_path / "data"
    assert invoke(data, "ingest", str(folder)).exit_code == 0
    result = invoke(data, "show", "heron.md")
    assert result.exit_code == 0, result.output
    assert "not computed yet" in result.stdout and "analyzer duplicates" in result.stdout


# --- keywords and topics ------------------------------------------------------------------


def test_keywords_json_for_a_document_and_for_the_collection(sample_data_dir: Path) -> None:
    doc = as_json(sample_data_dir, "keywords", "hobbies/chess/italian-game.docx", "--top", "5")
    assert name(doc["document"]) == "hobbies/chess/italian-game.docx" and doc["document_id"]
    assert len(doc["keywords"]) == 5 and "pawn" in {k["term"] for k in doc["keywords"]}
    whole = as_json(sample_data_dir, "keywords")
    assert whole["document"] is None and len(whole["keywords"]) == 10
    # A document's call counts document frequencies only; the collection's call its list.
    assert as_json(sample_data_dir, "keywords")["cached"] is True
    assert all(k["score"] > 0 for k in whole["keywords"])  # in rounds over topics, not sorted


def test_topics_json_with_a_fixed_k(sample_data_dir: Path) -> None:
    report = as_json(sample_data_dir, "topics", "--k", "4")
    assert report["k"] == 4 and report["automatic"] is False
    topics = report["topics"]
    assert [t["topic"] for t in topics] == [1, 2, 3, 4]
    assert sum(t["size"] for t in topics) == 47
    assert all(t["label"] and 1 <= len(t["representatives"]) <= 3 for t in topics)
    assert -1 <= report["silhouette"] <= 1


def test_topics_table_by_default_chooses_k(sample_data_dir: Path) -> None:
    result = invoke(sample_data_dir, "topics")
    assert result.exit_code == 0, result.output
    assert "chosen automatically" in result.stdout


# --- errors -------------------------------------------------------------------------------


def test_unknown_document_is_one_line_with_suggestions_and_exit_1(sample_data_dir: Path) -> None:
    line = one_line_error(invoke(sample_data_dir, "show", "sourdough-startr.txt"), 1)
    assert "no document 'sourdough-startr.txt'" in line
    assert "did you mean" in line and "kitchen/sourdough-starter.txt" in line


def test_unknown_collection_is_exit_1(sample_data_dir: Path) -> None:
    line = one_line_error(invoke(sample_data_dir, "keywords", "--collection", "nope"), 1)
    assert "no collection named 'nope'" in line


def test_too_few_documents_for_topics_is_exit_1(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for word in ("heron", "otter", "kingfisher"):
        (folder / f"{word}.md").write_text(f"# {word}\n\nA note about the {word} by the river.\n")
    data = tmp_path / "data"
    assert invoke(data, "ingest", str(folder)).exit_code == 0
    line = one_line_error(invoke(data, "topics"), 1)
    assert "topics need at least 4" in line and "analyzer ingest" in line


def test_empty_collection_is_exit_1(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    data = tmp_path / "data"
    assert invoke(data, "ingest", str(tmp_path / "empty.txt")).exit_code == 0
    line = one_line_error(invoke(data, "duplicates"), 1)
    assert "has no documents yet" in line


@pytest.mark.parametrize(
    "args",
    [
        ["topics", "--k", "several"],
        ["topics", "--k", "1"],
        ["duplicates", "--threshold", "0.2"],
        ["keywords", "--top", "0"],
        ["similar", "kitchen/bread-basics.md", "--top-k", "0"],
        ["similar"],
    ],
)
def test_usage_errors_exit_2(sample_data_dir: Path, args: list[str]) -> None:
    result = invoke(sample_data_dir, *args)
    assert result.exit_code == 2, result.output


def test_show_lines_gives_each_line_once_even_when_chunks_split_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    sentences = [f"Sentence {i} says something about tides and herons." for i in range(60)]
    (docs / "one.txt").write_text("Title line\n\n" + " ".join(sentences) + "\n\nAfter.\n")
    data = tmp_path / "data"
    assert invoke(data, "ingest", str(docs)).exit_code == 0
    found = as_json(data, "show", "one.txt", "--lines", "2-4")
    assert [(p["line"], p["line_end"]) for p in found["passages"]] == [(3, 3)]
    assert found["passages"][0]["text"] == " ".join(sentences)
    printed = invoke(data, "show", "one.txt", "--lines", "3").stdout.splitlines()
    assert sum(1 for line in printed if line.startswith("3  ")) == 1
