"""The one place that imports rich. Imports happen inside functions so --help stays fast."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from analyzer.paths import display_path as display_path  # re-exported for the commands


def is_terminal() -> bool:
    return sys.stdout.isatty()


def error(message: str) -> None:
    """One line on stderr; red on a terminal."""
    if sys.stderr.isatty():
        from rich.console import Console

        Console(stderr=True, highlight=False).print(f"[red]error:[/red] {message}", markup=True)
    else:
        sys.stderr.write(f"error: {message}\n")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    Console().print(table)


class _ProgressBar:
    def __init__(self, description: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            transient=True,
        )
        self._task = self._progress.add_task(description, total=None, detail="", rate="")
        self._started = time.perf_counter()

    def __enter__(self) -> _ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, done: int, total: int, detail: str = "") -> None:
        elapsed = max(time.perf_counter() - self._started, 1e-6)
        rate = f"{done / elapsed:,.0f} files/s"
        self._progress.update(self._task, completed=done, total=total, detail=detail, rate=rate)


def progress_bar(description: str) -> _ProgressBar:
    """A transient progress bar (files, chunks, rate, ETA); only for terminals."""
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
        sys.stdout.write(f"{rank:>2}. {score:.4f}  {location}  {heading}\n    {snippet}\n")
        return
    from rich.console import Console
    from rich.text import Text

    line = Text(f"{rank:>2}. ")
    line.append(location, style="bold cyan")
    line.append(f"  {score:.4f}", style="dim")
    if heading:
        line.append(f"  {heading}", style="italic")
    body = Text("    " + snippet)
    for start, end in highlights:
        body.stylize("bold yellow", start + 4, end + 4)
    console = Console()
    console.print(line)
    console.print(body)


def print_line(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
