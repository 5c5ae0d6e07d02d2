"""What ingest tells the person while it runs and when it stops: the file in hand, an
interrupt that keeps what was stored, and the files that vanished since last time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from analyzer.app_context import AppContext
from analyzer.settings import Settings
from modules.semantic_core.ingest.report import IngestProgress
from modules.semantic_core.ingest.service import IngestOptions
from modules.semantic_core.module import semantic_core
from tests.helpers import (
    FakeModels,
    cli,
    count_rows,
    stored_rows,
    within_app,
    write_notes,
)

THIRD = "note-0002.txt"  # write_notes names its files note-0000.txt, note-0001.txt, ...


def _interrupt_while_reading(deadline: Any) -> None:
    """What Ctrl-C does while a file is read: SIGINT to the main thread (as a terminal's
    reaches it), then the file's work goes on, checking its deadline as extractors do,
    until the run gives it up."""
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
    for _ in range(2000):  # the run gives the file up at a check; no clock is asserted
        deadline.check()
        time.sleep(0.005)


def _stall_third_file_on_sigint(monkeypatch: pytest.MonkeyPatch) -> None:
    import modules.semantic_core.ingest.run as run_module

    real_extract = run_module.extract
    interrupted: list[Path] = []

    def extract(data: Any, path: Path, deadline: Any) -> Any:
        if path.name == THIRD and not interrupted:  # the first run only
            interrupted.append(path)
            _interrupt_while_reading(deadline)
        return real_extract(data, path, deadline)

    monkeypatch.setattr(run_module, "extract", extract)


def _ingest_run_row(data_dir: Path) -> tuple[Any, ...]:
    [row] = stored_rows(
        data_dir / "framework.db",
        "SELECT status, exit_code, error FROM command_runs WHERE command = 'ingest'",
    )
    return tuple(row)


# --- progress ---------------------------------------------------------------------------


def test_progress_events_name_each_file_as_it_is_read(
    settings: Settings, tmp_path: Path, fake_models: FakeModels
) -> None:
    from modules.semantic_core.ingest.report import PHASES

    folder = write_notes(tmp_path / "notes", 5)
    events: list[IngestProgress] = []

    async def work(app: AppContext) -> Any:
        service = semantic_core(app).ingest
        return await service.ingest_paths([folder], IngestOptions(), events.append)

    within_app(settings, work, fake_models)
    read = [e.current for e in events if e.phase == "reading"]
    assert sorted(Path(p).name for p in read) == [f"note-{i:04d}.txt" for i in range(5)]
    assert {e.phase for e in events} <= set(PHASES)
    assert events[-1].files_done == events[-1].files_total == 5


def test_the_bar_shortens_a_long_name_and_keeps_its_end() -> None:
    from analyzer.ui import shorten

    name = "a/very/long/folder/name/that/goes/on/report-2026-final.pdf"
    short = shorten(name, 30)
    assert len(short) == 30 and short.startswith("…") and short.endswith("final.pdf")
    assert shorten("short.txt", 30) == "short.txt"


# --- Ctrl-C -----------------------------------------------------------------------------


def test_ctrl_c_at_the_third_file_keeps_the_first_two_and_reports_them(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_notes(tmp_path / "notes", 6)
    _stall_third_file_on_sigint(monkeypatch)
    args = ("--data-dir", str(data_dir), "ingest", str(folder))
    result = cli(*args, "--json", models=FakeModels())
    assert result.exit_code == 130, result.output
    report = json.loads(result.stdout)
    assert report["interrupted"] is True and report["new"] == 2 and report["failed"] == 0
    assert any("run the same command again" in hint for hint in report["hints"])
    assert count_rows(data_dir / "semantic_core.db", "documents") == 2
    assert count_rows(data_dir / "semantic_core.db", "chunks") == 2
    assert _ingest_run_row(data_dir) == ("interrupted", 130, "interrupted")
    again = json.loads(cli(*args, "--json", models=FakeModels()).stdout)
    assert (again["new"], again["unchanged"], again["interrupted"]) == (4, 2, False)


def test_ctrl_c_prints_the_summary_marked_interrupted(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_notes(tmp_path / "notes", 4)
    _stall_third_file_on_sigint(monkeypatch)
    result = cli("--data-dir", str(data_dir), "ingest", str(folder), models=FakeModels())
    assert result.exit_code == 130, result.output
    assert result.stdout.startswith("Interrupted: ingested into 'default'")
    assert "note: interrupted: the documents counted above are stored" in result.stderr


_SLOW_INGEST = """
import sys, time
from pathlib import Path
import modules.semantic_core.ingest.run as run_module

real_extract = run_module.extract

def extract(data, path, deadline):
    if path.name == {third!r}:
        Path({marker!r}).write_text("reading")
        for _ in range(12000):  # until the run gives the file up
            deadline.check()
            time.sleep(0.005)
    return real_extract(data, path, deadline)

run_module.extract = extract
sys.argv = ["analyzer", *sys.argv[1:]]
from analyzer.cli.app import main
main()
"""


def test_sigint_to_a_real_ingest_stops_it_after_the_files_in_hand(
    data_dir: Path, tmp_path: Path
) -> None:
    folder = write_notes(tmp_path / "notes", 6)
    marker = tmp_path / "reading-the-third"
    script = tmp_path / "slow_ingest.py"
    script.write_text(_SLOW_INGEST.format(third=THIRD, marker=str(marker)))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen(
        [sys.executable, str(script), "--data-dir", str(data_dir), "ingest", str(folder), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    for _ in range(6000):  # the child boots, then reaches the third file
        if marker.exists() or child.poll() is not None:
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 130, err.decode()
    report = json.loads(out)
    assert report["interrupted"] is True and report["new"] == 2
    assert count_rows(data_dir / "semantic_core.db", "documents") == 2
    assert _ingest_run_row(data_dir) == ("interrupted", 130, "interrupted")


# --- vanished files ---------------------------------------------------------------------


def test_files_gone_since_the_last_ingest_are_counted_with_the_prune_hint(
    data_dir: Path, tmp_path: Path
) -> None:
    folder = write_notes(tmp_path / "notes", 4)
    args = ("--data-dir", str(data_dir), "ingest", str(folder))
    assert cli(*args, models=FakeModels()).exit_code == 0
    (folder / "note-0001.txt").unlink()
    (folder / "note-0003.txt").unlink()

    report = json.loads(cli(*args, "--json", models=FakeModels()).stdout)
    assert (report["vanished"], report["pruned"], report["unchanged"]) == (2, 0, 2)
    assert report["hints"] == [
        "2 known files vanished from disk and stay in the index; "
        "run again with --prune to remove them"
    ]
    text = cli(*args, models=FakeModels())
    assert text.exit_code == 0
    assert "vanished" in text.stdout and "--prune to remove them" in text.stderr

    pruned = json.loads(cli(*args, "--prune", "--json", models=FakeModels()).stdout)
    assert (pruned["vanished"], pruned["pruned"], pruned["hints"]) == (0, 2, [])


def test_ctrl_c_in_a_client_stops_the_servers_ingest_and_shows_its_summary(
    data_dir: Path, tmp_path: Path
) -> None:
    folder = write_notes(tmp_path / "notes", 6)
    marker = tmp_path / "reading-the-third"
    script = tmp_path / "slow_ingest.py"
    script.write_text(_SLOW_INGEST.format(third=THIRD, marker=str(marker)))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    server = subprocess.Popen(
        [sys.executable, str(script), "--data-dir", str(data_dir), "serve", "--foreground"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None and "is serving" in server.stdout.readline()
        client = subprocess.Popen(
            [sys.executable, "-m", "analyzer", "--data-dir", str(data_dir), "ingest"]
            + [str(folder), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**env, "ANALYZER_SERVER": "on"},
        )
        for _ in range(6000):  # the server reaches the third file
            if marker.exists() or client.poll() is not None:
                break
            time.sleep(0.01)
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=120)
        assert client.returncode == 130, err.decode()
        report = json.loads(out)
        assert report["interrupted"] is True and report["new"] == 2
        assert _ingest_run_row(data_dir) == ("interrupted", 130, "interrupted")
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
