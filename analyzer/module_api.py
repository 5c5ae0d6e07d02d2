"""What a module declares to the framework.

A module is a Python package (built in under ``modules/``, or installed and named
in the ``analyzer.modules`` entry-point group). It may contain:

- ``module.py`` with ``MODULE = ModuleSpec(...)``: its name, version and services;
- ``db_models.py`` with ``DATABASE_NAME = "<name>"``: the tables of database ``<name>``,
  declared on ``get_database_base(DATABASE_NAME)`` from the contact surface
  ``modules.core.database.db_models``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from analyzer.app_context import AppContext


@runtime_checkable
class Service(Protocol):
    """A service's lifecycle: built by its factory, initialized once, closed once."""

    async def initialize(self) -> None: ...

    async def close(self) -> None: ...


ServiceFactory = Callable[["AppContext"], Any]


@dataclass(frozen=True)
class ServiceSpec:
    """A named service, how to build it, and which services it needs first."""

    name: str
    factory: ServiceFactory
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    version: str
    services: tuple[ServiceSpec, ...] = field(default_factory=tuple)
