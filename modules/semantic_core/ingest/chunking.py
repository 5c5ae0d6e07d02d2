"""Chunking along a document's structure, with a token budget and overlap.

The text is cut into units: paragraphs, or sentences of a paragraph that is over
budget, or word windows of a sentence that is still over budget. Units are packed
into chunks up to the budget. A heading starts a new chunk (unless the current one
is still tiny), so most chunks sit inside one section and carry its heading path.
When a chunk is closed only because it is full, the next one repeats its last
units up to the overlap, so a sentence cut at a boundary is found from both sides.

Budget: 200 tokens by the estimate below, about 250 WordPiece tokens, so a chunk
fits the 256-token window of the bundled MiniLM models without truncation.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from modules.semantic_core import linemap
from modules.semantic_core.ingest.extract import NO_DEADLINE, Deadline, Extracted, Heading
from modules.semantic_core.lexical import estimate_tokens, tokens_up_to

CHUNK_TOKENS = 200
OVERLAP_TOKENS = 32
MIN_SECTION_TOKENS = 50

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"')\]]*\s+")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class ChunkPiece:
    ordinal: int
    text: str
    heading: str
    char_start: int
    char_end: int
    line_start: int  # 1-based, inclusive, in the extracted text
    line_end: int
    token_count: int
    source_line: int | None = None  # 1-based, in the file on disk; None: not a text file
    page: int | None = None  # 1-based, for formats with pages
    line_map: bytes | None = None  # see ``linemap``: set when text lines are not file lines


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    tokens: int
    section: int
    heading: str


CHECK_EVERY_UNITS = 1024  # units cut between two looks at the deadline


def chunk_document(
    extracted: Extracted,
    budget: int = CHUNK_TOKENS,
    overlap: int = OVERLAP_TOKENS,
    deadline: Deadline = NO_DEADLINE,
) -> list[ChunkPiece]:
    text = extracted.text
    units = []
    for unit in _units(text, extracted.headings, budget):
        units.append(unit)
        if len(units) % CHECK_EVERY_UNITS == 0:
            deadline.check()
    line_starts = _line_starts(text)
    return [
        _located(_piece(ordinal, text, group, line_starts), extracted)
        for ordinal, group in enumerate(_pack(units, budget, overlap))
    ]


def _located(piece: ChunkPiece, extracted: Extracted) -> ChunkPiece:
    """Where the chunk starts in the file: its source line, or its page."""
    index = piece.line_start - 1
    if extracted.page_lines:
        page = bisect.bisect_right(extracted.page_lines, index)
        return replace(piece, source_line=None, page=max(1, page))
    source = extracted.source_lines
    if source is None:
        return replace(piece, source_line=piece.line_start)
    last = len(source) - 1
    lines = [source[min(i, last)] for i in range(index, piece.line_end)]
    return replace(piece, source_line=lines[0], line_map=linemap.pack(lines, lines[0]))


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer("\n", text)]


def _piece(ordinal: int, text: str, group: list[_Unit], line_starts: list[int]) -> ChunkPiece:
    start, end = group[0].start, group[-1].end
    return ChunkPiece(
        ordinal=ordinal,
        text=text[start:end],
        heading=group[0].heading,
        char_start=start,
        char_end=end,
        line_start=bisect.bisect_right(line_starts, start),
        line_end=bisect.bisect_right(line_starts, max(start, end - 1)),
        token_count=sum(u.tokens for u in _without_repeats(group)),
    )


def _without_repeats(group: list[_Unit]) -> list[_Unit]:
    seen: set[tuple[int, int]] = set()
    unique = []
    for unit in group:
        if (unit.start, unit.end) not in seen:
            seen.add((unit.start, unit.end))
            unique.append(unit)
    return unique


def _pack(units: list[_Unit], budget: int, overlap: int) -> list[list[_Unit]]:
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = 0
    for unit in units:
        new_section = bool(current) and unit.section != current[-1].section
        full = size + unit.tokens > budget
        if current and (full or (new_section and size >= MIN_SECTION_TOKENS)):
            groups.append(current)
            carried = [] if new_section else _tail(current, overlap, budget - unit.tokens)
            current, size = carried, sum(u.tokens for u in carried)
        current.append(unit)
        size += unit.tokens
    if current:
        groups.append(current)
    return groups


def _tail(group: list[_Unit], overlap: int, room: int) -> list[_Unit]:
    """The last units of ``group`` that fit in the overlap (and leave room for the next)."""
    limit = min(overlap, room)
    tail: list[_Unit] = []
    size = 0
    for unit in reversed(group[1:]):  # never carry the whole group
        if size + unit.tokens > limit:
            break
        tail.insert(0, unit)
        size += unit.tokens
    return tail


def _units(text: str, headings: tuple[Heading, ...], budget: int):  # noqa: ANN202
    """Content units in order, each tagged with its section and heading path."""
    heading_at = {h.line: h for h in headings}
    skip_lines = _heading_lines(text, headings)
    path: list[tuple[int, str]] = []
    section = 0
    for start, end, first_line in _blocks(text, set(heading_at) | skip_lines):
        heading = heading_at.get(first_line)
        if heading is not None:
            path = [p for p in path if p[0] < heading.level] + [(heading.level, heading.title)]
            section += 1
            continue
        if first_line in skip_lines:
            continue
        label = " > ".join(title for _, title in path)
        tokens = tokens_up_to(text, start, end, budget + 1)
        if tokens <= budget:
            yield _Unit(start, end, tokens, section, label)
            continue
        for piece_start, piece_end, tokens in _split_to_budget(text, start, end, budget):
            if tokens:
                yield _Unit(piece_start, piece_end, tokens, section, label)


def _heading_lines(text: str, headings: tuple[Heading, ...]) -> set[int]:
    """Underline (and overline) rows of headings: structure, not content."""
    lines = text.split("\n")
    rows = {h.line + extra for h in headings for extra in range(1, h.lines)}
    for h in headings:
        for neighbour in (h.line - 1, h.line + 1):
            if 0 <= neighbour < len(lines) and re.fullmatch(
                r"\s*([=\-~^\"'`#*+<>:._])\1{2,}\s*", lines[neighbour]
            ):
                rows.add(neighbour)
    return rows


def _blocks(text: str, alone: set[int]):  # noqa: ANN202
    """(start, end, first line) of each run of non-blank lines. Lines in ``alone`` (headings
    and their underlines) stand alone, so the text right below a heading, with no blank
    line between them, is its own block and not taken for part of the heading."""
    offset = 0
    start = None
    first_line = end = 0
    for number, line in enumerate(text.split("\n")):
        line_end = offset + len(line)
        if number in alone and start is not None:
            yield start, end, first_line
            start = None
        if line.strip():
            if start is None:
                start, first_line = offset + (len(line) - len(line.lstrip())), number
            end = line_end
            if number in alone:
                yield start, end, first_line
                start = None
        elif start is not None:
            yield start, end, first_line
            start = None
        offset = line_end + 1
    if start is not None:
        yield start, end, first_line


def _split_to_budget(
    text: str, start: int, end: int, budget: int
) -> Iterator[tuple[int, int, int]]:
    """(start, end, tokens) of the sentences of an over-budget block, and of word windows
    of an over-budget sentence; each piece counted once.

    Generators all the way: memory stays with the pieces, not with the block's words.
    """
    for s_start, s_end in _sentences(text, start, end):
        tokens = tokens_up_to(text, s_start, s_end, budget + 1)
        if tokens <= budget:
            yield s_start, s_end, tokens
            continue
        for w_start, w_end in _word_windows(text, s_start, s_end, budget):
            yield w_start, w_end, estimate_tokens(text[w_start:w_end])


def _sentences(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        sentence_end = match.start() + len(match.group(0).rstrip())
        if sentence_end > cursor:
            yield cursor, sentence_end
        cursor = match.end()
    if cursor < end:
        yield cursor, end


def _word_windows(text: str, start: int, end: int, budget: int) -> Iterator[tuple[int, int]]:
    step = max(1, budget // 2)  # a "word" may hold several tokens; stay well inside
    first = last = None
    count = 0
    for match in _WORD.finditer(text, start, end):
        if first is None:
            first = match.start()
        last = match.end()
        count += 1
        if count == step:
            yield first, last
            first, count = None, 0
    if first is not None and last is not None:
        yield first, last
