"""The contract between modules and the framework.

A module is a Python package (built in under ``modules/``, or installed and named
in the ``analyzer.modules`` entry-point group). It may contain:

- ``module.py`` with ``MODULE = ModuleSpec(...)``: its name, version and services;
- ``db_models.py`` with ``DATABASE_NAME = "<name>"``: the tables of database ``<name>``,
  declared on ``get_database_base(DATABASE_NAME)`` from the contact surface
  ``modules.core.database.db_models``.

The framework answers with a ``Discovery`` (what it found) and, to every service
factory, a ``ServiceContext`` (what a factory may use). This module imports nothing
else of the framework, so the framework's own modules depend on it, never the
other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from analyzer.settings import Settings
    from modules.core.database.database_infrastructure import DatabaseRuntime


@runtime_checkable
class Service(Protocol):
    """A service's lifecycle: built by its factory, initialized once, closed once.

    Both hooks are optional: the framework calls them only where a service defines them.
    """

    async def initialize(self) -> None: ...

    async def close(self) -> None: ...


class ServiceContext(Protocol):
    """What a service factory may ask of the running application context."""

    settings: Settings
    discovery: Discovery
    database_runtime: DatabaseRuntime

    def get_service(self, name: str) -> Any: ...


ServiceFactory = Callable[[ServiceContext], Any]
T = TypeVar("T")


class ModuleServices:
    """Base of a module's typed accessor, e.g. ``core(app).crud``: one ``ServiceAt`` per
    service, so "go to definition" reaches the service's class."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context


class ServiceAt(Generic[T]):
    """A typed attribute of a ``ModuleServices`` that resolves a service by its name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, accessor: ModuleServices, owner: type | None = None) -> T:
        return accessor.context.get_service(self.name)


@dataclass(frozen=True)
class ServiceSpec:
    """A named service, how to build it, and which services it needs first.

    ``lazy=True``: the factory runs on the service's first use, not at start-up, so
    a command that never touches it never imports its module (numpy and friends).
    A lazy service must not need ``initialize()``; its ``close()`` still runs.
    """

    name: str
    factory: ServiceFactory
    depends_on: tuple[str, ...] = ()
    lazy: bool = False


class LazyService:
    """Stands in for a lazy service until first use, then forwards to it."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._target: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._target is None:
            self._target = self._build()
        return getattr(self._target, name)

    async def initialize(self) -> None:
        return None

    async def close(self) -> None:
        if self._target is not None and hasattr(self._target, "close"):
            await self._target.close()


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    version: str
    services: tuple[ServiceSpec, ...] = field(default_factory=tuple)


# --- what discovery found ------------------------------------------------------------


@dataclass(frozen=True)
class DiscoveredDatabase:
    """A database and the model modules that declare tables in it."""

    name: str
    base: Any
    model_modules: tuple[ModuleType, ...]


@dataclass(frozen=True)
class DiscoveredModule:
    package: str
    spec: ModuleSpec
    source: str  # "builtin", "entry_point" or "extra"


@dataclass
class Discovery:
    """The outcome of phase 1: modules, databases and services in start order."""

    modules: list[DiscoveredModule] = field(default_factory=list)
    databases: dict[str, DiscoveredDatabase] = field(default_factory=dict)
    services: list[ServiceSpec] = field(default_factory=list)
