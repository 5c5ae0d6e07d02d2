"""Half-sent requests cannot hold the HTTP API's connections: headers have a deadline, so
has a body, and a request's strings are text a database can store.

The deadlines are shortened for these tests and served by uvicorn in a thread, with the
protocol and middleware the server uses; the server's own routes are tested through
real processes in test_front_doors.py and test_security.py.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from analyzer.server import http

pytestmark = pytest.mark.slow


async def echo_app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    """Answers every request with the size of its body; ``/slow`` takes a second."""
    if scope["path"] == "/slow":
        await asyncio.sleep(1.0)
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The echo app behind the server's body limit and header deadline; its port."""
    import uvicorn

    monkeypatch.setattr(http, "HEADER_TIMEOUT_S", 0.5)
    app = http.BodyLimit(echo_app, timeout_s=0.5)
    config = uvicorn.Config(
        app, log_level="error", lifespan="off", http=http._header_deadline_protocol()
    )
    server = uvicorn.Server(config)
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[listening])))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        yield listening.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listening.close()


def exchange(port: int, *parts: bytes, pause_s: float = 0.0) -> bytes:
    """Send ``parts`` (waiting ``pause_s`` between them) and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        for part in parts:
            connection.sendall(part)
            time.sleep(pause_s)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def test_a_request_whose_headers_never_end_is_closed_at_the_deadline(served: int) -> None:
    started = time.monotonic()
    received = exchange(served, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert received == b"" and time.monotonic() - started < 4.5  # socket timeout is 5 s


def test_a_complete_request_is_answered_and_its_keep_alive_ends_too(served: int) -> None:
    received = exchange(served, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200") and received.endswith(b"\r\n\r\n0")


def test_the_second_request_on_a_connection_has_a_deadline_of_its_own(served: int) -> None:
    first = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    received = exchange(served, first, b"GET / HTTP/1.1\r\nHost: 1", pause_s=0.1)
    assert received.count(b"HTTP/1.1 200") == 1


def test_pipelined_requests_slower_than_the_deadline_are_both_answered(served: int) -> None:
    """The second request's headers arrived with the first: the deadline, armed again after
    the first answer, must not close the connection while the second is being answered."""
    slow = b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    received = exchange(served, slow + slow)
    assert received.count(b"HTTP/1.1 200") == 2


def test_a_body_that_does_not_arrive_in_time_is_408(served: int) -> None:
    head = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n"
    received = exchange(served, head, b"abc")
    assert received.startswith(b"HTTP/1.1 408") and b"not sent within" in received


@pytest.mark.parametrize(
    ("text", "words"),
    [("bread\x00", "NUL"), ("\ud800 bread", "surrogate"), ("caf\udce9", "surrogate")],
)
def test_strings_a_database_cannot_store_are_refused_with_their_reason(
    text: str, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        http.plain_text(text)
    assert http.plain_text("crème brûlée ☕") == "crème brûlée ☕"
