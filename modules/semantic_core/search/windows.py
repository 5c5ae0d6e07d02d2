"""Line windows: the passages a hit's place is chosen from.

A chunk of 200 tokens holds several entries of a manual (three options of a man page,
a paragraph and a table), and the one that answers is rarely the one with the most
query words. So the chunks of the top documents are cut into windows of whole lines
within the re-ranker's token budget, one starting about every ``stride`` tokens, each
with its lines; the re-ranker reads them all and the hit points into the best one: at its
line with the most query terms, else where it starts.

Measured on the real-documents set (``bench/realdocs.py``, 59 questions with a line
answer, the answering file given): choosing among the 3 best BM25 chunks of the file
by the best window found the answer's place for 22 questions, against 15 for the best
chunk by the mix of BM25 and one focused window each and its line with the most query
terms. Windows starting at every line (about 14 per chunk) found 20 to 22, at every
48 tokens 18 to 19; reading 5 or 10 chunks found no more than reading 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from modules.semantic_core.embeddings.inputs import join_passage
from modules.semantic_core.search.passages import SPECIAL_TOKENS, pieces


@dataclass(frozen=True)
class Window:
    line: int  # 0-based line of the chunk's text where the window starts
    end: int  # the line after its last
    text: str  # what the re-ranker reads: the heading path, then the window's lines


def line_windows(heading: str, text: str, budget: int, stride: int) -> Iterator[Window]:
    """Windows of whole lines of ``text`` within ``budget`` model tokens (heading
    included), one starting at the first line that begins ``stride`` tokens or more
    after the last window's start. A line longer than the budget is a window alone
    (the encoder truncates it)."""
    if pieces(heading) > budget // 2:
        heading = heading.rsplit(" > ", 1)[-1]
        heading = heading if pieces(heading) <= budget // 2 else ""
    room = budget - SPECIAL_TOKENS - pieces(heading)
    lines = text.split("\n")
    sizes = [pieces(line) if line.strip() else 0 for line in lines]
    since_last = stride  # tokens since the last window started: the first line starts one
    for start, line in enumerate(lines):
        if not line.strip():
            continue
        if since_last >= stride:
            since_last = 0
            end, used = start, 0
            while end < len(lines) and (end == start or used + sizes[end] <= room):
                used += sizes[end]
                end += 1
            body = " ".join(part.strip() for part in lines[start:end] if part.strip())
            yield Window(start, end, join_passage(heading, body))
        since_last += sizes[start]
