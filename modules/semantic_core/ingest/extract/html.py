"""HTML: the readable text of the page, without scripts, navigation and other chrome.

A large page is parsed a piece at a time, cut before a block element and never inside
a comment, a script, a style or preformatted text: the parsed tree takes about ten
times the memory of its markup, so a 50 MB page parsed whole would need 500 MB.
"""

from __future__ import annotations

import html
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

# What a reader never sees in the page: comments, the title, scripts and styles (to
# their end, or to the page's end when they never close, as a browser reads them) and tags.
# Removed in three passes, the common case (a tag on one line) without a Python call each.
_HIDDEN_REGIONS = re.compile(
    r"<!--.*?(?:-->|\Z)|<(script|style|title)\b.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
_ONE_LINE_TAG = re.compile(r"<[A-Za-z/!?][^>\n]*>")
_TAG = re.compile(r"<[A-Za-z/!?][^>]*>?")
# A character reference that decodes to a line break would add a line the file lacks.
_NEWLINE_REFERENCE = re.compile(r"&(?:#0*10;?|#[xX]0*[aA];?|NewLine;)")
_WORD_OR_BREAK = re.compile(r"[\w\n]+")
_WORD = re.compile(r"\w+")
# A line is looked for by the letters and digits of its start: long enough to be told
# apart from the rest of the page, short enough to survive text the extractor reshaped.
KEY_CHARS = 32
# Within this many letters and digits of the line before, the first match is the line.
NEAR_CHARS = 2_000
PARTIAL_KEY_CHARS = (16, 8)
# Farther on (past dropped navigation, say), a match counts only where the next line
# follows it: a key can also match across words ("273" in "2273"), or the same words
# pages later, and a wrong jump ahead would drag every later line with it.
SHORT_KEY_CHARS = 6
LOOK_AHEAD_CHARS = 200_000
CANDIDATES = 8
# A long key not found ahead is looked for in the whole rest of the page, a bounded
# number of times: each costs one scan of the page.
FAR_KEY_CHARS = 20
FAR_SEARCHES = 64


def source_lines(markup: str, lines: list[str], deadline: Deadline = NO_DEADLINE) -> array[int]:
    """For each line of extracted text, the 1-based line of ``markup`` where it starts.

    Each line is found again, in order, in the page's visible text reduced to its
    letters and digits: tags, comments, scripts, character references, spaces and
    punctuation differ between the markup and the text, words do not. (Looking for
    one word of the line in the raw markup went wrong at the first word split by a
    tag, ``<code>blank</code>s``: it matched the same word in the index at the end of
    a manual, and every later line was placed there too.)"""
    words, starts = _visible_words(markup)
    deadline.check()
    texts = _letters_and_digits("\n".join(lines)).split("\n")
    if len(texts) != len(lines):  # a line with a break in it: never from this module
        texts = [_letters_and_digits(line).replace("\n", "") for line in lines]
    following = _next_keys(texts)
    search = _LineSearch(words)
    origins = array("l")
    line_number, cursor, row, last_row = 1, 0, 0, len(starts) - 1
    for index, text in enumerate(texts):
        if (index + 1) % _TextWriter.CHECK_EVERY == 0:
            deadline.check()
        found, length = search.find(text, following[index], lines[index], cursor)
        if found >= 0:
            # Matches only move forward, and so does the markup line they are on.
            while row < last_row and starts[row + 1] <= found:
                row += 1
            line_number, cursor = row + 1, found + length
        origins.append(line_number)
    return origins


def _visible_words(markup: str) -> tuple[str, array[int]]:
    """The letters and digits of what the page shows, and where each line of the
    markup starts in them."""
    shown = _HIDDEN_REGIONS.sub(_its_line_breaks, markup)
    shown = _TAG.sub(_its_line_breaks, _ONE_LINE_TAG.sub("", shown))
    shown = html.unescape(_NEWLINE_REFERENCE.sub(" ", shown))
    markup_lines = _letters_and_digits(shown).split("\n")
    del shown
    starts = array("l", [0])
    total = 0
    for part in markup_lines[:-1]:
        total += len(part)
        starts.append(total)
    return "".join(markup_lines), starts


def _its_line_breaks(hidden: re.Match[str]) -> str:
    return "\n" * hidden.group(0).count("\n")


def _letters_and_digits(text: str) -> str:
    """``text`` without spaces and punctuation, its line breaks kept."""
    return "".join(_WORD_OR_BREAK.findall(text))


def _next_keys(texts: list[str]) -> list[str]:
    """For each line, the key of the next line that has letters or digits ("" if none)."""
    following = [""] * len(texts)
    after = ""
    for index in range(len(texts) - 1, -1, -1):
        following[index] = after
        if texts[index]:
            after = texts[index][:KEY_CHARS]
    return following


class _LineSearch:
    """Finds lines' letters and digits in the page's (``words``), each after the last."""

    def __init__(self, words: str) -> None:
        self.words = words
        self.far_searches = FAR_SEARCHES

    def find(self, text: str, next_key: str, line: str, cursor: int) -> tuple[int, int]:
        """Where ``text`` (the letters and digits of ``line``) starts at or after
        ``cursor``, and how many of its characters matched there; (-1, 0) if nowhere.
        ``next_key``: the next line's key, to confirm a match far ahead."""
        if not text:
            return -1, 0
        key = text[:KEY_CHARS]
        near_end = cursor + NEAR_CHARS
        found = self.words.find(key, cursor, near_end)
        if found >= 0:
            return found, len(text) if self.words.startswith(text, found) else len(key)
        # A line joined across dropped markup: the start of its start, nearby, where the
        # next line follows (a heading in a long dropped table of contents is not).
        for length in PARTIAL_KEY_CHARS:
            if len(key) > length:
                found = self._followed(key[:length], next_key, cursor, cursor, near_end)
                if found >= 0:
                    return found, length
        if len(key) >= SHORT_KEY_CHARS:
            found = self._followed(key, next_key, cursor, near_end, cursor + LOOK_AHEAD_CHARS)
            if found < 0 and self.far_searches > 0 and len(key) >= FAR_KEY_CHARS:
                self.far_searches -= 1
                found = self._followed(key, next_key, cursor, cursor + LOOK_AHEAD_CHARS, None)
        if found >= 0:
            return found, len(text) if self.words.startswith(text, found) else len(key)
        # Text the extractor joined from pieces apart in the markup: its first word,
        # nearby, is closer to the truth than the line before.
        first = _WORD.search(line)
        found = self.words.find(first.group(), cursor, near_end) if first else -1
        return (found, len(first.group())) if first and found >= 0 else (-1, 0)

    def _followed(self, key: str, next_key: str, cursor: int, start: int, end: int | None) -> int:
        """The first match of ``key`` from ``start`` (before ``end``) that the next line
        follows; -1 if none among the first few."""
        end = len(self.words) if end is None else end
        if start >= len(self.words):
            return -1
        found = self.words.find(key, max(cursor, start - len(key)), end)
        for _ in range(CANDIDATES):
            if found < 0:
                return -1
            after = found + len(key)
            if not next_key or self.words.find(next_key, after, after + NEAR_CHARS) >= 0:
                return found
            found = self.words.find(key, found + 1, end)
        return -1


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
    # Inside code, a class names what the code is ("comment", "attr"), never furniture.
    in_code = {node.mem_id for node in root.css("pre [class], pre [id], code [class], code [id]")}
    for node in root.css("[class], [id], [role]"):
        if node.mem_id in in_code:
            continue
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
            # One line, whatever breaks its markup holds: a heading's text with a line
            # break in it would shift every later line against its place in the page.
            title = " ".join(child.text(deep=True).split()).rstrip("¶#").strip()
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
