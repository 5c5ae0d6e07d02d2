"""``analyzer ingest``: documents into a collection."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from analyzer.cli.runner import fail


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to ingest.")],
) -> None:
    """Extract, chunk and embed documents into a collection (not implemented yet)."""
    raise fail("ingest is not implemented yet", exit_code=2)
