"""semantic_core: documents in, answers out.

Three stages, one room each; what they share sits at the top.

- ``ingest/``: getting documents in. Finding files (``files``), turning bytes into
  text with headings (``extract/``, one file per format), cutting text into chunks
  (``chunking``), and ``IngestService``, which embeds and writes them.
- ``search/``: finding them. ``SearchService`` (keyword, semantic, hybrid), the
  passages the re-ranker reads (``passages``), snippets, and retrieval evaluation
  (``evaluation``, ``metrics``).
- ``analysis/``: analysing them. Similar documents, near-duplicates, keywords,
  topics, one document's profile, all behind ``AnalysisService`` and read through
  ``corpus.Corpus``.

Shared pieces:

- ``db_models``: the tables of ``semantic_core.db``; ``collections``: a collection
  and the model it is bound to; ``documents``: how a document is named;
- ``index/``: the index read paths; dialect-specific code (full-text search on
  SQLite and PostgreSQL, vectors in pgvector) lives here and nowhere else;
- ``embeddings/``: the bundled models and how a model is chosen and loaded;
- ``lexical``: words as every stage sees them; ``vectors``: vectors on disk;
- ``module``: the services, how they are wired, and typed access to them.
"""
