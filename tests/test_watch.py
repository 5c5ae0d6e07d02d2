"""``analyzer serve --watch`` follows its paths: a folder swapped for another, or removed
and made again, is watched again; while it is missing, status says so and its documents
stay. Real server processes on temporary folders."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_server import Server, analyzer, start_server, stop_process, wait_until

pytestmark = pytest.mark.slow


def keyword_hits(data: Path, word: str) -> list[str]:
    found = analyzer(data, "query", word, "--mode", "keyword", "--json")
    if found.returncode != 0:  # no collection yet: the first pass has not run
        return []
    return [Path(r["document"]).name for r in json.loads(found.stdout)["results"]]


def watch_status(data: Path) -> dict[str, Any]:
    done = analyzer(data, "serve", "--status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["watch"]


def note(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text + "\n")


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, Path, Server]]:
    """A folder, a data directory, and a server watching the folder once it has ingested
    the heron note written there."""
    folder, data = tmp_path / "watched", tmp_path / "data"
    note(folder, "heron.txt", "The heron waits by the pond.")
    running = start_server(data, "--watch", str(folder))
    try:
        wait_until(lambda: keyword_hits(data, "heron") == ["heron.txt"])
        yield folder, data, running
    finally:
        stop_process(running.process)


def test_a_folder_swapped_for_another_is_watched_again(
    watched: tuple[Path, Path, Server], tmp_path: Path
) -> None:
    folder, data, _ = watched
    replacement = tmp_path / "watched.new"
    note(replacement, "kingfisher.txt", "The kingfisher dives into the river.")
    folder.rename(tmp_path / "watched.old")
    replacement.rename(folder)
    wait_until(lambda: keyword_hits(data, "kingfisher") == ["kingfisher.txt"])
    wait_until(lambda: keyword_hits(data, "heron") == [])  # not in the folder any more
    note(folder, "otter.txt", "Otters play on the riverbank.")
    wait_until(lambda: keyword_hits(data, "otters") == ["otter.txt"])
    status = watch_status(data)
    assert status["missing"] == [] and status["rearmed"] >= 1


def test_a_removed_folder_is_reported_missing_keeps_its_documents_and_is_watched_when_back(
    watched: tuple[Path, Path, Server],
) -> None:
    folder, data, _ = watched
    shutil.rmtree(folder)
    wait_until(lambda: watch_status(data)["missing"] == [str(folder)])
    assert keyword_hits(data, "heron") == ["heron.txt"]  # kept while the folder is away
    text = analyzer(data, "serve", "--status").stdout.decode()
    assert f"missing: {folder}" in text
    log = (data / "server.log").read_text()
    assert f"watched path {folder} is missing" in log
    note(folder, "kingfisher.txt", "The kingfisher dives into the river.")
    wait_until(lambda: keyword_hits(data, "kingfisher") == ["kingfisher.txt"])
    wait_until(lambda: keyword_hits(data, "heron") == [])  # the folder is back without it
    assert watch_status(data)["missing"] == []
    note(folder, "otter.txt", "Otters play on the riverbank.")
    wait_until(lambda: keyword_hits(data, "otters") == ["otter.txt"])


def test_changes_that_come_with_another_path_going_are_ingested(tmp_path: Path) -> None:
    """Two watched folders: one removed while a note is written into the other, in one
    batch of events. The note is ingested though no later event comes for it."""
    first, second, data = tmp_path / "first", tmp_path / "second", tmp_path / "data"
    note(first, "heron.txt", "The heron waits by the pond.")
    note(second, "kingfisher.txt", "The kingfisher dives into the river.")
    running = start_server(data, "--watch", str(first), "--watch", str(second))
    try:
        wait_until(lambda: keyword_hits(data, "kingfisher") == ["kingfisher.txt"])
        shutil.rmtree(first)
        note(second, "otter.txt", "Otters play on the riverbank.")
        wait_until(lambda: keyword_hits(data, "otters") == ["otter.txt"])
        assert watch_status(data)["missing"] == [str(first)]
    finally:
        stop_process(running.process)
