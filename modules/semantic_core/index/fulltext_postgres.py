"""Full-text search on PostgreSQL: a weighted tsvector per chunk, a GIN index, BM25.

The vector is a stored generated column of ``chunks``, so PostgreSQL keeps it in the
same transaction as every insert and update of a chunk; the GIN index serves the
match. The heading (which starts with the document's title) is weighted A and the
text B, the counterpart of FTS5's column weights on SQLite.

User text never reaches the tsquery parser as syntax: ``lexical.query_terms`` keeps
only runs of word characters (none of which is a tsquery operator), and they are
OR-ed, as on SQLite, after English stopwords are dropped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import DDL, Connection, Table, event, text
from sqlalchemy.ext.asyncio import AsyncSession

from modules.semantic_core.lexical import query_terms

CONFIG = "english"
SEARCH_COLUMN = "search"
SEARCH_INDEX = "ix_chunks_search"

_DDL = [
    f"ALTER TABLE chunks ADD COLUMN IF NOT EXISTS {SEARCH_COLUMN} tsvector GENERATED ALWAYS AS ("
    f"setweight(to_tsvector('{CONFIG}', coalesce(heading, '')), 'A') || "
    f"setweight(to_tsvector('{CONFIG}', coalesce(text, '')), 'B')) STORED",
    f"CREATE INDEX IF NOT EXISTS {SEARCH_INDEX} ON chunks USING gin ({SEARCH_COLUMN})",
]


def install(chunks: Table) -> None:
    """Add the search column and its index whenever ``chunks`` is created on PostgreSQL."""
    for statement in _DDL:
        event.listen(chunks, "after_create", DDL(statement).execute_if(dialect="postgresql"))


def upgrade(conn: Connection) -> None:
    """The same, on a database whose ``chunks`` table came before full-text search."""
    if conn.dialect.name == "postgresql":
        for statement in _DDL:
            conn.execute(text(statement))


# BM25 as SQLite's FTS5 computes it (k1 1.2, b 0.75), with the heading's hits counted
# HEADING_WEIGHT times, as FTS5's column weights count them.
K1 = 1.2
B = 0.75
HEADING_WEIGHT = 3.0

# Each matching chunk's vector is cut down, in C, to the query's lexemes (``setweight`` marks
# them D, ``ts_filter`` keeps the D ones), once whole and once from its heading (A)
# positions only; unnesting those small vectors gives each term's hits in the chunk and in
# its heading. Unnesting the whole vectors in SQL instead took half as long again.
def _bm25_sql(path_filter: bool) -> str:
    keep_marked = "'{d}'"  # ts_filter's weight list: the lexemes setweight marked D
    return f"""
WITH q AS (
    SELECT to_tsquery('{CONFIG}', :terms) AS query,
           tsvector_to_array(to_tsvector('{CONFIG}', :words)) AS lexemes
),
matched AS (
    SELECT c.id, c.document_id, d.path, length(c.{SEARCH_COLUMN}) AS dl,
           ts_filter(setweight(c.{SEARCH_COLUMN}, 'D', q.lexemes), {keep_marked}) AS found,
           ts_filter(setweight(ts_filter(c.{SEARCH_COLUMN}, '{{a}}'), 'D', q.lexemes),
                     {keep_marked}) AS in_heading
    FROM q, chunks c JOIN documents d ON d.id = c.document_id
    WHERE c.{SEARCH_COLUMN} @@ q.query AND d.collection_id = :collection
),
hits AS (
    SELECT m.id, u.lexeme,
           cardinality(u.positions)
               + ({HEADING_WEIGHT} - 1) * coalesce(cardinality(h.positions), 0) AS tf
    FROM matched m CROSS JOIN LATERAL unnest(m.found) AS u
    LEFT JOIN LATERAL unnest(m.in_heading) AS h ON h.lexeme = u.lexeme
),
df AS (SELECT lexeme, count(*) AS df FROM hits GROUP BY lexeme)
SELECT m.id, m.document_id,
       sum(ln(1 + (:chunks - df.df + 0.5) / (df.df + 0.5))
           * h.tf * ({K1} + 1) / (h.tf + {K1} * (1 - {B} + {B} * m.dl / :average_length)))
       AS score
FROM hits h JOIN df USING (lexeme) JOIN matched m ON m.id = h.id
{"WHERE m.path ~ :pattern" if path_filter else ""}
GROUP BY m.id, m.document_id
ORDER BY score DESC, m.id
LIMIT :limit
"""


_STATISTICS = f"""
SELECT count(*), coalesce(avg(length(c.{SEARCH_COLUMN})), 0)
FROM chunks c JOIN documents d ON d.id = c.document_id
WHERE d.collection_id = :collection
"""


async def collection_statistics(session: AsyncSession, collection_id: int) -> tuple[int, float]:
    """(chunks, their average length in distinct lexemes): what BM25 normalises by."""
    row = (await session.execute(text(_STATISTICS), {"collection": collection_id})).one()
    return int(row[0]), float(row[1])


async def keyword_search(
    session: AsyncSession,
    collection_id: int,
    query: str,
    limit: int,
    path_glob: str | None,
    statistics: tuple[int, float],
) -> list[tuple[int, int, float]]:
    """(chunk id, document id, BM25 score; higher is better), best first.

    Term frequencies come from the matching chunks' own vectors and document
    frequencies from the same rows (every chunk of the collection holding a term
    matches), so nothing outside the match is read; ``statistics`` are the
    collection's chunk count and average length. A --path filter narrows the hits,
    not the statistics, as on SQLite."""
    terms = query_terms(query)
    chunks, average_length = statistics
    if not terms or chunks == 0:
        return []
    params: dict[str, Any] = {
        "terms": " | ".join(terms),
        "words": " ".join(terms),
        "collection": collection_id,
        "chunks": chunks,
        "average_length": max(average_length, 1.0),
        "limit": limit,
    }
    if path_glob:
        params["pattern"] = glob_to_regex(path_glob)
    rows = (await session.execute(text(_bm25_sql(bool(path_glob))), params)).all()
    return [(int(c), int(d), float(s)) for c, d, s in rows]


_REGEX_SPECIAL = frozenset(".^$*+?()[]{}|\\")


def glob_to_regex(glob: str) -> str:
    """A glob (``*``, ``?``, ``[...]``, ``[!...]``), matched as ``fnmatchcase`` matches it
    (``*`` crosses ``/``), as an anchored PostgreSQL regular expression."""
    out = ["^"]
    i = 0
    while i < len(glob):
        char = glob[i]
        i += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and (end := _class_end(glob, i)) > 0:
            body = glob[i:end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            body = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end + 1
        else:
            out.append("\\" + char if char in _REGEX_SPECIAL else char)
    out.append("$")
    return "".join(out)


def _class_end(glob: str, start: int) -> int:
    """Where the ``]`` closing a class that opened before ``start`` is, or -1."""
    i = start + (1 if glob[start : start + 1] == "!" else 0)
    i += 1 if glob[i : i + 1] == "]" else 0  # a ] first in the class is a character
    end = glob.find("]", i)
    return end
