"""Read paths into the search indexes: FTS5 for words, the chunk vectors for meaning.

This is the module's repository code for its own indexes; it uses the database
service's read sessions directly, as the framework allows for index access.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from analyzer.errors import DatabaseError
from modules.semantic_core.db_models import DATABASE_NAME, FTS_TABLE

# A second full-text index with the trigram tokenizer, for scripts written without
# spaces (Chinese, Japanese, Korean) and for substring matches. Built on demand
# (``analyzer ingest --trigram``): it is about three times the size of the text.
TRIGRAM_TABLE = "chunks_trigram"
_TRIGRAM_DDL = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TRIGRAM_TABLE} USING fts5("
    "text, content='chunks', content_rowid='id', tokenize='trigram')",
    f"""CREATE TRIGGER IF NOT EXISTS chunks_trigram_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO {TRIGRAM_TABLE}(rowid, text) VALUES (new.id, new.text);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS chunks_trigram_delete AFTER DELETE ON chunks BEGIN
        INSERT INTO {TRIGRAM_TABLE}({TRIGRAM_TABLE}, rowid, text)
        VALUES ('delete', old.id, old.text);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS chunks_trigram_update AFTER UPDATE OF text ON chunks BEGIN
        INSERT INTO {TRIGRAM_TABLE}({TRIGRAM_TABLE}, rowid, text)
        VALUES ('delete', old.id, old.text);
        INSERT INTO {TRIGRAM_TABLE}(rowid, text) VALUES (new.id, new.text);
    END""",
    f"INSERT INTO {TRIGRAM_TABLE}({TRIGRAM_TABLE}) VALUES ('rebuild')",
]

if TYPE_CHECKING:
    import numpy as np

    from modules.core.database.service import DatabaseService

# bm25() column weights (heading, text): a heading path starts with the title, and
# title matches count more (SciFact train: title weight 3 gave nDCG@10 0.704 vs 0.699).
BM25_WEIGHTS = (3.0, 1.0)


@dataclass
class ChunkMatrix:
    """Every chunk vector of a collection, with the ids that go with each row."""

    chunk_ids: np.ndarray  # int64 (n,)
    document_ids: np.ndarray  # int64 (n,)
    vectors: np.ndarray  # float32 (n, dim), rows L2-normalised


class SearchIndex:
    def __init__(self, database: DatabaseService) -> None:
        self._database = database
        self._matrices: dict[int, ChunkMatrix] = {}

    async def enable_trigram(self) -> None:
        """Create the trigram index (and its triggers) and fill it, once per database."""
        self._require_sqlite()
        async with self._database.read_session(DATABASE_NAME) as session:
            exists = (
                await session.execute(
                    text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": TRIGRAM_TABLE}
                )
            ).first()
        if exists:
            return
        async with self._database.session(DATABASE_NAME) as session:
            for statement in _TRIGRAM_DDL:
                await session.execute(text(statement))

    def _require_sqlite(self) -> None:
        dialect = self._database.dialect(DATABASE_NAME)
        if dialect != "sqlite":
            raise DatabaseError(
                f"full-text search needs SQLite FTS5; {DATABASE_NAME} is on {dialect}, whose "
                "full-text adapter is not built yet; use --mode semantic there"
            )

    async def keyword(
        self,
        collection_id: int,
        match: str,
        limit: int,
        path_glob: str | None,
        trigram: bool = False,
    ) -> list[tuple[int, int, float]]:
        """(chunk id, document id, bm25 score; higher is better) for an FTS5 expression."""
        self._require_sqlite()
        table = TRIGRAM_TABLE if trigram else FTS_TABLE
        weights = "" if trigram else ", " + ", ".join(str(w) for w in BM25_WEIGHTS)
        sql = (
            f"SELECT c.id, c.document_id, -bm25({table}{weights}) AS score "
            f"FROM {table} JOIN chunks c ON c.id = {table}.rowid "
            "JOIN documents d ON d.id = c.document_id "
            f"WHERE {table} MATCH :match AND d.collection_id = :collection "
            + ("AND d.path GLOB :glob " if path_glob else "")
            + "ORDER BY score DESC LIMIT :limit"
        )
        params: dict[str, Any] = {"match": match, "collection": collection_id, "limit": limit}
        if path_glob:
            params["glob"] = path_glob
        async with self._database.read_session(DATABASE_NAME) as session:
            rows = (await session.execute(text(sql), params)).all()
        return [(int(c), int(d), float(s)) for c, d, s in rows]

    async def chunk_matrix(self, collection_id: int) -> ChunkMatrix:
        """All chunk vectors of a collection, decoded in one numpy call, kept for the process."""
        import numpy as np

        from modules.semantic_core.vectors import from_blobs, normalise_rows

        key = collection_id
        cached = self._matrices.get(key)
        if cached is not None:
            return cached
        sql = (
            "SELECT c.id, c.document_id, c.embedding FROM chunks c "
            "JOIN documents d ON d.id = c.document_id "
            "WHERE d.collection_id = :collection AND c.embedding IS NOT NULL ORDER BY c.id"
        )
        async with self._database.read_session(DATABASE_NAME) as session:
            rows = (await session.execute(text(sql), {"collection": collection_id})).all()
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            matrix = ChunkMatrix(empty, empty, np.zeros((0, 1), dtype=np.float32))
        else:
            ids, docs, blobs = zip(*rows, strict=True)
            dimension = len(blobs[0]) // 2
            matrix = ChunkMatrix(
                np.asarray(ids, dtype=np.int64),
                np.asarray(docs, dtype=np.int64),
                normalise_rows(from_blobs(blobs, dimension)),
            )
        self._matrices[key] = matrix
        return matrix

    def forget(self, collection_id: int) -> None:
        """Drop cached vectors after the collection changed in this process."""
        self._matrices.pop(collection_id, None)

    async def chunk_texts(self, chunk_ids: list[int]) -> dict[int, tuple[str, str]]:
        """(heading, text) of the given chunks."""
        if not chunk_ids:
            return {}
        sql = text("SELECT id, heading, text FROM chunks WHERE id IN :ids").bindparams(
            _expanding("ids")
        )
        async with self._database.read_session(DATABASE_NAME) as session:
            rows = (await session.execute(sql, {"ids": chunk_ids})).all()
        return {int(i): (h, t) for i, h, t in rows}


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)
