"""Keywords and key phrases: TF-IDF over a collection's documents, cached per fingerprint.

Terms are words (letters only, two or more, not stopwords) and two-word phrases
(two such words side by side in one sentence). A document's weight for a term is
(1 + ln tf) · idf, with idf = ln((1 + N) / (1 + df)) + 1 over the N documents,
L2-normalised per document.

The collection's keywords are what many documents are about, in every part of the
collection. Within a group of documents, a term scores the sum of its weight over
the group's documents that have it among their 10 heaviest terms, divided by the
group's size. (Summing every weight instead favours words that are merely
everywhere: "water", "time".) Scored over the whole collection at once, the largest
part wins: on 981 manuals, 363 of them Python's, no Python term made the top list.
So the groups are the collection's topics (``topics.document_groups``: the same
automatic k as ``analyzer topics``, on the document vectors, which folders or
formats cannot give for records or one flat folder), and the list interleaves them:
round after round, each group (largest first) adds its best term not yet listed,
and a round is ordered by score. A term's score is its mean over the groups, each
group weighing the same whatever its size. A collection too small for topics is one
group, and the list is then the plain ranking by score.

Nothing here reads the whole collection. The collection's keywords, and the
document frequencies (df) every document is weighed with, are counted on a sample of
at most ``SAMPLE_DOCUMENTS`` documents, the ones whose id hashes lowest
(``sample_ids``): a change moves the sample by the documents added or removed. The
list is counted on the first ``LIST_DOCUMENTS`` of the sample by hash, its topic
groups found on their vectors, and each group weighs the same in
the list whatever its size, so a small part of the collection still has its say
(``bench/topics.py``, "keywords sampled"). Both are stored in ``keyword_cache`` with
the collection's fingerprint (its generation).

A document's keywords are computed when asked, from its own text and the stored df
(``Frequencies``); with a complete df (a collection no larger than the sample) they
are exactly those of a TF-IDF table of the whole collection. After a change the
stored df keeps serving while the collection's size stays within ``DRIFT`` of the
size it was counted at: the first ``show``, ``keywords DOC`` or MCP ``get_document``
after a change reads that one document, never the collection. A df a few documents
old barely moves one document's idf, and a sampled df is an estimate anyway.
Measured on 10,000 generated documents (each the sentences of three SciFact
abstracts), 500 probed: with the df counted on 2,000 of them, a document's top 10
shares 91% of its terms with the complete df's, and the first keyword is the same
for 81% (1,000: 88% / 72%; 4,000: 94% / 87%); what moves are rare terms a sample
cannot tell apart. A complete df counted before the last 10% of the documents came
keeps 98.6% (96.6%). On 30,000 such documents (a loaded two-core machine) the
first ``show`` after a change took 0.9 s instead of 104 s, the collection's
keywords 12 s instead of 115 s, and memory 0.3 GB instead of 1.6 GB.
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
from modules.semantic_core.db_models import Collection, Document, KeywordCache
from modules.semantic_core.documents import DocumentRef
from modules.semantic_core.lexical import STOPWORDS

STORED_TERMS = 30  # per document and for the collection; --top can ask for up to this many
DEFAULT_TOP = 10
KEYWORDS_VERSION = 3  # part of the cache key: a change to how keywords are made invalidates it
RANKS_THAT_COUNT = 10  # a document votes for the collection's keywords with its top terms
SAMPLE_DOCUMENTS = 2000  # documents the df is counted on
LIST_DOCUMENTS = 1000  # of those, the documents the collection's keywords are counted on
DRIFT = 0.1  # kept df serve one document while the collection's size moved less than this

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


def rows_of(table: TermTable, rows: np.ndarray) -> TermTable:
    """The part of ``table`` that holds ``rows`` (sorted positions), renumbered from 0."""
    position = np.full(table.size, -1, dtype=np.intp)
    position[rows] = np.arange(len(rows))
    keep = position[table.documents] >= 0
    return TermTable(
        vocabulary=table.vocabulary,
        documents=position[table.documents[keep]],
        terms=table.terms[keep],
        counts=table.counts[keep],
        size=len(rows),
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


def collection_top(
    table: TermTable, weights: np.ndarray, top: int, groups: np.ndarray | None = None
) -> list[Keyword]:
    """The collection's ``top`` keywords, balanced over ``groups`` (each row's group;
    None: one group). See the module's docstring."""
    if groups is None:
        groups = np.zeros(table.size, dtype=np.intp)
    scores = _group_scores(table, weights, groups)
    balanced = scores.mean(axis=0)
    sizes = np.bincount(groups, minlength=len(scores))
    rankings = [list(np.lexsort((np.arange(len(row)), -row))[: 2 * top]) for row in scores]
    turns = [g for g in np.lexsort((np.arange(len(sizes)), -sizes)) if sizes[g]]
    chosen: list[int] = []
    while len(chosen) < top:
        found = (_next_term(rankings[g], scores[g], chosen) for g in turns)
        picks = list(dict.fromkeys(p for p in found if p is not None))  # two may pick one
        if not picks:
            break
        chosen.extend(sorted(picks, key=lambda i: (-balanced[i], i))[: top - len(chosen)])
    return [Keyword(table.vocabulary[i], round(float(balanced[i]), 4)) for i in chosen]


def _group_scores(table: TermTable, weights: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(groups x vocabulary): each term's weight summed over the group's documents that
    have it among their ``RANKS_THAT_COUNT`` heaviest terms, divided by the group's size."""
    order, starts = _ranked(table, weights)
    rank = np.arange(len(order)) - starts[table.documents[order]]
    counted = order[rank < RANKS_THAT_COUNT]
    count, width = int(groups.max(initial=0)) + 1, len(table.vocabulary)
    totals = np.bincount(
        groups[table.documents[counted]] * width + table.terms[counted],
        weights=weights[counted],
        minlength=count * width,
    ).reshape(count, width)
    return totals / np.maximum(np.bincount(groups, minlength=count), 1)[:, None]


def _next_term(ranking: list[int], scores: np.ndarray, chosen: list[int]) -> int | None:
    """The group's best term with a score that is not chosen yet."""
    for term in ranking:
        if scores[term] <= 0:
            return None
        if term not in chosen:
            return int(term)
    return None


# --- document frequencies and one document's keywords --------------------------------------


@dataclass(frozen=True)
class Frequencies:
    """Document frequencies counted over ``sampled`` of the collection's ``total`` documents.

    Complete (every document counted) they give each document exactly the weights of
    a TF-IDF table of the whole collection. Sampled, a term's df is estimated as its
    count times total / sampled; terms counted once in the sample are not kept (most
    of the vocabulary, and an estimate from one sighting says only "rare"), so a term
    missing from a sample counts once.
    """

    counts: dict[str, int]
    sampled: int
    total: int

    @property
    def complete(self) -> bool:
        return self.sampled >= self.total

    def idf(self, vocabulary: Sequence[str]) -> np.ndarray:
        missing = 0 if self.complete else 1
        counts = np.fromiter(
            (self.counts.get(term, missing) for term in vocabulary), np.float64, len(vocabulary)
        )
        # A document has its own terms: a df is never below 1.
        df = np.maximum(counts * self.total / max(self.sampled, 1), 1.0)
        return np.log((1.0 + self.total) / (1.0 + df)) + 1.0

    def as_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "sampled": self.sampled, "total": self.total}

    @classmethod
    def from_json(cls, data: Any) -> Frequencies | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(dict(data["counts"]), int(data["sampled"]), int(data["total"]))
        except (KeyError, TypeError, ValueError):
            return None


def frequencies(table: TermTable, total: int) -> Frequencies:
    """The df of ``table``'s terms over its documents, a sample of ``total`` documents."""
    df = np.bincount(table.terms, minlength=len(table.vocabulary))
    floor = 1 if table.size >= total else 2  # a sample keeps the terms it saw twice or more
    counts = {table.vocabulary[i]: int(df[i]) for i in np.flatnonzero(df >= floor)}
    return Frequencies(counts, table.size, total)


def document_keywords(text: str, kept: Frequencies, top: int) -> list[Keyword]:
    """The ``top`` heaviest terms of one document's (titled) text, its idf taken from
    ``kept``: no other document is read. Ties go to the term seen first."""
    table = term_table([text])
    if not table.vocabulary:
        return []
    weights = (1.0 + np.log(table.counts)) * kept.idf(table.vocabulary)[table.terms]
    weights /= max(float(np.sqrt((weights**2).sum())), 1e-12)
    order = np.lexsort((table.terms, -weights))[:top]
    return [Keyword(table.vocabulary[table.terms[i]], round(float(weights[i]), 4)) for i in order]


def sample_ids(ids: np.ndarray, size: int) -> np.ndarray:
    """A fixed pseudo-random ``size`` of ``ids`` (all when fewer), sorted: the ones with
    the smallest hash. A document keeps its hash, so a change to the collection moves
    the sample by the documents added or removed, never reshuffles it."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) <= size:
        return np.sort(ids)
    mixed = ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)  # wraps: a multiplicative hash
    mixed ^= mixed >> np.uint64(29)
    chosen = np.argpartition(mixed, size - 1)[:size]
    return np.sort(ids[chosen])


# --- the service's part ------------------------------------------------------------------


async def find_keywords(
    corpus: Corpus, collection_name: str, reference: str | None, top: int
) -> KeywordsResult:
    if not 1 <= top <= STORED_TERMS:
        raise UsageError(f"--top must be between 1 and {STORED_TERMS}, got {top}")
    collection = await corpus.collection(collection_name)
    if reference:
        document = await corpus.resolve(collection, reference)
        text = (await corpus.texts(collection.id, [document.id])).get(document.id, "")
        keywords, cached = await keywords_of(corpus, collection, document, text, top)
        return KeywordsResult(collection.name, document, keywords, cached)
    data, cached = await keyword_data(corpus, collection)
    keywords = [Keyword(term, score) for term, score in data["collection"][:top]]
    return KeywordsResult(collection.name, None, keywords, cached)


async def keywords_of(
    corpus: Corpus, collection: Collection, document: DocumentRef, text: str, top: int
) -> tuple[list[Keyword], bool]:
    """One document's keywords from its own ``text`` and the kept document frequencies;
    and whether those were kept (not counted for this call)."""
    kept, cached = await document_frequencies(corpus, collection)
    found = document_keywords(titled_text(document.title, text), kept, top)
    return found, cached


async def keyword_data(corpus: Corpus, collection: Collection) -> tuple[dict[str, Any], bool]:
    """The collection's keywords (``data["collection"]``: [term, score] pairs) and the
    document frequencies, cached; recomputed from a sample when the collection changed."""
    kept = corpus.kept("keywords", collection)
    if kept is not None:
        return kept, True
    row = await _cache_row(corpus, collection)
    if row is not None and row.fingerprint == _label(collection) and "collection" in row.keywords:
        return corpus.keep("keywords", collection, row.keywords), True
    data = await _compute(corpus, collection, with_collection=True)
    await _store(corpus, collection, data)
    corpus.keep("frequencies", collection, Frequencies.from_json(data["frequencies"]))
    return corpus.keep("keywords", collection, data), False


async def document_frequencies(corpus: Corpus, collection: Collection) -> tuple[Frequencies, bool]:
    """The document frequencies one document's keywords are weighed with, and whether they
    were kept. Kept ones serve after a change while the collection's size stays within
    ``DRIFT`` of the size they were counted at: the first ``show`` after a change reads
    one document, not the collection."""
    kept = corpus.kept("frequencies", collection)
    if kept is not None:
        return kept, True
    row = await _cache_row(corpus, collection)
    stored = Frequencies.from_json(row.keywords.get("frequencies")) if row is not None else None
    if stored is not None and row is not None:
        if row.fingerprint == _label(collection) or await _near(corpus, collection, stored):
            return corpus.keep("frequencies", collection, stored), True
    data = await _compute(corpus, collection, with_collection=False)
    await _store(corpus, collection, data)
    counted = Frequencies.from_json(data["frequencies"])
    assert counted is not None
    return corpus.keep("frequencies", collection, counted), False


async def _near(corpus: Corpus, collection: Collection, stored: Frequencies) -> bool:
    documents = await corpus.crud.count(Document, filters={"collection_id": collection.id})
    return documents > 0 and abs(documents - stored.total) <= DRIFT * stored.total


def _label(collection: Collection) -> str:
    return f"v{KEYWORDS_VERSION}:{fingerprint(collection)}"


async def _cache_row(corpus: Corpus, collection: Collection) -> KeywordCache | None:
    row = await corpus.crud.find(KeywordCache, {"collection_id": collection.id})
    if row is None or not row.fingerprint.startswith(f"v{KEYWORDS_VERSION}:"):
        return None  # another version's layout
    return row if isinstance(row.keywords, dict) else None


async def _store(corpus: Corpus, collection: Collection, data: dict[str, Any]) -> None:
    if not corpus.crud.writable(KeywordCache):
        return
    row = {
        "collection_id": collection.id,
        "fingerprint": _label(collection),
        "keywords": data,
        "computed_at": utcnow(),
    }
    # A full disk costs the cache, not the answer.
    with contextlib.suppress(DiskFullError):
        await corpus.crud.bulk_upsert(KeywordCache, [row], conflict_columns=["collection_id"])


async def _compute(
    corpus: Corpus, collection: Collection, *, with_collection: bool
) -> dict[str, Any]:
    """Document frequencies (and the collection's keywords) from a sample of at most
    ``SAMPLE_DOCUMENTS`` documents: the cost stays the same however large the collection."""
    ids = await corpus.document_ids(collection.id)
    chosen = sample_ids(ids, SAMPLE_DOCUMENTS).tolist()
    refs = await corpus.refs(chosen)
    texts = await corpus.texts(collection.id, chosen)
    documents = [refs[i] for i in chosen if i in refs]
    titled = [titled_text(doc.title, texts.get(doc.id, "")) for doc in documents]
    vectors = await corpus.vectors_of(collection, chosen) if with_collection else None
    # The arithmetic runs in a worker thread: a resident server keeps answering others.
    return await asyncio.to_thread(_keyword_table, documents, titled, vectors, len(ids))


def _keyword_table(
    documents: list[DocumentRef],
    titled: list[str],
    vectors: tuple[np.ndarray, np.ndarray] | None,
    total: int,
) -> dict[str, Any]:
    from modules.semantic_core.analysis.topics import document_groups  # topics imports us

    table = term_table(titled)
    data: dict[str, Any] = {"frequencies": frequencies(table, total).as_json()}
    if vectors is None:
        return data
    # The list's sample is the df's first documents by hash: finding the topic groups
    # costs as the cube of the documents (an eigen-decomposition), the df only linearly.
    listed = sample_ids(np.asarray([doc.id for doc in documents]), LIST_DOCUMENTS)
    rows = np.flatnonzero(np.isin([doc.id for doc in documents], listed))
    table = rows_of(table, rows)
    ids, matrix = vectors
    keep = np.isin(ids, listed)
    grouped = dict(zip(ids[keep].tolist(), document_groups(matrix[keep]).tolist(), strict=True))
    # A document without a vector (no text to embed) joins the first group.
    groups = np.asarray([grouped.get(documents[row].id, 0) for row in rows], dtype=np.intp)
    top = collection_top(table, tfidf_weights(table), STORED_TERMS, groups)
    data["collection"] = [[k.term, k.score] for k in top]
    return data


def titled_text(title: str, text: str) -> str:
    """A document's text with its title first (a file's title heading is not chunk text)."""
    if not title or text.lstrip().startswith(title):
        return text
    return f"{title}\n\n{text}"
