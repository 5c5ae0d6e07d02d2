"""Reading every chunk vector of a collection at once, in bounded memory.

A cold semantic search reads all of a collection's vectors. Rows come from the
driver's own cursor (aiosqlite's, in the session's transaction) in batches, each
copied into one float16 matrix sized by a count first, so a million rows never exist
as a million Python tuples, nor their bytes joined, nor the matrix twice. That is
for the memory, not the time: ``bench/vectors.py`` reads 1M rows of a 1.3 GB file in
8.3 s this way, 6.2 s through SQLAlchemy's ``.all()`` and 5.7 s with sqlite3's own
``fetchall`` (a loaded 2-core machine; SQLite's reading is most of the time).
PostgreSQL without pgvector reads through SQLAlchemy, streamed in the same batches.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from analyzer.errors import DatabaseError
from modules.semantic_core.vectors import STORAGE_DTYPE

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy.ext.asyncio import AsyncSession

FROM_COLLECTION = (
    "FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.collection_id = :collection"
)
VECTORS = (
    f"SELECT c.id, c.document_id, c.embedding {FROM_COLLECTION} "
    "AND c.embedding IS NOT NULL ORDER BY c.id"
)
# An upper bound that the index on chunks' document ids answers: counting only the
# rows with a vector would read every vector once more (3 s of 11 at 1M rows).
COUNT = f"SELECT count(*) {FROM_COLLECTION}"
BATCH_ROWS = 50_000


async def collection_vectors(
    session: AsyncSession, collection_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chunk ids, document ids, float16 vectors (n, dim)) of every embedded chunk of
    the collection, by chunk id."""
    import numpy as np

    params = {"collection": collection_id}
    expected = int((await session.execute(text(COUNT), params)).scalar_one())
    ids = np.zeros(expected, dtype=np.int64)
    documents = np.zeros(expected, dtype=np.int64)
    matrix: np.ndarray | None = None
    filled = 0
    async for batch in _batches(session, VECTORS, params):
        chunk_ids, document_ids, blobs = zip(*batch, strict=True)
        part = _decoded(blobs, collection_id, None if matrix is None else matrix.shape[1])
        if matrix is None:
            matrix = np.zeros((expected, part.shape[1]), dtype=STORAGE_DTYPE)
        end = filled + len(part)
        if end > len(matrix):  # rows written since the count (outside a snapshot)
            ids, documents = np.resize(ids, end), np.resize(documents, end)
            matrix = np.concatenate([matrix, np.zeros((end - len(matrix), part.shape[1]),
                                                      dtype=STORAGE_DTYPE)])  # fmt: skip
        ids[filled:end], documents[filled:end], matrix[filled:end] = chunk_ids, document_ids, part
        filled = end
    if matrix is None:
        return ids[:0], documents[:0], np.zeros((0, 1), dtype=STORAGE_DTYPE)
    return ids[:filled], documents[:filled], matrix[:filled]


def _decoded(blobs: Sequence[bytes], collection_id: int, dimension: int | None) -> np.ndarray:
    import numpy as np

    width = len(blobs[0]) if dimension is None else 2 * dimension
    joined = b"".join(blobs)
    if width == 0 or width % 2 or len(joined) != width * len(blobs):
        raise DatabaseError(
            f"the stored vectors of collection {collection_id} differ in length; "
            "re-embed it: analyzer ingest PATH --collection NAME --force"
        )
    return np.frombuffer(joined, dtype=STORAGE_DTYPE).reshape(len(blobs), width // 2)


async def _batches(
    session: AsyncSession, sql: str, params: Mapping[str, Any]
) -> AsyncIterator[Sequence[tuple[Any, ...]]]:
    """The rows of ``sql``, BATCH_ROWS at a time, in the session's transaction."""
    connection = await session.connection()
    if connection.dialect.driver == "aiosqlite":
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        if driver is not None and hasattr(driver, "execute"):
            cursor = await driver.execute(sql, dict(params))
            try:
                while batch := await cursor.fetchmany(BATCH_ROWS):
                    yield batch
            finally:
                await cursor.close()
            return
    result = await connection.stream(text(sql), dict(params))
    async for partition in result.partitions(BATCH_ROWS):
        yield [tuple(row) for row in partition]
