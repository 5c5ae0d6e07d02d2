"""Running command lines in a context that is already up: the server's, or the MCP tools'.

A command line runs through the CLI's own Typer commands in a worker thread, with
a given working directory and terminal (``analyzer.paths``, ``analyzer.ui``); the
work each command hands to ``run_command`` runs on the event loop that owns the
AppContext, with the same context variables.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import traceback
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import typer

from analyzer import paths, ui
from analyzer.app_context import AppContext

T = TypeVar("T")
log = logging.getLogger("analyzer.server")


@dataclass(eq=False)
class Invocation:
    """One command line being run: the tasks it started on the loop, to cancel on hang-up.

    Cancelled before its work reached the loop (queued for a thread, still parsing), it
    starts none: its first task is cancelled as it is created.
    """

    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    cancelled: bool = False

    def cancel(self) -> None:
        """Call on the loop."""
        self.cancelled = True
        for task in self.tasks:
            task.cancel()


_CURRENT: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar(
    "analyzer_invocation", default=None
)


@dataclass(frozen=True)
class Outcome:
    code: int = 0
    declined: str | None = None  # the command was left to the client (a usage error)


class LoopContext:
    """A running AppContext and its loop, as the CLI's ``ResidentContext``."""

    def __init__(self, app: AppContext, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop with the caller's context; wait for it."""
        context = contextvars.copy_context()
        invocation = _CURRENT.get()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def start() -> None:
            task = self.loop.create_task(coroutine, context=context)
            if invocation is not None:
                invocation.tasks.add(task)
                if invocation.cancelled:
                    task.cancel()
            task.add_done_callback(lambda finished: _copy_outcome(finished, done))

        self.loop.call_soon_threadsafe(start)
        return done.result()


def _copy_outcome(task: asyncio.Task[T], done: concurrent.futures.Future[T]) -> None:
    if task.cancelled():
        done.cancel()
    elif task.exception() is not None:
        done.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        done.set_result(task.result())


class CommandRunner:
    """Runs command lines of ``command`` (the CLI's root) in ``context``."""

    def __init__(self, command: Any, context: LoopContext) -> None:
        self._command = command
        self._context = context

    def invoke(
        self, argv: list[str], cwd: str, terminal: ui.Terminal, invocation: Invocation
    ) -> Outcome:
        """Run one command line (call it from a worker thread, never from the loop)."""
        if invocation.cancelled:  # its client went away while it waited for a thread
            return Outcome(130)
        return contextvars.copy_context().run(self._invoke, argv, cwd, terminal, invocation)

    def _invoke(
        self, argv: list[str], cwd: str, terminal: ui.Terminal, invocation: Invocation
    ) -> Outcome:
        from analyzer.cli.runner import CliState

        _CURRENT.set(invocation)
        out, err = terminal.stdout, terminal.stderr
        try:
            with ui.terminal_of(terminal), paths.working_dir_of(cwd):
                state = CliState(resident=self._context)
                code = self._command.main(
                    args=argv, prog_name="analyzer", standalone_mode=False, obj=state
                )
            return Outcome(code if isinstance(code, int) else 0)
        except typer.Abort:
            err.write("Aborted!\n")
            return Outcome(1)
        except typer.TyperException as exc:  # a usage error: bad option, missing argument
            if not (getattr(out, "written", True) or getattr(err, "written", True)):
                return Outcome(declined="usage: the local parser reports it")
            exc.show(file=err)  # type: ignore[attr-defined]
            return Outcome(getattr(exc, "exit_code", 2))
        except SystemExit as exc:
            return Outcome(exc.code if isinstance(exc.code, int) else 1)
        except (KeyboardInterrupt, asyncio.CancelledError, concurrent.futures.CancelledError):
            return Outcome(130)
        except Exception:
            log.exception("command %s failed", argv)
            err.write(traceback.format_exc())
            return Outcome(1)
        finally:
            out.flush()
            err.flush()
