"""Full-text search on SQLite: FTS5 with porter stemming, and an optional trigram index.

The index is external-content: the text lives once, in ``chunks``, and triggers keep
the index in the same transaction as every insert, update and delete of a chunk,
cascades included. User text becomes a MATCH expression in which every term is
quoted, so FTS5 syntax in it (quotes, parentheses, AND, OR, NOT, NEAR, ``*``,
``:``, ``-``) is searched as words and never raises a syntax error. Terms are
OR-ed, as BM25 expects, after ``lexical.query_terms`` drops English stopwords.

The trigram index serves scripts written without spaces (Chinese, Japanese,
Korean) and substring matches. It is built on demand (``analyzer ingest
--trigram``): it is about three times the size of the text.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import DDL, Table, event, text
from sqlalchemy.ext.asyncio import AsyncSession

from modules.semantic_core.lexical import query_terms

FTS_TABLE = "chunks_fts"
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"
TRIGRAM_TABLE = "chunks_trigram"

# bm25() column weights (heading, text): a heading path starts with the title, and
# title matches count more (SciFact train: title weight 3 gave nDCG@10 0.704 vs 0.699).
BM25_WEIGHTS = (3.0, 1.0)
# The index's best rows ranked before the collection (and path) filter: that many
# times the rows wanted, so a collection among others still fills its list in one go
# (just the rows wanted where every row passes: 15% less time at 150,000 chunks).
HEAD_FACTOR = 4

_FTS_DDL = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    f"heading, text, content='chunks', content_rowid='id', tokenize='{FTS_TOKENIZER}')",
    f"""CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO {FTS_TABLE}(rowid, heading, text) VALUES (new.id, new.heading, new.text);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, heading, text)
        VALUES ('delete', old.id, old.heading, old.text);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS chunks_fts_update AFTER UPDATE OF heading, text ON chunks BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, heading, text)
        VALUES ('delete', old.id, old.heading, old.text);
        INSERT INTO {FTS_TABLE}(rowid, heading, text) VALUES (new.id, new.heading, new.text);
    END""",
]

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


def install(chunks: Table) -> None:
    """Create the FTS5 index and its triggers whenever ``chunks`` is created on SQLite."""
    for statement in _FTS_DDL:
        event.listen(chunks, "after_create", DDL(statement).execute_if(dialect="sqlite"))


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
    looked up: the index's top rows are ranked first and filtered by collection (and
    path) after. That is exact whenever enough of those rows pass the filters, as
    they all do in a database of one collection; otherwise the query runs again over
    every match. (A query of common words matches tens of thousands of chunks in a
    collection of 150,000: joining them all before sorting took twice the time.)"""
    match = trigram_match_expression(query) if trigram else match_expression(query)
    if match is None:
        return []
    table = TRIGRAM_TABLE if trigram else FTS_TABLE
    weights = "" if trigram else ", " + ", ".join(str(w) for w in BM25_WEIGHTS)
    params: dict[str, Any] = {"match": match, "collection": collection_id, "limit": limit}
    if path_glob:
        params["glob"] = path_glob
    # In a database of one collection, every row passes when no path is asked for.
    alone = not path_glob and await _one_collection(session)
    head = limit if alone else limit * HEAD_FACTOR
    rows = (
        await session.execute(text(_ranked_sql(table, weights, path_glob)), params | {"head": head})
    ).all()
    if len(rows) < limit and await _more_matches(session, table, match, head):
        rows = (await session.execute(text(_filtered_sql(table, weights, path_glob)), params)).all()
    return [(int(c), int(d), float(s)) for c, d, s in rows]


def _ranked_sql(table: str, weights: str, path_glob: str | None) -> str:
    """The best ``:head`` matches of the whole index, then those of the collection."""
    return (
        "SELECT c.id, c.document_id, r.score FROM ("
        f"SELECT rowid AS id, -bm25({table}{weights}) AS score FROM {table} "
        f"WHERE {table} MATCH :match ORDER BY score DESC LIMIT :head) r "
        "JOIN chunks c ON c.id = r.id JOIN documents d ON d.id = c.document_id "
        "WHERE d.collection_id = :collection "
        + ("AND d.path GLOB :glob " if path_glob else "")
        + "ORDER BY r.score DESC LIMIT :limit"
    )


def _filtered_sql(table: str, weights: str, path_glob: str | None) -> str:
    """Every match of the collection (and path), ranked."""
    return (
        f"SELECT c.id, c.document_id, -bm25({table}{weights}) AS score "
        f"FROM {table} JOIN chunks c ON c.id = {table}.rowid "
        "JOIN documents d ON d.id = c.document_id "
        f"WHERE {table} MATCH :match AND d.collection_id = :collection "
        + ("AND d.path GLOB :glob " if path_glob else "")
        + "ORDER BY score DESC LIMIT :limit"
    )


async def _one_collection(session: AsyncSession) -> bool:
    found = await session.execute(text("SELECT count(*) FROM collections"))
    return int(found.scalar_one()) <= 1


async def _more_matches(session: AsyncSession, table: str, match: str, head: int) -> bool:
    """Whether the index holds more than ``head`` matches: the ranked head was cut."""
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH :match LIMIT :n)"
    found = await session.execute(text(sql), {"match": match, "n": head + 1})
    return int(found.scalar_one()) > head
