from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from analyzer.settings import Settings
from tests.helpers import SAMPLE_DOCS, FakeModels, cli
from tests.postgres_server import PostgresServer, running_server

PLUGIN = "tests.plugins.notes_plugin"


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads the user's settings or writes to the user's data dir."""
    for key in list(os.environ):
        if key.startswith("ANALYZER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ANALYZER_DATA_DIR", str(tmp_path / "default-data"))
    yield


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sample_docs/`` ingested once through the CLI, for the tests that search and analyse it."""
    data = tmp_path_factory.mktemp("sample-corpus") / "data"
    result = cli("--data-dir", str(data), "ingest", str(SAMPLE_DOCS), "--json")
    assert result.exit_code == 0, result.output
    return data


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, busy_timeout_s=2.0)


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
def postgres_env(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> dict[str, str]:
    """Fresh PostgreSQL databases for both of analyzer's databases, as the environment
    that points analyzer at them."""
    stem = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:40].lower()
    return {
        "ANALYZER_DB_FRAMEWORK_URL": postgres_server.create_database(f"{stem}_fw"),
        "ANALYZER_DB_SEMANTIC_CORE_URL": postgres_server.create_database(f"{stem}_sc"),
    }
