"""Full-text search on SQLite: FTS5 with porter stemming, one index per collection, and an
optional trigram index.

Each collection has its own FTS5 table, ``chunks_fts_<collection id>``, so BM25's
statistics (how many chunks, their average length, how many hold a word) are the
collection's own: another collection beside it moves none of its scores. Measured by
bench/fts_collections.py beside a collection of 156k chunks of manuals and changelogs:
SciFact's keyword nDCG@10 (train) stays 0.698, where the shared index gave 0.684; a
keyword query in SciFact takes 15 ms at p50 instead of 70 (the shared index's best rows
were the other collection's, and every match was joined); one in the large collection
75 ms instead of 99; and writing chunks through the triggers costs the same (0.99
times). The table is made in the transaction that inserts the collection's row and
dropped in the one that deletes it (mapper events on ``Collection``), before the row's
cascade, so a dropped collection's chunks are not taken out of an index one by one.

Each index is external-content: the text lives once, in ``chunks``, and the index reads
it, when it must (``rebuild``, counting its rows), through a view of the collection's
chunks, so ``db-status`` counts each collection's own chunks. Triggers keep it in the
same transaction as every insert, update and delete of a chunk, cascades included: an
insert goes to the table of its document's collection (one primary-key lookup per
collection and chunk), a delete or update to the table that holds the chunk (its
``docsize`` row; a cascade deletes the document row before its chunks, so the document
can no longer be asked).

User text becomes a MATCH expression in which every term is quoted, so FTS5 syntax in
it (quotes, parentheses, AND, OR, NOT, NEAR, ``*``, ``:``, ``-``) is searched as words
and never raises a syntax error. Terms are OR-ed, as BM25 expects, after
``lexical.query_terms`` drops English stopwords.

The trigram index serves scripts written without spaces (Chinese, Japanese, Korean) and
substring matches. It is built on demand (``analyzer ingest --trigram``), about three
times the size of the text, and stays one index for all collections, its statistics
shared: it is opt-in, and its search filters by collection after ranking, as every
keyword search did before revision 9.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from analyzer.errors import DatabaseError
from modules.semantic_core.lexical import query_terms

FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"
TRIGRAM_TABLE = "chunks_trigram"
# Revision 8 and before: one index of every collection's chunks, and its triggers.
SHARED_FTS_TABLE = "chunks_fts"
_SHARED_FTS_TRIGGERS = ("chunks_fts_insert", "chunks_fts_delete", "chunks_fts_update")
_PER_COLLECTION = re.compile(r"chunks_fts_(\d+)")

# bm25() column weights (heading, text): a heading path starts with the title, and
# title matches count more (SciFact train: title weight 3 gave nDCG@10 0.704 vs 0.699).
BM25_WEIGHTS = (3.0, 1.0)
# The index's best rows ranked before the path filter (and, in the shared trigram index,
# the collection filter): that many times the rows wanted, so a filter that passes one
# row in a few still fills its list in one go.
HEAD_FACTOR = 4


def fts_table(collection_id: int) -> str:
    """The FTS5 table of a collection's chunks."""
    return f"chunks_fts_{int(collection_id)}"


def _content_view(collection_id: int) -> str:
    return f"chunks_of_{int(collection_id)}"


def _collection_ddl(collection_id: int) -> list[str]:
    """The view, the FTS5 table and the three triggers of one collection's index."""
    number = int(collection_id)
    table, view = fts_table(number), _content_view(number)
    owns = f"EXISTS (SELECT 1 FROM {table}_docsize WHERE id = old.id)"
    return [
        f"CREATE VIEW {view} AS SELECT c.id, c.heading, c.text FROM chunks c "
        f"JOIN documents d ON d.id = c.document_id WHERE d.collection_id = {number}",
        f"CREATE VIRTUAL TABLE {table} USING fts5(heading, text, content='{view}', "
        f"content_rowid='id', tokenize='{FTS_TOKENIZER}')",
        f"""CREATE TRIGGER {table}_insert AFTER INSERT ON chunks
        WHEN (SELECT collection_id FROM documents WHERE id = new.document_id) = {number}
        BEGIN
            INSERT INTO {table}(rowid, heading, text) VALUES (new.id, new.heading, new.text);
        END""",
        f"""CREATE TRIGGER {table}_delete AFTER DELETE ON chunks WHEN {owns} BEGIN
            INSERT INTO {table}({table}, rowid, heading, text)
            VALUES ('delete', old.id, old.heading, old.text);
        END""",
        f"""CREATE TRIGGER {table}_update AFTER UPDATE OF heading, text ON chunks
        WHEN {owns} BEGIN
            INSERT INTO {table}({table}, rowid, heading, text)
            VALUES ('delete', old.id, old.heading, old.text);
            INSERT INTO {table}(rowid, heading, text) VALUES (new.id, new.heading, new.text);
        END""",
    ]


def _drop_collection_ddl(collection_id: int) -> list[str]:
    table = fts_table(collection_id)
    return [
        *(f"DROP TRIGGER IF EXISTS {table}_{event}" for event in ("insert", "delete", "update")),
        f"DROP TABLE IF EXISTS {table}",
        f"DROP VIEW IF EXISTS {_content_view(collection_id)}",
    ]


def create_collection_index(connection: Connection, collection_id: int, fill: bool) -> None:
    """A collection's index, made anew (whatever an earlier life of its id left), and with
    ``fill`` filled from the chunks it already has."""
    for statement in _drop_collection_ddl(collection_id) + _collection_ddl(collection_id):
        connection.execute(text(statement))
    if fill:
        table = fts_table(collection_id)
        connection.execute(text(f"INSERT INTO {table}({table}) VALUES ('rebuild')"))


def drop_collection_index(connection: Connection, collection_id: int) -> None:
    for statement in _drop_collection_ddl(collection_id):
        connection.execute(text(statement))


def indexed_collections(connection: Connection) -> list[int]:
    """The collection ids that have an FTS5 table, as the schema lists them."""
    names = connection.execute(
        text("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'chunks_fts_%'")
    ).scalars()
    return sorted(int(m.group(1)) for name in names if (m := _PER_COLLECTION.fullmatch(name)))


def _on_insert(mapper: Any, connection: Connection, target: Any) -> None:
    if connection.dialect.name == "sqlite":
        create_collection_index(connection, target.id, fill=False)


def _on_delete(mapper: Any, connection: Connection, target: Any) -> None:
    if connection.dialect.name == "sqlite":
        drop_collection_index(connection, target.id)


def install(collection: type) -> None:
    """Make and drop each collection's index with its row, in the same transaction, on
    SQLite. A row deleted by a bulk ``DELETE`` (not through the ORM) leaves its table
    behind, emptied by the chunks' triggers; a collection made later under that id
    replaces it."""
    event.listen(collection, "after_insert", _on_insert)
    event.listen(collection, "before_delete", _on_delete)


def upgrade(connection: Connection) -> None:
    """Revision 9: the index shared by every collection becomes one per collection, each
    rebuilt from the chunks stored (no document is read or embedded again)."""
    if connection.dialect.name != "sqlite":
        return
    for trigger in _SHARED_FTS_TRIGGERS:
        connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
    connection.execute(text(f"DROP TABLE IF EXISTS {SHARED_FTS_TABLE}"))
    collections = set(connection.execute(text("SELECT id FROM collections")).scalars())
    for orphan in set(indexed_collections(connection)) - collections:
        drop_collection_index(connection, orphan)
    for collection_id in sorted(collections):
        create_collection_index(connection, collection_id, fill=True)


_TRIGRAM_DDL = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TRIGRAM_TABLE} USING fts5("
    "text, content='chunks', content_rowid='id', tokenize='trigram')",
    f"""CREATE TRIGGER IF NOT EXISTS chunks_trigram_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO {TRIGRAM_TABLE}(rowid, text) VALUES (new.id, new.text);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS chunks_trigram_delete AFTER DELETE ON chunks BEGIN
        INSERT INTO {TRIGRAM_TABLE}({TRIGRAM_TABLE}, rowid, text)
        VALUES ('delete', old.id, old.text);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS chunks_trigram_update AFTER UPDATE OF text ON chunks BEGIN
        INSERT INTO {TRIGRAM_TABLE}({TRIGRAM_TABLE}, rowid, text)
        VALUES ('delete', old.id, old.text);
        INSERT INTO {TRIGRAM_TABLE}(rowid, text) VALUES (new.id, new.text);
    END""",
    f"INSERT INTO {TRIGRAM_TABLE}({TRIGRAM_TABLE}) VALUES ('rebuild')",
]


def match_expression(text: str) -> str | None:
    """An FTS5 MATCH expression for ``text``, or None when it holds no searchable term."""
    terms = query_terms(text)
    if not terms:
        return None
    return " OR ".join(f'"{term}"' for term in terms)


def trigram_match_expression(text: str) -> str | None:
    """For the trigram index: each run of 3+ characters as a quoted substring, OR-ed."""
    pieces = [p for p in re.split(r"[\s\"]+", text) if len(p) >= 3]
    if not pieces:
        return None
    return " OR ".join('"' + piece.replace('"', '""') + '"' for piece in dict.fromkeys(pieces))


async def has_trigram_index(session: AsyncSession) -> bool:
    found = await session.execute(
        text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": TRIGRAM_TABLE}
    )
    return found.first() is not None


async def create_trigram_index(session: AsyncSession) -> None:
    """The trigram index and its triggers, filled from the chunks already stored."""
    for statement in _TRIGRAM_DDL:
        await session.execute(text(statement))


async def keyword_search(
    session: AsyncSession,
    collection_id: int,
    query: str,
    limit: int,
    path_glob: str | None,
    trigram: bool,
) -> list[tuple[int, int, float]]:
    """(chunk id, document id, BM25 score; higher is better), best first.

    FTS5 scores every match, but only the best few need their chunk and document
    looked up: the index's top rows are ranked first and filtered after. Without a path
    the collection's own index needs no filter, and its best ``limit`` rows are the
    answer. A filter (a path, or the collection in the shared trigram index) is applied
    to the best ``limit * HEAD_FACTOR`` rows; when fewer than ``limit`` of them pass and
    the index holds more matches, the query runs again over every match. (A query of
    common words matches tens of thousands of chunks in a collection of 150,000:
    joining them all before sorting took twice the time.)"""
    match = trigram_match_expression(query) if trigram else match_expression(query)
    if match is None:
        return []
    params: dict[str, Any] = {"match": match, "collection": collection_id, "limit": limit}
    if path_glob:
        params["glob"] = path_glob
    if trigram:
        search = _Search(TRIGRAM_TABLE, "", by_collection=True, path_glob=path_glob)
        alone = not path_glob and await _one_collection(session)
    else:
        weights = ", " + ", ".join(str(w) for w in BM25_WEIGHTS)
        table = fts_table(collection_id)
        search = _Search(table, weights, by_collection=False, path_glob=path_glob)
        alone = not path_glob
    try:
        rows = await _ranked(session, search, params, limit if alone else limit * HEAD_FACTOR)
    except OperationalError as error:
        if "no such table" not in str(error):
            raise
        raise DatabaseError(
            f"collection {collection_id} has no keyword index ({search.table}); run "
            "`analyzer db-status` to check the database, or drop the collection and "
            "ingest it again"
        ) from error
    return [(int(c), int(d), float(s)) for c, d, s in rows]


class _Search:
    """The SQL of one keyword search: its FTS5 table and the filters after ranking."""

    def __init__(self, table: str, weights: str, by_collection: bool, path_glob: str | None):
        self.table = table
        self.weights = weights
        self.filters = (["d.collection_id = :collection"] if by_collection else []) + (
            ["d.path GLOB :glob"] if path_glob else []
        )

    def ranked(self) -> str:
        """The best ``:head`` matches of the index, then those that pass the filters."""
        table, where = self.table, self._where()
        documents = "JOIN documents d ON d.id = c.document_id " if self.filters else ""
        return (
            "SELECT c.id, c.document_id, r.score FROM ("
            f"SELECT rowid AS id, -bm25({table}{self.weights}) AS score FROM {table} "
            f"WHERE {table} MATCH :match ORDER BY score DESC LIMIT :head) r "
            f"JOIN chunks c ON c.id = r.id {documents}{where}"
            "ORDER BY r.score DESC LIMIT :limit"
        )

    def filtered(self) -> str:
        """Every match that passes the filters, ranked."""
        table = self.table
        return (
            f"SELECT c.id, c.document_id, -bm25({table}{self.weights}) AS score "
            f"FROM {table} JOIN chunks c ON c.id = {table}.rowid "
            "JOIN documents d ON d.id = c.document_id "
            f"WHERE {table} MATCH :match "
            + "".join(f"AND {condition} " for condition in self.filters)
            + "ORDER BY score DESC LIMIT :limit"
        )

    def _where(self) -> str:
        return f"WHERE {' AND '.join(self.filters)} " if self.filters else ""


async def _ranked(
    session: AsyncSession, search: _Search, params: dict[str, Any], head: int
) -> list[Any]:
    rows = (await session.execute(text(search.ranked()), params | {"head": head})).all()
    limit = params["limit"]
    if search.filters and len(rows) < limit and await _more_matches(session, search, params, head):
        rows = (await session.execute(text(search.filtered()), params)).all()
    return list(rows)


async def _one_collection(session: AsyncSession) -> bool:
    found = await session.execute(text("SELECT count(*) FROM collections"))
    return int(found.scalar_one()) <= 1


async def _more_matches(
    session: AsyncSession, search: _Search, params: dict[str, Any], head: int
) -> bool:
    """Whether the index holds more than ``head`` matches: the ranked head was cut."""
    table = search.table
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH :match LIMIT :n)"
    found = await session.execute(text(sql), {"match": params["match"], "n": head + 1})
    return int(found.scalar_one()) > head
