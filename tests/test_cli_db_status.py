"""``analyzer db-status`` and start-up failures, through Typer's CliRunner."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from analyzer import __version__
from modules.semantic_core.db_models import SCHEMA_REVISION
from tests.helpers import cli, one_line_error, sqlite_rows, stored_rows


def invoke(*args: str, env: dict[str, str] | None = None):
    return cli(*args, env=env)


@pytest.mark.sqlite_only("checks the SQLite files it creates")
def test_db_status_json_lists_both_databases_and_creates_them(data_dir: Path) -> None:
    result = invoke("--data-dir", str(data_dir), "db-status", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_name = {db["name"]: db for db in report["databases"]}
    assert {"framework", "semantic_core"} <= set(by_name)
    core = by_name["semantic_core"]
    assert core["path"] == str(data_dir / "semantic_core.db")
    assert core["journal_mode"] == "wal"
    assert core["schema_revision"] == core["code_revision"] == SCHEMA_REVISION
    assert core["size_bytes"] > 0
    assert {t["name"] for t in core["tables"]} >= {"collections", "documents", "chunks"}
    assert report["last_runs"][0]["command"] == "db-status"
    assert (data_dir / "framework.db").exists() and (data_dir / "semantic_core.db").exists()


def test_db_status_records_finished_runs(data_dir: Path) -> None:
    invoke("--data-dir", str(data_dir), "db-status", "--json")
    report = json.loads(invoke("--data-dir", str(data_dir), "db-status", "--json").stdout)
    previous = report["last_runs"][1]
    assert previous["status"] == "ok" and previous["exit_code"] == 0 and previous["ended_at"]


def test_db_status_check_runs_the_integrity_check(data_dir: Path) -> None:
    result = invoke("--data-dir", str(data_dir), "db-status", "--json", "--check")
    assert result.exit_code == 0
    assert all(db["integrity"] == ["ok"] for db in json.loads(result.stdout)["databases"])


def test_db_status_table_on_a_terminal_names_every_database(data_dir: Path) -> None:
    result = invoke("--data-dir", str(data_dir), "db-status")
    assert result.exit_code == 0
    assert "framework" in result.stdout and "semantic_core" in result.stdout
    assert "documents" in result.stdout


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["db-status", "--help"]])
def test_help_and_version_boot_nothing_and_create_no_files(data_dir: Path, args: list[str]) -> None:
    result = invoke("--data-dir", str(data_dir), *args)
    assert result.exit_code == 0
    assert not data_dir.exists()
    if args == ["--version"]:
        assert result.stdout.strip() == f"analyzer {__version__}"


def test_data_dir_comes_from_the_environment(tmp_path: Path) -> None:
    target = tmp_path / "from-env"
    result = invoke("db-status", "--json", env={"ANALYZER_DATA_DIR": str(target)})
    assert result.exit_code == 0
    assert (target / "semantic_core.db").exists()


def test_unwritable_data_dir_gives_one_line_and_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("keep me")
    result = invoke("--data-dir", str(blocker / "data"), "db-status")
    one_line_error(result, 1, str(blocker / "data"), "--data-dir")
    assert blocker.read_text() == "keep me"


@pytest.mark.sqlite_only("corrupts a SQLite file")
def test_corrupt_database_gives_one_line_and_is_left_untouched(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    garbage = bytes(range(256)) * 64
    (data_dir / "semantic_core.db").write_bytes(garbage)
    result = invoke("--data-dir", str(data_dir), "db-status")
    one_line_error(result, 1, "semantic_core.db", "move it aside")
    assert (data_dir / "semantic_core.db").read_bytes() == garbage


@pytest.mark.sqlite_only("edits a SQLite file")
def test_newer_schema_gives_one_line_naming_file_and_revisions(data_dir: Path) -> None:
    assert invoke("--data-dir", str(data_dir), "db-status").exit_code == 0
    path = data_dir / "semantic_core.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE analyzer_schema SET revision = ?", (SCHEMA_REVISION + 1,))
    conn.close()
    result = invoke("--data-dir", str(data_dir), "db-status")
    newer = f"{SCHEMA_REVISION + 1} > {SCHEMA_REVISION}"
    one_line_error(result, 1, "semantic_core.db", newer, "upgrade analyzer")
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT revision FROM analyzer_schema").fetchone() == (
        SCHEMA_REVISION + 1,
    )
    conn.close()


HOLD_LOCK = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("ROLLBACK")
    """
)


@pytest.mark.sqlite_only("holds SQLite's file lock")
def test_database_locked_past_busy_timeout_gives_one_line(data_dir: Path) -> None:
    assert invoke("--data-dir", str(data_dir), "db-status").exit_code == 0
    framework = data_dir / "framework.db"
    rows_before = _command_runs(framework)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(framework)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = invoke(
            "--data-dir", str(data_dir), "db-status", env={"ANALYZER_BUSY_TIMEOUT": "0.3"}
        )
    finally:
        holder.communicate("\n", timeout=10)
    one_line_error(result, 1, "framework.db", "locked", "ANALYZER_BUSY_TIMEOUT")
    assert _command_runs(framework) == rows_before


def _command_runs(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT id, command, status FROM command_runs ORDER BY id").fetchall()
    conn.close()
    return rows


def test_bad_busy_timeout_setting_is_a_one_line_error(data_dir: Path) -> None:
    result = invoke("--data-dir", str(data_dir), "db-status", env={"ANALYZER_BUSY_TIMEOUT": "soon"})
    one_line_error(result, 1, "ANALYZER_BUSY_TIMEOUT", "seconds")


def test_a_run_whose_process_died_is_shown_as_abandoned(data_dir: Path) -> None:
    import socket

    assert invoke("--data-dir", str(data_dir), "db-status").exit_code == 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stored_rows(
        data_dir / "framework.db",
        "INSERT INTO command_runs (command, arguments, started_at, status, pid, host) "
        f"VALUES ('ingest', '{{}}', '2026-12-01 10:00:00', 'running', {gone.pid}, "
        f"'{socket.gethostname()}')",
    )
    runs = json.loads(invoke("--data-dir", str(data_dir), "db-status", "--json").stdout)
    statuses = {}
    for run in runs["last_runs"]:  # newest first
        statuses.setdefault(run["command"], run["status"])
    assert statuses["ingest"] == "abandoned"
    assert statuses["db-status"] == "running"  # this one, alive while it reports


def test_an_interrupted_ingest_is_recorded_as_interrupted(data_dir: Path, tmp_path: Path) -> None:
    import signal
    import time

    from tests.helpers import count_rows, write_notes

    folder = write_notes(tmp_path / "many", 3000)
    command = [sys.executable, "-m", "analyzer", "--no-server", "--data-dir", str(data_dir)]
    child = subprocess.Popen(
        [*command, "ingest", str(folder), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if count_rows(data_dir / "semantic_core.db", "documents") > 0:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    child.communicate(timeout=60)
    assert child.returncode != 0
    [row] = stored_rows(
        data_dir / "framework.db",
        "SELECT status, exit_code, error FROM command_runs WHERE command = 'ingest'",
    )
    assert row == ("interrupted", 130, "interrupted")


def test_shell_completion_is_offered_and_completes_commands() -> None:
    # Typer finds the shell among the process's ancestors: run it from one.
    script = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m analyzer --show-completion bash; exit $?'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script.returncode == 0 and "_ANALYZER_COMPLETE" in script.stdout.upper()
    completed = subprocess.run(
        [sys.executable, "-m", "analyzer"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **__import__("os").environ,
            "COMP_WORDS": "analyzer qu",
            "COMP_CWORD": "1",
            "_ANALYZER_COMPLETE": "complete_bash",
        },
    )
    assert completed.stdout.split() == ["query"]


def test_a_run_that_ends_in_an_unexpected_error_is_recorded_as_failed(data_dir: Path) -> None:
    import asyncio

    from analyzer.app_context import AppContext
    from analyzer.settings import Settings
    from modules.core.module import core

    async def scenario() -> None:
        async with AppContext(Settings(data_dir=data_dir)) as app:

            async def broken() -> None:
                raise ValueError("a bug")

            with pytest.raises(ValueError):
                await core(app).runs.record("show", {}, broken())

    asyncio.run(scenario())
    sql = "SELECT status, exit_code, error FROM command_runs"
    rows = sqlite_rows(data_dir / "framework.db", sql)
    assert rows == [("failed", 1, "unexpected ValueError")]


def test_a_run_record_that_cannot_be_finished_never_hides_the_commands_error(
    data_dir: Path,
) -> None:
    import asyncio

    from analyzer.app_context import AppContext
    from analyzer.errors import DiskFullError, UsageError
    from analyzer.settings import Settings
    from modules.core.module import core

    async def scenario() -> None:
        async with AppContext(Settings(data_dir=data_dir)) as app:
            runs = core(app).runs

            async def full(*args: object, **kwargs: object) -> None:
                raise DiskFullError("cannot write framework.db: the disk is full")

            async def refused() -> None:
                raise UsageError("--top must be positive")

            runs.finish = full  # type: ignore[method-assign]
            with pytest.raises(UsageError, match="--top"):
                await runs.record("show", {}, refused())

    asyncio.run(scenario())


def test_work_whose_run_cannot_start_is_closed_not_left_unawaited(data_dir: Path) -> None:
    import asyncio
    import warnings

    from analyzer.app_context import AppContext
    from analyzer.errors import DatabaseBusyError
    from analyzer.settings import Settings
    from modules.core.module import core

    async def scenario() -> None:
        async with AppContext(Settings(data_dir=data_dir)) as app:
            runs = core(app).runs

            async def busy(*args: object, **kwargs: object) -> int:
                raise DatabaseBusyError("framework.db is locked by another process")

            async def work() -> int:
                return 1

            runs.start = busy  # type: ignore[method-assign]
            with pytest.raises(DatabaseBusyError):
                await runs.record("show", {}, work())

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "coroutine ... was never awaited"
        asyncio.run(scenario())
