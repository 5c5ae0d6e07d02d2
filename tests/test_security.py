"""Nobody else gets in: the data directory is owner-only on disk whatever the umask, an
open one is reported with its fix, and the HTTP API serves only callers with the token.

The tests that play another user of the machine run a process as ``nobody`` (they need
root, which CI has); the data directory then sits in a folder anyone may enter, so only
analyzer's own modes stand between that user and the text.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import SAMPLE_DOCS, FakeModels, cli
from tests.test_front_doors import free_port, token_client
from tests.test_server import analyzer, start_server, stop_process

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"  # not the virtual environment's: nobody may not reach it
as_root = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(SYSTEM_PYTHON),
    reason="playing another user needs root and a system python3",
)


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user may enter, as a home directory usually is."""
    folder = Path(tempfile.mkdtemp(prefix="analyzer-open-"))
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=False)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask of a desktop session: files readable by everyone unless said."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(directory: Path) -> dict[str, int]:
    return {entry.name: stat.S_IMODE(entry.lstat().st_mode) for entry in directory.iterdir()}


def as_nobody(code: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` as the user nobody; what it prints, and its exit code."""
    return subprocess.run(
        [SYSTEM_PYTHON, "-I", "-c", code],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
    )


# --- on disk ---------------------------------------------------------------------------------


@pytest.mark.sqlite_only("reads the modes of SQLite's files")
def test_a_new_data_directory_and_its_databases_are_owner_only_whatever_the_umask(
    open_folder: Path, loose_umask: None
) -> None:
    data = open_folder / "data"
    models = FakeModels()
    assert cli("--data-dir", str(data), "ingest", str(SAMPLE_DOCS), models=models).exit_code == 0
    assert cli("--data-dir", str(data), "query", "bread", models=models).exit_code == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    found = modes(data)
    assert {"framework.db", "semantic_core.db"} <= set(found)
    assert {name: mode for name, mode in found.items() if mode != 0o600} == {}


@pytest.mark.sqlite_only("reads the modes of SQLite's files, WAL and SHM included")
def test_a_server_keeps_every_file_it_makes_owner_only(
    open_folder: Path, loose_umask: None
) -> None:
    data = open_folder / "data"
    running = start_server(data, "--http", f"127.0.0.1:{free_port()}")
    try:
        assert analyzer(data, "ingest", str(SAMPLE_DOCS / "kitchen")).returncode == 0
        found = modes(data)  # while it runs: the WAL and SHM files, socket, lock, log, token
    finally:
        stop_process(running.process)
    expected = {"server.sock", "server.lock", "server.log", "http.token", "framework.db-wal"}
    assert expected <= set(found)
    assert {name: mode for name, mode in found.items() if mode != 0o600} == {}
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


@as_root
@pytest.mark.sqlite_only("reads SQLite's files as another user")
def test_another_user_cannot_read_the_stored_text(open_folder: Path, loose_umask: None) -> None:
    data = open_folder / "data"
    assert (
        cli("--data-dir", str(data), "ingest", str(SAMPLE_DOCS), models=FakeModels()).exit_code == 0
    )
    attempt = as_nobody(
        f"data = open({str(data / 'semantic_core.db')!r}, 'rb').read()\nprint('read', len(data))"
    )
    assert attempt.returncode != 0 and "PermissionError" in attempt.stderr
    assert "read" not in attempt.stdout


def test_db_status_names_an_open_data_directory_and_the_chmod_that_closes_it(
    data_dir: Path,
) -> None:
    models = FakeModels()
    assert cli("--data-dir", str(data_dir), "db-status", models=models).exit_code == 0
    data_dir.mkdir(exist_ok=True)  # on PostgreSQL it holds no database, so nothing made it
    os.chmod(data_dir, 0o755)
    (data_dir / "notes.txt").write_text("left here\n")
    os.chmod(data_dir / "notes.txt", 0o644)
    shown = cli("--data-dir", str(data_dir), "db-status", models=models)
    assert shown.exit_code == 0
    warning = [line for line in shown.stderr.splitlines() if "open to other users" in line]
    assert len(warning) == 1
    assert f"chmod 700 {data_dir}" in warning[0]
    assert f"chmod 600 {data_dir / 'notes.txt'}" in warning[0] and "*" not in warning[0]
    report = json.loads(
        cli("--data-dir", str(data_dir), "db-status", "--json", models=models).stdout
    )
    exposed = [item for item in report["exposed"] if item["directory"] == str(data_dir)]
    assert exposed and exposed[0]["directory_open"] and "notes.txt" in exposed[0]["files"]
    os.chmod(data_dir, 0o700)
    os.chmod(data_dir / "notes.txt", 0o600)
    closed = cli("--data-dir", str(data_dir), "db-status", "--json", models=models)
    assert json.loads(closed.stdout)["exposed"] == [] and "open to other users" not in closed.stderr


@pytest.mark.sqlite_only("a SQLite database named by URL outside the data directory")
def test_a_database_kept_in_a_folder_of_ones_own_is_reported_alone(
    tmp_path: Path, loose_umask: None
) -> None:
    """A folder that holds a database by URL is the person's business (scripts, notes): only
    the database's own files are named, never the folder or its other files."""
    project = tmp_path / "project"
    project.mkdir(mode=0o755)
    (project / "build.sh").write_text("echo hi\n")
    database = project / "index.db"
    database.write_bytes(b"")
    os.chmod(database, 0o644)
    env = {"ANALYZER_DB_SEMANTIC_CORE_URL": f"sqlite+aiosqlite:///{database}"}
    data = tmp_path / "data"
    shown = cli("--data-dir", str(data), "db-status", env=env)
    assert shown.exit_code == 0, shown.output
    warning = [line for line in shown.stderr.splitlines() if "readable by others" in line]
    assert len(warning) == 1 and f"chmod 600 {database}" in warning[0]
    assert "build.sh" not in warning[0] and f"chmod 700 {project}" not in warning[0]


# --- HTTP --------------------------------------------------------------------------------------


@pytest.fixture
def secret_folder(open_folder: Path) -> Path:
    """The owner's private notes: a 0700 folder holding a 0600 file."""
    secret = open_folder / "secret"
    secret.mkdir(mode=0o700)
    note = secret / "note.txt"
    note.write_text("The safe's combination is 31-4-15.\n")
    os.chmod(note, 0o600)
    return secret


@pytest.fixture
def loopback_api(open_folder: Path) -> Iterator[tuple[Path, str]]:
    data = open_folder / "data"
    port = free_port()
    running = start_server(data, "--http", f"127.0.0.1:{port}")
    try:
        yield data, f"http://127.0.0.1:{port}"
    finally:
        stop_process(running.process)


@as_root
def test_another_user_cannot_ingest_or_read_through_the_http_api(
    loopback_api: tuple[Path, str], secret_folder: Path
) -> None:
    data, url = loopback_api
    body = json.dumps({"paths": [str(secret_folder)], "collection": "stolen"})
    attempt = as_nobody(
        "import urllib.request, urllib.error\n"
        f"request = urllib.request.Request({url + '/ingest'!r}, data={body!r}.encode(),\n"
        "    headers={'content-type': 'application/json'}, method='POST')\n"
        "try:\n"
        "    print(urllib.request.urlopen(request).status)\n"
        "except urllib.error.HTTPError as exc:\n"
        "    print(exc.code)\n"
        f"try:\n    open({str(data / 'http.token')!r}).read()\n    print('token read')\n"
        "except PermissionError:\n    print('token refused')\n"
    )
    assert attempt.stdout.splitlines() == ["401", "token refused"], attempt.stderr
    with token_client(url, data) as api:
        assert (
            api.get("/search", params={"q": "combination", "collection": "stolen"}).status_code
            == 404
        )


def test_the_token_holder_cannot_point_the_server_at_system_files_or_its_own_data(
    loopback_api: tuple[Path, str],
) -> None:
    data, url = loopback_api
    with token_client(url, data) as api:
        too_long = str(data.parent / ("a" * 300))  # exists() raises on it, not False
        for path in ("/proc/self", "/", "/sys/kernel", str(data), too_long):
            refused = api.post("/ingest", json={"paths": [path], "collection": "system"})
            assert refused.status_code == 400, path
            assert "\n" not in refused.json()["error"]


def test_a_token_with_non_ascii_characters_works_and_odd_headers_are_refused_with_401(
    open_folder: Path,
) -> None:
    data = open_folder / "data"
    port = free_port()
    running = start_server(data, "--http", f"127.0.0.1:{port}", env={"ANALYZER_TOKEN": "tøken"})
    try:
        url = f"http://127.0.0.1:{port}/status"
        sent = "Bearer tøken".encode()  # as curl sends what a UTF-8 terminal typed
        assert httpx.get(url, headers=[(b"authorization", sent)]).status_code == 200
        for header in ("Bearer tøken".encode("latin-1"), "Bearer ☃".encode(), b"Bearer \xff"):
            refused = httpx.get(url, headers=[(b"authorization", header)])
            assert refused.status_code == 401, header
        assert (data / "http.token").read_text(encoding="utf-8").strip() == "tøken"
    finally:
        stop_process(running.process)
