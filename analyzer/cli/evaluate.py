"""``analyzer eval``: retrieval quality on a BEIR-layout test collection."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from analyzer import ui
from analyzer.cli.params import collection_name, existing, utf8_text
from analyzer.cli.runner import run_command
from analyzer.paths import absolute, display_path
from analyzer.views import eval_json
from modules.semantic_core.module import semantic_core
from modules.semantic_core.search.modes import Mode

if TYPE_CHECKING:
    from analyzer.app_context import AppContext
    from modules.semantic_core.search.evaluation import EvalReport


def evaluate(
    ctx: typer.Context,
    beir_dir: Annotated[
        Path,
        typer.Argument(
            help="A BEIR directory: corpus.jsonl, queries.jsonl, qrels/*.tsv.",
        ),
    ],
    qrels: Annotated[
        Path | None,
        typer.Option(help="Judgements to use (default: qrels/test.tsv, dev or train)."),
    ] = None,
    mode: Annotated[
        list[Mode] | None,
        typer.Option("--mode", "-m", help="Mode to score (repeatable; default: all three)."),
    ] = None,
    collection: Annotated[
        str | None,
        typer.Option(
            "--collection",
            "-c",
            help="Scratch collection (default: eval-<directory name>).",
            callback=collection_name,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", "-j", help="Print one JSON document.")
    ] = False,
) -> None:
    """Score retrieval (nDCG@10, Recall@100, MRR@10, latency) on a BEIR test collection."""
    existing(beir_dir, "'BEIR_DIR'", "directory")
    if qrels is not None:
        existing(qrels, "'--qrels'")
    modes = [m.value for m in dict.fromkeys(mode or Mode)]
    show_progress = ui.is_terminal() and not json_output

    async def work(app: AppContext) -> EvalReport:
        service = semantic_core(app).eval
        with ui.progress_bar("Evaluating") if show_progress else nullcontext() as bar:
            update = (lambda m, done, total: bar.update(done, total, m)) if bar else None
            with utf8_text(f"a file of {display_path(str(absolute(beir_dir)))}"):
                return await service.evaluate(beir_dir, modes, qrels, collection, progress=update)

    arguments = {"beir_dir": str(beir_dir), "modes": modes}
    report = run_command(ctx, "eval", arguments, work, eval_json)
    if json_output:
        ui.print_json(eval_json(report))
    else:
        _render(report)


def _render(report: EvalReport) -> None:
    rows = [
        (
            m.mode,
            f"{m.ndcg_at_10:.3f}",
            f"{m.recall_at_100:.3f}",
            f"{m.mrr_at_10:.3f}",
            f"{m.latency_p50_ms:.0f} ms",
            f"{m.latency_p95_ms:.0f} ms",
        )
        for m in report.modes
    ]
    title = (
        f"{report.dataset}: {report.documents} documents, "
        f"{report.modes[0].queries if report.modes else 0} queries ({report.qrels})"
    )
    columns = ["mode", "nDCG@10", "Recall@100", "MRR@10", "p50", "p95"]
    ui.print_table(title, columns, rows)
