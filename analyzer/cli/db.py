"""``analyzer db-status``: the health of every database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from analyzer import ui
from analyzer.cli.runner import run_command
from analyzer.views import status_json
from modules.core.module import core

if TYPE_CHECKING:
    from analyzer.app_context import AppContext
    from modules.core.status import StatusReport


def db_status(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", "-j", help="Print one JSON document.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Also check each database: SQLite's integrity check; on PostgreSQL, "
            "index validity and amcheck where installed.",
        ),
    ] = False,
) -> None:
    """Show each database: location, size, journal mode, schema revision, tables and row counts."""

    async def work(app: AppContext) -> StatusReport:
        return await core(app).status.report(check=check)

    report = run_command(ctx, "db-status", {"check": check}, work, lambda r: {"healthy": r.healthy})
    if json_output:
        ui.print_json(status_json(report))
    else:
        _render(report)
    for item in report.exposed:  # on stderr: a script reading --json still sees it
        ui.note(f"private data readable by others: {item.message()}")
    if not report.healthy:
        found = "; ".join(
            f"{db.name}: {db.integrity[0]}"
            for db in report.databases
            if db.integrity not in (None, ["ok"])
        )
        ui.error(
            f"integrity check failed ({found}); fix what it names, or restore from a backup "
            "or re-ingest"
        )
        raise typer.Exit(1)


def _render(report: StatusReport) -> None:
    data = status_json(report)
    rows = [
        (
            db["name"],
            db["path"] or db["url"],
            ui.human_size(db["size_bytes"]),
            db["journal_mode"] or "-",
            f"{db['schema_revision']} (code {db['code_revision']})",
            "-" if db["integrity"] is None else "; ".join(db["integrity"]),
        )
        for db in data["databases"]
    ]
    ui.print_table(
        "Databases", ["name", "location", "size", "journal", "schema", "integrity"], rows
    )
    for db in data["databases"]:
        if db["extensions"] is not None:
            installed = ", ".join(db["extensions"]) or "none"
            ui.print_line(f"{db['name']} extensions: {installed}.")
    for db in data["databases"]:
        if db["checked"]:
            ui.print_line(f"{db['name']} checked: {db['checked']}.")
    for db in data["databases"]:
        if db["read_only"]:
            ui.print_line(
                f"{db['name']} can only be read ({db['read_only_reason']}): commands read, "
                "nothing is written or recorded."
            )
    for db in data["databases"]:
        table_rows = [(t["name"], t["rows"]) for t in db["tables"]]
        ui.print_table(f"{db['name']} tables", ["table", "rows"], table_rows)
    runs = [
        (r["id"], r["command"], r["status"], r["started_at"], r["ended_at"] or "-")
        for r in data["last_runs"]
    ]
    ui.print_table("Last runs", ["id", "command", "status", "started", "ended"], runs)
