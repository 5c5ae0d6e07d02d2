"""The root of the CLI: global options and the command table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from analyzer import __version__
from analyzer.cli import analysis, db, evaluate, ingest, manage, query, serve
from analyzer.cli.runner import CliState

app = typer.Typer(
    name="analyzer",
    help="Semantic document analyzer: ingest a folder of documents, then search and analyse it.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"analyzer {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where the databases live (env ANALYZER_DATA_DIR; default: the user data dir).",
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
        state.data_dir = data_dir
    state.debug = state.debug or debug


app.command("db-status")(db.db_status)
app.command("ingest")(ingest.ingest)
app.command("query")(query.query)
app.command("eval")(evaluate.evaluate)
app.command("similar")(analysis.similar)
app.command("duplicates")(analysis.duplicates)
app.command("keywords")(analysis.keywords)
app.command("topics")(analysis.topics)
app.command("show")(analysis.show)
app.add_typer(manage.collections_app, name="collections")
app.command("documents")(manage.documents)
app.command("remove")(manage.remove)
app.command("serve")(serve.serve)
app.command("mcp")(serve.mcp)


def main() -> None:
    # One name however it was started (the script, python -m analyzer, a server): the same
    # usage lines, and the same completion variable, _ANALYZER_COMPLETE.
    app(prog_name="analyzer")
