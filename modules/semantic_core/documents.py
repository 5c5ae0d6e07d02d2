"""How a document is named, everywhere in analyzer.

- ``path``: where the document came from and how people see it: the absolute path of
  a file as ingested, or the id a program gave a record. Unique in a collection.
- ``uid``: the stable public identifier: a record's id, or a hash of a file's path.
  It survives re-ingest and is what ``--json`` output calls ``document_id``; it is
  also accepted wherever a command takes a document.
- ``id``: the row id in ``documents``; internal, never shown.
- ``DocumentRef``: the four together with the title. Every service result names a
  document by its ``DocumentRef``, and JSON shows it as
  ``{"document": path, "document_id": uid, "title": title}``.

A command's DOC argument is a *reference*: a path (absolute or relative to the
working directory), a uid, or a unique end of a path; ``analysis.corpus`` resolves
it to a ``DocumentRef``.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.paths import storable


@dataclass(frozen=True)
class DocumentRef:
    """Enough of a document to name it: its row id, uid, path and title."""

    id: int
    uid: str
    path: str
    title: str


# The columns of ``documents`` that make a DocumentRef, in its field order.
REF_COLUMNS = ["id", "uid", "path", "title"]


def path_pattern(glob: str | None) -> str | None:
    """A --path glob as stored paths are matched: they are absolute, so a relative
    pattern matches anywhere below a folder (``*.md``, ``kitchen/*``)."""
    if not glob:
        return None
    glob = storable(glob)
    return glob if glob.startswith(("/", "*")) else f"*/{glob}"
