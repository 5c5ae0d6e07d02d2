"""A request's output streams: text written by the command, sent to the client in frames."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import IO

from analyzer import ui
from analyzer.client.protocol import MAX_FRAME

Send = Callable[[bytes, bytes], None]  # (frame kind, payload)
MAX_PAYLOAD = MAX_FRAME // 2
BLOCK = io.DEFAULT_BUFFER_SIZE  # what Python buffers of stdout on a pipe before writing it


class RemoteStream(io.TextIOBase):
    """Text in, the client's encoding out, flushed when the client's own stream would be:
    stdout by blocks of 8 KiB on a pipe and by lines on a terminal, stderr by lines, and
    every write when the client runs unbuffered (PYTHONUNBUFFERED). So stdout and stderr
    interleave as they would in the client's process. Safe to write from several threads
    (rich's refresh thread)."""

    def __init__(
        self,
        kind: bytes,
        send: Send,
        tty: bool,
        encoding: str,
        errors: str,
        by_line: bool = False,
        unbuffered: bool = False,
    ) -> None:
        super().__init__()
        self._kind = kind
        self._send = send
        self._tty = tty
        self._by_line = by_line or tty
        self._unbuffered = unbuffered
        self._encoding = encoding or "utf-8"
        self._errors = errors or "strict"
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._size = 0
        self.written = False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    @property
    def errors(self) -> str:  # type: ignore[override]
        return self._errors

    def isatty(self) -> bool:
        return self._tty

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        data = text.encode(self._encoding, self._errors)
        with self._lock:
            if data:
                self.written = True
                self._pending.append(data)
                self._size += len(data)
            if (
                self._unbuffered
                or self._size >= BLOCK
                or (self._by_line and ("\n" in text or "\r" in text))
            ):
                self._flush_locked()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            for start in range(0, len(data), MAX_PAYLOAD):  # frames have a size limit
                self._send(self._kind, data[start : start + MAX_PAYLOAD])
            self._pending.clear()
            self._size = 0


class RoutedStream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` of a server: writes go to the stream of the request
    being served in this context, and to ``fallback`` (the log) outside any request."""

    def __init__(self, pick: Callable[[ui.Terminal], IO[str]], fallback: IO[str]) -> None:
        super().__init__()
        self._pick = pick
        self._fallback = fallback

    def _target(self) -> IO[str]:
        current = ui.current_request_terminal()
        return self._pick(current) if current is not None else self._fallback

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return self._target().isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target(), "encoding", "utf-8")
