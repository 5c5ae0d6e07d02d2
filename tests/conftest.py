"""Fixtures shared by every test, and the two backends.

A test that works in a data directory (it asks for ``data_dir``, ``settings`` or
``sample_data_dir``) runs twice: on SQLite, and with both databases on a real
PostgreSQL server (``tests/postgres_server.py``) through ``ANALYZER_DB_<NAME>_URL``.
``@pytest.mark.sqlite_only("why")`` keeps a test on SQLite: it reads SQLite's files,
or mounts a full or read-only disk under them. ``@pytest.mark.own_databases`` marks
tests that set up their PostgreSQL databases themselves.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from analyzer.settings import Settings, database_urls_from_env
from tests.helpers import SAMPLE_DOCS, FakeModels, cli
from tests.postgres_server import PostgresServer, running_server

PLUGIN = "tests.plugins.notes_plugin"
BACKENDS = ("sqlite", "postgresql")
# Where each backend's copy of the ingested sample_docs lives: its databases' URLs.
_SAMPLE_URLS: dict[Path, dict[str, str]] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test is about SQLite's files; not run on PostgreSQL"
    )
    config.addinivalue_line(
        "markers", "own_databases: the test makes its own PostgreSQL databases; run it once"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    single = metafunc.definition.get_closest_marker(
        "sqlite_only"
    ) or metafunc.definition.get_closest_marker("own_databases")
    if not single:
        metafunc.parametrize("backend", BACKENDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """The database engine under test: SQLite unless the test is parametrized."""
    return str(getattr(request, "param", "sqlite"))


def _postgres_urls(request: pytest.FixtureRequest, stem: str) -> dict[str, str]:
    server: PostgresServer = request.getfixturevalue("postgres_server")
    stem = re.sub(r"[^a-z0-9]+", "_", stem.lower())[:40]
    return {
        "ANALYZER_DB_FRAMEWORK_URL": server.create_database(f"{stem}_fw"),
        "ANALYZER_DB_SEMANTIC_CORE_URL": server.create_database(f"{stem}_sc"),
    }


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads the user's settings or writes to the user's data dir."""
    for key in list(os.environ):
        if key.startswith("ANALYZER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ANALYZER_DATA_DIR", str(tmp_path / "default-data"))
    yield


@pytest.fixture(scope="session")
def new_databases(backend: str, request: pytest.FixtureRequest) -> Callable[[str], dict[str, str]]:
    """Makes fresh databases on the backend under test, as the environment that points
    analyzer at them (nothing for SQLite: its files live in the data directory)."""
    made = itertools.count()

    def make(stem: str) -> dict[str, str]:
        if backend != "postgresql":
            return {}
        return _postgres_urls(request, f"{stem}_{next(made)}")

    return make


@pytest.fixture(autouse=True)
def shared_databases(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that uses a data directory shared by several tests (the ingested sample_docs,
    a module's ``module_databases``) reads it on its backend, and so do the processes it
    starts."""
    shared: dict[str, str] = {}
    if "sample_data_dir" in request.fixturenames:
        shared |= _SAMPLE_URLS.get(request.getfixturevalue("sample_data_dir"), {})
    if "module_databases" in request.fixturenames:
        shared |= request.getfixturevalue("module_databases")
    for key, url in shared.items():
        monkeypatch.setenv(key, url)


@pytest.fixture(scope="session")
def sample_data_dir(
    tmp_path_factory: pytest.TempPathFactory,
    backend: str,
    new_databases: Callable[[str], dict[str, str]],
) -> Path:
    """``sample_docs/`` ingested once per backend through the CLI, for the tests that search
    and analyse it."""
    data = tmp_path_factory.mktemp(f"sample-corpus-{backend}") / "data"
    urls = new_databases("sample")
    _SAMPLE_URLS[data] = urls
    result = cli("--data-dir", str(data), "ingest", str(SAMPLE_DOCS), "--json", env=urls)
    assert result.exit_code == 0, result.output
    return data


@pytest.fixture
def data_dir(
    tmp_path: Path,
    new_databases: Callable[[str], dict[str, str]],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The test's data directory; on PostgreSQL, the environment also points both databases
    at fresh PostgreSQL databases, for the CLI, the services and every process started."""
    for key, url in new_databases(request.node.name).items():
        monkeypatch.setenv(key, url)
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        busy_timeout_s=2.0,
        database_urls=database_urls_from_env(os.environ),
    )


@pytest.fixture
def fake_models() -> FakeModels:
    """Deterministic, instant models for tests that are not about the models."""
    return FakeModels()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session (see tests/postgres_server.py)."""
    with running_server() as server:
        yield server


@pytest.fixture
def postgres_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Fresh PostgreSQL databases for both of analyzer's databases, as the environment
    that points analyzer at them (for tests that pass it themselves)."""
    return _postgres_urls(request, "t_" + request.node.name)
