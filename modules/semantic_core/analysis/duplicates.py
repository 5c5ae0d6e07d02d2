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

Comparing every pair is quadratic: 12.7 times slower for 5 times the documents, and
no answer after 900 s at 200k. So the scan starts from each document's stored sketch
(``copies``: the 128 smallest hashes of the same shingles) and scores only candidates:

1. Banding. Each band orders the sketch's 64 smallest hashes (their high 32 bits) by
   its own permutation; its key is the set of the ``rows`` first. Two documents share a
   band's key with about the probability that those first values of their two sketches'
   union lie in both, J_s^rows, J_s the share of sketch values they have in common; so a
   copy collides in some band and two documents that share a passage rarely do.
   ``plan_bands`` picks the most rows whose bands (at most ``MAX_BANDS``) miss a pair at
   the threshold with probability ``MISS``: 48 bands of 5 at 0.9, 45 bands of one value
   at 0.5, where keys of one value leave out the values that more than 1% of the
   documents hold (stock phrases would pair thousands).
2. Estimating. Below the lower of two sketches' largest hashes both hold all of their
   sets' hashes, so the shared ones over the geometric mean of each one's estimate the
   score itself (``sketch_scores``). A candidate must reach the estimate a pair at the
   threshold reaches but for four standard deviations, after four more of hashing noise
   (``score_floor``: 0.71 at 0.9 from 128 values). A bound on shared values alone, which
   must allow for sizes as far apart as the score permits, let through 6 times as many
   candidates at 10k documents (634 against 102, for 60 pairs), and it is reading and
   hashing the candidates' text that costs: about a millisecond a document.
3. Scoring. Only the candidates' texts are read, in blocks, and scored exactly as
   before, so the score and the threshold mean what they meant.

Exact copies come from the content hash, as before. Documents stored without a sketch
get one from their text. Memory stays bounded: sketches as 32-bit values (512 bytes a
document), candidates estimated two million at a time, texts scored 2,048 documents a
block, 8 blocks kept. Pairs are grouped into clusters by union-find and stored in
``duplicate_pairs`` so ``analyzer show`` lists them without recomputing. ``near_pairs``,
the blocked all-pairs product, stays as the exact answer the scan is measured against.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analyzer.errors import UsageError
from modules.core.database.db_models import utcnow
from modules.semantic_core import copies
from modules.semantic_core.analysis.corpus import Corpus, fingerprint
from modules.semantic_core.copies import SKETCH_SIZE
from modules.semantic_core.db_models import Collection, Document, DuplicatePair, DuplicateScan
from modules.semantic_core.documents import DocumentRef

DEFAULT_THRESHOLD = 0.9
MIN_THRESHOLD = 0.5  # below this, hashing noise and stock phrases start to count
SHINGLE_WORDS = 2
HASH_DIMENSIONS = 2048
BLOCK_ROWS = 1024
SIGNAL = f"word-{SHINGLE_WORDS}-shingles-hashed-{HASH_DIMENSIONS}"

PAD = np.uint32(0xFFFFFFFF)  # an empty place in a sketch row; no stored value is mapped to it
MAX_ROWS = 6  # sketch values per band key
MAX_BANDS = 48  # band keys per document
KEY_VALUES = 64  # the smallest values of a sketch, a sketch of its own, make the keys
MISS = 1e-3  # designed chance that a pair at the threshold shares no band key
NOISE = 4 / math.sqrt(HASH_DIMENSIONS)  # four standard deviations of the hashing noise
SAMPLED_SD = 4.0  # standard deviations of a sketch estimate a candidate may fall short
COMMON_ROWS = 2  # band keys this short leave out common values
COMMON_SHARE = 0.01  # of the documents: a value held by more is common
COMMON_FLOOR = 50  # documents: no value held by fewer is common
PAIR_BUFFER = 2_000_000  # candidate pairs held before their shared values are counted
KEY_BLOCK = 32_768  # sketch rows hashed at once
COUNT_BLOCK = 32_768  # pairs whose shared values are counted at once
READ_PAGE = 20_000  # sketches read at once
TEXT_PAGE = 2_048  # documents whose text is read at once
KEPT_BLOCKS = 8  # blocks of TEXT_PAGE shingle vectors kept while scoring (16 MiB each)
PRODUCT_BLOCK = 8_192  # pairs scored at once
_SALTS = np.random.default_rng(0x5EED).integers(1, 2**32, (2 * MAX_BANDS, 2), dtype=np.uint32)
_SALTS[:, 1] |= 1  # odd factors: multiplying by one is a permutation

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


def shingle_matrix(
    texts: Sequence[str], dimensions: int = HASH_DIMENSIONS, words: WordHashes | None = None
) -> np.ndarray:
    """One L2-normalised row per text: its shingle set, hashed with signs into ``dimensions``."""
    matrix = np.zeros((len(texts), dimensions), dtype=np.float32)
    words = WordHashes() if words is None else words
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
    """Every pair of rows (i < j) with cosine >= threshold, by blocked matrix products: the
    exact all-pairs answer, quadratic in the rows; the scan's candidates are measured
    against it."""
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


# --- candidates from the sketches ---------------------------------------------------------


def sketch_rows(blobs: Sequence[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """Stored sketches as one uint32 row each (the high 32 bits of every hash, in order,
    ``PAD`` after the last) and each one's length (0: no words)."""
    matrix = np.full((len(blobs), SKETCH_SIZE), PAD, dtype=np.uint32)
    lengths = np.zeros(len(blobs), dtype=np.int32)
    full = [row for row, blob in enumerate(blobs) if blob and len(blob) == SKETCH_SIZE * 8]
    for start in range(0, len(full), READ_PAGE):  # a page at a time: 3 copies of it at most
        rows = full[start : start + READ_PAGE]
        joined = b"".join(blobs[row] or b"" for row in rows)
        matrix[rows] = _high_bits(np.frombuffer(joined, dtype="<u8").reshape(len(rows), -1))
        lengths[rows] = SKETCH_SIZE
    for row, blob in enumerate(blobs):
        if blob and len(blob) != SKETCH_SIZE * 8:
            count = min(len(blob) // 8, SKETCH_SIZE)
            matrix[row, :count] = _high_bits(np.frombuffer(blob, dtype="<u8", count=count))
            lengths[row] = count
    return matrix, lengths


def _high_bits(values: np.ndarray) -> np.ndarray:
    # The high half keeps the order of the hashes, which ``sketch_scores`` needs.
    high = (values >> np.uint64(32)).astype(np.uint32)
    high[high == PAD] = PAD - 1
    return high


@functools.cache
def plan_bands(threshold: float) -> tuple[int, int]:
    """(bands, rows): the most rows per band whose bands, at most ``MAX_BANDS``, make a pair
    at the threshold a candidate but for ``MISS``. Such a pair's sketches of ``KEY_VALUES``
    share about threshold² x ``KEY_VALUES`` values (sizes as far apart as the score allows)."""
    shared = threshold**2 * KEY_VALUES
    union = 2 * KEY_VALUES - shared
    for rows in range(MAX_ROWS, 1, -1):
        collide = math.prod((shared - i) / (union - i) for i in range(rows))
        for bands in range(8, MAX_BANDS + 1, 8):
            if (1 - collide) ** bands <= MISS:
                return bands, rows
    # One value a key: as many bands as it takes (a key of one value is cheap to make).
    return min(math.ceil(math.log(MISS) / math.log(1 - shared / union)), 2 * MAX_BANDS), 1


def score_floor(threshold: float, sample: np.ndarray) -> np.ndarray:
    """The lowest estimate (``sketch_scores``) a pair scoring ``threshold`` gives from
    ``sample`` values of each sketch, but for ``SAMPLED_SD`` standard deviations.

    Hashing moves a score by about ``NOISE`` / 4, so the pair's shingle sets may score
    ``threshold - NOISE``. From Poisson samples of two sets of equal size, log(estimate)
    varies by (1 - c) / sample x ((1 - c) / c + 1/2); a pair whose sizes differ as much as
    the score allows varies as much (within a tenth), which ``SAMPLED_SD`` covers."""
    score = max(threshold - NOISE, 0.05)
    spread = np.sqrt((1 - score) / np.maximum(sample, 1) * ((1 - score) / score + 0.5))
    return score * np.exp(-SAMPLED_SD * spread)


def sketch_scores(
    matrix: np.ndarray, lengths: np.ndarray, firsts: np.ndarray, seconds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of rows, the score their sketches estimate and the sample it rests on.

    Below the lower of the two sketches' largest values, both sketches hold every value
    of their sets: a sample of both sets at one rate. The shared values over the
    geometric mean of each one's estimate |A∩B| / sqrt(|A|·|B|), the score's meaning."""
    tops = np.where(lengths == SKETCH_SIZE, matrix[:, -1], PAD)  # a shorter one: its whole set
    estimates = np.zeros(len(firsts), dtype=np.float64)
    samples = np.zeros(len(firsts), dtype=np.int32)
    for start in range(0, len(firsts), COUNT_BLOCK):
        part = slice(start, start + COUNT_BLOCK)
        a, b = matrix[firsts[part]], matrix[seconds[part]]
        ceiling = np.minimum(tops[firsts[part]], tops[seconds[part]])[:, None]
        seen_a = ((a <= ceiling) & (a != PAD)).sum(axis=1)
        seen_b = ((b <= ceiling) & (b != PAD)).sum(axis=1)
        shared = _shared(a, b)
        estimates[part] = shared / np.sqrt(np.maximum(seen_a * seen_b, 1))
        samples[part] = np.minimum(seen_a, seen_b)
    return estimates, samples


def band_keys(matrix: np.ndarray, band: int, rows: int) -> np.ndarray:
    """Per sketch, one key for the set of its ``rows`` smallest values in the band's order."""
    xor, factor = _SALTS[band]
    keys = np.empty(len(matrix), dtype=np.uint64)
    for start in range(0, len(matrix), KEY_BLOCK):
        part = matrix[start : start + KEY_BLOCK, :KEY_VALUES]
        order = (part ^ xor) * factor  # one permutation of the 32-bit values per band
        order[part == PAD] = PAD
        if rows < order.shape[1]:
            order = np.partition(order, rows - 1, axis=1)[:, :rows]
        # A sum does not depend on the order the smallest values came in.
        keys[start : start + KEY_BLOCK] = _mix(order.astype(np.uint64)).sum(axis=1)
    return keys


def candidate_pairs(
    matrix: np.ndarray, lengths: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (i < j) that share a band key and enough sketch values for ``threshold``."""
    bands, rows = plan_bands(threshold)
    keyed = _without_common(matrix) if rows <= COMMON_ROWS else matrix
    sketched = np.flatnonzero(keyed[:, 0] != PAD) if keyed is not matrix else np.flatnonzero(
        lengths > 0
    )
    pending: list[np.ndarray] = []
    kept: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    waiting = 0
    for band in range(bands):
        keys = band_keys(keyed, band, rows)[sketched]
        for codes in _colliding(sketched, keys, len(matrix)):
            pending.append(codes)
            waiting += len(codes)
            if waiting >= PAIR_BUFFER:  # memory stays bounded whatever collides
                kept.append(_likely(matrix, lengths, pending, threshold))
                pending, waiting = [], 0
    kept.append(_likely(matrix, lengths, pending, threshold))
    codes = _distinct(np.concatenate(kept))
    return codes // len(matrix), codes % len(matrix)


def _without_common(matrix: np.ndarray) -> np.ndarray:
    """The sketch rows without the values that more than ``COMMON_SHARE`` of the documents
    (and ``COMMON_FLOOR``) hold, moved to the end of each row.

    A band key of one or two values is often a stock phrase ("of the"): its group would
    pair thousands of unrelated documents. A copy shares its rarer values as well."""
    values, counts = np.unique(matrix[matrix != PAD], return_counts=True)
    common = values[counts > max(COMMON_FLOOR, COMMON_SHARE * len(matrix))]
    kept = np.where(np.isin(matrix, common), PAD, matrix)
    kept.sort(axis=1)  # PAD is the largest value: the first place says whether any is left
    return kept


def _colliding(members: np.ndarray, keys: np.ndarray, n: int) -> Iterator[np.ndarray]:
    """Pairs of ``members`` with equal keys, as codes i * n + j (i < j), in bounded chunks."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    edges = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    starts = np.concatenate(([0], edges))
    sizes = np.diff(np.concatenate((starts, [len(keys)])))
    several = sizes > 1
    for left, right in _within_groups(starts[several], sizes[several], PAIR_BUFFER):
        a, b = members[order[left]], members[order[right]]
        yield np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)


def _within_groups(
    starts: np.ndarray, sizes: np.ndarray, limit: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every pair of positions inside each group (start, size), about ``limit`` at a time."""
    first_of = np.repeat(starts, sizes)
    member = first_of + np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    later = first_of + np.repeat(sizes, sizes) - member - 1
    emitted = np.cumsum(later)
    cut = 0
    while cut < len(member):
        done = int(emitted[cut - 1]) if cut else 0
        stop = max(int(np.searchsorted(emitted, done + limit, side="right")), cut + 1)
        heads, counts = member[cut:stop], later[cut:stop]
        left = np.repeat(heads, counts)
        offsets = np.arange(len(left)) - np.repeat(np.cumsum(counts) - counts, counts)
        yield left, left + 1 + offsets
        cut = stop


def _likely(
    matrix: np.ndarray, lengths: np.ndarray, pending: list[np.ndarray], threshold: float
) -> np.ndarray:
    """The pending pairs whose sketches' estimate reaches the threshold's floor."""
    if not pending:
        return np.zeros(0, dtype=np.int64)
    codes = _distinct(np.concatenate(pending))
    firsts, seconds = codes // len(matrix), codes % len(matrix)
    estimates, samples = sketch_scores(matrix, lengths, firsts, seconds)
    return codes[(estimates >= score_floor(threshold, samples)) & (estimates > 0)]


def _distinct(codes: np.ndarray) -> np.ndarray:
    # np.unique hashes integers (numpy 2.4): 2.5 s for two million pairs here, a sort less.
    codes = np.sort(codes)
    return codes[np.concatenate(([True], codes[1:] != codes[:-1]))] if len(codes) else codes


def shared_counts(matrix: np.ndarray, firsts: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """How many values the sketches of each pair of rows have in common."""
    counts = np.zeros(len(firsts), dtype=np.int32)
    for start in range(0, len(firsts), COUNT_BLOCK):
        part = slice(start, start + COUNT_BLOCK)
        counts[part] = _shared(matrix[firsts[part]], matrix[seconds[part]])
    return counts


def _shared(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    both = np.concatenate((a, b), axis=1)
    both.sort(axis=1)
    return ((both[:, 1:] == both[:, :-1]) & (both[:, 1:] != PAD)).sum(axis=1)


def row_products(
    first_rows: np.ndarray, firsts: np.ndarray, second_rows: np.ndarray, seconds: np.ndarray
) -> np.ndarray:
    """The score of each pair (row ``firsts[i]`` of ``first_rows``, row ``seconds[i]`` of
    ``second_rows``): the cosine of two shingle vectors, at most 1."""
    products = np.zeros(len(firsts), dtype=np.float32)
    for start in range(0, len(firsts), PRODUCT_BLOCK):
        part = slice(start, start + PRODUCT_BLOCK)
        products[part] = np.einsum(
            "ij,ij->i", first_rows[firsts[part]], second_rows[seconds[part]]
        )
    return np.minimum(products, 1.0)


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
    ids = [row[0] for row in rows]
    matrix, lengths = await _sketches(corpus, collection.id, ids)
    clock.lap("sketches")
    # The arithmetic runs in a worker thread: a resident server keeps answering others.
    firsts, seconds = await asyncio.to_thread(candidate_pairs, matrix, lengths, threshold)
    del matrix
    clock.lap("candidates")
    firsts, seconds, scores = await score_candidates(
        corpus, collection.id, ids, firsts, seconds, threshold
    )
    clock.lap("verify")
    found = _merged(exact_pairs([row[1] for row in rows]), firsts, seconds, scores)
    labels = cluster_labels(list(found))
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


async def _sketches(
    corpus: Corpus, collection_id: int, ids: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The sketch rows of ``ids``, read a page at a time; documents stored without a sketch
    get one from their text (only theirs is read)."""
    matrix = np.full((len(ids), SKETCH_SIZE), PAD, dtype=np.uint32)
    lengths = np.zeros(len(ids), dtype=np.int32)
    missing: list[int] = []
    for start in range(0, len(ids), READ_PAGE):
        page = ids[start : start + READ_PAGE]
        stored = dict(
            await corpus.crud.values(
                Document,
                ["id", "sketch"],
                filters={"collection_id": collection_id},
                where=[Document.id >= page[0], Document.id <= page[-1]],
            )
        )
        blobs = [stored.get(i) for i in page]
        missing.extend(start + n for n, blob in enumerate(blobs) if blob is None)
        rows = await asyncio.to_thread(sketch_rows, blobs)
        matrix[start : start + len(page)], lengths[start : start + len(page)] = rows
    words = WordHashes()
    for start in range(0, len(missing), TEXT_PAGE):
        places = missing[start : start + TEXT_PAGE]
        texts = await corpus.texts(collection_id, [ids[place] for place in places])
        matrix[places], lengths[places] = await asyncio.to_thread(
            _sketched, [texts.get(ids[place], "") for place in places], words
        )
    return matrix, lengths


def _sketched(texts: list[str], words: WordHashes) -> tuple[np.ndarray, np.ndarray]:
    return sketch_rows([copies.sketch(text, words) for text in texts])


async def score_candidates(
    corpus: Corpus,
    collection_id: int,
    ids: list[int],
    firsts: np.ndarray,
    seconds: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates that score at least ``threshold``, with their scores. Only the text of
    candidates is read: they are cut into blocks of ``TEXT_PAGE`` documents whose shingle
    vectors are made once and kept while ``KEPT_BLOCKS`` allow."""
    documents = np.unique(np.concatenate((firsts, seconds)))
    blocks = _Blocks(corpus, collection_id, [ids[row] for row in documents])
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    places = np.searchsorted(documents, firsts), np.searchsorted(documents, seconds)
    for a, b in _block_pairs(*places):
        block_a, block_b = int(a[0]) // TEXT_PAGE, int(b[0]) // TEXT_PAGE
        rows_a, rows_b = await blocks.rows(block_a), await blocks.rows(block_b)
        scores = await asyncio.to_thread(
            row_products, rows_a, a % TEXT_PAGE, rows_b, b % TEXT_PAGE
        )
        keep = scores >= threshold
        kept.append((documents[a[keep]], documents[b[keep]], scores[keep]))
    if not kept:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    a, b, scores = (np.concatenate(part) for part in zip(*kept, strict=True))
    return a, b, scores


def _block_pairs(
    firsts: np.ndarray, seconds: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pairs of positions grouped by the blocks (of ``TEXT_PAGE``) the two fall in."""
    width = int(max(firsts.max(initial=0), seconds.max(initial=0))) // TEXT_PAGE + 1
    group = (firsts // TEXT_PAGE) * width + seconds // TEXT_PAGE
    order = np.argsort(group, kind="stable")
    edges = np.flatnonzero(np.diff(group[order])) + 1
    for part in np.split(order, edges) if len(order) else []:
        yield firsts[part], seconds[part]


class _Blocks:
    """Shingle vectors of blocks of documents, the last ``KEPT_BLOCKS`` used kept."""

    def __init__(self, corpus: Corpus, collection_id: int, document_ids: list[int]) -> None:
        self._corpus, self._collection_id = corpus, collection_id
        self._ids = document_ids
        self._words = WordHashes()
        self._kept: dict[int, np.ndarray] = {}

    async def rows(self, block: int) -> np.ndarray:
        found = self._kept.pop(block, None)
        if found is None:
            ids = self._ids[block * TEXT_PAGE : (block + 1) * TEXT_PAGE]
            texts = await self._corpus.texts(self._collection_id, ids)
            found = await asyncio.to_thread(
                shingle_matrix, [texts.get(i, "") for i in ids], HASH_DIMENSIONS, self._words
            )
        self._kept[block] = found  # the most recent last
        while len(self._kept) > KEPT_BLOCKS:
            del self._kept[next(iter(self._kept))]
        return found


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
