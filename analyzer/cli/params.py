"""Checks of command-line values that Typer cannot make itself.

Paths are checked against the working directory of the person who typed them
(``analyzer.paths``), which in a resident server is not the process's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
