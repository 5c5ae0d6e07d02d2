"""Fuzzing the CLI's arguments and the MCP tools' arguments and lines: no traceback, ever.

Each CLI command line (through Typer's CliRunner, with the fake models, on a small
ingested collection) ends with exit code 0, 1 or 2 and no traceback. Each MCP line (to
``analyzer mcp`` served in this process) gets exactly one answer: a result, or a JSON-RPC
error; a tool's error is a one-line reason, never an exception's. Texts mix plain words
with NULs, bytes that are not UTF-8 (as Python holds them, U+DC80 to U+DCFF), surrogates
that stand for no byte, and integers far past any column.

In CI the harness runs a fixed number of examples with a fixed seed (a few seconds each).
For a longer run by hand: ``ANALYZER_FUZZ_EXAMPLES=2000 python -m pytest tests/fuzz -q``.
A crash found is fixed and its input added to ``REGRESSIONS``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from analyzer.server.mcp import refusal_of
from tests.helpers import FakeModels, cli
from tests.test_crash_free import NOT_UTF8, McpLines

EXAMPLES = int(os.environ.get("ANALYZER_FUZZ_EXAMPLES", "40"))  # on each backend
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same inputs on every run: a failure in CI reproduces
    deadline=None,  # a command boots a context; the machine is shared
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pieces that broke a front door once, or sit on a boundary.
ODD = [
    "\0",
    "\udcff",
    "\udce9",
    "\ud800",
    "\udfff",
    NOT_UTF8,
    "bread.txt",
    "docs/bread.txt",
    "-",
    "--",
    "-k",
    "*",
    "%",
    "_",
    "'",
    "\\",
    "..",
    "/",
    "~",
    "\ufffd",
    "\U0010fee9",
]
HUGE = [
    "0",
    "-1",
    "1000",
    "1001",
    "2147483647",
    "2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999",
    "1e308",
    "nan",
    "inf",
    "-inf",
]
DOCS = "{docs}"  # the corpus's folder, in a command line that ingests it again
REGRESSIONS: list[list[str]] = [
    ["ingest", DOCS, "--max-file-size", "1e999KB"],
    ["ingest", "a" * 5000],
    ["query", "\udcff bread", "--mode", "semantic"],
    ["similar", "\udcff"],
    ["show", "caf\udce9.txt"],
    ["show", "bread.txt", "--lines", "1-99999999999999999999"],
    ["query", "bread", "--top-k", "9223372036854775808"],
    ["show", "a\0b"],
    ["documents", "-c", "\udcff"],
]

words = st.sampled_from(
    ["bread", "flour yeast", "dough", "cafe", "tomatoes", "water the root", "default"]
    + ["bread.txt", "garden.md", "docs/bread.txt", NOT_UTF8, "caf"]
)
odd = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(ODD)), max_size=4).map("".join)
# Half of the texts are words a search or a lookup finds: the commands run past parsing.
texts = st.one_of(words, words, st.text(max_size=12), odd)
small = st.integers(1, 20).map(str)
numbers = st.one_of(
    small,
    small,
    small,
    st.sampled_from(HUGE),
    st.integers(-5, 3000).map(str),
    st.integers(2**31 - 3, 2**31 + 3).map(str),
    st.integers(2**63 - 3, 2**63 + 3).map(str),
    st.integers(10**19, 10**40).map(str),
    texts,
)
line_ranges = st.one_of(
    st.tuples(small, small).map("-".join),
    st.tuples(numbers, numbers).map("-".join),
    numbers,
    st.sampled_from(["1-", "-3", "3-1"]),
)
sizes = st.one_of(
    st.tuples(numbers, st.sampled_from(["", "KB", "mb", "G", "GiB", "b", "x"])).map("".join),
    texts,
)
modes = st.one_of(st.sampled_from(["hybrid", "semantic", "keyword"]), texts)
collections = st.one_of(st.just("default"), st.just("default"), texts)


def option(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    """``[name, value]`` or nothing."""
    return st.one_of(st.just([]), values.map(lambda value: [name, value]))


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A command line of a command that only reads: its options in any order, plus noise."""
    command = draw(
        st.sampled_from(
            ["query", "similar", "show", "keywords", "documents", "duplicates", "topics"]
            + ["ingest"]
        )
    )
    parts: list[list[str]] = [draw(option("-c", collections))]
    if command == "query":
        parts += [[draw(texts)], draw(option("--mode", modes)), draw(option("--top-k", numbers))]
        parts += [draw(option("-p", texts)), draw(option("--min-score", numbers))]
    elif command in ("similar", "show", "keywords"):
        parts += [[draw(texts)], draw(option("-k", numbers))]
        if command == "show":
            parts += [draw(option("--lines", line_ranges)), draw(option("--page", numbers))]
            parts += [draw(st.sampled_from([[], ["--text"], ["--json"]]))]
    elif command == "documents":
        parts += [draw(option("-p", texts))]
    elif command == "ingest":
        parts += [[DOCS], draw(option("--max-file-size", sizes))]
        parts += [draw(option("--file-timeout", numbers)), draw(option("--include", texts))]
        parts += [draw(option("--exclude", texts))]
    elif command == "duplicates":
        parts += [draw(option("--threshold", numbers))]
    else:
        parts += [draw(option("--k", numbers))]
    noise = st.lists(st.one_of(texts, st.sampled_from(["--json", "--csv", "-j"])), max_size=2)
    parts += [draw(st.one_of(st.just([]), st.just([]), noise))]
    order = draw(st.permutations(parts))
    return [command, *(token for part in order for token in part)]


@pytest.fixture(scope="module")
def fuzz_models() -> FakeModels:
    return FakeModels()


@pytest.fixture(scope="module")
def module_databases(new_databases: Callable[[str], dict[str, str]]) -> dict[str, str]:
    """The corpus's databases on the backend under test (tests/conftest.py points every
    test of this module at them)."""
    return new_databases("front_doors_fuzz")


@pytest.fixture(scope="module")
def corpus(
    tmp_path_factory: pytest.TempPathFactory,
    fuzz_models: FakeModels,
    module_databases: dict[str, str],
) -> Path:
    """A few documents (one named with a byte that is not UTF-8) ingested, on each backend."""
    root = tmp_path_factory.mktemp("front-doors-fuzz")
    docs = root / "docs"
    docs.mkdir()
    (docs / "bread.txt").write_text("Bread flour yeast\n\nKnead the dough, let it rise.\n")
    (docs / NOT_UTF8).write_text("Coffee and cake\n\nThe cafe opens at eight.\n")
    (docs / "garden.md").write_text("# Tomatoes\n\nWater them at the root in the morning.\n")
    (docs / "garden-copy.md").write_text("# Tomatoes\n\nWater them at the root in the morning.\n")
    data = str(root / "data")
    done = cli("--data-dir", data, "ingest", str(docs), env=module_databases, models=fuzz_models)
    assert done.exit_code == 0, done.output
    return root / "data"


def uncounted(_: str) -> None:
    """Counting outside a Hypothesis test: nothing to count in."""


def check_command_line(
    data_dir: Path, models: FakeModels, argv: list[str], count: Callable[[str], None] = uncounted
) -> None:
    docs = str(data_dir.parent / "docs")
    argv = [docs if token == DOCS else token for token in argv]
    result = cli("--data-dir", str(data_dir), *argv, models=models)
    count(f"exit {result.exit_code}")
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, f"{argv!r}: {result.exception!r}"
    assert result.exit_code in (0, 1, 2), (argv, result.output)
    assert "Traceback" not in result.output, (argv, result.output)


@pytest.mark.parametrize("argv", REGRESSIONS, ids=lambda argv: repr(argv)[:40])
def test_command_lines_that_once_crashed(corpus: Path, fuzz_models: FakeModels, argv: list[str]):
    check_command_line(corpus, fuzz_models, argv)


@FUZZ
@given(argv=command_lines())
def test_random_command_lines_end_in_an_exit_code(
    corpus: Path, fuzz_models: FakeModels, argv: list[str]
) -> None:
    check_command_line(corpus, fuzz_models, argv, event)


# --- MCP ------------------------------------------------------------------------------------

TOOLS = ["search", "get_document", "similar", "status"]
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)
# A tool's own arguments are always there (others are ignored): the tools run past checking.
tool_arguments = st.fixed_dictionaries(
    {
        "query": st.one_of(texts, texts, json_values),
        "document": st.one_of(texts, st.sampled_from(["bread.txt", NOT_UTF8])),
    },
    optional={
        "collection": collections,
        "top_k": st.one_of(st.integers(1, 20), st.integers(-5, 2000), st.integers(2**31, 2**80)),
        "lines": st.one_of(line_ranges, line_ranges, json_values),
        "mode": modes,
        "path": texts,
        "unknown": json_values,
    },
)
tools = st.one_of(st.sampled_from(TOOLS), st.sampled_from(TOOLS), st.sampled_from(TOOLS), texts)
# What an exception's last line looks like (ValueError: ..., KeyError: ...).
EXCEPTION_LINE = re.compile(r"\b[A-Z]\w*(?:Error|Exception|Warning): ")


class ErrorRecords(logging.Handler):
    """Every ERROR logged while the tools run (a command that failed logs its traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record)


@pytest.fixture(scope="module")
def mcp_session(corpus: Path, fuzz_models: FakeModels) -> Iterator[tuple[McpLines, ErrorRecords]]:
    errors = ErrorRecords()
    logging.getLogger().addHandler(errors)
    try:
        with McpLines(corpus, fuzz_models) as session:
            yield session, errors
    finally:
        logging.getLogger().removeHandler(errors)


def check_answer(answer: dict[str, Any], errors: ErrorRecords) -> None:
    assert answer.get("jsonrpc") == "2.0"
    if "error" in answer:
        event(f"JSON-RPC error {answer['error']['code']}")
        assert isinstance(answer["error"]["code"], int) and answer["error"]["message"]
    else:
        result = answer["result"]
        event("tool error" if result.get("isError") else "result")
        if result.get("isError"):
            text = result["content"][0]["text"]
            assert "Traceback" not in text and not EXCEPTION_LINE.search(text), text
    assert not errors.seen, [record.getMessage() for record in errors.seen]


@FUZZ
@given(tool=tools, arguments=tool_arguments)
def test_random_tool_arguments_get_an_answer(
    mcp_session: tuple[McpLines, ErrorRecords], tool: str, arguments: dict[str, Any]
) -> None:
    session, errors = mcp_session
    check_answer(session.call(tool, arguments), errors)


requests = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "1.0"]), "id": st.one_of(st.integers(), texts)},
    optional={
        "method": st.one_of(st.sampled_from(["tools/call", "ping", "tools/list"]), texts),
        "params": json_values,
    },
)
lines = st.one_of(
    st.binary(max_size=200).map(lambda raw: raw.replace(b"\n", b"").replace(b"\r", b"")),
    json_values.map(json.dumps),
    requests.map(json.dumps),
)


def answered(line: str) -> bool:
    """Whether a line asks for an answer: one the SDK cannot read, or a request (a
    notification, or a response to the server, rightly gets none)."""
    if refusal_of(line) is not None:
        return True
    message = json.loads(line)
    return "method" in message and "id" in message


@FUZZ
@given(line=lines)
def test_random_lines_get_one_answer(
    mcp_session: tuple[McpLines, ErrorRecords], line: str | bytes
) -> None:
    session, errors = mcp_session
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    assume(text.strip() and answered(text))
    answer = session.send(line)
    check_answer(answer, errors)
    refusal = refusal_of(text)
    expected = json.loads(text if refusal is None else refusal)["id"]
    assert answer.get("id") == expected, (text, answer)  # this line's answer, not another's
