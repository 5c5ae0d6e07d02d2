"""The "Examples:" block at the end of each command's --help (kept out of the commands)."""

from __future__ import annotations

EXAMPLES: dict[str, tuple[str, ...]] = {
    "analyzer": (
        "analyzer ingest ~/papers",
        "analyzer query 'how are documents chunked' -k 5",
        "analyzer duplicates --tsv | cut -f 4,5",
        "analyzer query -h",
    ),
    "db-status": ("analyzer db-status", "analyzer db-status --check -j"),
    "ingest": (
        "analyzer ingest ~/papers",
        "analyzer ingest notes/ -c notes --include '*.md' --prune",
    ),
    "query": (
        "analyzer query 'vector search' -k 5",
        "analyzer query 'install' -m keyword -p 'docs/*' --csv",
        "analyzer query --batch queries.jsonl > runs.jsonl",
        "printf 'first question\\nsecond question\\n' | analyzer query --batch -",
    ),
    "eval": ("analyzer eval ~/beir/scifact", "analyzer eval ~/beir/scifact --mode hybrid -j"),
    "similar": ("analyzer similar notes/setup.md", "analyzer similar setup.md -k 3 --tsv"),
    "duplicates": (
        "analyzer duplicates",
        "analyzer duplicates --threshold 0.8 -c notes --csv > pairs.csv",
    ),
    "keywords": ("analyzer keywords", "analyzer keywords notes/setup.md -k 20 --nl"),
    "topics": ("analyzer topics", "analyzer topics -k 5 -j"),
    "show": (
        "analyzer show notes/setup.md",
        "analyzer show setup.md --lines 10-30",
        "analyzer show manual.pdf --page 86",
        "analyzer show setup.md --text | less",
    ),
    "collections": ("analyzer collections", "analyzer collections --csv"),
    "collections drop": ("analyzer collections drop scratch --yes",),
    "documents": ("analyzer documents", "analyzer documents -c notes -p '*.pdf' --tsv"),
    "remove": ("analyzer remove notes/old.md", "analyzer remove -c notes a.md b.md -j"),
    "serve": ("analyzer serve", "analyzer serve --status", "analyzer serve --stop"),
    "mcp": ("analyzer mcp",),
}


def examples(command: str) -> str:
    """The epilog of ``command``: a heading, then one example a line."""
    lines = "\n".join(f"  {line}" for line in EXAMPLES[command])
    return f"Examples:\n{lines}"
