"""The semantic_core module: ingest, search and analysis of documents."""

from __future__ import annotations

from typing import TYPE_CHECKING

from analyzer.module_api import ModuleSpec, ServiceSpec

if TYPE_CHECKING:
    from analyzer.app_context import AppContext

DATABASE_SERVICE = "core.database.service"
CRUD_SERVICE = "core.database.crud_service"
INGEST_SERVICE = "semantic_core.ingest"
SEARCH_SERVICE = "semantic_core.search"
INDEX_SERVICE = "semantic_core.search_index"
EVAL_SERVICE = "semantic_core.eval"
ANALYSIS_SERVICE = "semantic_core.analysis"


def _index_service(context: AppContext) -> object:
    from modules.semantic_core.index.reader import SearchIndex

    return SearchIndex(context.get_service(DATABASE_SERVICE))


def _ingest_service(context: AppContext) -> object:
    from modules.semantic_core.ingest.service import IngestService

    return IngestService(context.get_service(CRUD_SERVICE), context.get_service(INDEX_SERVICE))


def _search_service(context: AppContext) -> object:
    from modules.semantic_core.search.service import SearchService

    return SearchService(context.get_service(CRUD_SERVICE), context.get_service(INDEX_SERVICE))


def _eval_service(context: AppContext) -> object:
    from modules.semantic_core.search.evaluation import EvalService

    return EvalService(context.get_service(INGEST_SERVICE), context.get_service(SEARCH_SERVICE))


def _analysis_service(context: AppContext) -> object:
    from modules.semantic_core.analysis.service import AnalysisService

    return AnalysisService(context.get_service(CRUD_SERVICE))


MODULE = ModuleSpec(
    name="semantic_core",
    version="0.1",
    services=(
        ServiceSpec(INDEX_SERVICE, _index_service, depends_on=(DATABASE_SERVICE,)),
        ServiceSpec(
            INGEST_SERVICE, _ingest_service, depends_on=(CRUD_SERVICE, INDEX_SERVICE), lazy=True
        ),
        ServiceSpec(
            SEARCH_SERVICE, _search_service, depends_on=(CRUD_SERVICE, INDEX_SERVICE), lazy=True
        ),
        ServiceSpec(
            EVAL_SERVICE, _eval_service, depends_on=(INGEST_SERVICE, SEARCH_SERVICE), lazy=True
        ),
        ServiceSpec(ANALYSIS_SERVICE, _analysis_service, depends_on=(CRUD_SERVICE,), lazy=True),
    ),
)
