"""Talking to a data directory's server: run a command there, or ask for status or a stop."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Mapping

from analyzer import __version__
from analyzer.client import locate
from analyzer.client.protocol import (
    ACCEPTED,
    DECLINED,
    EXIT,
    HEADER_SIZE,
    MAX_REQUEST,
    REPLY,
    REQUEST,
    STDERR,
    STDOUT,
    FrameReader,
    ProtocolError,
    decode_json,
    json_frame,
)
from analyzer.client.spawn import detached_server

AUTO_IDLE_TIMEOUT = "15m"
# Environment a command's output depends on, beyond the ANALYZER_* settings.
PRESENTATION_VARIABLES = frozenset(
    {
        "TERM",
        "COLORTERM",
        "NO_COLOR",
        "FORCE_COLOR",
        "TTY_COMPATIBLE",
        "TTY_INTERACTIVE",
        "COLUMNS",
        "LINES",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "PYTHONUNBUFFERED",
    }
)
ACCEPT_TIMEOUT_S = 10.0
STALE_WAIT_S = 0.5


Sink = Callable[[bytes, bytes], None]  # (STDOUT or STDERR, bytes)


def forward(
    data_dir: str,
    argv: list[str],
    environ: Mapping[str, str],
    sink: Sink | None = None,
    terminal: bool = True,
) -> int | None:
    """The command's exit code from the data directory's server, or None to run it here.

    Its output goes to this process's stdout and stderr, or to ``sink``; ``terminal``:
    describe this process's terminal to the server (else: no TTY, UTF-8).
    """
    try:
        request = _request(data_dir, argv, environ)
    except OSError:  # no working directory (it was deleted): run it here, which says so
        return None
    if not terminal:
        request |= {"tty": [False, False, False], "size": None, "encoding": {}}
    framed = json_frame(REQUEST, request)
    if len(framed) - HEADER_SIZE > MAX_REQUEST:  # the server would cut it off: run it here
        return None
    sock = _connect(data_dir)
    if sock is None:
        return None
    with sock:
        frames = FrameReader(sock)
        try:
            sock.sendall(framed)
            return _relay(sock, frames, sink or _to_std_streams)
        except KeyboardInterrupt:
            return _relay_after_interrupt(sock, frames, sink or _to_std_streams)
        except (OSError, ProtocolError, _ServerGone):
            pass
    # The server died on the way (kill -9): its lock goes with its last file handle.
    locate.remove_stale_socket(data_dir, wait_s=STALE_WAIT_S)
    return None


class _ServerGone(Exception):
    """The connection ended before the server said how the command ended."""


def _connect(data_dir: str) -> socket.socket | None:
    path = locate.socket_path(data_dir)
    try:
        info = os.stat(path)
    except OSError:
        return None
    if info.st_uid != os.getuid():
        return None  # never talk to another user's socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with locate.reachable(path) as address:
            sock.connect(address)
    except ConnectionRefusedError:
        sock.close()
        locate.remove_stale_socket(data_dir)
        return None
    except OSError:
        sock.close()
        return None
    return sock


def _request(data_dir: str, argv: list[str], environ: Mapping[str, str]) -> dict[str, object]:
    return {
        "type": "run",
        "version": __version__,
        "argv": argv,
        "cwd": os.getcwd(),
        "data_dir": data_dir,
        "env": {
            key: value
            for key, value in environ.items()
            if key.startswith("ANALYZER_") or key in PRESENTATION_VARIABLES
        },
        "tty": [_isatty(fd) for fd in (0, 1, 2)],
        "size": _terminal_size(),
        "encoding": {
            "stdout": [sys.stdout.encoding, sys.stdout.errors],
            "stderr": [sys.stderr.encoding, sys.stderr.errors],
        },
    }


def _relay(sock: socket.socket, frames: FrameReader, sink: Sink) -> int | None:
    """Pass what the server sends to ``sink``; its exit code, or None to run it here."""
    sock.settimeout(ACCEPT_TIMEOUT_S)
    first = frames.read()
    if first is None:
        raise _ServerGone
    if first[0] != ACCEPTED:
        return None
    sock.settimeout(None)
    relayed = False
    while True:
        try:
            received = frames.read()
        except (OSError, ProtocolError):
            received = None  # as good as gone: never run a command twice once it printed
        if received is None:
            break
        kind, payload = received
        if kind in (STDOUT, STDERR):
            sink(kind, payload)
            relayed = True
        elif kind == EXIT:
            return int(decode_json(payload).get("code", 1))
        elif kind == DECLINED and not relayed:
            return None
    if not relayed:
        raise _ServerGone  # before it said anything: the command runs here
    pid = decode_json(first[1]).get("pid", "?")
    message = (
        f"error: the analyzer server (pid {pid}) stopped before the command finished; "
        "run the command again\n"
    )
    sink(STDERR, message.encode("utf-8"))
    return 1


def _relay_after_interrupt(sock: socket.socket, frames: FrameReader, sink: Sink) -> int:
    """Ctrl-C: hang up our side, which the server takes as a request to stop the command
    (an ingest stops after the batch in hand), and relay what it still says, such as
    the summary of what was stored. A second Ctrl-C leaves at once. Exit code 130."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(None)
        while (received := frames.read()) is not None:
            kind, payload = received
            if kind in (STDOUT, STDERR):
                sink(kind, payload)
            elif kind == EXIT:
                break
    except (KeyboardInterrupt, OSError, ProtocolError):
        pass
    return 130


def _to_std_streams(kind: bytes, payload: bytes) -> None:
    _write(sys.stdout if kind == STDOUT else sys.stderr, payload)


def _write(stream: object, payload: bytes) -> None:
    buffer = getattr(stream, "buffer", None)
    try:
        if buffer is not None:
            buffer.write(payload)
        else:
            stream.write(payload.decode("utf-8", "replace"))  # type: ignore[attr-defined]
        stream.flush()  # type: ignore[attr-defined]
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, as a command run here does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # type: ignore[attr-defined]
        raise SystemExit(1) from None


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _terminal_size() -> list[int] | None:
    """The size of the first of stdin, stdout, stderr that is a terminal (as rich looks)."""
    for fd in (0, 1, 2):
        try:
            columns, lines = os.get_terminal_size(fd)
        except (AttributeError, ValueError, OSError):
            continue
        return [columns, lines]
    return None


def start_in_background(data_dir: str) -> None:
    """``ANALYZER_SERVER=auto``: start a server for the next command; never wait for it."""
    if locate.server_alive(data_dir):
        return
    try:
        detached_server(data_dir, ["--idle-timeout", AUTO_IDLE_TIMEOUT], report=False)
    except OSError:
        pass  # the command still runs here; the next one will try again


def ask(data_dir: str, message: dict[str, object], timeout_s: float = 10.0) -> dict | None:
    """One ``status`` or ``stop`` exchange with the data directory's server; None if none runs."""
    sock = _connect(data_dir)
    if sock is None:
        return None
    with sock:
        try:
            sock.settimeout(timeout_s)
            sock.sendall(json_frame(REQUEST, message))
            received = FrameReader(sock).read()
        except (OSError, ProtocolError):
            return None
    if received is None or received[0] != REPLY:
        return None
    return decode_json(received[1])
