"""What the re-ranker reads: focused passages, and the model shared by the process."""

from __future__ import annotations

import pytest

from modules.semantic_core.embeddings import registry
from modules.semantic_core.embeddings.inputs import chunk_passage as passage
from modules.semantic_core.lexical import term_matcher
from modules.semantic_core.search.passages import focused_passage

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
    sentences[12] = "The samples were cooled after staining."
    text = " ".join(sentences)
    assert sentences[12] in focused_passage("", text, ["cooling"], 48)


def test_short_terms_match_whole_words_only() -> None:
    matcher = term_matcher(["vitamin", "d", "60"])
    assert matcher is not None
    found = matcher.findall("Vitamin D data during 60 days, 600 doses, vitamins")
    assert found == ["Vitamin", "D", "60", "vitamins"]


def test_cjk_terms_match_inside_a_run() -> None:
    matcher = term_matcher(["東京"])
    assert matcher is not None and matcher.findall("私は東京に住んでいます") == ["東京"]


def test_a_single_long_sentence_is_kept_for_the_encoder_to_truncate() -> None:
    text = "word " * 400 + "end."
    assert focused_passage("", text, ["word"], 64) == text.strip()


def test_an_oversized_sentence_holding_the_terms_is_chosen_alone() -> None:
    long_one = "Fractures " + "and more bone words " * 40 + "end."
    text = " ".join([*FILLER[:5], long_one, *FILLER[5:10]])
    assert focused_passage("", text, ["fractures"], 64) == long_one


def test_lines_without_punctuation_are_units_too() -> None:
    lines = [f"item {i} garden soil weather" for i in range(40)]
    lines[33] = "item 33 burn water cooling"
    cut = focused_passage("", "\n".join(lines), ["burn", "water"], 32)
    assert "item 33 burn water cooling" in cut and "item 0 " not in cut


def test_cjk_text_is_measured_per_character() -> None:
    sentences = ["天気は晴れです。"] * 30
    sentences[20] = "東京の地下鉄は便利です。"
    cut = focused_passage("", "".join(sentences), ["東京"], 32)
    assert "東京の地下鉄は便利です。" in cut and len(cut) < 60


def test_a_heading_over_budget_leaves_room_for_the_body() -> None:
    heading = "A very long document title that goes on " * 6 + "> Cooling"
    text = " ".join([*FILLER[:10], "Burns need cool water.", *FILLER[10:20]])
    cut = focused_passage(heading, text, ["burns", "water"], 64)
    assert cut.startswith("Cooling\n") and "Burns need cool water." in cut


def test_blank_text_gives_the_heading_alone() -> None:
    assert passage("Burns", "   \n ") == "Burns"
    assert focused_passage("Burns", "  ", ["burn"], 64) == "Burns"


def test_the_reranker_is_loaded_once_and_shared() -> None:
    calls: list[str] = []
    models = registry.BundledModels(load=lambda spec: calls.append(spec) or object())

    first = models.reranker()

    assert models.reranker() is first
    assert calls == [registry.RERANK_MODEL]


def test_a_failed_load_is_retried_by_the_next_caller() -> None:
    outcomes: list[object] = [registry.ModelError("model files are missing"), object()]

    def load(spec: str) -> object:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    models = registry.BundledModels(load=load)
    with pytest.raises(registry.ModelError, match="missing"):
        models.reranker()
    assert models.reranker() is not None


def test_the_passage_cache_keeps_only_the_newest_entries() -> None:
    from modules.semantic_core.search.fusion import evict_oldest as _evict_oldest

    cache = {key: key * 10 for key in range(8)}
    _evict_oldest(cache, 5)
    assert list(cache) == [3, 4, 5, 6, 7]
    _evict_oldest(cache, 5)
    assert len(cache) == 5


def test_a_first_line_that_repeats_the_heading_is_read_once() -> None:
    cooling = passage("Burns > Cooling", "Cooling\n\nTwenty minutes.")
    assert cooling == "Burns > Cooling\nTwenty minutes."
    assert passage("Burns", "Burns\nCool them.") == "Burns\nCool them."
    assert passage("Burns", "Scalds are burns too.") == "Burns\nScalds are burns too."
