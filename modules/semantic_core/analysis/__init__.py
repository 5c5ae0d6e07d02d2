"""Analysing a collection: similar documents, duplicates, keywords, topics, one document.

``service.AnalysisService`` is the entry; each computation has its own module and
reads the collection through ``corpus.Corpus`` (every read via the CRUD service).
"""
