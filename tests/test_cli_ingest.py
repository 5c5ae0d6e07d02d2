"""``analyzer ingest`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import (
    SAMPLE_DOCS,
    assert_ingest_finished_whole,
    cli,
    count_rows,
    indexed_chunks,
    one_line_error,
    sqlite_rows,
    write_notes,
)


def test_ingest_json_reports_counts_and_records_the_run(data_dir: Path) -> None:
    result = cli("--data-dir", str(data_dir), "ingest", str(SAMPLE_DOCS), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["new"] == 47 and report["failed"] == 0 and report["chunks"] > 47
    assert report["model"] == "analyzer/static-minilm-256"
    status = cli("--data-dir", str(data_dir), "db-status", "--json")
    runs = json.loads(status.stdout)["last_runs"]
    ingest_run = next(r for r in runs if r["command"] == "ingest")
    assert ingest_run["status"] == "ok" and ingest_run["exit_code"] == 0


def test_ingest_table_lists_skipped_files_with_reasons(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "fine.txt").write_text("Fine text.\n")
    (folder / "empty.txt").write_text("")
    result = cli("--data-dir", str(data_dir), "ingest", str(folder))
    assert result.exit_code == 0
    assert "empty.txt" in result.stdout and "empty file" in result.stdout


def test_missing_path_is_a_usage_error(data_dir: Path, tmp_path: Path) -> None:
    result = cli("--data-dir", str(data_dir), "ingest", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert not data_dir.exists()


def test_bad_size_is_a_usage_error(data_dir: Path) -> None:
    args = ["--data-dir", str(data_dir), "ingest", str(SAMPLE_DOCS), "--max-file-size", "lots"]
    result = cli(*args)
    assert result.exit_code == 2
    assert "lots" in result.output


def test_model_mismatch_is_one_line_and_exit_1(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Some words.\n")
    base = ["--data-dir", str(data_dir), "ingest", str(folder)]
    assert cli(*base).exit_code == 0
    result = cli(*base, "--model", "minilm-l6-int8")
    one_line_error(result, 1, "--force")


def test_an_ingest_killed_midway_leaves_consistent_data_and_the_next_run_finishes(
    data_dir: Path, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    folder = write_notes(tmp_path / "many", 1500)
    command = [sys.executable, "-m", "analyzer", "--data-dir", str(data_dir), "ingest", str(folder)]
    child = subprocess.Popen([*command, "--json"], stdout=subprocess.DEVNULL)
    database = data_dir / "semantic_core.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:  # wait for the first batches
        if count_rows(database, "documents") > 0:
            break
        time.sleep(0.05)
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert count_rows(database, "chunks") == indexed_chunks(database)
    finished = subprocess.run([*command, "--json"], capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert_ingest_finished_whole(database, json.loads(finished.stdout), 1500)


def test_the_summary_title_stays_on_one_line(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Some words.\n")
    result = cli("--data-dir", str(data_dir), "ingest", str(folder), env={"COLUMNS": "120"})
    assert result.exit_code == 0
    first = result.stdout.splitlines()[0]
    assert first.startswith("Ingested into 'default' in ") and first.rstrip().endswith(" s")


def test_two_ingests_of_one_folder_at_once_converge(data_dir: Path) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "analyzer", "--no-server", "--data-dir", str(data_dir)]
    command += ["ingest", str(SAMPLE_DOCS), "--json"]
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"]
    reports = []
    for process in both:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    assert sum(r["new"] for r in reports) == 47
    assert [r["failed"] for r in reports] == [0, 0]
    assert all(r["new"] + r["updated"] + r["unchanged"] == 47 for r in reports)
    assert count_rows(data_dir / "semantic_core.db", "documents") == 47


def test_a_name_that_is_not_utf8_is_shown_escaped_and_found_as_typed(
    data_dir: Path, tmp_path: Path
) -> None:
    import os

    folder = tmp_path / "docs"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as handle:
        handle.write(b"Notes about roasting coffee beans.\n")
    assert cli("--data-dir", str(data_dir), "ingest", str(folder)).exit_code == 0
    found = cli("--data-dir", str(data_dir), "query", "roasting coffee", "--mode", "keyword")
    assert found.exit_code == 0 and "caf\\xe9.txt" in found.stdout
    as_typed = os.fsdecode(os.path.join(os.fsencode(folder), b"caf\xe9.txt"))  # what argv holds
    shown = cli("--data-dir", str(data_dir), "show", as_typed, "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["title"] == "Notes about roasting coffee beans."


def test_the_data_directory_is_never_ingested_even_inside_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "apples.txt").write_text("Apples keep well in a cold cellar.\n")
    data = folder / "index"
    data.mkdir()
    (data / "stray.txt").write_text("Written by hand into the data directory.\n")
    (folder / "shortcut").symlink_to(data, target_is_directory=True)
    result = cli("--data-dir", str(data), "ingest", str(folder), "--json")
    assert result.exit_code == 0, result.output
    stored = sqlite_rows(data / "semantic_core.db", "SELECT path FROM documents")
    assert [Path(path).name for (path,) in stored] == ["apples.txt"]
