"""Vectors on PostgreSQL with pgvector: nearest chunks computed in the database.

Where the server has the ``vector`` extension and lets analyzer install it, ``chunks``
gains a ``halfvec`` column generated from the stored float16 bytes (so every write path,
re-embedding included, keeps it without knowing it exists), and each vector dimension in
use gets a partial HNSW index on cosine distance, built when an ingest of that dimension
ends. Without pgvector nothing is added, and nearest neighbours are computed in the
process from the stored bytes, as on SQLite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from modules.semantic_core.index.fulltext_postgres import glob_to_regex

if TYPE_CHECKING:
    import numpy as np

COLUMN = "embedding_vector"
# The candidates an HNSW scan keeps (pgvector's hnsw.ef_search, 40 by default); a query
# asks for up to a few hundred chunks, and the iterative scan goes on past filtered rows.
EF_SEARCH = 200
# How many index entries an iterative scan visits before it gives up (pgvector's
# hnsw.max_scan_tuples, 20,000 by default). A collection that holds a small share of the
# table, or a --path that matches few documents, can leave fewer rows than asked for when
# it stops: those searches are answered exactly instead (``nearest``).
MAX_SCAN_TUPLES = 20_000

# float16 bytes (little-endian, as numpy writes them) to real[]: sign, exponent, mantissa.
_DECODE_FUNCTION = """
CREATE OR REPLACE FUNCTION analyzer_half_floats(b bytea) RETURNS real[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT array_agg(
    CASE WHEN e = 0 THEN (1 - 2 * s) * m * 2.0 ^ -24
         WHEN e = 31 THEN 'NaN'::real
         ELSE (1 - 2 * s) * (1024 + m) * 2.0 ^ (e - 25) END ORDER BY i)::real[]
  FROM (SELECT i, get_byte(b, 2 * i + 1) >> 7 AS s, (get_byte(b, 2 * i + 1) >> 2) & 31 AS e,
               ((get_byte(b, 2 * i + 1) & 3) << 8) | get_byte(b, 2 * i) AS m
        FROM generate_series(0, length(b) / 2 - 1) AS i) AS parts
$$
"""
_COLUMN_DDL = (
    f"ALTER TABLE chunks ADD COLUMN IF NOT EXISTS {COLUMN} halfvec "
    "GENERATED ALWAYS AS (analyzer_half_floats(embedding)::halfvec) STORED"
)


def install(chunks: Table) -> None:
    """Try pgvector whenever ``chunks`` is created on PostgreSQL."""
    event.listen(chunks, "after_create", _after_create)


def _after_create(_target: Any, connection: Connection, **_: Any) -> None:
    if connection.dialect.name == "postgresql":
        enable(connection)


def upgrade(conn: Connection) -> None:
    """The same, on a database whose ``chunks`` table came before pgvector was tried."""
    if conn.dialect.name == "postgresql":
        enable(conn)


def enable(conn: Connection) -> bool:
    """Install pgvector and the vector column, or leave everything as it was (the
    extension is missing, or this role may not create it). True if vectors are in."""
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            conn.execute(text(_DECODE_FUNCTION))
            conn.execute(text(_COLUMN_DDL))
    except sa_exc.DBAPIError:
        return False
    return True


async def in_use(session: AsyncSession) -> bool:
    """Whether this database keeps its chunk vectors in pgvector."""
    found = await session.execute(
        text(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'chunks' AND column_name = :column"
        ),
        {"column": COLUMN},
    )
    return found.first() is not None


def index_name(dimension: int) -> str:
    return f"ix_chunks_vector_{dimension}"


async def ensure_index(session: AsyncSession, dimension: int) -> None:
    """The HNSW index for vectors of ``dimension``, built once; processes that get here
    together take turns."""
    exists = "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = :n"
    if (await session.execute(text(exists), {"n": index_name(dimension)})).first():
        return
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('analyzer vector index'))"))
    await session.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {index_name(dimension)} ON chunks USING hnsw "
            f"(({COLUMN}::halfvec({dimension})) halfvec_cosine_ops) "
            f"WHERE vector_dims({COLUMN}) = {dimension}"
        )
    )


async def nearest(
    session: AsyncSession,
    collection_id: int,
    vector: np.ndarray,
    limit: int,
    path_glob: str | None,
) -> list[tuple[int, int, float]]:
    """(chunk id, document id, cosine similarity), best first, through the HNSW index;
    where the index gives up before ``limit`` chunks passed the filters, by reading every
    vector of the collection (or of its documents that match ``path_glob``)."""
    dimension = int(vector.shape[0])
    params: dict[str, Any] = {
        "vector": "[" + ",".join(repr(float(x)) for x in vector) + "]",
        "collection": collection_id,
        "limit": limit,
    }
    if path_glob:
        params["pattern"] = glob_to_regex(path_glob)
    # The index yields the nearest chunks of every collection; the iterative scan goes on
    # until enough of this collection's have passed the filter (pgvector 0.8), or until
    # it has visited MAX_SCAN_TUPLES entries.
    await session.execute(text(f"SET LOCAL hnsw.ef_search = {EF_SEARCH}"))
    await session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    await session.execute(text(f"SET LOCAL hnsw.max_scan_tuples = {MAX_SCAN_TUPLES}"))
    sql = _nearest_sql(dimension, bool(path_glob), exact=False)
    rows = (await session.execute(text(sql), params)).all()
    if len(rows) < limit:
        # Too few: the collection or the path holds fewer chunks than asked for, or the
        # scan stopped early. The exact answer reads only that collection's vectors.
        sql = _nearest_sql(dimension, bool(path_glob), exact=True)
        rows = (await session.execute(text(sql), params)).all()
    hits = [(int(c), int(d), float(s)) for c, d, s in rows]
    # Relaxed order is nearly sorted already; equal scores go by chunk id. (An ORDER BY
    # with a second key would keep the planner off the index.)
    return sorted(hits, key=lambda hit: (-hit[2], hit[0]))


def _nearest_sql(dimension: int, path_filter: bool, exact: bool) -> str:
    # The parameter travels as text: the driver has no codec for halfvec.
    query = f"CAST(CAST(:vector AS text) AS halfvec({dimension}))"
    distance = f"c.{COLUMN}::halfvec({dimension}) <=> {query}"
    # "+ 0" is not the indexed expression, so the planner cannot take the index: the
    # collection's rows are found through their documents and sorted.
    order = f"({distance}) + 0" if exact else distance
    return (
        f"SELECT c.id, c.document_id, 1 - ({distance}) AS score "
        "FROM chunks c JOIN documents d ON d.id = c.document_id "
        f"WHERE d.collection_id = :collection AND vector_dims(c.{COLUMN}) = {dimension} "
        + ("AND d.path ~ :pattern " if path_filter else "")
        + f"ORDER BY {order} LIMIT :limit"
    )
