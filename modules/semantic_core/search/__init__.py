"""Finding documents: keyword, semantic and hybrid search, and measuring it.

- ``service``: ``SearchService`` and the hybrid pipeline (BM25, then a re-rank);
- ``passages``: the window of a chunk that the re-ranker reads;
- ``evaluation`` and ``metrics``: nDCG, recall and MRR on BEIR test collections.
"""
