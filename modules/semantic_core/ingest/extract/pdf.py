"""PDF through pypdf: text page by page; encrypted or broken files fail with a reason.

Three things make a long manual readable rather than a stream of pages:
- its outline (bookmarks) gives the heading paths, so a chunk of page 86 says
  ``Plotting > set logscale`` rather than the manual's title;
- running headers and footers ("86 gnuplot 5.4 set pm3d") that repeat at the top
  or bottom of many pages are dropped, so they neither match queries nor pad chunks;
- each line knows its page, so a hit reads ``manual.pdf#page=86``.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from dataclasses import dataclass

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

MAX_PAGES = 2000
# A line is running page furniture when it is among the first or last EDGE_LINES of a
# page and its shape repeats on at least this share of pages (and on MIN_REPEATS pages).
EDGE_LINES = 2
RUNNING_SHARE = 0.3
MIN_REPEATS = 3
MAX_OUTLINE_ITEMS = 5000


@dataclass(frozen=True)
class _OutlineEntry:
    page: int  # 0-based
    level: int
    title: str


def extract_pdf(data: bytes | bytearray, deadline: Deadline = NO_DEADLINE) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed files are reported, not logged
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unextractable("encrypted PDF (needs a password); decrypt it first")
        pages = []
        for page in reader.pages[:MAX_PAGES]:
            deadline.check()
            pages.append(page.extract_text() or "")
        info = reader.metadata
        meta_title = (info.title or "") if info else ""
        outline = _outline(reader)
    except Unextractable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise Unextractable(f"corrupt PDF ({_short(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on hostile input
        if "crypt" in str(exc).lower():
            raise Unextractable("encrypted PDF that cannot be opened; decrypt it first") from None
        raise Unextractable(f"corrupt PDF ({_short(exc)})") from None
    page_lines = without_running_lines([_page_lines(page) for page in pages])
    return _assembled(page_lines, outline, str(meta_title).strip())


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


def _outline(reader) -> list[_OutlineEntry]:  # noqa: ANN001 - pypdf's PdfReader
    """The bookmarks as (page, level, title); empty when the PDF has none or they are broken."""
    try:
        items = reader.outline
    except Exception:  # noqa: BLE001 - a broken outline costs the headings, not the text
        return []
    found: list[_OutlineEntry] = []
    stack = [(iter(items), 1)]
    while stack and len(found) < MAX_OUTLINE_ITEMS:
        children, level = stack[-1]
        item = next(children, None)
        if item is None:
            stack.pop()
        elif isinstance(item, list):
            stack.append((iter(item), level + 1))
        else:
            entry = _entry(reader, item, level)
            if entry is not None:
                found.append(entry)
    return found


def _entry(reader, item, level: int) -> _OutlineEntry | None:  # noqa: ANN001
    try:
        page = reader.get_destination_page_number(item)
        title = " ".join(str(item.title or "").split())
    except Exception:  # noqa: BLE001 - one broken bookmark is skipped
        return None
    if page is None or page < 0 or not title:
        return None
    return _OutlineEntry(page, level, title[:MAX_TITLE_CHARS])


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
