"""``analyzer query``: search a collection, one query or a batch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from analyzer import ui
from analyzer.cli.params import (
    MAX_TOP_K,
    CsvOption,
    JsonOption,
    NlOption,
    TsvOption,
    collection_name,
    existing,
    output_form,
    utf8_text,
)
from analyzer.cli.runner import reported_errors, run_command
from analyzer.paths import absolute, display_path, location
from analyzer.views import batch_line_json, search_json
from modules.semantic_core.module import semantic_core
from modules.semantic_core.search.modes import Mode

if TYPE_CHECKING:
    from analyzer.app_context import AppContext
    from modules.semantic_core.search.service import SearchResult

MODE_HELP = "hybrid: keyword candidates re-ranked by a transformer; semantic; keyword."
MIN_SCORE_HELP = (
    "Drop results whose shown score is below this. The score: hybrid, the re-ranker's cosine "
    "(results past the 40 it re-reads score 0); semantic, the static vectors' cosine; "
    "keyword, BM25; each lowered to the score above it, so scores never rise down the list."
)


def query(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Argument(help="What to search for.")] = None,
    collection: Annotated[
        str,
        typer.Option("--collection", "-c", help="Collection to search.", callback=collection_name),
    ] = "default",
    top_k: Annotated[
        int, typer.Option("--top-k", "-k", min=1, max=MAX_TOP_K, help="How many results.")
    ] = 10,
    mode: Annotated[Mode, typer.Option("--mode", "-m", help=MODE_HELP)] = Mode.HYBRID,
    path: Annotated[
        str | None,
        typer.Option("--path", "-p", help="Only documents whose path matches this glob."),
    ] = None,
    min_score: Annotated[float | None, typer.Option("--min-score", help=MIN_SCORE_HELP)] = None,
    chunks: Annotated[
        bool, typer.Option("--chunks", help="List matching chunks, not documents.")
    ] = False,
    all_copies: Annotated[
        bool,
        typer.Option(
            "--all-copies",
            help="Show every copy of a document stored under several paths (the same file, "
            "or the same page in another format); by default it shows once, naming the others.",
        ),
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show each signal's rank and score.")
    ] = False,
    batch: Annotated[
        Path | None,
        typer.Option(
            "--batch",
            help="Read queries from a BEIR queries.jsonl or a file with one per line "
            "(- for standard input); write JSON Lines.",
        ),
    ] = None,
    json_output: JsonOption = False,
    csv: CsvOption = False,
    tsv: TsvOption = False,
    nl: NlOption = False,
) -> None:
    """Search a collection: hybrid semantic and keyword retrieval, results as path:line."""
    from modules.semantic_core.search.service import SearchOptions

    if (text is None) == (batch is None):
        raise typer.BadParameter("give a query TEXT or --batch FILE (one of them)")
    form = output_form(json_output, csv, tsv, nl)
    if batch is not None and form not in (None, "nl"):
        raise typer.BadParameter("--batch writes JSON Lines; drop --" + str(form))
    options = SearchOptions(
        collection=collection,
        top_k=top_k,
        mode=mode.value,
        path_glob=path,
        min_score=min_score,
        chunks=chunks,
        all_copies=all_copies,
    )
    if batch is not None:
        _run_batch(
            ctx, batch if str(batch) == "-" else existing(batch, "'--batch'", "file"), options
        )
        return

    async def work(app: AppContext) -> SearchResult:
        return await semantic_core(app).search.search(text or "", options)

    arguments = {"query": text, "collection": collection, "mode": mode.value, "top_k": top_k}
    result = run_command(ctx, "query", arguments, work, lambda r: {"hits": len(r.hits)})
    ui.output(form, search_json(result), "results", lambda: _render(result, explain))


def _run_batch(ctx: typer.Context, batch: Path, options: Any) -> None:
    queries = _batch_queries(batch)

    def emit(query_id: str, result: SearchResult) -> None:
        ui.print_json_line(batch_line_json(query_id, result))

    async def work(app: AppContext) -> int:
        await semantic_core(app).search.search_many(queries, options, on_result=emit)
        return len(queries)

    arguments = {"batch": str(batch), "collection": options.collection, "mode": options.mode}
    run_command(ctx, "query", arguments, work, lambda n: {"queries": n})


def _batch_queries(batch: Path) -> list[tuple[str, str]]:
    """The queries of ``--batch``: a file's, or standard input's for ``-``."""
    from modules.semantic_core.search.evaluation import load_queries, read_queries

    if str(batch) != "-":
        with reported_errors(), utf8_text(display_path(str(absolute(batch)))):
            return list(load_queries(absolute(batch)))
    if not ui.terminal().local:
        raise typer.BadParameter(
            "a server has no standard input to read; run with --no-server", param_hint="'--batch'"
        )
    with reported_errors(), utf8_text("standard input"):
        return list(read_queries(sys.stdin, "<stdin>"))


def _render(result: SearchResult, explain: bool) -> None:
    if not result.hits:
        ui.print_line(f"No results for {result.query!r} in {result.collection!r}.")
        return
    for hit in result.hits:
        where = location(hit.document.path, hit.line, hit.page)
        ui.print_hit(hit.rank, hit.score, where, hit.heading, hit.snippet, hit.highlights)
        if hit.copies:
            ui.print_line("    also: " + ", ".join(display_path(c.path) for c in hit.copies))
        if explain:
            details = "  ".join(
                f"{name} #{s.rank} ({s.score:.4f})" for name, s in sorted(hit.signals.items())
            )
            ui.print_line(f"    {details}")
