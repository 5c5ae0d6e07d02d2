"""What many tests share: paths, running the CLI, running services, and fake models."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from typer.testing import CliRunner, Result

from analyzer.app_context import AppContext
from analyzer.cli.app import app
from analyzer.cli.runner import CliState
from analyzer.settings import Settings
from modules.semantic_core.ingest.report import IngestReport
from modules.semantic_core.ingest.service import IngestOptions, Record
from modules.semantic_core.module import MODELS_SERVICE, semantic_core

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
SAMPLE_DOCS = REPO / "sample_docs"
runner = CliRunner()


# --- fake models ------------------------------------------------------------------------


class HashEmbedder:
    """Deterministic and instant: a text's vector is its words hashed into signed buckets.

    Equal texts give equal vectors and texts sharing words point the same way, which
    is all a test of ingest, storage or plumbing needs from a model.
    """

    def __init__(self, spec: str, dimension: int = 64) -> None:
        self.spec = spec
        self.model_id = f"test-hash:{spec}"
        self.dimension = dimension
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str], max_length: int | None = None) -> Any:
        import numpy as np

        self.encoded.extend(texts)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(digest, "little")
                vectors[row, bucket % self.dimension] += 1.0 if bucket >> 63 else -1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


class FakeModels:
    """A model provider for tests that are not about the models."""

    def __init__(self) -> None:
        self.embedders: dict[str, HashEmbedder] = {}
        self.rerank = HashEmbedder("rerank")

    def embedder(self, spec: str | None = None) -> HashEmbedder:
        key = spec or "words"
        return self.embedders.setdefault(key, HashEmbedder(key))

    def reranker(self) -> HashEmbedder:
        return self.rerank

    def overrides(self) -> dict[str, Callable[[Any], Any]]:
        return overrides_for(self)


def overrides_for(models: Any) -> dict[str, Callable[[Any], Any]]:
    return {} if models is None else {MODELS_SERVICE: lambda context: models}


# --- the CLI ----------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None, models: Any = None) -> Result:
    """``analyzer ARGS`` through Typer's CliRunner, with ``models`` passed in if given."""
    state = CliState(overrides=overrides_for(models))
    return runner.invoke(app, list(args), env=env, obj=state)


def cli_json(*args: str, models: Any = None) -> Any:
    result = cli(*args, "--json", models=models)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(result: Result, code: int, *fragments: str) -> str:
    """The command failed with ``code`` and one line on stderr holding every fragment."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def write_notes(folder: Path, count: int) -> Path:
    """``count`` small text files, each its own document, in ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"note-{i:04d}.txt").write_text(f"Note {i}\n\nThe tide table for day {i}.\n")
    return folder


def sqlite_rows(database: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on a SQLite file, by a connection of its own; a write is committed."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(database, timeout=10)) as conn, conn:
        return conn.execute(sql).fetchall()


def three_notes(folder: Path, odd: str) -> Path:
    """``a.txt``, ``odd`` and ``c.txt`` in ``folder`` (created): one file to single out."""
    folder.mkdir(parents=True)
    for name in ("a.txt", odd, "c.txt"):
        (folder / name).write_text(f"The text of {name}.\n")
    return folder


def before_extracting(monkeypatch: Any, name: str, action: Callable[[], None]) -> None:
    """Run ``action`` whenever ingest extracts the file called ``name`` (to fail or stall it
    there), then extract it as usual."""
    import modules.semantic_core.ingest.run as run_module

    real_extract = run_module.extract

    def extract(data: Any, path: Path, deadline: Any) -> Any:
        if path.name == name:
            action()
        return real_extract(data, path, deadline)

    monkeypatch.setattr(run_module, "extract", extract)


def server_url(database: Path) -> str | None:
    """The PostgreSQL URL that the environment gives the database stored at ``database``
    on SQLite (``<data dir>/<name>.db``), or None when it stays a SQLite file."""
    return os.environ.get(f"ANALYZER_DB_{database.stem.upper()}_URL")


def stored_rows(database: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the database at ``database``: that SQLite file, or the
    PostgreSQL database the environment points it at (see tests/conftest.py)."""
    url = server_url(database)
    if url is None:
        return sqlite_rows(database, sql)
    import asyncpg

    async def fetch() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await connection.fetch(sql)]
        finally:
            await connection.close()

    return asyncio.run(fetch())


def count_rows(database: Path, table: str) -> int:
    """Rows of ``table`` in the database at ``database`` (see ``stored_rows``); 0 if the
    database or the table is not there (yet)."""
    if server_url(database) is None and not database.exists():
        return 0
    try:
        return int(stored_rows(database, f"SELECT count(*) FROM {table}")[0][0])
    except Exception as exc:  # noqa: BLE001 - sqlite3 and asyncpg say "no such table" apart
        if "no such table" in str(exc) or "does not exist" in str(exc):
            return 0
        raise


def assert_ingest_finished_whole(database: Path, report: dict[str, Any], count: int) -> None:
    """An ingest's JSON report and semantic_core.db agree that all ``count`` notes are stored."""
    assert report["new"] + report["unchanged"] == count and report["failed"] == 0
    assert count_rows(database, "documents") == count
    assert count_rows(database, "chunks") == indexed_chunks(database) == count
    if server_url(database) is None:
        assert sqlite_rows(database, "PRAGMA integrity_check") == [("ok",)]


def fulltext_tables(database: Path) -> list[str]:
    """SQLite's FTS5 tables of the collections' chunks, one per collection."""
    sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'chunks_fts_[0-9]*'"
    return [name for (name,) in sqlite_rows(database, sql) if name.rsplit("_", 1)[1].isdigit()]


def indexed_chunks(database: Path) -> int:
    """Chunks the full-text index holds: FTS5's one docsize row per chunk on SQLite (counting
    a chunks_fts_N table itself would read the chunks), chunks with a search vector on
    PostgreSQL."""
    if server_url(database) is None:
        return sum(count_rows(database, f"{name}_docsize") for name in fulltext_tables(database))
    return int(stored_rows(database, "SELECT count(search) FROM chunks")[0][0])


def fulltext_hits(database: Path, word: str) -> list[int]:
    """Ids of the chunks that the full-text index finds ``word`` in."""
    if server_url(database) is None:
        tables = fulltext_tables(database)
        sql = " UNION ALL ".join(f"SELECT rowid FROM {t} WHERE {t} MATCH '{word}'" for t in tables)
        if not sql:
            return []
    else:
        sql = f"SELECT id FROM chunks WHERE search @@ to_tsquery('english', '{word}')"
    return [int(row[0]) for row in stored_rows(database, sql)]


# --- services ---------------------------------------------------------------------------


def run(coroutine: Awaitable[T]) -> T:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def within_app(
    settings: Settings, work: Callable[[AppContext], Awaitable[T]], models: Any = None
) -> T:
    async def scenario() -> T:
        async with AppContext(settings, overrides=overrides_for(models)) as context:
            return await work(context)

    return run(scenario())


def ingest_paths(
    settings: Settings, *paths: Path, models: Any = None, **options: Any
) -> IngestReport:
    async def work(context: AppContext) -> IngestReport:
        service = semantic_core(context).ingest
        return await service.ingest_paths(list(paths), IngestOptions(**options))

    return within_app(settings, work, models)


def ingest_records(
    settings: Settings, records: list[Record], models: Any = None, **options: Any
) -> IngestReport:
    async def work(context: AppContext) -> IngestReport:
        return await semantic_core(context).ingest.ingest_records(records, IngestOptions(**options))

    return within_app(settings, work, models)
