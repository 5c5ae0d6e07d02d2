"""HTML: the readable text of the page, without scripts, navigation and other chrome."""

from __future__ import annotations

import re

from modules.semantic_core.ingest.extract.base import (
    MAX_TITLE_CHARS,
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
    r"breadcrumb|sidebar|related|signup|sign-up|promo|menu|navbar|toolbar",
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


def extract_html(markup: str) -> Extracted:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(_NOSCRIPT.sub(" ", markup))
    title_node = tree.css_first("title")
    page_title = title_node.text(strip=True) if title_node else ""
    root = tree.css_first("main") or tree.css_first("article") or tree.body or tree.root
    if root is None:
        require_text("")
    _drop_chrome(root)
    writer = _TextWriter()
    writer.walk(root)
    text = writer.text()
    require_text(text)
    headings = tuple(writer.headings)
    title = page_title or (headings[0].title if headings else first_line_title(text))
    return Extracted(text=text, title=title[:MAX_TITLE_CHARS], format="html", headings=headings)


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

    def __init__(self) -> None:
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
            title = _SPACES.sub(" ", child.text(deep=True)).strip()
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

    def text(self) -> str:
        self._paragraph_break()
        return "\n".join(self._lines).strip("\n") + "\n"
