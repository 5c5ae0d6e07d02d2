"""VectorIndex: a collection's chunk vectors in memory, searched in two steps.

A small collection keeps its rows as unit-length float32 and scores them all: one
matrix product, the exact answer. A large one (``EXACT_BELOW`` rows or more) keeps
its rows float16, as stored, half the memory of float32 (512 MB at a million 256-dim
rows instead of 1 GB), and beside them a sketch: each unit row minus the mean row,
projected on the sample's ``dimension / 4`` principal directions, float32 (256 MB at
a million rows). A query scores every sketch (a product over a quarter of the
bytes), then scores its best ``RESCORE_MIN`` (or more) rows exactly, in float32, as
the whole product did; what it returns is the exact cosine order of those.

Measured by ``bench/vectors.py`` (rows mixed from static vectors of SciFact
sentences, SciFact claims as queries, a loaded 2-core machine), 1M rows: the float32
product takes 204 ms a query and 977 MB; this, 108 ms, 751 MB, recall@10 0.996 and
@100 0.989 against it. Sign codes of the rotated, centred rows (Hamming distance by
numpy's population count) are faster to pass over but need 20,000 rows rescored for
recall@10 0.996, and turning that many float16 rows into float32 costs more than the
sketch pass (195 ms); an int8 matrix needs a float32 copy of each block to multiply
(numpy has no int8 product: 1.9 s) and loses recall (0.944); HNSW (faiss, usearch)
answers in under a millisecond but builds in 37 s and 205 s at 100k rows, for recall@10
0.83 and 0.90, and a collection changes with every ingest.

What the sketch cannot see is a difference between rows outside its directions: rows
that differ from each other only there (a large cluster of near copies) are told apart
by the rescoring alone, so at most the rescored count of them is looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Under this many rows the rows are kept float32 and a search is one exact product.
EXACT_BELOW = 50_000
# Rows scored exactly after the sketch pass: at least this many, and RESCORE_PER_RESULT
# for every result asked for (hybrid's fill asks for 300 chunks).
RESCORE_MIN = 5_000
RESCORE_PER_RESULT = 8
# The sketch keeps this fraction of the dimensions (256 -> 64).
SKETCH_FRACTION = 4
# Rows whose principal directions are computed: every k-th row, so the same rows give
# the same sketch.
SKETCH_SAMPLE = 20_000
# Rows converted to float32 at once while building: 32k x 256 float32 is 32 MB, so the
# whole matrix never exists in float32.
BLOCK_ROWS = 32_768


@dataclass
class VectorIndex:
    chunk_ids: np.ndarray  # int64 (n,)
    document_ids: np.ndarray  # int64 (n,)
    vectors: np.ndarray  # float32 unit rows (exact), or float16 as stored (sketched)
    norms: np.ndarray  # float32 (n, 1): each stored row's length (ones when exact)
    centre: np.ndarray  # float32 (dim,): the mean unit row (sketched; else empty)
    projection: np.ndarray  # float32 (dim, dim / 4): principal directions (sketched)
    sketch: np.ndarray  # float32 (n, dim / 4): (unit row - centre) @ projection

    @classmethod
    def build(
        cls, chunk_ids: np.ndarray, document_ids: np.ndarray, vectors: np.ndarray
    ) -> VectorIndex:
        """The index of ``vectors`` (n, dim; float16 as stored, any length)."""
        import numpy as np

        rows, dimension = vectors.shape
        ids = np.asarray(chunk_ids, dtype=np.int64), np.asarray(document_ids, dtype=np.int64)
        empty = np.zeros((0, 0), dtype=np.float32)
        if rows < EXACT_BELOW:
            matrix = np.asarray(vectors, dtype=np.float32)
            norms = np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
            ones = np.ones((rows, 1), dtype=np.float32)
            return cls(*ids, matrix / norms, ones, np.zeros(0, dtype=np.float32), empty, empty)
        stored = np.ascontiguousarray(vectors, dtype=np.float16)
        centre, projection = _principal(stored, dimension // SKETCH_FRACTION)
        norms = np.empty((rows, 1), dtype=np.float32)
        sketch = np.empty((rows, projection.shape[1]), dtype=np.float32)
        # One pass, each block turned into float32 once: the conversion is what costs.
        for start, block in _blocks(stored):
            end = start + len(block)
            norms[start:end] = np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
            block /= norms[start:end]
            block -= centre
            sketch[start:end] = block @ projection
        return cls(*ids, stored, norms, centre, projection, sketch)

    @property
    def rows(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def sketched(self) -> bool:
        return self.sketch.shape[0] > 0

    @property
    def nbytes(self) -> int:
        parts = (self.chunk_ids, self.document_ids, self.vectors, self.norms, self.sketch)
        return int(sum(part.nbytes for part in parts))

    def exact_scores(self, query: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Cosine of ``query`` (unit length) with the given rows (all when None)."""
        import numpy as np

        query = np.asarray(query, dtype=np.float32)
        if not self.sketched:
            return (self.vectors if rows is None else self.vectors[rows]) @ query
        if rows is None:
            rows = np.arange(self.rows)
        out = np.empty(len(rows), dtype=np.float32)
        for start in range(0, len(rows), BLOCK_ROWS):
            part = rows[start : start + BLOCK_ROWS]
            out[start : start + len(part)] = (
                self.vectors[part].astype(np.float32) / self.norms[part]
            ) @ query
        return out

    def nearest(
        self,
        query: np.ndarray,
        limit: int,
        allowed: np.ndarray | None = None,
        rescore: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cosines) of the ``limit`` rows nearest ``query``, best first, ties by
        row; ``allowed``: a boolean mask of the rows that may be returned; ``rescore``:
        how many rows of the sketch pass are scored exactly (default: enough)."""
        import numpy as np

        take = rescore or max(RESCORE_MIN, RESCORE_PER_RESULT * limit)
        permitted = self.rows if allowed is None else int(np.count_nonzero(allowed))
        if not self.sketched or permitted <= take:
            rows = np.arange(self.rows) if allowed is None else np.flatnonzero(allowed)
            scores = self.exact_scores(query, None if allowed is None else rows)
        else:
            rows = self.candidates(query, take, allowed)
            scores = self.exact_scores(query, rows)
        return _best(rows, scores, limit)

    def candidates(
        self, query: np.ndarray, take: int, allowed: np.ndarray | None = None
    ) -> np.ndarray:
        """The ``take`` rows whose sketches score highest for ``query``, in row order."""
        import numpy as np

        # (row - centre) . query orders the rows as row . query does: the centre's part
        # is the same for every row.
        approximate = self.sketch @ (np.asarray(query, dtype=np.float32) @ self.projection)
        if allowed is not None:
            approximate[~allowed] = -np.inf
        take = min(take, self.rows)
        if take < self.rows:
            return np.sort(np.argpartition(-approximate, take - 1)[:take])
        return np.arange(self.rows)

    def status(self) -> dict[str, int | str]:
        return {
            "rows": self.rows,
            "dimension": self.dimension,
            "bytes": self.nbytes,
            "search": (
                f"{self.sketch.shape[1]}-dim sketch, {RESCORE_MIN} rescored"
                if self.sketched
                else "exact"
            ),
        }


def _principal(stored: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean of a sample of the unit rows, and the ``keep`` directions along which the
    sample varies most (right singular vectors, float32 (dim, keep)). The centre only
    shapes the directions: it adds the same to every row's sketch score."""
    import numpy as np

    sample = stored[:: max(1, stored.shape[0] // SKETCH_SAMPLE)].astype(np.float32)
    sample /= np.maximum(np.linalg.norm(sample, axis=1, keepdims=True), 1e-12)
    centre = sample.mean(axis=0)
    _, _, directions = np.linalg.svd(sample - centre, full_matrices=False)
    return centre, np.ascontiguousarray(directions[: max(1, keep)].T, dtype=np.float32)


def _blocks(vectors: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, float32 copy) of each block of rows."""
    import numpy as np

    for start in range(0, vectors.shape[0], BLOCK_ROWS):
        yield start, vectors[start : start + BLOCK_ROWS].astype(np.float32)


def _best(rows: np.ndarray, scores: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``limit`` best (row, score), best first; equal scores in row order."""
    import numpy as np

    count = min(limit, len(rows))
    if count <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    top = np.argpartition(-scores, count - 1)[:count] if count < len(rows) else np.arange(count)
    top = top[np.lexsort((rows[top], -scores[top]))]
    return rows[top], scores[top]
