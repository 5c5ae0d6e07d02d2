"""What the index holds, and taking things out of it: collections and their documents.

Every read and write goes through the CRUD service. Removing documents or dropping a
collection deletes their rows in one transaction; chunks, their full-text entries and
stored analysis results go with them (foreign keys cascade, and the index follows its
table), and the collection's generation moves on (or, dropped, its epoch is gone
with it), so no process answers from memory about what is gone.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from modules.core.database.crud_service import CRUDService
from modules.semantic_core.analysis.corpus import Corpus
from modules.semantic_core.collections import check_name, next_generation, require_collection
from modules.semantic_core.db_models import Chunk, Collection, Document
from modules.semantic_core.documents import REF_COLUMNS, DocumentRef, path_pattern


@dataclass(frozen=True)
class CollectionSummary:
    name: str
    model: str
    documents: int
    chunks: int
    last_ingest: dt.datetime | None  # when a document of it was last written


@dataclass(frozen=True)
class DocumentSummary:
    ref: DocumentRef
    format: str
    chunks: int
    ingested: dt.datetime


class CatalogService:
    def __init__(self, crud: CRUDService) -> None:
        self._crud = crud

    async def collections(self) -> list[CollectionSummary]:
        """Every collection, by name, with its counts."""
        async with self._crud.snapshot(Document):
            found = await self._crud.list(Collection, order_by="name")
            return [await self._summary(collection) for collection in found]

    async def documents(self, collection: str, path_glob: str | None) -> list[DocumentSummary]:
        """The documents of ``collection`` (those whose path matches ``path_glob``), by path."""
        async with self._crud.snapshot(Document):
            found = await require_collection(self._crud, check_name(collection))
            rows = await self._crud.values(
                Document,
                [*REF_COLUMNS, "format", "updated_at"],
                filters={"collection_id": found.id},
                order_by="path",
            )
            pattern = path_pattern(path_glob)
            rows = [r for r in rows if pattern is None or fnmatch.fnmatchcase(r[2], pattern)]
            chunks = await self._chunks_per_document([r[0] for r in rows])
        return [
            DocumentSummary(DocumentRef(*row[:4]), row[4], chunks.get(row[0], 0), row[5])
            for row in rows
        ]

    async def remove(self, collection: str, references: Sequence[str]) -> list[DocumentRef]:
        """Remove documents named as a command names them; all of them or, if one is not
        found, none."""
        found = await require_collection(self._crud, check_name(collection))
        corpus = Corpus(self._crud)
        refs = {ref.id: ref for ref in [await corpus.resolve(found, r) for r in references]}
        async with self._crud.transaction(Document) as session:
            await next_generation(self._crud, found, session, command="remove")
            await self._crud.delete_where(Document, {"id": list(refs)}, session=session)
        return sorted(refs.values(), key=lambda ref: ref.path)

    async def drop(self, name: str) -> CollectionSummary:
        """Delete a collection with everything in it; what it held, for the record."""
        found = await require_collection(self._crud, check_name(name))
        summary = await self._summary(found)
        async with self._crud.transaction(Collection) as session:
            # Through the ORM, whose delete event drops the collection's SQLite keyword
            # index before the row's cascade would empty it one chunk at a time.
            await self._crud.delete(Collection, found.id, session=session)
        return summary

    async def _summary(self, collection: Collection) -> CollectionSummary:
        """Counted in the database: no document or chunk row is read."""
        of_collection = {"collection_id": collection.id}
        documents = await self._crud.count(Document, filters=of_collection)
        in_collection = select(Document.id).where(Document.collection_id == collection.id)
        chunks = await self._crud.count(Chunk, where=[Chunk.document_id.in_(in_collection)])
        latest = await self._crud.list(
            Document, filters=of_collection, order_by="-updated_at", limit=1
        )
        return CollectionSummary(
            collection.name,
            collection.model_id,
            documents,
            chunks,
            latest[0].updated_at if latest else None,
        )

    async def _chunks_per_document(self, ids: Sequence[int]) -> dict[int, int]:
        counts: dict[int, int] = {}
        for start in range(0, len(ids), 500):  # ids per IN (...) list
            batch = list(ids[start : start + 500])
            counts |= await self._crud.count_by(
                Chunk, "document_id", filters={"document_id": batch}
            )
        return counts
