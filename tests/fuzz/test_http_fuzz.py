"""Fuzzing the HTTP API of a real ``analyzer serve --http``: whatever a caller with the
token sends (any text, lone surrogates and NUL included, numbers of any size, JSON of
any shape), the answer is a 2xx or a 4xx with a one-line error, never a 5xx, and the
server still answers afterwards. Runs on both backends: PostgreSQL refuses some text
that SQLite stores.

A fixed number of examples with a fixed seed in CI; more by hand with
``ANALYZER_FUZZ_EXAMPLES=2000 python -m pytest tests/fuzz/test_http_fuzz.py -q``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import SAMPLE_DOCS
from tests.test_front_doors import free_port, token_client
from tests.test_server import analyzer, start_server, stop_process

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("ANALYZER_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Any code point, lone surrogates included (hypothesis leaves them out unless asked).
any_text = st.text(st.characters(codec=None, categories=None), max_size=40)
odd_text = st.one_of(
    any_text,
    st.sampled_from(["", "\x00", "\ud800", "caf\udce9", "*", "../..", "a" * 300, "default"]),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalar = st.one_of(odd_text, numbers, st.booleans(), st.none())
json_value = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=8,
)
SEARCH_FIELDS = ["q", "query", "collection", "top_k", "mode", "path", "min_score", "chunks"]
GET_ROUTES = ["/search", "/documents/", "/similar/", "/keywords", "/topics", "/duplicates"]
INGEST_FIELDS = ["paths", "collection", "include", "exclude", "prune", "force"]


def as_query_value(value: object) -> str:
    """What a browser or curl would put in a URL for ``value``: UTF-8, percent-encoded."""
    text = value if isinstance(value, str) else json.dumps(value)
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@st.composite
def get_request(draw: st.DrawFn) -> str:
    route = draw(st.sampled_from(GET_ROUTES))
    if route.endswith("/"):
        route += as_query_value(draw(odd_text)) or "x"
    names = ["q", "collection", "top_k", "mode", "path", "document", "top", "k", "threshold"]
    params = draw(st.dictionaries(st.sampled_from(names), scalar, max_size=4))
    if route == "/search" and draw(st.booleans()):
        params.setdefault("q", draw(odd_text))
    query = "&".join(f"{name}={as_query_value(value)}" for name, value in params.items())
    return f"{route}?{query}" if query else route


@st.composite
def json_body(draw: st.DrawFn, fields: list[str]) -> bytes:
    """A JSON object over ``fields`` with values of any shape, or JSON that is not one."""
    if draw(st.integers(0, 9)) == 0:
        return json.dumps(draw(json_value)).encode()
    body = draw(st.dictionaries(st.sampled_from(fields), json_value, max_size=len(fields)))
    return json.dumps(body).encode()  # ensure_ascii: surrogates travel as \\ud800 escapes


def safe_paths(body: bytes, scratch: Path) -> bytes:
    """An ingest body whose paths cannot name a real folder outside ``scratch``: every
    string path is put under a folder that does not exist."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    if isinstance(parsed, dict) and isinstance(parsed.get("paths"), list):
        parsed["paths"] = [
            str(scratch / "absent" / p.lstrip("/")) if isinstance(p, str) else p
            for p in parsed["paths"]
        ]
    return json.dumps(parsed).encode()


@pytest.fixture(scope="module")
def fuzzed_api(
    tmp_path_factory: pytest.TempPathFactory, new_databases: Callable[[str], dict[str, str]]
) -> Iterator[tuple[httpx.Client, Path]]:
    databases = new_databases("http_fuzz")
    data = tmp_path_factory.mktemp("http-fuzz") / "data"
    done = analyzer(data, "ingest", str(SAMPLE_DOCS / "kitchen"), server=False, env=databases)
    assert done.returncode == 0, done.stderr
    port = free_port()
    running = start_server(data, "--http", f"127.0.0.1:{port}", env=databases)
    try:
        with token_client(f"http://127.0.0.1:{port}", data) as api:
            api.timeout = 60
            yield api, tmp_path_factory.mktemp("http-fuzz-scratch")
    finally:
        stop_process(running.process)


def assert_answered_well(answer: httpx.Response) -> None:
    assert answer.status_code < 500, (answer.request.url, answer.text)
    if answer.status_code >= 400:
        error = answer.json()["error"]
        assert error and "\n" not in error and "Traceback" not in error


@FUZZ
@given(request=get_request())
def test_any_get_request_is_answered_without_a_server_error(
    fuzzed_api: tuple[httpx.Client, Path], request: str
) -> None:
    api, _ = fuzzed_api
    assert_answered_well(api.get(request))


@FUZZ
@given(body=json_body(SEARCH_FIELDS))
def test_any_search_body_is_answered_without_a_server_error(
    fuzzed_api: tuple[httpx.Client, Path], body: bytes
) -> None:
    api, _ = fuzzed_api
    headers = {"content-type": "application/json"}
    assert_answered_well(api.post("/search", content=body, headers=headers))


@FUZZ
@given(body=json_body(INGEST_FIELDS))
def test_any_ingest_body_is_answered_without_a_server_error(
    fuzzed_api: tuple[httpx.Client, Path], body: bytes
) -> None:
    api, scratch = fuzzed_api
    headers = {"content-type": "application/json"}
    answer = api.post("/ingest", content=safe_paths(body, scratch), headers=headers)
    assert_answered_well(answer)
    assert answer.status_code != 202  # no path it was given exists


def test_the_server_still_answers_after_the_fuzzing(
    fuzzed_api: tuple[httpx.Client, Path],
) -> None:
    api, _ = fuzzed_api
    found = api.get("/search", params={"q": "bread flour", "mode": "keyword"})
    assert found.status_code == 200 and found.json()["results"]
