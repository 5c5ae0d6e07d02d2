"""The semantic_core module: its services, how they are wired, and typed access to them.

Callers reach the services through ``semantic_core(app)``, which names their types:

    result = await semantic_core(app).search.search("burns", SearchOptions())

Models are a service of their own (``semantic_core.models``) and are passed to the
services that use them; a test or a benchmark replaces them with
``AppContext(settings, overrides={MODELS_SERVICE: ...})``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from analyzer.module_api import (
    ModuleServices,
    ModuleSpec,
    ServiceAt,
    ServiceContext,
    ServiceSpec,
)
from modules.core.module import CRUD_SERVICE, DATABASE_SERVICE, core

if TYPE_CHECKING:
    from modules.semantic_core.analysis.service import AnalysisService
    from modules.semantic_core.catalog import CatalogService
    from modules.semantic_core.embeddings.registry import ModelProvider
    from modules.semantic_core.index.reader import SearchIndex
    from modules.semantic_core.ingest.service import IngestService
    from modules.semantic_core.search.evaluation import EvalService
    from modules.semantic_core.search.service import SearchService

MODELS_SERVICE = "semantic_core.models"
INDEX_SERVICE = "semantic_core.search_index"
INGEST_SERVICE = "semantic_core.ingest"
SEARCH_SERVICE = "semantic_core.search"
EVAL_SERVICE = "semantic_core.eval"
ANALYSIS_SERVICE = "semantic_core.analysis"
CATALOG_SERVICE = "semantic_core.catalog"


class SemanticCore(ModuleServices):
    """Typed access to semantic_core's services in a running application context."""

    models: ServiceAt[ModelProvider] = ServiceAt(MODELS_SERVICE)
    index: ServiceAt[SearchIndex] = ServiceAt(INDEX_SERVICE)
    ingest: ServiceAt[IngestService] = ServiceAt(INGEST_SERVICE)
    search: ServiceAt[SearchService] = ServiceAt(SEARCH_SERVICE)
    eval: ServiceAt[EvalService] = ServiceAt(EVAL_SERVICE)
    analysis: ServiceAt[AnalysisService] = ServiceAt(ANALYSIS_SERVICE)
    catalog: ServiceAt[CatalogService] = ServiceAt(CATALOG_SERVICE)


def semantic_core(context: ServiceContext) -> SemanticCore:
    return SemanticCore(context)


def _models(context: ServiceContext) -> ModelProvider:
    from modules.semantic_core.embeddings.registry import process_models

    return process_models()


def _index_service(context: ServiceContext) -> SearchIndex:
    from modules.semantic_core.index.reader import SearchIndex

    return SearchIndex(core(context).database)


def _ingest_service(context: ServiceContext) -> IngestService:
    from modules.semantic_core.ingest.service import IngestService

    services = semantic_core(context)
    data_dirs = core(context).database.directories()
    return IngestService(core(context).crud, services.index, services.models, data_dirs)


def _search_service(context: ServiceContext) -> SearchService:
    from modules.semantic_core.search.service import SearchService

    services = semantic_core(context)
    return SearchService(core(context).crud, services.index, services.models)


def _eval_service(context: ServiceContext) -> EvalService:
    from modules.semantic_core.search.evaluation import EvalService

    services = semantic_core(context)
    return EvalService(services.ingest, services.search)


def _catalog_service(context: ServiceContext) -> CatalogService:
    from modules.semantic_core.catalog import CatalogService

    return CatalogService(core(context).crud)


def _analysis_service(context: ServiceContext) -> AnalysisService:
    from modules.semantic_core.analysis.service import AnalysisService

    return AnalysisService(core(context).crud)


_READS_AND_MODELS = (CRUD_SERVICE, INDEX_SERVICE, MODELS_SERVICE)

MODULE = ModuleSpec(
    name="semantic_core",
    version="0.1",
    services=(
        ServiceSpec(MODELS_SERVICE, _models),
        ServiceSpec(INDEX_SERVICE, _index_service, depends_on=(DATABASE_SERVICE,)),
        ServiceSpec(INGEST_SERVICE, _ingest_service, depends_on=_READS_AND_MODELS, lazy=True),
        ServiceSpec(SEARCH_SERVICE, _search_service, depends_on=_READS_AND_MODELS, lazy=True),
        ServiceSpec(
            EVAL_SERVICE, _eval_service, depends_on=(INGEST_SERVICE, SEARCH_SERVICE), lazy=True
        ),
        ServiceSpec(ANALYSIS_SERVICE, _analysis_service, depends_on=(CRUD_SERVICE,), lazy=True),
        ServiceSpec(CATALOG_SERVICE, _catalog_service, depends_on=(CRUD_SERVICE,), lazy=True),
    ),
)
