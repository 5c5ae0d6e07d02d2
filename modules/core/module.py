"""The core module: database access, CRUD, run records and status for every module.

Callers reach its services through ``core(app)``, which names their types:

    crud = core(app).crud          # a CRUDService
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

if TYPE_CHECKING:
    from modules.core.database.crud_service import CRUDService
    from modules.core.database.service import DatabaseService
    from modules.core.runs import RunService
    from modules.core.status import StatusService

DATABASE_SERVICE = "core.database.service"
CRUD_SERVICE = "core.database.crud_service"
RUN_SERVICE = "core.runs"
STATUS_SERVICE = "core.status"


class CoreServices(ModuleServices):
    """Typed access to the core services of a running application context."""

    database: ServiceAt[DatabaseService] = ServiceAt(DATABASE_SERVICE)
    crud: ServiceAt[CRUDService] = ServiceAt(CRUD_SERVICE)
    runs: ServiceAt[RunService] = ServiceAt(RUN_SERVICE)
    status: ServiceAt[StatusService] = ServiceAt(STATUS_SERVICE)


def core(context: ServiceContext) -> CoreServices:
    return CoreServices(context)


def _database_service(context: ServiceContext) -> DatabaseService:
    from modules.core.database.service import DatabaseService

    return DatabaseService(context.database_runtime)


def _crud_service(context: ServiceContext) -> CRUDService:
    from modules.core.database.crud_service import CRUDService

    return CRUDService(core(context).database)


def _run_service(context: ServiceContext) -> RunService:
    from modules.core.runs import RunService

    runtime = context.database_runtime
    locations = {name: runtime.get(name).label for name in runtime.names}
    revisions = {name: runtime.get(name).revisions for name in runtime.names}
    return RunService(core(context).crud, context.discovery, locations, revisions)


def _status_service(context: ServiceContext) -> StatusService:
    from modules.core.status import StatusService

    return StatusService(core(context).database, core(context).runs, context.settings.data_dir)


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
