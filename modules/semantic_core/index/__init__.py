"""The search indexes: read paths (``reader``) and one adapter per database dialect.

``fulltext_sqlite``: SQLite FTS5 (BM25, porter stemming) and the trigram index.
A new dialect adds its own ``fulltext_<dialect>`` here; nothing outside this
package knows which one is in use.
"""
