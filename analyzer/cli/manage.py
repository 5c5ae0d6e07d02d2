"""``analyzer collections | documents | remove``: what the index holds, and taking it out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from analyzer import ui
from analyzer.cli.examples import examples
from analyzer.cli.params import (
    CsvOption,
    JsonOption,
    NlOption,
    TsvOption,
    collection_name,
    name_text,
    output_form,
)
from analyzer.cli.runner import reported_errors, run_command
from analyzer.errors import UsageError
from analyzer.views import collection_json, collections_json, documents_json, removed_json
from modules.semantic_core.module import semantic_core

if TYPE_CHECKING:
    from analyzer.app_context import AppContext
    from modules.semantic_core.catalog import CollectionSummary, DocumentSummary
    from modules.semantic_core.documents import DocumentRef

CollectionOption = Annotated[
    str, typer.Option("--collection", "-c", help="The collection.", callback=collection_name)
]

collections_app = typer.Typer(
    help="List collections (documents, chunks, model, last ingest); drop one.",
    invoke_without_command=True,
)


@collections_app.callback()
def collections(
    ctx: typer.Context,
    json_output: JsonOption = False,
    csv: CsvOption = False,
    tsv: TsvOption = False,
    nl: NlOption = False,
) -> None:
    """List collections: documents, chunks, model and last ingest of each."""
    if ctx.invoked_subcommand is not None:
        return
    form = output_form(json_output, csv, tsv, nl)

    async def work(app: AppContext) -> list[CollectionSummary]:
        return await semantic_core(app).catalog.collections()

    found = run_command(ctx, "collections", {}, work, lambda r: {"collections": len(r)})
    ui.output(form, collections_json(found), "collections", lambda: _render_collections(found))


def _render_collections(found: list[CollectionSummary]) -> None:
    rows = [(c.name, c.documents, c.chunks, c.model, _when(c.last_ingest)) for c in found]
    ui.print_table("Collections", ["name", "documents", "chunks", "model", "last ingest"], rows)


@collections_app.command("drop", epilog=examples("collections drop"))
def drop(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="The collection to drop.",
            callback=lambda value: name_text(value, "'NAME'"),
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Drop without asking.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Drop a collection with all its documents; asks first on a terminal, needs --yes
    otherwise."""
    if not yes:
        with reported_errors():
            _confirm_drop(name)

    async def work(app: AppContext) -> CollectionSummary:
        return await semantic_core(app).catalog.drop(name)

    dropped = run_command(ctx, "collections drop", {"name": name}, work, collection_json)
    if json_output:
        ui.print_json({"dropped": collection_json(dropped)})
        return
    ui.print_line(
        f"Dropped collection {dropped.name!r}: {dropped.documents} documents, "
        f"{dropped.chunks} chunks."
    )


def _confirm_drop(name: str) -> None:
    if not ui.is_terminal():
        raise UsageError(
            f"dropping collection {name!r} deletes all its documents; "
            "add --yes to confirm (nothing asks when the input is not a terminal)"
        )
    if not typer.confirm(f"Drop collection {name!r} and all its documents?"):
        raise UsageError(f"collection {name!r} was not dropped")


def documents(
    ctx: typer.Context,
    collection: CollectionOption = "default",
    path: Annotated[
        str | None,
        typer.Option("--path", "-p", metavar="GLOB", help="Only paths matching GLOB."),
    ] = None,
    json_output: JsonOption = False,
    csv: CsvOption = False,
    tsv: TsvOption = False,
    nl: NlOption = False,
) -> None:
    """List the documents of a collection: path, title, format, chunks, when ingested."""
    form = output_form(json_output, csv, tsv, nl)

    async def work(app: AppContext) -> list[DocumentSummary]:
        return await semantic_core(app).catalog.documents(collection, path)

    arguments = {"collection": collection, "path": path}
    found = run_command(ctx, "documents", arguments, work, lambda r: {"documents": len(r)})
    data = documents_json(collection, found)
    ui.output(form, data, "documents", lambda: _render_documents(collection, found))


def _render_documents(collection: str, found: list[DocumentSummary]) -> None:
    rows = [
        (ui.display_path(d.ref.path), d.ref.title, d.format, d.chunks, _when(d.ingested))
        for d in found
    ]
    title = f"Documents in {collection!r}"
    ui.print_table(title, ["document", "title", "format", "chunks", "ingested"], rows)


def remove(
    ctx: typer.Context,
    references: Annotated[
        list[str],
        typer.Argument(
            metavar="DOC...",
            help="Documents: a path (as ingested, or relative to here), a uid, or the end of "
            "a path.",
            show_default=False,
        ),
    ],
    collection: CollectionOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Remove documents from a collection (the files stay where they are)."""

    async def work(app: AppContext) -> list[DocumentRef]:
        return await semantic_core(app).catalog.remove(collection, references)

    arguments = {"documents": references, "collection": collection}
    removed = run_command(ctx, "remove", arguments, work, lambda r: {"removed": len(r)})
    if json_output:
        ui.print_json(removed_json(collection, removed))
        return
    for ref in removed:
        ui.print_line(f"removed {ui.display_path(ref.path)}")


def _when(moment: object) -> str:
    return "-" if moment is None else str(moment)[:19]
