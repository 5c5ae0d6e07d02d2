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

    def walk(self, node, in_pre: bool = False) -> None:  # noqa: ANN001
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                self._current.append(
                    child.text_content if in_pre else _SPACES.sub(" ", child.text_content)
                )
                continue
            if tag in ("-comment", "!doctype"):
                continue
            if tag in _HEADINGS:
                self._paragraph_break()
                title = _SPACES.sub(" ", child.text(deep=True)).strip()
                if title:
                    self.headings.append(Heading(len(self._lines), _HEADINGS[tag], title))
                    self._lines.extend([title, ""])
                continue
            block = tag in _BLOCK_TAGS
            if block:
                self._paragraph_break()
            if tag in ("td", "th"):
                self._current.append(" | ")
            self.walk(child, in_pre or tag == "pre")
            if block:
                self._paragraph_break()

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
