"""The search indexes: read paths (``reader``) and one adapter per database dialect.

``fulltext_sqlite``: SQLite FTS5 (BM25, porter stemming) and the trigram index.
``fulltext_postgres``: a weighted tsvector column, a GIN index and BM25 computed in SQL.
``vectors_postgres``: chunk vectors in pgvector with HNSW indexes, where the server has it.
``SearchIndex`` (in ``reader``) picks the adapter for the database's dialect; nothing
outside this package knows which one is in use.
"""
