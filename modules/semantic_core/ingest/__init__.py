"""Getting documents in: files -> text -> chunks -> vectors -> rows.

- ``files``: walking folders (ignore rules, size cap, symlink loops) and reading files;
- ``extract/``: bytes to text with headings, one extractor per format;
- ``chunking``: text to chunks along headings and paragraphs, with line numbers;
- ``service``: ``IngestService``: opens a run (the collection, its model, what it holds);
- ``run``: one run's steps (re-embed, prepare, embed, write, count, prune);
- ``report``: what a run reports.
"""
