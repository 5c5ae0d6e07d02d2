"""Large and slow files: the time budget per file, large HTML read in pieces, chunk rows
written in groups, files read into one buffer. Memory and speed figures live in
``bench/ingest.py --hostile``; these tests check the behaviour that keeps them."""

from __future__ import annotations

import io
import time
from pathlib import Path, PurePath
from typing import Any

import pytest

from analyzer.settings import Settings
from modules.semantic_core.ingest.chunking import chunk_document
from modules.semantic_core.ingest.extract import Deadline, Extracted, TookTooLong, extract
from modules.semantic_core.ingest.extract import html as html_module
from modules.semantic_core.ingest.extract.html import extract_html, markup_pieces
from modules.semantic_core.ingest.files import read_regular_file
from tests import helpers
from tests.helpers import before_extracting, stored_rows, three_notes


def expired() -> Deadline:
    deadline = Deadline(0.0)
    time.sleep(0.002)
    return deadline


def ingest(settings: Settings, folder: Path, **options: Any) -> Any:
    return helpers.ingest_paths(settings, folder, models=helpers.FakeModels(), **options)


# --- the time budget --------------------------------------------------------------


def test_a_file_over_its_time_budget_fails_alone_and_the_run_goes_on(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = three_notes(tmp_path / "docs", "slow.txt")
    # A pathological file: the deadline is looked at inside the extraction that follows.
    before_extracting(monkeypatch, "slow.txt", lambda: time.sleep(0.6))
    report = ingest(settings, folder, file_seconds=0.3)
    assert (report.new, report.failed) == (2, 1)
    [problem] = report.problems
    assert problem.path.endswith("slow.txt") and problem.status == "failed"
    assert problem.reason == (
        "took longer than 0.3 s, the time budget per file (raise it with --file-timeout)"
    )
    # Without a budget the same file is stored.
    assert ingest(settings, folder, file_seconds=None).new == 1


def html_page(sections: int) -> str:
    body = "".join(
        f"<section><h2>Part {n}</h2><p>Paragraph {n} about rivers and their deltas.</p>"
        f"<ul><li>point {n}</li><li>another point</li></ul></section>"
        for n in range(sections)
    )
    return f"<html><head><title>Manual</title></head><body><main>{body}</main></body></html>"


def many_page_pdf(pages: int) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=100, height=100)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_extractors_and_the_chunker_look_at_the_deadline() -> None:
    with pytest.raises(TookTooLong):
        extract_html(html_page(2000), expired())
    with pytest.raises(TookTooLong):
        extract(many_page_pdf(3), PurePath("a.pdf"), expired())
    with pytest.raises(TookTooLong):
        extract(b"plain words\n", PurePath("a.txt"), expired())
    many_units = Extracted(text="A sentence.\n\n" * 3000, title="t", format="text")
    with pytest.raises(TookTooLong):
        chunk_document(many_units, deadline=expired())
    # The same inputs, with time to spare, go through.
    assert extract_html(html_page(2000), Deadline(60)).text
    assert chunk_document(many_units, deadline=Deadline(60))


def test_ingest_file_timeout_is_an_option_and_zero_means_no_limit(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Some text about rivers.\n")
    data_dir = str(settings.data_dir)
    ok = helpers.cli("--data-dir", data_dir, "ingest", str(folder), "--file-timeout", "0")
    assert ok.exit_code == 0, ok.output
    refused = helpers.cli("--data-dir", data_dir, "ingest", str(folder), "--file-timeout", "-1")
    assert refused.exit_code == 2 and "--file-timeout" in refused.output


# --- large HTML in pieces -----------------------------------------------------------

TRICKY_PAGE = (
    "<html><head><title>Tricky</title><style>p { color: red } /* <p> */</style></head>"
    "<body><main>"
    + "".join(
        f"<h2>Part {n}</h2><p>Text {n} of the page.</p>"
        f"<!-- a comment with <p>inside</p> it -->"
        f"<script>var s = '<div>not text</div>';</script>"
        f"<pre>line one\n  <b>indented</b> line</pre>"
        f"<div><p>Nested {n}</p><table><tr><td>a</td><td>b</td></tr></table></div>"
        for n in range(60)
    )
    + "</main></body></html>"
)


def test_a_page_read_in_pieces_reads_as_the_page_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = extract_html(TRICKY_PAGE)
    monkeypatch.setattr(html_module, "PIECE_CHARS", 300)
    pieces = list(markup_pieces(TRICKY_PAGE, 300))
    assert len(pieces) > 20 and "".join(pieces) == TRICKY_PAGE
    in_pieces = extract_html(TRICKY_PAGE)
    assert in_pieces == whole
    assert "not text" not in whole.text and "inside" not in whole.text
    assert whole.title == "Tricky" and len(whole.headings) == 60


def test_pieces_are_never_cut_inside_a_comment_script_or_pre() -> None:
    for piece in markup_pieces(TRICKY_PAGE, 200):
        assert piece.count("<!--") == piece.count("-->")
        assert piece.count("<script>") == piece.count("</script>")
        assert piece.count("<pre>") == piece.count("</pre>")


def test_a_long_script_is_never_cut_and_a_page_that_is_all_script_stays_whole() -> None:
    script = "<script>" + "var x = '<p>';" * 1000 + "</script>"
    page = f"<html><body>{script}<p>end</p></body></html>"
    assert list(markup_pieces(page, 500)) == [f"<html><body>{script}", "<p>end</p></body></html>"]
    all_script = f"<html><body>{script}</body></html>"
    assert list(markup_pieces(all_script, 500)) == [all_script]


# --- writing and reading in bounded pieces ----------------------------------------------


def test_a_long_document_is_written_in_groups_of_rows_and_whole(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modules.semantic_core.ingest.run as run_module

    monkeypatch.setattr(run_module, "WRITE_BATCH_CHUNKS", 3)
    folder = tmp_path / "docs"
    folder.mkdir()
    sections = "".join(f"# Part {n}\n\n{'words about rivers ' * 30}\n\n" for n in range(10))
    (folder / "long.md").write_text(sections)
    (folder / "short.md").write_text("# Short\n\nOne paragraph.\n")
    report = ingest(settings, folder)
    stored = stored_rows(
        settings.data_dir / "semantic_core.db",
        "SELECT d.path, count(*), min(c.ordinal), max(c.ordinal), "
        "count(c.embedding) FROM chunks c JOIN documents d ON d.id = c.document_id "
        "GROUP BY d.path ORDER BY d.path",
    )
    assert report.chunks == sum(row[1] for row in stored)
    (long_path, count, first, last, embedded), (_, short_count, *_) = stored
    assert long_path.endswith("long.md") and count >= 10
    assert (first, last, embedded) == (0, count - 1, count)
    assert short_count == 1


def test_a_file_is_read_whole_into_one_buffer(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    content = bytes(range(1, 256)) * 5000  # no NUL: binary by its first block is not read
    path.write_bytes(content)
    assert read_regular_file(path, len(content)) == content
    with pytest.raises(OSError, match="size cap"):
        read_regular_file(path, len(content) - 1)
