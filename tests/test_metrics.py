"""Metrics against cases computed by hand."""

from __future__ import annotations

import math

import pytest

from modules.semantic_core.search.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k


def test_ndcg_binary_relevance_by_hand() -> None:
    # Relevant d1, d3; ranking d1, d2, d3: DCG = 1/log2(2) + 1/log2(4) = 1.5
    # ideal: 1 + 1/log2(3) = 1.6309...
    judged = {"d1": 1, "d3": 1}
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["d1", "d2", "d3"], judged, k=10) == pytest.approx(expected)


def test_ndcg_graded_relevance_uses_the_grade_as_gain() -> None:
    # Cranfield-style grades. Ranking: d2 (grade 1), d1 (grade 3), d9 (unjudged).
    # DCG = 1/1 + 3/log2(3) = 2.8928...; ideal (3, 1) = 3 + 1/log2(3) = 3.6309...
    judged = {"d1": 3, "d2": 1}
    expected = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert ndcg_at_k(["d2", "d1", "d9"], judged) == pytest.approx(expected)


def test_ndcg_cut_at_k_and_perfect_ranking() -> None:
    judged = {"a": 2, "b": 1}
    assert ndcg_at_k(["a", "b"], judged) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "a"], judged, k=1) == 0.0


def test_ndcg_without_relevant_documents_is_zero() -> None:
    assert ndcg_at_k(["a"], {"a": 0}) == 0.0


def test_recall_counts_relevant_found_in_top_k() -> None:
    judged = {"a": 1, "b": 2, "c": 1, "z": 0}
    assert recall_at_k(["a", "x", "b"], judged, k=100) == pytest.approx(2 / 3)
    assert recall_at_k(["x", "a", "b"], judged, k=1) == 0.0


def test_mrr_is_reciprocal_rank_of_first_relevant() -> None:
    assert mrr_at_k(["x", "y", "a"], {"a": 1}) == pytest.approx(1 / 3)
    assert mrr_at_k(["x"] * 10 + ["a"], {"a": 1}, k=10) == 0.0


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([3.0], 99) == 3.0
