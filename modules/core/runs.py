"""RunService: framework.db's record of modules, databases and command runs."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from analyzer.errors import (
    AnalyzerError,
    DatabaseBusyError,
    DatabaseUnavailableError,
    DiskFullError,
    ReadOnlyError,
)
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
        self._where = self._locations.get("framework", "")  # which framework.db
        self._unfinished: dict[int, dict[str, Any]] = {}  # ends not written yet, by run
        self._retrying: asyncio.Task[None] | None = None

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
        it runs unrecorded, and ``unrecorded`` hears why. One that stops taking writes
        while the work runs (a database server stopped, a disk filled) does not leave the
        run ``running``: its end is kept and written when it can be (see ``_end``).
        """
        try:
            run_id = await self._start_or_skip(command, arguments, unrecorded)
        except BaseException:
            if inspect.iscoroutine(work):
                work.close()  # never started: no "never awaited" warning
            raise
        if run_id is None:
            return await work
        _RUNNING.add((self._where, run_id))
        try:
            return await self._run(run_id, work, summarize, unrecorded, stopped_early)
        finally:
            _RUNNING.discard((self._where, run_id))

    async def _run(
        self,
        run_id: int,
        work: Awaitable[Result],
        summarize: Callable[[Result], Mapping[str, Any]] | None,
        unrecorded: Callable[[str], None] | None,
        stopped_early: Callable[[Result], bool] | None,
    ) -> Result:
        try:
            result = await work
        except AnalyzerError as exc:
            await self._end(run_id, exit_code=exc.exit_code, error=exc.message)
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            await asyncio.shield(self._end(run_id, **_INTERRUPTED))
            raise
        except Exception as exc:  # a bug: recorded as failed, then its traceback goes on
            await self._end(run_id, exit_code=1, error=f"unexpected {type(exc).__name__}")
            raise
        summary = summarize(result) if summarize else None
        outcome: dict[str, Any] = {"exit_code": 0}
        if stopped_early is not None and stopped_early(result):
            outcome = dict(_INTERRUPTED)
        kept = await asyncio.shield(self._end(run_id, summary=summary, **outcome))
        if kept is not None and unrecorded is not None:  # the work is done; its end is not
            unrecorded(f"its end could not be written ({kept})")
        return result

    async def _end(self, run_id: int, **outcome: Any) -> str | None:
        """Record how a run ended; None, or why that cannot be written now.

        A record that cannot be written never hides the work's own outcome. When the
        database is unreachable, busy or full, the end is kept: ``recent`` shows it, and
        it is written as soon as the database takes writes again (retried with backoff
        while this process lives), so the run never stays ``running``."""
        outcome = {"ended_at": utcnow(), **outcome}
        try:
            await self.finish(run_id, **outcome)
        except _WORTH_RETRYING as exc:
            self._unfinished[run_id] = outcome
            self._retry_later()
            return _unwritable_because(exc)
        except Exception:  # noqa: BLE001 - never written; recent() shows it as abandoned
            if outcome["exit_code"] == 0:
                raise  # a bug in what the work reported keeps its traceback
            return "unexpected error"
        return None

    def _retry_later(self) -> None:
        """Write the kept ends in the background, with growing pauses, until all are in."""
        if self._retrying is not None and not self._retrying.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._retrying = loop.create_task(self._retry_unfinished())

    async def _retry_unfinished(self) -> None:
        pause = _FIRST_RETRY_S
        while self._unfinished:
            await asyncio.sleep(pause)
            await self._write_unfinished()
            pause = min(pause * 2, _LAST_RETRY_S)

    async def _write_unfinished(self) -> None:
        """Write the kept ends, oldest first, until the database refuses again."""
        for run_id, outcome in sorted(self._unfinished.items()):
            try:
                await self.finish(run_id, **outcome)
            except _WORTH_RETRYING:
                return
            except Exception:  # noqa: BLE001, S110 - the row is gone: nothing to finish
                pass
            self._unfinished.pop(run_id, None)

    async def close(self) -> None:
        """Stop retrying: a run whose end is still unwritten then shows as abandoned once
        this process is gone."""
        if self._retrying is not None:
            self._retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retrying
            self._retrying = None

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

    async def start(self, command: str, arguments: Mapping[str, Any]) -> int:
        if self._unfinished:  # the database takes writes again: earlier ends go first
            await self._write_unfinished()
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
        ended_at: dt.datetime | None = None,
    ) -> None:
        await self._crud.update(
            CommandRun,
            run_id,
            {
                "ended_at": ended_at or utcnow(),
                "status": status or ("ok" if exit_code == 0 else "failed"),
                "exit_code": exit_code,
                "summary": _jsonable(summary) if summary is not None else None,
                "error": error,
            },
        )

    async def recent(self, limit: int = 5) -> list[RunSummary]:
        runs = await self._crud.list(CommandRun, order_by="-id", limit=limit)
        return [self._summary(r) for r in runs]

    def _summary(self, run: CommandRun) -> RunSummary:
        """A run as it stands: with the end this process keeps for it, if it could not be
        written yet."""
        kept = self._unfinished.get(run.id, {}) if run.status == "running" else {}
        ended_at = kept.get("ended_at", run.ended_at)
        return RunSummary(
            id=run.id,
            command=run.command,
            status=_status_of(kept) if kept else self._status(run),
            exit_code=kept.get("exit_code", run.exit_code),
            started_at=run.started_at.isoformat(),
            ended_at=ended_at.isoformat() if ended_at else None,
            error=kept.get("error", run.error),
        )

    def _status(self, run: CommandRun) -> str:
        """A run still marked running whose process is gone (kill -9, a crash) is abandoned;
        so is one of this process that it no longer runs (its end was lost, or an earlier
        process had this pid)."""
        if run.status != "running" or run.pid is None or run.host != _HOST:
            return run.status
        if run.pid == os.getpid():
            return run.status if (self._where, run.id) in _RUNNING else "abandoned"
        return run.status if _alive(run.pid) else "abandoned"


_HOST = socket.gethostname()
_INTERRUPTED: Mapping[str, Any] = {
    "exit_code": 130,
    "error": "interrupted",
    "status": "interrupted",
}
# Why the end of a run could not be written that may pass: retried while the process lives.
_WORTH_RETRYING = (DatabaseUnavailableError, DatabaseBusyError)
_FIRST_RETRY_S = 0.5
_LAST_RETRY_S = 30.0
# The runs that RunServices of this process are running now, by framework.db and run id.
_RUNNING: set[tuple[str, int]] = set()


def _status_of(outcome: Mapping[str, Any]) -> str:
    return str(outcome.get("status") or ("ok" if outcome["exit_code"] == 0 else "failed"))


def _unwritable_because(exc: AnalyzerError) -> str:
    """Why a write to framework.db failed: for a full or read-only disk in the words used
    when it was opened only to read (the error's own message tells the user to retry)."""
    if isinstance(exc, DiskFullError):
        return "the disk is full"
    return "it is read-only" if isinstance(exc, ReadOnlyError) else exc.message


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
