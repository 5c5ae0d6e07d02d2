"""RunService: framework.db's record of modules, databases and command runs."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from analyzer.errors import AnalyzerError, DiskFullError, ReadOnlyError
from analyzer.module_api import Discovery
from analyzer.paths import storable
from modules.core.database.crud_service import CRUDService
from modules.core.database.db_models import utcnow
from modules.core.db_models import CommandRun, DatabaseRecord, ModuleRecord

Result = TypeVar("Result")


@dataclass(frozen=True)
class RunSummary:
    id: int
    command: str
    status: str
    exit_code: int | None
    started_at: str
    ended_at: str | None
    error: str | None


class RunService:
    def __init__(
        self,
        crud: CRUDService,
        discovery: Discovery,
        locations: Mapping[str, str],
        revisions: Mapping[str, Mapping[str, int]],
    ) -> None:
        self._crud = crud
        self._discovery = discovery
        self._locations = dict(locations)
        self._revisions = {name: dict(r) for name, r in revisions.items()}

    async def initialize(self) -> None:
        """Remember which modules and databases this run found (when framework.db can be
        written)."""
        if not self._crud.writable(ModuleRecord):
            return
        now = utcnow()
        modules = [
            {
                "name": m.spec.name,
                "package": m.package,
                "version": m.spec.version,
                "source": m.source,
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for m in self._discovery.modules
        ]
        databases = [
            {
                "name": name,
                "location": self._locations[name],
                "revisions": self._revisions.get(name, {}),
                "checked_at": now,
            }
            for name in self._locations
        ]
        try:
            async with self._crud.transaction(ModuleRecord) as session:
                await self._crud.bulk_upsert(
                    ModuleRecord,
                    modules,
                    conflict_columns=["name"],
                    update_columns=["package", "version", "source", "last_seen_at"],
                    session=session,
                )
                await self._crud.bulk_upsert(
                    DatabaseRecord, databases, conflict_columns=["name"], session=session
                )
        except (ReadOnlyError, DiskFullError):
            # framework.db opened for writing but a write finds no room (the disk filled
            # after the last run, with no write needed to open it): what is stored can
            # still be read, and each run then says it is not recorded.
            return

    async def record(
        self,
        command: str,
        arguments: Mapping[str, Any],
        work: Awaitable[Result],
        summarize: Callable[[Result], Mapping[str, Any]] | None = None,
        unrecorded: Callable[[str], None] | None = None,
        stopped_early: Callable[[Result], bool] | None = None,
    ) -> Result:
        """Await ``work`` as one run of ``command``: started, then finished with its outcome.

        Work that stops on request and returns what it did (an ingest after Ctrl-C) is
        recorded as ``interrupted``, exit code 130, with its summary, when
        ``stopped_early`` says so of its result.

        A framework.db that cannot be written (read-only, disk full) does not stop the work:
        it runs unrecorded, and ``unrecorded`` hears why.
        """
        try:
            run_id = await self._start_or_skip(command, arguments, unrecorded)
        except BaseException:
            if inspect.iscoroutine(work):
                work.close()  # never started: no "never awaited" warning
            raise
        if run_id is None:
            return await work
        try:
            result = await work
        except AnalyzerError as exc:
            await self._finish_failed(run_id, exit_code=exc.exit_code, error=exc.message)
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            interrupted = {"exit_code": 130, "error": "interrupted", "status": "interrupted"}
            await asyncio.shield(self._finish_failed(run_id, **interrupted))
            raise
        except Exception as exc:  # a bug: recorded as failed, then its traceback goes on
            await self._finish_failed(run_id, exit_code=1, error=f"unexpected {type(exc).__name__}")
            raise
        summary = summarize(result) if summarize else None
        outcome: dict[str, Any] = {"exit_code": 0}
        if stopped_early is not None and stopped_early(result):
            outcome = {"exit_code": 130, "error": "interrupted", "status": "interrupted"}
        with contextlib.suppress(DiskFullError):  # the work is done; only its record is lost
            await asyncio.shield(self.finish(run_id, summary=summary, **outcome))
        return result

    async def _start_or_skip(
        self,
        command: str,
        arguments: Mapping[str, Any],
        unrecorded: Callable[[str], None] | None,
    ) -> int | None:
        reason = self._crud.why_read_only(CommandRun)
        if reason is None:
            try:
                return await self.start(command, arguments)
            except (ReadOnlyError, DiskFullError) as exc:
                reason = _unwritable_because(exc)
        if unrecorded is not None:
            unrecorded(reason)
        return None

    async def _finish_failed(self, run_id: int, **outcome: Any) -> None:
        """Record how a run failed; a record that cannot be written never hides the failure."""
        with contextlib.suppress(Exception):  # the run stays "running", later "abandoned"
            await self.finish(run_id, **outcome)

    async def start(self, command: str, arguments: Mapping[str, Any]) -> int:
        run = CommandRun(
            command=command, arguments=_jsonable(arguments), pid=os.getpid(), host=_HOST
        )
        return (await self._crud.create(run)).id

    async def finish(
        self,
        run_id: int,
        *,
        exit_code: int,
        summary: Mapping[str, Any] | None = None,
        error: str | None = None,
        status: str | None = None,
    ) -> None:
        await self._crud.update(
            CommandRun,
            run_id,
            {
                "ended_at": utcnow(),
                "status": status or ("ok" if exit_code == 0 else "failed"),
                "exit_code": exit_code,
                "summary": _jsonable(summary) if summary is not None else None,
                "error": error,
            },
        )

    async def recent(self, limit: int = 5) -> list[RunSummary]:
        runs = await self._crud.list(CommandRun, order_by="-id", limit=limit)
        return [
            RunSummary(
                id=r.id,
                command=r.command,
                status=_status(r),
                exit_code=r.exit_code,
                started_at=r.started_at.isoformat(),
                ended_at=r.ended_at.isoformat() if r.ended_at else None,
                error=r.error,
            )
            for r in runs
        ]


_HOST = socket.gethostname()


def _unwritable_because(exc: ReadOnlyError | DiskFullError) -> str:
    """Why a write to framework.db failed, in the words used when it was opened only to
    read (the error's own message names the file and tells the user to retry)."""
    return "the disk is full" if isinstance(exc, DiskFullError) else "it is read-only"


def _status(run: CommandRun) -> str:
    """A run still marked running whose process is gone (kill -9, a crash) is abandoned."""
    if run.status != "running" or run.pid is None or run.host != _HOST:
        return run.status
    return run.status if _alive(run.pid) else "abandoned"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def _jsonable(value: Any) -> Any:
    """Arguments and summaries as JSON-safe values: paths and the like become strings,
    and a file name's undecodable bytes are stored as paths are (PostgreSQL's JSON
    refuses the lone surrogates they decode to)."""
    if isinstance(value, Mapping):
        return {storable(str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return storable(str(value))
