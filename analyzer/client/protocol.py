"""The wire between the ``analyzer`` client and a resident server: framed messages
on a Unix socket. Standard library only: the client must decide quickly.

A frame is one byte of kind, four bytes of big-endian length, then the payload.
The client sends one ``REQUEST`` (JSON); the server answers ``ACCEPTED`` or
``DECLINED`` (JSON), then, for an accepted command, ``STDOUT`` and ``STDERR``
bytes as the command writes them and one ``EXIT`` (JSON) at the end. ``status``
and ``stop`` requests get one ``REPLY`` (JSON).
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

REQUEST = b"Q"
ACCEPTED = b"A"
DECLINED = b"D"
STDOUT = b"O"
STDERR = b"E"
EXIT = b"X"
REPLY = b"R"

_HEADER = struct.Struct(">cI")
MAX_FRAME = 64 * 1024 * 1024  # what the server sends: a command's output, in pieces
# What a client sends: a command line with its working directory and a few variables.
# Linux caps one argument at 128 KiB and GNU xargs a whole command line at 128 KiB by
# default; 512 KiB leaves room for JSON escapes. A larger request is refused (its
# client then runs the command itself), so that what a client sends cannot grow the
# server: eight 64 MiB requests once took a server from 0.7 to 1.7 GB, for good.
MAX_REQUEST = 512 * 1024


class ProtocolError(Exception):
    """The other side sent something that is not a frame of this protocol."""


def frame(kind: bytes, payload: bytes) -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


def json_frame(kind: bytes, message: dict[str, Any]) -> bytes:
    return frame(kind, json.dumps(message).encode("utf-8"))


def decode_json(payload: bytes) -> dict[str, Any]:
    try:
        message = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"not a JSON message: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a JSON message must be an object")
    return message


def parse_header(header: bytes, limit: int = MAX_FRAME) -> tuple[bytes, int]:
    """The kind and length of a frame; ``limit``: the longest payload accepted."""
    kind, length = _HEADER.unpack(header)
    if length > limit:
        raise ProtocolError(f"frame of {length} bytes is over the {limit} byte limit")
    return kind, length


HEADER_SIZE = _HEADER.size


class FrameReader:
    """Reads frames from a blocking socket (the client's side)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def read(self) -> tuple[bytes, bytes] | None:
        """The next (kind, payload), or None when the server closed the connection."""
        header = self._exactly(HEADER_SIZE)
        if header is None:
            return None
        kind, length = parse_header(header)
        payload = self._exactly(length) if length else b""
        if payload is None:
            return None
        return kind, payload

    def _exactly(self, size: int) -> bytes | None:
        chunks = []
        remaining = size
        while remaining:
            chunk = self._sock.recv(min(remaining, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
