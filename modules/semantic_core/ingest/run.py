"""One ingest run, in named steps: re-embed, prepare, embed, write, count, prune.

See ``service`` for the order of the steps and what each guarantees. Preparing and
embedding run in a worker thread; writing and counting on the event loop, so the
report changes in one place.

Stopping: a first cancellation of the task running ``process`` (Ctrl-C, a client that
hung up on the server) asks the run to stop. The file being read is dropped at its
next deadline check, the files of its batch already read are embedded and written,
and the run returns its report marked ``interrupted``. A second cancellation ends it
at once; the batch being written then rolls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer.errors import AnalyzerError, ConflictError
from analyzer.paths import absolute, is_within, storable
from modules.core.database.crud_service import CRUDService
from modules.semantic_core import copies
from modules.semantic_core.collections import check_still_there, next_generation
from modules.semantic_core.db_models import Chunk, Collection, Document
from modules.semantic_core.embeddings.inputs import chunk_passage
from modules.semantic_core.embeddings.registry import NamedEmbedder
from modules.semantic_core.ingest.chunking import ChunkPiece, chunk_document
from modules.semantic_core.ingest.extract import (
    NO_DEADLINE,
    Deadline,
    Extracted,
    StopRequested,
    Unextractable,
    UnsupportedFile,
    extract,
)
from modules.semantic_core.ingest.files import FoundFile, read_regular_file
from modules.semantic_core.ingest.report import (
    IngestProgress,
    IngestReport,
    Problem,
    ProgressCallback,
)
from modules.semantic_core.vectors import mean_vector, to_blob

if TYPE_CHECKING:
    import numpy as np

    from modules.semantic_core.ingest.service import IngestOptions, Record

# numpy is imported where vectors are made: an unchanged re-ingest never needs it.
BATCH_FILES = 64
EMBED_BATCH_CHUNKS = 1024
WRITE_BATCH_IDS = 500  # ids per IN (...) list, well inside SQLite's variable limit
WRITE_BATCH_CHUNKS = 1000  # chunk rows built and inserted at a time


@dataclass
class Known:
    """What the collection already holds for one path."""

    id: int
    size: int
    mtime_ns: int
    content_hash: str


@dataclass
class _Prepared:
    """A document ready to write: chunked, waiting for its vectors. Its extracted text is
    not kept (the chunks hold what is stored), so a large file is not held twice."""

    path: str
    uid: str
    extracted: Extracted  # with its text emptied; ``char_count`` says how long it was
    char_count: int
    chunks: list[ChunkPiece]
    content_hash: str
    size: int
    mtime_ns: int
    existing_id: int | None
    vectors: np.ndarray | None = None
    sketch: bytes | None = None  # see ``copies``

    @classmethod
    def chunked(
        cls, extracted: Extracted, deadline: Deadline = NO_DEADLINE, **fields: Any
    ) -> _Prepared:
        return cls(
            extracted=replace(extracted, text=""),
            char_count=len(extracted.text),
            chunks=stored_chunks(extracted, deadline),
            sketch=copies.sketch(extracted.text),
            **fields,
        )

    def model_inputs(self) -> Iterator[str]:
        return (chunk_passage(c.heading, c.text) for c in self.chunks)


@dataclass
class _Batch:
    """What preparing one batch of inputs found; nothing is counted until it is written."""

    size: int
    documents: list[_Prepared] = field(default_factory=list)
    touched: list[tuple[int, int, int]] = field(default_factory=list)  # (id, size, mtime)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _Written:
    new: int = 0
    updated: int = 0
    unchanged: int = 0  # written by another process meanwhile, with the same bytes
    chunks: int = 0
    conflicts: list[Problem] = field(default_factory=list)


class IngestRun:
    """One ingest run: where it writes, with which model, and what it has done so far."""

    def __init__(
        self,
        crud: CRUDService,
        collection: Collection,
        embedder: NamedEmbedder,
        known: dict[str, Known],
        options: IngestOptions,
        progress: ProgressCallback | None,
        switches_model: bool,
    ) -> None:
        self.crud = crud
        self.collection = collection
        self.embedder = embedder
        self.known = known
        self.options = options
        self.progress = progress
        self.switches_model = switches_model
        self.report = IngestReport(collection.name, embedder.model_id)
        self.total = 0
        self.done = 0
        self.stop_requested = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._doing = ("reading", "")  # the phase and input named by the last event

    def request_stop(self) -> None:
        """Stop after the batch in hand (safe from any thread)."""
        if not self.stop_requested.is_set():
            self.stop_requested.set()
            self._notify("stopping")

    def _notify(self, phase: str, current: str = "") -> None:
        """Tell the progress callback what the run does now, on the event loop's thread."""
        self._doing = (phase, current)
        if self.progress is None:
            return
        event = IngestProgress(self.done, self.total, self.report.chunks, phase, current)
        loop = self._loop
        if loop is None or _running_loop() is loop:
            self.progress(event)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to tell
                loop.call_soon_threadsafe(self.progress, event)

    def finish(self, started: float) -> IngestReport:
        self.report.seconds = time.perf_counter() - started
        return self.report

    # --- step: re-embed ------------------------------------------------------------

    async def reembed(self, reprocessed: set[str]) -> None:
        """Move the collection to this run's model (see the module docstring, step 3)."""
        keep = sorted(doc.id for path, doc in self.known.items() if path not in reprocessed)
        redo = [doc.id for path, doc in self.known.items() if path in reprocessed]
        rows = await self._stored_chunks_of(keep)
        inputs = (chunk_passage(heading, text) for _, _, heading, text in rows)
        vectors = await asyncio.to_thread(_embed, self.embedder, inputs, len(rows))
        async with self.crud.transaction(Chunk) as session:
            await self._next_generation(session)
            for (chunk_id, *_), vector in zip(rows, vectors, strict=True):
                await self.crud.update_where(
                    Chunk, {"id": chunk_id}, {"embedding": to_blob(vector)}, session=session
                )
            await _store_document_vectors(self.crud, rows, vectors, session)
            await self._forget_vectors(redo, session)
            await self._bind_model(session)
        self.report.reembedded = len(rows)

    async def _stored_chunks_of(self, document_ids: list[int]) -> list[tuple[Any, ...]]:
        """(id, document id, heading, text) of these documents' chunks, read by batches of ids;
        the documents this run re-processes are never read."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(document_ids), WRITE_BATCH_IDS):
            ids = document_ids[start : start + WRITE_BATCH_IDS]
            columns = ["id", "document_id", "heading", "text"]
            where = [Chunk.document_id.in_(ids)]
            rows += await self.crud.values(Chunk, columns, where=where, order_by="id")
        return rows

    async def _forget_vectors(self, document_ids: list[int], session: Any) -> None:
        """Old-model vectors go; a reset fingerprint makes any next run re-process these."""
        for start in range(0, len(document_ids), WRITE_BATCH_IDS):
            ids = document_ids[start : start + WRITE_BATCH_IDS]
            await self.crud.update_where(
                Chunk, {"document_id": ids}, {"embedding": None}, session=session
            )
            await self.crud.update_where(
                Document,
                {"id": ids},
                {"embedding": None, "content_hash": "", "mtime_ns": -1},
                session=session,
            )

    async def _bind_model(self, session: Any) -> None:
        collection, embedder = self.collection, self.embedder
        settings = {**collection.settings, "model": embedder.spec}
        await self.crud.update_where(
            Collection,
            {"id": collection.id},
            {"model_id": embedder.model_id, "dimension": embedder.dimension, "settings": settings},
            session=session,
        )
        collection.model_id, collection.dimension = embedder.model_id, embedder.dimension
        collection.settings = settings

    # --- step: prepare (worker thread) ------------------------------------------------

    def prepare_file(self, found: FoundFile, batch: _Batch) -> None:
        """Read, hash, extract and chunk one file into ``batch``, or note why not."""
        path = found.path
        previous = self.known.get(path)
        force = self.options.force
        if (
            previous is not None
            and not force
            and (previous.size, previous.mtime_ns) == (found.size, found.mtime_ns)
        ):
            batch.unchanged += 1
            return
        deadline = Deadline(self.options.file_seconds, self.stop_requested)
        try:
            data = read_regular_file(found.path, self.options.max_file_size)
        except FileNotFoundError:
            batch.problems.append(Problem(path, "failed", "vanished before it could be read"))
            return
        except OSError as exc:
            reason = f"cannot read ({exc.strerror or exc})"
            batch.problems.append(Problem(path, "failed", reason))
            return
        except UnsupportedFile as exc:  # binary by its first block: the rest is never read
            batch.problems.append(Problem(path, "skipped", str(exc)))
            return
        digest = hashlib.sha256(data).hexdigest()
        if previous is not None and not force and previous.content_hash == digest:
            batch.unchanged += 1
            batch.touched.append((previous.id, found.size, found.mtime_ns))
            return
        try:
            extracted = extract(data, Path(found.path), deadline)
            del data  # what a PDF or DOCX was read from, no longer needed while chunking
            prepared = _Prepared.chunked(
                extracted,
                deadline,
                path=path,
                uid=hashlib.sha1(os.fsencode(path)).hexdigest()[:16],
                content_hash=digest,
                size=found.size,
                mtime_ns=found.mtime_ns,
                existing_id=previous.id if previous else None,
            )
        except UnsupportedFile as exc:
            batch.problems.append(Problem(path, "skipped", str(exc)))
            return
        except Unextractable as exc:
            batch.problems.append(Problem(path, "failed", str(exc)))
            return
        batch.documents.append(prepared)

    def prepare_record(self, record: Record, batch: _Batch) -> None:
        text = record.text if not record.title else f"{record.title}\n\n{record.text}"
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        previous = self.known.get(record.uid)
        if previous is not None and not self.options.force and previous.content_hash == digest:
            batch.unchanged += 1
            return
        if not text.strip():
            batch.problems.append(Problem(record.uid, "skipped", "empty record"))
            return
        extracted = Extracted(text=text, title=record.title, format="record")
        batch.documents.append(
            _Prepared.chunked(
                extracted,
                path=record.uid,
                uid=record.uid,
                content_hash=digest,
                size=len(text.encode("utf-8")),
                mtime_ns=0,
                existing_id=previous.id if previous else None,
            )
        )

    # --- steps: prepare, embed, write, report, as a pipeline ---------------------------

    async def process(self, items: Sequence[Any], prepare: Callable[[Any, _Batch], None]) -> None:
        """Prepare and embed batch n+1 in a worker thread while batch n is written.

        SQLite does its work in the driver's thread with the GIL released, so reading,
        extracting and embedding overlap with inserting and indexing.
        """
        self.total = len(items)
        self._loop = asyncio.get_running_loop()
        writing: asyncio.Task[None] | None = None
        try:
            for start in range(0, len(items), BATCH_FILES):
                if self.stop_requested.is_set():
                    break
                batch = await self._finishing(
                    asyncio.to_thread(
                        self._prepare_and_embed, prepare, items[start : start + BATCH_FILES]
                    )
                )
                if writing is not None:
                    await self._finishing(writing)
                writing = asyncio.create_task(self._write_and_count(batch))
            if writing is not None:
                self._notify("writing")
                await self._finishing(writing)
                writing = None
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
        self.report.interrupted = self.stop_requested.is_set()

    async def _finishing(self, work: Any) -> Any:
        """Await a batch being prepared or written to its end. A first cancellation of
        this task asks the run to stop after it; a second one cancels it too."""
        future = asyncio.ensure_future(work)
        while True:
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                if self.stop_requested.is_set() or future.cancelled():
                    future.cancel()
                    raise
                self.request_stop()
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()  # handled: the run goes on to its end

    def _prepare_and_embed(
        self, prepare: Callable[[Any, _Batch], None], items: Sequence[Any]
    ) -> _Batch:
        batch = _Batch(size=0)
        for item in items:
            if self.stop_requested.is_set():
                break
            self._notify("reading", _name_of(item))
            try:
                prepare(item, batch)
            except StopRequested:
                break  # neither stored nor counted: the next run reads it
            except Exception as exc:  # noqa: BLE001 - one input never ends the run
                batch.problems.append(self._unexpected(_name_of(item), exc))
            batch.size += 1
        if batch.documents:
            self._notify("embedding")
        self._embed(batch)
        return batch

    def _unexpected(self, path: str, exc: Exception) -> Problem:
        """A failure nobody foresaw for one input: its entry, or, with --debug, the traceback."""
        if self.options.debug:
            raise exc
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        reason = f"unexpected {type(exc).__name__}{': ' + message[:200] if message else ''}"
        return Problem(path, "failed", reason + " (run with --debug for the traceback)")

    def _embed(self, batch: _Batch) -> None:
        if not batch.documents:
            return  # nothing to embed: an unchanged batch never loads the model
        try:
            self._embed_together(batch.documents)
        except Exception:  # noqa: BLE001 - find the input at fault, embed the others
            if self.options.debug:
                raise
            kept = []
            for item in batch.documents:
                try:
                    self._embed_together([item])
                    kept.append(item)
                except Exception as exc:  # noqa: BLE001
                    batch.problems.append(self._unexpected(item.path, exc))
            batch.documents = kept

    def _embed_together(self, documents: list[_Prepared]) -> None:
        inputs = (text for item in documents for text in item.model_inputs())
        vectors = _embed(self.embedder, inputs, sum(len(item.chunks) for item in documents))
        offset = 0
        for item in documents:
            item.vectors = vectors[offset : offset + len(item.chunks)]
            offset += len(item.chunks)

    async def _write_and_count(self, batch: _Batch) -> None:
        try:
            written = await self._write(batch) if batch.documents or batch.touched else _Written()
        except Exception:
            # The run ends with this error (a full disk, its collection dropped): the
            # batch being prepared meanwhile stops at its next file instead of being
            # read and embedded for nothing.
            self.stop_requested.set()
            raise
        self._count(batch, written)

    def _count(self, batch: _Batch, written: _Written) -> None:
        """The one place where a run's report changes."""
        report = self.report
        report.new += written.new
        report.updated += written.updated
        report.chunks += written.chunks
        report.unchanged += batch.unchanged + written.unchanged
        for problem in [*batch.problems, *written.conflicts]:
            report.problems.append(problem)
            if problem.status == "skipped":
                report.skipped += 1
            else:
                report.failed += 1
        self.done += batch.size
        if batch.size:
            self._notify(*self._doing)

    def count_skipped(self, skipped: Iterable[Any]) -> None:
        batch = _Batch(size=0)
        batch.problems = [Problem(str(s.path), "skipped", s.reason) for s in skipped]
        self._count(batch, _Written())

    async def _write(self, batch: _Batch) -> _Written:
        try:
            async with self.crud.transaction(Document) as session:
                return await self._write_documents(batch.documents, batch.touched, session)
        except Exception as exc:
            # A document the database refuses (another writer got there first, a value
            # it cannot store): write one at a time so the others still land. A database
            # that cannot be written at all (busy, full, gone) ends the run.
            if isinstance(exc, AnalyzerError) and not isinstance(exc, ConflictError):
                raise
            if self.options.debug and not isinstance(exc, ConflictError):
                raise
            return await self._write_one_by_one(batch)

    async def _write_one_by_one(self, batch: _Batch) -> _Written:
        written = _Written()
        if batch.touched:
            async with self.crud.transaction(Document) as session:
                await self._write_documents([], batch.touched, session)
        for item in batch.documents:
            try:
                async with self.crud.transaction(Document) as session:
                    one = await self._write_documents([item], [], session)
            except ConflictError as exc:
                written.conflicts.append(Problem(item.path, "failed", exc.message))
                continue
            except AnalyzerError:
                raise
            except Exception as exc:  # noqa: BLE001
                written.conflicts.append(self._unexpected(item.path, exc))
                continue
            written.new += one.new
            written.updated += one.updated
            written.unchanged += one.unchanged
            written.chunks += one.chunks
        return written

    async def _write_documents(
        self, prepared: list[_Prepared], touched: list[tuple[int, int, int]], session: Any
    ) -> _Written:
        crud = self.crud
        # Other writers of this collection wait here until this transaction ends, so the
        # look at what they wrote below cannot go stale before this one writes.
        await crud.serialize(Collection, self.collection.id, session=session)
        # First, as the check that the collection is still the one this run opened: a
        # collection dropped meanwhile ends the run (see ``next_generation``).
        if prepared:
            await self._next_generation(session)
        else:
            await check_still_there(crud, self.collection, session, command="ingest")
        prepared, unchanged = await self._settle_against_other_writers(prepared, session)
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
        chunks = 0
        owners = [
            (item.existing_id if item.existing_id is not None else next(ids), item)
            for item in prepared
        ]
        for rows in _chunk_rows(owners, WRITE_BATCH_CHUNKS):
            chunks += await crud.bulk_insert(Chunk, rows, session=session)
        return _Written(
            new=len(new_docs), updated=len(replaced), unchanged=unchanged, chunks=chunks
        )

    async def _settle_against_other_writers(
        self, prepared: list[_Prepared], session: Any
    ) -> tuple[list[_Prepared], int]:
        """Documents that another process wrote since this run looked (two ingests of one
        folder, a watcher and a person): the same bytes count as unchanged, other bytes
        replace them. Checked inside the write transaction, after ``serialize``."""
        fresh = {storable(p.path): p for p in prepared if p.existing_id is None}
        if not fresh:
            return prepared, 0
        rows = await self.crud.values(
            Document,
            ["path", "id", "content_hash"],
            filters={"collection_id": self.collection.id, "path": list(fresh)},
            # In path order, SQLite looks each path up in the (collection, path) index; in
            # id order it read every document of the collection to skip a sort: 1.2 s a
            # batch at 321k documents, most of an ingest's time into a large collection.
            order_by="path",
            session=session,
        )
        same = set()
        for path, document_id, content_hash in rows:
            if content_hash == fresh[path].content_hash:
                same.add(path)
            else:
                fresh[path].existing_id = document_id
        return [p for p in prepared if storable(p.path) not in same], len(same)

    async def _next_generation(self, session: Any) -> None:
        await next_generation(self.crud, self.collection, session, command="ingest")

    # --- step: prune ---------------------------------------------------------------

    def vanished(self, roots: Sequence[Path], seen: set[str]) -> list[int]:
        """Ids of the known documents under ``roots`` whose files are gone from disk."""
        prefixes = [str(absolute(r)) for r in roots]
        return [
            doc.id
            for path, doc in self.known.items()
            if path not in seen
            and any(is_within(path, prefix) for prefix in prefixes)
            and not os.path.exists(path)
        ]

    async def prune(self, vanished: list[int]) -> None:
        if vanished:
            async with self.crud.transaction(Document) as session:
                await self._next_generation(session)
                self.report.pruned = await self.crud.delete_where(
                    Document, {"id": vanished}, session=session
                )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _name_of(item: Any) -> str:
    """How an input is named in the report: a file's path, a record's id."""
    return str(getattr(item, "path", None) or getattr(item, "uid", "?"))


def stored_chunks(extracted: Extracted, deadline: Deadline = NO_DEADLINE) -> list[ChunkPiece]:
    """The document's chunks with the headings they are stored with, and embedded with:
    a re-embed reads the stored heading, so both make the same vectors."""
    title = extracted.title
    return [
        replace(c, heading=stored_heading(title, c.heading))
        for c in chunk_document(extracted, deadline=deadline)
    ]


def stored_heading(title: str, heading: str) -> str:
    """Heading paths start with the document's title, so every chunk is findable by it."""
    if not title or heading == title or heading.startswith(f"{title} > "):
        return heading or title
    return f"{title} > {heading}" if heading else title


def _embed(embedder: NamedEmbedder, texts: Iterable[str], count: int) -> np.ndarray:
    """Vectors of ``count`` texts, encoded a batch at a time into one matrix: the texts
    are made as they are encoded, never all at once."""
    import numpy as np

    vectors = np.empty((count, embedder.dimension), dtype=np.float32)
    filled = 0
    texts = iter(texts)
    while batch := list(itertools.islice(texts, EMBED_BATCH_CHUNKS)):
        vectors[filled : filled + len(batch)] = embedder.encode(batch)
        filled += len(batch)
    if filled != count:
        raise ValueError(f"expected {count} texts to embed, got {filled}")
    return vectors


def _document_values(collection_id: int, item: _Prepared) -> dict[str, Any]:
    extracted = item.extracted
    vectors = item.vectors
    return {
        "collection_id": collection_id,
        "uid": item.uid,
        "path": storable(item.path),
        "title": extracted.title,
        "format": extracted.format,
        "content_hash": item.content_hash,
        "size_bytes": item.size,
        "mtime_ns": item.mtime_ns,
        "char_count": item.char_count,
        "meta": dict(extracted.metadata),
        "sketch": item.sketch,
        "embedding": to_blob(mean_vector(vectors))
        if vectors is not None and len(vectors)
        else None,
    }


def _chunk_rows(
    owners: Sequence[tuple[int, _Prepared]], size: int
) -> Iterator[list[dict[str, Any]]]:
    """The chunk rows of these documents, ``size`` at a time: a document of 40,000
    chunks never has all its rows (and their vector bytes) in memory at once."""
    rows: list[dict[str, Any]] = []
    for document_id, item in owners:
        assert item.vectors is not None
        for c, vector in zip(item.chunks, item.vectors, strict=True):
            rows.append(
                {
                    "document_id": document_id,
                    "ordinal": c.ordinal,
                    "text": c.text,
                    "heading": c.heading,
                    "char_start": c.char_start,
                    "char_end": c.char_end,
                    "line_start": c.line_start,
                    "line_end": c.line_end,
                    "token_count": c.token_count,
                    "source_line": c.source_line,
                    "page": c.page,
                    "line_map": c.line_map,
                    "embedding": to_blob(vector),
                }
            )
            if len(rows) == size:
                yield rows
                rows = []
    if rows:
        yield rows


async def _store_document_vectors(
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
