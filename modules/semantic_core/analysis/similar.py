"""Documents similar to a document: cosine of the stored document vectors.

A document's vector is the normalised mean of its chunks' vectors (written at
ingest), so the score is the cosine of two such means, 1.0 for the same content.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzer.errors import UsageError
from modules.semantic_core.analysis.corpus import Corpus
from modules.semantic_core.db_models import Collection
from modules.semantic_core.documents import DocumentRef

DEFAULT_TOP_K = 10


@dataclass(frozen=True)
class SimilarHit:
    rank: int
    score: float
    document: DocumentRef


@dataclass
class SimilarResult:
    collection: str
    document: DocumentRef
    hits: list[SimilarHit]


async def find_similar(
    corpus: Corpus, collection_name: str, reference: str, top_k: int
) -> SimilarResult:
    if top_k < 1:
        raise UsageError(f"--top-k must be at least 1, got {top_k}")
    collection = await corpus.collection(collection_name)
    document = await corpus.resolve(collection, reference)
    hits = await similar_to(corpus, collection, document, top_k)
    return SimilarResult(collection.name, document, hits)


async def similar_to(
    corpus: Corpus, collection: Collection, document: DocumentRef, top_k: int
) -> list[SimilarHit]:
    ids, matrix = await corpus.vectors(collection)
    position = np.flatnonzero(ids == document.id)
    if len(position) == 0:
        return []  # a document without text has no vector
    scores = matrix @ matrix[position[0]]
    scores[position[0]] = -np.inf
    count = min(top_k, len(ids) - 1)
    if count <= 0:
        return []
    top = np.argpartition(-scores, count - 1)[:count]
    top = top[np.lexsort((ids[top], -scores[top]))]
    refs = await corpus.refs([int(ids[i]) for i in top])
    return [
        SimilarHit(rank, round(float(min(scores[i], 1.0)), 4), refs[int(ids[i])])
        for rank, i in enumerate(top, start=1)
    ]
