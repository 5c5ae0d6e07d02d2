"""AppContext: the application's lifecycle and its service registry.

    async with AppContext(settings) as app:
        crud = app.get_service("core.database.crud_service")   # the framework's API
        search = semantic_core(app).search                     # typed, for callers

Phase 1 (discovery) runs on construction: sync, imports only. Phase 2 runs on
entry: the data directory, one engine per database, schemas at head, services
built and initialized in dependency order (a lazy service is built on first use).
Exit closes services in reverse order and disposes engines. A context cannot be
reopened once closed.

``overrides`` replaces the factory of a registered service, so a caller (a test, a
benchmark) can pass in a different implementation, as httpx takes ``transport=``.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from analyzer.discovery import discover
from analyzer.errors import ContextStateError, DataDirError, UnknownServiceError
from analyzer.module_api import Discovery, LazyService, ServiceFactory, ServiceSpec
from analyzer.privacy import create_private_file, make_private_dir
from analyzer.settings import Settings
from modules.core.database.database_infrastructure import (
    DISK_FULL,
    DatabaseRuntime,
    sqlite_file,
)


class ContextState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


class AppContext:
    def __init__(
        self,
        settings: Settings,
        *,
        packages: Sequence[str] | None = None,
        extra_packages: Iterable[str] = (),
        discovery: Discovery | None = None,
        overrides: Mapping[str, ServiceFactory] | None = None,
    ) -> None:
        self.settings = settings
        self.discovery = discovery or discover(packages, extra_packages)
        self._overrides = dict(overrides or {})
        self.state = ContextState.NEW
        self._services: dict[str, Any] = {}
        self._started: list[Any] = []
        self.database_runtime = DatabaseRuntime(
            self._database_urls(), settings.busy_timeout_s, settings.echo_sql
        )

    def _database_urls(self) -> Mapping[str, str]:
        return {name: self.settings.database_url(name) for name in self.discovery.databases}

    # --- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> AppContext:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        if self.state is not ContextState.NEW:
            raise ContextStateError(
                f"cannot start an application context that is {self.state.value}"
            )
        self.state = ContextState.RUNNING
        try:
            self._check_overrides()
            self._prepare_data_dir()
            for name, database in self.discovery.databases.items():
                await self.database_runtime.open(name, database.base, database.model_modules)
            for spec in self.discovery.services:
                service = _build(spec, self._overrides.get(spec.name, spec.factory), self)
                self._services[spec.name] = service
                await _call_if_present(service, "initialize")
                self._started.append(service)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self.state is ContextState.CLOSED:
            return
        self.state = ContextState.CLOSED
        try:
            for service in reversed(self._started):
                await _call_if_present(service, "close")
        finally:
            self._started.clear()
            self._services.clear()
            await self.database_runtime.dispose()

    def _check_overrides(self) -> None:
        registered = {spec.name for spec in self.discovery.services}
        unknown = sorted(set(self._overrides) - registered)
        if unknown:
            known = ", ".join(sorted(registered)) or "none"
            raise UnknownServiceError(
                f"cannot override {unknown[0]!r}: no module registers it; registered: {known}"
            )

    def _prepare_data_dir(self) -> None:
        """Create the directory of every SQLite database. One that exists but cannot be
        written (a read-only mount, a share, another user's index) is opened to read."""
        files = {
            path
            for name in self.discovery.databases
            if (path := sqlite_file(self.settings.database_url(name))) is not None
        }
        for directory in sorted({path.parent for path in files}):
            if not _ensure_dir(directory):
                self.database_runtime.read_only_dirs.add(directory)
        for path in sorted(files):
            if path.parent not in self.database_runtime.read_only_dirs:
                _create_database_file(path)

    @property
    def opened_on_full_disk(self) -> bool:
        """Whether a database could only be opened to read because its disk was full."""
        runtime = self.database_runtime
        return any(runtime.get(n).read_only_reason == DISK_FULL for n in runtime.names)

    # --- services ----------------------------------------------------------

    def get_service(self, name: str) -> Any:
        if self.state is not ContextState.RUNNING:
            raise ContextStateError(
                f"service {name!r} asked for while the application context is {self.state.value}"
            )
        try:
            return self._services[name]
        except KeyError:
            known = ", ".join(sorted(self._services)) or "none"
            raise UnknownServiceError(
                f"no service named {name!r}; registered services: {known}"
            ) from None

    @property
    def service_names(self) -> list[str]:
        return list(self._services)


def _build(spec: ServiceSpec, factory: ServiceFactory, context: AppContext) -> Any:
    if spec.lazy:
        return LazyService(lambda: factory(context))
    return factory(context)


async def _call_if_present(service: Any, method: str) -> None:
    hook = getattr(service, method, None)
    if hook is not None:
        await hook()


def _ensure_dir(directory: Path) -> bool:
    """Create ``directory`` owner-only if it is missing; whether it can be written."""
    if directory.is_dir():
        return os.access(directory, os.W_OK | os.X_OK)
    try:
        make_private_dir(directory)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DataDirError(
            f"cannot create data directory {directory} ({reason}); "
            "choose another with --data-dir or ANALYZER_DATA_DIR"
        ) from None
    return True


def _create_database_file(path: Path) -> None:
    """An owner-only empty file for SQLite to open (it makes ``-wal`` and ``-shm`` with the
    same mode). A disk too full for an empty file is left to SQLite to report."""
    try:
        create_private_file(path)
    except OSError:
        pass
