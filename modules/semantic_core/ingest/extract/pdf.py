"""PDF through pypdf: text page by page; encrypted or broken files fail with a reason."""

from __future__ import annotations

import io
import logging

from modules.semantic_core.ingest.extract.base import (
    NO_DEADLINE,
    Deadline,
    Extracted,
    Unextractable,
    first_line_title,
    require_text,
)

MAX_PAGES = 2000


def extract_pdf(data: bytes | bytearray, deadline: Deadline = NO_DEADLINE) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed files are reported, not logged
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unextractable("encrypted PDF (needs a password); decrypt it first")
        pages = []
        for page in reader.pages[:MAX_PAGES]:
            deadline.check()
            pages.append(page.extract_text() or "")
        info = reader.metadata
        meta_title = (info.title or "") if info else ""
    except Unextractable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise Unextractable(f"corrupt PDF ({_short(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on hostile input
        if "crypt" in str(exc).lower():
            raise Unextractable("encrypted PDF that cannot be opened; decrypt it first") from None
        raise Unextractable(f"corrupt PDF ({_short(exc)})") from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    require_text(text)
    title = str(meta_title).strip() or first_line_title(text)
    return Extracted(text=text + "\n", title=title, format="pdf", metadata={"pages": len(pages)})


def _short(exc: BaseException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return message[:120]
