"""The shape every extractor returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_TITLE_CHARS = 200


class Unextractable(Exception):  # noqa: N818 - reads as a sentence: raise Unextractable(...)
    """The file's bytes cannot be turned into text; the message is a one-line reason."""


class UnsupportedFile(Unextractable):
    """Not a document at all (binary, empty): skipped, not failed."""


@dataclass(frozen=True)
class Heading:
    """A heading on line ``line`` (0-based) of the extracted text."""

    line: int
    level: int
    title: str


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str
    format: str
    headings: tuple[Heading, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


def first_line_title(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip().strip("#=-*~").strip()
        if stripped:
            return stripped[:MAX_TITLE_CHARS]
    return ""


def require_text(text: str) -> None:
    if not text.strip():
        raise UnsupportedFile("no text in it (empty document)")
