"""Lookups by path or uid use the (collection, path) and (collection, uid) indexes on SQLite.

Asked for rows in id order, SQLite's planner takes the collection index instead (it yields
rows in id order, so no sort is needed) and reads every document of the collection: an
ingest into a collection of 321k documents spent 106 of its 147 seconds so. The plan does
not depend on the table's size (no statistics are kept), so a small collection shows it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.helpers import FakeModels, cli, write_notes

pytestmark = pytest.mark.sqlite_only("query plans of SQLite")


@contextmanager
def statements_on_documents() -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT on ``documents`` that looks rows up by a list of paths or by uid."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        flat = " ".join(statement.split())
        if flat.startswith("SELECT") and "FROM documents" in flat:
            if "documents.path IN" in flat or "documents.uid =" in flat:
                seen.append((flat, parameters))

    event.listen(Engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", capture)


def plans(database: Path, statements: list[tuple[str, Any]]) -> list[str]:
    with closing(sqlite3.connect(database)) as connection:
        return [
            " ".join(row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in statements
        ]


def test_lookups_by_path_and_uid_search_their_index(data_dir: Path, tmp_path: Path) -> None:
    models = FakeModels()
    first = write_notes(tmp_path / "first", 5)
    assert cli("--data-dir", str(data_dir), "ingest", str(first), models=models).exit_code == 0
    later = write_notes(tmp_path / "later", 3)
    with statements_on_documents() as seen:
        ingested = cli("--data-dir", str(data_dir), "ingest", str(later), models=models)
        shown = cli(
            "--data-dir", str(data_dir), "show", str(later / "note-0001.txt"), models=models
        )
        unknown = cli("--data-dir", str(data_dir), "show", "no-such-uid", models=models)
    assert ingested.exit_code == 0 and shown.exit_code == 0, shown.output
    assert unknown.exit_code == 1  # looked up by path, then by uid
    found = plans(data_dir / "semantic_core.db", seen)
    by_path = [plan for (sql, _), plan in zip(seen, found, strict=True) if "path IN" in sql]
    by_uid_plans = [plan for (sql, _), plan in zip(seen, found, strict=True) if "uid =" in sql]
    assert by_path and by_uid_plans, seen
    for plan in by_path:
        assert "(collection_id=? AND path=?)" in plan, plan
    for plan in by_uid_plans:
        assert "(collection_id=? AND uid=?)" in plan, plan
