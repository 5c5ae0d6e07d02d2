"""What the commands print for scripts and people: plain lines off a terminal, --csv,
--tsv and --nl, -h and the Examples of every command, short flags, global options after
the command, and ``query --batch -``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import typer
from typer.testing import Result

from analyzer import ui
from analyzer.cli.app import app
from analyzer.cli.runner import CliState
from analyzer.client.command_line import hoisted, read_command_line
from analyzer.paths import display_path
from analyzer.views import flat_row
from tests.helpers import cli, cli_json, runner

# A command that lists rows, and where its --json holds them.
LISTINGS = [
    (("query", "how long to cool a burn under running water", "-k", "4"), "results"),
    (("documents",), "documents"),
    (("collections",), "collections"),
    (("duplicates",), "pairs"),
    (("similar", "kitchen/bread-basics.md", "-k", "3"), "results"),
    (("keywords", "money/emergency-fund.md"), "keywords"),
    (("topics", "-k", "3"), "topics"),
]


def invoke(data: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return cli("--data-dir", str(data), *args, env=env)


def json_rows(data: Path, args: tuple[str, ...], key: str) -> list[dict]:
    rows = cli_json("--data-dir", str(data), *args, "--json")[key]
    assert rows, f"{args} lists nothing: the test would prove nothing"
    return rows


def as_cells(row: dict) -> dict[str, str]:
    """A --json row as the csv module reads its CSV line back: every cell a string."""
    return {key: str(value) for key, value in flat_row(row).items()}


# --- plain lines off a terminal ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "key", "paths"),
    [
        (("duplicates",), "pairs", lambda r: [r["first"]["document"], r["second"]["document"]]),
        (("similar", "kitchen/bread-basics.md"), "results", lambda r: [r["document"]]),
        (("documents",), "documents", lambda r: [r["document"]]),
    ],
    ids=["duplicates", "similar", "documents"],
)
def test_off_a_terminal_each_row_is_one_line_with_whole_paths(
    sample_data_dir: Path, args: tuple[str, ...], key: str, paths: object
) -> None:
    rows = json_rows(sample_data_dir, args, key)
    result = invoke(sample_data_dir, *args, env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2 + len(rows)  # the title, the header, one line a row
    for row, line in zip(rows, lines[2:], strict=True):
        cells = line.split("\t")
        for path in paths(row):  # type: ignore[operator]
            assert display_path(path) in cells


def test_db_status_off_a_terminal_keeps_each_database_path_on_its_line(
    sample_data_dir: Path, backend: str
) -> None:
    report = cli_json("--data-dir", str(sample_data_dir), "db-status", "--json")
    result = invoke(sample_data_dir, "db-status", env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    for db in report["databases"]:
        location = db["path"] or db["url"]
        assert any(
            line.split("\t")[:2] == [db["name"], location] for line in result.stdout.splitlines()
        )


def test_topics_off_a_terminal_are_one_line_each(sample_data_dir: Path) -> None:
    result = invoke(sample_data_dir, "topics", "-k", "3", env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2 + 3
    assert all(line.count("\t") == 3 for line in lines[1:])


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_table_title_stays_on_one_line_on_a_narrow_terminal() -> None:
    title = "3 duplicate pairs in 3 clusters (47 documents, threshold 0.9)"
    out = _Tty()
    where = ui.Terminal(out, _Tty(), {"TERM": "xterm"}, local=False, measured=(40, 25))
    with ui.terminal_of(where):
        ui.print_table(title, ["a", "b"], [("1", "2")])
    assert title in out.getvalue()


# --- --csv, --tsv and --nl -----------------------------------------------------------------


@pytest.mark.parametrize(("args", "key"), LISTINGS, ids=[args[0] for args, _ in LISTINGS])
def test_csv_and_nl_hold_the_rows_of_json(
    sample_data_dir: Path, args: tuple[str, ...], key: str
) -> None:
    rows = json_rows(sample_data_dir, args, key)
    as_csv = invoke(sample_data_dir, *args, "--csv")
    assert as_csv.exit_code == 0, as_csv.output
    assert list(csv.DictReader(io.StringIO(as_csv.stdout))) == [as_cells(r) for r in rows]
    as_nl = invoke(sample_data_dir, *args, "--nl")
    assert as_nl.exit_code == 0, as_nl.output
    assert [json.loads(line) for line in as_nl.stdout.splitlines()] == rows


def test_tsv_is_tab_separated_with_a_header(sample_data_dir: Path) -> None:
    rows = json_rows(sample_data_dir, ("duplicates",), "pairs")
    result = invoke(sample_data_dir, "duplicates", "--tsv")
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split("\t")
    assert header[:4] == ["score", "kind", "cluster", "first.document"]
    read = csv.DictReader(io.StringIO(result.stdout), delimiter="\t")
    assert list(read) == [as_cells(r) for r in rows]


def test_two_output_forms_are_a_usage_error(sample_data_dir: Path) -> None:
    result = invoke(sample_data_dir, "documents", "--csv", "--nl")
    assert result.exit_code == 2
    assert "--csv, --nl" in result.output


# --- help ------------------------------------------------------------------------------------


def command_paths(group: object = None, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of the CLI, as the words that name it ((), ("query",), ...)."""
    group = group or typer.main.get_command(app)
    found = [prefix]
    for name, command in getattr(group, "commands", {}).items():
        found += command_paths(command, (*prefix, name))
    return found


@pytest.mark.parametrize("words", command_paths(), ids=lambda w: " ".join(w) or "analyzer")
def test_dash_h_shows_help_with_examples(words: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*words, "-h"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "Usage: analyzer" in result.stdout and "Examples:" in result.stdout
    assert f"analyzer {' '.join(words)}".strip() in result.stdout.split("Examples:")[1]


def test_every_command_is_covered_by_the_help_test() -> None:
    names = {words[0] for words in command_paths() if words}
    assert {"query", "duplicates", "collections", "documents", "serve"} <= names
    assert ("collections", "drop") in command_paths()


# --- short flags and global options after the command ---------------------------------------


def test_short_flags_mean_the_long_ones(sample_data_dir: Path) -> None:
    pairs = [
        (
            ("query", "flour", "-k", "2", "-m", "keyword", "-p", "*kitchen*", "-c", "default"),
            ("query", "flour", "--top-k", "2", "--mode", "keyword", "--path", "*kitchen*"),
        ),
        (
            ("similar", "kitchen/bread-basics.md", "-k", "2"),
            ("similar", "kitchen/bread-basics.md", "--top-k", "2"),
        ),
        (("topics", "-k", "2"), ("topics", "--k", "2")),
        (("documents", "-p", "*money*"), ("documents", "--path", "*money*")),
    ]
    for short, long in pairs:
        short_result = invoke(sample_data_dir, *short, "-j")
        assert short_result.exit_code == 0, short_result.output
        expected = cli_json("--data-dir", str(sample_data_dir), *long, "--json")
        got = json.loads(short_result.stdout)
        expected.pop("seconds", None), got.pop("seconds", None)
        assert got == expected


def test_data_dir_after_the_command_reaches_the_same_data(sample_data_dir: Path) -> None:
    before = cli_json("--data-dir", str(sample_data_dir), "documents", "--json")
    after = cli_json("documents", "--json", "--data-dir", str(sample_data_dir))
    assert after == before and len(after["documents"]) == 47
    equals = cli_json("collections", f"--data-dir={sample_data_dir}", "--json")
    assert equals["collections"][0]["documents"] == 47


def test_global_options_move_before_the_command_but_not_past_a_double_dash() -> None:
    assert hoisted(["query", "x", "--data-dir", "D", "--debug"]) == [
        "--data-dir",
        "D",
        "--debug",
        "query",
        "x",
    ]
    assert hoisted(["--no-server", "query", "--", "--data-dir", "D"]) == [
        "--no-server",
        "query",
        "--",
        "--data-dir",
        "D",
    ]
    assert read_command_line(["query", "x", "--data-dir", "D"]).data_dir == "D"
    assert read_command_line(["collections", "drop", "n", "--data-dir=D"]).command == "collections"


def test_the_client_runs_batch_from_stdin_itself() -> None:
    assert read_command_line(["query", "--batch", "-"]).reads_stdin
    assert read_command_line(["query", "--batch=-", "--data-dir", "D"]).reads_stdin
    assert not read_command_line(["query", "--batch", "queries.txt"]).reads_stdin
    assert not read_command_line(["query", "--", "--batch", "-"]).reads_stdin
    assert not read_command_line(["db-status"]).reads_stdin


# --- query --batch - ---------------------------------------------------------------------------


def test_batch_reads_queries_from_stdin_like_from_a_file(
    sample_data_dir: Path, tmp_path: Path
) -> None:
    queries = 'flour water salt\n{"_id": "q7", "text": "emergency fund"}\n'
    (tmp_path / "queries.txt").write_text(queries)
    args = ["--data-dir", str(sample_data_dir), "query", "-k", "2", "--batch"]
    from_file = runner.invoke(app, [*args, str(tmp_path / "queries.txt")], obj=CliState())
    from_stdin = runner.invoke(app, [*args, "-"], input=queries, obj=CliState())
    assert from_stdin.exit_code == 0, from_stdin.output
    lines = [json.loads(line) for line in from_stdin.stdout.splitlines()]
    assert [line["query_id"] for line in lines] == ["1", "q7"]
    assert from_stdin.stdout == from_file.stdout


def test_batch_from_stdin_is_refused_where_stdin_is_not_the_callers(sample_data_dir: Path) -> None:
    elsewhere = ui.Terminal(io.StringIO(), io.StringIO(), {}, local=False)
    with ui.terminal_of(elsewhere):
        result = invoke(sample_data_dir, "query", "--batch", "-")
    assert result.exit_code == 2
    assert "--no-server" in result.output
