"""The shape every extractor returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_TITLE_CHARS = 200
DEFAULT_FILE_SECONDS = 120.0


class Unextractable(Exception):  # noqa: N818 - reads as a sentence: raise Unextractable(...)
    """The file's bytes cannot be turned into text; the message is a one-line reason."""


class UnsupportedFile(Unextractable):
    """Not a document at all (binary, empty): skipped, not failed."""


class TookTooLong(Unextractable):  # noqa: N818 - reads as a sentence, like Unextractable
    """A file used up its time budget; the rest of the run goes on without it."""


class StopRequested(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """The run was asked to stop (Ctrl-C): the file in hand is dropped, not failed.

    A BaseException, so that no extractor's ``except Exception`` turns it into a
    reason for the file."""


class Deadline:
    """The time budget of one file, checked between bounded pieces of work (a page, a
    block of markup, a run of chunks). Python cannot stop a thread, so work is never
    interrupted inside one library call: the budget ends a file at the next check.

    ``stop``: set when the run is asked to stop; the next check raises ``StopRequested``.
    """

    def __init__(self, seconds: float | None, stop: threading.Event | None = None) -> None:
        self.seconds = seconds
        self._ends = None if seconds is None else time.monotonic() + seconds
        self._stop = stop

    def check(self) -> None:
        if self._stop is not None and self._stop.is_set():
            raise StopRequested
        if self._ends is not None and time.monotonic() > self._ends:
            raise TookTooLong(
                f"took longer than {self.seconds:g} s, the time budget per file "
                "(raise it with --file-timeout)"
            )


NO_DEADLINE = Deadline(None)


@dataclass(frozen=True)
class Heading:
    """A heading on line ``line`` (0-based) of the extracted text, ``lines`` long (a setext
    or reStructuredText heading's underline is part of it)."""

    line: int
    level: int
    title: str
    lines: int = 1


@dataclass(frozen=True)
class Extracted:
    """A document's text and structure, and where its lines come from.

    ``source_lines[i]`` is the 1-based line of the file on disk where line ``i`` of
    ``text`` starts; None when they are the same numbering (text, Markdown, RST keep
    the file's lines one for one). ``page_lines[p]`` is the first line of ``text`` on
    page ``p + 1`` (PDF); empty when the format has no pages.
    """

    text: str
    title: str
    format: str
    headings: tuple[Heading, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    source_lines: Sequence[int] | None = None
    page_lines: Sequence[int] = ()


def first_line_title(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip().strip("#=-*~").strip()
        if stripped:
            return stripped[:MAX_TITLE_CHARS]
    return ""


def require_text(text: str) -> None:
    if not text.strip():
        raise UnsupportedFile("no text in it (empty document)")
