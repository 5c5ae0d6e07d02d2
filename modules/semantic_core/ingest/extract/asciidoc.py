"""AsciiDoc: ``= Title`` and underlined section titles as headings, delimited blocks as
text that is never a heading.

Git's documentation (and much else in /usr/share/doc) is AsciiDoc saved as ``.txt``.
Read as plain text, the ``------------`` that opens a listing block under a shell line
looked like that line's underline, and command lines became section titles. AsciiDoc
says otherwise: a two-line title's underline is as long as the title, give or take
two characters; any other run of four or more delimiter characters opens a block that
the same run closes.

The extracted text keeps the file's lines one for one (markup lines such as block
delimiters, ``+`` continuations, ``[verse]`` attributes and comments are blanked,
never removed), so every ``path:line`` is a line of the file.
"""

from __future__ import annotations

import bisect
import re

from modules.semantic_core.ingest.extract.base import (
    MAX_TITLE_CHARS,
    Extracted,
    Heading,
    first_line_title,
    require_text,
)

# ``= Document title``, ``== Section`` ... (a symmetric closing run is allowed).
_ONE_LINE_TITLE = re.compile(r"^(?P<marks>={1,6})[ \t]+(?P<title>\S.*?)(?:[ \t]+=+)?[ \t]*$")
# Two-line titles: the underline character gives the level.
_UNDERLINE_LEVELS = {"=": 1, "-": 2, "~": 3, "^": 4, "+": 5}
_UNDERLINE = re.compile(r"^([=\-~^+])\1+[ \t]*$")
UNDERLINE_SLACK = 2  # an underline may be this many characters shorter or longer
# Delimited blocks: listing, literal, example, sidebar, quote, passthrough, comment.
_DELIMITER = re.compile(r"^(-{4,}|\.{4,}|={4,}|\*{4,}|_{4,}|\+{4,}|/{4,})[ \t]*$")
_OPEN_BLOCK = re.compile(r"^--[ \t]*$")
_CONTINUATION = re.compile(r"^\+[ \t]*$")
_BLOCK_ATTRIBUTES = re.compile(r"^\[[^\[\]]*\][ \t]*$")  # [verse], [source,shell], [[anchor]]
_ANCHOR = re.compile(r"^\[\[[^\[\]]*\]\][ \t]*$")
_ATTRIBUTE_ENTRY = re.compile(r"^:!?[\w][\w-]*!?:(?:[ \t].*)?$")
_LINE_COMMENT = re.compile(r"^//(?!/)")
# What cannot be a two-line title: list items, block titles, attribute and
# continuation lines, labelled-list terms, lines that are indented (literal text).
_NOT_A_TITLE = re.compile(r"^(?:[\s.+\[/:$#>]|[*\-]+[ \t]|\d+\.[ \t]|<\d+>)|::[ \t]*$|;;[ \t]*$")
_HAS_WORD = re.compile(r"\w")
# Near the top: where a document title has to be to name the document.
TITLE_WITHIN_LINES = 5


def extract_asciidoc(text: str) -> Extracted:
    require_text(text)
    lines = text.split("\n")
    headings = asciidoc_headings(lines)  # blanks markup lines in place
    text = "\n".join(lines)
    require_text(text)
    return Extracted(
        text=text, title=_title(headings, lines), format="asciidoc", headings=tuple(headings)
    )


def asciidoc_headings(lines: list[str]) -> list[Heading]:
    """Section titles of AsciiDoc ``lines``; markup lines are blanked in place.

    Inside a delimited block nothing is a title: a listing block holds commands and
    output, whatever they look like."""
    found: list[Heading] = []
    closer: str | None = None  # the line that ends the block we are in
    comment = False
    delimiters = _Delimiters(lines)
    number = 0
    while number < len(lines):
        line = lines[number]
        stripped = line.rstrip()
        if closer is not None:
            if stripped == closer:
                closer, comment = None, False
                lines[number] = ""
            elif comment:
                lines[number] = ""
            number += 1
            continue
        heading = _two_line_title(lines, number)
        if heading is not None:
            found.append(heading)
            number += 2
            continue
        if _DELIMITER.match(stripped) and delimiters.closed_after(number, stripped):
            closer, comment = stripped, stripped.startswith("/")
            lines[number] = ""
        elif match := _ONE_LINE_TITLE.match(stripped):
            title = _plain(match.group("title"))
            if title:
                found.append(Heading(number, len(match.group("marks")), title))
        elif _is_markup_line(stripped):
            lines[number] = ""
        number += 1
    return found


def looks_like_asciidoc(text: str) -> bool:
    """AsciiDoc's shape: a document title at the top (``= Title``, or a title over a run
    of ``=`` as long as itself) with sections, delimited blocks or labelled lists below
    it; or, in a fragment meant for inclusion (git's ``config.txt``), an underlined
    section title at the top or several labelled lists, with such blocks and lists.
    A plain text file with an underlined first line and nothing else stays plain text."""
    lines = text[:65536].split("\n")
    top = [i for i, line in enumerate(lines[:40]) if _is_content(line)][:TITLE_WITHIN_LINES]
    first = top[0] if top else 0
    heading = _two_line_title(lines, first)
    titled = bool(re.match(r"^=[ \t]+\S", lines[first])) or (
        heading is not None and heading.level == 1
    )
    below = lines[first + 2 :] if titled or heading is not None else lines
    sections = sum(1 for line in below if re.match(r"^={2,6}[ \t]+\S", line))
    underlined = sum(1 for n in range(len(below) - 1) if _two_line_title(below, n) is not None)
    labelled = sum(1 for line in below if _LABELLED.search(line))
    markup = labelled + sum(1 for line in below if _is_markup_line(line.rstrip()))
    delimiters = _Delimiters(below)
    blocks = sum(1 for n in range(1, len(below)) if _opens_block(below, n, delimiters))
    markup += blocks
    if titled:
        return sections + underlined >= 1 and markup >= 2
    if heading is not None:
        return markup >= 3
    return labelled >= 3 and blocks >= 2


_LABELLED = re.compile(r"\S(?:::|;;)[ \t]*$")  # a labelled list's term: ``--soft::``


def _opens_block(lines: list[str], number: int, delimiters: _Delimiters) -> bool:
    """A delimiter where a block starts (after a blank line, a ``+`` or an attribute
    line, not right under text) that a later line closes."""
    stripped = lines[number].rstrip()
    before = lines[number - 1].rstrip()
    if not _DELIMITER.match(stripped) or (before and not _is_markup_line(before)):
        return False
    return delimiters.closed_after(number, stripped)


class _Delimiters:
    """Where each delimiter line stands, to tell a block's opening from a stray rule:
    a run of dashes that closes nothing is a rule (or a loose underline), not a block
    that would hide every heading below it."""

    def __init__(self, lines: list[str]) -> None:
        self._at: dict[str, list[int]] = {}
        for number, line in enumerate(lines):
            if line[:1] in "-.=*_+/" and _DELIMITER.match(line):
                self._at.setdefault(line.rstrip(), []).append(number)

    def closed_after(self, number: int, delimiter: str) -> bool:
        found = self._at.get(delimiter, [])
        return bisect.bisect_right(found, number) < len(found)


def _two_line_title(lines: list[str], number: int) -> Heading | None:
    """A title on line ``number`` underlined on the next line, or None."""
    if number + 1 >= len(lines):
        return None
    title, underline = lines[number].rstrip(), lines[number + 1].rstrip()
    match = _UNDERLINE.match(underline)
    if match is None or not title or _NOT_A_TITLE.search(title):
        return None
    if not _HAS_WORD.search(title) or _DELIMITER.match(title) or _UNDERLINE.match(title):
        return None
    if abs(len(underline) - len(title)) > UNDERLINE_SLACK:
        return None
    plain = _plain(title)
    if not plain:
        return None
    return Heading(number, _UNDERLINE_LEVELS[match.group(1)], plain, lines=2)


def _is_markup_line(stripped: str) -> bool:
    return bool(
        _OPEN_BLOCK.match(stripped)
        or _CONTINUATION.match(stripped)
        or _BLOCK_ATTRIBUTES.match(stripped)
        or _ANCHOR.match(stripped)
        or _ATTRIBUTE_ENTRY.match(stripped)
        or _LINE_COMMENT.match(stripped)
    )


def _is_content(line: str) -> bool:
    stripped = line.rstrip()
    return bool(stripped) and not _is_markup_line(stripped)


_INLINE_ANCHOR = re.compile(r"\[\[[^\]]*\]\]")


def _plain(title: str) -> str:
    """A title as a reader sees it: no anchors, no emphasis quotes, one line."""
    title = _INLINE_ANCHOR.sub("", title)
    title = re.sub(r"(?<!\w)[*_'`](\S(?:.*?\S)?)[*_'`](?!\w)", r"\1", title)
    return " ".join(title.split())[:MAX_TITLE_CHARS]


def _title(headings: list[Heading], lines: list[str]) -> str:
    """The document title (``= Title`` or a ``=``-underlined first line); failing that,
    the first heading near the top, or the first line."""
    first_text = next((i for i, line in enumerate(lines) if line.strip()), 0)
    near = [h for h in headings if h.line < first_text + TITLE_WITHIN_LINES]
    if near:
        return near[0].title
    return first_line_title("\n".join(lines[first_text : first_text + 1]))
