"""The core module: database access, CRUD, run records and status for every module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from analyzer.module_api import ModuleSpec, ServiceSpec

if TYPE_CHECKING:
    from analyzer.app_context import AppContext

DATABASE_SERVICE = "core.database.service"
CRUD_SERVICE = "core.database.crud_service"
RUN_SERVICE = "core.runs"
STATUS_SERVICE = "core.status"


def _database_service(context: AppContext) -> object:
    from modules.core.database.service import DatabaseService

    return DatabaseService(context.database_runtime)


def _crud_service(context: AppContext) -> object:
    from modules.core.database.crud_service import CRUDService

    return CRUDService(context.get_service(DATABASE_SERVICE))


def _run_service(context: AppContext) -> object:
    from modules.core.runs import RunService

    runtime = context.database_runtime
    locations = {name: runtime.get(name).label for name in runtime.names}
    revisions = {name: runtime.get(name).revisions for name in runtime.names}
    return RunService(context.get_service(CRUD_SERVICE), context.discovery, locations, revisions)


def _status_service(context: AppContext) -> object:
    from modules.core.status import StatusService

    return StatusService(context.get_service(DATABASE_SERVICE), context.get_service(RUN_SERVICE))


MODULE = ModuleSpec(
    name="core",
    version="1.0",
    services=(
        ServiceSpec(DATABASE_SERVICE, _database_service),
        ServiceSpec(CRUD_SERVICE, _crud_service, depends_on=(DATABASE_SERVICE,)),
        ServiceSpec(RUN_SERVICE, _run_service, depends_on=(CRUD_SERVICE,)),
        ServiceSpec(STATUS_SERVICE, _status_service, depends_on=(DATABASE_SERVICE, RUN_SERVICE)),
    ),
)
