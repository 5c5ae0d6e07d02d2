"""Plain text, Markdown and reStructuredText: the text is the file; headings are found."""

from __future__ import annotations

import re

from modules.semantic_core.ingest.extract.base import (
    Extracted,
    Heading,
    first_line_title,
    require_text,
)

_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+<>:._])\1{2,}[ \t]*$")


def extract_markup(text: str, kind: str) -> Extracted:
    require_text(text)
    lines = text.split("\n")
    headings = markdown_headings(lines) if kind == "markdown" else []
    headings += underlined_headings(lines, skip={h.line for h in headings})
    headings.sort(key=lambda h: h.line)
    title = headings[0].title if headings and headings[0].line < 5 else first_line_title(text)
    return Extracted(text=text, title=title, format=kind, headings=tuple(headings))


def markdown_headings(lines: list[str]) -> list[Heading]:
    found = []
    in_fence = False
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else _ATX.match(line)
        if match:
            found.append(Heading(number, len(match.group(1)), match.group(2).strip()))
    return found


def underlined_headings(lines: list[str], skip: set[int]) -> list[Heading]:
    """Setext (Markdown) and reStructuredText headings: a line underlined by punctuation.

    Levels follow the order in which underline styles first appear, as in reST;
    an overlined title counts as a style of its own.
    """
    styles: list[tuple[str, bool]] = []
    found = []
    for number in range(1, len(lines)):
        underline = _UNDERLINE.match(lines[number])
        title = lines[number - 1].strip()
        if not underline or not title or number - 1 in skip or _UNDERLINE.match(title):
            continue
        if len(lines[number].rstrip()) < min(len(title), 3):
            continue
        overlined = number >= 2 and lines[number - 2].strip() == lines[number].strip()
        style = (underline.group(1), overlined)
        if style not in styles:
            styles.append(style)
        found.append(Heading(number - 1, styles.index(style) + 1, title))
    return found
