"""A collection as the analysis commands read it: documents, text and vectors, via CRUD.

Chunks overlap (a chunk closed because it was full repeats the last sentences of
the one before), so a document's text is rebuilt from its chunks by their
character spans, each character once. Headings are not part of chunk text.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analyzer.errors import AnalyzerError, UsageError
from analyzer.paths import absolute, display_path, storable
from modules.core.database.crud_service import CRUDService
from modules.semantic_core.collections import GenerationCache, require_documents
from modules.semantic_core.db_models import Chunk, Collection, Document
from modules.semantic_core.documents import REF_COLUMNS, DocumentRef
from modules.semantic_core.vectors import from_blobs, normalise_rows

SUGGESTIONS = 3
AMBIGUOUS_SHOWN = 5


class DocumentNotFoundError(AnalyzerError):
    """A document reference that matches no document of the collection."""


class AmbiguousDocumentError(AnalyzerError):
    """A document reference (the end of a path) that matches several documents."""


class Corpus:
    """Read access to collections for analysis; every read goes through the CRUD service.

    What is costly to read again (document vectors, the keyword table) is kept per
    collection while its version (epoch and generation) stays the same, so a
    long-lived process answers from memory until a write anywhere changes the
    collection, or it is dropped and made again.
    """

    def __init__(self, crud: CRUDService) -> None:
        self.crud = crud
        self._kept = GenerationCache()

    def kept(self, kind: str, collection: Collection) -> Any | None:
        """What ``keep`` stored for ``collection`` at its current version, else None."""
        return self._kept.get((kind, collection.id), collection.version)

    def keep(self, kind: str, collection: Collection, value: Any) -> Any:
        return self._kept.put((kind, collection.id), collection.version, value)

    async def collection(self, name: str) -> Collection:
        """The collection called ``name``; it must hold at least one document."""
        return await require_documents(self.crud, name)

    async def documents(self, collection_id: int) -> list[DocumentRef]:
        rows = await self.crud.values(
            Document, REF_COLUMNS, filters={"collection_id": collection_id}, order_by="id"
        )
        return [DocumentRef(*row) for row in rows]

    async def refs(self, ids: Sequence[int]) -> dict[int, DocumentRef]:
        if not ids:
            return {}
        rows = await self.crud.values(Document, REF_COLUMNS, filters={"id": list(set(ids))})
        return {row[0]: DocumentRef(*row) for row in rows}

    async def resolve(self, collection: Collection, reference: str) -> DocumentRef:
        """A document by path (absolute or relative to the working directory), uid, or
        a unique end of its path (``kitchen/bread.md``)."""
        text = reference.strip()
        if not text:
            raise UsageError("the document is empty; pass a path, a uid or the end of a path")
        scope = {"collection_id": collection.id}
        for key, value in (("path", _path_forms(text)), ("uid", storable(text))):
            # Ordered by the looked-up column, so SQLite uses its (collection, column)
            # index; in id order it would read the whole collection (see ingest's settle).
            rows = await self.crud.values(
                Document, REF_COLUMNS, filters={**scope, key: value}, order_by=key
            )
            if len(rows) == 1:
                return DocumentRef(*rows[0])
        suffix = storable(text.removeprefix("./"))
        rows = await self.crud.values(
            Document,
            REF_COLUMNS,
            filters=scope,
            where=[Document.path.endswith("/" + suffix, autoescape=True)],
            order_by="path",
        )
        if len(rows) == 1:
            return DocumentRef(*rows[0])
        if rows:
            raise _ambiguous(text, [DocumentRef(*row) for row in rows])
        raise _not_found(text, collection.name, await self.documents(collection.id))

    async def texts(self, collection_id: int, document_ids: Sequence[int] = ()) -> dict[int, str]:
        """Each document's text, rebuilt from its chunks (every document of the collection,
        or only ``document_ids``)."""
        where = (
            [Chunk.document_id.in_(list(document_ids))]
            if document_ids
            else [Chunk.document_id.in_(_document_ids(collection_id))]
        )
        rows = await self.crud.values(
            Chunk,
            ["document_id", "char_start", "char_end", "text"],
            where=where,
            order_by=["document_id", "ordinal"],
        )
        return rebuild_texts(rows)

    async def vectors(self, collection: Collection) -> tuple[np.ndarray, np.ndarray]:
        """Document ids and their stored vectors (normalised rows), in id order."""
        kept = self.kept("vectors", collection)
        if kept is not None:
            return kept
        rows = await self.crud.values(
            Document, ["id", "embedding"], filters={"collection_id": collection.id}, order_by="id"
        )
        rows = [row for row in rows if row[1] is not None]
        ids = np.asarray([row[0] for row in rows], dtype=np.int64)
        matrix = from_blobs([row[1] for row in rows], collection.dimension)
        return self.keep("vectors", collection, (ids, normalise_rows(matrix)))

    async def vectors_of(
        self, collection: Collection, document_ids: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like ``vectors`` for ``document_ids`` only (those that have a vector): a sample
        of a large collection reads its own rows, not every vector."""
        kept = self.kept("vectors", collection)
        if kept is not None:
            ids, matrix = kept
            rows = np.flatnonzero(np.isin(ids, np.asarray(document_ids, dtype=np.int64)))
            return ids[rows], matrix[rows]
        if not document_ids:
            return np.zeros(0, dtype=np.int64), np.zeros((0, collection.dimension), np.float32)
        rows = await self.crud.values(
            Document, ["id", "embedding"], filters={"id": list(document_ids)}, order_by="id"
        )
        rows = [row for row in rows if row[1] is not None]
        ids = np.asarray([row[0] for row in rows], dtype=np.int64)
        return ids, normalise_rows(from_blobs([row[1] for row in rows], collection.dimension))

    async def document_ids(self, collection_id: int) -> np.ndarray:
        """The ids of the collection's documents, in order (one integer column read)."""
        rows = await self.crud.values(
            Document, ["id"], filters={"collection_id": collection_id}, order_by="id"
        )
        return np.asarray([row[0] for row in rows], dtype=np.int64)


def fingerprint(collection: Collection) -> str:
    """Changes whenever a document of the collection is added, changed or removed. Taken
    from the row read before the data it labels: a write in between makes it stale, never
    fresh."""
    return f"g{collection.generation}"


def rebuild_texts(rows: Sequence[tuple[Any, ...]]) -> dict[int, str]:
    """(document_id, char_start, char_end, text) rows in chunk order -> text per document."""
    pieces: dict[int, list[str]] = {}
    ends: dict[int, int] = {}
    for document_id, start, end, text in rows:
        seen = ends.get(document_id)
        if seen is None:
            pieces[document_id] = [text]
        else:
            overlap = max(0, seen - start)
            pieces[document_id].append(text[overlap:] if overlap else "\n\n" + text)
        ends[document_id] = max(end, seen or 0)
    return {document_id: "".join(parts) for document_id, parts in pieces.items()}


def _document_ids(collection_id: int) -> Any:
    from sqlalchemy import select

    return select(Document.id).where(Document.collection_id == collection_id)


def _path_forms(text: str) -> list[str]:
    """The reference as typed, made absolute, and with symlinks resolved."""
    full = absolute(text)
    forms = [text, os.path.normpath(full)]
    try:
        forms.append(str(full.resolve()))
    except (OSError, RuntimeError):
        pass
    return list(dict.fromkeys(storable(form) for form in forms))


def _ambiguous(text: str, matches: list[DocumentRef]) -> AmbiguousDocumentError:
    shown = ", ".join(display_path(m.path) for m in matches[:AMBIGUOUS_SHOWN])
    more = f" and {len(matches) - AMBIGUOUS_SHOWN} more" if len(matches) > AMBIGUOUS_SHOWN else ""
    return AmbiguousDocumentError(
        f"{text!r} matches {len(matches)} documents ({shown}{more}); give more of the path"
    )


def _not_found(text: str, collection: str, documents: list[DocumentRef]) -> DocumentNotFoundError:
    suggestions = close_matches(text, documents)
    hint = (
        f"did you mean {_one_of(suggestions)}?"
        if suggestions
        else "pass a path, a uid or the end of a path (analyzer query finds documents by words)"
    )
    return DocumentNotFoundError(f"no document {text!r} in collection {collection!r}; {hint}")


def _one_of(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def close_matches(text: str, documents: list[DocumentRef]) -> list[str]:
    """Paths of the documents whose path, file name or title is closest to ``text``."""
    keys: dict[str, str] = {}
    for doc in documents:
        shown = display_path(doc.path)
        for key in (shown, Path(doc.path).name, doc.title, doc.uid):
            if key:
                keys.setdefault(key.lower(), shown)
    found = difflib.get_close_matches(text.lower(), list(keys), n=SUGGESTIONS * 2, cutoff=0.6)
    return list(dict.fromkeys(keys[key] for key in found))[:SUGGESTIONS]
