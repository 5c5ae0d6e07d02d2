"""Candidate lists and how hybrid search mixes its signals.

Each first-stage signal (BM25, static vectors) gives an ordered list of chunks;
candidates are grouped per document (its best chunk, plus a few of its other
matching chunks for the re-ranker's second look) unless the caller asks for
chunks. The re-ranker's cosine and BM25 are each min-max scaled over the head
and mixed convexly: ``share * bm25 + (1 - share) * cosine``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    # chunks, for this many of the top documents, and the chunk with the best mix of
    # the two scores becomes the document's.
    # Static vectors fill the candidates up to the re-rank depth when BM25's chunks come
    # from fewer documents (False: only when BM25 ran out of matches).
    fill_to_depth: bool = True
    second_look_documents: int = 10
    second_look_chunks: int = 1
    # Where a hit points: for this many of the top documents, the re-ranker also reads
    # line windows (``windows``), one every ``locate_stride`` tokens, of up to this many
    # of their matching chunks, and the hit points where the best window starts.
    locate_documents: int = 1
    locate_chunks: int = 3
    locate_stride: int = 32
    # ... and this many more of their chunks nearest the question by the static vectors,
    # which find the chunks that answer in other words than the question's.
    locate_static_chunks: int = 2
    # A window's score is this share of its chunk's BM25 plus the rest of its cosine,
    # each min-max scaled over the document's windows.
    locate_keyword_share: float = 0.0
    # When BM25's best chunk of a document outscores its next by this factor, the words of
    # the question gather there and the hit stays in the chunk the ranking chose.
    locate_keyword_gap: float = 1.4


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
    # The document's next matching chunks, with this signal's score of each.
    others: list[tuple[int, float]] = field(default_factory=list)
    # Documents ranked below this one that hold the same content (see ``copies``).
    copies: list[int] = field(default_factory=list)
    line: int | None = None  # where in its chunk's text the hit points, once located


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
            found.others.append((chunk_id, score))
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


def mixed(
    head: list[Candidate],
    similarity: np.ndarray,
    share: float,
    second_look: Mapping[int, float] | None = None,
) -> None:
    """Score the re-ranked head: min-max BM25 and cosine over the head, mixed convexly,
    and rank it by cosine. A candidate whose other chunks were read too (``second_look``:
    chunk id -> cosine) takes the chunk with the best mix, on the same scales."""
    import numpy as np

    keyword = np.array(
        [c.signals["keyword"].score if "keyword" in c.signals else np.nan for c in head]
    )
    second_look = second_look or {}
    # Scales fitted on every chunk read, so one document's chunks compare even when the
    # head holds a single document.
    looked = [(bm25, second_look[i]) for c in head for i, bm25 in c.others if i in second_look]
    keyword_scale = scaler(np.concatenate([keyword, [bm25 for bm25, _ in looked]]))
    cosine_scale = scaler(np.concatenate([similarity, [cosine for _, cosine in looked]]))

    def mix(bm25: float, cosine: float) -> float:
        return share * keyword_scale(bm25) + (1 - share) * cosine_scale(cosine)

    cosines = np.asarray(similarity, dtype=np.float64).copy()
    for index, candidate in enumerate(head):
        candidate.score = mix(keyword[index], cosines[index])
        for chunk_id, bm25 in candidate.others:
            cosine = second_look.get(chunk_id)
            if cosine is not None and (score := mix(bm25, cosine)) > candidate.score:
                candidate.chunk_id, candidate.score, cosines[index] = chunk_id, score, cosine
    for position, index in enumerate(np.argsort(-cosines, kind="stable"), start=1):
        head[index].signals["rerank"] = Signal(position, float(cosines[index]))


def best_window(bm25: list[float], cosines: list[float], share: float) -> int:
    """Which of one document's windows is best: ``share`` of its chunk's BM25 (nan: a
    chunk BM25 did not find, scaled as the lowest) plus the rest of its cosine, each
    min-max scaled over the document's windows. The first of equals."""
    import numpy as np

    keyword, cosine = np.asarray(bm25, dtype=np.float64), np.asarray(cosines, dtype=np.float64)
    keyword_scale, cosine_scale = scaler(keyword), scaler(cosine)
    scores = [
        share * keyword_scale(k) + (1 - share) * cosine_scale(c)
        for k, c in zip(keyword, cosine, strict=True)
    ]
    return int(np.argmax(scores))


def scaler(values: np.ndarray) -> Callable[[float], float]:
    """Min-max scaling fitted on the finite ``values``: the lowest maps to 0, the highest
    to 1 (values outside the range go beyond them); missing (nan) and constant values
    map to 0."""
    import numpy as np

    finite = values[np.isfinite(values)]
    low = float(finite.min()) if finite.size else 0.0
    span = float(finite.max()) - low if finite.size else 0.0

    def scale(value: float) -> float:
        return (float(value) - low) / span if span > 0 and np.isfinite(value) else 0.0

    return scale


def evict_oldest(cache: dict[Any, Any], capacity: int) -> None:
    """Keep the ``capacity`` newest entries (dicts remember insertion order)."""
    overflow = len(cache) - capacity
    if overflow > 0:
        for key in list(islice(cache, overflow)):
            del cache[key]
