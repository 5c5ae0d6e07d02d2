"""Text extraction: bytes of a file in, plain text with its headings out.

Each format has a small extractor; ``extract`` picks one by file name and, for an
unknown extension, by sniffing the bytes. Extractors raise ``Unextractable`` with a
one-line reason; they never let a library's exception escape.
"""

from __future__ import annotations

from pathlib import PurePath

from modules.semantic_core.ingest.extract.base import (
    DEFAULT_FILE_SECONDS,
    NO_DEADLINE,
    Deadline,
    Extracted,
    Heading,
    StopRequested,
    TookTooLong,
    Unextractable,
    UnsupportedFile,
)

__all__ = [
    "DEFAULT_FILE_SECONDS",
    "NO_DEADLINE",
    "Deadline",
    "Extracted",
    "Heading",
    "StopRequested",
    "TookTooLong",
    "Unextractable",
    "UnsupportedFile",
    "extract",
    "format_of",
]

FORMATS = {
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "rst",
    ".adoc": "asciidoc",
    ".asciidoc": "asciidoc",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}


def format_of(path: PurePath) -> str | None:
    """The format a file name announces, or None for anything else (sniffed as text)."""
    return FORMATS.get(path.suffix.lower())


def extract(data: bytes | bytearray, path: PurePath, deadline: Deadline = NO_DEADLINE) -> Extracted:
    """Extract ``data`` (the bytes of ``path``) as text with headings, within ``deadline``.

    A ``bytearray`` is emptied as soon as it is decoded, so a large text or HTML file is
    not held as bytes and as text at once."""
    kind = format_of(path) or "text"
    if kind == "pdf":
        from modules.semantic_core.ingest.extract.pdf import extract_pdf

        return extract_pdf(data, deadline)
    if kind == "docx":
        from modules.semantic_core.ingest.extract.docx import extract_docx

        return extract_docx(data, deadline)
    from modules.semantic_core.ingest.extract.text import decode_text

    strict = format_of(path) is None
    if kind == "html":
        from modules.semantic_core.ingest.extract.html import extract_html

        # Passed on without a name here, so the page can let go of its markup once parsed.
        return extract_html(decode_text(data, strict), deadline)
    text = decode_text(data, strict)
    deadline.check()
    kind = _text_kind(text) if kind == "text" else kind
    if kind == "man":
        from modules.semantic_core.ingest.extract.manpage import extract_man_page

        return extract_man_page(text)
    if kind == "asciidoc":
        from modules.semantic_core.ingest.extract.asciidoc import extract_asciidoc

        return extract_asciidoc(text)
    from modules.semantic_core.ingest.extract.markup import extract_markup

    return extract_markup(text, kind)


def _text_kind(text: str) -> str:
    """What a ``.txt`` (or unnamed) file really is: a man page rendered to text, AsciiDoc
    (git's documentation is ``.txt``), or plain text. Read as plain text, a man page's
    running header became its title and AsciiDoc's block delimiters became headings."""
    from modules.semantic_core.ingest.extract.asciidoc import looks_like_asciidoc
    from modules.semantic_core.ingest.extract.manpage import looks_like_man_page

    if looks_like_man_page(text):
        return "man"
    if looks_like_asciidoc(text):
        return "asciidoc"
    return "text"
