"""Running a command: boot the context, record the run, translate errors once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from analyzer import ui
from analyzer.errors import AnalyzerError
from analyzer.module_api import ServiceFactory

if TYPE_CHECKING:
    from analyzer.app_context import AppContext

Result = TypeVar("Result")


@dataclass
class CliState:
    """Global options, kept until a command needs them (so --help boots nothing).

    ``overrides`` replaces service factories in the context a command boots, so a
    caller (a test, a benchmark) passes its own models in: ``CliRunner().invoke(app,
    args, obj=CliState(overrides=...))``.
    """

    data_dir: Path | None = None
    overrides: Mapping[str, ServiceFactory] = field(default_factory=dict)


def run_command(
    ctx: typer.Context,
    command: str,
    arguments: Mapping[str, Any],
    work: Callable[[AppContext], Awaitable[Result]],
    summarize: Callable[[Result], Mapping[str, Any]] | None = None,
) -> Result:
    """Run ``work`` in a started AppContext; an AnalyzerError becomes one line and an exit code."""
    state = ctx.ensure_object(CliState)
    try:
        return asyncio.run(_run(state, command, arguments, work, summarize))
    except AnalyzerError as exc:
        ui.error(exc.message)
        raise typer.Exit(exc.exit_code) from None


async def _run(
    state: CliState,
    command: str,
    arguments: Mapping[str, Any],
    work: Callable[[AppContext], Awaitable[Result]],
    summarize: Callable[[Result], Mapping[str, Any]] | None,
) -> Result:
    from analyzer.app_context import AppContext
    from analyzer.settings import resolve_settings
    from modules.core.module import core

    settings = resolve_settings(state.data_dir)
    async with AppContext(settings, overrides=state.overrides) as app:
        runs = core(app).runs
        run_id = await runs.start(command, arguments)
        try:
            result = await work(app)
        except AnalyzerError as exc:
            await runs.finish(run_id, exit_code=exc.exit_code, error=exc.message)
            raise
        summary = summarize(result) if summarize else None
        await runs.finish(run_id, exit_code=0, summary=summary)
        return result
