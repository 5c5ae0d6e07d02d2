"""Keywords and key phrases: TF-IDF over a collection's documents, cached per fingerprint.

Terms are words (letters only, two or more, not stopwords) and two-word phrases
(two such words side by side in one sentence). A document's weight for a term is
(1 + ln tf) · idf, with idf = ln((1 + N) / (1 + df)) + 1 over the N documents,
L2-normalised per document. The collection's keywords are what many documents
are about: the sum of each term's weight over the documents that have it among
their 10 heaviest terms, divided by the number of documents. (Summing every
weight instead favours words that are merely everywhere: "water", "time".)

Everything is computed in one pass over the chunk text and stored in
``keyword_cache`` with the collection's fingerprint (its generation); the next
call reuses it until a document is added, changed or removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analyzer.errors import DiskFullError, UsageError
from modules.core.database.db_models import utcnow
from modules.semantic_core.analysis.corpus import Corpus, fingerprint
from modules.semantic_core.analysis.languages import LANGUAGE_WORDS
from modules.semantic_core.db_models import Collection, KeywordCache
from modules.semantic_core.documents import DocumentRef
from modules.semantic_core.lexical import STOPWORDS

STORED_TERMS = 30  # per document and for the collection; --top can ask for up to this many
DEFAULT_TOP = 10
KEYWORDS_VERSION = 1  # part of the cache key: a change to how keywords are made invalidates it
RANKS_THAT_COUNT = 10  # a document votes for the collection's keywords with its top terms

# Words too common in any prose to say what a text is about (on top of STOPWORDS).
EXTRA_STOPWORDS = frozenset(
    """
    also always another around away back can cannot come comes could done either else
    enough even ever every first get gets give go goes going good got keep less let like
    made make makes many may might much must need needs never new next often one ones put
    rather really said say see seem seems since something still take takes thing things
    think three two upon us use used uses using usually want way ways well whether within
    without yet
    """.split()
)
_STOP = STOPWORDS | EXTRA_STOPWORDS | frozenset().union(*LANGUAGE_WORDS.values())
_SENTENCE_BREAK = re.compile(r"[.!?;:,()\[\]{}\"“”«»…]+|\n\s*\n")
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class Keyword:
    term: str
    score: float

    @property
    def kind(self) -> str:
        return "phrase" if " " in self.term else "word"


@dataclass
class KeywordsResult:
    collection: str
    document: DocumentRef | None  # None: the collection's keywords
    keywords: list[Keyword]
    cached: bool


@dataclass
class TermTable:
    """Term counts of many documents, one entry per (document, term) that occurs."""

    vocabulary: list[str]
    documents: np.ndarray  # the row (document position) of each entry
    terms: np.ndarray  # the vocabulary index of each entry
    counts: np.ndarray  # how often the term occurs in the document
    size: int  # number of documents



def terms(text: str) -> list[str]:
    """The words and two-word phrases of ``text``, in order, repeated as they occur."""
    found: list[str] = []
    for sentence in _SENTENCE_BREAK.split(text):
        previous = None
        for token in _TOKEN.findall(sentence):
            word = token.lower()
            if len(word) < 2 or not word.isalpha() or word in _STOP:
                previous = None
                continue
            found.append(word)
            if previous is not None:
                found.append(f"{previous} {word}")
            previous = word
    return found


def term_table(texts: Sequence[str]) -> TermTable:
    vocabulary: dict[str, int] = {}
    documents: list[int] = []
    indexes: list[int] = []
    counts: list[int] = []
    for row, text in enumerate(texts):
        for term, count in Counter(terms(text)).items():
            documents.append(row)
            indexes.append(vocabulary.setdefault(term, len(vocabulary)))
            counts.append(count)
    return TermTable(
        vocabulary=list(vocabulary),
        documents=np.asarray(documents, dtype=np.intp),
        terms=np.asarray(indexes, dtype=np.intp),
        counts=np.asarray(counts, dtype=np.float64),
        size=len(texts),
    )


def tfidf_weights(table: TermTable) -> np.ndarray:
    """Each entry's TF-IDF weight, L2-normalised per document."""
    df = np.bincount(table.terms, minlength=len(table.vocabulary))
    idf = np.log((1.0 + table.size) / (1.0 + df)) + 1.0
    weights = (1.0 + np.log(table.counts)) * idf[table.terms]
    norms = np.sqrt(np.bincount(table.documents, weights=weights**2, minlength=table.size))
    return weights / np.maximum(norms[table.documents], 1e-12)


def _ranked(table: TermTable, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries ordered by document, heaviest first (ties: first seen), and each document's start."""
    order = np.lexsort((table.terms, -weights, table.documents))
    starts = np.searchsorted(table.documents[order], np.arange(table.size + 1))
    return order, starts


def top_per_row(table: TermTable, weights: np.ndarray, top: int) -> list[list[Keyword]]:
    """The ``top`` heaviest terms of every row, heaviest first."""
    order, starts = _ranked(table, weights)
    return [
        [
            Keyword(table.vocabulary[table.terms[i]], round(float(weights[i]), 4))
            for i in order[starts[row] : min(starts[row + 1], starts[row] + top)]
        ]
        for row in range(table.size)
    ]


def collection_top(table: TermTable, weights: np.ndarray, top: int) -> list[Keyword]:
    """Terms by their summed weight over the documents that have them among their
    ``RANKS_THAT_COUNT`` heaviest terms, divided by the number of documents."""
    order, starts = _ranked(table, weights)
    rank = np.arange(len(order)) - starts[table.documents[order]]
    counted = order[rank < RANKS_THAT_COUNT]
    totals = np.bincount(
        table.terms[counted], weights=weights[counted], minlength=len(table.vocabulary)
    )
    totals /= max(table.size, 1)
    chosen = np.lexsort((np.arange(len(totals)), -totals))[:top]
    return [Keyword(table.vocabulary[i], round(float(totals[i]), 4)) for i in chosen if totals[i]]


# --- the service's part ------------------------------------------------------------------


async def find_keywords(
    corpus: Corpus, collection_name: str, reference: str | None, top: int
) -> KeywordsResult:
    if not 1 <= top <= STORED_TERMS:
        raise UsageError(f"--top must be between 1 and {STORED_TERMS}, got {top}")
    collection = await corpus.collection(collection_name)
    document = await corpus.resolve(collection, reference) if reference else None
    data, cached = await keyword_data(corpus, collection)
    if document is None:
        stored = data["collection"]
    else:
        stored = data["documents"].get(str(document.id), [])
    keywords = [Keyword(term, score) for term, score in stored[:top]]
    return KeywordsResult(collection.name, document, keywords, cached)


async def keyword_data(corpus: Corpus, collection: Collection) -> tuple[dict[str, Any], bool]:
    """The cached keywords of a collection and its documents; recomputed when stale."""
    kept = corpus.kept("keywords", collection)
    if kept is not None:
        return kept, True
    labelled = f"v{KEYWORDS_VERSION}:{fingerprint(collection)}"
    cache = await corpus.crud.find(KeywordCache, {"collection_id": collection.id})
    if cache is not None and cache.fingerprint == labelled:
        return corpus.keep("keywords", collection, cache.keywords), True
    data = await _compute(corpus, collection)
    row = {
        "collection_id": collection.id,
        "fingerprint": labelled,
        "keywords": data,
        "computed_at": utcnow(),
    }
    if corpus.crud.writable(KeywordCache):
        # A full disk costs the cache, not the answer.
        with contextlib.suppress(DiskFullError):
            await corpus.crud.bulk_upsert(KeywordCache, [row], conflict_columns=["collection_id"])
    return corpus.keep("keywords", collection, data), False


async def _compute(corpus: Corpus, collection: Collection) -> dict[str, Any]:
    documents = await corpus.documents(collection.id)
    texts = await corpus.texts(collection.id)
    titled = [titled_text(doc.title, texts.get(doc.id, "")) for doc in documents]
    # The arithmetic runs in a worker thread: a resident server keeps answering others.
    return await asyncio.to_thread(_keyword_table, documents, titled)


def _keyword_table(documents: list[DocumentRef], titled: list[str]) -> dict[str, Any]:
    table = term_table(titled)
    weights = tfidf_weights(table)
    per_row = top_per_row(table, weights, STORED_TERMS)
    return {
        "collection": [[k.term, k.score] for k in collection_top(table, weights, STORED_TERMS)],
        "documents": {
            str(doc.id): [[k.term, k.score] for k in row]
            for doc, row in zip(documents, per_row, strict=True)
        },
    }


def titled_text(title: str, text: str) -> str:
    """A document's text with its title first (a file's title heading is not chunk text)."""
    if not title or text.lstrip().startswith(title):
        return text
    return f"{title}\n\n{text}"
