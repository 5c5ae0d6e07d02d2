"""Duplicate documents: exact copies (same content hash) and near copies (same wording).

Why a lexical signal: the stored document vectors (the mean of a static model's
chunk vectors) cannot tell a copy from a sibling. On sample_docs the three planted
near-copies score 0.998 to 1.000, but distinct documents on one topic reach 0.936
(budgeting vs emergency fund), 0.927 (two chess openings), 0.920 (two coffee guides).

So each document becomes the set of its word 2-shingles (pairs of consecutive
words, lowercased; punctuation, markup and line breaks ignored), hashed with random
signs into ``HASH_DIMENSIONS`` dimensions and L2-normalised (the hashing trick). A
pair's score is the cosine of these vectors, an estimate of |A∩B| / sqrt(|A|·|B|)
for the two shingle sets: 1.0 for the same words in the same order whatever the
layout. Each changed word removes about two shingles, so measured: 0.97 for 7 words
changed in 600, 0.92 or more for 3 words changed in a SciFact abstract of 70 to 300
words. Added text costs about sqrt(1 / (1 + share)): 0.92 to 0.95 for a paragraph
adding 12 to 16%, so at the default threshold 0.9 a copy may grow by about a fifth.
Distinct documents share few word pairs: the highest distinct pair scores 0.12 on
sample_docs (hashing adds noise of about ±0.02 per pair, which copies barely feel)
and 0.39 over all 13.4 million SciFact pairs. Word 3-shingles push distinct pairs
lower still (0.24 on SciFact) but drop short copies below 0.9 (0.88 for 3 words
changed in 71), and it is the copies that sit near the threshold.

The scan is blocked matrix products (``BLOCK_ROWS`` rows against every later row),
never a loop over pairs; pairs are grouped into clusters by union-find and stored
in ``duplicate_pairs`` so ``analyzer show`` lists them without recomputing.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analyzer.errors import UsageError
from modules.core.database.db_models import utcnow
from modules.semantic_core.analysis.corpus import Corpus, fingerprint
from modules.semantic_core.db_models import Collection, Document, DuplicatePair, DuplicateScan
from modules.semantic_core.documents import DocumentRef

DEFAULT_THRESHOLD = 0.9
MIN_THRESHOLD = 0.5  # below this, hashing noise and stock phrases start to count
SHINGLE_WORDS = 2
HASH_DIMENSIONS = 2048
BLOCK_ROWS = 1024
SIGNAL = f"word-{SHINGLE_WORDS}-shingles-hashed-{HASH_DIMENSIONS}"

_WORD = re.compile(r"\w+")
_PRIME = np.uint64(1099511628211)


@dataclass(frozen=True)
class DuplicatePairResult:
    first: DocumentRef
    second: DocumentRef
    score: float
    kind: str  # "exact" (same content hash) or "near"
    cluster: int


@dataclass
class DuplicatesReport:
    collection: str
    threshold: float
    signal: str
    documents: int
    pairs: list[DuplicatePairResult]
    clusters: list[list[DocumentRef]]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredDuplicate:
    other: DocumentRef
    score: float
    kind: str


@dataclass(frozen=True)
class StoredDuplicates:
    """What the last scan said about one document; ``stale`` once the collection changed."""

    computed_at: Any
    threshold: float
    stale: bool
    duplicates: list[StoredDuplicate]


# --- the signal -----------------------------------------------------------------------


class WordHashes(dict[str, int]):
    """A stable 64-bit hash per word (the same in every process), computed once per word."""

    def __missing__(self, word: str) -> int:
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        value = self[word] = int.from_bytes(digest, "little")
        return value


def shingle_hashes(text: str, words: WordHashes, size: int = SHINGLE_WORDS) -> np.ndarray:
    """The distinct hashes of the word ``size``-shingles of ``text`` (fewer words: one shingle)."""
    tokens = _WORD.findall(text.lower())
    ids = np.fromiter(map(words.__getitem__, tokens), dtype=np.uint64, count=len(tokens))
    if len(ids) == 0:
        return ids
    size = min(size, len(ids))
    count = len(ids) - size + 1
    hashes = ids[:count].copy()
    for offset in range(1, size):
        hashes = hashes * _PRIME + ids[offset : offset + count]
    return np.unique(_mix(hashes))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every output bit depends on every input bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def shingle_matrix(texts: Sequence[str], dimensions: int = HASH_DIMENSIONS) -> np.ndarray:
    """One L2-normalised row per text: its shingle set, hashed with signs into ``dimensions``."""
    matrix = np.zeros((len(texts), dimensions), dtype=np.float32)
    words = WordHashes()
    mask = np.uint64(dimensions - 1)
    for row, text in enumerate(texts):
        hashes = shingle_hashes(text, words)
        if len(hashes) == 0:
            continue
        buckets = (hashes & mask).astype(np.intp)
        signs = np.where(hashes >> np.uint64(63), 1.0, -1.0)
        matrix[row] = np.bincount(buckets, weights=signs, minlength=dimensions)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def near_pairs(
    matrix: np.ndarray, threshold: float, block: int = BLOCK_ROWS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of rows (i < j) with cosine >= threshold, by blocked matrix products."""
    firsts, seconds, scores = [], [], []
    for start in range(0, len(matrix), block):
        products = matrix[start : start + block] @ matrix[start:].T
        rows, cols = np.nonzero(products >= threshold)
        upper = cols > rows  # the block's own diagonal and below: self and pairs seen before
        rows, cols = rows[upper], cols[upper]
        firsts.append(rows + start)
        seconds.append(cols + start)
        scores.append(np.minimum(products[rows, cols], 1.0))
    if not firsts:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, np.zeros(0, dtype=np.float32)
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(scores)


def exact_pairs(hashes: Sequence[str]) -> list[tuple[int, int]]:
    """Index pairs (i < j) of equal content hashes."""
    groups: dict[str, list[int]] = {}
    for index, digest in enumerate(hashes):
        groups.setdefault(digest, []).append(index)
    return [
        (group[a], group[b])
        for group in groups.values()
        for a in range(len(group))
        for b in range(a + 1, len(group))
    ]


def cluster_labels(pairs: Sequence[tuple[int, int]]) -> dict[int, int]:
    """Union-find over pairs: index -> cluster number (1, 2, ... by smallest member)."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    numbers: dict[int, int] = {}
    return {x: numbers.setdefault(root(x), len(numbers) + 1) for x in sorted(parent)}


# --- the scan -----------------------------------------------------------------------------


async def find_duplicates(
    corpus: Corpus, collection_name: str, threshold: float
) -> DuplicatesReport:
    """Scan a collection, store what was found (replacing the last scan) and report it."""
    check_threshold(threshold)
    collection = await corpus.collection(collection_name)
    clock = _Clock()
    rows = await corpus.crud.values(
        Document, ["id", "content_hash"], filters={"collection_id": collection.id}, order_by="id"
    )
    texts = await corpus.texts(collection.id)
    clock.lap("read")
    # The arithmetic runs in a worker thread: a resident server keeps answering others.
    matrix = await asyncio.to_thread(shingle_matrix, [texts.get(row[0], "") for row in rows])
    clock.lap("vectors")
    firsts, seconds, scores = await asyncio.to_thread(near_pairs, matrix, threshold)
    clock.lap("scan")
    found = _merged(exact_pairs([row[1] for row in rows]), firsts, seconds, scores)
    labels = cluster_labels(list(found))
    ids = [row[0] for row in rows]
    pairs = [(ids[a], ids[b], score, kind, labels[a]) for (a, b), (score, kind) in found.items()]
    await _store(corpus, collection, threshold, len(ids), pairs)
    clock.lap("store")
    refs = await corpus.refs([i for a, b, *_ in pairs for i in (a, b)])
    return DuplicatesReport(
        collection=collection.name,
        threshold=threshold,
        signal=SIGNAL,
        documents=len(ids),
        pairs=_pair_results(pairs, refs),
        clusters=_clusters(pairs, refs),
        timings=clock.laps,
    )


def check_threshold(threshold: float) -> None:
    if not MIN_THRESHOLD <= threshold <= 1.0:
        raise UsageError(
            f"--threshold must be between {MIN_THRESHOLD} and 1.0, got {threshold}; "
            f"the default {DEFAULT_THRESHOLD} finds copies with a few edits"
        )


def _merged(
    exact: list[tuple[int, int]], firsts: np.ndarray, seconds: np.ndarray, scores: np.ndarray
) -> dict[tuple[int, int], tuple[float, str]]:
    found = {
        (int(a), int(b)): (round(float(s), 4), "near")
        for a, b, s in zip(firsts, seconds, scores, strict=True)
    }
    found.update(dict.fromkeys(exact, (1.0, "exact")))
    return found


async def _store(
    corpus: Corpus,
    collection: Collection,
    threshold: float,
    documents: int,
    pairs: list[tuple[int, int, float, str, int]],
) -> None:
    crud = corpus.crud
    collection_id = collection.id
    rows = [
        {
            "collection_id": collection_id,
            "document_a": a,
            "document_b": b,
            "score": score,
            "kind": kind,
            "cluster": cluster,
        }
        for a, b, score, kind, cluster in pairs
    ]
    scan = {
        "collection_id": collection_id,
        "threshold": threshold,
        "signal": SIGNAL,
        "fingerprint": fingerprint(collection),
        "documents": documents,
        "pairs": len(pairs),
        "clusters": len({p[4] for p in pairs}),
        "computed_at": utcnow(),
    }
    async with crud.transaction(DuplicatePair) as session:
        await crud.delete_where(DuplicatePair, {"collection_id": collection_id}, session=session)
        await crud.bulk_insert(DuplicatePair, rows, session=session)
        await crud.bulk_upsert(
            DuplicateScan, [scan], conflict_columns=["collection_id"], session=session
        )


def _pair_results(
    pairs: list[tuple[int, int, float, str, int]], refs: dict[int, DocumentRef]
) -> list[DuplicatePairResult]:
    results = [DuplicatePairResult(refs[a], refs[b], s, k, c) for a, b, s, k, c in pairs]
    return sorted(results, key=lambda p: (p.cluster, -p.score, p.first.path, p.second.path))


def _clusters(
    pairs: list[tuple[int, int, float, str, int]], refs: dict[int, DocumentRef]
) -> list[list[DocumentRef]]:
    members: dict[int, set[int]] = {}
    for a, b, _, _, cluster in pairs:
        members.setdefault(cluster, set()).update((a, b))
    return [
        sorted((refs[i] for i in ids), key=lambda r: r.path) for _, ids in sorted(members.items())
    ]


# --- reading a stored scan ----------------------------------------------------------------


async def stored_duplicates(
    corpus: Corpus, collection: Collection, document_id: int
) -> StoredDuplicates | None:
    """The duplicates of one document from the last scan, or None if none was run."""
    scan = await corpus.crud.find(DuplicateScan, {"collection_id": collection.id})
    if scan is None:
        return None
    rows = await corpus.crud.values(
        DuplicatePair,
        ["document_a", "document_b", "score", "kind"],
        where=[
            (DuplicatePair.document_a == document_id) | (DuplicatePair.document_b == document_id)
        ],
        order_by="-score",
    )
    others = [(b if a == document_id else a, score, kind) for a, b, score, kind in rows]
    refs = await corpus.refs([other for other, _, _ in others])
    return StoredDuplicates(
        computed_at=scan.computed_at,
        threshold=scan.threshold,
        stale=scan.fingerprint != fingerprint(collection),
        duplicates=[StoredDuplicate(refs[o], s, k) for o, s, k in others],
    )


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now
