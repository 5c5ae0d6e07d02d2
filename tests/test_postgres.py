"""analyzer on a real PostgreSQL server (tests/postgres_server.py starts one per session).

Commands run through the CLI with both databases pointed at fresh PostgreSQL databases,
as a user would point them: ANALYZER_DB_<NAME>_URL.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modules.semantic_core.db_models import SCHEMA_REVISION
from modules.semantic_core.module import semantic_core
from tests.helpers import SAMPLE_DOCS, cli, one_line_error, write_notes
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.own_databases


def run(env: dict[str, str], data_dir: Path, *args: str) -> Any:
    return cli("--data-dir", str(data_dir), *args, env=env)


def run_json(env: dict[str, str], data_dir: Path, *args: str) -> Any:
    result = run(env, data_dir, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def ingested(postgres_env: dict[str, str], data_dir: Path) -> dict[str, str]:
    report = run_json(postgres_env, data_dir, "ingest", str(SAMPLE_DOCS))
    assert report["new"] > 40 and report["failed"] == 0
    return postgres_env


def run_in_app(env: dict[str, str], data_dir: Path, work: Any) -> Any:
    """``await work(app)`` in an AppContext on the databases ``env`` points at."""
    from analyzer.app_context import AppContext
    from analyzer.settings import Settings, database_urls_from_env

    settings = Settings(data_dir=data_dir, database_urls=database_urls_from_env(env))

    async def scenario() -> Any:
        async with AppContext(settings) as app:
            return await work(app)

    return asyncio.run(scenario())


def hits(env: dict[str, str], data_dir: Path, *args: str) -> list[str]:
    return [Path(h["document"]).name for h in run_json(env, data_dir, "query", *args)["results"]]


def test_every_query_mode_answers_on_postgresql(ingested: dict[str, str], data_dir: Path) -> None:
    question = "how do I keep a sourdough starter alive"
    for mode in ("hybrid", "keyword", "semantic"):
        found = hits(ingested, data_dir, question, "--mode", mode)
        assert found[0] == "sourdough-starter.txt", (mode, found)


def test_the_heading_counts_more_than_the_text(ingested: dict[str, str], data_dir: Path) -> None:
    # "emergency fund" is the title of two documents and a phrase in others' text; the two
    # are near-copies, so each is asked for.
    found = hits(ingested, data_dir, "emergency fund", "--mode", "keyword", "--all-copies")
    assert set(found[:2]) == {"emergency-fund.md", "emergency-fund-updated.md"}


@pytest.mark.parametrize(
    "query",
    [
        'AND OR NOT "( :* <-> ! & |',
        "'; DROP TABLE chunks; --",
        "a:* & !b | (c <-> d)",
        "\\ \\\\ ' '' %",
        "the of and",
        "ünïcödé 日本語 données",
    ],
)
def test_no_query_text_is_a_tsquery_error(
    ingested: dict[str, str], data_dir: Path, query: str
) -> None:
    result = run(ingested, data_dir, "query", query, "--mode", "keyword")
    assert result.exit_code == 0, result.output


def test_path_globs_match_as_on_sqlite(ingested: dict[str, str], data_dir: Path) -> None:
    every = run_json(ingested, data_dir, "query", "bread", "--mode", "keyword", "--top-k", "50")
    paths = [h["document"] for h in every["results"]]
    for glob in ("*.md", "*/kitchen/*", "*[!x].txt", "*sour?ough*"):
        narrowed = run_json(
            ingested,
            data_dir,
            "query",
            "bread",
            "--mode",
            "keyword",
            "--top-k",
            "50",
            "--path",
            glob,
        )
        expected = [p for p in paths if fnmatch.fnmatchcase(p, glob)]
        assert [h["document"] for h in narrowed["results"]] == expected, glob


def test_analysis_commands_work_on_postgresql(ingested: dict[str, str], data_dir: Path) -> None:
    doc = str(SAMPLE_DOCS / "kitchen" / "sourdough-starter.txt")
    assert run_json(ingested, data_dir, "similar", doc)["results"]
    assert run_json(ingested, data_dir, "keywords", doc)["keywords"]
    assert run_json(ingested, data_dir, "show", doc)["title"]
    assert run_json(ingested, data_dir, "topics")["topics"]
    pairs = run_json(ingested, data_dir, "duplicates")["pairs"]
    assert any("emergency-fund" in pair["first"]["document"] for pair in pairs)


def test_db_status_shows_no_password(
    ingested: dict[str, str], data_dir: Path, postgres_server: PostgresServer
) -> None:
    shown = run(ingested, data_dir, "db-status")
    as_json = run(ingested, data_dir, "db-status", "--json")
    for result in (shown, as_json):
        assert result.exit_code == 0, result.output
        assert postgres_server.password not in result.output
    urls = [d["url"] for d in json.loads(as_json.stdout)["databases"]]
    assert all(":***@" in url for url in urls)


def test_db_status_check_checks_indexes_and_says_what_it_checked(
    ingested: dict[str, str], data_dir: Path, postgres_server: PostgresServer
) -> None:
    database = ingested["ANALYZER_DB_SEMANTIC_CORE_URL"].rsplit("/", 1)[1]
    available = postgres_server.psql(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'", database
    )
    if available == "1":
        postgres_server.psql("CREATE EXTENSION amcheck", database)
    status = run_json(ingested, data_dir, "db-status", "--check")
    [semantic] = [d for d in status["databases"] if d["name"] == "semantic_core"]
    assert semantic["integrity"] == ["ok"]
    assert "validity of" in semantic["checked"]
    assert ("amcheck of" if available == "1" else "no amcheck") in semantic["checked"]
    postgres_server.psql(
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ix_chunks_search'::regclass",
        database,
    )
    result = run(ingested, data_dir, "db-status", "--check")
    one_line_error(
        result,
        1,
        "integrity check failed (semantic_core: index ix_chunks_search is invalid; "
        "rebuild it with REINDEX INDEX ix_chunks_search)",
    )


def test_a_wrong_password_or_a_missing_database_is_one_line(
    postgres_server: PostgresServer, data_dir: Path
) -> None:
    wrong = {"ANALYZER_DB_SEMANTIC_CORE_URL": postgres_server.url("postgres", "not-it")}
    line = one_line_error(run(wrong, data_dir, "db-status"), 1, "user name or password")
    assert "not-it" not in line and "ANALYZER_DB_SEMANTIC_CORE_URL" in line
    missing = {"ANALYZER_DB_SEMANTIC_CORE_URL": postgres_server.url("no_such_database")}
    one_line_error(run(missing, data_dir, "db-status"), 1, "does not exist", "createdb")


def test_trigram_is_refused_before_anything_is_written(
    postgres_env: dict[str, str], data_dir: Path
) -> None:
    result = run(postgres_env, data_dir, "ingest", str(SAMPLE_DOCS / "money"), "--trigram")
    one_line_error(result, 2, "--trigram", "PostgreSQL")
    status = run_json(postgres_env, data_dir, "db-status")
    [semantic] = [d for d in status["databases"] if d["name"] == "semantic_core"]
    assert {t["name"]: t["rows"] for t in semantic["tables"]}["collections"] == 0


def test_a_revision_2_database_is_upgraded_and_searchable(
    postgres_env: dict[str, str], data_dir: Path, postgres_server: PostgresServer
) -> None:
    run_json(postgres_env, data_dir, "ingest", str(SAMPLE_DOCS / "money"))
    database = postgres_env["ANALYZER_DB_SEMANTIC_CORE_URL"].rsplit("/", 1)[1]
    postgres_server.psql(
        "ALTER TABLE chunks DROP COLUMN search, DROP COLUMN source_line, DROP COLUMN page, "
        "DROP COLUMN line_map; ALTER TABLE documents DROP COLUMN sketch; "
        "ALTER TABLE collections DROP COLUMN epoch; "
        "UPDATE analyzer_schema SET revision = 2 WHERE module LIKE '%semantic_core%'",
        database,
    )
    found = hits(postgres_env, data_dir, "emergency fund", "--mode", "keyword")
    assert found and found[0].startswith("emergency-fund")
    revision = postgres_server.psql(
        "SELECT revision FROM analyzer_schema WHERE module LIKE '%semantic_core%'", database
    )
    assert revision == str(SCHEMA_REVISION)


def test_three_workers_at_once_on_a_fresh_database_lose_and_double_nothing(
    postgres_env: dict[str, str], tmp_path: Path
) -> None:
    """Three `analyzer ingest` processes start together on empty databases, over folders
    that overlap: the tables, the collection and the shared documents are each created
    once, and every file is stored exactly once."""
    shared = write_notes(tmp_path / "shared", 600)
    folders = [write_notes(tmp_path / f"own-{n}", 60) for n in range(3)]
    env = {**os.environ, **postgres_env}
    env.pop("ANALYZER_SERVER", None)
    data_dir = tmp_path / "data"
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "analyzer", "--data-dir", str(data_dir), "ingest"]
            + [str(folder), str(shared), "--json"],
            env={**env, "ANALYZER_SERVER": "off"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in folders
    ]
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        reports.append(json.loads(out))
    assert sum(r["failed"] for r in reports) == 0
    assert sum(r["new"] for r in reports) == 3 * 60 + 600
    assert sum(r["new"] + r["unchanged"] for r in reports) == 3 * (60 + 600)
    status = run_json(postgres_env, data_dir, "db-status")
    [semantic] = [d for d in status["databases"] if d["name"] == "semantic_core"]
    rows = {t["name"]: t["rows"] for t in semantic["tables"]}
    assert rows["documents"] == 3 * 60 + 600 and rows["collections"] == 1


# --- without a server: URLs, and globs as PostgreSQL patterns -------------------------


def test_a_postgresql_url_gets_the_async_driver_and_bad_ones_are_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from analyzer.errors import ConfigurationError
    from modules.core.database import database_infrastructure as infra

    name = "semantic_core"
    for given in ("postgresql://u:p@h/db", "postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"):
        assert infra.engine_url(given, name) == "postgresql+asyncpg://u:p@h/db"
    assert infra.engine_url("sqlite:////tmp/x.db", name) == "sqlite+aiosqlite:////tmp/x.db"
    refusals = {
        "nonsense": "is not a database URL",
        "mysql://u@h/db": "runs on SQLite and PostgreSQL",
        "postgresql+psycopg://u@h/db": "through asyncpg",
    }
    for given, fragment in refusals.items():
        with pytest.raises(ConfigurationError, match=fragment) as caught:
            infra.engine_url(given, name)
        assert "ANALYZER_DB_SEMANTIC_CORE_URL" in str(caught.value)
    real_find_spec = infra.importlib.util.find_spec
    monkeypatch.setattr(
        infra.importlib.util,
        "find_spec",
        lambda module: None if module == "asyncpg" else real_find_spec(module),
    )
    with pytest.raises(ConfigurationError, match=r"pip install 'analyzer\[postgres\]'"):
        infra.engine_url("postgresql://u@h/db", name)


def test_urls_are_shown_without_their_password() -> None:
    from modules.core.database.database_infrastructure import display_location, hidden_password

    assert hidden_password("postgresql+asyncpg://u:s3cret@h:5/db") == (
        "postgresql+asyncpg://u:***@h:5/db"
    )
    assert "s3cret" not in display_location("postgresql+asyncpg://u:s3cret@h/db")
    assert hidden_password("not a url at all") == "(not a URL)"


@pytest.mark.parametrize(
    "glob", ["*.md", "*/kitchen/*", "*[!x].txt", "*sour?ough*", "*[]]*", "a.b(c)+|{d}$^", "*\\*"]
)
def test_a_glob_becomes_a_pattern_that_matches_what_fnmatch_matches(glob: str) -> None:
    import re

    from modules.semantic_core.index.fulltext_postgres import glob_to_regex

    pattern = re.compile(glob_to_regex(glob))
    names = [
        "/a/kitchen/bread.md",
        "/a/x.txt",
        "/a/y.txt",
        "/sourdough.txt",
        "]",
        "a.b(c)+|{d}$^",
        "a\\b",
        "/a/b.rst",
        "x]y",
    ]
    for name in names:
        assert bool(pattern.search(name)) == fnmatch.fnmatchcase(name, glob), (glob, name)


def test_a_transaction_that_lost_a_race_is_one_line_that_says_to_run_again() -> None:
    from sqlalchemy import exc as sa_exc

    from analyzer.errors import DatabaseBusyError
    from modules.core.database.database_infrastructure import translate_database_error

    for message in ("deadlock detected", "could not serialize access due to concurrent update"):
        driver_error = sa_exc.DBAPIError("UPDATE collections ...", {}, Exception(message))
        translated = translate_database_error(driver_error, "postgresql://u:***@h/db", 5.0)
        assert isinstance(translated, DatabaseBusyError)
        assert translated.message.startswith("postgresql://u:***@h/db: another transaction")
        assert translated.message.endswith("run the command again (what is stored is intact)")


# --- vectors: pgvector where the server has it, the process where it does not ---------


def test_with_pgvector_chunk_vectors_live_in_the_database_under_an_hnsw_index(
    ingested: dict[str, str], data_dir: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    database = ingested["ANALYZER_DB_SEMANTIC_CORE_URL"].rsplit("/", 1)[1]
    counts = postgres_server.psql(
        "SELECT count(*), count(embedding_vector) FROM chunks", database
    ).split("|")
    assert counts[0] == counts[1] != "0"
    dimension = postgres_server.psql(
        "SELECT DISTINCT vector_dims(embedding_vector) FROM chunks", database
    )
    indexes = postgres_server.psql("SELECT indexname FROM pg_indexes", database).split()
    assert f"ix_chunks_vector_{dimension}" in indexes
    status = run_json(ingested, data_dir, "db-status")
    [semantic] = [d for d in status["databases"] if d["name"] == "semantic_core"]
    assert any(extension.startswith("vector ") for extension in semantic["extensions"])
    # Semantic search asks the database for the nearest chunks ...
    assert run_in_app(
        ingested, data_dir, lambda app: semantic_core(app).index.vectors_in_database()
    )
    # ... and finds the chunks that the process finds on SQLite.
    on_sqlite = tmp_path / "sqlite-data"
    assert run_json({}, on_sqlite, "ingest", str(SAMPLE_DOCS))["new"] > 40
    for question in ("keeping bread dough warm", "saving money every month", "bird feeders"):
        args = (question, "--mode", "semantic", "--top-k", "5")
        assert hits(ingested, data_dir, *args) == hits({}, on_sqlite, *args), question


def test_without_pgvector_nearest_chunks_are_found_in_the_process(
    postgres_server: PostgresServer, data_dir: Path
) -> None:
    """A role that may not install extensions (pgvector is not a trusted one) gets the
    stored bytes and the in-process search, as on SQLite."""
    postgres_server.psql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'plain') THEN "
        "CREATE ROLE plain LOGIN PASSWORD 'plain'; END IF; END $$"
    )
    env = {}
    for name in ("framework", "semantic_core"):
        database = f"plain_{name}"
        postgres_server.psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        postgres_server.psql(f'CREATE DATABASE "{database}" OWNER plain')
        url = f"postgresql://plain:plain@127.0.0.1:{postgres_server.port}/{database}"
        env[f"ANALYZER_DB_{name.upper()}_URL"] = url
    assert run_json(env, data_dir, "ingest", str(SAMPLE_DOCS / "kitchen"))["failed"] == 0
    found = hits(env, data_dir, "how do I keep a sourdough starter alive", "--mode", "semantic")
    assert found[0] == "sourdough-starter.txt"
    assert not run_in_app(env, data_dir, lambda app: semantic_core(app).index.vectors_in_database())
    status = run_json(env, data_dir, "db-status")
    [semantic] = [d for d in status["databases"] if d["name"] == "semantic_core"]
    assert semantic["extensions"] == []
    columns = postgres_server.psql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'chunks'",
        "plain_semantic_core",
    ).split()
    assert "embedding" in columns and "embedding_vector" not in columns


def test_a_path_that_few_chunks_match_still_gets_all_its_nearest_chunks(
    postgres_env: dict[str, str], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HNSW index holds every chunk's vector, and --path (or a small collection) is a
    filter on what it yields. When its scan gives up (here at once, as it gives up after
    20,000 entries on a large table) before enough chunks have passed the filter, the
    search is answered exactly."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from analyzer.settings import Settings, database_urls_from_env
    from modules.semantic_core.index import vectors_postgres
    from modules.semantic_core.ingest.service import Record
    from tests.helpers import FakeModels, HashEmbedder, ingest_records

    settings = Settings(data_dir=data_dir, database_urls=database_urls_from_env(postgres_env))
    records = [Record(uid=f"big-{i}", text=f"Big note {i} about tides.") for i in range(300)]
    records += [Record(uid=f"small-{i}", text=f"Small note {i} on lanterns.") for i in range(8)]
    assert ingest_records(settings, records, FakeModels(), collection="notes").failed == 0
    monkeypatch.setattr(vectors_postgres, "MAX_SCAN_TUPLES", 1)
    monkeypatch.setattr(vectors_postgres, "EF_SEARCH", 1)
    vector = HashEmbedder("words").encode(["big note about tides"])[0]
    literal = "[" + ",".join(repr(float(x)) for x in vector) + "]"
    url = postgres_env["ANALYZER_DB_SEMANTIC_CORE_URL"].replace(
        "postgresql:", "postgresql+asyncpg:"
    )
    pattern = vectors_postgres.glob_to_regex("small-*")

    async def work() -> tuple[list[Any], list[Any], int]:
        engine = create_async_engine(url)
        try:
            async with AsyncSession(engine) as session, session.begin():
                collection = (
                    await session.execute(text("SELECT id FROM collections"))
                ).scalar_one()
                # On a table this small the planner would rather sort every row; the index
                # is what is under test (and the exact answer then sorts all the same).
                await session.execute(text("SET LOCAL enable_sort = off"))
                found = await vectors_postgres.nearest(session, collection, vector, 5, "small-*")
            async with AsyncSession(engine) as session, session.begin():
                every = await session.execute(
                    text(
                        "SELECT c.id, 1 - (c.embedding_vector <=> CAST(CAST(:v AS text) AS "
                        "halfvec)) FROM chunks c JOIN documents d ON d.id = c.document_id "
                        "WHERE d.path ~ :p"
                    ),
                    {"v": literal, "p": pattern},
                )
                exact = sorted(every.all(), key=lambda row: (-row[1], row[0]))[:5]
            async with AsyncSession(engine) as session, session.begin():
                for setting in ("iterative_scan = relaxed_order", "max_scan_tuples = 1"):
                    await session.execute(text(f"SET LOCAL hnsw.{setting}"))
                await session.execute(text("SET LOCAL hnsw.ef_search = 1"))
                await session.execute(text("SET LOCAL enable_sort = off"))
                sql = vectors_postgres._nearest_sql(64, True, exact=False)
                params = {
                    "vector": literal,
                    "collection": collection,
                    "limit": 5,
                    "pattern": pattern,
                }
                through_index = len((await session.execute(text(sql), params)).all())
            return found, exact, through_index
        finally:
            await engine.dispose()

    found, exact, through_index = asyncio.run(work())
    assert through_index < 5  # the index alone runs short here
    assert len(exact) == 5
    assert [hit[0] for hit in found] == [row[0] for row in exact]
    assert [hit[2] for hit in found] == pytest.approx([float(row[1]) for row in exact], abs=1e-3)
