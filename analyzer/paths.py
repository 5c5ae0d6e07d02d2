"""Paths as people give and see them: relative to *their* working directory.

A command may run in a resident server on behalf of a client in another directory,
so nothing below the CLI reads the process's working directory directly: relative
paths are made absolute with ``absolute`` and shown with ``display_path``, both
against ``working_dir()``, which a server sets per request.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

_WORKING_DIR: ContextVar[str | None] = ContextVar("analyzer_working_dir", default=None)


def working_dir() -> str:
    """The directory relative paths are taken from: the request's, else the process's."""
    return _WORKING_DIR.get() or os.getcwd()


@contextmanager
def working_dir_of(directory: str) -> Iterator[None]:
    """Relative paths are taken from ``directory`` inside this block (this context only)."""
    token = _WORKING_DIR.set(directory)
    try:
        yield
    finally:
        _WORKING_DIR.reset(token)


def absolute(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``~`` expanded and made absolute against ``working_dir()``.

    Like ``Path.absolute()``, it keeps ``..`` parts: stored paths stay what they were.
    """
    return Path(working_dir()) / os.path.expanduser(os.fspath(path))


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it, else as is."""
    try:
        relative = os.path.relpath(path, working_dir())
    except ValueError:
        return path
    return path if relative.startswith("..") else relative
