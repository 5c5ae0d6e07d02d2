"""``analyzer collections | documents | remove``: what the index holds, and taking it out."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer import ui
from analyzer.cli.app import app
from analyzer.cli.runner import CliState
from tests.helpers import SAMPLE_DOCS, cli, cli_json, one_line_error, runner


@pytest.fixture
def two_collections(data_dir: Path) -> Path:
    cli_json("--data-dir", str(data_dir), "ingest", str(SAMPLE_DOCS / "money"))
    cli_json(
        "--data-dir", str(data_dir), "ingest", str(SAMPLE_DOCS / "kitchen"), "--collection", "k"
    )
    return data_dir


def listed(data_dir: Path, *args: str) -> dict:
    return cli_json("--data-dir", str(data_dir), *args)


def test_collections_lists_each_with_its_counts_and_model(two_collections: Path) -> None:
    found = {c["collection"]: c for c in listed(two_collections, "collections")["collections"]}
    assert set(found) == {"default", "k"}
    money = len(list((SAMPLE_DOCS / "money").iterdir()))
    assert found["default"]["documents"] == money
    assert found["default"]["chunks"] > money
    assert found["k"]["model"] == found["default"]["model"] != ""
    assert found["k"]["last_ingest"] is not None


def test_documents_lists_paths_titles_formats_and_chunks(two_collections: Path) -> None:
    every = listed(two_collections, "documents", "--collection", "k")["documents"]
    assert len(every) == len(list((SAMPLE_DOCS / "kitchen").iterdir()))
    assert [d["document"] for d in every] == sorted(d["document"] for d in every)
    assert all(d["chunks"] > 0 and d["title"] and d["format"] for d in every)
    only = listed(two_collections, "documents", "--collection", "k", "--path", "*.md")
    assert only["documents"] and all(d["document"].endswith(".md") for d in only["documents"])


def test_remove_takes_documents_out_of_every_answer(two_collections: Path) -> None:
    data = str(two_collections)
    before = listed(two_collections, "collections")["collections"]
    removed = listed(two_collections, "remove", "emergency-fund.md")["removed"]
    assert [Path(r["document"]).name for r in removed] == ["emergency-fund.md"]
    names = [Path(d["document"]).name for d in listed(two_collections, "documents")["documents"]]
    assert "emergency-fund.md" not in names and "emergency-fund-updated.md" in names
    hits = listed(two_collections, "query", "emergency fund", "--mode", "keyword")["results"]
    assert all(Path(h["document"]).name != "emergency-fund.md" for h in hits)
    after = {c["collection"]: c for c in listed(two_collections, "collections")["collections"]}
    old = {c["collection"]: c for c in before}
    assert after["default"]["documents"] == old["default"]["documents"] - 1
    assert after["default"]["chunks"] < old["default"]["chunks"]
    assert after["k"] == old["k"]
    # One name that does not resolve removes nothing.
    result = cli("--data-dir", data, "remove", "budgeting-basics.md", "no-such-note.md")
    one_line_error(result, 1, "no document 'no-such-note.md'")
    assert len(listed(two_collections, "documents")["documents"]) == len(names)


def test_drop_needs_yes_off_a_terminal_and_drops_only_that_collection(
    two_collections: Path,
) -> None:
    data = str(two_collections)
    refused = cli("--data-dir", data, "collections", "drop", "k")
    one_line_error(refused, 2, "add --yes")
    dropped = listed(two_collections, "collections", "drop", "k", "--yes")["dropped"]
    assert dropped["collection"] == "k" and dropped["documents"] > 0
    left = [c["collection"] for c in listed(two_collections, "collections")["collections"]]
    assert left == ["default"]
    one_line_error(cli("--data-dir", data, "query", "bread", "--collection", "k"), 1, "'k'")
    one_line_error(cli("--data-dir", data, "collections", "drop", "k", "--yes"), 1, "no collection")


def test_drop_on_a_terminal_asks_first(
    two_collections: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui, "is_terminal", lambda: True)
    args = ["--data-dir", str(two_collections), "collections", "drop", "k"]
    kept = runner.invoke(app, args, input="n\n", obj=CliState())
    assert kept.exit_code == 2 and "not dropped" in kept.output
    assert len(listed(two_collections, "collections")["collections"]) == 2
    gone = runner.invoke(app, args, input="y\n", obj=CliState())
    assert gone.exit_code == 0, gone.output
    assert [c["collection"] for c in listed(two_collections, "collections")["collections"]] == [
        "default"
    ]
