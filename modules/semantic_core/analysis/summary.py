"""One document at a glance: statistics, language and an extractive summary.

Summary: the document's sentences as TF-IDF vectors (idf over its own sentences,
L2-normalised); a sentence's centrality is the sum of its cosine to every other
sentence, which is its dot product with the sum of all vectors, so no sentence x
sentence matrix is built. The most central sentences are returned in the order
they appear.
"""

from __future__ import annotations

import re

import numpy as np

from modules.semantic_core.analysis.keywords import term_table, tfidf_weights
from modules.semantic_core.analysis.languages import detect_language

__all__ = ["central_sentences", "detect_language", "sentences", "word_count"]

SUMMARY_SENTENCES = 3
MIN_SENTENCE_WORDS = 6
MAX_SENTENCE_WORDS = 80
_WORD = re.compile(r"\w+")
_PARAGRAPH = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*+•]|\d+[.)])\s)")  # blank lines, list items
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_EMPHASIS = re.compile(r"\*\*|__|`")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]»”]*\s+")


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def sentences(text: str) -> list[str]:
    """Sentences of prose (headings, list items and fragments of a few words left out)."""
    found = []
    for paragraph in _PARAGRAPH.split(text):
        flat = " ".join(_EMPHASIS.sub("", _LIST_ITEM.sub("", paragraph)).split())
        for sentence in _SENTENCE_END.split(flat):
            if MIN_SENTENCE_WORDS <= word_count(sentence) <= MAX_SENTENCE_WORDS:
                found.append(sentence.strip())
    return found


def central_sentences(text: str, count: int = SUMMARY_SENTENCES) -> list[str]:
    """The ``count`` most central sentences of ``text``, in document order."""
    candidates = sentences(text)
    if len(candidates) <= count:
        return candidates
    table = term_table(candidates)
    weights = tfidf_weights(table)
    total = np.bincount(table.terms, weights=weights, minlength=len(table.vocabulary))
    centrality = np.bincount(
        table.documents, weights=weights * total[table.terms], minlength=table.size
    )
    chosen = np.lexsort((np.arange(table.size), -centrality))[:count]
    return [candidates[i] for i in sorted(chosen)]
