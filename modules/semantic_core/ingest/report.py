"""What an ingest run reports: counts, problems with their reasons, and progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    path: str
    status: str  # "skipped" or "failed"
    reason: str


@dataclass
class IngestReport:
    collection: str
    model_id: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    pruned: int = 0
    vanished: int = 0  # documents whose files are gone from disk and that stay indexed
    reembedded: int = 0
    chunks: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    interrupted: bool = False  # stopped early on request; what is counted is stored

    def summary(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "model": self.model_id,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": self.failed,
            "pruned": self.pruned,
            "vanished": self.vanished,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
        }


@dataclass(frozen=True)
class IngestProgress:
    """Where a run is: inputs counted and written so far, and what it is doing now.

    ``phase`` is one of ``PHASES``; ``current`` names the input being read (a file's
    path, a record's id), or is empty when the phase works on a whole batch.
    """

    files_done: int
    files_total: int
    chunks_done: int
    phase: str = "writing"
    current: str = ""


PHASES = ("re-embedding", "reading", "embedding", "writing", "stopping")


ProgressCallback = Callable[[IngestProgress], None]
