"""``analyzer query``: search a collection."""

from __future__ import annotations

from typing import Annotated

import typer

from analyzer.cli.runner import fail


def query(
    text: Annotated[str, typer.Argument(help="What to search for.")],
) -> None:
    """Hybrid semantic and keyword search over a collection (not implemented yet)."""
    raise fail("query is not implemented yet", exit_code=2)
