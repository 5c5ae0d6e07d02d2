"""Plain text, Markdown and reStructuredText: the text is the file; headings are found.

The extracted text keeps the file's lines one for one (front matter and directive
lines are blanked, never removed), so every ``path:line`` is a line of the file as
stored on disk.

Markdown is read by a CommonMark parser (markdown-it-py): code fences, setext
underlines and thematic breaks are told apart as the spec says, which line patterns
cannot do (a closing fence under a code line looks like a setext underline).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from modules.semantic_core.ingest.extract.base import (
    MAX_TITLE_CHARS,
    Extracted,
    Heading,
    first_line_title,
    require_text,
)

_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+<>:._])\1{2,}[ \t]*$")
# A title has to be near the top to name the document (a heading further down is a section).
TITLE_WITHIN_LINES = 5


def extract_markup(text: str, kind: str) -> Extracted:
    require_text(text)
    lines = text.split("\n")
    front_matter = FrontMatter(0, "")
    if kind == "markdown":
        front_matter = _blank_front_matter(lines)
    elif kind == "rst":
        lines = rst_as_text(lines)
    if kind == "rst" or front_matter.lines:
        text = "\n".join(lines)  # changed, so joined again; a text file is never copied
        require_text(text)
    if kind == "markdown":
        headings = markdown_headings(text)
    else:
        headings = underlined_headings(lines, skip=set())
    del lines
    title = front_matter.title or _title(headings, text)
    return Extracted(text=text, title=title, format=kind, headings=tuple(headings))


def _title(headings: list[Heading], text: str) -> str:
    first_text_line = next((i for i, line in enumerate(text.split("\n")) if line.strip()), 0)
    if headings and headings[0].line < first_text_line + TITLE_WITHIN_LINES:
        return headings[0].title
    return first_line_title(text)


# --- Markdown -----------------------------------------------------------------------------

_FRONT_MATTER_OPEN = re.compile(r"^(---|\+\+\+)[ \t]*$")
_TITLE_FIELD = re.compile(r"""^title[ \t]*[:=][ \t]*(?P<value>.*?)[ \t]*$""", re.IGNORECASE)


class FrontMatter(NamedTuple):
    lines: int  # how many lines it took (blanked)
    title: str


def _blank_front_matter(lines: list[str]) -> FrontMatter:
    """Blank a leading YAML (``---``) or TOML (``+++``) block in place; its title, if any.

    Metadata is not the document's text: indexed, every npm page would be titled
    ``description: ...``. The lines stay (empty), so line numbers hold."""
    if not lines or not _FRONT_MATTER_OPEN.match(lines[0]):
        return FrontMatter(0, "")
    fence = lines[0].strip()
    closers = {fence, "..."} if fence == "---" else {fence}
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in closers), None)
    if end is None:
        return FrontMatter(0, "")  # a thematic break at the top, not front matter
    title = ""
    for number in range(end + 1):
        match = _TITLE_FIELD.match(lines[number])
        if match and not title:
            title = match.group("value").strip().strip("'\"").strip()
        lines[number] = ""
    return FrontMatter(end + 1, title[:MAX_TITLE_CHARS])


def markdown_headings(text: str) -> list[Heading]:
    """ATX and setext headings as a CommonMark parser sees them (never inside code)."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark")
    parser.disable("inline")  # headings' raw text is enough; inline parsing costs the most
    tokens = parser.parse(text)
    found = []
    for opening, inline in zip(tokens, tokens[1:], strict=False):
        if opening.type != "heading_open" or opening.map is None:
            continue
        title = plain_inline(inline.content)
        if title:
            first, end = opening.map
            found.append(Heading(first, int(opening.tag[1]), title, lines=end - first))
    return found


_INLINE_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|!?\[([^\]]*)\]\[[^\]]*\]")
_EMPHASIS = re.compile(r"(\*{1,3}|_{1,3}|~~)(\S(?:.*?\S)?)\1")
_TAG = re.compile(r"</?[A-Za-z][^>]*>")


def plain_inline(content: str) -> str:
    """Inline Markdown as a reader sees it: links by their text, no emphasis marks,
    code without backticks, no HTML tags, one line."""
    text = _INLINE_LINK.sub(lambda m: m.group(1) or m.group(2) or "", content)
    text = _TAG.sub("", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = re.sub(r"`+([^`]*)`+", r"\1", text)
    text = text.replace("\\", "")
    return " ".join(text.split())[:MAX_TITLE_CHARS]


# --- reStructuredText ----------------------------------------------------------------------

# :role:`text`, :role:`Title <target>`, :domain:role:`~module.name`
_ROLE = re.compile(r":[A-Za-z][\w.+-]*(?::[A-Za-z][\w.+-]*)?:`([^`]+)`")
_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\.[ \t]+(?P<name>[\w.:+-]+)::[ \t]*(?P<arg>.*)$")
_TARGET_OR_COMMENT = re.compile(r"^[ \t]*\.\.(?:[ \t]+(?!\S+::)(?P<rest>.*))?$")
_FIELD = re.compile(r"^[ \t]+:[\w -]+:(?:[ \t].*)?$")
_INTERPRETED = re.compile(r"`([^`<]+?)(?:\s*<[^>]*>)?`_{0,2}")
_LITERAL = re.compile(r"``(.+?)``")
# Directives whose argument is a file name, a language or markup, not text a reader reads.
_ARGUMENT_IS_NOT_TEXT = {
    "code",
    "code-block",
    "sourcecode",
    "literalinclude",
    "include",
    "image",
    "figure",
    "highlight",
    "raw",
    "toctree",
    "automodule",
    "index",
    "only",
    "tabularcolumns",
    "csv-table",
    "list-table",
    "table",
    "contents",
    "sectnum",
    "default-role",
    "role",
    "meta",
}
_ADMONITIONS = {
    "note",
    "warning",
    "tip",
    "important",
    "caution",
    "danger",
    "attention",
    "hint",
    "error",
    "seealso",
    "todo",
}

# Sphinx's version notes, in the words its HTML output uses.
_VERSION_NOTES = {
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
    "versionremoved": "Removed in version",
}


def rst_as_text(lines: list[str]) -> list[str]:
    """reStructuredText lines as a reader sees them, one for one: roles by their text,
    directives by their argument (``.. note::`` as ``Note:``), directive options,
    targets and comments blanked."""
    out = []
    in_options = False
    for line in lines:
        directive = _DIRECTIVE.match(line)
        if directive:
            out.append(_directive_text(directive))
            in_options = True
            continue
        if in_options and _FIELD.match(line):
            out.append("")
            continue
        in_options = False
        if _TARGET_OR_COMMENT.match(line) and not _UNDERLINE.match(line.strip()):
            out.append("")
            continue
        out.append(rst_inline(line))
    return out


def _directive_text(match: re.Match[str]) -> str:
    name = match.group("name").rsplit(":", 1)[-1].lower()
    argument = rst_inline(match.group("arg").strip())
    indent = match.group("indent")
    if name in _ADMONITIONS:
        label = "See also" if name == "seealso" else name.capitalize()
        return f"{indent}{label}: {argument}".rstrip()
    if name in _VERSION_NOTES:
        return f"{indent}{_VERSION_NOTES[name]} {argument}".rstrip()
    if name in _ARGUMENT_IS_NOT_TEXT or not argument:
        return ""
    return f"{indent}{argument}"


def rst_inline(line: str) -> str:
    """Roles, interpreted text and literals of one line, by their text."""
    line = _ROLE.sub(lambda m: _role_text(m.group(1)), line)
    line = _LITERAL.sub(r"\1", line)
    return _INTERPRETED.sub(r"\1", line)


def _role_text(content: str) -> str:
    """``Title <target>`` reads as Title; ``~a.b.c`` as c; ``!name`` as name."""
    titled = re.fullmatch(r"(.*?)\s*<[^>]*>", content, re.DOTALL)
    if titled and titled.group(1):
        return titled.group(1)
    if content.startswith("~"):
        return content[1:].rsplit(".", 1)[-1]
    return content.lstrip("!")


# --- underlined headings (reStructuredText, plain text) ---------------------------------------


def underlined_headings(lines: list[str], skip: set[int]) -> list[Heading]:
    """reStructuredText (and plain-text) headings: a line underlined by punctuation.

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
        found.append(Heading(number - 1, styles.index(style) + 1, title, lines=2))
    return found
