"""PDF through PDFium (pypdfium2): text page by page; encrypted or broken files fail
with a reason.

Why PDFium: over Debian's PDF manuals (``bench/pdf_text.py``, both in one run) it
reads a manual of 40 to 1,158 pages 10 to 16 times faster than pypdf did, and R's
2,415-page reference manual 26 times faster (5.4 s against 141 s on a loaded machine,
where pdftotext took 15 s), with the same pages and bookmarks, the same text (99.7 % or
more of its letters in the same order) and less memory (peak RSS 101 MB against 351 MB
for R's manual, 71 MB against 168 MB for Octave's). It keeps the spaces of justified lines that
pypdf ran together ("Thebugtrackingsystem"), spells ligatures out ("ﬁle" reads "file")
and joins words hyphenated across lines.

Three things make a long manual readable rather than a stream of pages:
- its outline (bookmarks) gives the heading paths, so a chunk of page 86 says
  ``Plotting > set logscale`` rather than the manual's title;
- running headers and footers ("86 gnuplot 5.4 set pm3d") that repeat at the top
  or bottom of many pages are dropped, so they neither match queries nor pad chunks;
- each line knows its page, so a hit reads ``manual.pdf#page=86``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from modules.semantic_core.ingest.extract.base import (
    MAX_TITLE_CHARS,
    NO_DEADLINE,
    Deadline,
    Extracted,
    Heading,
    Unextractable,
    first_line_title,
    require_text,
)

# Pages past this are not read: the bound on one file's text (a page of a dense manual
# is 3-6 kB of text, so 10,000 pages stay within tens of MB).
MAX_PAGES = 10_000
# A line is running page furniture when it is among the first or last EDGE_LINES of a
# page and its shape repeats on at least this share of pages (and on MIN_REPEATS pages).
EDGE_LINES = 2
RUNNING_SHARE = 0.3
MIN_REPEATS = 3
MAX_OUTLINE_ITEMS = 5000
MAX_OUTLINE_DEPTH = 15

# PDFium may not be entered from two threads at once, not even for two documents (the
# resident service runs commands in threads): every call into it holds this lock. The
# lock is taken per page, so two files read at once take turns rather than queue whole.
_PDFIUM = threading.Lock()
# PDFium marks a word hyphenated across a line break with U+FFFE and joins its halves.
_SOFT_HYPHEN = "\ufffe"


@dataclass(frozen=True)
class _OutlineEntry:
    page: int  # 0-based
    level: int
    title: str


@dataclass(frozen=True)
class PdfText:
    """What is read from a PDF: each page's text, its bookmarks and its title."""

    pages: list[str]
    outline: list[_OutlineEntry]
    title: str


def extract_pdf(data: bytes | bytearray, deadline: Deadline = NO_DEADLINE) -> Extracted:
    read = read_pdf(data, deadline)
    page_lines = without_running_lines([_page_lines(page) for page in read.pages])
    return _assembled(page_lines, read.outline, read.title)


def read_pdf(data: bytes | bytearray, deadline: Deadline = NO_DEADLINE) -> PdfText:
    """The text of each page (up to MAX_PAGES), the outline and the title of a PDF.

    Raises Unextractable with a one-line reason for an encrypted or unreadable file."""
    import pypdfium2

    for name in ("pypdfium2", "pypdfium2_raw"):  # malformed files are reported, not logged
        logging.getLogger(name).setLevel(logging.ERROR)
    # PDFium reads from the buffer for as long as the document is open: keep it immutable.
    buffer = bytes(data)
    try:
        with _PDFIUM:
            document = pypdfium2.PdfDocument(buffer)
    except pypdfium2.PdfiumError as exc:
        raise _unreadable(exc) from None
    try:
        pages = []
        for number in range(min(_page_count(document), MAX_PAGES)):
            deadline.check()
            pages.append(_page_text(document, number))
        deadline.check()
        with _PDFIUM:
            outline = _outline(document)
            title = _title(document)
        return PdfText(pages, outline, title)
    finally:
        with _PDFIUM:
            document.close()


def _unreadable(exc: Exception) -> Unextractable:
    import pypdfium2.raw as pdfium_c

    if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
        return Unextractable("encrypted PDF (needs a password); decrypt it first")
    if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_SECURITY:
        return Unextractable("encrypted PDF that cannot be opened; decrypt it first")
    # "Failed to load document (PDFium: Data format error)." -> "data format error"
    found = re.search(r"\(PDFium: ([^)]*)\)", str(exc))
    return Unextractable(f"corrupt PDF ({found[1].lower() if found else _short(exc)})")


def _page_count(document: Any) -> int:  # noqa: ANN401 - pypdfium2's PdfDocument
    with _PDFIUM:
        return len(document)


def _page_text(document: Any, number: int) -> str:  # noqa: ANN401 - pypdfium2's PdfDocument
    """One page's text, lines separated by "\n"; empty for a page PDFium cannot load
    (the rest of the file is still worth reading)."""
    import pypdfium2

    with _PDFIUM:
        try:
            page = document.get_page(number)
        except pypdfium2.PdfiumError:
            return ""
        try:
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_range()
            finally:
                textpage.close()
        except pypdfium2.PdfiumError:
            text = ""
        finally:
            page.close()  # closed here, under the lock, not by a finalizer in another thread
    return text.replace(_SOFT_HYPHEN, "").replace("\r\n", "\n").replace("\r", "\n")


def _title(document: Any) -> str:  # noqa: ANN401 - pypdfium2's PdfDocument
    try:
        return " ".join(document.get_metadata_value("Title").split())
    except Exception:  # noqa: BLE001 - a broken info dictionary costs the title only
        return ""


def _page_lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.strip().split("\n")]
    return lines if any(lines) else []


def _assembled(pages: list[list[str]], outline: list[_OutlineEntry], meta_title: str) -> Extracted:
    """The pages' lines as one text, a blank line between pages, with the outline's
    entries as headings on the lines that carry their titles."""
    by_page: dict[int, list[_OutlineEntry]] = {}
    for entry in outline:
        by_page.setdefault(entry.page, []).append(entry)
    lines: list[str] = []
    page_starts: list[int] = []
    headings: list[Heading] = []
    for number, page in enumerate(pages):
        if lines:
            lines.append("")
        page_starts.append(len(lines))
        entries = by_page.get(number, [])
        page = list(page)
        for entry in entries:
            at = _line_of(page, entry.title)
            if at is None:  # the title is not printed on its page: give it a line of its own
                page.insert(0, entry.title)
                at = 0
            headings.append(Heading(len(lines) + at, entry.level, entry.title))
        lines.extend(page)
    text = "\n".join(lines)
    require_text(text)
    headings = _one_per_line(headings)
    title = meta_title or first_line_title(text)
    return Extracted(
        text=text + "\n",
        title=title[:MAX_TITLE_CHARS],
        format="pdf",
        headings=tuple(headings),
        # Kept with the document: ``show --page N`` prints the lines of page N.
        metadata={"pages": len(pages), "page_lines": page_starts},
        page_lines=tuple(page_starts),
    )


def _line_of(page: list[str], title: str) -> int | None:
    wanted = _squashed(title)
    if not wanted:
        return None
    for number, line in enumerate(page):
        squashed = _squashed(line)
        # "3.2 Logarithmic axes" printed as "3.2 Logarithmic axes . . . 41" in a table
        # of contents is not the heading: the whole line must be the title (give or take
        # its numbering).
        if squashed == wanted or squashed.endswith(wanted) and len(squashed) - len(wanted) <= 8:
            return number
    return None


def _squashed(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


def _one_per_line(headings: list[Heading]) -> list[Heading]:
    seen: dict[int, Heading] = {}
    for heading in headings:
        seen.setdefault(heading.line, heading)  # the outer entry names a shared line
    return sorted(seen.values(), key=lambda h: h.line)


# --- outline -------------------------------------------------------------------------------


def _outline(document: Any) -> list[_OutlineEntry]:  # noqa: ANN401 - pypdfium2's PdfDocument
    """The bookmarks as (page, level, title); what is readable of them when the outline
    is broken (pypdfium2 stops at a bookmark that points back to an earlier one)."""
    found: list[_OutlineEntry] = []
    try:
        for bookmark in document.get_toc(max_depth=MAX_OUTLINE_DEPTH):
            entry = _entry(bookmark)
            if entry is not None:
                found.append(entry)
            if len(found) >= MAX_OUTLINE_ITEMS:
                break
    except Exception:  # noqa: BLE001 - a broken outline costs the headings, not the text
        pass
    return found


def _entry(bookmark: Any) -> _OutlineEntry | None:  # noqa: ANN401 - a PdfBookmark
    try:
        destination = bookmark.get_dest()
        page = destination.get_index() if destination is not None else None
        title = " ".join(bookmark.get_title().split())
    except Exception:  # noqa: BLE001 - one broken bookmark is skipped
        return None
    if page is None or page < 0 or not title:
        return None
    return _OutlineEntry(page, bookmark.level + 1, title[:MAX_TITLE_CHARS])


# --- running headers and footers ----------------------------------------------------------------

_NUMBER = re.compile(r"^\d+$|^[ivxlcdm]+$", re.IGNORECASE)


def without_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Pages without the lines at their top and bottom that repeat across pages.

    A line's shapes: its words with digits as ``#``; and, when it starts or ends with
    a page number, its two words next to that number ("# gnuplot #.# set pm3d" and
    "# gnuplot #.# set view" share "gnuplot #.#"). A shape seen at the edge of many
    pages is furniture."""
    with_text = sum(1 for page in pages if page)
    if with_text < MIN_REPEATS + 1:
        return pages
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update({shape for line in _edges(page) for shape in _shapes(line)})
    needed = max(MIN_REPEATS, int(RUNNING_SHARE * with_text + 0.999))
    running = {shape for shape, count in counts.items() if count >= needed}
    if not running:
        return pages
    return [_trimmed(page, running) for page in pages]


def _edges(page: list[str]) -> list[str]:
    content = [line for line in page if line.strip()]
    return content[:EDGE_LINES] + content[-EDGE_LINES:] if len(content) > EDGE_LINES else content


def _shapes(line: str) -> set[str]:
    words = line.split()
    if not words:
        return set()
    shaped = [re.sub(r"\d+", "#", word.lower()) for word in words]
    shapes = {"line:" + " ".join(shaped)}
    if len(words) >= 3 and _NUMBER.match(words[0]):
        shapes.add("lead:" + " ".join(shaped[1:3]))
    if len(words) >= 3 and _NUMBER.match(words[-1]):
        shapes.add("tail:" + " ".join(shaped[-3:-1]))
    return shapes


def _trimmed(page: list[str], running: set[str]) -> list[str]:
    """``page`` without running lines among its first and last content lines."""
    positions = [i for i, line in enumerate(page) if line.strip()]
    edge = set(positions[:EDGE_LINES] + positions[-EDGE_LINES:])
    return [
        line for i, line in enumerate(page) if i not in edge or not (_shapes(line) & running)
    ]


def _short(exc: BaseException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return message[:120]
