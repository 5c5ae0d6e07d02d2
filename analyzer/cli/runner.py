"""Running a command: in a context booted for it, or in a resident one; errors translated once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import typer

from analyzer import ui
from analyzer.errors import AnalyzerError
from analyzer.module_api import ServiceFactory

if TYPE_CHECKING:
    from analyzer.app_context import AppContext

Result = TypeVar("Result")


class ResidentContext(Protocol):
    """A running AppContext that outlives commands (``analyzer serve``): commands run in it."""

    app: AppContext

    def run(self, coroutine: Coroutine[Any, Any, Result]) -> Result:
        """Run ``coroutine`` in the resident context's event loop; block until it is done."""
        ...


@dataclass
class CliState:
    """Global options, kept until a command needs them (so --help boots nothing).

    ``overrides`` replaces service factories in the context a command boots, so a
    caller (a test, a benchmark) passes its own models in: ``CliRunner().invoke(app,
    args, obj=CliState(overrides=...))``. ``resident``: a context that is already
    running, in which the command runs instead of booting one.
    """

    data_dir: Path | None = None
    overrides: Mapping[str, ServiceFactory] = field(default_factory=dict)
    resident: ResidentContext | None = None
    debug: bool = False

    def debugging(self) -> bool:
        """--debug, or ANALYZER_DEBUG in the caller's environment (a client's, in a server)."""
        return self.debug or ui.terminal().environ.get("ANALYZER_DEBUG", "") not in ("", "0")


def run_command(
    ctx: typer.Context,
    command: str,
    arguments: Mapping[str, Any],
    work: Callable[[AppContext], Awaitable[Result]],
    summarize: Callable[[Result], Mapping[str, Any]] | None = None,
    stopped_early: Callable[[Result], bool] | None = None,
) -> Result:
    """Run ``work`` in a started AppContext; an AnalyzerError becomes one line and an exit code.

    ``stopped_early``: whether a result is that of work that stopped on request (Ctrl-C)
    and returned what it did; its run is recorded as interrupted.
    """
    state = ctx.ensure_object(CliState)
    recorded = _Recorded(command, arguments, work, summarize, stopped_early)
    with reported_errors():
        if state.resident is not None:
            return state.resident.run(recorded(state.resident.app))
        return asyncio.run(_booted(state, recorded))


@contextmanager
def reported_errors() -> Iterator[None]:
    """An AnalyzerError raised inside becomes one line on stderr and its exit code."""
    try:
        yield
    except AnalyzerError as exc:
        ui.error(exc.message)
        raise typer.Exit(exc.exit_code) from None


async def _booted(state: CliState, recorded: _Recorded[Result]) -> Result:
    from analyzer.app_context import AppContext
    from analyzer.settings import resolve_settings

    settings = resolve_settings(state.data_dir)
    _check_data_dir(settings.data_dir)
    async with AppContext(settings, overrides=state.overrides) as app:
        return await recorded(app)


def _check_data_dir(data_dir: Path) -> None:
    """A data directory the file system cannot even look up (a name too long) is one line,
    before the context tries to create it."""
    from analyzer.cli.params import briefly
    from analyzer.errors import DataDirError
    from analyzer.paths import unreadable

    reason = unreadable(data_dir)
    if reason is not None:
        raise DataDirError(
            f"cannot use data directory {briefly(str(data_dir))}: {reason}; "
            "choose another with --data-dir or ANALYZER_DATA_DIR"
        )


@dataclass(frozen=True)
class _Recorded(Generic[Result]):
    """A command's work, run in a context with its run recorded in framework.db."""

    command: str
    arguments: Mapping[str, Any]
    work: Callable[[AppContext], Awaitable[Result]]
    summarize: Callable[[Result], Mapping[str, Any]] | None
    stopped_early: Callable[[Result], bool] | None

    async def __call__(self, app: AppContext) -> Result:
        from modules.core.module import core

        def unrecorded(reason: str) -> None:
            ui.note(f"this run is not recorded in framework.db: {reason}")

        return await core(app).runs.record(
            self.command,
            self.arguments,
            self.work(app),
            self.summarize,
            unrecorded,
            self.stopped_early,
        )
