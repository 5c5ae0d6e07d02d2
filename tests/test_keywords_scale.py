"""Keywords and topics that stay bounded on large collections.

A document's keywords come from its own text and kept document frequencies; the
collection's keywords and the topics' terms from bounded samples; k-means from a
sample, every document then assigned. Each is checked against the full computation
on small data, and the first ``show`` after a change must read one document only.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from analyzer.settings import Settings
from modules.semantic_core.analysis import keywords, topics
from modules.semantic_core.analysis.corpus import Corpus
from modules.semantic_core.analysis.keywords import (
    document_keywords,
    frequencies,
    sample_ids,
    term_table,
    tfidf_weights,
    top_per_row,
)
from modules.semantic_core.ingest.service import Record
from modules.semantic_core.module import semantic_core
from tests.helpers import ingest_records, within_app

SOURCES = {
    "birds": "heron kingfisher plover sparrow warbler nest feather migration wetland beak",
    "engines": "piston crankshaft cylinder valve camshaft gasket turbo ignition exhaust torque",
    "pottery": "clay kiln glaze wheel porcelain stoneware slip firing earthenware pottery",
}
FILLER = "the report describes how each part was observed during the long season".split()


def source_text(source: str, rng: random.Random) -> str:
    words = SOURCES[source].split()
    sentences = []
    for _ in range(6):
        drawn = [rng.choice(words) if rng.random() < 0.5 else rng.choice(FILLER) for _ in range(10)]
        sentences.append(" ".join(drawn).capitalize() + ".")
    return " ".join(sentences)


def source_records(per_source: int, seed: int = 3) -> list[Record]:
    rng = random.Random(seed)
    return [
        Record(f"{source}-{i:03d}", source_text(source, rng))
        for source in SOURCES
        for i in range(per_source)
    ]


def analysis(settings: Settings, method: str, *args: Any, **kwargs: Any) -> Any:
    async def work(app: Any) -> Any:
        return await getattr(semantic_core(app).analysis, method)(*args, **kwargs)

    return within_app(settings, work)


def same_ranking(found: Sequence[keywords.Keyword], full: Sequence[keywords.Keyword]) -> None:
    """Equal scores rank for rank; equal terms wherever the score is not tied."""
    assert [k.score for k in found] == [k.score for k in full]
    scores = [k.score for k in full]
    untied = [i for i, s in enumerate(scores) if scores.count(s) == 1]
    assert [found[i].term for i in untied] == [full[i].term for i in untied]
    assert untied  # the comparison above compared something


# --- one document's keywords ------------------------------------------------------------------


def test_document_keywords_equal_the_full_table_when_the_df_is_complete() -> None:
    texts = [r.text for r in source_records(4)] + ["Herons nest by the kiln. Clay herons."]
    table = term_table(texts)
    full = top_per_row(table, tfidf_weights(table), keywords.STORED_TERMS)
    kept = frequencies(table, total=len(texts))
    assert kept.complete
    for text, row in zip(texts, full, strict=True):
        same_ranking(document_keywords(text, kept, keywords.STORED_TERMS), row)


def test_part_of_a_table_weighs_as_a_table_of_those_documents() -> None:
    texts = [r.text for r in source_records(3)]
    rows = np.array([1, 4, 5, 8])
    part = keywords.rows_of(term_table(texts), rows)
    alone = term_table([texts[row] for row in rows])
    top = keywords.STORED_TERMS
    for found, full in zip(
        top_per_row(part, tfidf_weights(part), top),
        top_per_row(alone, tfidf_weights(alone), top),
        strict=True,
    ):
        same_ranking(found, full)


def test_sampled_frequencies_estimate_the_df_and_keep_terms_seen_twice() -> None:
    texts = ["heron nest", "heron wetland", "kiln glaze", "heron kiln"]
    kept = frequencies(term_table(texts), total=40)  # four documents of forty
    assert not kept.complete
    assert kept.counts == {"heron": 3, "kiln": 2}
    idf = kept.idf(["heron", "kiln", "glaze", "otter"])
    assert idf[0] == pytest.approx(np.log(41 / 31) + 1)  # df 3 of 4 -> 30 of 40
    assert idf[2] == idf[3] == pytest.approx(np.log(41 / 11) + 1)  # seen once or never: rare


def test_a_document_without_words_has_no_keywords() -> None:
    kept = frequencies(term_table(["heron nest"]), total=1)
    assert document_keywords("12 34 !!", kept, 5) == []


def test_the_sample_moves_only_by_the_documents_added_or_removed() -> None:
    ids = np.arange(1, 5001, dtype=np.int64)
    chosen = sample_ids(ids, 500)
    assert len(chosen) == 500 and len(set(chosen.tolist())) == 500
    assert np.array_equal(chosen, sample_ids(ids[::-1].copy(), 500))  # order does not matter
    added = np.arange(5001, 5101, dtype=np.int64)
    grown = set(sample_ids(np.concatenate([ids, added]), 500).tolist())
    assert grown <= set(chosen.tolist()) | set(added.tolist())
    outside = int(np.setdiff1d(ids, chosen)[0])
    assert np.array_equal(sample_ids(ids[ids != outside], 500), chosen)
    assert np.array_equal(sample_ids(ids[:300], 500), ids[:300])  # fewer: all of them
    assert 0.35 < float(np.mean(chosen <= 2500)) < 0.65  # spread over the ids


# --- through the service ----------------------------------------------------------------------


def counting_texts(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Records the documents each ``Corpus.texts`` call asks for ([] for all of them)."""
    asked: list[list[int]] = []
    original = Corpus.texts

    async def texts(self: Corpus, collection_id: int, document_ids: Sequence[int] = ()) -> Any:
        asked.append(sorted(document_ids))
        return await original(self, collection_id, document_ids)

    monkeypatch.setattr(Corpus, "texts", texts)
    return asked


def test_first_show_after_a_change_reads_only_that_document(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_records(settings, source_records(8), collection="c")
    assert analysis(settings, "keywords", collection="c").cached is False
    note = "Otters swim past the heron. The otters dive for fish in the wetland."
    ingest_records(settings, [Record("otters", note)], collection="c")  # 24 -> 25 documents
    asked = counting_texts(monkeypatch)
    profile = analysis(settings, "show", "otters", "c")
    assert asked == [[profile.document.id]]
    assert profile.keywords[0].term == "otters"
    result = analysis(settings, "keywords", "otters", "c")
    assert result.cached is True and asked[1:] == [[profile.document.id]]
    assert result.keywords[:1] == profile.keywords[:1]


def test_kept_frequencies_are_counted_again_when_the_collection_grew_much(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_records(settings, source_records(2), collection="g")
    assert analysis(settings, "keywords", "birds-000", "g").cached is False
    grown = [Record(f"new-{r.uid}", r.text) for r in source_records(4, seed=9)]
    ingest_records(settings, grown, collection="g")  # 6 -> 18 documents
    asked = counting_texts(monkeypatch)
    result = analysis(settings, "keywords", "birds-000", "g")
    assert result.cached is False and len(asked[-1]) == 18  # the sample is the whole collection


def test_sampled_collection_keywords_still_name_every_source(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keywords, "SAMPLE_DOCUMENTS", 18)
    monkeypatch.setattr(keywords, "LIST_DOCUMENTS", 15)  # the list on part of the df's sample
    ingest_records(settings, source_records(15), collection="s")  # 45 documents
    asked = counting_texts(monkeypatch)
    result = analysis(settings, "keywords", collection="s", top=10)
    assert max(len(ids) for ids in asked) == 18 and [] not in asked
    found = {k.term for k in result.keywords}
    for source, words in SOURCES.items():
        assert found & set(words.split()), f"no {source} term in {sorted(found)}"


# --- topics -----------------------------------------------------------------------------------


def separated(points_per_group: int, groups: int = 3, dimension: int = 32) -> np.ndarray:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(groups, dimension)) * 4
    rows = [centre + rng.normal(size=(points_per_group, dimension)) for centre in centres]
    return np.vstack(rows).astype(np.float32)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_sampled_kmeans_gives_the_full_partition_on_separated_groups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vectors = separated(100)
    full = topics.cluster(vectors, None)
    monkeypatch.setattr(topics, "KMEANS_SAMPLE", 60)
    monkeypatch.setattr(topics, "ASSIGN_BLOCK", 64)  # several blocks
    sampled = topics.cluster(vectors, None)
    assert full.k == sampled.k == 3
    assert same_partition(full.labels, sampled.labels)
    for topic, closest in enumerate(sampled.closest):
        assert len(closest) == topics.REPRESENTATIVES
        assert all(sampled.labels[row] == topic for row, _ in closest)
        scores = [score for _, score in closest]
        assert scores == sorted(scores, reverse=True)
    fixed = topics.cluster(vectors, 3)
    assert not fixed.automatic and same_partition(fixed.labels, full.labels)


def test_the_term_sample_shares_documents_out_between_topics() -> None:
    labels = np.array([0] * 500 + [1] * 30 + [2] * 70)
    rows = topics.term_sample(labels, 3, 150)
    assert len(rows) == 150 and len(set(rows.tolist())) == 150
    assert np.bincount(labels[rows]).tolist() == [60, 30, 60]  # the small one whole
    assert np.array_equal(topics.term_sample(labels[:100], 3, 150), np.arange(100))


def test_weighted_topic_terms_count_a_document_as_its_copies() -> None:
    # Commas keep phrases out: every term is then in two documents or more either way.
    texts = ["heron, kiln, heron", "kiln, glaze", "heron, glaze, kiln", "glaze, heron"]
    labels = np.array([0, 1, 0, 1])
    weighted = topics.topic_terms(term_table(texts), labels, 2, 5, np.array([3.0, 1, 1, 1]))
    copies = texts[:1] * 3 + texts[1:]
    copied = topics.topic_terms(term_table(copies), np.array([0, 0, 0, 1, 0, 1]), 2, 5)
    assert weighted == copied
