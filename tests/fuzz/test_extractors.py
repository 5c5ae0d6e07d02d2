"""Fuzzing the extractors and the chunker against their contract.

Every extractor either returns text (a str, with headings on real lines) or raises its
own ``Unextractable``; the chunker cuts any text into chunks whose spans and lines lie
inside it. Inputs are random bytes and mutations of real files from sample_docs.

In CI the harness runs a fixed number of examples per target with a fixed seed (a few
seconds). For a longer run by hand: ``ANALYZER_FUZZ_EXAMPLES=5000 python -m pytest
tests/fuzz -q``. A crash found is fixed and its input added to ``REGRESSIONS``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path, PurePath

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from modules.semantic_core.ingest.chunking import chunk_document
from modules.semantic_core.ingest.extract import Extracted, Heading, Unextractable, extract
from tests.helpers import SAMPLE_DOCS

EXAMPLES = int(os.environ.get("ANALYZER_FUZZ_EXAMPLES", "60"))
SECONDS_PER_INPUT = 10.0
FORMATS = {".txt": "text", ".md": "markdown", ".rst": "rst", ".html": "html", ".pdf": "pdf"}
FORMATS |= {".docx": "docx", ".dat": "sniffed"}
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same inputs on every run: a failure in CI reproduces
    deadline=None,  # time is checked against SECONDS_PER_INPUT instead
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Inputs that once broke an extractor, kept so they stay fixed.
REGRESSIONS: list[tuple[str, bytes]] = [
    (".html", b"<html><body>" + b"<div>" * 3000 + b"deep" + b"</div>" * 3000 + b"</body></html>"),
    (".md", b"```\ncode\n```\n---\ntitle: x\n---\n"),
    (".pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n" * 3),
    (".docx", b"PK\x03\x04" + b"\x00" * 60),
]


def seeds() -> list[tuple[str, bytes]]:
    found = []
    for path in sorted(SAMPLE_DOCS.rglob("*")):
        if path.is_file() and path.suffix in FORMATS:
            found.append((path.suffix, path.read_bytes()))
    return found


SEEDS = seeds()


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real file with bytes flipped, cut, duplicated or spliced in."""
    suffix, data = draw(st.sampled_from(SEEDS))
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "repeat", "insert", "truncate"]))
        if action == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 512))]
        elif action == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 256))] * draw(st.integers(2, 50))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        else:
            del data[at:]
    return suffix, bytes(data)


def check_contract(suffix: str, data: bytes, count: Callable[[str], None] = lambda _: None) -> None:
    started = time.perf_counter()
    try:
        extracted = extract(data, PurePath(f"fuzzed{suffix}"))
    except Unextractable as exc:
        count(f"{suffix}: refused")
        assert str(exc).strip() and "\n" not in str(exc)  # a one-line reason
        return
    finally:
        assert time.perf_counter() - started < SECONDS_PER_INPUT, f"{suffix}: too slow"
    count(f"{suffix}: extracted")
    assert isinstance(extracted, Extracted) and isinstance(extracted.text, str)
    assert extracted.text.strip()
    lines = extracted.text.split("\n")
    assert all(isinstance(h, Heading) and 0 <= h.line < len(lines) for h in extracted.headings)
    check_chunks(extracted)


def check_chunks(extracted: Extracted) -> None:
    text = extracted.text
    chunks = chunk_document(extracted)
    for ordinal, chunk in enumerate(chunks):
        assert chunk.ordinal == ordinal
        assert 0 <= chunk.char_start < chunk.char_end <= len(text)
        assert chunk.text == text[chunk.char_start : chunk.char_end]
        # The lines name where the chunk's first and last characters stand in the text.
        assert chunk.line_start == text.count("\n", 0, chunk.char_start) + 1
        assert chunk.line_end == chunk.line_start + chunk.text[:-1].count("\n")


@pytest.mark.parametrize(("suffix", "data"), REGRESSIONS, ids=lambda v: str(v)[:20])
def test_inputs_that_once_broke_an_extractor(suffix: str, data: bytes) -> None:
    check_contract(suffix, data)


@FUZZ
@given(st.sampled_from(sorted(FORMATS)), st.binary(max_size=4096))
def test_random_bytes_keep_the_contract(suffix: str, data: bytes) -> None:
    check_contract(suffix, data, event)


@FUZZ
@given(mutated())
def test_mutated_real_files_keep_the_contract(case: tuple[str, bytes]) -> None:
    check_contract(*case, event)


@FUZZ
@given(
    st.text(max_size=3000),
    st.lists(st.tuples(st.integers(0, 200), st.integers(1, 6), st.text(max_size=40)), max_size=8),
)
def test_the_chunker_keeps_spans_and_lines_inside_any_text(text: str, heads: list) -> None:
    if not text.strip():
        return
    lines = text.count("\n") + 1
    headings = tuple(Heading(line % lines, level, title) for line, level, title in heads)
    check_chunks(Extracted(text=text, title="", format="text", headings=headings))


def test_the_fuzz_seeds_cover_every_format() -> None:
    assert {suffix for suffix, _ in SEEDS} >= set(FORMATS) - {".dat"}
    assert Path(SAMPLE_DOCS).is_dir()
