"""IngestService: files (or records) into a collection, incrementally and atomically.

Per batch of files: read and hash each file (skipping unchanged ones by size and
mtime first, then by hash), extract and chunk the changed ones, embed all their
chunks in one call, and write the batch in one transaction through the CRUD
service. A changed document's old chunks are replaced in that same transaction;
the full-text index follows by trigger. A crash loses at most the batch in flight,
and the next run picks it up.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer.errors import ConflictError
from modules.core.database.crud_service import CRUDService
from modules.semantic_core.collections import (
    DEFAULT_COLLECTION,
    ModelMismatchError,
    check_model,
    check_name,
    find_collection,
)
from modules.semantic_core.db_models import Chunk, Collection, Document
from modules.semantic_core.embeddings.registry import LazyEmbedder
from modules.semantic_core.index.reader import SearchIndex
from modules.semantic_core.ingest.chunking import ChunkPiece, chunk_document
from modules.semantic_core.ingest.extract import Extracted, Unextractable, UnsupportedFile, extract
from modules.semantic_core.ingest.files import (
    DEFAULT_MAX_FILE_SIZE,
    FileFilter,
    FoundFile,
    read_regular_file,
    scan,
)
from modules.semantic_core.vectors import mean_vector, to_blob

if TYPE_CHECKING:
    import numpy as np

# numpy is imported where vectors are made: an unchanged re-ingest never needs it.
BATCH_FILES = 64
EMBED_BATCH_CHUNKS = 1024


@dataclass(frozen=True)
class IngestOptions:
    collection: str = DEFAULT_COLLECTION
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    prune: bool = False
    force: bool = False
    model: str | None = None
    trigram: bool = False


@dataclass(frozen=True)
class Record:
    """A document handed in by a program rather than read from a file."""

    uid: str
    text: str
    title: str = ""


@dataclass(frozen=True)
class Problem:
    path: str
    status: str  # "skipped" or "failed"
    reason: str


@dataclass
class IngestReport:
    collection: str
    model_id: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    pruned: int = 0
    chunks: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    def add_problem(self, path: str, status: str, reason: str) -> None:
        self.problems.append(Problem(path, status, reason))
        if status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1

    def summary(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "model": self.model_id,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": self.failed,
            "pruned": self.pruned,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class IngestProgress:
    files_done: int
    files_total: int
    chunks_done: int


ProgressCallback = Callable[[IngestProgress], None]


@dataclass
class _Known:
    id: int
    size: int
    mtime_ns: int
    content_hash: str


@dataclass
class _Prepared:
    """A document ready to write: extracted, chunked, waiting for its vectors."""

    path: str
    uid: str
    extracted: Extracted
    chunks: list[ChunkPiece]
    content_hash: str
    size: int
    mtime_ns: int
    existing_id: int | None
    vectors: np.ndarray | None = None


@dataclass
class _Batch:
    """What one batch of inputs produced: documents to write, unchanged files to re-stamp."""

    size: int
    documents: list[_Prepared] = field(default_factory=list)
    touched: list[tuple[int, int, int]] = field(default_factory=list)


class IngestService:
    def __init__(self, crud: CRUDService, index: SearchIndex) -> None:
        self._crud = crud
        self._index = index

    async def ingest_paths(
        self,
        paths: Sequence[Path],
        options: IngestOptions,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        run, known = await self._start(options, progress)
        found = scan(paths, FileFilter(options.include, options.exclude, options.max_file_size))
        for skipped in found.skipped:
            run.report.add_problem(str(skipped.path), "skipped", skipped.reason)

        def prepare_one(found_file: FoundFile, batch: _Batch) -> None:
            self._prepare_file(found_file, known, options, batch, run.report)

        await run.pipeline(found.files, prepare_one)
        if options.prune:
            seen = {f.path for f in found.files}
            await self._prune(run.collection.id, paths, known, seen, run.report)
        run.report.seconds = time.perf_counter() - started
        return run.report

    async def ingest_records(
        self,
        records: Iterable[Record],
        options: IngestOptions,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest records (id, title, text): the same pipeline as files, without the disk."""
        started = time.perf_counter()
        run, known = await self._start(options, progress)

        def prepare_one(record: Record, batch: _Batch) -> None:
            self._prepare_record(record, known, options, batch, run.report)

        await run.pipeline(list(records), prepare_one)
        run.report.seconds = time.perf_counter() - started
        return run.report

    async def _start(
        self, options: IngestOptions, progress: ProgressCallback | None
    ) -> tuple[_Run, dict[str, _Known]]:
        """The collection (with its model and indexes) and what it already holds."""
        collection, embedder = await self._collection(options)
        if options.trigram:
            await self._enable_trigram(collection)
        report = IngestReport(collection.name, collection.model_id)
        run = _Run(self._crud, collection, embedder, report, progress)
        return run, await self._known_documents(collection.id)

    # --- collection and known documents -----------------------------------

    async def _collection(self, options: IngestOptions) -> tuple[Collection, LazyEmbedder]:
        """The collection to write to (created on first use) and the model that embeds it.

        Without --model an existing collection keeps its own model; with a different
        --model it is refused, or re-embedded with --force.
        """
        name = check_name(options.collection)
        collection = await find_collection(self._crud, name)
        if collection is None:
            embedder = LazyEmbedder(options.model)
            created = Collection(
                name=name,
                model_id=embedder.model_id,
                dimension=embedder.dimension,
                settings={"model": embedder.spec},
            )
            return await self._crud.create(created), embedder
        embedder = LazyEmbedder(options.model or collection.settings.get("model"))
        try:
            check_model(collection, embedder.model_id, embedder.dimension)
        except ModelMismatchError:
            if not options.force:
                raise
            await self._reembed_collection(collection, embedder)
        return collection, embedder

    async def _enable_trigram(self, collection: Collection) -> None:
        await self._index.enable_trigram()
        if not collection.settings.get("trigram"):
            settings = {**collection.settings, "trigram": True}
            await self._crud.update(Collection, collection.id, {"settings": settings})
            collection.settings = settings

    async def _reembed_collection(self, collection: Collection, embedder: LazyEmbedder) -> None:
        """Switch a collection to another model: re-embed stored chunk text, no re-extraction."""
        rows = await self._crud.values(
            Chunk,
            ["id", "document_id", "heading", "text"],
            where=[Chunk.document_id.in_(_document_ids(collection.id))],
        )
        vectors = _embed(embedder, [_embedding_text(h, t) for _, _, h, t in rows])
        async with self._crud.transaction(Chunk) as session:
            for (chunk_id, *_), vector in zip(rows, vectors, strict=True):
                await self._crud.update_where(
                    Chunk, {"id": chunk_id}, {"embedding": to_blob(vector)}, session=session
                )
            await _refresh_document_vectors(self._crud, rows, vectors, session)
            await self._crud.update_where(
                Collection,
                {"id": collection.id},
                {
                    "model_id": embedder.model_id,
                    "dimension": embedder.dimension,
                    "settings": {**collection.settings, "model": embedder.spec},
                },
                session=session,
            )
        collection.model_id, collection.dimension = embedder.model_id, embedder.dimension

    async def _known_documents(self, collection_id: int) -> dict[str, _Known]:
        rows = await self._crud.values(
            Document,
            ["path", "id", "size_bytes", "mtime_ns", "content_hash"],
            filters={"collection_id": collection_id},
        )
        return {path: _Known(*rest) for path, *rest in rows}

    # --- preparing documents ----------------------------------------------

    def _prepare_file(
        self,
        found: FoundFile,
        known: dict[str, _Known],
        options: IngestOptions,
        batch: _Batch,
        report: IngestReport,
    ) -> None:
        """Read, hash, extract and chunk one file into ``batch``, or count why not."""
        path = found.path
        previous = known.get(path)
        if (
            previous is not None
            and not options.force
            and previous.size == found.size
            and previous.mtime_ns == found.mtime_ns
        ):
            report.unchanged += 1
            return
        try:
            data = read_regular_file(found.path, options.max_file_size)
        except FileNotFoundError:
            report.add_problem(path, "failed", "vanished before it could be read")
            return
        except OSError as exc:
            report.add_problem(path, "failed", f"cannot read ({exc.strerror or exc})")
            return
        digest = hashlib.sha256(data).hexdigest()
        if previous is not None and not options.force and previous.content_hash == digest:
            report.unchanged += 1
            batch.touched.append((previous.id, found.size, found.mtime_ns))
            return
        try:
            extracted = extract(data, Path(found.path))
        except UnsupportedFile as exc:
            report.add_problem(path, "skipped", str(exc))
            return
        except Unextractable as exc:
            report.add_problem(path, "failed", str(exc))
            return
        batch.documents.append(_prepared_file(path, found, extracted, digest, previous))

    def _prepare_record(
        self,
        record: Record,
        known: dict[str, _Known],
        options: IngestOptions,
        batch: _Batch,
        report: IngestReport,
    ) -> None:
        text = record.text if not record.title else f"{record.title}\n\n{record.text}"
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        previous = known.get(record.uid)
        if previous is not None and not options.force and previous.content_hash == digest:
            report.unchanged += 1
            return
        if not text.strip():
            report.add_problem(record.uid, "skipped", "empty record")
            return
        extracted = Extracted(text=text, title=record.title, format="record")
        batch.documents.append(
            _Prepared(
                path=record.uid,
                uid=record.uid,
                extracted=extracted,
                chunks=chunk_document(extracted),
                content_hash=digest,
                size=len(text.encode("utf-8")),
                mtime_ns=0,
                existing_id=previous.id if previous else None,
            )
        )

    # --- pruning -------------------------------------------------------------

    async def _prune(
        self,
        collection_id: int,
        roots: Sequence[Path],
        known: dict[str, _Known],
        seen: set[str],
        report: IngestReport,
    ) -> None:
        prefixes = [str(r.absolute()) for r in roots]
        vanished = [
            doc.id
            for path, doc in known.items()
            if path not in seen
            and any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)
            and not Path(path).exists()
        ]
        if vanished:
            report.pruned = await self._crud.delete_where(Document, {"id": vanished})


class _Run:
    """The state of one ingest run: where it writes, what it has done so far."""

    def __init__(
        self,
        crud: CRUDService,
        collection: Collection,
        embedder: LazyEmbedder,
        report: IngestReport,
        progress: ProgressCallback | None,
    ) -> None:
        self.crud = crud
        self.collection = collection
        self.embedder = embedder
        self.report = report
        self.progress = progress
        self.total = 0
        self.done = 0

    async def pipeline(
        self, items: Sequence[Any], prepare_one: Callable[[Any, _Batch], None]
    ) -> None:
        """Prepare batch n+1 in a worker thread while batch n is written.

        SQLite does its work in the driver's thread with the GIL released, so reading,
        extracting and embedding overlap with inserting and indexing.
        """
        self.total = len(items)
        writing: asyncio.Task[None] | None = None
        try:
            for start in range(0, len(items), BATCH_FILES):
                batch = await asyncio.to_thread(
                    self._prepare_and_embed, prepare_one, items[start : start + BATCH_FILES]
                )
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self.write(batch))
            if writing is not None:
                await writing
                writing = None
        finally:
            if writing is not None and not writing.done():
                writing.cancel()

    def _prepare_and_embed(
        self, prepare_one: Callable[[Any, _Batch], None], items: Sequence[Any]
    ) -> _Batch:
        batch = _Batch(size=len(items))
        for item in items:
            prepare_one(item, batch)
        if not batch.documents:
            return batch  # nothing to embed: an unchanged batch never loads the model
        texts = [_embedding_text(c.heading, c.text) for p in batch.documents for c in p.chunks]
        vectors = _embed(self.embedder, texts)
        offset = 0
        for item in batch.documents:
            item.vectors = vectors[offset : offset + len(item.chunks)]
            offset += len(item.chunks)
        return batch

    async def write(self, batch: _Batch) -> None:
        if batch.documents or batch.touched:
            await self._write_batch(batch)
        self.done += batch.size
        if self.progress is not None:
            self.progress(IngestProgress(self.done, self.total, self.report.chunks))

    async def _write_batch(self, batch: _Batch) -> None:
        try:
            async with self.crud.transaction(Document) as session:
                await self._write(batch.documents, batch.touched, session)
        except ConflictError:
            # Another writer got there first for some path: retry one document at a time
            # so the others still land and the loser is reported.
            for item in batch.documents:
                try:
                    async with self.crud.transaction(Document) as session:
                        await self._write([item], [], session)
                except ConflictError as exc:
                    self.report.add_problem(item.path, "failed", exc.message)

    async def _write(
        self, prepared: list[_Prepared], touched: list[tuple[int, int, int]], session: Any
    ) -> None:
        crud = self.crud
        for doc_id, size, mtime_ns in touched:
            await crud.update_where(
                Document,
                {"id": doc_id},
                {"size_bytes": size, "mtime_ns": mtime_ns},
                session=session,
            )
        replaced = [p.existing_id for p in prepared if p.existing_id is not None]
        if replaced:
            await crud.delete_where(Chunk, {"document_id": replaced}, session=session)
        new_docs = []
        for item in prepared:
            values = _document_values(self.collection.id, item)
            if item.existing_id is None:
                new_docs.append(Document(**values))
            else:
                await crud.update_where(Document, {"id": item.existing_id}, values, session=session)
        await crud.create_many(new_docs, session=session)
        ids = iter(d.id for d in new_docs)
        rows = []
        for item in prepared:
            doc_id = item.existing_id if item.existing_id is not None else next(ids)
            rows.extend(_chunk_rows(doc_id, item))
        await crud.bulk_insert(Chunk, rows, session=session)
        self.report.new += len(new_docs)
        self.report.updated += len(replaced)
        self.report.chunks += len(rows)


def _prepared_file(
    path: str, found: FoundFile, extracted: Extracted, digest: str, previous: _Known | None
) -> _Prepared:
    return _Prepared(
        path=path,
        uid=hashlib.sha1(path.encode("utf-8")).hexdigest()[:16],
        extracted=extracted,
        chunks=chunk_document(extracted),
        content_hash=digest,
        size=found.size,
        mtime_ns=found.mtime_ns,
        existing_id=previous.id if previous else None,
    )


def _document_ids(collection_id: int) -> Any:
    from sqlalchemy import select

    return select(Document.id).where(Document.collection_id == collection_id)


def _embedding_text(heading: str, text: str) -> str:
    return f"{heading}\n{text}" if heading else text


def _embed(embedder: LazyEmbedder, texts: list[str]) -> np.ndarray:
    import numpy as np

    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    parts = [
        embedder.encode(texts[i : i + EMBED_BATCH_CHUNKS])
        for i in range(0, len(texts), EMBED_BATCH_CHUNKS)
    ]
    return np.vstack(parts).astype(np.float32)


def _document_values(collection_id: int, item: _Prepared) -> dict[str, Any]:
    extracted = item.extracted
    vectors = item.vectors
    return {
        "collection_id": collection_id,
        "uid": item.uid,
        "path": item.path,
        "title": extracted.title,
        "format": extracted.format,
        "content_hash": item.content_hash,
        "size_bytes": item.size,
        "mtime_ns": item.mtime_ns,
        "char_count": len(extracted.text),
        "meta": dict(extracted.metadata),
        "embedding": to_blob(mean_vector(vectors))
        if vectors is not None and len(vectors)
        else None,
    }


def _chunk_rows(document_id: int, item: _Prepared) -> list[dict[str, Any]]:
    assert item.vectors is not None
    title = item.extracted.title
    return [
        {
            "document_id": document_id,
            "ordinal": c.ordinal,
            "text": c.text,
            "heading": _heading_with_title(title, c.heading),
            "char_start": c.char_start,
            "char_end": c.char_end,
            "line_start": c.line_start,
            "line_end": c.line_end,
            "token_count": c.token_count,
            "embedding": to_blob(vector),
        }
        for c, vector in zip(item.chunks, item.vectors, strict=True)
    ]


def _heading_with_title(title: str, heading: str) -> str:
    """Heading paths start with the document's title, so every chunk is findable by it."""
    if not title or heading == title or heading.startswith(f"{title} > "):
        return heading or title
    return f"{title} > {heading}" if heading else title


async def _refresh_document_vectors(
    crud: CRUDService, rows: list[tuple[Any, ...]], vectors: np.ndarray, session: Any
) -> None:
    by_document: dict[int, list[int]] = {}
    for index, (_, document_id, _, _) in enumerate(rows):
        by_document.setdefault(document_id, []).append(index)
    for document_id, indexes in by_document.items():
        await crud.update_where(
            Document,
            {"id": document_id},
            {"embedding": to_blob(mean_vector(vectors[indexes]))},
            session=session,
        )
