from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from analyzer.settings import Settings

T = TypeVar("T")
PLUGIN = "tests.plugins.notes_plugin"


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads the user's settings or writes to the user's data dir."""
    for key in list(os.environ):
        if key.startswith("ANALYZER_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ANALYZER_DATA_DIR", str(tmp_path / "default-data"))
    yield


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, busy_timeout_s=2.0)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)
