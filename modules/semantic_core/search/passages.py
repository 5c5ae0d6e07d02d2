"""The passage of a chunk that the re-ranker reads.

The transformer's cost grows with every token it reads, so a passage is cut to
a budget. A plain cut keeps the start of the chunk; a focused cut keeps the
heading plus the run of whole sentences (or lines), within the budget, that
holds the most query terms, so the words that made BM25 pick the chunk are the
ones the re-ranker sees.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from modules.semantic_core.embeddings.inputs import join_passage, passage_body
from modules.semantic_core.lexical import cjk_characters, estimate_tokens, term_matcher

# Units of a window: sentences, and lines (lists, tables and hard-wrapped text
# have no sentence punctuation). CJK full stops need no space after them.
_UNIT_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|(?<=[。！？])|\s*\n\s*")
# WordPiece splits a word-and-punctuation estimate into about 1.25 pieces on
# English prose, and every CJK character into a piece of its own.
_PIECES_PER_TOKEN = 1.25
SPECIAL_TOKENS = 2  # [CLS] and [SEP]


def focused_passage(heading: str, text: str, terms: Sequence[str], budget: int) -> str:
    """Heading plus the best window of whole units of ``text`` within ``budget``
    model tokens; the whole chunk when it fits."""
    body = passage_body(heading, text)
    matcher = term_matcher(terms)
    if matcher is None or pieces(join_passage(heading, body)) + SPECIAL_TOKENS <= budget:
        return join_passage(heading, body)
    heading = _fitting_heading(heading, budget // 2)
    units = [u.strip() for u in _UNIT_END.split(body) if u.strip()]
    if len(units) < 2:
        return join_passage(heading, body)
    room = budget - SPECIAL_TOKENS - pieces(heading)
    hits = [len(matcher.findall(u)) for u in units]
    start, end = best_window([pieces(u) for u in units], hits, room)
    return join_passage(heading, " ".join(units[start:end]))


def pieces(text: str) -> int:
    """Estimated model tokens of ``text``."""
    return int(estimate_tokens(text) * _PIECES_PER_TOKEN) + cjk_characters(text)


def _fitting_heading(heading: str, room: int) -> str:
    """The heading path, else its last part, else nothing: the body must get room."""
    if pieces(heading) <= room:
        return heading
    last = heading.rsplit(" > ", 1)[-1]
    return last if pieces(last) <= room else ""


def best_window(sizes: list[int], hits: list[int], room: int) -> tuple[int, int]:
    """The run of units that fits ``room`` with the most hits (earliest on ties).
    A lone unit over the budget still forms a window: the encoder truncates it."""
    best, best_hits = (0, 1), -1
    end, used, found = 0, 0, 0
    for start in range(len(sizes)):
        if end < start + 1:
            end, used, found = start + 1, sizes[start], hits[start]
        while end < len(sizes) and used + sizes[end] <= room:
            used += sizes[end]
            found += hits[end]
            end += 1
        if found > best_hits:
            best, best_hits = (start, end), found
        used -= sizes[start]
        found -= hits[start]
    return best
