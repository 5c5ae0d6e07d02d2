"""A line range or a page of a document, as its chunks hold it: what ``show --text``
prints and an agent reads after a hit's ``path:line`` or ``path#page=N``.

Line numbers are those of ``path:line``: the file's own for text, Markdown, RST and
DOCX (whose text keeps the file's lines). An HTML page's text has lines of its own,
so a range of the page's source lines is read as the passages that start in it.
Chunks overlap (a full chunk repeats the end of the one before), so each line is
given once; lines that are in no chunk (headings, blank lines) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analyzer.errors import UsageError
from analyzer.paths import display_path
from modules.semantic_core.analysis.corpus import Corpus
from modules.semantic_core.db_models import Chunk, Document
from modules.semantic_core.documents import DocumentRef

ALL_LINES = 2**31 - 1


@dataclass(frozen=True)
class Passage:
    line_start: int  # of the extracted text
    line_end: int
    heading: str
    text: str
    source_line: int | None = None  # where it starts in the file, when that numbering differs


@dataclass
class DocumentLines:
    collection: str
    document: DocumentRef
    first: int
    last: int
    passages: list[Passage]
    page: int | None = None
    numbered: bool = True  # False: the text's line numbers are not the file's (HTML, PDF)

    @property
    def line_range(self) -> tuple[int, int] | None:
        """The lines asked for; None for a page or the whole text."""
        if self.page is not None or (self.first, self.last) == (1, ALL_LINES):
            return None
        return self.first, self.last


def parse_line_range(text: str) -> tuple[int, int]:
    """``"12-40"`` or ``"12"``: the first and last line, 1-based."""
    start, _, end = text.strip().partition("-")
    try:
        first, last = int(start), int(end or start)
    except ValueError:
        raise UsageError(f"{text!r} is not a line range; use e.g. 12-40 or 12") from None
    if first < 1 or last < first:
        raise UsageError(f"{text!r} is not a line range: it starts at 1 or later, ends after")
    return first, last


async def document_lines(
    corpus: Corpus,
    collection_name: str,
    reference: str,
    first: int = 1,
    last: int = ALL_LINES,
    page: int | None = None,
) -> DocumentLines:
    """Lines ``first`` to ``last`` (in the numbering of ``path:line``), or page ``page``."""
    collection = await corpus.collection(collection_name)
    document = await corpus.resolve(collection, reference)
    [(kind, meta)] = await corpus.crud.values(
        Document, ["format", "meta"], filters={"id": document.id}
    )
    text_first, text_last = first, last
    if page is not None:
        text_first, text_last = _page_range(document, kind, meta or {}, page)
    elif kind == "html" and (first, last) != (1, ALL_LINES):
        text_first, text_last = await _text_range_of_source(corpus, document.id, first, last)
    rows = await corpus.crud.values(
        Chunk,
        ["line_start", "char_start", "char_end", "heading", "text", "source_line"],
        filters={"document_id": document.id},
        where=[Chunk.line_end >= text_first, Chunk.line_start <= text_last],
        order_by="ordinal",
    )
    passages = []
    for segment in _segments(rows):
        passage = _within(segment, text_first, text_last)
        if passage is not None:
            passages.append(passage)
    numbered = kind not in ("html", "pdf")
    return DocumentLines(collection.name, document, first, last, passages, page, numbered)


def _page_range(document: DocumentRef, kind: str, meta: dict, page: int) -> tuple[int, int]:
    starts = meta.get("page_lines") or []
    name = display_path(document.path)
    if not starts:
        if kind == "pdf":
            raise UsageError(f"{name} was stored without its pages; ingest it again with --force")
        raise UsageError(f"{name} is {kind}, which has no pages; use --lines A-B instead")
    if not 1 <= page <= len(starts):
        raise UsageError(f"{name} has {len(starts)} pages; ask for a page from 1 to {len(starts)}")
    last = starts[page] if page < len(starts) else ALL_LINES
    return starts[page - 1] + 1, last


async def _text_range_of_source(
    corpus: Corpus, document_id: int, first: int, last: int
) -> tuple[int, int]:
    """The lines of an HTML page's text whose passages start at source lines ``first`` to
    ``last``, with the passage that runs into ``first`` from above."""
    rows = await corpus.crud.values(
        Chunk,
        ["source_line", "line_start", "line_end"],
        filters={"document_id": document_id},
        order_by="ordinal",
    )
    located = [row for row in rows if row[0] is not None]
    if not located:  # stored before source lines were kept: the text's own numbering
        return first, last
    before = [row for row in located if row[0] <= first] or located[:1]
    inside = [row for row in located if row[0] <= last] or before
    return before[-1][1], inside[-1][2]


@dataclass
class _Segment:
    """Consecutive chunks joined into one run of the text, each character once."""

    line_start: int
    heading: str
    text: str
    covered: int  # the character offset up to which the text is given
    source_line: int | None = None

    @property
    def last_line(self) -> int:
        return self.line_start + self.text.count("\n")


def _segments(rows: list[tuple[Any, ...]]) -> list[_Segment]:
    """Chunks overlap (a full one repeats the end of the one before) and may split a line
    (an over-long sentence is cut into windows): join them so that each line is whole and
    given once. Between chunks that neither overlap nor share a line lie lines that are in
    no chunk (headings, blank lines): a new segment starts there."""
    segments: list[_Segment] = []
    for line_start, char_start, char_end, heading, text, source_line in rows:
        current = segments[-1] if segments else None
        if current is not None and char_end <= current.covered:
            continue
        if current is not None and char_start <= current.covered:
            current.text += text[current.covered - char_start :]
        elif current is not None and line_start == current.last_line:
            current.text += " " + text  # cut inside a line: the gap is the space between words
        else:
            segments.append(_Segment(line_start, heading, text, char_end, source_line))
            continue
        current.covered = char_end
    return segments


def _within(segment: _Segment, first: int, last: int) -> Passage | None:
    lines = segment.text.split("\n")
    numbered = [(segment.line_start + i, line) for i, line in enumerate(lines)]
    kept = [(number, line) for number, line in numbered if first <= number <= last]
    while kept and not kept[0][1].strip():
        kept.pop(0)
    while kept and not kept[-1][1].strip():
        kept.pop()
    if not kept:
        return None
    text = "\n".join(line for _, line in kept)
    source = segment.source_line if kept[0][0] == segment.line_start else None
    return Passage(kept[0][0], kept[-1][0], segment.heading, text, source)
