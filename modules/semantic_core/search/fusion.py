"""Candidate lists and how hybrid search mixes its signals.

Each first-stage signal (BM25, static vectors) gives an ordered list of chunks;
candidates are grouped per document (its best chunk, plus a few of its other
matching chunks for the re-ranker's second look) unless the caller asks for
chunks. The re-ranker's cosine and BM25 are each min-max scaled over the head
and mixed convexly: ``share * bm25 + (1 - share) * cosine``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class FusionSettings:
    """Every knob of hybrid retrieval, with the values tuned on SciFact train."""

    candidates: int = 100  # documents (or chunks) each first-stage signal contributes
    rerank_depth: int = 40  # candidates the transformer re-scores
    keyword_share: float = 0.4  # alpha: BM25's share of the final score, 1 - alpha is cosine
    rerank_max_tokens: int = 64  # model tokens of each passage, heading included
    rerank_focus: bool = True  # cut passages around the query terms, not at their start
    # A long document matches in several chunks, and BM25's best is not always the one
    # that answers: the re-ranker also reads up to this many of its other matching
    # chunks, for this many of the top documents, and the closest one is shown.
    second_look_documents: int = 10
    second_look_chunks: int = 2


DEFAULT_FUSION = FusionSettings()


@dataclass(frozen=True)
class Signal:
    rank: int
    score: float


@dataclass
class Candidate:
    """One key (document or chunk id) and what each signal said about it."""

    key: int
    chunk_id: int
    signals: dict[str, Signal] = field(default_factory=dict)
    score: float = 0.0  # what orders the results
    others: list[int] = field(default_factory=list)  # the document's next matching chunks


def grouped(
    name: str, hits: list[tuple[int, int, float]], per_chunk: bool, others: int = 0
) -> list[Candidate]:
    """One signal's order, grouped per document (its best chunk, and up to ``others``
    of its next chunks in order) unless per chunk."""
    out: dict[int, Candidate] = {}
    for chunk_id, document_id, score in hits:
        key = chunk_id if per_chunk else document_id
        found = out.get(key)
        if found is None:
            out[key] = Candidate(key, chunk_id, {name: Signal(len(out) + 1, score)}, score)
        elif len(found.others) < others:
            found.others.append(chunk_id)
    return list(out.values())


def appended(first: list[Candidate], more: list[Candidate]) -> list[Candidate]:
    """``first`` in its order, then what only ``more`` found (scored below all of ``first``)."""
    seen = {c.key: c for c in first}
    floor = min((c.score for c in first), default=0.0)
    extra = []
    for candidate in more:
        if candidate.key in seen:
            seen[candidate.key].signals.update(candidate.signals)
            continue
        candidate.score = floor - 1.0 - len(extra) if first else candidate.score
        extra.append(candidate)
    return first + extra


def mixed(head: list[Candidate], similarity: np.ndarray, share: float) -> None:
    """Score the re-ranked head: rank by cosine, then mix min-max BM25 and cosine."""
    import numpy as np

    for position, index in enumerate(np.argsort(-similarity, kind="stable"), start=1):
        head[index].signals["rerank"] = Signal(position, float(similarity[index]))
    keyword = np.array(
        [c.signals["keyword"].score if "keyword" in c.signals else np.nan for c in head]
    )
    scores = share * min_max(keyword) + (1 - share) * min_max(similarity)
    for candidate, score in zip(head, scores, strict=True):
        candidate.score = float(score)


def min_max(values: np.ndarray) -> np.ndarray:
    """Scale to 0..1 over the finite values; missing (nan) and constant values become 0."""
    import numpy as np

    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros_like(values, dtype=np.float64)
    low, high = values[finite].min(), values[finite].max()
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return np.where(finite, scaled, 0.0)


def evict_oldest(cache: dict[Any, Any], capacity: int) -> None:
    """Keep the ``capacity`` newest entries (dicts remember insertion order)."""
    overflow = len(cache) - capacity
    if overflow > 0:
        for key in list(islice(cache, overflow)):
            del cache[key]
