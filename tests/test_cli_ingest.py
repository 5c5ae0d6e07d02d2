"""``analyzer ingest`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from analyzer.cli.app import app

runner = CliRunner()
SAMPLE_DOCS = Path(__file__).resolve().parents[1] / "sample_docs"


def test_ingest_json_reports_counts_and_records_the_run(data_dir: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(data_dir), "ingest", str(SAMPLE_DOCS), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["new"] == 47 and report["failed"] == 0 and report["chunks"] > 47
    assert report["model"] == "analyzer/static-minilm-256"
    status = runner.invoke(app, ["--data-dir", str(data_dir), "db-status", "--json"])
    runs = json.loads(status.stdout)["last_runs"]
    ingest_run = next(r for r in runs if r["command"] == "ingest")
    assert ingest_run["status"] == "ok" and ingest_run["exit_code"] == 0


def test_ingest_table_lists_skipped_files_with_reasons(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "fine.txt").write_text("Fine text.\n")
    (folder / "empty.txt").write_text("")
    result = runner.invoke(app, ["--data-dir", str(data_dir), "ingest", str(folder)])
    assert result.exit_code == 0
    assert "empty.txt" in result.stdout and "empty file" in result.stdout


def test_missing_path_is_a_usage_error(data_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(data_dir), "ingest", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert not data_dir.exists()


def test_bad_size_is_a_usage_error(data_dir: Path) -> None:
    args = ["--data-dir", str(data_dir), "ingest", str(SAMPLE_DOCS), "--max-file-size", "lots"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "lots" in result.output


def test_model_mismatch_is_one_line_and_exit_1(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Some words.\n")
    base = ["--data-dir", str(data_dir), "ingest", str(folder)]
    assert runner.invoke(app, base).exit_code == 0
    result = runner.invoke(app, [*base, "--model", "minilm-l6-int8"])
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--force" in result.stderr
