"""Where a hit points: ``path:line`` in the file as stored on disk, ``path#page=N`` in a
PDF, and ``show --text`` printing what is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures_documents import CMAKE_PAGE, NPM_PAGE, SPHINX_PAGE, manual_pdf
from tests.helpers import cli, cli_json, one_line_error, stored_rows


@pytest.fixture
def real_shaped(data_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "argparse.html").write_text(SPHINX_PAGE, encoding="utf-8")
    (folder / "npm-install.md").write_text(NPM_PAGE, encoding="utf-8")
    (folder / "add_executable.rst").write_text(CMAKE_PAGE, encoding="utf-8")
    (folder / "manual.pdf").write_bytes(manual_pdf())
    report = cli_json("--data-dir", str(data_dir), "ingest", str(folder), "--json")
    assert report["new"] == 4, report
    return folder


def top_hit(data_dir: Path, question: str) -> dict:
    found = cli_json("--data-dir", str(data_dir), "query", question, "--json", "--top-k", "1")
    return found["results"][0]


def test_a_pdf_hit_names_its_page(data_dir: Path, real_shaped: Path) -> None:
    hit = top_hit(data_dir, "logarithmic scale on the y axis")
    assert hit["document"].endswith("manual.pdf")
    assert hit["page"] == 3
    assert hit["heading"].endswith("Plotting > set logscale")
    shown = cli("--data-dir", str(data_dir), "query", "logarithmic scale on the y axis")
    assert "manual.pdf#page=3" in shown.output


def test_an_html_hit_names_the_line_of_its_text_in_the_page_source(
    data_dir: Path, real_shaped: Path
) -> None:
    hit = top_hit(data_dir, "creating an ArgumentParser object")
    assert hit["document"].endswith("argparse.html")
    source = SPHINX_PAGE.split("\n")
    assert "ArgumentParser object" in source[hit["line"] - 1]
    assert hit["page"] is None
    shown = cli("--data-dir", str(data_dir), "query", "creating an ArgumentParser object")
    assert f"argparse.html:{hit['line']}" in shown.output


def test_markdown_and_rst_hits_name_lines_of_the_file(data_dir: Path, real_shaped: Path) -> None:
    hit = top_hit(data_dir, "installs a package and the packages it depends on")
    assert hit["document"].endswith("npm-install.md")
    assert "installs a package" in NPM_PAGE.split("\n")[hit["line"] - 1]
    hit = top_hit(data_dir, "IMPORTED executable target references a file")
    assert hit["document"].endswith("add_executable.rst")
    assert "IMPORTED executable" in CMAKE_PAGE.split("\n")[hit["line"] - 1]


def test_json_location_fields_each_count_one_thing(data_dir: Path, real_shaped: Path) -> None:
    """``line`` counts lines of the file on disk and is null for a PDF; ``text_line`` and
    ``text_lines`` count lines of the extracted text; ``location`` is what to open."""
    pdf = top_hit(data_dir, "logarithmic scale on the y axis")
    assert (pdf["line"], pdf["page"]) == (None, 3)
    assert pdf["location"] == f"{pdf['document']}#page=3"
    first, last = pdf["text_lines"]
    assert first <= pdf["text_line"] <= last

    html = top_hit(data_dir, "creating an ArgumentParser object")
    text = cli_json("--data-dir", str(data_dir), "show", "argparse.html", "--text", "--json")
    extracted = "\n".join(p["text"] for p in text["passages"])
    assert html["line"] != html["text_line"]  # the page's source and its text differ here
    assert "ArgumentParser object" in SPHINX_PAGE.split("\n")[html["line"] - 1]
    assert html["location"] == f"{html['document']}:{html['line']}"
    assert "ArgumentParser object" in extracted
    first, last = html["text_lines"]
    assert first <= html["text_line"] <= last

    markdown = top_hit(data_dir, "installs a package and the packages it depends on")
    assert markdown["line"] == markdown["text_line"]  # Markdown keeps the file's lines
    assert markdown["location"].endswith(f"npm-install.md:{markdown['line']}")


def test_show_text_prints_a_page_or_the_lines_a_hit_names(
    data_dir: Path, real_shaped: Path
) -> None:
    base = ("--data-dir", str(data_dir), "show")
    page = cli(*base, "manual.pdf", "--page", "3")
    assert page.exit_code == 0, page.output
    assert "manual.pdf#page=3" in page.output and "Log scaling" in page.output
    assert "ellipse" not in page.output
    hit = top_hit(data_dir, "creating an ArgumentParser object")
    lines = cli(*base, "argparse.html", "--lines", str(hit["line"]))
    assert "ArgumentParser object" in lines.output
    assert "sum or the max" not in lines.output
    whole = cli_json(*base, "npm-install.md", "--text", "--json")
    text = "\n".join(p["text"] for p in whole["passages"])
    assert "This command installs a package" in text and "description:" not in text
    assert whole["lines"] is None and whole["page"] is None


def test_show_page_out_of_range_or_of_a_text_is_a_one_line_error(
    data_dir: Path, real_shaped: Path
) -> None:
    base = ("--data-dir", str(data_dir), "show")
    one_line_error(cli(*base, "manual.pdf", "--page", "99"), 2, "has 7 pages", "from 1 to 7")
    one_line_error(cli(*base, "npm-install.md", "--page", "1"), 2, "no pages", "--lines")
    both = cli(*base, "manual.pdf", "--page", "1", "--lines", "2")
    assert both.exit_code == 2 and "not both" in both.output


def test_documents_read_by_older_extractors_are_read_again(
    data_dir: Path, real_shaped: Path
) -> None:
    database = data_dir / "semantic_core.db"
    stored_rows(database, "ALTER TABLE chunks DROP COLUMN source_line")
    stored_rows(database, "ALTER TABLE chunks DROP COLUMN page")
    stored_rows(database, "ALTER TABLE chunks DROP COLUMN line_map")
    stored_rows(database, "ALTER TABLE documents DROP COLUMN sketch")
    stored_rows(database, "ALTER TABLE collections DROP COLUMN epoch")
    stored_rows(database, "UPDATE analyzer_schema SET revision = 4")
    report = cli_json("--data-dir", str(data_dir), "ingest", str(real_shaped), "--json")
    # Markdown, RST, HTML and PDF are read better now: all four are read again.
    assert report["updated"] == 4, report
    assert stored_rows(database, "SELECT count(*) FROM chunks WHERE page IS NOT NULL")[0][0] > 0
