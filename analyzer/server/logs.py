"""The server's log: ``server.log`` in the data directory (the previous one kept as .1)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO

from analyzer.client import locate
from analyzer.privacy import create_private_file

ROTATE_AT_BYTES = 10 * 1024 * 1024


def log_to(data_dir: str, echo: IO[str] | None = None) -> IO[str]:
    """Send the server's log to its file (and to ``echo``); the open file, line-buffered."""
    path = locate.log_path(data_dir)
    try:
        if os.path.getsize(path) > ROTATE_AT_BYTES:
            os.replace(path, path + ".1")
    except OSError:
        pass
    create_private_file(Path(path))  # owner-only before anything is written to it
    stream = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives with the server
    os.chmod(path, 0o600)  # a log made by an older version
    logger = logging.getLogger("analyzer.server")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    for target in (stream, echo):
        if target is not None:
            handler = logging.StreamHandler(target)
            handler.setFormatter(formatter)
            logger.addHandler(handler)
    return stream
