"""Finding the files to ingest: recursion, ignore rules, size cap, loops, odd file types."""

from __future__ import annotations

import codecs
import contextlib
import fnmatch
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.paths import absolute, is_within
from modules.semantic_core.ingest.extract import UnsupportedFile, format_of
from modules.semantic_core.ingest.extract.text import SNIFF_BYTES

JUNK_DIRECTORIES = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})
DEFAULT_MAX_FILE_SIZE = 50 * 1024 * 1024
BINARY_FORMATS = frozenset({"pdf", "docx"})  # binary by design: read whole, never sniffed
# A text in UTF-16 or UTF-32 holds NUL bytes; its byte order mark says it is text.
TEXT_BOMS = (
    codecs.BOM_UTF8,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
)


@dataclass(frozen=True)
class FoundFile:
    path: str  # absolute; a str, not a Path: a large tree holds many, and Path is slow to build
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class SkippedPath:
    path: Path
    reason: str


@dataclass
class FileScan:
    files: list[FoundFile] = field(default_factory=list)
    skipped: list[SkippedPath] = field(default_factory=list)


@dataclass(frozen=True)
class FileFilter:
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    follow_symlinks: bool = False  # also links that lead outside the paths given
    # (device, inode) of directories never walked below a root (our own data directory)
    skip_dirs: frozenset[tuple[int, int]] = frozenset()

    def wants(self, relative: str) -> bool:
        if not self.include and not self.exclude:
            return True
        name = relative.rsplit("/", 1)[-1]
        if any(_matches(relative, name, pattern) for pattern in self.exclude):
            return False
        return not self.include or any(_matches(relative, name, p) for p in self.include)


def directory_keys(directories: Iterable[Path]) -> frozenset[tuple[int, int]]:
    """(device, inode) of the directories that exist: the identity a walk compares."""
    keys = set()
    for directory in directories:
        with contextlib.suppress(OSError):
            info = os.stat(directory)
            keys.add((info.st_dev, info.st_ino))
    return frozenset(keys)


def _matches(relative: str, name: str, pattern: str) -> bool:
    return fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(name, pattern)


def scan(roots: Iterable[Path], rules: FileFilter) -> FileScan:
    """Every file under ``roots`` that the rules admit, sorted; the rest with reasons.

    Symbolic links are followed while they stay inside the roots; one that leads outside
    them is skipped with a reason unless ``rules.follow_symlinks`` (as ripgrep does).
    Directories are walked with a stack of their own, however deep, and a directory met
    twice (a symlink loop) is walked once.
    """
    result = FileScan()
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[str] = set()
    given = [absolute(root) for root in roots]
    scope = _Scope([os.path.realpath(root) for root in given], rules.follow_symlinks)
    for root in given:
        if root.is_dir():
            _walk(root, rules, result, seen_dirs, scope)
        else:
            _consider(root, root.name, rules, result, explicit=True)
    unique = []
    for found in sorted(result.files, key=lambda f: f.path):
        if found.path not in seen_files:
            seen_files.add(found.path)
            unique.append(found)
    result.files = unique
    return result


@dataclass(frozen=True)
class _Scope:
    """Where a walk may go: below the real paths of its roots, unless links may lead out."""

    real_roots: list[str]
    follow_anywhere: bool

    def leads_out(self, entry: os.DirEntry[str]) -> str | None:
        """The target of a symbolic link that leads outside the roots, else None."""
        if self.follow_anywhere or not entry.is_symlink():
            return None
        target = os.path.realpath(entry.path)
        return None if any(is_within(target, r) for r in self.real_roots) else target


def _walk(
    root: Path,
    rules: FileFilter,
    result: FileScan,
    seen: set[tuple[int, int]],
    scope: _Scope,
) -> None:
    stack = [root]
    while stack:
        directory = stack.pop()
        skip = rules.skip_dirs if directory != root else frozenset()  # a root is walked
        entries = _entries(directory, result, seen, skip)
        prefix = "" if directory == root else directory.relative_to(root).as_posix() + "/"
        subdirectories = []
        for entry in entries:
            if entry.name.startswith(".") or entry.name in JUNK_DIRECTORIES:
                continue
            outside = scope.leads_out(entry)
            if outside is not None:
                reason = f"symlink to {outside}, outside the paths given; add --follow-symlinks"
                result.skipped.append(SkippedPath(Path(entry.path), reason))
                continue
            try:
                is_dir = entry.is_dir()  # follows symlinks; loops are caught by inode
            except OSError:
                is_dir = False
            if is_dir:
                subdirectories.append(Path(entry.path))
            elif rules.wants(prefix + entry.name):
                _consider_entry(entry, rules, result)
        stack.extend(reversed(subdirectories))  # in name order, depth first


def _entries(
    directory: Path,
    result: FileScan,
    seen: set[tuple[int, int]],
    skip: frozenset[tuple[int, int]],
) -> list[os.DirEntry[str]]:
    """The entries of a directory not visited before and not in ``skip``, by name; [] (with
    a reason, unless skipped) if none."""
    try:
        info = directory.stat()
    except OSError as exc:
        result.skipped.append(SkippedPath(directory, f"cannot open directory ({exc.strerror})"))
        return []
    key = (info.st_dev, info.st_ino)
    if key in skip:
        return []
    if key in seen:
        result.skipped.append(SkippedPath(directory, "symlink loop (directory already visited)"))
        return []
    seen.add(key)
    try:
        return sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        result.skipped.append(SkippedPath(directory, f"cannot list directory ({exc.strerror})"))
        return []


def _consider_entry(entry: os.DirEntry[str], rules: FileFilter, result: FileScan) -> None:
    """A file met while walking: DirEntry.stat() reuses what scandir already knows."""
    try:
        info = entry.stat()
    except FileNotFoundError:
        path = Path(entry.path)
        reason = "broken symlink" if path.is_symlink() else "vanished before it could be read"
        result.skipped.append(SkippedPath(path, reason))
        return
    except OSError as exc:
        result.skipped.append(SkippedPath(Path(entry.path), f"cannot stat ({exc.strerror})"))
        return
    _admit(entry.path, info, rules, result)


def _consider(
    path: Path, relative: str, rules: FileFilter, result: FileScan, explicit: bool
) -> None:
    if not explicit and not rules.wants(relative):
        return
    try:
        info = path.stat()
    except FileNotFoundError:
        reason = "broken symlink" if path.is_symlink() else "vanished before it could be read"
        result.skipped.append(SkippedPath(path, reason))
        return
    except OSError as exc:
        result.skipped.append(SkippedPath(path, f"cannot stat ({exc.strerror})"))
        return
    _admit(str(path), info, rules, result)


def _admit(path: str, info: os.stat_result, rules: FileFilter, result: FileScan) -> None:
    if not stat.S_ISREG(info.st_mode):
        result.skipped.append(
            SkippedPath(Path(path), f"not a regular file ({_kind(info.st_mode)})")
        )
        return
    if info.st_size > rules.max_file_size:
        result.skipped.append(
            SkippedPath(
                Path(path),
                f"larger than the size cap ({info.st_size:,} > {rules.max_file_size:,} bytes); "
                "raise --max-file-size",
            )
        )
        return
    result.files.append(FoundFile(path, info.st_size, info.st_mtime_ns))


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def read_regular_file(path: str | Path, limit: int) -> bytearray:
    """The bytes of ``path``, refusing anything that is not (or stopped being) a regular file.

    Opened non-blocking, so a file swapped for a named pipe after the scan cannot hang us.
    Read into one buffer of the file's size, so a large file is held once, not twice.
    A file read as text (any format but PDF and DOCX) with NUL bytes in its first block
    raises ``UnsupportedFile`` before the rest is read: extraction would skip it as
    binary anyway, and a 1 GB sparse file once took 2 GB to learn that.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"not a regular file ({_kind(info.st_mode)})")
        if info.st_size > limit:
            raise OSError(f"grew past the size cap ({info.st_size:,} bytes)")
        if format_of(Path(path)) not in BINARY_FORMATS and binary_at_start(fd):
            raise UnsupportedFile("binary file (contains NUL bytes)")
        with open(fd, "rb", buffering=0, closefd=False) as raw:
            data = bytearray(info.st_size)
            with memoryview(data) as view:
                filled = 0
                while filled < len(data) and (count := raw.readinto(view[filled:])):
                    filled += count
            del data[filled:]  # the file shrank since fstat
            while len(data) <= limit and (more := raw.read(1 << 20)):
                data += more  # the file grew since fstat
        if len(data) > limit:
            raise OSError("grew past the size cap while being read")
        return data
    finally:
        os.close(fd)


def binary_at_start(fd: int) -> bool:
    """Whether the file's first block holds NUL bytes and no byte order mark: the verdict
    that text extraction (``decode_text``) gives, read from that block alone."""
    head = os.pread(fd, SNIFF_BYTES, 0)
    return b"\x00" in head and not head.startswith(TEXT_BOMS)


def parse_size(text: str) -> int:
    """``10MB``, ``512k``, ``1.5G`` or plain bytes."""
    units = {
        "": 1,
        "b": 1,
        "k": 1024,
        "kb": 1024,
        "m": 1024**2,
        "mb": 1024**2,
        "g": 1024**3,
        "gb": 1024**3,
        "kib": 1024,
        "mib": 1024**2,
        "gib": 1024**3,
    }
    cleaned = text.strip().lower().replace(" ", "")
    number = cleaned.rstrip("kmgib")
    unit = cleaned[len(number) :]
    if unit not in units:
        raise ValueError(f"unknown size unit in {text!r}; use e.g. 500KB, 20MB, 1GB")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a size; use e.g. 500KB, 20MB, 1GB") from None
    if value <= 0:
        raise ValueError(f"{text!r} must be positive")
    return int(value * units[unit])
