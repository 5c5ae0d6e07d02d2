"""Collections: a named set of documents, bound to the model that embedded them."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Protocol

from analyzer.errors import AnalyzerError, UsageError
from modules.core.database.crud_service import CRUDService
from modules.semantic_core.db_models import Collection, Document

DEFAULT_COLLECTION = "default"


class CollectionNotFoundError(AnalyzerError):
    """A collection name that does not exist."""


class EmptyCollectionError(AnalyzerError):
    """A collection with no documents in it yet."""


class CollectionDroppedError(AnalyzerError):
    """A collection dropped by another process while a command was writing to it."""


class ModelMismatchError(AnalyzerError):
    """A collection embedded with one model, used with another."""


class ModelIdentity(Protocol):
    model_id: str
    dimension: int


def check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 200:
        raise UsageError(f"collection name {name!r} must be 1 to 200 characters")
    return cleaned


async def find_collection(crud: CRUDService, name: str) -> Collection | None:
    return await crud.find(Collection, {"name": check_name(name)})


async def require_collection(crud: CRUDService, name: str) -> Collection:
    found = await find_collection(crud, name)
    if found is None:
        names = [c.name for c in await crud.list(Collection, order_by="name")]
        known = ", ".join(names) if names else "none yet; run analyzer ingest first"
        raise CollectionNotFoundError(f"no collection named {name!r} (collections: {known})")
    return found


async def require_documents(crud: CRUDService, name: str) -> Collection:
    """The collection called ``name``, which must hold at least one document."""
    collection = await require_collection(crud, name)
    if not await crud.exists(Document, {"collection_id": collection.id}):
        raise EmptyCollectionError(
            f"collection {name!r} has no documents yet; run: analyzer ingest PATH "
            f"--collection {name}"
        )
    return collection


def model_matches(collection: Collection, model: ModelIdentity) -> bool:
    return collection.model_id == model.model_id and collection.dimension == model.dimension


def model_mismatch(collection: Collection, model: ModelIdentity) -> ModelMismatchError:
    """The one message for a collection used with a model other than its own."""
    own = collection.settings.get("model", collection.model_id)
    return ModelMismatchError(
        f"collection {collection.name!r} was embedded with {collection.model_id} "
        f"({collection.dimension} dims), not {model.model_id} ({model.dimension} dims); "
        f"use --model {own}, or re-embed it: analyzer ingest PATH --collection "
        f"{collection.name} --model MODEL --force"
    )


async def next_generation(
    crud: CRUDService, collection: Collection, session: Any, *, command: str
) -> None:
    """Mark a collection as changed, in the transaction that changes its documents or
    chunks: every write that does must call this, before its first change.

    The update matches the collection's row by id and epoch, so it finds nothing once
    the collection is dropped, or dropped and made again (SQLite gives the new row the
    old id): then ``command`` (what the user ran, such as ``ingest``) stops with
    ``CollectionDroppedError`` instead of writing rows that a foreign key refuses, or
    that land in another collection. On PostgreSQL the update also locks the row, so a
    drop that comes after it waits for this transaction to end."""
    changed = await crud.update_where(
        Collection,
        {"id": collection.id, "epoch": collection.epoch},
        {"generation": Collection.generation + 1},
        session=session,
    )
    if not changed:
        raise collection_dropped(collection, command)


async def check_still_there(
    crud: CRUDService, collection: Collection, session: Any, *, command: str
) -> None:
    """Like ``next_generation`` for a write that changes no content (a file's mtime)."""
    if not await crud.exists(
        Collection, {"id": collection.id, "epoch": collection.epoch}, session=session
    ):
        raise collection_dropped(collection, command)


def collection_dropped(collection: Collection, command: str) -> CollectionDroppedError:
    return CollectionDroppedError(
        f"collection {collection.name!r} was dropped by another command while this "
        f"{command} was writing to it; run the {command} again"
    )


# Collections whose vectors and statistics a long-lived process keeps at once.
COLLECTIONS_KEPT = 8


class GenerationCache:
    """Values read or computed from a collection, each kept while the collection stays at
    the version it was made from (``Collection.version``: its epoch and generation): a
    long-lived process answers from memory until a write anywhere changes the
    collection, or the collection is dropped and made again under the same id.

    At most ``capacity`` keys are kept, the least recently used going first: a
    collection dropped and made again gets a new id on PostgreSQL, and a server that
    lives through many such lives must not keep every dead one's vectors.
    """

    def __init__(self, capacity: int = COLLECTIONS_KEPT) -> None:
        self._kept: dict[Hashable, tuple[Hashable, Any]] = {}
        self._capacity = capacity

    def get(self, key: Hashable, version: Hashable) -> Any | None:
        found = self._kept.pop(key, None)
        if found is None:
            return None
        self._kept[key] = found  # most recently used last
        return found[1] if found[0] == version else None

    def put(self, key: Hashable, version: Hashable, value: Any) -> Any:
        self._kept.pop(key, None)
        self._kept[key] = (version, value)
        while len(self._kept) > self._capacity:
            del self._kept[next(iter(self._kept))]
        return value

    def items(self) -> list[tuple[Hashable, tuple[Hashable, Any]]]:
        """(key, (version, value)) of what is kept, least recently used first."""
        return list(self._kept.items())
