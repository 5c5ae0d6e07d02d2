"""State that must never mislead: database URLs and their passwords, and runs that must not
stay ``running`` when the database under them went away."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import cli, one_line_error
from tests.postgres_server import PostgresServer

# --- database URLs --------------------------------------------------------------------

VARIABLE = "ANALYZER_DB_SEMANTIC_CORE_URL"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://u:p@zq@127.0.0.1/db", "holds an unescaped '@'"),
        ("postgresql://u:p@zq:wxyv@127.0.0.1/db", "holds an unescaped '@'"),
        ("postgresql://u@127.0.0.1:abc/db", "port 'abc' is not a number"),
        ("postgresql://u@[::1/db", "an IPv6 host needs its closing ']'"),
        ("postgresql://u@[::1]:x/db", "port 'x' is not a number"),
        ("postgresql://u@127.0.0.1:99999/db", "port 99999 is not between 1 and 65535"),
    ],
)
def test_a_url_that_cannot_be_read_is_one_line_naming_the_variable(
    tmp_path: Path, url: str, problem: str
) -> None:
    result = cli("--data-dir", str(tmp_path / "data"), "db-status", env={VARIABLE: url})
    line = one_line_error(result, 1, f"{VARIABLE} is not a valid database URL (", problem)
    assert "%40" in line  # says how to write an @ in a password
    assert "zq" not in line and "wxyv" not in line  # never quotes the password


@pytest.mark.own_databases
def test_a_password_in_the_query_is_masked_in_status_and_in_framework_db(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    secret = postgres_server.password
    user_part = postgres_server.url("stuck_mask_fw")  # the password in the user part
    postgres_server.create_database("stuck_mask_fw")
    postgres_server.create_database("stuck_mask_sc")
    in_query = postgres_server.url("stuck_mask_sc", password="").replace(":@", "@")
    env = {
        "ANALYZER_DB_FRAMEWORK_URL": user_part,
        VARIABLE: f"{in_query}?password={secret}",
    }
    data = str(tmp_path / "data")
    text = cli("--data-dir", data, "db-status", env=env)
    shown = cli("--data-dir", data, "db-status", "--json", env=env)
    assert text.exit_code == 0 and shown.exit_code == 0, text.output + shown.output
    assert secret not in text.output and secret not in shown.output
    urls = [db["url"] for db in json.loads(shown.stdout)["databases"]]
    assert any(url.endswith("?password=***") for url in urls), urls
    assert any(":***@" in url for url in urls), urls
    stored = stored_rows_at(postgres_server, "stuck_mask_fw", "SELECT location FROM databases")
    assert len(stored) == 2 and not any(secret in location for (location,) in stored), stored


def stored_rows_at(server: PostgresServer, database: str, sql: str) -> list[tuple[str, ...]]:
    return [tuple(line.split("|")) for line in server.psql(sql, database).splitlines()]

