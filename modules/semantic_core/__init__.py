"""semantic_core: documents, chunks, embeddings, search and analysis."""
