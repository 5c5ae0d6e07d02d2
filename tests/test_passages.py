"""What the re-ranker reads: focused passages, and the model shared by the process."""

from __future__ import annotations

import pytest

from modules.semantic_core.embeddings import registry
from modules.semantic_core.passages import focused_passage, passage

FILLER = [f"Sentence number {i} talks about gardening, weather and soil." for i in range(30)]


def test_a_chunk_within_budget_is_read_whole() -> None:
    text = "Cooling a burn. Hold it under running water for twenty minutes."
    assert focused_passage("First aid", text, ["burn", "water"], 256) == passage("First aid", text)


def test_without_terms_the_chunk_is_left_to_the_encoder() -> None:
    text = " ".join(FILLER)
    assert focused_passage("", text, [], 64) == text


def test_the_window_holds_the_sentences_with_the_query_terms() -> None:
    sentences = list(FILLER)
    sentences[21] = "Vitamin D deficiency raises the risk of fractures in older adults."
    sentences[22] = "Fractures of the hip were most common among deficient patients."
    text = " ".join(sentences)

    cut = focused_passage("Bone health", text, ["vitamin", "deficiency", "fractures"], 64)

    assert cut.startswith("Bone health\n")
    assert sentences[21] in cut and sentences[22] in cut
    assert sentences[0] not in cut  # a plain cut would have kept the start
    assert len(cut.split()) < len(text.split()) / 3


def test_terms_match_inflected_forms() -> None:
    sentences = list(FILLER)
    sentences[12] = "The cells were counted after staining."
    text = " ".join(sentences)
    assert sentences[12] in focused_passage("", text, ["cell"], 48)


def test_a_single_long_sentence_is_kept_for_the_encoder_to_truncate() -> None:
    text = "word " * 400 + "end."
    assert focused_passage("", text, ["word"], 64) == text.strip()


def test_the_reranker_is_loaded_once_and_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(registry, "_RERANKER", registry._SharedReranker())
    monkeypatch.setattr(registry, "load_embedder", lambda spec: calls.append(spec) or object())

    first = registry.reranker()

    assert registry.reranker() is first
    assert calls == [registry.RERANK_MODEL]


def test_a_failed_load_is_retried_by_the_next_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes: list[object] = [registry.ModelError("model files are missing"), object()]

    def load(spec: str) -> object:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(registry, "_RERANKER", registry._SharedReranker())
    monkeypatch.setattr(registry, "load_embedder", load)
    with pytest.raises(registry.ModelError, match="missing"):
        registry.reranker()
    assert registry.reranker() is not None


def test_the_passage_cache_keeps_only_the_newest_entries() -> None:
    from modules.semantic_core.search import _evict_oldest

    cache = {key: key * 10 for key in range(8)}
    _evict_oldest(cache, 5)
    assert list(cache) == [3, 4, 5, 6, 7]
    _evict_oldest(cache, 5)
    assert len(cache) == 5
