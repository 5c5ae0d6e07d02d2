"""State that must never mislead: database URLs and their passwords, and runs that must not
stay ``running`` when the database under them went away."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from analyzer.app_context import AppContext
from analyzer.errors import DatabaseUnavailableError
from analyzer.settings import Settings
from modules.core.db_models import CommandRun
from modules.core.module import core
from modules.semantic_core.ingest.service import IngestOptions
from modules.semantic_core.module import semantic_core
from tests.helpers import (
    FakeModels,
    before_extracting,
    cli,
    one_line_error,
    within_app,
    write_notes,
)
from tests.postgres_server import PostgresServer, _run, running_server

# --- database URLs --------------------------------------------------------------------

VARIABLE = "ANALYZER_DB_SEMANTIC_CORE_URL"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://u:p@zq@127.0.0.1/db", "holds an unescaped '@'"),
        ("postgresql://u:p@zq:wxyv@127.0.0.1/db", "holds an unescaped '@'"),
        ("postgresql://u@127.0.0.1:abc/db", "port 'abc' is not a number"),
        ("postgresql://u@[::1/db", "an IPv6 host needs its closing ']'"),
        ("postgresql://u@[::1]:x/db", "port 'x' is not a number"),
        ("postgresql://u@127.0.0.1:99999/db", "port 99999 is not between 1 and 65535"),
        ("postgresql://u@127.0.0.1:/db", "the port after ':' is missing"),
        ("postgresql://u:zq\udcff@127.0.0.1/db", "it holds bytes that are not UTF-8"),
    ],
)
def test_a_url_that_cannot_be_read_is_one_line_naming_the_variable(
    tmp_path: Path, url: str, problem: str
) -> None:
    result = cli("--data-dir", str(tmp_path / "data"), "db-status", env={VARIABLE: url})
    line = one_line_error(result, 1, f"{VARIABLE} is not a valid database URL (", problem)
    assert "%40" in line  # says how to write an @ in a password
    assert "zq" not in line and "wxyv" not in line  # never quotes the password


def test_a_data_directory_whose_name_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    data = str(tmp_path) + "/caf\udce9"
    result = cli("--data-dir", data, "db-status")
    one_line_error(result, 1, "the path of database", "holds bytes that are not UTF-8")


@pytest.mark.own_databases
def test_a_password_in_the_query_is_masked_in_status_and_in_framework_db(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    secret = postgres_server.password
    user_part = postgres_server.url("stuck_mask_fw")  # the password in the user part
    postgres_server.create_database("stuck_mask_fw")
    postgres_server.create_database("stuck_mask_sc")
    in_query = postgres_server.url("stuck_mask_sc", password="").replace(":@", "@")
    env = {
        "ANALYZER_DB_FRAMEWORK_URL": user_part,
        VARIABLE: f"{in_query}?password={secret}",
    }
    data = str(tmp_path / "data")
    text = cli("--data-dir", data, "db-status", env=env)
    shown = cli("--data-dir", data, "db-status", "--json", env=env)
    assert text.exit_code == 0 and shown.exit_code == 0, text.output + shown.output
    assert secret not in text.output and secret not in shown.output
    urls = [db["url"] for db in json.loads(shown.stdout)["databases"]]
    assert any(url.endswith("?password=***") for url in urls), urls
    assert any(":***@" in url for url in urls), urls
    stored = stored_rows_at(postgres_server, "stuck_mask_fw", "SELECT location FROM databases")
    assert len(stored) == 2 and not any(secret in location for (location,) in stored), stored


def stored_rows_at(server: PostgresServer, database: str, sql: str) -> list[tuple[str, ...]]:
    return [tuple(line.split("|")) for line in server.psql(sql, database).splitlines()]


# --- runs whose database went away ------------------------------------------------------


@pytest.fixture
def stoppable_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own, which it stops and starts again; it is
    stopped at the end whatever happened."""
    with running_server() as server:
        yield server


def pg_ctl(server: PostgresServer, *args: str) -> None:
    _run([str(server.bin_dir / "pg_ctl"), "-D", str(server.socket_dir / "data"), *args])


def stop_immediately(server: PostgresServer) -> None:
    pg_ctl(server, "-m", "immediate", "-w", "stop")


def start_again(server: PostgresServer) -> None:
    options = f"-p {server.port} -k {server.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl(server, "-l", str(server.socket_dir / "log"), "-w", "-o", options, "start")


def on_server(server: PostgresServer, tmp_path: Path, stem: str) -> Settings:
    """Both databases on ``server``. Their commits are synchronous, as by default (the test
    servers' are not, for speed): a server stopped at once then keeps what was committed."""
    urls = {}
    for name in ("framework", "semantic_core"):
        database = f"{stem}_{name}"
        urls[name] = server.create_database(database)
        server.psql(f'ALTER DATABASE "{database}" SET synchronous_commit = on')
    return Settings(data_dir=tmp_path / "data", database_urls=urls, busy_timeout_s=2.0)


async def stored_end(app: AppContext, run_id: int, timeout_s: float = 120.0) -> CommandRun:
    """The run's row once it is no longer ``running`` (its end is retried in the
    background); fails the test if it never ends."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            run = await core(app).crud.get(CommandRun, run_id)
        except DatabaseUnavailableError:
            run = None
        if run is not None and run.status != "running":
            return run
        await asyncio.sleep(0.1)
    pytest.fail(f"run {run_id} is still running")


def test_an_ingest_whose_database_stops_ends_failed_with_the_reason(
    stoppable_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL stopped (pg_ctl -m immediate) in the middle of an ingest, in a process
    that lives on (a server): the run ends failed with why, not running forever."""
    settings = on_server(stoppable_server, tmp_path, "stuck_ingest")
    notes = write_notes(tmp_path / "notes", 40)
    stops = [stoppable_server]
    before_extracting(monkeypatch, "note-0020.txt", lambda: stops and stop_immediately(stops.pop()))

    async def scenario(app: AppContext) -> None:
        runs = core(app).runs
        ingest = semantic_core(app).ingest.ingest_paths([notes], IngestOptions())
        with pytest.raises(DatabaseUnavailableError) as failed:
            await runs.record("ingest", {"paths": [str(notes)]}, ingest)
        assert "check that the server is running" in failed.value.message
        start_again(stoppable_server)

        [shown] = await runs.recent(1)
        assert (shown.command, shown.status, shown.exit_code) == ("ingest", "failed", 1)
        assert shown.error == failed.value.message
        stored = await stored_end(app, shown.id)
        assert (stored.status, stored.exit_code, stored.error) == ("failed", 1, shown.error)

    within_app(settings, scenario, FakeModels())


def test_work_done_before_the_database_stops_is_recorded_ok_when_it_is_back(
    stoppable_server: PostgresServer, tmp_path: Path
) -> None:
    settings = on_server(stoppable_server, tmp_path, "stuck_ok")
    notes: list[str] = []

    async def work() -> dict[str, int]:
        await asyncio.to_thread(stop_immediately, stoppable_server)
        return {"new": 3}

    async def scenario(app: AppContext) -> None:
        runs = core(app).runs
        result = await runs.record("query", {}, work(), dict, notes.append)
        assert result == {"new": 3}
        [note] = notes  # the work is done and said so; only its end waits
        assert note.startswith("its end could not be written (") and "cannot connect" in note
        start_again(stoppable_server)
        stored = await stored_end(app, (await runs.recent(1))[0].id)
        assert (stored.status, stored.exit_code, stored.summary) == ("ok", 0, {"new": 3})

    within_app(settings, scenario, FakeModels())


def test_a_run_of_this_process_that_it_no_longer_runs_is_not_shown_running(
    settings: Settings,
) -> None:
    """A server whose pid an earlier process had (a container restarted), or that lost a
    run's end: the run is not running, whatever its row says."""
    from modules.core import runs as runs_module

    async def scenario(app: AppContext) -> list[str]:
        runs = core(app).runs
        left = CommandRun(command="ingest", arguments={}, pid=os.getpid(), host=runs_module._HOST)
        await core(app).crud.create(left)
        seen: list[str] = []

        async def work() -> None:
            seen.extend(r.status for r in await runs.recent(2))

        await runs.record("db-status", {}, work())
        return seen

    assert within_app(settings, scenario) == ["running", "abandoned"]


@pytest.mark.slow
def test_an_ingest_through_serve_whose_database_stops_ends_failed(
    stoppable_server: PostgresServer, tmp_path: Path
) -> None:
    """The issue's case: ``analyzer serve`` on PostgreSQL, an ingest through it, and
    ``pg_ctl -m immediate`` mid-way; the server lives on, and the run must end."""
    from tests.test_server import TIMEOUT_S, served_running, start_server, stop_process

    settings = on_server(stoppable_server, tmp_path, "stuck_serve")
    env = {f"ANALYZER_DB_{name.upper()}_URL": url for name, url in settings.database_urls.items()}
    framework, semantic = (url.rpartition("/")[2] for url in settings.database_urls.values())
    notes = write_notes(tmp_path / "notes", 3000)
    served = start_server(settings.data_dir, env=env)
    client = None
    try:
        command = ["--data-dir", str(settings.data_dir), "ingest", str(notes)]
        client = subprocess.Popen(
            [sys.executable, "-m", "analyzer", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        documents = "SELECT count(*) FROM documents"
        wait_for(lambda: int(stoppable_server.psql(documents, semantic)) > 0)
        assert served_running(settings.data_dir) > 0
        stop_immediately(stoppable_server)
        _, err = client.communicate(timeout=TIMEOUT_S)
        assert client.returncode == 1, err
        start_again(stoppable_server)

        def ended() -> bool:
            sql = "SELECT status FROM command_runs WHERE command = 'ingest'"
            return stoppable_server.psql(sql, framework) != "running"

        wait_for(ended)
        sql = "SELECT status, exit_code, error FROM command_runs WHERE command = 'ingest'"
        status, code, error = stoppable_server.psql(sql, framework).split("|")
        assert (status, code) == ("failed", "1") and error == err.strip().removeprefix("error: ")
        assert served.process.poll() is None  # the server lived on through it
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait()
        stop_process(served.process)


def wait_for(condition: Callable[[], bool], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail("condition not met in time")
