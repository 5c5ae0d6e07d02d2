"""IngestService: files (or records) into a collection, incrementally and atomically.

Each call is one run, in named steps:

1. **open**: the collection (created on first use), the model bound to it, and what
   it already holds.
2. **scan**: the files under the given paths (records are handed in instead).
3. **re-embed**, only when ``--force`` moves the collection to another model: the
   stored chunks of documents this run will not re-process are embedded again from
   their stored text, through the same ``chunk_passage`` a fresh ingest uses, so one
   model gives one vector for one chunk either way. The documents this run does
   re-process lose their vectors and fingerprints in the same transaction (so a
   crash leaves nothing mixed, and the next run re-processes them); each chunk is
   embedded once.
4. **prepare** (worker thread, a batch of files at a time): skip unchanged files by
   size and mtime, then by hash; extract and chunk the changed ones.
5. **embed** (same thread): all chunks of the batch in one call.
6. **write** (event loop): the batch in one transaction through the CRUD service; a
   changed document's old chunks are replaced in it and the full-text index follows
   by trigger. Batch n+1 is prepared while batch n is written.
7. **report**: each batch is counted in one place, after it is written; known files
   gone from disk are counted as vanished, and removed with ``--prune``.

A first cancellation (Ctrl-C) stops the run after the batch in hand; its report says
what was stored and that it was interrupted, and nothing is pruned (see ``run``).

A collection dropped by another process while the run writes to it (``collections
drop``, perhaps followed by a new collection of the same name) ends the run at its
next write with ``CollectionDroppedError``: every write first checks, in its own
transaction, that the collection is still the row the run opened (id and epoch), so
nothing is counted as written that the drop took away, and nothing lands in the
collection that took its place.

A crash loses at most the batch in flight, and the next run picks it up.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from analyzer.errors import ConflictError
from analyzer.paths import from_storage
from modules.core.database.crud_service import CRUDService
from modules.semantic_core.collections import (
    DEFAULT_COLLECTION,
    check_name,
    find_collection,
    model_matches,
    model_mismatch,
)
from modules.semantic_core.db_models import Collection, Document
from modules.semantic_core.embeddings.registry import ModelProvider, NamedEmbedder
from modules.semantic_core.index.reader import SearchIndex
from modules.semantic_core.ingest.extract import DEFAULT_FILE_SECONDS
from modules.semantic_core.ingest.files import (
    DEFAULT_MAX_FILE_SIZE,
    FileFilter,
    directory_keys,
    scan,
)
from modules.semantic_core.ingest.report import IngestReport, ProgressCallback
from modules.semantic_core.ingest.run import IngestRun, Known


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
    follow_symlinks: bool = False  # also links that lead outside the paths given
    debug: bool = False  # an unexpected error ends the run with its traceback
    # Reading, extracting and chunking one file; None: no limit.
    file_seconds: float | None = DEFAULT_FILE_SECONDS


@dataclass(frozen=True)
class Record:
    """A document handed in by a program rather than read from a file."""

    uid: str
    text: str
    title: str = ""


class IngestService:
    def __init__(
        self,
        crud: CRUDService,
        index: SearchIndex,
        models: ModelProvider,
        data_dirs: Iterable[Path] = (),
    ) -> None:
        """``data_dirs``: where the databases live, never ingested (a data directory inside
        an ingested folder would otherwise feed its own log back in)."""
        self._crud = crud
        self._index = index
        self._models = models
        self._data_dirs = tuple(data_dirs)

    async def ingest_paths(
        self,
        paths: Sequence[Path],
        options: IngestOptions,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        run = await self._open(options, progress)
        rules = FileFilter(
            options.include,
            options.exclude,
            options.max_file_size,
            options.follow_symlinks,
            directory_keys(self._data_dirs),
        )
        found = scan(paths, rules)
        run.count_skipped(found.skipped)
        if run.switches_model:
            await run.reembed(reprocessed={f.path for f in found.files})
        await run.process(found.files, run.prepare_file)
        vanished = run.vanished(paths, seen={f.path for f in found.files})
        if options.prune and not run.report.interrupted:
            await run.prune(vanished)
        run.report.vanished = max(len(vanished) - run.report.pruned, 0)
        await self._index.index_vectors(run.embedder.dimension)
        return run.finish(started)

    async def ingest_records(
        self,
        records: Iterable[Record],
        options: IngestOptions,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest records (id, title, text): the same steps as files, without the disk."""
        started = time.perf_counter()
        run = await self._open(options, progress)
        handed_in = list(records)
        if run.switches_model:
            await run.reembed(reprocessed={r.uid for r in handed_in})
        await run.process(handed_in, run.prepare_record)
        await self._index.index_vectors(run.embedder.dimension)
        return run.finish(started)

    async def _open(self, options: IngestOptions, progress: ProgressCallback | None) -> IngestRun:
        """The collection to write to and the model that embeds it.

        Without --model an existing collection keeps its own model; a different --model
        is refused, or, with --force, the run moves the collection to it.
        """
        name = check_name(options.collection)
        if options.trigram:
            self._index.check_trigram()  # refused before anything is written
        collection = await find_collection(self._crud, name)
        switches_model = False
        if collection is None:
            embedder = self._models.embedder(options.model)
            collection = await self._create_collection(name, embedder)
        else:
            embedder = self._models.embedder(options.model or collection.settings.get("model"))
            if not model_matches(collection, embedder):
                if not options.force:
                    raise model_mismatch(collection, embedder)
                switches_model = True
        if options.trigram:
            await self._enable_trigram(collection)
        known = await self._known_documents(collection.id)
        return IngestRun(self._crud, collection, embedder, known, options, progress, switches_model)

    async def _create_collection(self, name: str, embedder: NamedEmbedder) -> Collection:
        """A new collection, or the one another process created a moment earlier."""
        created = Collection(
            name=name,
            model_id=embedder.model_id,
            dimension=embedder.dimension,
            settings={"model": embedder.spec},
        )
        try:
            return await self._crud.create(created)
        except ConflictError:
            found = await find_collection(self._crud, name)
            if found is None:
                raise
            if not model_matches(found, embedder):
                raise model_mismatch(found, embedder) from None
            return found

    async def _enable_trigram(self, collection: Collection) -> None:
        await self._index.enable_trigram()
        if not collection.settings.get("trigram"):
            settings = {**collection.settings, "trigram": True}
            await self._crud.update(Collection, collection.id, {"settings": settings})
            collection.settings = settings

    async def _known_documents(self, collection_id: int) -> dict[str, Known]:
        rows = await self._crud.values(
            Document,
            ["path", "id", "size_bytes", "mtime_ns", "content_hash"],
            filters={"collection_id": collection_id},
        )
        return {from_storage(path): Known(*rest) for path, *rest in rows}
