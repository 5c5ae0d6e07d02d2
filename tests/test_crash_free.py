"""Bad input at the front doors ends in one error and an exit code, never a traceback: bytes
that are not UTF-8, NULs and surrogates no command line holds, integers past any column,
an empty --data-dir, commands a server must not run, and MCP lines the SDK cannot read."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import queue
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from analyzer import __version__
from analyzer.client import locate
from analyzer.client.command_line import forwardable, read_command_line
from analyzer.client.protocol import DECLINED, REQUEST, FrameReader, decode_json, json_frame
from analyzer.settings import default_data_dir, resolve_settings
from tests.helpers import FakeModels, cli, one_line_error

NOT_UTF8 = os.fsdecode(b"caf\xe9.txt")  # as Python gives a file name's bytes: 'caf\udce9.txt'


@pytest.fixture
def corpus(data_dir: Path, tmp_path: Path, fake_models: FakeModels) -> Path:
    """Two documents, one whose file name is not UTF-8, ingested with the fake models."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bread.txt").write_text("Bread flour yeast\n\nKnead the dough.\n")
    (docs / NOT_UTF8).write_text("Coffee and cake\n\nThe cafe opens at eight.\n")
    done = cli("--data-dir", str(data_dir), "ingest", str(docs), models=fake_models)
    assert done.exit_code == 0, done.output
    return data_dir


def run(data_dir: Path, *args: str, models: FakeModels) -> Result:
    return cli("--data-dir", str(data_dir), *args, models=models)


def assert_usage_error(result: Result, *fragments: str) -> None:
    """Exit 2 with the usage message, which holds every fragment; no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    flat = " ".join(result.stderr.replace("│", " ").split())  # the message as one line
    for fragment in fragments:
        assert fragment in flat, flat


# --- bytes that are not UTF-8 ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
def test_a_query_with_bytes_that_are_not_utf8_is_searched_without_them(
    corpus: Path, fake_models: FakeModels, mode: str
) -> None:
    fake_models.rerank.encoded.clear()
    done = run(
        corpus, "query", os.fsdecode(b"\xff bread"), "--mode", mode, "--json", models=fake_models
    )
    assert done.exit_code == 0, done.output
    found = json.loads(done.stdout)
    assert found["query"] == "\ufffd bread"
    assert found["results"] and found["results"][0]["document"].endswith("bread.txt")
    # What reached a model is text a tokenizer takes: no surrogate (a real one raised
    # TypeError on '\udcff').
    encoded = [t for e in fake_models.embedders.values() for t in e.encoded]
    encoded += fake_models.rerank.encoded
    if mode != "keyword":
        assert "\ufffd bread" in encoded
    assert not any("\udc80" <= c <= "\udcff" for text in encoded for c in text)


def test_batch_queries_are_searched_without_surrogates(
    corpus: Path, fake_models: FakeModels, tmp_path: Path
) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"_id": "q1", "text": "\\ud800 bread"}\n', encoding="utf-8")
    done = run(corpus, "query", "--batch", str(queries), models=fake_models)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["query"] == "\ufffd bread"
    encoded = [t for e in fake_models.embedders.values() for t in e.encoded]
    assert not any("\ud800" <= c <= "\udfff" for text in encoded for c in text)


def test_a_query_file_that_is_not_utf8_is_one_line(
    corpus: Path, fake_models: FakeModels, tmp_path: Path
) -> None:
    queries = tmp_path / "queries.txt"
    queries.write_bytes(b"bread\n\xff flour\n")
    done = run(corpus, "query", "--batch", str(queries), models=fake_models)
    one_line_error(done, 1, "queries.txt is not UTF-8 text")
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text('{"_id": "d1", "title": "t", "text": "bread flour"}\n')
    (beir / "queries.jsonl").write_bytes(b'{"_id": "q1", "text": "\xff bread"}\n')
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    done = run(corpus, "eval", str(beir), models=fake_models)
    one_line_error(done, 1, "beir is not UTF-8 text")


def test_a_document_named_with_bytes_that_are_not_utf8_is_found(
    corpus: Path, fake_models: FakeModels
) -> None:
    for args in (
        ("show", NOT_UTF8, "--json"),
        ("show", NOT_UTF8, "--text"),
        ("keywords", NOT_UTF8, "--json"),
    ):
        done = run(corpus, *args, models=fake_models)
        assert done.exit_code == 0, done.output
    shown = run(corpus, "show", NOT_UTF8, "--json", models=fake_models)
    assert json.loads(shown.stdout)["document"].endswith("caf\U0010fee9.txt")


def test_a_document_that_is_not_there_and_not_utf8_is_one_line(
    corpus: Path, fake_models: FakeModels
) -> None:
    for command in ("similar", "show", "keywords", "remove"):
        done = run(corpus, command, os.fsdecode(b"\xff"), models=fake_models)
        one_line_error(done, 1, "no document")


def test_a_collection_name_that_is_not_utf8_is_a_usage_error(
    corpus: Path, fake_models: FakeModels
) -> None:
    name = os.fsdecode(b"k\xfcche")
    for args in (
        ("query", "bread", "-c", name),
        ("documents", "-c", name),
        ("similar", "bread.txt", "-c", name),
        ("collections", "drop", name, "--yes"),
    ):
        assert_usage_error(run(corpus, *args, models=fake_models), "k\\xfcche", "not UTF-8")


@pytest.mark.parametrize("text", ["a\0b", "\ud800 bread", "bread\udfff"])
def test_what_no_command_line_holds_is_a_usage_error(
    corpus: Path, fake_models: FakeModels, text: str
) -> None:
    """A NUL, or a surrogate that stands for no byte, reaches only through a server's
    request (the socket, MCP): refused before any command sees it."""
    for args in (
        ("query", text),
        ("show", text),
        ("query", "x", "-p", text),
        ("ingest", text),
        ("eval", text),
        ("query", "x", "-c", text),
    ):
        assert_usage_error(run(corpus, *args, models=fake_models), "no command line can carry")


def test_a_path_the_file_system_cannot_look_up_is_a_usage_error(
    corpus: Path, fake_models: FakeModels, tmp_path: Path
) -> None:
    """A name too long for the file system raised OSError from Path.exists()."""
    long = "a" * 5000
    for args in (
        ("ingest", long),
        ("eval", long),
        ("query", "--batch", long),
        ("ingest", str(tmp_path), "--model", long),
    ):
        assert_usage_error(
            run(corpus, *args, models=fake_models), "cannot be read", "(5000 characters)"
        )


def test_names_with_surrogates_that_stand_for_no_byte_are_shown() -> None:
    from analyzer.paths import shown

    assert shown("caf\udce9 \ud800 \U0010fee9") == "caf\\xe9 \\ud800 \\xe9"


# --- integers past any column ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("query", "bread", "--top-k", "9223372036854775808"), "--top-k"),
        (("query", "bread", "--top-k", "1001"), "--top-k"),
        (("similar", "bread.txt", "-k", "99999999999999999999"), "--top-k"),
        (("show", "bread.txt", "--lines", "1-99999999999999999999"), "--lines"),
        (("show", "bread.txt", "--lines", "99999999999999999999"), "--lines"),
        (("show", "bread.txt", "--page", "9223372036854775808"), "--page"),
    ],
)
def test_an_integer_past_its_bound_is_a_usage_error(
    corpus: Path, fake_models: FakeModels, args: tuple[str, ...], option: str
) -> None:
    assert_usage_error(run(corpus, *args, models=fake_models), option)


def test_the_largest_values_allowed_still_run(corpus: Path, fake_models: FakeModels) -> None:
    assert run(corpus, "query", "bread", "--top-k", "1000", models=fake_models).exit_code == 0
    done = run(corpus, "show", "bread.txt", "--lines", "1-2147483647", models=fake_models)
    assert done.exit_code == 0 and "Knead the dough." in done.stdout


# --- the data directory -------------------------------------------------------------------


def test_an_empty_data_dir_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (
        ("--data-dir", "", "db-status"),
        ("db-status", "--data-dir="),
    ):
        assert_usage_error(cli(*args), "--data-dir", "names no directory")
    assert not any(tmp_path.iterdir())  # nothing made in the working directory
    assert not forwardable(read_command_line(["--data-dir", "", "db-status"]))


def test_a_data_dir_the_file_system_cannot_look_up_is_one_line(tmp_path: Path) -> None:
    long = str(tmp_path / ("a" * 5000))
    one_line_error(cli("--data-dir", long, "documents"), 1, "cannot use data directory")
    done = cli("documents", env={"ANALYZER_DATA_DIR": long})
    one_line_error(done, 1, "(5", "characters): File name too long")


def test_an_empty_analyzer_data_dir_means_unset() -> None:
    environ = {"ANALYZER_DATA_DIR": ""}
    assert resolve_settings(None, environ).data_dir == default_data_dir()
    assert locate.data_dir_from(None, environ) == str(default_data_dir().absolute())


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_a_busy_timeout_that_is_no_number_of_seconds_is_one_line(
    corpus: Path, fake_models: FakeModels, value: str
) -> None:
    done = cli(
        "--data-dir",
        str(corpus),
        "documents",
        env={"ANALYZER_BUSY_TIMEOUT": value},
        models=fake_models,
    )
    one_line_error(done, 1, "ANALYZER_BUSY_TIMEOUT", "is not a number")


# --- the server runs only what a client forwards -----------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--foreground"],
        ["mcp"],
        ["query", "x", "--help"],
        ["query", "--batch", "-"],
        ["--version"],
        [],
        ["--data-dir", "", "db-status"],
    ],
)
def test_what_the_client_runs_itself_is_not_forwardable(argv: list[str]) -> None:
    assert not forwardable(read_command_line(argv))


@pytest.mark.slow
def test_the_server_declines_what_a_client_would_not_forward(data_dir: Path) -> None:
    """``serve --foreground`` or ``mcp`` sent to the socket ran inside the server (it booted
    a second context in another data directory); now it is declined, and what a client
    forwards is still accepted."""
    from analyzer.client.protocol import ACCEPTED
    from tests.test_server import start_server, stop_process

    def first_reply(argv: object, **fields: object) -> tuple[bytes, dict[str, Any]]:
        request = {"type": "run", "version": __version__, "argv": argv, "cwd": "/"}
        settings = {k: v for k, v in os.environ.items() if k.startswith("ANALYZER_")}
        request |= {"data_dir": str(data_dir), "env": settings, **fields}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(data_dir / locate.SOCKET_NAME))
            conn.sendall(json_frame(REQUEST, request))
            kind, payload = FrameReader(conn).read()
        return kind, decode_json(payload)

    running = start_server(data_dir)
    try:
        for argv in (["serve", "--foreground"], ["mcp"], ["serve", "--stop"], ["--version"]):
            kind, reply = first_reply(argv)
            assert kind == DECLINED and "only the commands a client forwards" in reply["reason"]
        kind, reply = first_reply("db-status")
        assert kind == DECLINED and "list of strings" in reply["reason"]
        assert first_reply(["db-status"])[0] == ACCEPTED
        malformed = [
            {"env": ["ANALYZER_X"]},
            {"cwd": "/tmp\0"},
            {"tty": "yes"},
            {"size": [80, -1]},
            {"encoding": {"stdout": ["rot13", "strict"]}},
            {"encoding": {"stderr": ["utf-8", "no-such-handler"]}},
        ]
        for fields in malformed:
            kind, reply = first_reply(["db-status"], **fields)
            assert kind == DECLINED and " is not " in reply["reason"], fields
        assert running.process.poll() is None
    finally:
        stop_process(running.process)


# --- MCP: every line gets an answer ---------------------------------------------------------


def test_mcp_answers_lines_the_sdk_cannot_read() -> None:
    from analyzer.server.mcp import refusal_of

    def answer(line: str) -> dict:
        refusal = refusal_of(line)
        assert refusal is not None, line
        return json.loads(refusal)

    assert answer("not json")["error"]["code"] == -32700
    assert answer("not json")["id"] is None
    lone = (
        '{"jsonrpc": "2.0", "id": 7, "method": "tools/call", '
        '"params": {"name": "search", "arguments": {"query": "\\ud800"}}}'
    )
    assert answer(lone)["id"] == 7 and answer(lone)["error"]["code"] == -32602
    assert answer("[1, 2]")["error"]["code"] == -32600
    assert answer('{"id": "x", "method": 3}')["id"] == "x"
    good = '{"jsonrpc": "2.0", "id": 1, "method": "ping"}'
    assert refusal_of(good) is None


class McpLines:
    """``analyzer mcp`` in this process, with the fake models: lines in, one answer each out,
    as a client writes and reads them on the process's stdin and stdout."""

    TIMEOUT_S = 60.0

    def __init__(self, data_dir: Path, models: FakeModels) -> None:
        self._data_dir = str(data_dir)
        self._models = models
        self._ids = itertools.count(1)
        self._answers: queue.Queue[dict[str, Any]] = queue.Queue()
        self._loop = asyncio.new_event_loop()
        self._incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> McpLines:
        self._thread.start()
        self._served = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}}
        hello["clientInfo"] = {"name": "test", "version": "1"}
        assert "result" in self.request("initialize", hello)
        self._put(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._put(None)
            self._served.result(self.TIMEOUT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self.TIMEOUT_S)
            self._loop.close()

    def send(self, line: str | bytes) -> dict[str, Any]:
        """Write one line (bytes as the SDK reads them: UTF-8, bad bytes replaced); its answer."""
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        self._put(text)
        return self._answers.get(timeout=self.TIMEOUT_S)

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        message = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        answer = self.send(json.dumps(message))  # a lone surrogate goes out as \\udXXX
        assert answer.get("id") == message["id"], (message, answer)  # its own answer, once
        return answer

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.request("tools/call", {"name": tool, "arguments": arguments})

    def _put(self, line: str | None) -> None:
        self._loop.call_soon_threadsafe(self._incoming.put_nowait, line)

    async def _serve(self) -> None:
        import typer

        from analyzer.cli.app import app
        from analyzer.server.mcp import CommandBackend, build_tools, serve_lines
        from tests.helpers import overrides_for

        command = typer.main.get_command(app)
        backend = CommandBackend(self._data_dir, command, overrides_for(self._models))
        try:
            await serve_lines(build_tools(backend), self._lines(), _Answers(self._answers))
        finally:
            await backend.close()

    async def _lines(self) -> AsyncIterator[str]:
        while (line := await self._incoming.get()) is not None:
            yield line + "\n"


class _Answers:
    """The server's stdout: each whole line it writes, parsed, into ``answers``."""

    def __init__(self, answers: queue.Queue[dict[str, Any]]) -> None:
        self._answers = answers
        self._pending = ""

    async def write(self, text: str) -> None:
        *whole, self._pending = (self._pending + text).split("\n")
        for line in whole:
            self._answers.put(json.loads(line))

    async def flush(self) -> None:
        return None


@pytest.fixture
def mcp_session(corpus: Path, fake_models: FakeModels) -> Iterator[McpLines]:
    with McpLines(corpus, fake_models) as session:
        yield session


def test_mcp_answers_every_line_and_prints_no_traceback(
    mcp_session: McpLines, caplog: pytest.LogCaptureFixture
) -> None:
    session = mcp_session
    replies = [
        session.send("not json"),
        session.send(b'{"jsonrpc": "2.0", "id": 5, "method": "ping", "params": {"a": "\xff"}}'),
        session.call("search", {"query": "\ud800 bread"}),
        session.call("get_document", {"document": "a\0b.txt"}),
        session.call("similar", {"document": "bread.txt", "top_k": 2**80}),
        session.call("get_document", {"document": "bread.txt", "lines": "1-99999999999999999999"}),
        session.call("search", {"query": "bread", "top_k": 2}),
    ]
    parse, undecodable, surrogate, nul, huge, lines, fine = replies
    assert parse["error"]["code"] == -32700
    assert "result" in undecodable  # bytes that are not UTF-8 are read as U+FFFD
    assert surrogate["error"]["code"] == -32602
    assert nul["result"]["isError"]
    assert "document holds a NUL character" in nul["result"]["content"][0]["text"]
    assert huge["result"]["isError"] and "--top-k" in huge["result"]["content"][0]["text"]
    assert lines["result"]["isError"] and "--lines" in lines["result"]["content"][0]["text"]
    assert not fine["result"]["isError"]
    assert fine["result"]["structuredContent"]["results"]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_mcp_without_stdin_is_one_line(tmp_path: Path) -> None:
    """Started with stdin closed, the transport once diverted whatever descriptor took fd 0
    (the event loop's own) and ended in a traceback."""
    import subprocess
    import sys

    from tests.helpers import REPO

    done = subprocess.run(
        [sys.executable, "-m", "analyzer", "--data-dir", str(tmp_path / "data"), "mcp"],
        preexec_fn=lambda: os.close(0),  # noqa: PLW1509 - only closes a descriptor
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.decode().startswith("error: analyzer mcp speaks on stdin and stdout")
    assert b"Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1


def test_a_closed_standard_output_is_one_line(tmp_path: Path) -> None:
    """``analyzer documents >&-``: sys.stdout is None, and writing to it was an
    AttributeError traceback."""
    import subprocess
    import sys

    from tests.helpers import REPO

    done = subprocess.run(
        [sys.executable, "-m", "analyzer", "--data-dir", str(tmp_path / "data"), "documents"],
        preexec_fn=lambda: os.close(1),  # noqa: PLW1509 - only closes a descriptor
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "ANALYZER_SERVER": "off"},
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "error: standard output is closed; give analyzer somewhere to write, e.g. >/dev/null\n"
    )
