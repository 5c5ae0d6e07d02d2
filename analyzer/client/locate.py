"""Where a data directory's server lives, and whether it is alive. Standard library only.

Per data directory: ``server.sock`` (the Unix socket, owner-only), ``server.lock``
(held with ``flock`` by the running server for its whole life; it also names its
pid and version) and ``server.log``.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

SOCKET_NAME = "server.sock"
LOCK_NAME = "server.lock"
LOG_NAME = "server.log"
# sockaddr_un holds 108 bytes on Linux (104 on macOS); longer paths go through /proc.
_SOCKET_PATH_LIMIT = 100


def data_dir_from(given: str | None, environ: Mapping[str, str]) -> str:
    """The data directory as the CLI resolves it: --data-dir, ANALYZER_DATA_DIR, default."""
    if given is None:
        given = environ.get("ANALYZER_DATA_DIR") or None
    if given is None:
        # As settings.default_data_dir, which the client may not import (it decides what
        # runs before anything of the application loads).
        from platformdirs import user_data_dir  # pure Python, about 2 ms

        given = user_data_dir("analyzer", appauthor=False)
    return os.path.abspath(os.path.expanduser(given))


def already_running(data_dir: str) -> str:
    pid = lock_record(data_dir).get("pid", "unknown")
    return (
        f"analyzer serve is already running for {data_dir} (pid {pid}); "
        "stop it with analyzer serve --stop"
    )


def socket_path(data_dir: str) -> str:
    return os.path.join(data_dir, SOCKET_NAME)


def lock_path(data_dir: str) -> str:
    return os.path.join(data_dir, LOCK_NAME)


def log_path(data_dir: str) -> str:
    return os.path.join(data_dir, LOG_NAME)


@contextmanager
def reachable(path: str) -> Iterator[str]:
    """A name for ``path`` short enough for a Unix socket address.

    A long path is reached through ``/proc/self/fd`` and an open handle on its
    directory (Linux); elsewhere it is used as it is.
    """
    if len(os.fsencode(path)) < _SOCKET_PATH_LIMIT or not sys.platform.startswith("linux"):
        yield path
        return
    directory, name = os.path.split(path)
    handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{handle}/{name}"
    finally:
        os.close(handle)


def server_alive(data_dir: str) -> bool:
    """Whether a server holds the data directory's lock (it may still be starting)."""
    try:
        handle = os.open(lock_path(data_dir), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(handle)
    return False


def lock_record(data_dir: str) -> dict[str, Any]:
    """What the running server wrote into its lock file (pid, version, ...), if readable."""
    try:
        with open(lock_path(data_dir), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def remove_stale_socket(data_dir: str, wait_s: float = 0.0) -> None:
    """Remove a socket left behind by a server that died (kill -9): nobody holds the lock.

    ``wait_s``: how long a lock may still be held by a process that is exiting.
    """
    deadline = time.monotonic() + wait_s
    while server_alive(data_dir):
        if time.monotonic() >= deadline:
            return
        time.sleep(0.01)
    try:
        os.unlink(socket_path(data_dir))
    except OSError:
        pass
