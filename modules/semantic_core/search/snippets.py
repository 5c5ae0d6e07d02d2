"""Snippets: the window of a chunk shown under a hit, with the query terms marked."""

from __future__ import annotations

import re
from collections.abc import Sequence

from modules.semantic_core.lexical import term_matcher

SNIPPET_CHARS = 240


def make_snippet(text: str, terms: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """A window of ``text`` around the query terms, and the spans of the terms in it.

    Terms match as ``lexical.term_matcher`` says (by prefix, as the index stems words).
    """
    flat = re.sub(r"\s+", " ", text).strip()
    matcher = term_matcher(terms)
    spans = [m.span() for m in matcher.finditer(flat)] if matcher else []
    start = _best_window(spans, len(flat))
    end = min(len(flat), start + SNIPPET_CHARS)
    window = flat[start:end]
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(flat) else ""
    shift = len(prefix) - start
    highlights = [(s + shift, e + shift) for s, e in spans if s >= start and e <= end]
    return prefix + window + suffix, highlights


def _best_window(spans: list[tuple[int, int]], length: int) -> int:
    if not spans or length <= SNIPPET_CHARS:
        return 0
    best_start, best_count = 0, -1
    for s, _ in spans:
        start = max(0, s - SNIPPET_CHARS // 4)
        count = sum(1 for a, b in spans if a >= start and b <= start + SNIPPET_CHARS)
        if count > best_count:
            best_start, best_count = start, count
    return min(best_start, max(0, length - SNIPPET_CHARS))


def best_line(text: str, terms: Sequence[str]) -> int:
    """The 0-based line of ``text`` with the most query terms (the first of equals): where
    a hit's ``path:line`` points inside a chunk of several lines."""
    matcher = term_matcher(terms)
    if matcher is None:
        return 0
    counts = [len(matcher.findall(line)) for line in text.split("\n")]
    best = max(counts, default=0)
    return counts.index(best) if best else 0
