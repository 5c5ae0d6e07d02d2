from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from analyzer.settings import Settings
from tests.helpers import SAMPLE_DOCS, FakeModels, cli

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
