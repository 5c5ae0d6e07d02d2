"""The PDF reader (PDFium through pypdfium2): text per page, bookmarks, title, hyphenated
words joined, hostile files refused with a one-line reason, and one PDFium call at a
time when several threads read PDFs."""

from __future__ import annotations

import io
import threading
from pathlib import PurePath

import pytest

from modules.semantic_core.ingest.extract import extract
from modules.semantic_core.ingest.extract import pdf as pdf_module
from modules.semantic_core.ingest.extract.base import Unextractable
from modules.semantic_core.ingest.extract.pdf import extract_pdf, read_pdf
from tests.fixtures_documents import MANUAL_PAGES, MANUAL_SECTIONS, manual_pdf


def lines_pdf(*pages: list[str], title: str = "") -> bytes:
    """A PDF with one text line per cell, each page's lines in order."""
    from fpdf import FPDF

    document = FPDF()
    if title:
        document.set_title(title)
    document.set_font("helvetica", size=11)
    for lines in pages:
        document.add_page()
        for line in lines:
            document.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(document.output())


def with_password(data: bytes, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_each_page_is_read_in_order_with_plain_line_breaks() -> None:
    data = lines_pdf(
        ["Rivers carry sediment.", "Deltas form at the mouth."],
        ["Glaciers carve valleys."],
        title="Landforms",
    )
    read = read_pdf(data)
    assert read.pages == [
        "Rivers carry sediment.\nDeltas form at the mouth.",
        "Glaciers carve valleys.",
    ]
    assert read.title == "Landforms"


def test_a_word_hyphenated_across_lines_is_joined_and_a_real_hyphen_kept() -> None:
    data = lines_pdf(["Plot an isosur-", "face with splot.", "A well-known case stays."])
    [page] = read_pdf(data).pages
    assert "isosurface with splot." in page
    assert "well-known" in page
    assert "\ufffe" not in page and "\r" not in page


def test_bookmarks_give_pages_levels_and_titles() -> None:
    outline = read_pdf(manual_pdf()).outline
    expected = [(start, level, title) for title, level, start, _ in MANUAL_SECTIONS]
    assert [(entry.page, entry.level, entry.title) for entry in outline] == expected
    assert len(read_pdf(manual_pdf()).pages) == MANUAL_PAGES


def test_a_manual_longer_than_two_thousand_pages_is_read_to_its_end() -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for _ in range(2099):
        writer.add_blank_page(width=100, height=100)
    writer.add_page(PdfReader(io.BytesIO(lines_pdf(["The appendix lists every option."]))).pages[0])
    buffer = io.BytesIO()
    writer.write(buffer)
    extracted = extract_pdf(buffer.getvalue())
    assert extracted.metadata["pages"] == 2100
    assert extracted.text.strip() == "The appendix lists every option."
    last_page = extracted.text.splitlines()[extracted.page_lines[2099] :]
    assert last_page == ["The appendix lists every option."]


def test_pages_past_the_limit_are_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_module, "MAX_PAGES", 2)
    data = lines_pdf(["First page."], ["Second page."], ["Third page."])
    assert read_pdf(data).pages == ["First page.", "Second page."]


def test_an_empty_user_password_opens_and_a_real_one_is_asked_for() -> None:
    data = lines_pdf(["Only the owner may print this."])
    assert read_pdf(with_password(data, "")).pages == ["Only the owner may print this."]
    with pytest.raises(Unextractable) as refused:
        read_pdf(with_password(data, "secret"))
    assert str(refused.value) == "encrypted PDF (needs a password); decrypt it first"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage" * 10,
        b"%PDF-1.4\n" + b"\x00" * 20000 + b"%%EOF\n",
        manual_pdf()[: len(manual_pdf()) // 2],
    ],
    ids=["empty", "garbage", "zeros", "truncated"],
)
def test_a_broken_pdf_fails_with_one_line_naming_it(data: bytes) -> None:
    with pytest.raises(Unextractable) as refused:
        extract(data, PurePath("broken.pdf"))
    assert str(refused.value) == "corrupt PDF (data format error)"


def test_a_bytearray_is_read_like_bytes() -> None:
    data = lines_pdf(["Rivers carry sediment."])
    assert read_pdf(bytearray(data)).pages == read_pdf(data).pages


def test_threads_reading_pdfs_at_once_get_what_one_thread_gets() -> None:
    documents = [manual_pdf(), lines_pdf(["Rivers carry sediment."], ["Glaciers carve."])]
    alone = [extract_pdf(data) for data in documents]
    results: dict[int, object] = {}
    errors: list[BaseException] = []

    def read(number: int) -> None:
        try:
            results[number] = extract_pdf(documents[number % 2])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == list(range(8))
    for number, extracted in results.items():
        assert extracted == alone[number % 2]
