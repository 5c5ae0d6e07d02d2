"""A line range of a document, as its chunks hold it: what ``show --lines`` prints and an
agent reads after a hit's ``path:line``.

Lines are those of the extracted text, the numbering of every ``path:line``.
Chunks overlap (a full chunk repeats the end of the one before), so each line is
given once; lines that are in no chunk (headings, blank lines) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.errors import UsageError
from modules.semantic_core.analysis.corpus import Corpus
from modules.semantic_core.db_models import Chunk
from modules.semantic_core.documents import DocumentRef


@dataclass(frozen=True)
class Passage:
    line_start: int
    line_end: int
    heading: str
    text: str


@dataclass
class DocumentLines:
    collection: str
    document: DocumentRef
    first: int
    last: int
    passages: list[Passage]


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
    corpus: Corpus, collection_name: str, reference: str, first: int, last: int
) -> DocumentLines:
    collection = await corpus.collection(collection_name)
    document = await corpus.resolve(collection, reference)
    rows = await corpus.crud.values(
        Chunk,
        ["line_start", "char_start", "char_end", "heading", "text"],
        filters={"document_id": document.id},
        where=[Chunk.line_end >= first, Chunk.line_start <= last],
        order_by="ordinal",
    )
    passages = []
    for segment in _segments(rows):
        passage = _within(segment, first, last)
        if passage is not None:
            passages.append(passage)
    return DocumentLines(collection.name, document, first, last, passages)


@dataclass
class _Segment:
    """Consecutive chunks joined into one run of the text, each character once."""

    line_start: int
    heading: str
    text: str
    covered: int  # the character offset up to which the text is given

    @property
    def last_line(self) -> int:
        return self.line_start + self.text.count("\n")


def _segments(rows: list[tuple[int, int, int, str, str]]) -> list[_Segment]:
    """Chunks overlap (a full one repeats the end of the one before) and may split a line
    (an over-long sentence is cut into windows): join them so that each line is whole and
    given once. Between chunks that neither overlap nor share a line lie lines that are in
    no chunk (headings, blank lines): a new segment starts there."""
    segments: list[_Segment] = []
    for line_start, char_start, char_end, heading, text in rows:
        current = segments[-1] if segments else None
        if current is not None and char_end <= current.covered:
            continue
        if current is not None and char_start <= current.covered:
            current.text += text[current.covered - char_start :]
        elif current is not None and line_start == current.last_line:
            current.text += " " + text  # cut inside a line: the gap is the space between words
        else:
            segments.append(_Segment(line_start, heading, text, char_end))
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
    return Passage(kept[0][0], kept[-1][0], segment.heading, "\n".join(line for _, line in kept))
