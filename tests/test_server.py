"""``analyzer serve`` and the client, as real processes on a temporary data directory.

Every server a test starts is stopped by its fixture, even when the test fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from analyzer import __version__
from analyzer.client import locate
from analyzer.client.protocol import (
    ACCEPTED,
    DECLINED,
    EXIT,
    REQUEST,
    STDOUT,
    FrameReader,
    decode_json,
    json_frame,
)
from tests.helpers import REPO, SAMPLE_DOCS, assert_ingest_finished_whole, count_rows, write_notes

pytestmark = pytest.mark.slow
TIMEOUT_S = 120


@dataclass
class Server:
    process: subprocess.Popen[str]
    data_dir: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def analyzer(
    data_dir: Path, *args: str, server: bool = True, cwd: Path = REPO, env: dict | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``analyzer --data-dir DATA ARGS`` as a person types it: a process of its own."""
    environ = {**os.environ, **(env or {})}
    if not server:
        environ["ANALYZER_SERVER"] = "off"
    command = [sys.executable, "-m", "analyzer", "--data-dir", str(data_dir), *args]
    return subprocess.run(command, capture_output=True, cwd=cwd, env=environ, timeout=TIMEOUT_S)


def start_server(data_dir: Path, *options: str, env: dict[str, str] | None = None) -> Server:
    command = [sys.executable, "-m", "analyzer", "--data-dir", str(data_dir), "serve"]
    process = subprocess.Popen(
        [*command, "--foreground", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "is serving" not in line:
        stop_process(process)
        pytest.fail(
            f"server did not start: {line}{process.stderr.read() if process.stderr else ''}"
        )
    return Server(process, data_dir)


def stop_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def ingested_sample_docs(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]
) -> Path:
    """A data directory with sample_docs ingested in-process (no server involved), on the
    databases ``env`` points at (none: SQLite files in the directory)."""
    data = tmp_path_factory.mktemp(name) / "data"
    done = analyzer(data, "ingest", str(SAMPLE_DOCS), "--json", server=False, env=env)
    assert done.returncode == 0, done.stderr
    return data


@pytest.fixture(scope="module")
def module_databases(new_databases: Callable[[str], dict[str, str]]) -> dict[str, str]:
    """The databases of this module's shared data directory, on the backend under test."""
    return new_databases("served")


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory, module_databases: dict[str, str]) -> Path:
    return ingested_sample_docs(tmp_path_factory, "served", module_databases)


@pytest.fixture(scope="module")
def server(corpus_dir: Path, module_databases: dict[str, str]) -> Iterator[Server]:
    running = start_server(corpus_dir, env=module_databases)
    try:
        yield running
    finally:
        stop_process(running.process)


@pytest.fixture
def fresh_server(data_dir: Path) -> Iterator[Server]:
    running = start_server(data_dir)
    try:
        yield running
    finally:
        stop_process(running.process)


def served_count(data_dir: Path) -> int:
    from analyzer.client.forward import ask

    reply = ask(str(data_dir), {"type": "status"})
    assert reply is not None
    return int(reply["commands_served"])


# --- the same output, through the server or not ------------------------------------------

VOLATILE_KEYS = {"seconds", "ingest_seconds", "latency_p50_ms", "latency_p95_ms"}


def without_timings(data: object) -> object:
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if k not in VOLATILE_KEYS}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data


SAME_BYTES = [
    ("query", "how long to cool a burn under running water"),
    ("query", "blossom end rot", "--mode", "keyword", "--explain"),
    ("query", "keeping track of spending", "--mode", "semantic", "--chunks"),
    ("query", "flour water salt", "--path", "kitchen/*", "--top-k", "3"),
    ("similar", "kitchen/bread-basics.md"),
    ("similar", "kitchen/bread-basics.md", "--json"),
    ("show", "money/emergency-fund.md"),
    ("show", "money/emergency-fund.md", "--json"),
    ("keywords",),
    ("keywords", "hobbies/chess/italian-game.docx", "--json"),
    ("topics", "--k", "3"),
    ("topics", "--json"),
    ("duplicates",),
    ("duplicates", "--csv"),
    ("similar", "kitchen/bread-basics.md", "-k", "3", "--tsv"),
    ("topics", "-k", "3", "--nl"),
    ("documents", "-p", "money/*"),
]


@pytest.mark.parametrize("args", SAME_BYTES, ids=lambda a: " ".join(a))
def test_a_command_prints_the_same_bytes_through_the_server(
    server: Server, args: tuple[str, ...]
) -> None:
    before = served_count(server.data_dir)
    through = analyzer(server.data_dir, *args)
    here = analyzer(server.data_dir, *args, server=False)
    assert served_count(server.data_dir) == before + 1  # the first really went through it
    assert (through.returncode, through.stdout, through.stderr) == (
        here.returncode,
        here.stdout,
        here.stderr,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("query", "burn", "--json"),
        ("query", "burn", "--mode", "keyword", "--json"),
        ("duplicates", "--json"),
    ],
    ids=lambda a: " ".join(a),
)
def test_json_is_the_same_but_for_the_time_it_took(server: Server, args: tuple[str, ...]) -> None:
    through = analyzer(server.data_dir, *args)
    here = analyzer(server.data_dir, *args, server=False)
    assert through.returncode == here.returncode == 0
    assert without_timings(json.loads(through.stdout)) == without_timings(json.loads(here.stdout))


def test_db_status_and_an_unchanged_ingest_match_but_for_sizes_times_and_runs(
    server: Server,
) -> None:
    for args in (("db-status", "--json"), ("ingest", str(SAMPLE_DOCS), "--json")):
        through = json.loads(analyzer(server.data_dir, *args).stdout)
        here = json.loads(analyzer(server.data_dir, *args, server=False).stdout)
        for report in (through, here):
            report.pop("last_runs", None)
            for db in report.get("databases", []):
                db.pop("size_bytes"), db.pop("wal_bytes")
                db["tables"] = [t for t in db["tables"] if t["name"] != "command_runs"]
        assert without_timings(through) == without_timings(here)


def test_eval_prints_the_same_scores_through_the_server(server: Server, tmp_path: Path) -> None:
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    docs = {"d1": "Cool a burn under running water.", "d2": "Knead bread dough.", "d3": "Tides."}
    (beir / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items())
    )
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "burn water"}) + "\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    through = analyzer(server.data_dir, "eval", str(beir), "--json")
    here = analyzer(server.data_dir, "eval", str(beir), "--json", server=False)
    assert through.returncode == here.returncode == 0, through.stderr
    assert without_timings(json.loads(through.stdout)) == without_timings(json.loads(here.stdout))


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("query", "bread", "--collection", "nope"), 1),
        (("show", "no-such-document.md"), 1),
        (("query", "   "), 2),
        (("query", "x", "--mode", "fuzzy"), 2),
        (("topics", "--k", "many"), 2),
        (("ingest", "no/such/folder"), 2),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, tuple) else str(a),
)
def test_errors_have_the_same_line_and_exit_code(
    server: Server, args: tuple[str, ...], code: int
) -> None:
    through = analyzer(server.data_dir, *args)
    here = analyzer(server.data_dir, *args, server=False)
    assert through.returncode == here.returncode == code
    assert (through.stdout, through.stderr) == (here.stdout, here.stderr)


def test_relative_paths_are_the_clients(server: Server, tmp_path: Path) -> None:
    kitchen = SAMPLE_DOCS / "kitchen"
    through = analyzer(server.data_dir, "query", "sourdough", "--top-k", "2", cwd=kitchen)
    here = analyzer(
        server.data_dir, "query", "sourdough", "--top-k", "2", cwd=kitchen, server=False
    )
    assert through.stdout == here.stdout and b"sourdough-starter.txt" in through.stdout
    shown = analyzer(server.data_dir, "show", "./sourdough-starter.txt", "--json", cwd=kitchen)
    assert json.loads(shown.stdout)["document"] == str(kitchen / "sourdough-starter.txt")


def test_the_client_imports_nothing_heavy_when_a_server_answers(server: Server) -> None:
    probe = (
        "import atexit, sys\n"
        "heavy = ('typer', 'sqlalchemy', 'numpy', 'rich')\n"
        "atexit.register(lambda: sys.stderr.write('loaded:' + ','.join("
        "m for m in heavy if m in sys.modules)))\n"
        "sys.argv = ['analyzer', *sys.argv[1:]]\n"
        "from analyzer.client.main import main\n"
        "main()\n"
    )
    args = ["--data-dir", str(server.data_dir), "query", "burn", "--mode", "keyword"]
    for environ, expected in (({}, b"loaded:"), ({"ANALYZER_SERVER": "off"}, b"typer")):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True,
            env={**os.environ, **environ},
            cwd=REPO,
            timeout=TIMEOUT_S,
        )
        assert done.returncode == 0, done.stderr
        tail = done.stderr.rsplit(b"loaded:", 1)[-1]
        if expected == b"loaded:":
            assert tail == b""  # nothing heavy
        else:
            assert expected in tail  # the probe sees imports when there are some


def test_no_server_and_analyzer_server_off_run_here(server: Server) -> None:
    before = served_count(server.data_dir)
    assert analyzer(server.data_dir, "--no-server", "db-status").returncode == 0
    assert analyzer(server.data_dir, "db-status", "--no-server").returncode == 0
    assert analyzer(server.data_dir, "db-status", server=False).returncode == 0
    assert served_count(server.data_dir) == before


def test_global_options_after_the_command_go_through_the_server(server: Server) -> None:
    before = served_count(server.data_dir)
    args = [sys.executable, "-m", "analyzer", "documents", "-j", "--data-dir", str(server.data_dir)]
    through = subprocess.run(args, capture_output=True, cwd=REPO, timeout=TIMEOUT_S)
    here = analyzer(server.data_dir, "documents", "-j", server=False)
    assert served_count(server.data_dir) == before + 1
    assert through.returncode == 0 and through.stdout == here.stdout


def test_help_and_batch_from_stdin_run_here(server: Server) -> None:
    before = served_count(server.data_dir)
    helped = analyzer(server.data_dir, "query", "-h")
    assert helped.returncode == 0 and b"Examples:" in helped.stdout
    queries = b'flour water salt\n{"_id": "q7", "text": "emergency fund"}\n'
    command = [sys.executable, "-m", "analyzer", "query", "--batch", "-", "-k", "2"]
    piped = subprocess.run(
        [*command, "--data-dir", str(server.data_dir)],
        input=queries,
        capture_output=True,
        cwd=REPO,
        timeout=TIMEOUT_S,
    )
    assert piped.returncode == 0, piped.stderr
    assert [json.loads(line)["query_id"] for line in piped.stdout.splitlines()] == ["1", "q7"]
    assert served_count(server.data_dir) == before  # the server has no stdin to read


def test_a_bad_analyzer_server_value_is_one_line(tmp_path: Path) -> None:
    done = analyzer(tmp_path / "data", "db-status", env={"ANALYZER_SERVER": "sometimes"})
    assert done.returncode == 1
    assert done.stderr.decode().count("\n") == 1 and "ANALYZER_SERVER" in done.stderr.decode()


# --- fresh data ---------------------------------------------------------------------------


def test_a_query_sees_an_ingest_another_process_just_finished(
    fresh_server: Server, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tides.txt").write_text("The tide follows the moon.\n")
    assert analyzer(fresh_server.data_dir, "ingest", str(docs), server=False).returncode == 0
    first = analyzer(fresh_server.data_dir, "query", "heron", "--mode", "keyword", "--json")
    assert json.loads(first.stdout)["results"] == []
    (docs / "heron.txt").write_text("A grey heron waits by the pond.\n")
    assert analyzer(fresh_server.data_dir, "ingest", str(docs), server=False).returncode == 0
    for mode in ("keyword", "semantic", "hybrid"):
        found = analyzer(fresh_server.data_dir, "query", "heron", "--mode", mode, "--json")
        names = [Path(r["document"]).name for r in json.loads(found.stdout)["results"]]
        assert names[:1] == ["heron.txt"], mode


def test_queries_run_concurrently_with_an_ingest_in_another_process(
    server: Server, tmp_path: Path
) -> None:
    folder = write_notes(tmp_path / "many", 600)
    ingest = subprocess.Popen(
        [sys.executable, "-m", "analyzer", "--data-dir", str(server.data_dir), "--no-server"]
        + ["ingest", str(folder), "--collection", "notes", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with ThreadPoolExecutor(4) as pool:
            runs = list(
                pool.map(
                    lambda q: analyzer(server.data_dir, "query", q, "--json"),
                    ["burn", "bread", "tomato", "chess", "stars", "money", "rain", "bike"] * 2,
                )
            )
        out, err = ingest.communicate(timeout=TIMEOUT_S)
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait()
    assert ingest.returncode == 0, err
    assert json.loads(out)["new"] == 600
    assert [r.returncode for r in runs] == [0] * len(runs)
    assert all(json.loads(r.stdout)["results"] for r in runs)


# --- lifecycle ----------------------------------------------------------------------------


def test_the_socket_is_owner_only_and_a_second_server_is_refused(server: Server) -> None:
    mode = stat.S_IMODE(os.stat(server.data_dir / locate.SOCKET_NAME).st_mode)
    assert mode == 0o600
    second = analyzer(server.data_dir, "serve", "--foreground")
    assert second.returncode == 1
    message = second.stderr.decode()
    assert message.count("\n") == 1 and f"pid {server.pid}" in message


def test_a_data_dir_others_can_write_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "shared"
    data.mkdir()
    data.chmod(0o777)
    done = analyzer(data, "serve", "--foreground")
    assert done.returncode == 1 and b"chmod go-w" in done.stderr
    assert not (data / locate.SOCKET_NAME).exists()


def test_status_and_stop(fresh_server: Server) -> None:
    status = analyzer(fresh_server.data_dir, "serve", "--status", "--json")
    assert status.returncode == 0
    reply = json.loads(status.stdout)
    assert reply["running"] and reply["pid"] == fresh_server.pid
    assert reply["version"] == __version__
    stopped = analyzer(fresh_server.data_dir, "serve", "--stop")
    assert stopped.returncode == 0 and f"pid {fresh_server.pid}".encode() in stopped.stdout
    assert fresh_server.process.wait(timeout=30) == 0
    assert not (fresh_server.data_dir / locate.SOCKET_NAME).exists()
    gone = analyzer(fresh_server.data_dir, "serve", "--status")
    assert gone.returncode == 1 and b"not running" in gone.stdout
    assert b"analyzer serve stopped" not in gone.stderr


def test_the_server_stops_by_itself_when_idle(tmp_path: Path) -> None:
    running = start_server(tmp_path / "data", "--idle-timeout", "1s")
    try:
        assert running.process.wait(timeout=30) == 0
    finally:
        stop_process(running.process)
    assert not (tmp_path / "data" / locate.SOCKET_NAME).exists()
    assert "idle for 1 s" in (tmp_path / "data" / locate.LOG_NAME).read_text()


def test_serve_detaches_and_returns(tmp_path: Path) -> None:
    data = tmp_path / "data"
    notes = tmp_path / "home" / "notes"
    notes.mkdir(parents=True)
    home = {"HOME": str(tmp_path / "home")}
    started = analyzer(data, "serve", "--idle-timeout", "10m", "--watch", "~/notes", env=home)
    try:
        assert started.returncode == 0, started.stderr
        pid = int(re.search(rb"pid (\d+)", started.stdout).group(1))
        assert locate.server_alive(str(data))
        assert analyzer(data, "db-status").returncode == 0
        status = json.loads(analyzer(data, "serve", "--status", "--json").stdout)
        assert status["watch"]["paths"] == [str(notes)]  # "~" is the user's, as in the foreground
    finally:
        stopped = analyzer(data, "serve", "--stop")
    assert stopped.returncode == 0 and str(pid).encode() in stopped.stdout
    assert not locate.server_alive(str(data))


def test_sigterm_lets_a_running_command_finish(fresh_server: Server, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(300):
        (folder / f"n{i}.txt").write_text(f"Note {i} about the tides.\n")
    client = subprocess.Popen(
        [sys.executable, "-m", "analyzer", "--data-dir", str(fresh_server.data_dir)]
        + ["ingest", str(folder), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: served_running(fresh_server.data_dir) > 0)
        fresh_server.process.send_signal(signal.SIGTERM)
        out, err = client.communicate(timeout=TIMEOUT_S)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == 0, err
    assert json.loads(out)["new"] == 300
    assert fresh_server.process.wait(timeout=30) == 0


def served_running(data_dir: Path) -> int:
    from analyzer.client.forward import ask

    reply = ask(str(data_dir), {"type": "status"})
    return int(reply["commands_running"]) if reply else 0


def wait_until(condition: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    pytest.fail("condition not met in time")


# --- stale, killed and foreign servers ------------------------------------------------------


def test_a_socket_left_by_a_dead_server_is_removed_and_the_command_runs_here(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(data / locate.SOCKET_NAME))
    leftover.close()  # the file stays; nobody listens
    done = analyzer(data, "db-status", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["databases"]
    assert not (data / locate.SOCKET_NAME).exists()


def test_kill_9_mid_request_falls_back_and_leaves_the_data_intact(tmp_path: Path) -> None:
    data = tmp_path / "data"
    running = start_server(data)
    folder = write_notes(tmp_path / "many", 1500)
    try:
        client = subprocess.Popen(
            [sys.executable, "-m", "analyzer", "--data-dir", str(data), "ingest", str(folder)]
            + ["--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        wait_until(lambda: served_running(data) > 0)
        database = data / "semantic_core.db"
        wait_until(lambda: count_rows(database, "documents") > 0)
        running.process.kill()
        out, err = client.communicate(timeout=TIMEOUT_S)
    finally:
        stop_process(running.process)
    assert client.returncode == 0, err  # nothing had been printed: it ran here instead
    assert_ingest_finished_whole(database, json.loads(out), 1500)
    assert not (data / locate.SOCKET_NAME).exists()  # the stale socket went with the fallback


class FakeServer:
    """A stdlib socket server that answers every request the same way."""

    def __init__(self, data_dir: Path, answer: list[bytes]) -> None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = data_dir / locate.SOCKET_NAME
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.path))
        self.listener.listen()
        self.answer = answer
        self.requests: list[dict] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                received = FrameReader(conn).read()
                if received is not None:
                    self.requests.append(decode_json(received[1]))
                for data in self.answer:
                    conn.sendall(data)

    def close(self) -> None:
        self.listener.close()
        self.path.unlink(missing_ok=True)


def test_a_server_of_another_version_is_not_used(tmp_path: Path) -> None:
    data = tmp_path / "data"
    declined = json_frame(DECLINED, {"reason": "the server runs analyzer 9.9"})
    fake = FakeServer(data, [declined])
    try:
        done = analyzer(data, "db-status", "--json")
    finally:
        fake.close()
    assert done.returncode == 0 and json.loads(done.stdout)["databases"]
    assert fake.requests and fake.requests[0]["version"] == __version__


def test_the_real_server_declines_another_version(server: Server) -> None:
    request = {"type": "run", "version": "0.0.1", "argv": ["db-status"], "cwd": "/"}
    request |= {"data_dir": str(server.data_dir), "env": {}}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(server.data_dir / locate.SOCKET_NAME))
        conn.sendall(json_frame(REQUEST, request))
        kind, payload = FrameReader(conn).read()
    assert kind == DECLINED and __version__ in decode_json(payload)["reason"]


def test_a_server_that_dies_after_printing_gives_one_clear_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    accepted = json_frame(ACCEPTED, {"pid": 4242, "version": __version__})
    from analyzer.client.protocol import frame

    fake = FakeServer(data, [accepted, frame(STDOUT, b"partial output\n")])
    try:
        done = analyzer(data, "db-status")
    finally:
        fake.close()
    assert done.returncode == 1
    assert done.stdout == b"partial output\n"
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and "pid 4242" in lines[0] and "run the command again" in lines[0]


def test_exit_codes_come_from_the_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    answer = [
        json_frame(ACCEPTED, {"pid": 1, "version": __version__}),
        json_frame(EXIT, {"code": 3}),
    ]
    fake = FakeServer(data, answer)
    try:
        done = analyzer(data, "db-status")
    finally:
        fake.close()
    assert done.returncode == 3


def test_auto_starts_a_server_for_the_next_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    try:
        first = analyzer(data, "db-status", "--json", env={"ANALYZER_SERVER": "auto"})
        assert first.returncode == 0
        wait_until(lambda: (data / locate.SOCKET_NAME).exists() and served_count_or_none(data))
        before = served_count(data)
        assert analyzer(data, "db-status", env={"ANALYZER_SERVER": "auto"}).returncode == 0
        assert served_count(data) == before + 1
    finally:
        analyzer(data, "serve", "--stop")
    assert not locate.server_alive(str(data))


def served_count_or_none(data_dir: Path) -> bool:
    from analyzer.client.forward import ask

    return ask(str(data_dir), {"type": "status"}) is not None


def test_a_long_data_dir_path_still_gets_a_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("very-long-folder-name-" * 6) / "data"
    running = start_server(deep)
    try:
        assert len(str(deep / locate.SOCKET_NAME)) > 108
        assert served_count(deep) == 0
        assert analyzer(deep, "db-status").returncode == 0
        assert served_count(deep) == 1
    finally:
        stop_process(running.process)
    shutil.rmtree(tmp_path / ("very-long-folder-name-" * 6))


def test_stdout_and_stderr_interleave_as_they_do_here(server: Server, tmp_path: Path) -> None:
    """A batch whose second query is empty: its error line comes where it comes here."""
    batch = tmp_path / "queries.jsonl"
    lines = [{"_id": "q1", "text": "bread flour"}, {"_id": "q2", "text": "   "}]
    batch.write_text("".join(json.dumps(line) + "\n" for line in lines))
    args = ["--data-dir", str(server.data_dir), "query", "--batch", str(batch), "--mode", "keyword"]
    runs = []
    for environ in ({}, {"ANALYZER_SERVER": "off"}):
        runs.append(
            subprocess.run(
                [sys.executable, "-m", "analyzer", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env={**os.environ, **environ},
                cwd=REPO,
                timeout=TIMEOUT_S,
            )
        )
    through, here = runs
    assert here.returncode == 2 and b"empty" in here.stdout  # the error is there to order
    assert (through.returncode, through.stdout) == (here.returncode, here.stdout)


def test_a_cancelled_invocation_starts_no_work() -> None:
    import asyncio as aio

    from analyzer.server.commands import CommandRunner, Invocation, LoopContext
    from analyzer.ui import Terminal

    invocation = Invocation()
    invocation.cancel()
    runner = CommandRunner(command=None, context=None)  # type: ignore[arg-type]
    outcome = runner.invoke(["db-status"], "/", Terminal(sys.stdout, sys.stderr), invocation)
    assert outcome.code == 130

    async def scenario() -> bool:
        loop = aio.get_running_loop()
        started = []

        async def work() -> None:
            started.append(True)

        context = LoopContext(app=None, loop=loop)  # type: ignore[arg-type]
        from analyzer.server import commands

        token = commands._CURRENT.set(invocation)
        try:
            await aio.to_thread(lambda: _run_and_catch(context, work()))
        finally:
            commands._CURRENT.reset(token)
        return bool(started)

    assert aio.run(scenario()) is False


def _run_and_catch(context: object, coroutine: object) -> None:
    import concurrent.futures

    with pytest.raises((concurrent.futures.CancelledError, Exception)):
        context.run(coroutine)  # type: ignore[attr-defined]
