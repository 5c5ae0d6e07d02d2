"""DOCX through python-docx, after checking the zip cannot explode in memory."""

from __future__ import annotations

import io
import zipfile

from modules.semantic_core.ingest.extract.base import (
    NO_DEADLINE,
    Deadline,
    Extracted,
    Heading,
    Unextractable,
    first_line_title,
    require_text,
)

MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200
_LEVELS = {"title": 1}


def extract_docx(data: bytes | bytearray, deadline: Deadline = NO_DEADLINE) -> Extracted:
    check_zip_is_safe(data)
    from docx import Document

    try:
        document = Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx raises many types on bad input
        raise Unextractable(f"not a valid .docx ({str(exc).splitlines()[0][:120]})") from None
    lines: list[str] = []
    headings: list[Heading] = []
    for number, (level, text) in enumerate(_body_blocks(document)):
        if number % 256 == 0:
            deadline.check()
        if not text.strip():
            continue
        if level:
            headings.append(Heading(len(lines), level, text.strip()))
        lines.extend([text.strip(), ""])
    text = "\n".join(lines)
    require_text(text)
    core_title = (document.core_properties.title or "").strip()
    title = core_title or (headings[0].title if headings else first_line_title(text))
    return Extracted(text=text, title=title, format="docx", headings=tuple(headings))


def check_zip_is_safe(data: bytes | bytearray) -> None:
    """Refuse archives that are not zips or that would inflate beyond our limits."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise Unextractable("not a valid .docx (not a zip archive)") from None
    total = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members) or 1
    if total > MAX_UNCOMPRESSED_BYTES or total / packed > MAX_COMPRESSION_RATIO:
        raise Unextractable(
            f"refused .docx: it would inflate to {total // (1024 * 1024)} MiB "
            f"(ratio {total // packed}:1), which looks like a zip bomb"
        )
    if "word/document.xml" not in {m.filename for m in members}:
        raise Unextractable("not a valid .docx (no word/document.xml inside)")


def _body_blocks(document):  # noqa: ANN001, ANN202 - python-docx objects
    """(heading level or 0, text) for paragraphs and table rows, in document order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            yield _heading_level(item.style.name if item.style is not None else ""), item.text
        elif isinstance(item, Table):
            for row in item.rows:
                cells = [cell.text.strip() for cell in row.cells]
                yield 0, " | ".join(c for c in cells if c)


def _heading_level(style: str) -> int:
    lowered = style.lower()
    if lowered in _LEVELS:
        return _LEVELS[lowered]
    if lowered.startswith("heading "):
        suffix = lowered.removeprefix("heading ").strip()
        return int(suffix) if suffix.isdigit() else 1
    return 0
