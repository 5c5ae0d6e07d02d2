"""The duplicate scan from the stored sketches: candidates by banding, scores unchanged.

The exact answer is known for any small corpus: every pair's score from the blocked
all-pairs product (``near_pairs``). The scan must return the same pairs with the same
scores while reading the text of candidate documents only.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.core.module import core
from modules.semantic_core import copies
from modules.semantic_core.analysis import duplicates
from modules.semantic_core.analysis.corpus import Corpus
from modules.semantic_core.analysis.duplicates import (
    PAD,
    WordHashes,
    candidate_pairs,
    near_pairs,
    row_products,
    shared_counts,
    shingle_matrix,
    sketch_rows,
)
from modules.semantic_core.db_models import Document
from modules.semantic_core.ingest.service import Record
from modules.semantic_core.module import semantic_core
from tests.helpers import ingest_records, within_app

# --- a generated corpus with copies at every distance ---------------------------------------


def generated_corpus(documents: int, seed: int = 22) -> list[str]:
    """Documents of Zipf-drawn words (stock phrases arise), some sharing a passage, and
    copies with up to a sixth of their words changed, some also a fifth longer: scores from
    1.0 down to about 0.6."""
    rng = random.Random(seed)
    vocabulary = [f"w{index}" for index in range(3000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]

    def words(count: int) -> list[str]:
        return rng.choices(vocabulary, weights, k=count)

    texts = [" ".join(words(rng.randint(20, 400))) for _ in range(documents)]
    passage = words(120)
    for index in range(0, documents, 40):  # shared passages: middling scores
        texts[index] = " ".join(passage + texts[index].split()[:150])
    for source in range(0, documents, 7):
        body = texts[source].split()
        for _ in range(rng.randint(0, len(body) // 6)):
            body[rng.randrange(len(body))] = rng.choice(vocabulary)
        if source % 3 == 0:
            body += words(len(body) // 5)
        texts.append(" ".join(body))
    texts += ["", "one", "one two", "one two"]  # no words, a single word, an equal pair
    return texts


def exact_result(texts: list[str], threshold: float) -> dict[tuple[int, int], float]:
    firsts, seconds, scores = near_pairs(shingle_matrix(texts), threshold)
    return {(int(a), int(b)): float(s) for a, b, s in zip(firsts, seconds, scores, strict=True)}


def sketch_result(texts: list[str], threshold: float) -> dict[tuple[int, int], float]:
    words = WordHashes()
    matrix, lengths = sketch_rows([copies.sketch(text, words) for text in texts])
    firsts, seconds = candidate_pairs(matrix, lengths, threshold)
    rows = shingle_matrix(texts)
    scores = row_products(rows, firsts, rows, seconds)
    keep = scores >= threshold
    return {
        (int(a), int(b)): float(s)
        for a, b, s in zip(firsts[keep], seconds[keep], scores[keep], strict=True)
    }


@pytest.mark.parametrize("threshold", [0.9, 0.7, 0.5])
def test_candidates_give_the_exact_all_pairs_result(threshold: float) -> None:
    texts = generated_corpus(420)
    expected = exact_result(texts, threshold)
    found = sketch_result(texts, threshold)
    assert found.keys() == expected.keys()
    for pair, score in expected.items():
        assert found[pair] == pytest.approx(score, abs=1e-5)
    # The corpus puts pairs on both sides of the threshold, close to it.
    near_it = [s for s in exact_result(texts, threshold - 0.1).values() if s < threshold]
    assert len(expected) >= 15 and len(near_it) >= 3


def test_common_values_do_not_make_the_candidates_of_a_low_threshold() -> None:
    """At 0.5 a key is one sketch value; a value most documents share pairs none of them."""
    stock = "of the in the to the and the " * 10
    texts = [stock + " ".join(f"u{n}x{i}" for i in range(80)) for n in range(120)]
    matrix, lengths = sketch_rows([copies.sketch(text) for text in texts])
    firsts, _ = candidate_pairs(matrix, lengths, 0.5)
    assert len(firsts) == 0
    assert exact_result(texts, 0.5) == {}


def test_pairs_within_groups_come_once_whatever_the_chunk() -> None:
    starts, sizes = np.array([0, 3, 5, 9]), np.array([3, 2, 4, 1])
    expected = {
        (int(start) + i, int(start) + j)
        for start, size in zip(starts, sizes, strict=True)
        for i, j in itertools.combinations(range(int(size)), 2)
    }
    for limit in (1, 2, 5, 100):
        chunks = list(duplicates._within_groups(starts, sizes, limit))
        pairs = [
            (a, b) for left, right in chunks for a, b in zip(left, right, strict=True)
        ]
        assert len(pairs) == len(expected) == 10
        assert set(pairs) == expected
        assert len(chunks) > 1 or limit == 100


def test_shared_counts_are_set_intersections() -> None:
    rng = np.random.default_rng(3)
    pool = np.unique(rng.integers(0, 2**63, size=600, dtype=np.int64)).astype(np.uint64)
    blobs: list[bytes | None] = []
    for length in [128] * 30 + [5, 1, 60, 0]:
        blobs.append(np.sort(rng.choice(pool, length, replace=False)).tobytes() or None)
    matrix, lengths = sketch_rows(blobs)
    assert lengths.tolist()[-4:] == [5, 1, 60, 0]
    assert (matrix[-1] == PAD).all()
    pairs = np.array(list(itertools.combinations(range(len(blobs)), 2)))
    counts = shared_counts(matrix, pairs[:, 0], pairs[:, 1])
    sets = [set(row[:length].tolist()) for row, length in zip(matrix, lengths, strict=True)]
    expected = [len(sets[a] & sets[b]) for a, b in pairs]
    assert counts.tolist() == expected
    assert max(expected) > 10


def test_sketch_estimates_are_exact_for_whole_sets_and_close_for_samples() -> None:
    words = WordHashes()
    short = ["alpha beta gamma delta epsilon zeta eta theta", "alpha beta gamma delta kappa"]
    rng = random.Random(4)
    long = [f"w{rng.randrange(5000)}" for _ in range(3000)]
    edited = list(long)
    for place in range(0, 3000, 25):  # 120 of 3,000 words changed
        edited[place] = "changed"
    texts = [*short, " ".join(long), " ".join(edited)]
    matrix, lengths = sketch_rows([copies.sketch(text, words) for text in texts])
    firsts, seconds = np.array([0, 2]), np.array([1, 3])
    estimates, samples = duplicates.sketch_scores(matrix, lengths, firsts, seconds)
    sets = [set(duplicates.shingle_hashes(text, words).tolist()) for text in texts]
    exact = [
        len(sets[a] & sets[b]) / np.sqrt(len(sets[a]) * len(sets[b])) for a, b in [(0, 1), (2, 3)]
    ]
    assert estimates[0] == pytest.approx(exact[0]) and samples[0] == 4
    assert estimates[1] == pytest.approx(exact[1], abs=0.08) and samples[1] >= 100
    assert estimates[1] >= duplicates.score_floor(0.9, samples[1:])[0]


def test_sketch_rows_take_the_high_bits_of_stored_sketches_in_order() -> None:
    text = "a short text of a few words to sketch here"
    blob = copies.sketch(text)
    assert blob is not None
    matrix, lengths = sketch_rows([blob, None, b""])
    stored = np.frombuffer(blob, dtype="<u8")
    assert lengths.tolist() == [len(stored), 0, 0]
    assert matrix[0, : len(stored)].tolist() == (stored >> np.uint64(32)).tolist()
    assert (np.diff(matrix[0, : len(stored)].astype(np.int64)) >= 0).all()


# --- the scan of a stored collection, on both backends --------------------------------------


def planted_records() -> list[Record]:
    texts = generated_corpus(60, seed=5)
    return [Record(f"r{index:03d}", text or "-") for index, text in enumerate(texts)]


Scan = tuple[dict[frozenset[str], float], set[str]]


def scan(settings: Settings, threshold: float, monkeypatch: pytest.MonkeyPatch) -> Scan:
    """The scan's pairs (uid pair -> score) and the uids whose text it read ("*": all)."""
    read: set[int] = set()
    corpus_texts = Corpus.texts

    async def spying(self: Corpus, collection_id: int, ids: Sequence[int] = ()) -> Any:
        read.update(ids or [-1])
        return await corpus_texts(self, collection_id, ids)

    async def work(app: AppContext) -> Scan:
        with monkeypatch.context() as patch:
            patch.setattr(Corpus, "texts", spying)
            report = await semantic_core(app).analysis.duplicates("planted", threshold)
        corpus = Corpus(core(app).crud)
        refs = await corpus.refs(list(read - {-1}))
        pairs = {frozenset((p.first.uid, p.second.uid)): p.score for p in report.pairs}
        return pairs, {refs[i].uid for i in read if i in refs} | ({"*"} if -1 in read else set())

    return within_app(settings, work)


def stored_exact(settings: Settings, threshold: float) -> dict[frozenset[str], float]:
    async def work(app: AppContext) -> dict[frozenset[str], float]:
        corpus = Corpus(core(app).crud)
        collection = await corpus.collection("planted")
        documents = await corpus.documents(collection.id)
        texts = await corpus.texts(collection.id)
        found = exact_result([texts.get(d.id, "") for d in documents], threshold)
        return {frozenset((documents[a].uid, documents[b].uid)): s for (a, b), s in found.items()}

    return within_app(settings, work)


def forget_sketches(settings: Settings, uids: list[str]) -> None:
    async def work(app: AppContext) -> None:
        await core(app).crud.update_where(Document, {"uid": uids}, {"sketch": None})

    within_app(settings, work)


def test_planted_copies_are_found_with_their_exact_score(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_records(settings, planted_records(), collection="planted")
    unsketched = min(stored_exact(settings, 0.9), key=sorted)
    forget_sketches(settings, sorted(unsketched))  # as if stored before sketches existed
    for threshold in (0.9, 0.5):
        expected = stored_exact(settings, threshold)
        found, read = scan(settings, threshold, monkeypatch)
        assert found.keys() == expected.keys()
        for pair, score in expected.items():
            assert found[pair] == pytest.approx(score, abs=1e-4)
        assert unsketched in found
        assert "*" not in read  # never the whole collection's text
    below = [pair for pair, score in stored_exact(settings, 0.5).items() if score < 0.9]
    assert below and not set(below) & scan(settings, 0.9, monkeypatch)[0].keys()


def test_only_candidate_documents_are_read(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_records(settings, planted_records(), collection="planted")
    found, read = scan(settings, 0.9, monkeypatch)
    in_pairs = {uid for pair in found for uid in pair}
    assert in_pairs and in_pairs <= read
    assert len(read) < len(planted_records()) / 2
