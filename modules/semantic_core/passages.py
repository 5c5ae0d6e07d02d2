"""The passage of a chunk that the re-ranker reads.

The transformer's cost grows with every token it reads, so a passage is cut to
a budget. A plain cut keeps the start of the chunk; a focused cut keeps the
heading plus the run of whole sentences, within the budget, that holds the most
query terms, so the words that made BM25 pick the chunk are the ones the
re-ranker sees.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from modules.semantic_core.chunking import estimate_tokens

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"')\]]*\s+")
# WordPiece splits a word-and-punctuation estimate into about 1.25 pieces on
# English prose; the passage budget is counted in model tokens.
_PIECES_PER_TOKEN = 1.25


def passage(heading: str, text: str) -> str:
    return f"{heading}\n{text}" if heading else text


def focused_passage(heading: str, text: str, terms: Sequence[str], budget: int) -> str:
    """Heading plus the best window of whole sentences of ``text`` within ``budget``
    model tokens; the whole chunk when it fits."""
    whole = passage(heading, text)
    if _pieces(whole) <= budget or not terms:
        return whole
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    room = budget - _pieces(heading) - 2  # [CLS] and [SEP]
    if len(sentences) < 2 or room <= 0:
        return whole
    sizes = [_pieces(s) for s in sentences]
    matcher = _term_matcher(terms)
    hits = [len(matcher.findall(s)) for s in sentences]
    start, end = _best_window(sizes, hits, room)
    return passage(heading, " ".join(sentences[start:end]))


def _pieces(text: str) -> int:
    return int(estimate_tokens(text) * _PIECES_PER_TOKEN)


def _term_matcher(terms: Sequence[str]) -> re.Pattern[str]:
    # Prefixes: the index stems words, so "cells" should count in "cell".
    stems = sorted({re.escape(t[: max(4, len(t) - 2)]) for t in terms if t}, key=len)
    return re.compile(r"\b(?:" + "|".join(reversed(stems)) + r")", re.IGNORECASE)


def _best_window(sizes: list[int], hits: list[int], room: int) -> tuple[int, int]:
    """The run of sentences that fits ``room`` with the most hits (earliest on ties).
    A lone sentence over the budget still forms a window: the encoder truncates it."""
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
