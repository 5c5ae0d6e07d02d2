"""The search modes, and the one check of a mode's name.

Light on purpose: the CLI declares ``--mode`` choices from it at import time.
"""

from __future__ import annotations

import enum

from analyzer.errors import UsageError


class Mode(enum.StrEnum):
    HYBRID = "hybrid"  # BM25, then a transformer re-rank of the top candidates
    SEMANTIC = "semantic"  # cosine over the static chunk vectors
    KEYWORD = "keyword"  # BM25 alone


MODES: tuple[str, ...] = tuple(mode.value for mode in Mode)


def check_mode(name: str) -> Mode:
    try:
        return Mode(name)
    except ValueError:
        raise UsageError(f"unknown mode {name!r}; use one of: {', '.join(MODES)}") from None
