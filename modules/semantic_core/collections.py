"""Collections: a named set of documents, bound to the model that embedded them."""

from __future__ import annotations

from analyzer.errors import AnalyzerError, UsageError
from modules.core.database.crud_service import CRUDService
from modules.semantic_core.db_models import Collection

DEFAULT_COLLECTION = "default"


class CollectionNotFoundError(AnalyzerError):
    """A collection name that does not exist."""


class ModelMismatchError(AnalyzerError):
    """A collection embedded with one model, used with another."""


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


def check_model(collection: Collection, model_id: str, dimension: int) -> None:
    if collection.model_id != model_id or collection.dimension != dimension:
        raise ModelMismatchError(
            f"collection {collection.name!r} was embedded with {collection.model_id} "
            f"({collection.dimension} dims), not {model_id} ({dimension} dims); use --model "
            f"{collection.settings.get('model', collection.model_id)} or re-embed with --force"
        )
