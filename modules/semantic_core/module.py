"""The semantic_core module: its services arrive with ingest, query and analysis."""

from __future__ import annotations

from analyzer.module_api import ModuleSpec

MODULE = ModuleSpec(name="semantic_core", version="0.1")
