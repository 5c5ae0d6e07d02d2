"""AnalysisService: similar documents, duplicates, keywords, topics and one document's profile.

Each method is one command's work and returns a dataclass; nothing prints. The
computations live in their own modules (``similar``, ``duplicates``, ``keywords``,
``topics``, ``summary``); documents are read, and results stored, only through
the CRUD service (``corpus.Corpus``).
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from modules.core.database.crud_service import CRUDService
from modules.semantic_core.analysis.corpus import Corpus
from modules.semantic_core.analysis.duplicates import (
    DEFAULT_THRESHOLD,
    DuplicatesReport,
    StoredDuplicates,
    find_duplicates,
    stored_duplicates,
)
from modules.semantic_core.analysis.keywords import (
    DEFAULT_TOP,
    Keyword,
    KeywordsResult,
    find_keywords,
    keywords_of,
)
from modules.semantic_core.analysis.lines import ALL_LINES, DocumentLines, document_lines
from modules.semantic_core.analysis.similar import (
    DEFAULT_TOP_K,
    SimilarHit,
    SimilarResult,
    find_similar,
    similar_to,
)
from modules.semantic_core.analysis.summary import (
    central_sentences,
    detect_language,
    sentences,
    word_count,
)
from modules.semantic_core.analysis.topics import TopicsResult, find_topics
from modules.semantic_core.collections import DEFAULT_COLLECTION
from modules.semantic_core.db_models import Chunk, Document
from modules.semantic_core.documents import DocumentRef

SHOW_KEYWORDS = 10
SHOW_SIMILAR = 5


@dataclass(frozen=True)
class DocumentStatistics:
    characters: int
    words: int
    chunks: int
    sentences: int
    language: str


@dataclass
class DocumentProfile:
    """Everything ``analyzer show`` says about one document."""

    collection: str
    document: DocumentRef
    format: str
    size_bytes: int
    metadata: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    statistics: DocumentStatistics
    keywords: list[Keyword]
    summary: list[str]
    duplicates: StoredDuplicates | None  # None: no duplicate scan has run yet
    similar: list[SimilarHit]


class AnalysisService:
    """Each method reads one snapshot of the collection: a write committed by another
    process while it runs is seen by the next call, never half by this one."""

    def __init__(self, crud: CRUDService) -> None:
        self._corpus = Corpus(crud)

    def _snapshot(self) -> AbstractAsyncContextManager[Any]:
        return self._corpus.crud.snapshot(Document)

    async def similar(
        self, document: str, collection: str = DEFAULT_COLLECTION, top_k: int = DEFAULT_TOP_K
    ) -> SimilarResult:
        async with self._snapshot():
            return await find_similar(self._corpus, collection, document, top_k)

    async def duplicates(
        self, collection: str = DEFAULT_COLLECTION, threshold: float = DEFAULT_THRESHOLD
    ) -> DuplicatesReport:
        async with self._snapshot():
            return await find_duplicates(self._corpus, collection, threshold)

    async def keywords(
        self,
        document: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        top: int = DEFAULT_TOP,
    ) -> KeywordsResult:
        async with self._snapshot():
            return await find_keywords(self._corpus, collection, document, top)

    async def lines(
        self,
        document: str,
        first: int = 1,
        last: int = ALL_LINES,
        collection: str = DEFAULT_COLLECTION,
        page: int | None = None,
    ) -> DocumentLines:
        """A document's text, or lines ``first`` to ``last`` of it (the numbers of its
        ``path:line``), or page ``page``, as its chunks hold them."""
        async with self._snapshot():
            return await document_lines(self._corpus, collection, document, first, last, page)

    async def topics(
        self, collection: str = DEFAULT_COLLECTION, k: int | None = None
    ) -> TopicsResult:
        async with self._snapshot():
            return await find_topics(self._corpus, collection, k)

    async def show(self, document: str, collection: str = DEFAULT_COLLECTION) -> DocumentProfile:
        async with self._snapshot():
            return await self._profile(document, collection)

    async def _profile(self, document: str, collection: str) -> DocumentProfile:
        corpus = self._corpus
        found = await corpus.collection(collection)
        ref = await corpus.resolve(found, document)
        row = await corpus.crud.get(Document, ref.id)
        text = (await corpus.texts(found.id, [ref.id])).get(ref.id, "")
        # From the document's own text and the kept document frequencies: the first
        # show after a change reads this document, not the collection.
        keywords, _ = await keywords_of(corpus, found, ref, text, SHOW_KEYWORDS)
        return DocumentProfile(
            collection=found.name,
            document=ref,
            format=row.format,
            size_bytes=row.size_bytes,
            metadata=dict(row.meta or {}),
            created_at=row.created_at,
            updated_at=row.updated_at,
            statistics=await self._statistics(row, text),
            keywords=keywords,
            summary=central_sentences(text),
            duplicates=await stored_duplicates(corpus, found, ref.id),
            similar=await similar_to(corpus, found, ref, SHOW_SIMILAR),
        )

    async def _statistics(self, row: Document, text: str) -> DocumentStatistics:
        chunks = await self._corpus.crud.count(Chunk, filters={"document_id": row.id})
        return DocumentStatistics(
            characters=row.char_count,
            words=word_count(text),
            chunks=chunks,
            sentences=len(sentences(text)),
            language=detect_language(text),
        )
