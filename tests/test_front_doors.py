"""The server's other front doors, each through a real client: HTTP (httpx), MCP (the SDK's
own stdio client) and --watch (files created, changed and deleted)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import REPO
from tests.test_server import (
    Server,
    analyzer,
    ingested_sample_docs,
    start_server,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def module_databases(new_databases: Callable[[str], dict[str, str]]) -> dict[str, str]:
    """The databases of this module's shared data directory, on the backend under test."""
    return new_databases("front_doors")


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory, module_databases: dict[str, str]) -> Path:
    return ingested_sample_docs(tmp_path_factory, "front-doors", module_databases)


@pytest.fixture(scope="module")
def http_server(
    corpus_dir: Path, module_databases: dict[str, str]
) -> Iterator[tuple[Server, httpx.Client]]:
    """A server with the HTTP API on loopback, and a client that sends its token."""
    port = free_port()
    running = start_server(corpus_dir, "--http", f"127.0.0.1:{port}", env=module_databases)
    try:
        with token_client(f"http://127.0.0.1:{port}", corpus_dir) as api:
            yield running, api
    finally:
        stop_process(running.process)


def token_client(url: str, data_dir: Path) -> httpx.Client:
    """A client that sends the token the server keeps owner-only in its data directory."""
    token = (data_dir / "http.token").read_text().strip()
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"})


# --- HTTP -----------------------------------------------------------------------------------


def test_search_returns_what_query_json_prints(http_server: tuple[Server, httpx.Client]) -> None:
    server, api = http_server
    answer = api.get("/search", params={"q": "blossom end rot", "top_k": 3})
    assert answer.status_code == 200
    printed = json.loads(
        analyzer(server.data_dir, "query", "blossom end rot", "--top-k", "3", "--json").stdout
    )
    body = answer.json()
    body.pop("seconds"), printed.pop("seconds")
    assert body == printed
    posted = api.post("/search", json={"query": "blossom end rot", "top_k": 3}).json()
    posted.pop("seconds")
    assert posted == printed


def test_documents_similar_keywords_topics_duplicates_and_status(
    http_server: tuple[Server, httpx.Client],
) -> None:
    _, api = http_server
    doc = api.get("/documents/kitchen/bread-basics.md").json()
    assert doc["title"].startswith("Bread Basics") and doc["statistics"]["chunks"] > 0
    similar = api.get("/similar/kitchen/bread-basics.md", params={"top_k": 2}).json()
    assert Path(similar["results"][0]["document"]).name == "bread-basics-copy.md"
    assert api.get("/keywords").json()["keywords"]
    assert len(api.get("/topics", params={"k": 3}).json()["topics"]) == 3
    assert api.get("/duplicates").json()["pairs"]
    status = api.get("/status").json()
    assert {db["name"] for db in status["databases"]} >= {"framework", "semantic_core"}
    assert status["server"]["http"]["url"] == str(api.base_url).rstrip("/")
    assert api.get("/openapi.json").json()["info"]["title"] == "analyzer"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("get", "/documents/no-such-file.md", None, 404, "no document"),
        ("get", "/search?q=x&collection=nope", None, 404, "no collection"),
        ("get", "/search?q=x&mode=fuzzy", None, 400, "mode"),
        ("get", "/search", None, 400, "q"),
        ("post", "/search", b"{not json", 400, "not valid JSON"),
        ("post", "/ingest", b'{"paths": ["relative/path"]}', 400, "absolute"),
        ("get", "/ingest/999", None, 404, "no ingest job"),
        ("post", "/search", b'{"query": "' + b"x" * 2_000_000 + b'"}', 413, "over"),
    ],
)
def test_bad_requests_get_a_4xx_with_one_line(
    http_server: tuple[Server, httpx.Client],
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    words: str,
) -> None:
    _, api = http_server
    headers = {"content-type": "application/json"}
    answer = api.request(method.upper(), path, content=body, headers=headers)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert words in error and "\n" not in error and "Traceback" not in error


def test_an_ingest_job_reports_progress_then_its_report(
    http_server: tuple[Server, httpx.Client], tmp_path: Path
) -> None:
    _, api = http_server
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(5):
        (folder / f"n{i}.txt").write_text(f"Note {i}: the otter swims at dusk.\n")
    started = api.post("/ingest", json={"paths": [str(folder)], "collection": "otters"})
    assert started.status_code == 202
    job = started.json()["job"]
    wait_until(lambda: api.get(f"/ingest/{job}").json()["status"] != "running")
    finished = api.get(f"/ingest/{job}").json()
    assert finished["status"] == "done" and finished["report"]["new"] == 5
    found = api.get("/search", params={"q": "otter", "collection": "otters"}).json()
    assert len(found["results"]) == 5


def test_every_request_needs_the_token_on_loopback_too(
    http_server: tuple[Server, httpx.Client],
) -> None:
    running, api = http_server
    url = str(api.base_url).rstrip("/")
    refused = httpx.get(f"{url}/status")
    assert refused.status_code == 401 and "http.token" in refused.json()["error"]
    assert str(running.data_dir) not in refused.text  # a stranger learns no path
    assert httpx.get(f"{url}/status", headers={"authorization": "Bearer wrong"}).status_code == 401
    # The token is checked before the body is read: an oversize body without it is 401.
    assert httpx.post(f"{url}/search", content=b"x" * 2_000_000).status_code == 401
    token_file = running.data_dir / "http.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token_file.read_text().strip() not in (running.data_dir / "server.log").read_text()


def corpus_dir_copy(corpus_dir: Path, tmp_path: Path) -> Path:
    """A data directory of its own (one server per data directory). On PostgreSQL the
    databases live on the server, named by the environment: the copy starts empty."""
    import shutil

    target = tmp_path / "copy"
    if corpus_dir.exists():
        shutil.copytree(corpus_dir, target, ignore=shutil.ignore_patterns("server.*"))
    else:
        target.mkdir()
    return target


def test_the_token_kept_in_the_data_directory_opens_the_api_across_restarts(
    corpus_dir: Path, tmp_path: Path
) -> None:
    import subprocess

    port = free_port()
    data = corpus_dir_copy(corpus_dir, tmp_path)
    command = [sys.executable, "-m", "analyzer", "--data-dir", str(data), "serve"]
    command += ["--foreground", "--http", f"0.0.0.0:{port}"]
    tokens = []
    for _ in range(2):
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert f"token in {data / 'http.token'}" in line
            token = (data / "http.token").read_text().strip()
            tokens.append(token)
            assert token not in line  # the line may land in a terminal's scrollback or a log
            url = f"http://127.0.0.1:{port}/status"
            assert httpx.get(url, headers={"authorization": f"Bearer {token}"}).status_code == 200
            assert httpx.get(url).status_code == 401
        finally:
            stop_process(process)
    assert tokens[0] == tokens[1] and len(tokens[0]) >= 32


# --- MCP ------------------------------------------------------------------------------------


def call_tools(data_dir: Path, calls: list[tuple[str, dict]]) -> list[tuple[bool, object]]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    async def session() -> list[tuple[bool, object]]:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "analyzer", "--data-dir", str(data_dir), "mcp"],
            cwd=str(REPO),
            # The SDK passes on only a few variables unless told; the databases' URLs too.
            env=dict(os.environ),
        )
        results = []
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            names = sorted(tool.name for tool in (await client.list_tools()).tools)
            results.append((False, names))
            for name, arguments in calls:
                answer = await client.call_tool(name, arguments)
                content = answer.structured_content or answer.content[0].text
                results.append((answer.is_error, content))
        return results

    return asyncio.run(session())


CALLS = [
    ("search", {"query": "blossom end rot", "top_k": 2}),
    ("get_document", {"document": "garden/growing-tomatoes.txt", "lines": "15-17"}),
    ("similar", {"document": "kitchen/bread-basics.md", "top_k": 1}),
    ("status", {}),
    ("get_document", {"document": "no-such-file.md"}),
]


def check_tool_results(results: list[tuple[bool, object]]) -> None:
    (_, names), search, lines, similar, status, missing = results
    assert names == ["get_document", "search", "similar", "status"]
    assert (
        not search[0] and Path(search[1]["results"][0]["document"]).name == "growing-tomatoes.txt"
    )
    assert not lines[0] and lines[1]["lines"] == [15, 17] and lines[1]["passages"]
    assert (
        not similar[0] and Path(similar[1]["results"][0]["document"]).name == "bread-basics-copy.md"
    )
    assert not status[0] and status[1]["databases"]
    assert missing[0] and "no document 'no-such-file.md'" in missing[1]


def test_mcp_tools_work_without_a_server(corpus_dir: Path, tmp_path: Path) -> None:
    check_tool_results(call_tools(corpus_dir_copy(corpus_dir, tmp_path), CALLS))


def test_mcp_tools_go_through_the_running_server(corpus_dir: Path, tmp_path: Path) -> None:
    data = corpus_dir_copy(corpus_dir, tmp_path)
    running = start_server(data)
    try:
        check_tool_results(call_tools(data, CALLS))
        log = (data / "server.log").read_text()
        assert "query -> 0" in log and "show -> 1" in log
    finally:
        stop_process(running.process)


# --- watch ----------------------------------------------------------------------------------


def keyword_hits(data: Path, word: str) -> list[str]:
    found = analyzer(data, "query", word, "--mode", "keyword", "--json")
    if found.returncode != 0:  # no collection yet: the first pass has not run
        return []
    return [Path(r["document"]).name for r in json.loads(found.stdout)["results"]]


def watching(folder: Path, data: Path) -> Server:
    """A server watching ``folder``, once it has ingested the heron note written there."""
    folder.mkdir(exist_ok=True)
    (folder / "heron.txt").write_text("The heron waits by the pond.\n")
    running = start_server(data, "--watch", str(folder))
    try:
        wait_until(lambda: keyword_hits(data, "heron") == ["heron.txt"])
    except BaseException:
        stop_process(running.process)
        raise
    return running


def test_watch_picks_up_created_changed_and_deleted_files(tmp_path: Path) -> None:
    folder, data = tmp_path / "watched", tmp_path / "data"
    running = watching(folder, data)
    try:
        (folder / "kingfisher.txt").write_text("The kingfisher dives into the river.\n")
        wait_until(lambda: keyword_hits(data, "kingfisher") == ["kingfisher.txt"])
        time.sleep(0.05)
        (folder / "heron.txt").write_text("Otters play on the riverbank.\n")
        wait_until(lambda: keyword_hits(data, "otters") == ["heron.txt"])
        assert keyword_hits(data, "pond") == []
        (folder / "kingfisher.txt").unlink()
        wait_until(lambda: keyword_hits(data, "kingfisher") == [])
        status = json.loads(analyzer(data, "serve", "--status", "--json").stdout)
        assert status["watch"]["passes"] >= 4 and status["watch"]["last_pass"]["pruned"] == 1
    finally:
        stop_process(running.process)


def test_requests_to_another_host_name_are_refused_even_with_the_token(
    http_server: tuple[Server, httpx.Client],
) -> None:
    _, api = http_server
    rebound = api.get("/status", headers={"host": "attacker.example:8765"})
    assert rebound.status_code == 403 and "127.0.0.1" in rebound.json()["error"]
    assert api.get("/status", headers={"host": "localhost:8765"}).status_code == 200


def test_an_oversize_body_sent_in_chunks_is_413(http_server: tuple[Server, httpx.Client]) -> None:
    _, api = http_server

    def chunks():  # no Content-Length: the body arrives in pieces
        yield b'{"query": "'
        for _ in range(40):
            yield b"x" * 50_000
        yield b'"}'

    answer = api.post("/search", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "over" in answer.json()["error"]


def test_watching_a_folder_that_holds_the_data_directory_does_not_feed_itself(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "watched"
    data = folder / "data"
    running = watching(folder, data)
    try:
        time.sleep(2.5)  # a feedback loop would run pass after pass by now
        status = json.loads(analyzer(data, "serve", "--status", "--json").stdout)
        assert status["watch"]["passes"] <= 2
        assert keyword_hits(data, "serving") == []  # server.log was not ingested
    finally:
        stop_process(running.process)
