"""Checks of command-line values that Typer cannot make itself.

Paths are checked against the working directory of the person who typed them
(``analyzer.paths``), which in a resident server is not the process's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from analyzer.paths import absolute

Kind = Literal["path", "file", "directory"]


def existing(path: Path, param_hint: str, kind: Kind = "path") -> Path:
    """``path`` as given, after checking that it exists and is of the right kind."""
    full = absolute(path)
    if not full.exists():
        raise typer.BadParameter(
            f"{kind.title()} {str(path)!r} does not exist.", param_hint=param_hint
        )
    if kind == "file" and full.is_dir():
        raise typer.BadParameter(f"File {str(path)!r} is a directory.", param_hint=param_hint)
    if kind == "directory" and not full.is_dir():
        raise typer.BadParameter(f"Directory {str(path)!r} is a file.", param_hint=param_hint)
    return path


# --- output: one of --json, --csv, --tsv, --nl ------------------------------------------------

JsonOption = Annotated[bool, typer.Option("--json", "-j", help="Print one JSON document.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print the rows as CSV, with a header.")]
TsvOption = Annotated[bool, typer.Option("--tsv", help="Print the rows as TSV, with a header.")]
NlOption = Annotated[
    bool, typer.Option("--nl", help="Print the rows as JSON Lines, one object a row.")
]


def output_form(json_output: bool, csv: bool, tsv: bool, nl: bool) -> str | None:
    """The one output form asked for (json, csv, tsv, nl), or None for the table."""
    asked = [
        form
        for form, wanted in zip(
            ("json", "csv", "tsv", "nl"), (json_output, csv, tsv, nl), strict=True
        )
        if wanted
    ]
    if len(asked) > 1:
        flags = ", ".join(f"--{form}" for form in asked)
        raise typer.BadParameter(f"{flags}: give one of them", param_hint="output")
    return asked[0] if asked else None
