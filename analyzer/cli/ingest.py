"""``analyzer ingest``: documents into a collection."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from analyzer import ui
from analyzer.cli.params import collection_name, existing, model_spec
from analyzer.cli.runner import CliState, run_command
from analyzer.views import ingest_hints, ingest_json
from modules.semantic_core.ingest.extract.base import DEFAULT_FILE_SECONDS
from modules.semantic_core.module import semantic_core

if TYPE_CHECKING:
    from analyzer.app_context import AppContext
    from modules.semantic_core.ingest.report import IngestProgress, IngestReport

INTERRUPTED_EXIT_CODE = 130  # as a shell reports a command ended by Ctrl-C


def _size(value: str) -> int:
    from modules.semantic_core.ingest.files import parse_size

    try:
        return parse_size(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    except OverflowError:  # 1e999KB: a float past any size
        raise typer.BadParameter(
            f"{value!r} is past any file size; use e.g. 500KB, 20MB, 1GB",
            param_hint="'--max-file-size'",
        ) from None


def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (walked recursively).")],
    collection: Annotated[
        str,
        typer.Option(
            "--collection", "-c", help="Collection to ingest into.", callback=collection_name
        ),
    ] = "default",
    include: Annotated[
        list[str] | None, typer.Option(help="Only files matching this glob (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Skip files matching this glob (repeatable).")
    ] = None,
    max_file_size: Annotated[
        str, typer.Option(help="Skip files larger than this (e.g. 500KB, 20MB).")
    ] = "50MB",
    prune: Annotated[
        bool, typer.Option(help="Remove documents whose files vanished from these paths.")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="Re-process every file; re-embed if the model changed.")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            help="Embedding model: static-minilm (default), minilm-l6-int8, a dir.",
            callback=model_spec,
        ),
    ] = None,
    follow_symlinks: Annotated[
        bool,
        typer.Option(help="Also follow symlinks that lead outside the paths given."),
    ] = False,
    trigram: Annotated[
        bool,
        typer.Option(help="Also build a trigram index, so Chinese, Japanese and Korean match."),
    ] = False,
    file_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            metavar="SECONDS",
            help="Give up on a file whose reading, extraction and chunking take longer "
            "(reported as failed); 0 for no limit.",
        ),
    ] = DEFAULT_FILE_SECONDS,
    json_output: Annotated[
        bool, typer.Option("--json", "-j", help="Print one JSON document.")
    ] = False,
) -> None:
    """Extract, chunk and embed documents into a collection; unchanged files are skipped."""
    from modules.semantic_core.ingest.service import IngestOptions

    for path in paths:
        existing(path, "'PATHS...'")
    options = IngestOptions(
        collection=collection,
        include=tuple(include or ()),
        exclude=tuple(exclude or ()),
        max_file_size=_size(max_file_size),
        prune=prune,
        force=force,
        model=model,
        trigram=trigram,
        follow_symlinks=follow_symlinks,
        file_seconds=file_timeout or None,
        debug=ctx.ensure_object(CliState).debugging(),
    )
    show_progress = ui.is_terminal() and not json_output

    async def work(app: AppContext) -> IngestReport:
        service = semantic_core(app).ingest
        with ui.progress_bar("Ingesting") if show_progress else nullcontext() as bar:
            return await service.ingest_paths(paths, options, _progress_callback(bar))

    arguments = {"paths": [str(p) for p in paths], "collection": collection, "force": force}
    report = run_command(
        ctx, "ingest", arguments, work, lambda r: r.summary(), lambda r: r.interrupted
    )
    if json_output:
        ui.print_json(ingest_json(report))
    else:
        _render(report)
    if report.interrupted:
        raise typer.Exit(INTERRUPTED_EXIT_CODE)


def _progress_callback(bar: Any) -> Any:
    if bar is None:
        return None

    def update(event: IngestProgress) -> None:
        name = ui.display_path(event.current) if event.current else ""
        chunks = f"{event.chunks_done:,} chunks"
        bar.update(event.files_done, event.files_total, chunks, event.phase, name)

    return update


def _render(report: IngestReport) -> None:
    data = report.summary()
    rows = [(key, data[key]) for key in ("new", "updated", "unchanged", "skipped", "failed")]
    if report.pruned:
        rows.append(("pruned", report.pruned))
    if report.reembedded:
        rows.append(("chunks re-embedded", report.reembedded))
    rows.append(("chunks written", report.chunks))
    if report.vanished:
        rows.append(("vanished", report.vanished))
    title = f"Ingested into {report.collection!r} in {report.seconds:.1f} s"
    if report.interrupted:
        title = f"Interrupted: ingested into {report.collection!r} in {report.seconds:.1f} s"
    ui.print_table(title, ["documents", "count"], rows)
    if report.problems:
        problems = [(p.status, ui.display_path(p.path), p.reason) for p in report.problems]
        ui.print_table("Skipped and failed", ["status", "path", "reason"], problems)
    for hint in ingest_hints(report):
        ui.note(hint)
