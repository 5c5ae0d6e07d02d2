"""SearchIndex: the read paths into the search indexes, words and meaning.

This is the module's repository code for its own indexes: it uses the database
service's sessions directly, as the framework allows for index access, and hands
full-text work to the adapter of the database's dialect.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, text

from analyzer.errors import DatabaseError, UsageError
from modules.semantic_core.collections import GenerationCache
from modules.semantic_core.db_models import DATABASE_NAME
from modules.semantic_core.index import fulltext_postgres, fulltext_sqlite, vectors_postgres
from modules.semantic_core.index.vector_index import VectorIndex

if TYPE_CHECKING:
    import numpy as np

    from modules.core.database.service import DatabaseService


class SearchIndex:
    def __init__(self, database: DatabaseService) -> None:
        self._database = database
        # collection id -> (version, matrix): one matrix per collection, the newest read.
        self._matrices = GenerationCache()
        # collection id -> (version, (chunks, average length)): BM25's on PostgreSQL.
        self._fulltext_statistics = GenerationCache()
        self._vectors_in_database: bool | None = None  # looked up once per process

    def _dialect(self) -> str:
        dialect = self._database.dialect(DATABASE_NAME)
        if dialect not in ("sqlite", "postgresql"):
            raise DatabaseError(
                f"full-text search runs on SQLite and PostgreSQL; {DATABASE_NAME} is on "
                f"{dialect}; use --mode semantic there"
            )
        return dialect

    def check_trigram(self) -> None:
        """Refuse --trigram where there is no trigram index, before anything is written."""
        if self._dialect() != "sqlite":
            raise UsageError(
                f"--trigram needs SQLite's trigram index; {DATABASE_NAME} is on PostgreSQL, "
                "where Chinese, Japanese and Korean text is found by --mode semantic"
            )

    async def enable_trigram(self) -> None:
        """Create the trigram index (and its triggers) and fill it, once per database."""
        self.check_trigram()
        async with self._database.read_session(DATABASE_NAME) as session:
            if await fulltext_sqlite.has_trigram_index(session):
                return
        async with self._database.session(DATABASE_NAME) as session:
            await fulltext_sqlite.create_trigram_index(session)

    async def keyword(
        self,
        collection_id: int,
        version: Hashable,
        query: str,
        limit: int,
        path_glob: str | None,
        trigram: bool = False,
    ) -> list[tuple[int, int, float]]:
        """(chunk id, document id, score; higher is better) for the words of ``query``:
        BM25 on both SQLite (FTS5's) and PostgreSQL (computed in SQL; no trigram index).
        ``version``: the collection's (``Collection.version``), which keys what is kept."""
        dialect = self._dialect()
        async with self._database.read_session(DATABASE_NAME) as session:
            if dialect == "postgresql":
                statistics = self._fulltext_statistics.get(collection_id, version)
                if statistics is None:
                    statistics = self._fulltext_statistics.put(
                        collection_id,
                        version,
                        await fulltext_postgres.collection_statistics(session, collection_id),
                    )
                return await fulltext_postgres.keyword_search(
                    session, collection_id, query, limit, path_glob, statistics
                )
            return await fulltext_sqlite.keyword_search(
                session, collection_id, query, limit, path_glob, trigram
            )

    async def vectors_in_database(self) -> bool:
        """Whether nearest chunks are found by the database (PostgreSQL with pgvector)
        rather than in this process from the stored bytes."""
        if self._vectors_in_database is None:
            found = False
            if self._database.dialect(DATABASE_NAME) == "postgresql":
                async with self._database.read_session(DATABASE_NAME) as session:
                    found = await vectors_postgres.in_use(session)
            self._vectors_in_database = found
        return self._vectors_in_database

    async def index_vectors(self, dimension: int) -> None:
        """After vectors of ``dimension`` are written: their index, where there is one.
        Built once over the rows of a first ingest, which is several times faster than
        growing it row by row; later writes keep it."""
        if await self.vectors_in_database():
            async with self._database.session(DATABASE_NAME) as session:
                await vectors_postgres.ensure_index(session, dimension)

    async def nearest_in_database(
        self, collection_id: int, vector: np.ndarray, limit: int, path_glob: str | None
    ) -> list[tuple[int, int, float]]:
        """(chunk id, document id, cosine similarity) of the chunks nearest ``vector``."""
        async with self._database.read_session(DATABASE_NAME) as session:
            return await vectors_postgres.nearest(session, collection_id, vector, limit, path_glob)

    async def chunk_matrix(self, collection_id: int, version: Hashable) -> VectorIndex:
        """All chunk vectors of a collection, read in batches straight from the driver
        and indexed (``VectorIndex``), kept while the collection stays at ``version``
        (``Collection.version``)."""
        from modules.semantic_core.index.vector_read import collection_vectors

        cached = self._matrices.get(collection_id, version)
        if cached is not None:
            return cached
        async with self._database.read_session(DATABASE_NAME) as session:
            ids, documents, vectors = await collection_vectors(session, collection_id)
        return self._matrices.put(
            collection_id, version, VectorIndex.build(ids, documents, vectors)
        )

    def cache_status(self) -> list[dict[str, object]]:
        """What is kept in memory: each collection's vectors (its version, rows, bytes)."""
        return [
            {"collection_id": key, "version": version, **index.status()}
            for key, (version, index) in self._matrices.items()
        ]

    async def chunk_texts(self, chunk_ids: list[int]) -> dict[int, tuple[str, str]]:
        """(heading, text) of the given chunks."""
        if not chunk_ids:
            return {}
        sql = text("SELECT id, heading, text FROM chunks WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        )
        async with self._database.read_session(DATABASE_NAME) as session:
            rows = (await session.execute(sql, {"ids": chunk_ids})).all()
        return {int(i): (h, t) for i, h, t in rows}
