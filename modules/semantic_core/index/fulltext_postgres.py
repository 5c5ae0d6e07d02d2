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

import itertools
import math
from dataclasses import dataclass
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

# Scoring a chunk means reading its vector, so the cost of a search is the number of chunks
# scored. Reading every chunk that holds any query term cost 119 ms at 10k chunks and grew
# with the corpus: a SciFact query's common words ("cell": 38% of its chunks) matched most
# of the collection. So the rarest terms' chunks are scored in full, up to RARE_ROWS of them
# (a chunk holding none of the rare terms can only reach the top through common ones, which
# carry little weight), and the later stages, for chunks holding only common terms, score
# at most COMMON_ROWS between them, each only if its best possible score could still
# reach the top.
RARE_ROWS = 1000
COMMON_ROWS = 600
# The common terms whose chunks are tiered by how many of them they hold (2^6 - 1 tsquery
# groups at most; a query rarely has more than six terms past the rare ones).
TIERED_TERMS = 6


@dataclass(frozen=True)
class _Term:
    lexeme: str
    df: int  # chunks of the collection holding it: counted, or estimated when common
    counted: bool


# Each chunk's vector is read (and decompressed) once, then cut down, in C, to the query's
# lexemes: ``setweight`` marks them C in the heading (A) part and D in the text (B) part,
# ``ts_filter`` keeps C and D, and unnesting that small vector gives each term's hits, the
# heading's being the C ones. Reading the vector once per function instead, and joining the
# heading's hits to the text's, took twice as long; NUMERIC arithmetic (an integer df) a
# third longer again. The collection (and --path) are checked by looking each chunk's
# document up, which keeps the planner from reading every document of a large collection.
def _bm25_sql(path_filter: bool) -> str:
    if path_filter:
        in_scope = (
            "(SELECT d.path FROM documents d WHERE d.id = c.document_id "
            "AND d.collection_id = :collection) ~ :pattern"
        )
    else:
        in_scope = _IN_COLLECTION
    return f"""
WITH q AS (SELECT CAST(:lexemes AS text[]) AS lexemes),
idf AS (
    SELECT s.lexeme, ln(1 + (:chunks - s.df + 0.5) / (s.df + 0.5)) AS idf
    FROM unnest(CAST(:lexemes AS text[]), CAST(:dfs AS float8[])) AS s(lexeme, df)
),
matched AS MATERIALIZED (
    SELECT c.id, c.document_id, c.{SEARCH_COLUMN} || ''::tsvector AS v
    FROM chunks c
    WHERE c.{SEARCH_COLUMN} @@ CAST(:match AS tsquery) AND {in_scope}
    LIMIT :rows
),
hits AS (
    SELECT m.id, m.document_id, length(m.v) AS dl, u.lexeme,
           cardinality(u.positions)
               + ({HEADING_WEIGHT} - 1) * cardinality(array_positions(u.weights, 'C')) AS tf
    FROM matched m, q, unnest(ts_filter(
        setweight(ts_filter(m.v, '{{a}}'), 'C', q.lexemes)
            || setweight(ts_filter(m.v, '{{b}}'), 'D', q.lexemes),
        '{{c,d}}')) AS u
)
SELECT h.id, h.document_id,
       sum(idf.idf * h.tf * ({K1} + 1)
           / (h.tf + {K1} * (1 - {B} + {B} * h.dl / CAST(:average_length AS float8))))
       AS score,
       (SELECT count(*) FROM matched) AS scored
FROM hits h JOIN idf USING (lexeme)
GROUP BY h.id, h.document_id
ORDER BY score DESC, h.id
LIMIT :limit
"""


# Where one collection holds every document (:alone), no chunk's document is looked up.
_IN_COLLECTION = (
    "(:alone OR (SELECT d.collection_id FROM documents d WHERE d.id = c.document_id) = :collection)"
)


# The query's lexemes, each with its share of the table's chunks where ANALYZE found it
# among the most common, and the smallest such share (what a lexeme it did not list stays
# under); both NULL before the table was first analysed. And whether the collection holds
# every document.
_LEXEMES = f"""
WITH stats AS (
    SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs
    FROM pg_stats
    WHERE schemaname = current_schema() AND tablename = 'chunks'
      AND attname = '{SEARCH_COLUMN}' AND most_common_elems IS NOT NULL
)
SELECT l.lexeme,
       (SELECT s.freqs[array_position(s.elems, l.lexeme)] FROM stats s),
       (SELECT s.freqs[cardinality(s.elems) + 1] FROM stats s),
       NOT EXISTS (SELECT 1 FROM collections k WHERE k.id <> :collection
                   AND EXISTS (SELECT 1 FROM documents d WHERE d.collection_id = k.id))
FROM unnest(tsvector_to_array(to_tsvector('{CONFIG}', :words))) AS l(lexeme)
"""

# How many of the collection's chunks hold each lexeme, counted up to :most (the GIN
# index finds them; only that many rows are looked at).
_COUNTS = f"""
SELECT l.lexeme,
       (SELECT count(*) FROM (
            SELECT 1 FROM chunks c
            WHERE c.{SEARCH_COLUMN} @@ CAST(quote_literal(l.lexeme) AS tsquery)
              AND {_IN_COLLECTION}
            LIMIT :most) AS found)
FROM unnest(CAST(:lexemes AS text[])) AS l(lexeme)
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

    Term frequencies come from the scored chunks' own vectors. A term held by at most
    RARE_ROWS chunks of the collection has its document frequency counted exactly; a
    more common one's comes from the share of chunks ANALYZE found it in (a table-wide
    sample), counted only where the table was never analysed. ``statistics`` are the
    collection's chunk count and average length. Where no stage is cut short, the result
    is the exact BM25 ranking of every matching chunk. A --path filter narrows the hits,
    not the statistics, as on SQLite."""
    words = " ".join(query_terms(query))
    if not words or statistics[0] == 0:
        return []
    # Each statement here is meant for the GIN index; without it, the planner reads every
    # chunk's vector for a common term, which is what this is built to avoid. The setting
    # is put back after: the transaction may be a whole command's snapshot.
    switch = "SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', :to, true)"
    before = (await session.execute(text(switch), {"to": "off"})).one()[0]
    found = await _ranked(session, collection_id, words, limit, path_glob, statistics)
    await session.execute(text(switch), {"to": before})
    return found


async def _ranked(
    session: AsyncSession,
    collection_id: int,
    words: str,
    limit: int,
    path_glob: str | None,
    statistics: tuple[int, float],
) -> list[tuple[int, int, float]]:
    chunks, average_length = statistics
    terms, alone = await _terms(session, collection_id, words, chunks)
    if not terms:
        return []
    params: dict[str, Any] = {
        "lexemes": [t.lexeme for t in terms],
        "dfs": [t.df for t in terms],
        "collection": collection_id,
        "alone": alone,
        "chunks": chunks,
        "average_length": max(average_length, 1.0),
        "limit": limit,
    }
    if path_glob:
        params["pattern"] = glob_to_regex(path_glob)
    sql = text(_bm25_sql(bool(path_glob)))
    found: list[tuple[int, int, float]] = []
    budget = COMMON_ROWS  # shared by the stages after the first
    for match, rare, best_possible in _stages(terms, chunks):
        if len(found) >= limit and found[limit - 1][2] >= best_possible:
            continue  # nothing this stage holds can displace what is found
        if not rare and budget <= 0:
            break
        rows = RARE_ROWS if rare else budget
        rows_found = (await session.execute(sql, {**params, "match": match, "rows": rows})).all()
        found.extend((int(c), int(d), float(s)) for c, d, s, _ in rows_found)
        found.sort(key=lambda hit: (-hit[2], hit[0]))
        del found[limit:]
        if not rare and rows_found:
            budget -= int(rows_found[0][3])
    return found


async def _terms(
    session: AsyncSession, collection_id: int, words: str, chunks: int
) -> tuple[list[_Term], bool]:
    """The query's lexemes with their document frequencies, rarest first, and whether
    the collection holds every document."""
    params = {"words": words, "collection": collection_id}
    listed = (await session.execute(text(_LEXEMES), params)).all()
    alone = bool(listed[0][3]) if listed else True
    estimates: dict[str, int] = {}
    to_count: list[str] = []
    for lexeme, share, smallest_share, _ in listed:
        if share is not None:
            estimates[lexeme] = round(float(share) * chunks)
        elif smallest_share is not None:
            # Not among ANALYZE's most common: fewer than its least common listed one.
            estimates[lexeme] = round(float(smallest_share) * chunks)
        if share is None or estimates[lexeme] <= 2 * RARE_ROWS:
            to_count.append(lexeme)
    counted: dict[str, int] = {}
    if to_count:
        # Up to just past RARE_ROWS; in full only where the table was never analysed.
        most = RARE_ROWS + 1 if estimates else chunks
        counts = {"lexemes": to_count, "collection": collection_id, "alone": alone, "most": most}
        counted = dict((await session.execute(text(_COUNTS), counts)).all())
    terms = []
    for lexeme, *_ in listed:
        found = counted.get(lexeme)
        if found is not None and found <= RARE_ROWS:
            terms.append(_Term(lexeme, int(found), True))
        elif found is not None and not estimates:
            terms.append(_Term(lexeme, int(found), True))
        elif lexeme in estimates:
            # Common: the estimate, but never below what was seen to be there.
            terms.append(_Term(lexeme, min(chunks, max(estimates[lexeme], found or 0)), False))
    terms = [t for t in terms if t.df > 0]
    return sorted(terms, key=lambda t: (t.df, t.lexeme)), alone


def _stages(terms: list[_Term], chunks: int) -> list[tuple[str, bool, float]]:
    """(tsquery, whether it is the rare terms' stage, best score a chunk first found there
    can reach).

    First every chunk holding one of the rarest terms, up to RARE_ROWS in all. Then, for
    the other terms, tier by tier, the chunks holding m of the TIERED_TERMS rarest of
    them for m from all down to one (the GIN index finds each tier without reading a
    row), so that where a tier is cut short, the chunks holding more of the query's terms
    were scored first. The terms past TIERED_TERMS come last. Each stage leaves out what
    earlier ones matched."""
    rare: list[_Term] = []
    total = 0
    for term in terms:
        if total + term.df > RARE_ROWS:
            break
        rare.append(term)
        total += term.df
    tiered = terms[len(rare) : len(rare) + TIERED_TERMS]
    rest = terms[len(rare) + len(tiered) :]
    bounds = [_idf(t.df, chunks) * (K1 + 1) for t in tiered]  # rarest (largest) first
    rest_bound = sum(_idf(t.df, chunks) * (K1 + 1) for t in rest)
    stages: list[tuple[str, bool, float]] = []
    earlier = _any(rare) if rare else ""
    if rare:
        stages.append((earlier, True, math.inf))
    previous_tier = ""
    for m in range(len(tiered), 0, -1):
        tier = _at_least(tiered, m)
        excluded = [q for q in (earlier, previous_tier) if q]
        stages.append((_excluding(tier, excluded), False, sum(bounds[:m]) + rest_bound))
        previous_tier = tier
    if rest:
        excluded = [q for q in (earlier, previous_tier) if q]
        stages.append((_excluding(_any(rest), excluded), False, rest_bound))
    return stages


def _at_least(terms: list[_Term], m: int) -> str:
    """A tsquery matching what holds at least ``m`` of ``terms``."""
    groups = itertools.combinations([_quoted(t.lexeme) for t in terms], m)
    return "(" + " | ".join("(" + " & ".join(group) + ")" for group in groups) + ")"


def _idf(df: int, chunks: int) -> float:
    return math.log(1 + (chunks - df + 0.5) / (df + 0.5))


def _quoted(lexeme: str) -> str:
    """A lexeme as a tsquery operand: quoted, so nothing in it is an operator."""
    escaped = lexeme.replace("\\", "\\\\").replace("'", "''")
    return f"'{escaped}'"


def _any(terms: list[_Term]) -> str:
    return "(" + " | ".join(_quoted(t.lexeme) for t in terms) + ")"


def _excluding(query: str, seen: list[str]) -> str:
    return " & ".join([query, *(f"!{s}" for s in seen)])


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
