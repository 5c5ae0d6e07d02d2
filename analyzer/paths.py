"""Paths as people give and see them: relative to *their* working directory.

A command may run in a resident server on behalf of a client in another directory,
so nothing below the CLI reads the process's working directory directly: relative
paths are made absolute with ``absolute`` and shown with ``display_path``, both
against ``working_dir()``, which a server sets per request.
"""

from __future__ import annotations

import errno
import os
import re
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


def unreadable(path: Path) -> str | None:
    """Why the file system refuses to look ``path`` up (a name too long, a loop of links,
    no permission to search a directory on the way), or None. Path.exists() and is_dir()
    raise these instead of answering."""
    try:
        path.stat()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        return exc.strerror or type(exc).__name__
    return None


def is_within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or lies below it, compared as written (nothing resolved)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it, else as is; bytes
    of its name that are not UTF-8 shown as ``\\xNN``."""
    try:
        relative = os.path.relpath(path, working_dir())
    except ValueError:
        relative = ".."
    return shown(path if relative.startswith("..") else relative)


def location(path: str, line: int | None, page: int | None = None) -> str:
    """Where a passage is, as editors and viewers open it, with the path as shown here."""
    return place(display_path(path), line, page)


def place(path: str, line: int | None, page: int | None = None) -> str:
    """``path:line``, or for a page of a PDF ``path#page=N`` (the fragment PDF viewers and
    browsers go to); the path alone when neither is known."""
    if page:
        return f"{path}#page={page}"
    return f"{path}:{line}" if line else path


# --- file names that are not UTF-8 -------------------------------------------------------
# Python holds the bytes of a file name that do not decode as lone surrogates (U+DC80 to
# U+DCFF, PEP 383), which no database can store as text. Stored, each becomes the
# private-use character U+10FE80 to U+10FEFF of the same byte, and back again when read:
# a name goes in and comes out byte for byte. (A real name using those private-use
# characters of plane 16 would read back as raw bytes; none is known.)

# Surrogates in a str, by what they stand for. Python holds a byte of a name or an
# argument that is not UTF-8 as one of U+DC80 to U+DCFF (PEP 383); any other lone
# surrogate stands for no byte at all (only JSON can spell one, ``\ud800``). No database
# stores either as text. The one place these ranges are written.
UNDECODED_BYTE = re.compile("[\udc80-\udcff]")
NO_BYTE_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")
ANY_SURROGATE = re.compile("[\ud800-\udfff]")
_STORED = re.compile("[\U0010fe80-\U0010feff]")
_SHIFT = 0x10FE80 - 0xDC80


def storable(path: str) -> str:
    """``path`` as the database stores it: valid Unicode, whatever bytes its name holds."""
    return UNDECODED_BYTE.sub(lambda m: chr(ord(m.group()) + _SHIFT), path)


def from_storage(path: str) -> str:
    """A stored path as the file system knows it again (the inverse of ``storable``)."""
    return _STORED.sub(lambda m: chr(ord(m.group()) - _SHIFT), path)


def shown(path: str) -> str:
    """``path`` for people: bytes that are not UTF-8 as ``\\xNN``, the rest as it is.

    A surrogate that stands for no byte (JSON can spell one, ``\\ud800``) is shown as its
    escape: it comes from no file name, and UTF-8 cannot encode it.
    """
    text = NO_BYTE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", from_storage(path))
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
