"""Checks of command-line values that Typer cannot make itself.

Paths are checked against the working directory of the person who typed them
(``analyzer.paths``), which in a resident server is not the process's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import typer

from analyzer.errors import AnalyzerError
from analyzer.paths import UNDECODED_BYTE, absolute, shown, unreadable

Kind = Literal["path", "file", "directory"]

# Bounds of the integer options: far above any real use, far below what a database column
# or a C long holds (2**63 overflowed them). The HTTP API bounds top_k the same way.
MAX_TOP_K = 1000
MAX_LINE = 2**31 - 1  # the last line a document can have (ALL_LINES of analysis.lines)
MAX_PAGE = 2**31 - 1


def name_text(value: str | None, param_hint: str) -> str | None:
    """A name stored as text (a collection's), refused when it holds bytes that are not
    UTF-8: a database stores text, and a name is no file whose bytes must be kept."""
    if value is not None and UNDECODED_BYTE.search(value):
        raise typer.BadParameter(
            f"'{shown(value)}' is not UTF-8 text; type the name in UTF-8", param_hint=param_hint
        )
    return value


def collection_name(value: str | None) -> str | None:
    """The callback of every --collection option (see ``name_text``)."""
    return name_text(value, "'--collection' / '-c'")


@contextmanager
def utf8_text(source: str) -> Iterator[None]:
    """Text read inside that is not UTF-8 becomes one line naming ``source`` (exit 1)."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise AnalyzerError(
            f"{source} is not UTF-8 text ({exc.reason}); save it as UTF-8"
        ) from None


def existing(path: Path, param_hint: str, kind: Kind = "path") -> Path:
    """``path`` as given, after checking that it exists and is of the right kind."""
    full = absolute(path)
    reason = unreadable(full)
    if reason is not None:
        raise typer.BadParameter(
            f"{kind.title()} {briefly(str(path))} cannot be read: {reason}.", param_hint=param_hint
        )
    if not full.exists():
        raise typer.BadParameter(
            f"{kind.title()} {str(path)!r} does not exist.", param_hint=param_hint
        )
    if kind == "file" and full.is_dir():
        raise typer.BadParameter(f"File {str(path)!r} is a directory.", param_hint=param_hint)
    if kind == "directory" and not full.is_dir():
        raise typer.BadParameter(f"Directory {str(path)!r} is a file.", param_hint=param_hint)
    return path


def briefly(text: str, limit: int = 80) -> str:
    """``text`` quoted for a one-line message: bytes that are not UTF-8 as ``\\xNN``, and
    cut short past ``limit`` characters, with its length."""
    shown_text = shown(text)
    if len(shown_text) <= limit:
        return f"'{shown_text}'"
    return f"'{shown_text[:limit]}...' ({len(text)} characters)"


def model_spec(value: str | None) -> str | None:
    """The callback of --model: a name the file system cannot look up is refused here, as
    the model's directory, if it is one, could not be read."""
    if value is not None:
        reason = unreadable(absolute(value))
        if reason is not None:
            raise typer.BadParameter(f"{briefly(value)} cannot be read: {reason}")
    return value


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
