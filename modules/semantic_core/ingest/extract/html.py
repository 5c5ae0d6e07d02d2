"""HTML: the readable text of the page, without scripts, navigation and other chrome.

A large page is parsed a piece at a time, cut before a block element and never inside
a comment, a script, a style or preformatted text: the parsed tree takes about ten
times the memory of its markup, so a 50 MB page parsed whole would need 500 MB.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from dataclasses import replace

from modules.semantic_core.ingest.extract.base import (
    MAX_TITLE_CHARS,
    NO_DEADLINE,
    Deadline,
    Extracted,
    Heading,
    first_line_title,
    require_text,
)

# Elements whose content is never part of the document's text.
_DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "canvas",
    "iframe",
    "object",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "button",
    "select",
    "dialog",
    "head",
)
# Page furniture that lives in ordinary elements, recognised by its class or id.
_CHROME = re.compile(
    r"cookie|consent|newsletter|subscribe|popup|modal|share|social|comment|advert|banner|"
    r"breadcrumb|sidebar|related|signup|sign-up|promo|menu|navbar|toolbar|"
    r"footer|headerlink|navigation|contentinfo|skip-link",
    re.IGNORECASE,
)
_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "blockquote",
    "pre",
    "figure",
    "figcaption",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "address",
    "details",
    "summary",
    "body",
}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SPACES = re.compile(r"[ \t\u00a0]+")
# A parser without scripting moves <noscript> content out of <head> into the body.
_NOSCRIPT = re.compile(r"<noscript\b.*?</noscript\s*>", re.IGNORECASE | re.DOTALL)
PIECE_CHARS = 1_000_000
# Where a piece may end: before one of these tags, outside the regions below.
_BLOCK_START = re.compile(
    r"<(?:h[1-6]|p|div|section|article|li|tr|table|ul|ol|dl|dt|dd|blockquote|figure|pre)[\s>/]",
    re.IGNORECASE,
)
_UNCUTTABLE = re.compile(
    r"<!--|<(script|style|textarea|title|xmp|noscript|pre|plaintext|template|svg)\b",
    re.IGNORECASE,
)


def extract_html(markup: str, deadline: Deadline = NO_DEADLINE) -> Extracted:
    writer = _TextWriter(deadline)
    page_title = ""
    for number, piece in enumerate(markup_pieces(markup, PIECE_CHARS)):
        deadline.check()
        title = _read_piece(piece, writer, first=number == 0)
        page_title = page_title or title
    lines = writer.finished_lines()
    origins = source_lines(markup, lines, deadline)
    del markup, piece  # before the text is joined: both at once would be one copy more
    text = "\n".join(lines)
    require_text(text)
    headings = tuple(writer.headings)
    title = page_title_without_site(page_title, headings) or first_line_title(text)
    return Extracted(
        text=text,
        title=title[:MAX_TITLE_CHARS],
        format="html",
        headings=headings,
        source_lines=origins,
    )


def page_title_without_site(page_title: str, headings: tuple[Heading, ...]) -> str:
    """The page's own title: its first top heading when the <title> starts with it, so
    "argparse — Parser for command-line options — Python 3.11 documentation" reads as
    the page's heading, without the suffix every page of the site carries."""
    top = next((h for h in headings if h.level == 1), headings[0] if headings else None)
    if top is None:
        return page_title
    if not page_title or _squashed(page_title).startswith(_squashed(top.title)):
        return top.title
    return page_title


def _squashed(text: str) -> str:
    return re.sub(r"[\W_]+", "", text).lower()


# --- where each line of text is in the markup --------------------------------------------------

_BODY = re.compile(r"<body\b", re.IGNORECASE)
_WORD = re.compile(r"\w+")
# How far ahead a line's first word is looked for: text that is not found (an entity in
# it, say) keeps the line of the text before it rather than costing a scan of the page.
LOOK_AHEAD_CHARS = 200_000


def source_lines(markup: str, lines: list[str], deadline: Deadline = NO_DEADLINE) -> array[int]:
    """For each line of extracted text, the 1-based line of ``markup`` where it starts.

    The text is found again by its first word, in order, outside tags: each line is
    looked for after the one before, so the cost is one pass over the markup."""
    body = _BODY.search(markup)
    cursor = body.start() if body else 0
    line_number = 1 + markup.count("\n", 0, cursor)
    origins = array("l")
    for count, line in enumerate(lines, start=1):
        if count % _TextWriter.CHECK_EVERY == 0:
            deadline.check()
        found = _find_text(markup, line, cursor) if line else None
        if found is not None:
            start, end = found
            line_number += markup.count("\n", cursor, start)
            cursor = end  # the next line's text comes after this word
        origins.append(line_number)
    return origins


def _find_text(markup: str, line: str, start: int) -> tuple[int, int] | None:
    """Where the line's telling word is in ``markup`` after ``start``: (start, end)."""
    words = _WORD.findall(line, 0, 200)[:3]
    if not words:
        return None
    # A short first word ("a", "1") matches anywhere; the longest of the first three does not.
    word = words[0] if len(words[0]) >= 4 else max(words, key=len)
    end = min(len(markup), start + LOOK_AHEAD_CHARS)
    position = markup.find(word, start, end)
    while position >= 0:
        before = markup[position - 1] if position else " "
        after = markup[position + len(word)] if position + len(word) < len(markup) else " "
        inside_tag = markup.rfind("<", start, position) > markup.rfind(">", start, position)
        if not (before.isalnum() or before in "_&#" or after.isalnum() or inside_tag):
            return position, position + len(word)
        position = markup.find(word, position + 1, end)
    return None


def _read_piece(piece: str, writer: _TextWriter, first: bool) -> str:
    """Parse one piece into ``writer``; the page's title if this piece holds it.

    The first piece holds the page's start: its title, and the <main> or <article>
    that marks the content. Later pieces are read whole."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(_NOSCRIPT.sub(" ", piece))
    title_node = tree.css_first("title") if first else None
    root = (tree.css_first("main") or tree.css_first("article")) if first else None
    root = root or tree.body or tree.root
    if root is not None:
        _drop_chrome(root)
        writer.walk(root)
    return title_node.text(strip=True) if title_node else ""


def markup_pieces(markup: str, size: int) -> Iterator[str]:
    """``markup`` in pieces of about ``size`` characters, each cut at a safe place; one
    piece when there is none (a page that is one long script, say)."""
    start = 0
    while len(markup) - start > size:
        cut = _safe_cut(markup, start, start + size)
        if cut is None:
            break
        yield markup[start:cut]
        start = cut
    yield markup[start:]


def _safe_cut(markup: str, start: int, target: int) -> int | None:
    """The first block start at or after ``target`` that lies outside every comment,
    script, style and preformatted region opened since ``start``."""
    position = start
    while True:
        block = _BLOCK_START.search(markup, max(position, target))
        if block is None:
            return None
        region = _UNCUTTABLE.search(markup, position, block.start())
        if region is None:
            return block.start()
        position = _region_end(markup, region)
        if position < 0:
            return None


def _region_end(markup: str, region: re.Match[str]) -> int:
    """Where a comment or a raw element closes; -1 if it never does."""
    if region.group(0) == "<!--":
        end = markup.find("-->", region.end())
        return end + 3 if end >= 0 else -1
    close = re.compile(rf"</{region.group(1)}\s*>", re.IGNORECASE).search(markup, region.end())
    return close.end() if close else -1


def _drop_chrome(root) -> None:  # noqa: ANN001 - selectolax node
    for tag in _DROP_TAGS:
        for node in root.css(tag):
            node.decompose()
    for node in root.css("[class], [id], [role]"):
        marker = " ".join(
            filter(
                None,
                (
                    node.attributes.get("class"),
                    node.attributes.get("id"),
                    node.attributes.get("role"),
                ),
            )
        )
        if _CHROME.search(marker) and node.tag not in ("body", "main", "article", "html"):
            node.decompose()


class _TextWriter:
    """Walks the tree, writing block elements as paragraphs and noting headings."""

    CHECK_EVERY = 4096  # nodes between two looks at the deadline

    def __init__(self, deadline: Deadline = NO_DEADLINE) -> None:
        self._deadline = deadline
        self._visited = 0
        self._lines: list[str] = []
        self._current: list[str] = []
        self.headings: list[Heading] = []

    def walk(self, root) -> None:  # noqa: ANN001 - selectolax node
        """Depth first, with a stack of its own: a page nested 100,000 deep is just long."""
        # Each entry: the children still to visit, whether inside <pre>, and whether the
        # element is a block (a paragraph break follows its last child).
        stack = [(iter(root.iter(include_text=True)), False, False)]
        while stack:
            children, in_pre, _ = stack[-1]
            child = next(children, None)
            if child is None:
                if stack.pop()[2]:
                    self._paragraph_break()
                continue
            self._visited += 1
            if self._visited % self.CHECK_EVERY == 0:
                self._deadline.check()
            if self._inline(child, in_pre):
                continue
            tag = child.tag
            block = tag in _BLOCK_TAGS
            if block:
                self._paragraph_break()
            if tag in ("td", "th"):
                self._current.append(" | ")
            stack.append((iter(child.iter(include_text=True)), in_pre or tag == "pre", block))

    def _inline(self, child, in_pre: bool) -> bool:  # noqa: ANN001
        """Text, comments and headings, which have no children to visit; True if handled."""
        tag = child.tag
        if tag == "-text":
            text = child.text_content
            self._current.append(text if in_pre else _SPACES.sub(" ", text))
            return True
        if tag in ("-comment", "!doctype"):
            return True
        if tag in _HEADINGS:
            self._paragraph_break()
            title = _SPACES.sub(" ", child.text(deep=True)).strip().rstrip("¶#").strip()
            if title:
                self.headings.append(Heading(len(self._lines), _HEADINGS[tag], title))
                self._lines.extend([title, ""])
            return True
        return False

    def _paragraph_break(self) -> None:
        raw = "".join(self._current)
        self._current = []
        for line in raw.split("\n"):
            line = line.rstrip()
            if line.strip():
                self._lines.append(line.strip(" |") if "|" in line else line.strip())
        if self._lines and self._lines[-1] != "":
            self._lines.append("")

    def finished_lines(self) -> list[str]:
        """The page's lines, without blank ones at either end, and a final newline's."""
        self._paragraph_break()
        lines = self._lines
        while lines and lines[-1] == "":
            lines.pop()
        first = next((i for i, line in enumerate(lines) if line != ""), len(lines))
        del lines[:first]
        self.headings = [replace(h, line=h.line - first) for h in self.headings]
        lines.append("")
        return lines
