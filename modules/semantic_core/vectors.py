"""Vectors on disk: float16 blobs, decoded in one numpy call per batch, no per-row loops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

STORAGE_DTYPE = "float16"


def to_blob(vector: np.ndarray) -> bytes:
    import numpy as np

    return np.asarray(vector, dtype=STORAGE_DTYPE).tobytes()


def from_blobs(blobs: Sequence[bytes], dimension: int) -> np.ndarray:
    """Stack stored vectors into a float32 matrix (n, dimension)."""
    import numpy as np

    if not blobs:
        return np.zeros((0, dimension), dtype=np.float32)
    matrix = np.frombuffer(b"".join(blobs), dtype=STORAGE_DTYPE).reshape(len(blobs), dimension)
    return matrix.astype(np.float32)


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def mean_vector(vectors: np.ndarray) -> np.ndarray:
    """A document's vector: the normalised mean of its chunks' vectors."""
    import numpy as np

    if len(vectors) == 0:
        return np.zeros(vectors.shape[1] if vectors.ndim == 2 else 0, dtype=np.float32)
    mean = vectors.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)
