"""Phase 1 of start-up: find modules, their databases and their services.

Discovery is synchronous and does no I/O beyond imports. Each ``db_models`` module
is imported by its canonical dotted name through ``importlib``, so Python's module
cache guarantees it runs exactly once per process.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points
from types import ModuleType

from analyzer.errors import DependencyCycleError, MissingDependencyError, StartupError
from analyzer.module_api import (
    DiscoveredDatabase,
    DiscoveredModule,
    Discovery,
    ModuleSpec,
    ServiceSpec,
)

BUILTIN_PACKAGE = "modules"
ENTRY_POINT_GROUP = "analyzer.modules"


def builtin_module_packages() -> list[str]:
    """Top-level packages under ``modules/``, core first."""
    root = importlib.import_module(BUILTIN_PACKAGE)
    names = sorted(
        f"{BUILTIN_PACKAGE}.{info.name}"
        for info in pkgutil.iter_modules(root.__path__)
        if info.ispkg
    )
    core = f"{BUILTIN_PACKAGE}.core"
    return sorted(names, key=lambda name: name != core)


def entry_point_packages() -> list[str]:
    return [ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)]


def _import_optional(dotted: str) -> ModuleType | None:
    """Import ``dotted`` if it exists; a missing submodule is not an error, a broken one is."""
    try:
        if importlib.util.find_spec(dotted) is None:
            return None
    except ModuleNotFoundError:
        return None
    return importlib.import_module(dotted)


def _module_spec(package: str) -> ModuleSpec:
    declared = _import_optional(f"{package}.module")
    spec = getattr(declared, "MODULE", None)
    if spec is None:
        # A package without module.py still counts: it may only declare tables.
        return ModuleSpec(name=package.rsplit(".", 1)[-1], version="0")
    if not isinstance(spec, ModuleSpec):
        raise StartupError(
            f"{package}.module.MODULE is not a ModuleSpec; declare it with ModuleSpec"
        )
    return spec


def discover(
    packages: Sequence[str] | None = None,
    extra_packages: Iterable[str] = (),
) -> Discovery:
    """Discover modules (built in, from entry points, plus ``extra_packages``)."""
    from modules.core.database.database_infrastructure import get_database_base

    found = Discovery()
    builtin = builtin_module_packages() if packages is None else list(packages)
    plugins = entry_point_packages() if packages is None else []
    sources = [(p, "builtin") for p in builtin] + [(p, "entry_point") for p in plugins]
    sources += [(p, "extra") for p in extra_packages]
    model_modules: dict[str, list[ModuleType]] = {}
    for package, source in sources:
        found.modules.append(DiscoveredModule(package, _module_spec(package), source))
        models = _import_optional(f"{package}.db_models")
        name = getattr(models, "DATABASE_NAME", None)
        if models is not None and name:
            model_modules.setdefault(name, []).append(models)
    for name, declaring in model_modules.items():
        found.databases[name] = DiscoveredDatabase(name, get_database_base(name), tuple(declaring))
    all_services = [svc for module in found.modules for svc in module.spec.services]
    found.services = order_services(all_services)
    return found


def order_services(services: Sequence[ServiceSpec]) -> list[ServiceSpec]:
    """Services in dependency order; a cycle or a missing dependency names both ends."""
    by_name: dict[str, ServiceSpec] = {}
    for svc in services:
        if svc.name in by_name:
            raise StartupError(f"service {svc.name!r} is registered twice; rename one of them")
        by_name[svc.name] = svc
    ordered: list[ServiceSpec] = []
    state: dict[str, str] = {}

    def visit(svc: ServiceSpec, path: list[str]) -> None:
        if state.get(svc.name) == "done":
            return
        if state.get(svc.name) == "visiting":
            cycle = " -> ".join([*path[path.index(svc.name) :], svc.name])
            raise DependencyCycleError(
                f"service dependency cycle: {cycle}; break one of these links"
            )
        state[svc.name] = "visiting"
        for dep in svc.depends_on:
            if dep not in by_name:
                raise MissingDependencyError(
                    f"service {svc.name!r} depends on {dep!r}, which no module registers; "
                    "install the module that provides it or drop the dependency"
                )
            visit(by_name[dep], [*path, svc.name])
        state[svc.name] = "done"
        ordered.append(svc)

    for svc in services:
        visit(svc, [])
    return ordered
