"""Where a hybrid hit points inside its document: the start of the line window the
re-ranker finds closest to the question, not the line with the most query words."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modules.semantic_core.search.windows import line_windows
from tests.helpers import FakeModels, HashEmbedder, cli_json

# Shaped like rsync(1): the entry that answers "limit rsync's speed" says "maximum
# transfer rate"; the entry before it says "bandwidth" and "rsync" twice.
RSYNC_PAGE = """\
RSYNC(1)                     User Commands                    RSYNC(1)

NAME
       rsync - a fast, versatile, remote (and local) file-copying tool

OPTIONS
       --checksum, -c
              This changes the way rsync checks if the files have been
              changed and are in need of a transfer.  Without this option,
              rsync uses a "quick check" that (by default) checks if each
              file's size and time of last modification match.

       --whole-file, -W
              This option disables rsync's delta-transfer algorithm, which
              causes all transferred files to be sent whole, so
              rsync bandwidth use may be higher.  The transfer may be faster if
              this option is used when the bandwidth between the source and
              destination machines is higher than the bandwidth to disk.

       --bwlimit=RATE
              This option allows you to specify the maximum transfer rate
              for the data sent over the socket, specified in units per
              second.  The RATE value can be suffixed with a string to
              indicate a size multiplier, and may be a fractional value.

       --timeout=SECONDS
              This option allows you to set a maximum I/O timeout in
              seconds.  If no data is transferred for the specified time
              then rsync will exit.  The default is 0, which means no
              timeout.
"""
QUESTION = "rsync bandwidth speed limit"
SPEED = {"speed", "limit", "rate", "transfer", "maximum"}


class SpeedReranker(HashEmbedder):
    """A re-ranker that knows one thing: words about speed limits mean the same."""

    def encode(self, texts: Sequence[str], max_length: int | None = None) -> Any:
        import numpy as np

        vectors = np.zeros((len(texts), 2), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            vectors[row] = [sum(w in SPEED for w in words), 0.1]
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_hybrid_hit_points_at_the_window_the_reranker_prefers(
    data_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "rsync.1.txt").write_text(RSYNC_PAGE, encoding="utf-8")
    models = FakeModels()
    models.rerank = SpeedReranker("speed")
    base = ("--data-dir", str(data_dir))
    cli_json(*base, "ingest", str(tmp_path / "rsync.1.txt"), models=models)
    lines = RSYNC_PAGE.split("\n")
    entry = next(i for i, line in enumerate(lines, start=1) if "--bwlimit" in line)

    hybrid = cli_json(*base, "query", QUESTION, "-k", "1", models=models)["results"][0]
    keyword = cli_json(*base, "query", QUESTION, "-k", "1", "-m", "keyword", models=models)
    keyword_line = keyword["results"][0]["line"]

    assert "bandwidth" in lines[keyword_line - 1]  # the line with the most query words
    # The window starts at most a few lines above the entry (windows start every 32
    # tokens, not at entries) and holds it; the snippet shows it.
    assert entry - 3 <= hybrid["line"] <= entry and hybrid["line"] != keyword_line
    assert "maximum transfer rate" in hybrid["snippet"]


def test_line_windows_start_every_stride_tokens_and_keep_whole_lines() -> None:
    text = "\n".join(f"line {n} " + "word " * 10 for n in range(20))
    windows = list(line_windows("Title > Section", text, budget=64, stride=32))
    starts = [w.line for w in windows]
    assert starts[0] == 0 and len(starts) > 3
    assert all(b - a in (2, 3) for a, b in zip(starts, starts[1:], strict=False))
    for window in windows:
        assert window.text.startswith("Title > Section\n")
        assert window.text.split("\n", 1)[1].startswith(f"line {window.line} ")


def _long_page() -> str:
    """rsync(1)-shaped: many entries that say "rsync" and "bandwidth", and far below
    them the one that answers, worded without a single word of the question."""
    entries = [
        f"       --option-{n}\n"
        f"              This rsync option number {n} changes how the bandwidth of the\n"
        f"              link is shared between files when rsync sends them in order.\n"
        for n in range(40)
    ]
    answer = (
        "       --bwlimit=RATE\n"
        "              This option allows you to specify the maximum transfer rate\n"
        "              for the data sent over the socket, in units per second.\n"
    )
    head = "RSYNC(1)\n\nNAME\n       rsync - copy files\n\nOPTIONS\n"
    return head + "\n".join([*entries, answer])


def test_a_hit_finds_an_entry_worded_unlike_the_question(data_dir: Path, tmp_path: Path) -> None:
    """The answering entry shares no word with the question, so BM25 never offers its
    chunk; the static vectors do, and the re-ranker's windows point there."""
    page = _long_page()
    (tmp_path / "rsync.1.txt").write_text(page, encoding="utf-8")
    models = FakeModels()
    models.rerank = SpeedReranker("speed")
    models.embedders["words"] = SpeedReranker("words", dimension=2)  # static vectors too
    base = ("--data-dir", str(data_dir))
    cli_json(*base, "ingest", str(tmp_path / "rsync.1.txt"), models=models)
    entry = next(i for i, line in enumerate(page.split("\n"), start=1) if "--bwlimit" in line)

    hit = cli_json(*base, "query", QUESTION, "-k", "1", models=models)["results"][0]

    # The window that holds the entry starts at most one entry above it.
    assert entry - 5 <= hit["line"] <= entry, (hit["line"], entry)
    assert "maximum transfer rate" in hit["snippet"]


def test_best_window_mixes_chunk_bm25_and_window_cosine() -> None:
    from modules.semantic_core.search.fusion import best_window

    nan = float("nan")
    assert best_window([5.0, 1.0, nan], [0.2, 0.3, 0.9], share=0.0) == 2  # cosine alone
    assert best_window([5.0, 1.0, nan], [0.2, 0.3, 0.9], share=0.8) == 0  # BM25 weighs most
    assert best_window([nan, nan], [0.5, 0.5], share=0.4) == 0  # the first of equals


def test_a_hit_stays_where_the_question_words_gather(data_dir: Path, tmp_path: Path) -> None:
    """When BM25's best chunk of the document far outscores its next, the question's words
    gather there, and a window elsewhere that the re-ranker likes better does not move the
    hit (on manuals of unrelated sections that window is usually another topic)."""
    gathered = "\n".join(
        "              rsync bandwidth rsync bandwidth limits per rsync link." for _ in range(6)
    )
    entries = _long_page().split("OPTIONS\n", 1)[1]
    page = "\n".join(
        [
            "RSYNC(1)\n\nNAME\n       rsync - copy files\n\nOPTIONS",
            "       --gathered\n" + gathered + "\n",
            entries.replace("rsync ", "").replace("bandwidth", "share"),  # words elsewhere
        ]
    )
    (tmp_path / "rsync.1.txt").write_text(page, encoding="utf-8")
    models = FakeModels()
    models.rerank = SpeedReranker("speed")
    models.embedders["words"] = SpeedReranker("words", dimension=2)
    base = ("--data-dir", str(data_dir))
    cli_json(*base, "ingest", str(tmp_path / "rsync.1.txt"), models=models)
    lines = page.split("\n")
    gathered_at = next(i for i, line in enumerate(lines, start=1) if "--gathered" in line)

    hit = cli_json(*base, "query", QUESTION, "-k", "1", models=models)["results"][0]

    assert gathered_at < hit["line"] <= gathered_at + 6, (hit["line"], gathered_at)
