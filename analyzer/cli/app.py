"""The root of the CLI: global options and the command table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from analyzer import __version__
from analyzer.cli import analysis, db, evaluate, ingest, manage, query, serve
from analyzer.cli.examples import examples
from analyzer.cli.runner import CliState
from analyzer.client.command_line import HELP_OPTIONS, hoisted
from analyzer.paths import NO_BYTE_SURROGATE

# What no command line of a shell can carry: NUL, and surrogates that stand for no byte.
# Only a request sent to a server (the socket, MCP) can hold them; nothing below the root
# is asked to cope.


class _Root(TyperGroup):
    """The root command: global options are read before or after the command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # ctx: the Context of the click that Typer bundles, which it does not export.
        for position, token in enumerate(args, start=1):
            if "\0" in token or NO_BYTE_SURROGATE.search(token):
                what = "a NUL" if "\0" in token else "a surrogate that is no byte"
                raise typer.BadParameter(
                    f"{token[:60]!r} holds {what}, which no command line can carry; "
                    "pass text or a file name",
                    ctx=ctx,
                    param_hint=f"argument {position}",
                )
        return super().parse_args(ctx, hoisted(args))


app = typer.Typer(
    name="analyzer",
    cls=_Root,
    help="Semantic document analyzer: ingest a folder of documents, then search and analyse it.",
    epilog=examples("analyzer"),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": list(HELP_OPTIONS)},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"analyzer {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        str | None,
        typer.Option(
            "--data-dir",
            help="Where the databases live, given before or after the command "
            "(env ANALYZER_DATA_DIR; default: the user data dir).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Let an unexpected error end the command with its traceback "
            "(env ANALYZER_DEBUG=1).",
        ),
    ] = False,
    no_server: Annotated[
        bool,
        typer.Option(
            "--no-server",
            help="Run here even when analyzer serve is running (env ANALYZER_SERVER=off).",
        ),
    ] = False,
) -> None:
    state = ctx.ensure_object(CliState)
    if data_dir is not None:
        state.data_dir = _data_dir(data_dir)
    state.debug = state.debug or debug


def _data_dir(given: str) -> Path:
    """--data-dir's directory; an empty one is refused, as the working directory it would
    silently become is never what was meant (ANALYZER_DATA_DIR="" means unset instead)."""
    if not given:
        raise typer.BadParameter(
            "'' names no directory; give one, or leave the option out for the default",
            param_hint="'--data-dir'",
        )
    return Path(given)


COMMANDS: list[tuple[str, Callable[..., None]]] = [
    ("db-status", db.db_status),
    ("ingest", ingest.ingest),
    ("query", query.query),
    ("eval", evaluate.evaluate),
    ("similar", analysis.similar),
    ("duplicates", analysis.duplicates),
    ("keywords", analysis.keywords),
    ("topics", analysis.topics),
    ("show", analysis.show),
    ("documents", manage.documents),
    ("remove", manage.remove),
    ("serve", serve.serve),
    ("mcp", serve.mcp),
]
for name, command in COMMANDS:
    app.command(name, epilog=examples(name))(command)
app.add_typer(manage.collections_app, name="collections", epilog=examples("collections"))


def main() -> None:
    # One name however it was started (the script, python -m analyzer, a server): the same
    # usage lines, and the same completion variable, _ANALYZER_COMPLETE.
    app(prog_name="analyzer")
