"""semantic_core.db: collections, documents and their chunks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from modules.core.database.db_models import SQLiteJSON, UTCDateTime, get_database_base, utcnow
from modules.semantic_core.index import fulltext_postgres, fulltext_sqlite, vectors_postgres

DATABASE_NAME = "semantic_core"
SCHEMA_REVISION = 9

Base = get_database_base(DATABASE_NAME)


def new_epoch() -> str:
    """A value no other collection row has had: 128 random bits."""
    return uuid.uuid4().hex


class Collection(Base):
    """A named set of documents embedded with one model.

    ``generation`` goes up in the same transaction as every write that changes the
    collection's documents or chunks. It counts changes to one row only: a collection
    dropped and made again restarts at 1, and SQLite gives the new row the old row's
    id (and its documents and chunks the old ids too). So ``epoch``, drawn at random
    when the row is made and never changed, tells two lives of a name apart, and a
    long-lived process keys what it keeps in memory (vector matrices, paths, keyword
    and duplicate results) by ``version``, which never repeats for other contents,
    whichever process wrote.

    A random epoch rather than ``AUTOINCREMENT`` ids: it is one column added the same
    way on SQLite and PostgreSQL (``AUTOINCREMENT`` means rebuilding the table every
    other table points at, on SQLite alone), and it also tells apart databases that
    share ids, such as a file restored from a backup or put in place by another
    process while a server runs. A writer checks it too, so an ingest never writes
    into a collection that took the place of the one it opened.
    """

    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    model_id: Mapped[str] = mapped_column(String(200))
    dimension: Mapped[int] = mapped_column(Integer)
    settings: Mapped[dict[str, Any]] = mapped_column(SQLiteJSON, default=dict)
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The database's default ('') is the one revision 6 added the column with; the
    # application always draws an epoch.
    epoch: Mapped[str] = mapped_column(String(32), default=new_epoch, server_default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def version(self) -> tuple[str, int]:
        """What the collection holds now, as a key that never repeats for other contents."""
        return (self.epoch, self.generation)


class Document(Base):
    """One source document (a file, or a record handed in by a program)."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("collection_id", "path"),
        UniqueConstraint("collection_id", "uid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    uid: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(20))
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, default=0)
    char_count: Mapped[int] = mapped_column(Integer, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", SQLiteJSON, default=dict)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    # What search compares to show a page stored under several paths once (``copies``).
    # NULL before revision 8, until the document is read again.
    sketch: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Chunk(Base):
    """A passage of a document, with where it came from and its embedding."""

    __tablename__ = "chunks"
    __table_args__ = (UniqueConstraint("document_id", "ordinal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    heading: Mapped[str] = mapped_column(Text, default="")
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    line_start: Mapped[int] = mapped_column(Integer)
    line_end: Mapped[int] = mapped_column(Integer)
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Where the chunk starts in the file on disk: its line (text, Markdown, RST, HTML,
    # DOCX's extracted text) or its page (PDF). NULL in chunks stored before revision 5.
    source_line: Mapped[int | None] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer)
    # Where each line of the chunk's text is in the file, for formats whose text lines are
    # not the file's (HTML): ``line_map_offsets`` packs, per line, its file line minus
    # ``source_line``. NULL when the numbering is the file's, and before revision 8.
    line_map: Mapped[bytes | None] = mapped_column(LargeBinary)


# The full-text index over chunks is dialect-specific: its DDL lives with its adapter.
# On SQLite each collection has its own, made and dropped with the collection's row.
fulltext_sqlite.install(Collection)
fulltext_postgres.install(Chunk.__table__)
vectors_postgres.install(Chunk.__table__)


# --- analysis results ---------------------------------------------------------------


class DuplicateScan(Base):
    """The last duplicate scan of a collection: when, at which threshold, over what."""

    __tablename__ = "duplicate_scans"

    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    threshold: Mapped[float] = mapped_column()
    signal: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(200))
    documents: Mapped[int] = mapped_column(Integer)
    pairs: Mapped[int] = mapped_column(Integer)
    clusters: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DuplicatePair(Base):
    """Two documents of a collection found to be duplicates: exact (same bytes) or near."""

    __tablename__ = "duplicate_pairs"
    __table_args__ = (UniqueConstraint("document_a", "document_b"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    document_a: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    document_b: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    score: Mapped[float] = mapped_column()
    kind: Mapped[str] = mapped_column(String(10))  # "exact" or "near"
    cluster: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class KeywordCache(Base):
    """TF-IDF keywords of a collection and of each of its documents, valid for one fingerprint.

    The fingerprint (the collection's generation) changes whenever a document is
    added, changed or removed, and the cache is then recomputed.
    """

    __tablename__ = "keyword_cache"

    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    fingerprint: Mapped[str] = mapped_column(String(200))
    keywords: Mapped[dict[str, Any]] = mapped_column(SQLiteJSON, default=dict)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- migrations ------------------------------------------------------------------


def _add_generation(connection: Connection) -> None:
    connection.execute(
        text("ALTER TABLE collections ADD COLUMN generation INTEGER NOT NULL DEFAULT 0")
    )


# Formats whose extraction changed with revision 5 (CommonMark Markdown, RST roles,
# HTML boilerplate, PDF outlines and running headers).
_REREAD_AT_5 = ("markdown", "rst", "html", "pdf")


def _add_source_locations(connection: Connection) -> None:
    """Chunks learn their source line and page. Documents of the formats read better now
    are marked changed (no hash, no mtime), so the next ingest reads them again; until
    then their hits fall back to the extracted text's lines."""
    connection.execute(text("ALTER TABLE chunks ADD COLUMN source_line INTEGER"))
    connection.execute(text("ALTER TABLE chunks ADD COLUMN page INTEGER"))
    formats = ", ".join(f"'{name}'" for name in _REREAD_AT_5)
    connection.execute(
        text(f"UPDATE documents SET content_hash = '', mtime_ns = -1 WHERE format IN ({formats})")
    )


def _add_epochs(connection: Connection) -> None:
    """Collections learn their epoch (see ``Collection``); each existing row draws its own."""
    connection.execute(
        text("ALTER TABLE collections ADD COLUMN epoch VARCHAR(32) NOT NULL DEFAULT ''")
    )
    ids = connection.execute(text("SELECT id FROM collections")).scalars().all()
    for collection_id in ids:
        connection.execute(
            text("UPDATE collections SET epoch = :epoch WHERE id = :id"),
            {"epoch": new_epoch(), "id": collection_id},
        )


# Read better since revision 7: AsciiDoc and man pages saved as text (their sections as
# headings, a man page's NAME line as its title), and HTML pages' lines in large pages.
_REREAD_AT_7 = ("text", "html")


def _reread_text_and_html(connection: Connection) -> None:
    """Documents of the formats read better now are marked changed (no hash, no mtime),
    so the next ingest reads them again, as revision 5 did for its formats."""
    formats = ", ".join(f"'{name}'" for name in _REREAD_AT_7)
    connection.execute(
        text(f"UPDATE documents SET content_hash = '', mtime_ns = -1 WHERE format IN ({formats})")
    )


def _add_line_maps(connection: Connection) -> None:
    """Chunks learn where each of their lines is in the file, documents their sketch; HTML
    documents, the format that needs a line map, are marked changed so the next ingest
    stores their maps. Other documents get their sketch when they are next read."""
    binary = "BYTEA" if connection.dialect.name == "postgresql" else "BLOB"
    connection.execute(text(f"ALTER TABLE chunks ADD COLUMN line_map {binary}"))
    connection.execute(text(f"ALTER TABLE documents ADD COLUMN sketch {binary}"))
    connection.execute(
        text("UPDATE documents SET content_hash = '', mtime_ns = -1 WHERE format = 'html'")
    )


MIGRATIONS = {
    2: _add_generation,
    3: fulltext_postgres.upgrade,
    4: vectors_postgres.upgrade,
    5: _add_source_locations,
    6: _add_epochs,
    7: _reread_text_and_html,
    8: _add_line_maps,
    9: fulltext_sqlite.upgrade,
}
