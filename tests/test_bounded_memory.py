"""Memory bounded by settings, not by what a caller sends: topics' k, the socket's
request frames and what follows them, and files that are binary by their first block."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np

from modules.semantic_core.analysis.keywords import term_table
from modules.semantic_core.analysis.topics import MAX_K, max_k, topic_terms
from tests.helpers import cli, one_line_error

# --- topics -------------------------------------------------------------------------------


def test_topics_refuse_more_than_half_the_documents_naming_the_maximum(
    sample_data_dir: Path,
) -> None:
    result = cli("--data-dir", str(sample_data_dir), "topics", "--k", "2999")
    one_line_error(result, 2, "--k must be between 2 and 23 for 47 documents", "got 2999")
    assert cli("--data-dir", str(sample_data_dir), "topics", "--k", "23").exit_code == 0


def test_the_largest_k_is_half_the_documents_and_never_above_the_hard_cap() -> None:
    assert [max_k(n) for n in (4, 5, 47, 100, 3000)] == [2, 2, 23, 50, MAX_K]


def test_topics_help_names_the_limit() -> None:
    result = cli("topics", "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "half the documents" in result.stdout and f"{MAX_K} at most" in result.stdout


def test_topic_labels_take_memory_by_the_text_not_by_k_times_the_vocabulary() -> None:
    # 2,000 documents of 20 words each, every word shared by two documents: 20,000 words
    # and as many phrases. Dense tables for k = 1,000 would hold 1,000 x 39,000 floats
    # (310 MB each); sparse ones hold one entry per (topic, term) that occurs.
    texts = [" ".join(_word(d // 2 * 20 + w) for w in range(20)) for d in range(2000)]
    table = term_table(texts)
    labels = np.arange(2000) // 2
    tracemalloc.start()
    try:
        found = topic_terms(table, labels, 1000, 8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 1024 * 1024, f"peak {peak:,} bytes"
    first_words = {word for k in found[0] for word in k.term.split()}
    assert len(found) == 1000 and first_words <= {_word(w) for w in range(20)}


def _word(number: int) -> str:
    """A distinct word of letters only for each number (terms are alphabetic)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    digits = []
    while True:
        number, rest = divmod(number, 26)
        digits.append(letters[rest])
        if not number:
            break
    return "q" + "".join(digits) + "x"
