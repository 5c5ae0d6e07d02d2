"""The same content under several paths: a document's sketch, and which results are copies.

A manual is often installed two or three times: git's pages as AsciiDoc and as HTML,
bash's as a man page and an HTML page. Search shows such a page once and lists its
other copies, so they do not fill the results.

Copies are found by their words, not their bytes: a page and its rendering share
their word pairs. Each document keeps a sketch made at ingest: the ``SKETCH_SIZE``
smallest hashes of its word 2-shingles (a bottom-k sketch). Two sketches estimate the
Jaccard similarity of the two shingle sets: of the ``SKETCH_SIZE`` smallest hashes
of their union, the share found in both.

Measured on git's manual pages (git-doc 2.39, the .txt source and the .html page of
27 commands) and bash.html against bash(1) as text, exact Jaccard of word 2-shingles:
22 of the 28 pairs score 0.75 to 0.995; the highest pair of different pages among
those 27 x 26 scores 0.09 (git-stash.html and git-commit.txt). So ``COPY_JACCARD`` is
0.5, far from both, where a sketch of 128 hashes errs by about 0.04. The 5 remaining
pairs (0.04 to 0.21) are not copies: their .txt includes other files that only the
HTML page holds expanded, so the .txt is an excerpt of the page, and both stay.
"""

from __future__ import annotations

import sys
from array import array
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modules.semantic_core.analysis.duplicates import WordHashes

SKETCH_SIZE = 128
COPY_JACCARD = 0.5


def sketch(text: str, words: WordHashes | None = None) -> bytes | None:
    """The document's bottom-k sketch, as little-endian uint64s; None for no words.
    ``words`` keeps word hashes for the next text (one scan sketches many)."""
    # Made at ingest, which has numpy loaded; search reads sketches without it.
    from modules.semantic_core.analysis.duplicates import WordHashes, shingle_hashes

    hashes = shingle_hashes(text, WordHashes() if words is None else words)  # sorted
    if len(hashes) == 0:
        return None
    smallest = hashes[:SKETCH_SIZE].astype("<u8")
    return smallest.tobytes()


def jaccard(first: bytes, second: bytes) -> float:
    """The estimated Jaccard similarity of the two shingle sets behind two sketches."""
    a, b = set(_hashes(first)), set(_hashes(second))
    union = sorted(a | b)[:SKETCH_SIZE]
    if len(union) == 0:
        return 0.0
    return sum(1 for value in union if value in a and value in b) / len(union)


class SeenContent:
    """Documents seen so far, to tell whether the next one is a copy of one of them.

    Only documents that share a hash with the newcomer's sketch are compared, so a
    hundred results cost a few thousand dictionary lookups, not ten thousand
    comparisons."""

    def __init__(self) -> None:
        self._by_digest: dict[str, int] = {}
        self._by_hash: dict[int, list[int]] = {}
        self._sketches: list[bytes | None] = []

    def copy_of(self, digest: str, sketch: bytes | None) -> int | None:
        """The number (in order of ``add``) of a document seen with the same content."""
        if digest and digest in self._by_digest:
            return self._by_digest[digest]
        if not sketch:
            return None
        shared: dict[int, int] = {}
        for value in _hashes(sketch):
            for seen in self._by_hash.get(value, ()):
                shared[seen] = shared.get(seen, 0) + 1
        for seen, count in sorted(shared.items()):
            # Sketches of sets with Jaccard J share about J * SKETCH_SIZE hashes or more.
            other = self._sketches[seen]
            if count >= COPY_JACCARD * SKETCH_SIZE / 2 and other is not None:
                if jaccard(sketch, other) >= COPY_JACCARD:
                    return seen
        return None

    def add(self, digest: str, sketch: bytes | None) -> int:
        number = len(self._sketches)
        self._sketches.append(sketch)
        if digest:
            self._by_digest.setdefault(digest, number)
        if sketch:
            for value in _hashes(sketch):
                self._by_hash.setdefault(value, []).append(number)
        return number


def _hashes(blob: bytes) -> list[int]:
    values = array("Q")
    values.frombytes(blob[: len(blob) - len(blob) % values.itemsize])
    if sys.byteorder == "big":  # stored little-endian
        values.byteswap()
    return values.tolist()
