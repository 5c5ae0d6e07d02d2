"""What a model reads for a chunk: its heading path, then its text.

One definition for every model that reads a chunk: the ingest embedder (a fresh
ingest and a re-embed alike, so one model gives one vector for one chunk) and the
re-ranker. The heading is the stored heading path, which starts with the
document's title; a first line of text that repeats the heading is read once.
"""

from __future__ import annotations


def chunk_passage(heading: str, text: str) -> str:
    """Heading path, then text; a first line that repeats the heading is said once."""
    return join_passage(heading, passage_body(heading, text))


def passage_body(heading: str, text: str) -> str:
    text = text.strip()
    first, _, rest = text.partition("\n")
    if heading and first.strip() in (heading, heading.rsplit(" > ", 1)[-1]):
        return rest.strip()
    return text


def join_passage(heading: str, body: str) -> str:
    if heading and body:
        return f"{heading}\n{body}"
    return heading or body
