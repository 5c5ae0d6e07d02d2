"""A collection dropped, and made again under the same name, while something uses it.

SQLite gives a collection made after a drop the old row's id, and its documents and
chunks the old ids too, and its generation restarts at 1: a server keying what it keeps
in memory by id and generation alone would answer about the collection that is gone. An
ingest writing to a collection that is dropped under it stops and says so, and never
writes into the collection that took its place.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    SAMPLE_DOCS,
    FakeModels,
    before_extracting,
    cli,
    cli_json,
    count_rows,
    one_line_error,
    stored_rows,
    write_notes,
)
from tests.test_server import Server, analyzer, served_count, start_server, stop_process

NAME = "recipes"
KITCHEN = SAMPLE_DOCS / "kitchen"
# What the server keeps per collection: chunk vectors (semantic, hybrid's fill), paths
# (--path), document vectors (similar, topics), keywords (topics' labels).
THROUGH_THE_SERVER = [
    ("query", "bread flour yeast", "--mode", "semantic"),
    ("query", "bread flour yeast", "--mode", "hybrid"),
    ("query", "bread flour yeast", "--mode", "semantic", "--path", "*/kitchen/*"),
    ("similar", "bread-basics.md"),
    ("topics",),
    ("keywords",),
]


@pytest.fixture
def server(data_dir: Path) -> Iterator[Server]:
    running = start_server(data_dir)
    try:
        yield running
    finally:
        stop_process(running.process)


def run_here(data_dir: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Another process, on the same databases, that does not ask the server."""
    done = analyzer(data_dir, *args, server=False)
    assert done.returncode == 0, done.stderr
    return done


def fill(data_dir: Path, folder: Path) -> None:
    """The collection made anew from ``folder``, by another process."""
    run_here(data_dir, "ingest", str(folder), "--collection", NAME)


def assert_served_as_run_here(server: Server) -> None:
    for args in THROUGH_THE_SERVER:
        before = served_count(server.data_dir)
        through = analyzer(server.data_dir, *args, "--collection", NAME)
        here = analyzer(server.data_dir, *args, "--collection", NAME, server=False)
        assert served_count(server.data_dir) == before + 1, args  # it went through the server
        assert b"Traceback" not in through.stderr, (args, through.stderr)
        assert through.returncode == 0, (args, through.stderr)
        assert (through.stdout, through.stderr) == (here.stdout, here.stderr), args


@pytest.mark.slow
def test_a_server_answers_about_a_collection_dropped_and_made_again(server: Server) -> None:
    data_dir = server.data_dir
    fill(data_dir, KITCHEN)
    assert_served_as_run_here(server)  # every cache of the server is warm

    run_here(data_dir, "collections", "drop", NAME, "--yes")
    fill(data_dir, SAMPLE_DOCS)  # more documents than before, with the same row id on SQLite
    assert_served_as_run_here(server)

    run_here(data_dir, "collections", "drop", NAME, "--yes")
    fill(data_dir, KITCHEN)  # fewer documents than before
    assert_served_as_run_here(server)


# --- an ingest whose collection is dropped under it ---------------------------------------


def test_an_ingest_whose_collection_is_dropped_stops_and_says_so(
    data_dir: Path, tmp_path: Path, fake_models: FakeModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_notes(tmp_path / "notes", 150)  # three batches of files
    dropped: list[subprocess.CompletedProcess[bytes]] = []
    # In the second batch, after the first one is written: another process drops it.
    before_extracting(
        monkeypatch,
        "note-0100.txt",
        lambda: dropped.append(
            analyzer(data_dir, "collections", "drop", NAME, "--yes", server=False)
        ),
    )

    result = cli("--data-dir", str(data_dir), "ingest", str(folder), "-c", NAME, models=fake_models)

    assert [d.returncode for d in dropped] == [0], dropped[0].stderr if dropped else None
    one_line_error(result, 1, f"collection {NAME!r} was dropped", "run the ingest again")
    assert "failed" not in result.stdout
    assert count_rows(data_dir / "semantic_core.db", "documents") == 0
    runs = cli_json("--data-dir", str(data_dir), "db-status", models=fake_models)["last_runs"]
    assert [(r["status"], r["exit_code"]) for r in runs if r["command"] == "ingest"] == [
        ("failed", 1)
    ]


def test_an_ingest_never_writes_into_the_collection_made_in_place_of_its_own(
    data_dir: Path, tmp_path: Path, fake_models: FakeModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_notes(tmp_path / "notes", 150)
    made_again: list[subprocess.CompletedProcess[bytes]] = []

    def drop_and_make_again() -> None:
        for args in (("collections", "drop", NAME, "--yes"), ("ingest", str(KITCHEN), "-c", NAME)):
            made_again.append(analyzer(data_dir, *args, server=False))

    before_extracting(monkeypatch, "note-0100.txt", drop_and_make_again)

    result = cli("--data-dir", str(data_dir), "ingest", str(folder), "-c", NAME, models=fake_models)

    assert [d.returncode for d in made_again] == [0, 0], [d.stderr for d in made_again]
    one_line_error(result, 1, f"collection {NAME!r} was dropped", "run the ingest again")
    # The collection that took its place holds what its own ingest wrote, and nothing else.
    paths = stored_rows(data_dir / "semantic_core.db", "SELECT path FROM documents")
    assert {Path(p).parent for (p,) in paths} == {KITCHEN}
    assert len(paths) == len(list(KITCHEN.iterdir()))
    assert count_rows(data_dir / "semantic_core.db", "collections") == 1


def test_the_batch_being_read_when_the_collection_goes_is_not_read_to_its_end(
    data_dir: Path, tmp_path: Path, fake_models: FakeModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    import modules.semantic_core.ingest.run as run_module

    folder = write_notes(tmp_path / "notes", 200)  # batches of 64: the third is 128 to 191
    real_extract = run_module.extract
    extracted: list[str] = []

    def extract(data: Any, path: Path, deadline: Any) -> Any:
        extracted.append(path.name)
        if path.name == "note-0070.txt":  # second batch: it will not be written
            analyzer(data_dir, "collections", "drop", NAME, "--yes", server=False)
        if path.name == "note-0130.txt":  # third batch, read while the second is written
            waited = time.monotonic() + 60
            while time.monotonic() < waited:  # until the run stops (it raises then)
                deadline.check()
                time.sleep(0.05)
        return real_extract(data, path, deadline)

    monkeypatch.setattr(run_module, "extract", extract)

    result = cli("--data-dir", str(data_dir), "ingest", str(folder), "-c", NAME, models=fake_models)

    one_line_error(result, 1, f"collection {NAME!r} was dropped", "run the ingest again")
    assert extracted[-1] == "note-0130.txt"


# --- the schema revision that brought epochs ----------------------------------------------


def test_a_revision_5_database_gives_each_collection_an_epoch_of_its_own(
    data_dir: Path, tmp_path: Path, fake_models: FakeModels
) -> None:
    from modules.semantic_core.db_models import SCHEMA_REVISION

    folder = write_notes(tmp_path / "notes", 3)
    for name in ("one", "two"):
        cli_json("--data-dir", str(data_dir), "ingest", str(folder), "-c", name, models=fake_models)
    database = data_dir / "semantic_core.db"
    stored_rows(database, "ALTER TABLE collections DROP COLUMN epoch")
    stored_rows(database, "ALTER TABLE chunks DROP COLUMN line_map")
    stored_rows(database, "ALTER TABLE documents DROP COLUMN sketch")
    stored_rows(database, "UPDATE analyzer_schema SET revision = 5")

    found = cli_json("--data-dir", str(data_dir), "query", "tide", "-c", "two", models=fake_models)

    assert found["results"]
    assert stored_rows(database, "SELECT revision FROM analyzer_schema") == [(SCHEMA_REVISION,)]
    epochs = [epoch for (epoch,) in stored_rows(database, "SELECT epoch FROM collections")]
    assert len(epochs) == len(set(epochs)) == 2
    assert [len(epoch) for epoch in epochs] == [32, 32]


def test_the_server_keeps_the_values_of_a_bounded_number_of_collections() -> None:
    """A collection dropped and made again gets a new id on PostgreSQL: a cache keyed by
    id keeps the last few collections used, not every one that ever lived."""
    from modules.semantic_core.collections import GenerationCache

    cache = GenerationCache(capacity=3)
    for collection_id in range(10):
        cache.put(collection_id, ("epoch", 1), f"vectors of {collection_id}")
    assert [cache.get(i, ("epoch", 1)) for i in (6, 7, 8, 9)] == [
        None,
        "vectors of 7",
        "vectors of 8",
        "vectors of 9",
    ]
    cache.get(7, ("epoch", 1))  # used: kept when a new one comes
    cache.put(10, ("epoch", 1), "vectors of 10")
    assert cache.get(7, ("epoch", 1)) == "vectors of 7" and cache.get(8, ("epoch", 1)) is None
    assert cache.get(7, ("epoch", 2)) is None  # another generation: not the kept value
