"""Topics: k-means over document vectors, each cluster labelled by class-based TF-IDF.

Vectors: the stored document vectors, centred on the collection's mean and
re-normalised. The static model's vectors share one large common direction
(distinct documents score 0.8 to 0.9); centring keeps what tells them apart.
k-means: k-means++ seeding, Lloyd iterations, a fixed seed, the best of
``N_INIT`` runs.

Automatic k (from 2..min(12, n // 3), judged on a fixed sample of 1,500 documents
at most) takes two steps. First the eigengap of a neighbour graph: each document is
linked to its sqrt(n) most similar ones (``NEIGHBOURS`` at most), and the number of near-zero
eigenvalues of the graph's normalised Laplacian, read as the largest gap between
consecutive ones, counts the groups the graph falls into. Then the k of best mean
silhouette (cosine distance) among that count and its two neighbours. Silhouette
alone over every k picked k = 2 on mixed corpora (papers beside manuals, say): when
groups nest, the coarsest split is the best separated, and a big, spread-out group
outweighs several small, tight ones. The neighbour graph sees a group as a group
whatever its size or spread; the silhouette then corrects the eigengap, which
over-counts by one about as often as it is right (``bench/topics.py``). The
silhouette needs no n x n matrix: for unit vectors the mean similarity of a document
to a cluster is its dot product with the cluster's vector sum, divided by its size.

Large collections: k-means runs on a fixed random sample of ``KMEANS_SAMPLE``
documents; then every document goes to its nearest centre and each centre moves to
the mean of its documents (one Lloyd step over all), a block of ``ASSIGN_BLOCK``
rows at a time, so memory is the stored vectors plus a block, never a centred copy
of them all. The silhouette reported is the sample's. Labels are read from at most
``TERMS_SAMPLE`` documents shared out between the topics (the small ones whole),
each standing for its topic's size over its sampled count. On 30,000 documents of
mixed SciFact sentences the partition agreed with k-means on all of them at ARI
0.99 (automatic k = 2) and 0.73 at k = 8, where k-means over all is itself unsure
(0.83 with a 20,000 sample, at 2.5 times the time); k-means took 8 s of CPU time at
k = 8 instead of 21. On 300,000 synthetic vectors in 10 groups (a 20,000 sample):
ARI 1.0, 11 s of CPU time, 116 MB allocated beside the 293 MB of vectors. On
``bench/topics.py``'s sourced corpora with samples of a third, ARI stayed within
0.02 of the full clustering, or above it, on all but one corpus (six-one-3x: 0.72
against 0.77, k 5 against 7).

Labels: c-TF-IDF. The term counts of a topic's documents are pooled; a term's
weight is its share of the topic's terms times log(1 + A / f), with A the mean
number of terms per topic and f the term's count over all topics. Only terms
found in at least two documents take part (a label should be shared).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from analyzer.errors import AnalyzerError, UsageError
from modules.semantic_core.analysis.corpus import Corpus
from modules.semantic_core.analysis.keywords import Keyword, TermTable, term_table, titled_text
from modules.semantic_core.documents import DocumentRef
from modules.semantic_core.vectors import normalise_rows

MIN_DOCUMENTS = 4
MAX_AUTO_K = 12
MAX_K = 50  # the most topics a caller may ask for (see max_k)
SEED = 0
N_INIT = 4
MAX_ITERATIONS = 100
AUTO_K_SAMPLE = 1500  # documents the choice of k is judged on (all of a smaller collection)
KMEANS_SAMPLE = 10_000  # documents k-means runs on; the others go to their nearest centre
TERMS_SAMPLE = 4000  # documents whose text labels the topics, shared out between the topics
ASSIGN_BLOCK = 8192  # rows centred at a time when every document is assigned
NEIGHBOURS = 20  # links per document in the graph whose eigengap guesses k (sqrt(n) if fewer)
SINGLE_THREAD_PRODUCT = 200_000  # multiply-adds per block; OpenBLAS threads from 262,144
LABEL_TERMS = 3
TOPIC_TERMS = 8
REPRESENTATIVES = 3


class TooFewDocumentsError(AnalyzerError):
    """A collection too small to be clustered into topics."""


@dataclass(frozen=True)
class Representative:
    document: DocumentRef
    score: float  # cosine to the topic's centre (centred vectors)


@dataclass
class Topic:
    number: int
    label: str
    terms: list[Keyword]
    size: int
    representatives: list[Representative]


@dataclass
class TopicsResult:
    collection: str
    documents: int
    k: int
    automatic: bool
    silhouette: float
    tried: dict[int, float]  # k -> mean silhouette
    topics: list[Topic]


# --- k-means ------------------------------------------------------------------------------


def centred(matrix: np.ndarray) -> np.ndarray:
    """Rows minus their mean, re-normalised (float32, like the centroids made from them)."""
    matrix = matrix.astype(np.float32)
    return normalise_rows(matrix - matrix.mean(axis=0))


def kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Seeds: the first at random, each next with probability proportional to D(x)²."""
    norms = (points**2).sum(1)
    chosen = [int(rng.integers(len(points)))]
    distances = _squared_distances(points, norms, points[chosen])[:, 0]
    for _ in range(1, k):
        total = float(distances.sum())
        if total <= 0:
            pick = int(rng.integers(len(points)))
        else:
            pick = int(rng.choice(len(points), p=distances / total))
        chosen.append(pick)
        distances = np.minimum(distances, _squared_distances(points, norms, points[[pick]])[:, 0])
    return points[chosen].copy()


def kmeans(
    points: np.ndarray, k: int, seed: int = SEED, n_init: int = N_INIT
) -> tuple[np.ndarray, np.ndarray, float]:
    """Labels, centroids and inertia of the best of ``n_init`` seeded runs."""
    rng = np.random.default_rng(seed)
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    for _ in range(n_init):
        run = _lloyd(points, kmeans_plus_plus(points, k, rng))
        if best is None or run[2] < best[2] - 1e-9:
            best = run
    assert best is not None
    return best


def _lloyd(points: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    norms = (points**2).sum(1)
    labels = np.full(len(points), -1)
    for _ in range(MAX_ITERATIONS):
        distances = _squared_distances(points, norms, centroids)
        new_labels = distances.argmin(axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        centroids = _centroids(points, labels, len(centroids), distances)
    distances = _squared_distances(points, norms, centroids)
    return labels, centroids, float(distances[np.arange(len(points)), labels].sum())


def _centroids(points: np.ndarray, labels: np.ndarray, k: int, distances: np.ndarray) -> np.ndarray:
    sums = cluster_sums(points, labels, k)
    sizes = np.bincount(labels, minlength=k)
    for empty in np.flatnonzero(sizes == 0):  # re-seed an empty cluster at the worst-fit point
        worst = int(distances[np.arange(len(points)), labels].argmax())
        sums[empty], sizes[empty] = points[worst], 1
        distances[worst] = 0.0
    return sums / sizes[:, None].astype(points.dtype)


def cluster_sums(points: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The vector sum of each cluster's members: membership (k x n) times points (n x d)."""
    membership = np.zeros((len(points), k), dtype=points.dtype)
    membership[np.arange(len(points)), labels] = 1.0
    return small_product(points.T, membership).T


def small_product(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ right`` in row blocks small enough for BLAS to run each on one thread.

    k-means makes thousands of small products. On a busy two-core machine, waking
    BLAS threads for each made one k-means run take 0.3 to 25 s (same input);
    blocks under OpenBLAS's threading threshold take a steady 0.1 to 0.2 s.
    """
    rows = max(1, SINGLE_THREAD_PRODUCT // max(1, left.shape[1] * right.shape[1]))
    if len(left) <= rows:
        return left @ right
    return np.vstack([left[i : i + rows] @ right for i in range(0, len(left), rows)])


def _squared_distances(points: np.ndarray, norms: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (n x k), given the points' squared norms."""
    products = small_product(points, centroids.T)
    squared = norms[:, None] + (centroids**2).sum(1)[None, :] - 2.0 * products
    return np.maximum(squared, 0.0)


def silhouette(points: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean silhouette with cosine distance, for unit-length rows, in O(n·k·d)."""
    sums = cluster_sums(points, labels, k)
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    similarity = small_product(points, sums.T)  # (n, k): summed cosine to each cluster
    own = np.arange(len(points)), labels
    mates = sizes[labels] - 1
    a = 1.0 - (similarity[own] - 1.0) / np.maximum(mates, 1)
    mean_distance = 1.0 - similarity / np.maximum(sizes, 1)[None, :]
    mean_distance[own] = np.inf
    mean_distance[:, sizes == 0] = np.inf
    b = mean_distance.min(axis=1)
    scores = np.where(mates > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(scores.mean())


def choose_k(points: np.ndarray, candidates: range) -> tuple[int, dict[int, float]]:
    """The k of best mean silhouette near the neighbour graph's eigengap (see the module's
    docstring), judged on a fixed sample of at most AUTO_K_SAMPLE rows; and the mean
    silhouette of each k tried."""
    if len(points) > AUTO_K_SAMPLE:
        rows = np.random.default_rng(SEED).choice(len(points), AUTO_K_SAMPLE, replace=False)
        points = points[np.sort(rows)]
    guess = eigengap_k(points, candidates)
    near = [k for k in candidates if abs(k - guess) <= 1]
    tried = {k: silhouette(points, kmeans(points, k)[0], k) for k in near}
    best = max(tried, key=lambda k: (round(tried[k], 6), -k))
    return best, {k: round(s, 4) for k, s in tried.items()}


def eigengap_k(points: np.ndarray, candidates: range) -> int:
    """The k in ``candidates`` after which the normalised Laplacian of the documents'
    nearest-neighbour graph has its largest eigenvalue gap: the number of groups it holds."""
    if len(candidates) == 1:
        return candidates[0]
    n = len(points)
    links = min(NEIGHBOURS, n - 1, max(2, round(n**0.5)))
    similarity = points @ points.T  # one product: BLAS threads pay off at this size
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argpartition(-similarity, links - 1, axis=1)[:, :links]
    graph = np.zeros((n, n))
    graph[np.repeat(np.arange(n), links), nearest.ravel()] = 1.0
    graph = np.maximum(graph, graph.T)
    scale = 1.0 / np.sqrt(graph.sum(axis=1))
    laplacian = np.eye(n) - graph * scale[:, None] * scale[None, :]
    values = np.linalg.eigvalsh(laplacian)[: candidates[-1] + 1]
    gaps = {k: values[k] - values[k - 1] for k in candidates if k < len(values)}
    return max(gaps, key=lambda k: (round(float(gaps[k]), 9), -k))


def document_groups(vectors: np.ndarray) -> np.ndarray:
    """Each row's topic at the automatically chosen k (all in one when too few to cluster)."""
    if len(vectors) < MIN_DOCUMENTS:
        return np.zeros(len(vectors), dtype=np.intp)
    points = centred(vectors)
    k, _ = choose_k(points, auto_k_range(len(points)))
    return kmeans(points, k)[0]


def auto_k_range(documents: int) -> range:
    return range(2, max(2, min(MAX_AUTO_K, documents // 3)) + 1)


# --- labels and representatives -------------------------------------------------------------


def topic_terms(
    table: TermTable,
    labels: np.ndarray,
    k: int,
    top: int,
    weights: np.ndarray | None = None,
) -> list[list[Keyword]]:
    """The ``top`` most distinctive terms of each cluster (c-TF-IDF), each row's counts
    multiplied by its weight (``weights``; None: 1), the documents it stands for.

    Kept sparse: one weight per (topic, term) pair that occurs, never a k x vocabulary
    matrix, so memory follows the text, whatever k is (a dense table for k = 2,999 over
    3,000 documents took 6 GB).
    """
    df = np.bincount(table.terms, minlength=len(table.vocabulary))
    shared = df[table.terms] >= 2
    keep = shared if shared.any() else np.ones_like(shared)
    width = max(1, len(table.vocabulary))
    keys = labels[table.documents[keep]].astype(np.int64) * width + table.terms[keep]
    pairs, inverse = np.unique(keys, return_inverse=True)
    counted = table.counts if weights is None else table.counts * weights[table.documents]
    counts = np.bincount(inverse.ravel(), weights=counted[keep], minlength=len(pairs))
    pair_topic, pair_term = pairs // width, pairs % width
    per_topic = np.bincount(pair_topic, weights=counts, minlength=k)
    per_term = np.bincount(pair_term, weights=counts, minlength=width)
    average = per_topic.sum() / k
    scores = (
        counts
        / np.maximum(per_topic[pair_topic], 1)
        * np.log1p(average / np.maximum(per_term[pair_term], 1))
    )
    order = np.lexsort((pair_term, -scores, pair_topic))  # by topic, heaviest first
    starts = np.searchsorted(pair_topic[order], np.arange(k + 1))
    return [
        [
            Keyword(table.vocabulary[int(pair_term[i])], round(float(scores[i]), 4))
            for i in order[starts[topic] : min(starts[topic + 1], starts[topic] + top)]
            if scores[i] > 0
        ]
        for topic in range(k)
    ]


def representatives(
    points: np.ndarray, labels: np.ndarray, centroids: np.ndarray, topic: int, count: int
) -> list[tuple[int, float]]:
    """Row positions of the ``count`` members closest to the topic's centre, and their cosine."""
    members = np.flatnonzero(labels == topic)
    centre = centroids[topic] / max(float(np.linalg.norm(centroids[topic])), 1e-12)
    scores = points[members] @ centre
    order = np.lexsort((members, -scores))[:count]
    return [(int(members[i]), round(float(scores[i]), 4)) for i in order]


# --- the service's part ----------------------------------------------------------------------


@dataclass
class Clustering:
    """Every document's topic, the topics' centres (centred space) and best members."""

    k: int
    automatic: bool
    silhouette: float
    tried: dict[int, float]
    labels: np.ndarray
    centroids: np.ndarray
    closest: list[list[tuple[int, float]]]  # per topic: (row, cosine) of its representatives


async def find_topics(corpus: Corpus, collection_name: str, k: int | None) -> TopicsResult:
    """Cluster a collection into ``k`` topics (None: choose k by silhouette)."""
    collection = await corpus.collection(collection_name)
    ids, vectors = await corpus.vectors(collection)
    _check_size(collection.name, len(ids), k)
    # The arithmetic runs in a worker thread: a resident server keeps answering others.
    found = await asyncio.to_thread(cluster, vectors, k)
    rows = term_sample(found.labels, found.k, TERMS_SAMPLE)
    shown = {row for topic in found.closest for row, _ in topic}
    refs = await corpus.refs([int(ids[row]) for row in sorted(shown | set(rows.tolist()))])
    texts = await corpus.texts(collection.id, [int(ids[row]) for row in rows])
    titled = [
        titled_text(refs[int(ids[row])].title, texts.get(int(ids[row]), ""))
        if int(ids[row]) in refs
        else ""
        for row in rows
    ]
    sizes = np.bincount(found.labels, minlength=found.k)
    # Each sampled document stands for size / sampled documents of its topic.
    weights = sizes / np.maximum(np.bincount(found.labels[rows], minlength=found.k), 1)
    terms = await asyncio.to_thread(
        _labelled, titled, found.labels[rows], found.k, weights[found.labels[rows]]
    )
    topics = _topics(found, terms, refs, ids)
    score = found.silhouette
    tried = found.tried or {found.k: score}
    return TopicsResult(collection.name, len(ids), found.k, k is None, score, tried, topics)


def _labelled(
    titled: list[str], labels: np.ndarray, k: int, weights: np.ndarray
) -> list[list[Keyword]]:
    return topic_terms(term_table(titled), labels, k, TOPIC_TERMS, weights)


def cluster(vectors: np.ndarray, k: int | None) -> Clustering:
    """k-means over the centred document vectors; on a fixed sample of ``KMEANS_SAMPLE``
    when there are more, every document then going to its nearest centre (see the
    module's docstring)."""
    if len(vectors) <= KMEANS_SAMPLE:
        points = centred(vectors)
        chosen, tried = (k, {}) if k is not None else choose_k(points, auto_k_range(len(points)))
        labels, centroids, _ = kmeans(points, chosen)
        score = round(silhouette(points, labels, chosen), 4)
        closest = [
            representatives(points, labels, centroids, topic, REPRESENTATIVES)
            for topic in range(chosen)
        ]
        return Clustering(chosen, k is None, score, tried, labels, centroids, closest)
    mean = vectors.mean(axis=0, dtype=np.float64).astype(np.float32)
    rows = np.sort(np.random.default_rng(SEED).choice(len(vectors), KMEANS_SAMPLE, replace=False))
    points = _centre(vectors[rows], mean)
    chosen, tried = (k, {}) if k is not None else choose_k(points, auto_k_range(len(vectors)))
    _, centroids, _ = kmeans(points, chosen)
    labels, centroids = _assign(vectors, mean, centroids)
    score = round(silhouette(points, labels[rows], chosen), 4)
    closest = _closest(vectors, mean, labels, centroids, REPRESENTATIVES)
    return Clustering(chosen, k is None, score, tried, labels, centroids, closest)


def _centre(rows: np.ndarray, mean: np.ndarray) -> np.ndarray:
    return normalise_rows(rows.astype(np.float32) - mean)


def _blocks(count: int) -> range:
    return range(0, count, ASSIGN_BLOCK)


def _assign(
    vectors: np.ndarray, mean: np.ndarray, centroids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every row's nearest centre, and the centres moved to the mean of their rows (one
    Lloyd step over all documents), a block of rows at a time: memory stays that of a block."""
    k = len(centroids)
    labels = np.empty(len(vectors), dtype=np.intp)
    sums = np.zeros_like(centroids, dtype=np.float64)
    squares = (centroids**2).sum(1)
    for start in _blocks(len(vectors)):
        block = _centre(vectors[start : start + ASSIGN_BLOCK], mean)
        found = (squares[None, :] - 2.0 * small_product(block, centroids.T)).argmin(axis=1)
        labels[start : start + len(block)] = found
        sums += cluster_sums(block, found, k)
    sizes = np.bincount(labels, minlength=k)
    moved = np.where(sizes[:, None] > 0, sums / np.maximum(sizes, 1)[:, None], centroids)
    return labels, moved.astype(np.float32)


def _closest(
    vectors: np.ndarray, mean: np.ndarray, labels: np.ndarray, centroids: np.ndarray, count: int
) -> list[list[tuple[int, float]]]:
    """Each topic's ``count`` rows of highest cosine to its centre (ties: lower row)."""
    units = normalise_rows(centroids)
    scores = np.empty(len(vectors), dtype=np.float32)
    for start in _blocks(len(vectors)):
        block = _centre(vectors[start : start + ASSIGN_BLOCK], mean)
        own = labels[start : start + len(block)]
        scores[start : start + len(block)] = np.einsum("ij,ij->i", block, units[own])
    found = []
    for topic in range(len(centroids)):
        members = np.flatnonzero(labels == topic)
        order = np.lexsort((members, -scores[members]))[:count]
        found.append([(int(members[i]), round(float(scores[members[i]]), 4)) for i in order])
    return found


def term_sample(labels: np.ndarray, k: int, size: int) -> np.ndarray:
    """Rows whose text labels the topics: all when at most ``size``, else a fixed random
    share of each topic, the same number from each (the smaller ones all)."""
    if len(labels) <= size:
        return np.arange(len(labels))
    rng = np.random.default_rng(SEED)
    members = [np.flatnonzero(labels == topic) for topic in range(k)]
    quota, left = size // max(k, 1), size
    chosen: list[np.ndarray] = []
    for group in sorted(members, key=len):  # the small ones first; their unused share goes on
        take = min(len(group), max(quota, left // max(1, k - len(chosen))))
        chosen.append(rng.choice(group, take, replace=False) if take < len(group) else group)
        left -= take
    return np.sort(np.concatenate(chosen))


def _topics(
    found: Clustering, terms: list[list[Keyword]], refs: dict[int, DocumentRef], ids: np.ndarray
) -> list[Topic]:
    """Topics largest first, numbered from 1, each with its closest documents."""
    sizes = np.bincount(found.labels, minlength=found.k)
    topics = [
        Topic(
            number=0,
            label=", ".join(t.term for t in terms[topic][:LABEL_TERMS]),
            terms=terms[topic],
            size=int(sizes[topic]),
            representatives=[
                Representative(refs[int(ids[row])], score)
                for row, score in found.closest[topic]
                if int(ids[row]) in refs
            ],
        )
        for topic in range(found.k)
    ]
    topics.sort(key=lambda t: (-t.size, t.label))
    for number, topic in enumerate(topics, start=1):
        topic.number = number
    return topics


def _check_size(collection: str, documents: int, k: int | None) -> None:
    if documents < MIN_DOCUMENTS:
        raise TooFewDocumentsError(
            f"collection {collection!r} has {documents} document(s) with text and topics need "
            f"at least {MIN_DOCUMENTS}; add more: analyzer ingest PATH --collection {collection}"
        )
    if k is not None and not 2 <= k <= max_k(documents):
        raise UsageError(
            f"--k must be between 2 and {max_k(documents)} for {documents} documents "
            f"(half the documents, {MAX_K} at most), got {k}; "
            "or leave it out to choose k automatically"
        )


def max_k(documents: int) -> int:
    """The largest k worth asking for: two documents a topic on average, and no more topics
    than a person reads through (the HTTP API stops at the same number). Each topic costs
    k-means time and a table of labels; a cap set by the collection, not by the caller,
    keeps that bounded."""
    return max(2, min(MAX_K, documents // 2))
