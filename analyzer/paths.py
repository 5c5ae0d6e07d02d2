"""How paths are shown to people: relative to the working directory when below it."""

from __future__ import annotations

import os


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it, else as is."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative
