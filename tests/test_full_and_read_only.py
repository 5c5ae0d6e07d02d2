"""A data directory on a read-only mount or a full disk: reading works, writing says why.

These tests mount a small tmpfs (they need to run as root, as CI does) and skip with a
reason where mounting is not allowed. Every mount is removed by its fixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO, SAMPLE_DOCS

pytestmark = pytest.mark.slow


def mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@contextlib.contextmanager
def mounted_tmpfs(tmp_path: Path, size: str) -> Iterator[Path]:
    where = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    where.mkdir()
    mounted = mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})")
    try:
        yield where
    finally:
        mount("-o", "remount,rw", str(where))
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path, "16m") as where:
        yield where


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """4 MB: less than one ingest of a few hundred notes needs."""
    with mounted_tmpfs(tmp_path, "4m") as where:
        yield where


def analyzer(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "analyzer", "--no-server", "--data-dir", str(data), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)


READS = [
    ("query", "flour water salt", "--json"),
    ("query", "flour", "--mode", "keyword", "--json"),
    ("similar", "bread-basics.md", "--json"),
    ("show", "bread-basics.md", "--json"),
    ("keywords", "--json"),
    ("topics", "--k", "2", "--json"),
    ("db-status", "--check", "--json"),
]


def fill(disk: Path) -> None:
    """Write a file on ``disk`` until no byte more fits."""
    with open(disk / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * (1 << 20))
                filler.flush()
        except OSError:
            pass


def ingest_kitchen(data: Path) -> None:
    done = analyzer(data, "ingest", str(SAMPLE_DOCS / "kitchen"), "--json")
    assert done.returncode == 0, done.stderr


def assert_reads_work(data: Path, reason: str) -> None:
    for args in READS:
        done = analyzer(data, *args)
        assert done.returncode == 0, (args, done.stderr)
        json.loads(done.stdout)
        assert done.stderr == f"note: this run is not recorded in framework.db: {reason}\n"


def test_a_read_only_data_directory_is_searched_and_says_so(
    small_disk: Path, tmp_path: Path
) -> None:
    data = small_disk / "data"
    ingest_kitchen(data)
    assert mount("-o", "remount,ro", str(small_disk)).returncode == 0

    assert_reads_work(data, "the data directory is read-only")
    status = json.loads(analyzer(data, "db-status", "--json").stdout)
    assert all(db["read_only"] for db in status["databases"])
    assert (
        "can only be read (the data directory is read-only)" in analyzer(data, "db-status").stdout
    )
    new = tmp_path / "new"
    new.mkdir()
    (new / "note.txt").write_text("A new note.\n")
    refused = analyzer(data, "ingest", str(new))
    assert refused.returncode == 1
    error = refused.stderr.splitlines()[-1]
    assert error.startswith("error: cannot write") and "read-only" in error
    served = analyzer(data, "serve", "--foreground")
    assert served.returncode == 1 and served.stderr.count("\n") == 1


def test_a_full_disk_reads_refuses_writes_in_one_line_and_loses_nothing(
    small_disk: Path, tmp_path: Path
) -> None:
    data = small_disk / "data"
    ingest_kitchen(data)
    fill(small_disk)
    assert os.statvfs(small_disk).f_bavail == 0

    assert_reads_work(data, "the disk is full")
    new = tmp_path / "new"
    new.mkdir()
    (new / "note.txt").write_text("A note about sourdough and rye.\n")
    refused = analyzer(data, "ingest", str(new))
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1] == (
        f"error: cannot write {data / 'semantic_core.db'}: the disk is full; free some space "
        "and run the command again (what is stored is intact)"
    )

    (small_disk / "filler").unlink()
    assert analyzer(data, "ingest", str(new), "--json").returncode == 0
    status = json.loads(analyzer(data, "db-status", "--check", "--json").stdout)
    assert [db["integrity"] for db in status["databases"]] == [["ok"], ["ok"]]
    tables = {t["name"]: t["rows"] for t in status["databases"][1]["tables"]}
    assert tables["documents"] == 11  # the ten of the kitchen, and the new note


def test_a_new_data_directory_on_a_full_disk_says_the_disk_is_full(small_disk: Path) -> None:
    """The empty owner-only database files made for SQLite are no database to read: the
    command says the disk is full, not that a read-only database lacks its tables."""
    fill(small_disk)
    done = analyzer(small_disk / "data", "db-status")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "the disk is full" in lines[0], done.stderr


def test_a_disk_filled_by_an_ingest_still_reads_and_says_the_run_is_not_recorded(
    tiny_disk: Path, tmp_path: Path
) -> None:
    """The ingest that fills the disk leaves framework.db's WAL behind, so the next command
    opens it for writing without writing anything; its first write (the modules it found,
    its run) then finds the disk full, and reads must go on without a record."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE_DOCS / "kitchen", corpus)
    words = random.Random(20).choices([f"term{i}" for i in range(5000)], k=400 * 2000)
    for i in range(400):
        (corpus / f"filler-{i:03d}.txt").write_text(" ".join(words[i * 2000 : (i + 1) * 2000]))
    data = tiny_disk / "data"

    filled = analyzer(data, "ingest", str(corpus), "--json")
    assert filled.returncode == 1
    assert "the disk is full" in filled.stderr.splitlines()[-1]
    assert os.statvfs(tiny_disk).f_bavail == 0

    assert_reads_work(data, "the disk is full")
    shown = analyzer(data, "db-status", "--check")
    assert shown.returncode == 0, shown.stderr
    assert "framework can only be read (the disk is full)" in shown.stdout
