"""A data directory holds private text: it is owner-only on disk, whatever the umask.

The directory is made 0700 and every file analyzer creates in it 0600 (databases, the
server's socket, lock, log and HTTP token). SQLite gives a database's ``-wal`` and
``-shm`` files the mode of the database file itself, so creating the database file
owner-only before SQLite opens it covers those too.

A data directory made by an older version, or opened up by hand, is not changed
silently (someone may share it on purpose): ``exposure`` says what others can read,
and ``analyzer db-status`` prints it with the ``chmod`` that closes it.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` (and missing parents) with the leaf owner-only.

    ``mkdir``'s mode is masked by the umask, which could also take the owner's own bits
    away; the explicit ``chmod`` gives exactly 0700. An existing directory is left alone.
    """
    if directory.is_dir():
        return
    directory.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
    os.chmod(directory, DIRECTORY_MODE)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only if it does not exist (an existing file keeps
    its mode). ``O_EXCL``: two processes starting at once cannot both create it."""
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(handle, FILE_MODE)  # the umask may have taken bits off; never adds any
    finally:
        os.close(handle)


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` into ``path``, owner-only before a byte is written."""
    create_private_file(path)
    os.chmod(path, FILE_MODE)
    handle = os.open(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)


@dataclass(frozen=True)
class Exposure:
    """What other users of the machine can reach in a data directory, and the fix."""

    directory: str
    directory_open: bool  # others may list or enter the directory
    files: tuple[str, ...]  # files that others may read or write (names within it)

    @property
    def fix(self) -> str:
        """The commands that close it: the directory, then each file by name (a glob would
        also take execute bits off scripts in a folder that holds a database by URL)."""
        commands = []
        if self.directory_open:
            commands.append(f"chmod 700 {shlex.quote(self.directory)}")
        if self.files:
            named = " ".join(shlex.quote(os.path.join(self.directory, f)) for f in self.files)
            commands.append(f"chmod 600 {named}")
        return " && ".join(commands)

    def message(self) -> str:
        """One line: what others can read, and the command that closes it."""
        count = len(self.files)
        listed = ", ".join(self.files[:3]) + (", ..." if count > 3 else "")
        files = f"{count} file{'s' if count != 1 else ''} ({listed})"
        if self.directory_open and self.files:
            what = f"data directory {self.directory} and {files} in it are open to other users"
        elif self.directory_open:
            what = f"data directory {self.directory} is open to other users"
        else:
            what = f"{files} in {self.directory} can be read by other users"
        return f"{what}; run: {self.fix}"


def exposure(directory: Path, only: Collection[str] | None = None) -> Exposure | None:
    """What others can reach in ``directory``, or None when it is owner-only (or missing).

    ``only``: look at these files alone and not at the directory itself (a folder that
    holds a database named by URL is the person's own business; its database is ours).
    """
    try:
        info = directory.stat()
    except OSError:
        return None
    directory_open = only is None and bool(info.st_mode & _OTHERS)
    files = tuple(sorted(n for n in _readable_by_others(directory) if only is None or n in only))
    if not directory_open and not files:
        return None
    return Exposure(str(directory), directory_open, files)


def _readable_by_others(directory: Path) -> list[str]:
    names: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return names
    for entry in entries:
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and mode & _OTHERS:
            names.append(entry.name)
    return names
