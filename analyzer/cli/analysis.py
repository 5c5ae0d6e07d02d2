"""``analyzer similar | duplicates | keywords | topics | show``: analysing a collection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from analyzer import ui
from analyzer.cli.params import (
    MAX_LINE,
    MAX_PAGE,
    MAX_TOP_K,
    CsvOption,
    JsonOption,
    NlOption,
    TsvOption,
    collection_name,
    output_form,
)
from analyzer.cli.runner import run_command
from analyzer.errors import UsageError
from analyzer.paths import location
from analyzer.views import (
    duplicates_json,
    keywords_json,
    lines_json,
    profile_json,
    similar_json,
    topics_json,
)
from modules.semantic_core.module import semantic_core

if TYPE_CHECKING:
    from analyzer.app_context import AppContext
    from modules.semantic_core.analysis.duplicates import DuplicatesReport
    from modules.semantic_core.analysis.keywords import KeywordsResult
    from modules.semantic_core.analysis.lines import DocumentLines
    from modules.semantic_core.analysis.service import DocumentProfile
    from modules.semantic_core.analysis.similar import SimilarHit, SimilarResult
    from modules.semantic_core.analysis.topics import TopicsResult
    from modules.semantic_core.documents import DocumentRef

DOC_HELP = (
    "A document: its path (as ingested, or relative to here), its uid, or the end of its path."
)
DocArgument = Annotated[str, typer.Argument(metavar="DOC", help=DOC_HELP, show_default=False)]
CollectionOption = Annotated[
    str,
    typer.Option("--collection", "-c", help="Collection to analyse.", callback=collection_name),
]


def similar(
    ctx: typer.Context,
    document: DocArgument,
    top_k: Annotated[
        int, typer.Option("--top-k", "-k", min=1, max=MAX_TOP_K, help="How many documents.")
    ] = 10,
    collection: CollectionOption = "default",
    json_output: JsonOption = False,
    csv: CsvOption = False,
    tsv: TsvOption = False,
    nl: NlOption = False,
) -> None:
    """List the documents most similar to DOC (cosine of document vectors)."""
    form = output_form(json_output, csv, tsv, nl)

    async def work(app: AppContext) -> SimilarResult:
        return await semantic_core(app).analysis.similar(document, collection, top_k)

    arguments = {"document": document, "collection": collection, "top_k": top_k}
    result = run_command(ctx, "similar", arguments, work, lambda r: {"hits": len(r.hits)})
    ui.output(form, similar_json(result), "results", lambda: _render_similar(result))


def _render_similar(result: SimilarResult) -> None:
    title = f"Similar to {ui.display_path(result.document.path)} in {result.collection!r}"
    ui.print_table(title, ["rank", "score", "document", "title"], _hit_rows(result.hits))


def duplicates(
    ctx: typer.Context,
    threshold: Annotated[
        float,
        typer.Option(
            min=0.5,
            max=1.0,
            help="Lowest score of a near-duplicate pair (cosine of word-pair sets).",
        ),
    ] = 0.9,
    collection: CollectionOption = "default",
    json_output: JsonOption = False,
    csv: CsvOption = False,
    tsv: TsvOption = False,
    nl: NlOption = False,
) -> None:
    """Find exact and near-duplicate documents; the result is stored for analyzer show."""
    form = output_form(json_output, csv, tsv, nl)

    async def work(app: AppContext) -> DuplicatesReport:
        return await semantic_core(app).analysis.duplicates(collection, threshold)

    arguments = {"collection": collection, "threshold": threshold}
    report = run_command(ctx, "duplicates", arguments, work, _duplicates_summary)
    ui.output(form, duplicates_json(report), "pairs", lambda: _render_duplicates(report))


def keywords(
    ctx: typer.Context,
    document: Annotated[
        str | None,
        typer.Argument(metavar="[DOC]", help=DOC_HELP + " Without it: the whole collection."),
    ] = None,
    top: Annotated[int, typer.Option("--top", "-k", min=1, max=30, help="How many keywords.")] = 10,
    collection: CollectionOption = "default",
    json_output: JsonOption = False,
    csv: CsvOption = False,
    tsv: TsvOption = False,
    nl: NlOption = False,
) -> None:
    """Keywords and key phrases (TF-IDF) of a document, or of the whole collection."""
    form = output_form(json_output, csv, tsv, nl)

    async def work(app: AppContext) -> KeywordsResult:
        return await semantic_core(app).analysis.keywords(document, collection, top)

    arguments = {"document": document, "collection": collection, "top": top}
    result = run_command(ctx, "keywords", arguments, work, lambda r: {"cached": r.cached})
    ui.output(form, keywords_json(result), "keywords", lambda: _render_keywords(result))


def topics(
    ctx: typer.Context,
    k: Annotated[
        str,
        typer.Option(
            "--k",
            "-k",
            metavar="N|auto",
            help=(
                "Number of topics, 2 to half the documents and 50 at most (a larger N is "
                "refused), or auto (eigengap, silhouette)."
            ),
        ),
    ] = "auto",
    collection: CollectionOption = "default",
    json_output: JsonOption = False,
    csv: CsvOption = False,
    tsv: TsvOption = False,
    nl: NlOption = False,
) -> None:
    """Group documents into topics (k-means), each labelled with its distinctive terms."""
    clusters = _parse_k(k)
    form = output_form(json_output, csv, tsv, nl)

    async def work(app: AppContext) -> TopicsResult:
        return await semantic_core(app).analysis.topics(collection, clusters)

    arguments = {"collection": collection, "k": k}
    result = run_command(ctx, "topics", arguments, work, lambda r: {"k": r.k})
    ui.output(form, topics_json(result), "topics", lambda: _render_topics(result))


def show(
    ctx: typer.Context,
    document: DocArgument,
    collection: CollectionOption = "default",
    text: Annotated[
        bool, typer.Option("--text", help="Print the document's text instead.")
    ] = False,
    lines: Annotated[
        str | None,
        typer.Option(
            "--lines",
            metavar="A-B",
            help="Print lines A to B of the text instead (the numbers of path:line).",
        ),
    ] = None,
    page: Annotated[
        int | None,
        typer.Option(
            "--page",
            min=1,
            max=MAX_PAGE,
            metavar="N",
            help="Print page N of a PDF instead (path#page=N).",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Everything about one document: metadata, statistics, keywords, summary, duplicates."""
    if lines is not None and page is not None:
        raise typer.BadParameter("give --lines or --page, not both", param_hint="--page")
    if text or lines is not None or page is not None:
        _show_text(ctx, document, collection, lines, page, json_output)
        return

    async def work(app: AppContext) -> DocumentProfile:
        return await semantic_core(app).analysis.show(document, collection)

    arguments = {"document": document, "collection": collection}
    profile = run_command(ctx, "show", arguments, work, lambda p: {"document": p.document.uid})
    if json_output:
        ui.print_json(profile_json(profile))
    else:
        _render_profile(profile)


def _show_text(
    ctx: typer.Context,
    document: str,
    collection: str,
    lines: str | None,
    page: int | None,
    json_output: bool,
) -> None:
    from modules.semantic_core.analysis.lines import ALL_LINES, parse_line_range

    first, last = 1, ALL_LINES
    if lines is not None:
        try:
            first, last = parse_line_range(lines)
        except UsageError as exc:
            raise typer.BadParameter(exc.message, param_hint="--lines") from None
        if last > MAX_LINE:
            raise typer.BadParameter(
                f"{lines!r} goes past line {MAX_LINE}, the last a document can have",
                param_hint="--lines",
            )

    async def work(app: AppContext) -> DocumentLines:
        return await semantic_core(app).analysis.lines(document, first, last, collection, page)

    arguments = {"document": document, "collection": collection, "lines": lines, "page": page}
    found = run_command(ctx, "show", arguments, work, lambda r: {"passages": len(r.passages)})
    if json_output:
        ui.print_json(lines_json(found))
    else:
        _render_text(found)


def _render_text(found: DocumentLines) -> None:
    """Each passage under its location; lines numbered where the numbers are the file's."""
    for passage in found.passages:
        line = passage.source_line or passage.line_start
        where = location(found.document.path, line, found.page)
        ui.print_line(f"{where}  {passage.heading}".rstrip())
        width = len(str(passage.line_end))
        for number, text in enumerate(passage.text.split("\n"), start=passage.line_start):
            shown = f"{number:>{width}}  {text}" if found.numbered else f"  {text}"
            ui.print_line(shown.rstrip())


# --- parsing and run summaries ------------------------------------------------------------


def _parse_k(value: str) -> int | None:
    if value.strip().lower() == "auto":
        return None
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a number or auto", param_hint="--k") from None


def _duplicates_summary(report: DuplicatesReport) -> dict[str, Any]:
    return {
        "documents": report.documents,
        "pairs": len(report.pairs),
        "clusters": len(report.clusters),
    }


# --- tables ---------------------------------------------------------------------------------


def _hit_rows(hits: list[SimilarHit]) -> list[tuple[Any, ...]]:
    return [
        (h.rank, f"{h.score:.4f}", ui.display_path(h.document.path), h.document.title) for h in hits
    ]


def _render_profile(profile: DocumentProfile) -> None:
    stats = profile.statistics
    facts = [
        ("path", ui.display_path(profile.document.path)),
        ("uid", profile.document.uid),
        ("title", profile.document.title),
        ("format", profile.format),
        ("size", ui.human_size(profile.size_bytes)),
        ("ingested", f"{profile.created_at:%Y-%m-%d %H:%M}"),
        ("updated", f"{profile.updated_at:%Y-%m-%d %H:%M}"),
        ("characters", stats.characters),
        ("words", stats.words),
        ("sentences", stats.sentences),
        ("chunks", stats.chunks),
        ("language", stats.language),
        ("keywords", ", ".join(k.term for k in profile.keywords)),
    ]
    ui.print_table(
        f"{profile.document.title or 'Document'} ({profile.collection!r})", ["", ""], facts
    )
    ui.print_table("Summary", ["most central sentences"], [(s,) for s in profile.summary])
    _render_stored_duplicates(profile)
    ui.print_table(
        "Similar documents", ["rank", "score", "document", "title"], _hit_rows(profile.similar)
    )


def _render_stored_duplicates(profile: DocumentProfile) -> None:
    stored = profile.duplicates
    if stored is None:
        command = f"analyzer duplicates --collection {profile.collection}"
        ui.print_line(f"Duplicates: not computed yet (run {command}).")
        return
    note = " (the collection changed since; run analyzer duplicates again)" if stored.stale else ""
    if not stored.duplicates:
        ui.print_line(f"Duplicates: none at threshold {stored.threshold}{note}.")
        return
    rows = [(f"{d.score:.4f}", d.kind, ui.display_path(d.other.path)) for d in stored.duplicates]
    when = f"{stored.computed_at:%Y-%m-%d %H:%M}"
    title = f"Duplicates (scan of {when}, threshold {stored.threshold}){note}"
    ui.print_table(title, ["score", "kind", "document"], rows)


def _render_duplicates(report: DuplicatesReport) -> None:
    if not report.pairs:
        ui.print_line(
            f"No duplicates among {report.documents} documents in {report.collection!r} "
            f"at threshold {report.threshold}."
        )
        return
    rows = [
        (
            p.cluster,
            f"{p.score:.4f}",
            p.kind,
            ui.display_path(p.first.path),
            ui.display_path(p.second.path),
        )
        for p in report.pairs
    ]
    title = (
        f"{len(report.pairs)} duplicate pairs in {len(report.clusters)} clusters "
        f"({report.documents} documents, threshold {report.threshold})"
    )
    ui.print_table(title, ["cluster", "score", "kind", "document", "duplicate of"], rows)


def _render_keywords(result: KeywordsResult) -> None:
    subject = ui.display_path(result.document.path) if result.document else "the collection"
    rows = [(k.term, k.kind, f"{k.score:.4f}") for k in result.keywords]
    title = f"Keywords of {subject} ({result.collection!r})"
    ui.print_table(title, ["term", "kind", "score"], rows)


def _titled(document: DocumentRef) -> str:
    """A document as its title, then its path in parentheses (the path alone if untitled)."""
    path = ui.display_path(document.path)
    return f"{document.title} ({path})" if document.title else path


def _render_topics(result: TopicsResult) -> None:
    rows = [
        (
            t.number,
            t.size,
            t.label,
            "\n".join(_titled(r.document) for r in t.representatives),
        )
        for t in result.topics
    ]
    how = "chosen automatically" if result.automatic else "as asked"
    title = (
        f"{result.k} topics ({how}, silhouette {result.silhouette:.3f}) "
        f"over {result.documents} documents in {result.collection!r}"
    )
    ui.print_table(title, ["topic", "size", "label", "representative documents"], rows)
