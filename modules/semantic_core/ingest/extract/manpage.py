"""Man pages rendered to text (``man -P cat tar > tar.1.txt``): sections as headings,
the NAME line as the title, running headers and footers left out.

Such a file opens with a running header (``TAR(1)   GNU TAR Manual   TAR(1)``) and
ends with a footer; read as plain text, the header became the document's title and
the sections were no headings at all. The renderer's layout says what is what:
section names (``.SH``) stand at column 0, subsections (``.SS``) are indented less
than the body text, and the body is indented.

The extracted text keeps the file's lines one for one (header and footer lines are
blanked, never removed), so every ``path:line`` is a line of the file.
"""

from __future__ import annotations

import re

from modules.semantic_core.ingest.extract.base import (
    MAX_TITLE_CHARS,
    Extracted,
    Heading,
    require_text,
)

# ``TAR(1)   GNU TAR Manual   TAR(1)``: the page and its section at both ends.
_HEADER = re.compile(
    r"^[ \t]*(?P<page>[^\s()]+)\((?P<section>[0-9n][\w:+-]*)\)"
    r"(?:[ \t]+.*?)?[ \t]+(?P=page)\((?P=section)\)[ \t]*$"
)
_SECTION_NAMES = frozenset({"SYNOPSIS", "DESCRIPTION", "OPTIONS"})
DEFAULT_BODY_INDENT = 7  # what groff's man macros use at any width
SNIFF_LINES = 80


def looks_like_man_page(text: str) -> bool:
    """A running header naming the page at both ends, then a section name at column 0;
    or, without a header, NAME at the top and SYNOPSIS or DESCRIPTION below it."""
    lines = text[:65536].split("\n", SNIFF_LINES)[:SNIFF_LINES]
    content = [line for line in lines if line.strip()]
    if len(content) < 2:
        return False
    if _HEADER.match(content[0]):
        return _is_section_name(content[1])
    if content[0].strip() != "NAME" or not _is_section_name(content[0]):
        return False
    return any(line.rstrip() in _SECTION_NAMES for line in content[1:])


def extract_man_page(text: str) -> Extracted:
    require_text(text)
    lines = text.split("\n")
    header = _blank_running_lines(lines)
    require_text("\n".join(lines))
    _rejoin_hyphenated(lines)
    headings = man_headings(lines)
    title = _name_line(lines, headings) or header
    return Extracted(text="\n".join(lines), title=title, format="man", headings=tuple(headings))


def _blank_running_lines(lines: list[str]) -> str:
    """Blank the running header and footer wherever they recur (a page rendered with
    page breaks repeats them); the page's name as the header gives it, ``TAR(1)``."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if not filled:
        return ""
    first, last = filled[0], filled[-1]
    match = _HEADER.match(lines[first])
    if match is None:
        return ""
    page = f"{match.group('page')}({match.group('section')})"
    running = {lines[first].strip()}
    if last != first and lines[last].rstrip().endswith(page):
        running.add(lines[last].strip())
    for number, line in enumerate(lines):
        if line.strip() in running:
            lines[number] = ""
    return page


_HYPHENATED = re.compile(r"\w\u2010$")  # groff's hyphenation mark, at a line's end
_FRAGMENT = re.compile(r"^(?P<indent>[ \t]*)(?P<rest>[^\W\d_]\S*)(?:[ \t]+(?=\S)|[ \t]*$)")


def _rejoin_hyphenated(lines: list[str]) -> None:
    """Words the renderer hyphenated across lines (``discus‐`` / ``sion``) made whole on
    the first line, so they are found as written; the next line keeps its place and the
    rest of its text."""
    for number in range(len(lines) - 1):
        if not _HYPHENATED.search(lines[number]):
            continue
        fragment = _FRAGMENT.match(lines[number + 1])
        if fragment is None:
            continue
        emptied = fragment.end() == len(lines[number + 1])
        if emptied and number + 2 < len(lines) and lines[number + 2].strip():
            continue  # an emptied line would end the paragraph before its end
        lines[number] = lines[number][:-1] + fragment.group("rest")
        lines[number + 1] = fragment.group("indent") + lines[number + 1][fragment.end() :]


def man_headings(lines: list[str]) -> list[Heading]:
    """Section names (column 0) at level 1, subsection names (indented less than the
    body) at level 2."""
    body = _body_indent(lines)
    found = []
    for number, line in enumerate(lines):
        title = line.strip()
        if not title:
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            found.append(Heading(number, 1, title[:MAX_TITLE_CHARS]))
        elif indent < body and found:
            found.append(Heading(number, 2, title[:MAX_TITLE_CHARS]))
    return found


def _body_indent(lines: list[str]) -> int:
    """The indentation of the first body line under the first section name."""
    seen_section = False
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            seen_section = True
        elif seen_section:
            return indent
    return DEFAULT_BODY_INDENT


def _name_line(lines: list[str], headings: list[Heading]) -> str:
    """The NAME section's text, ``tar - an archiving utility``, as one line."""
    for index, heading in enumerate(headings):
        if heading.level != 1 or heading.title.upper() != "NAME":
            continue
        end = headings[index + 1].line if index + 1 < len(headings) else len(lines)
        words: list[str] = []
        for line in lines[heading.line + 1 : end]:
            if not line.strip():
                if words:
                    break
                continue
            words.append(line.strip())
        return _joined(words)[:MAX_TITLE_CHARS]
    return ""


def _joined(pieces: list[str]) -> str:
    """Lines of a paragraph as one line; a word hyphenated at a line's end is rejoined."""
    text = ""
    for piece in pieces:
        if text.endswith("\u2010"):  # groff's hyphenation mark
            text = text[:-1] + piece
        else:
            text = f"{text} {piece}" if text else piece
    return " ".join(text.split())


def _is_section_name(line: str) -> bool:
    """A section name as the renderer sets it: at column 0, no lower case letters
    (NAME, SEE ALSO, and their translations)."""
    stripped = line.rstrip()
    return bool(stripped) and not line[:1].isspace() and stripped == stripped.upper()
