"""The one place that imports rich. Imports happen inside functions so --help stays fast.

Output goes to the current ``Terminal``: this process's own streams, or, when a
resident server runs a command for a client, the client's streams as it described
them (whether each is a TTY, its size, the environment that decides colours). Rich
is given exactly what it would have measured in the client's own process, so the
bytes are the same either way.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from analyzer.paths import display_path as display_path  # re-exported for the commands

if TYPE_CHECKING:
    from rich.console import Console

_DUMB_TERMINALS = ("dumb", "unknown")


@dataclass(frozen=True)
class Terminal:
    """Where a command's output goes.

    ``local``: this process's terminal, which rich measures itself. Otherwise
    ``measured`` is the size of the first of the client's stdin, stdout and stderr
    that is a TTY (None if none is), and ``environ`` the client's variables.
    """

    stdout: IO[str]
    stderr: IO[str]
    environ: Mapping[str, str] = field(default_factory=dict)
    local: bool = True
    measured: tuple[int, int] | None = None


_TERMINAL: ContextVar[Terminal | None] = ContextVar("analyzer_terminal", default=None)


def terminal() -> Terminal:
    found = _TERMINAL.get()
    return found if found is not None else Terminal(sys.stdout, sys.stderr, os.environ)


def current_request_terminal() -> Terminal | None:
    """The terminal set by ``terminal_of`` in this context, if any."""
    return _TERMINAL.get()


@contextmanager
def terminal_of(target: Terminal) -> Iterator[None]:
    """Output goes to ``target`` inside this block (this context only)."""
    token = _TERMINAL.set(target)
    try:
        yield
    finally:
        _TERMINAL.reset(token)


def _console(stderr: bool = False, **options: Any) -> Console:
    from rich.console import Console

    where = terminal()
    console = Console(
        file=where.stderr if stderr else where.stdout, _environ=where.environ, **options
    )
    if not where.local:
        console.size = _size_as_rich_measures(where, console.is_terminal)
    return console


def _size_as_rich_measures(where: Terminal, is_terminal: bool) -> tuple[int, int]:
    """What rich's Console.size gives in the client's own process."""
    environ = where.environ
    if is_terminal and environ.get("TERM", "").lower() in _DUMB_TERMINALS:
        return 80, 25
    width, height = where.measured or (None, None)
    columns, lines = environ.get("COLUMNS"), environ.get("LINES")
    if columns is not None and columns.isdigit():
        width = int(columns)
    if lines is not None and lines.isdigit():
        height = int(lines)
    return width or 80, height or 25


def is_terminal() -> bool:
    return terminal().stdout.isatty()


def error(message: str) -> None:
    """One line on stderr; red on a terminal."""
    stderr = terminal().stderr
    if stderr.isatty():
        _console(stderr=True, highlight=False).print(f"[red]error:[/red] {message}", markup=True)
    else:
        stderr.write(f"error: {message}\n")


def note(message: str) -> None:
    """One line on stderr about something the person may want to know; not an error."""
    terminal().stderr.write(f"note: {message}\n")


def print_json(data: Any) -> None:
    terminal().stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_json_line(data: Any) -> None:
    terminal().stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table on a terminal; elsewhere plain lines (``plain_lines``) that never wrap."""
    if not is_terminal():
        for line in plain_lines(title, columns, rows):
            terminal().stdout.write(line + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    console = _console()
    # The title is a line of its own, never folded into the table's width.
    console.print(Text(title, style="bold italic"), soft_wrap=True)
    table = Table(header_style="bold", show_header=any(columns))
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(table)


def plain_lines(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """The title, the header, then one line a row, cells separated by tabs and never cut;
    lines inside a cell are joined with "; "."""

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return "; ".join(text.splitlines()).replace("\t", " ")

    header = ["\t".join(columns)] if any(columns) else []
    return [title, *header, *("\t".join(cell(value) for value in row) for row in rows)]


OUTPUT_FORMATS = ("json", "csv", "tsv", "nl")


def print_rows(rows: Sequence[Mapping[str, Any]], output: str) -> None:
    """Rows as ``csv`` or ``tsv`` (a header, nested keys as ``a.b``, lists as JSON) or ``nl``
    (JSON Lines: each row as it is)."""
    from analyzer.views import flat_row

    stdout = terminal().stdout
    if output == "nl":
        for row in rows:
            stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        return
    import csv

    flat = [flat_row(row) for row in rows]
    names = list(dict.fromkeys(key for row in flat for key in row))
    delimiter = "\t" if output == "tsv" else ","
    writer = csv.DictWriter(stdout, names, restval="", delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)


def output(
    form: str | None, data: Mapping[str, Any], rows: str, render: Callable[[], None]
) -> None:
    """What a listing command prints: ``data`` (its --json), the rows ``data[rows]`` as
    csv, tsv or nl, or, with no ``form``, what ``render`` prints."""
    if form == "json":
        print_json(data)
    elif form is not None:
        print_rows(data[rows], form)
    else:
        render()


class _ProgressBar:
    """Files done of all, chunks written, time elapsed, and what is being done now (the
    file being read, shortened to fit). A spinner and the elapsed time refresh on their
    own, so a long file shows as work going on; no ETA, which one long file makes wrong."""

    def __init__(self, description: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.table import Column

        # No redirection of sys.stdout and sys.stderr: in a server they are shared by
        # every request, and nothing else prints while the bar runs.
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=_BAR_WIDTH),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TextColumn(
                "{task.fields[doing]}",
                table_column=Column(no_wrap=True, overflow="ellipsis"),
            ),
            console=_console(),
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._progress.add_task(description, total=None, detail="", doing="")
        self._room = self._progress.console.width - _FIXED_COLUMNS - len(description)

    def __enter__(self) -> _ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(
        self, done: int, total: int, detail: str = "", phase: str = "", name: str = ""
    ) -> None:
        """``phase``: what is being done (reading); ``name``: to what, shortened to fit."""
        doing = phase
        if name:
            doing += " " + shorten(name, self._room - len(detail) - len(phase) - 1)
        self._progress.update(self._task, completed=done, total=total, detail=detail, doing=doing)


_BAR_WIDTH = 20
# Spinner, bar, "12345/12345", elapsed and the spaces between columns.
_FIXED_COLUMNS = 2 + _BAR_WIDTH + 11 + 7 + 6


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters (at least 12): its end is kept, as a
    path's end names the file."""
    width = max(width, 12)
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def progress_bar(description: str) -> _ProgressBar:
    """A transient progress bar (files, chunks, elapsed, current file); only for terminals."""
    return _ProgressBar(description)


def print_hit(
    rank: int,
    score: float,
    location: str,
    heading: str,
    snippet: str,
    highlights: Sequence[tuple[int, int]],
) -> None:
    """One search result: rank, score, path:line, heading, snippet with terms in bold."""
    if not is_terminal():
        terminal().stdout.write(f"{rank:>2}. {score:.4f}  {location}  {heading}\n    {snippet}\n")
        return
    from rich.text import Text

    line = Text(f"{rank:>2}. ")
    line.append(location, style="bold cyan")
    line.append(f"  {score:.4f}", style="dim")
    if heading:
        line.append(f"  {heading}", style="italic")
    body = Text("    " + snippet)
    for start, end in highlights:
        body.stylize("bold yellow", start + 4, end + 4)
    console = _console()
    console.print(line)
    console.print(body)


def print_line(text: str = "") -> None:
    terminal().stdout.write(text + "\n")


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
