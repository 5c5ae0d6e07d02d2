"""Memory bounded by settings, not by what a caller sends: topics' k, the socket's
request frames and what follows them, and files that are binary by their first block."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import struct
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from analyzer.client import locate
from analyzer.client.forward import _request, ask
from analyzer.client.protocol import EXIT, MAX_REQUEST, REQUEST, FrameReader, decode_json, frame
from analyzer.server.resident import until_hangup
from analyzer.settings import Settings
from modules.semantic_core.analysis.keywords import term_table
from modules.semantic_core.analysis.topics import MAX_K, max_k, topic_terms
from modules.semantic_core.ingest.extract import UnsupportedFile
from modules.semantic_core.ingest.files import read_regular_file
from tests.helpers import SAMPLE_DOCS, FakeModels, cli, ingest_paths, one_line_error
from tests.test_server import Server, start_server, stop_process

# --- topics -------------------------------------------------------------------------------


def test_topics_refuse_more_than_half_the_documents_naming_the_maximum(
    sample_data_dir: Path,
) -> None:
    result = cli("--data-dir", str(sample_data_dir), "topics", "--k", "2999")
    one_line_error(result, 2, "--k must be between 2 and 23 for 47 documents", "got 2999")
    assert cli("--data-dir", str(sample_data_dir), "topics", "--k", "23").exit_code == 0


def test_the_largest_k_is_half_the_documents_and_never_above_the_hard_cap() -> None:
    assert [max_k(n) for n in (4, 5, 47, 100, 3000)] == [2, 2, 23, 50, MAX_K]


def test_topics_help_names_the_limit() -> None:
    result = cli("topics", "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "half the documents" in result.stdout and f"{MAX_K} at most" in result.stdout


def test_topic_labels_take_memory_by_the_text_not_by_k_times_the_vocabulary() -> None:
    # 2,000 documents of 20 words each, every word shared by two documents: 20,000 words
    # and as many phrases. Dense tables for k = 1,000 would hold 1,000 x 39,000 floats
    # (310 MB each); sparse ones hold one entry per (topic, term) that occurs.
    texts = [" ".join(_word(d // 2 * 20 + w) for w in range(20)) for d in range(2000)]
    table = term_table(texts)
    labels = np.arange(2000) // 2
    tracemalloc.start()
    try:
        found = topic_terms(table, labels, 1000, 8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 1024 * 1024, f"peak {peak:,} bytes"
    first_words = {word for k in found[0] for word in k.term.split()}
    assert len(found) == 1000 and first_words <= {_word(w) for w in range(20)}


def _word(number: int) -> str:
    """A distinct word of letters only for each number (terms are alphabetic)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    digits = []
    while True:
        number, rest = divmod(number, 26)
        digits.append(letters[rest])
        if not number:
            break
    return "q" + "".join(digits) + "x"


# --- the socket ---------------------------------------------------------------------------


@pytest.fixture
def bare_server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path / "data")
    try:
        yield running
    finally:
        stop_process(running.process)


def connect(server: Server) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(60)
    conn.connect(locate.socket_path(str(server.data_dir)))
    return conn


def run_request(server: Server, *argv: str) -> bytes:
    """A request frame for ``analyzer ARGV``, as the client builds it."""
    request = _request(str(server.data_dir), list(argv), {})
    return frame(REQUEST, json.dumps(request).encode("utf-8"))


def exit_code(conn: socket.socket) -> int | None:
    """The command's exit code from the frames the server sends; None if it hangs up first."""
    frames = FrameReader(conn)
    while (received := frames.read()) is not None:
        if received[0] == EXIT:
            return int(decode_json(received[1])["code"])
    return None


@pytest.mark.slow  # a server process
def test_a_request_frame_over_the_limit_is_refused_and_the_server_serves_on(
    bare_server: Server,
) -> None:
    with connect(bare_server) as conn:
        try:
            conn.sendall(struct.pack(">cI", REQUEST, MAX_REQUEST + 1) + b"{" * 65536)
            answer = conn.recv(1024)  # the server closes without reading the rest
        except (BrokenPipeError, ConnectionResetError):
            answer = b""
    assert answer == b""
    log = (bare_server.data_dir / "server.log").read_text()
    assert f"over the {MAX_REQUEST} byte limit" in log
    with connect(bare_server) as conn:
        conn.sendall(run_request(bare_server, "db-status", "--json"))
        assert exit_code(conn) == 0


@pytest.mark.slow  # a server process
def test_a_request_under_the_limit_with_a_long_command_line_is_served(
    bare_server: Server,
) -> None:
    long_argument = "x" * 128 * 1024  # the longest one argument Linux passes to a program
    with connect(bare_server) as conn:
        conn.sendall(run_request(bare_server, "query", long_argument, "--json"))
        assert exit_code(conn) is not None  # answered: whatever the query finds, it ran


@pytest.mark.slow  # a server process
def test_a_client_that_writes_after_its_request_gets_its_answer(bare_server: Server) -> None:
    with connect(bare_server) as conn:
        conn.sendall(run_request(bare_server, "db-status", "--json"))

        def flood() -> None:
            try:
                for _ in range(64):
                    conn.sendall(b"z" * 256 * 1024)
            except OSError:
                pass  # the server closed the connection once it answered

        writer = threading.Thread(target=flood)
        writer.start()
        try:
            assert exit_code(conn) == 0
        finally:
            conn.shutdown(socket.SHUT_RDWR)
            writer.join(timeout=60)
    assert ask(str(bare_server.data_dir), {"type": "status"}) is not None


def test_what_a_client_writes_after_its_request_is_dropped_as_it_arrives() -> None:
    """The server waits for a hang-up by reading in small pieces that it drops: 48 MiB
    sent after a request never sit in memory together (reading to EOF at once kept them)."""
    sent = 192 * 256 * 1024

    async def scenario() -> tuple[int, int]:
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_unix_connection(sock=ours)

        def flood() -> None:
            with theirs:
                piece = b"z" * 256 * 1024
                for _ in range(sent // len(piece)):
                    theirs.sendall(piece)

        tracemalloc.start()
        try:
            discarded, _ = await asyncio.gather(until_hangup(reader), asyncio.to_thread(flood))
            return discarded, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            writer.close()

    discarded, peak = asyncio.run(scenario())
    assert discarded == sent
    assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes"


# --- binary files -------------------------------------------------------------------------

SPARSE_SIZE = 200 * 1024 * 1024  # a hole: no disk used, but every byte a NUL when read


def sparse_file(path: Path) -> Path:
    path.touch()
    os.truncate(path, SPARSE_SIZE)
    return path


def test_a_text_file_with_nul_bytes_in_its_first_block_is_not_read_further(
    tmp_path: Path,
) -> None:
    huge = sparse_file(tmp_path / "huge.log")
    tracemalloc.start()
    try:
        with pytest.raises(UnsupportedFile, match="binary file"):
            read_regular_file(huge, 2 * SPARSE_SIZE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, f"peak {peak:,} bytes"


def test_texts_with_a_byte_order_mark_and_binary_formats_are_read_whole(tmp_path: Path) -> None:
    utf16 = tmp_path / "letter.txt"
    utf16.write_text("Dear reader, " * 2000, encoding="utf-16")
    assert read_regular_file(utf16, 1 << 20) == utf16.read_bytes()
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"\x00" * 20000 + b"%%EOF\n")
    assert len(read_regular_file(pdf, 1 << 20)) == pdf.stat().st_size


def test_ingest_skips_a_huge_sparse_file_as_binary_and_reads_pdf_and_docx(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    sparse_file(folder / "huge.txt")
    for sample in ("science/astronomy/dark-skies.pdf", "money/compound-interest.docx"):
        shutil.copy(SAMPLE_DOCS / sample, folder)
    (folder / "note.md").write_text("# Herons\n\nThe heron waits by the pond.\n")
    report = ingest_paths(settings, folder, models=FakeModels(), max_file_size=2 * SPARSE_SIZE)
    assert report.summary()["new"] == 3
    skipped = {Path(p.path).name: p.reason for p in report.problems}
    assert skipped == {"huge.txt": "binary file (contains NUL bytes)"}


def test_a_client_that_resets_its_connection_has_hung_up() -> None:
    """A reset (a killed client, SO_LINGER 0) ends the wait as an EOF does: raised out of
    the watching task instead, it was logged as "Task exception was never retrieved"."""
    import struct

    async def scenario() -> int:
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        client = socket.create_connection(listening.getsockname())
        accepted, _ = listening.accept()
        listening.close()
        reader, writer = await asyncio.open_connection(sock=accepted)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.sendall(b"late")
        client.close()  # with linger 0: a reset, not a FIN
        try:
            return await asyncio.wait_for(until_hangup(reader), 10)
        finally:
            writer.close()

    assert asyncio.run(scenario()) in (0, 4)  # whether the bytes arrived before the reset


def test_a_client_runs_a_command_line_over_the_request_limit_itself(tmp_path: Path) -> None:
    """The server would cut such a request off: the client does not send it at all (and
    so does not wait for the cut before running the command here)."""
    from analyzer.client.forward import forward
    from analyzer.client.protocol import MAX_REQUEST

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(data / "server.sock"))
    listening.listen(1)
    listening.settimeout(0.5)
    try:
        argv = ["query", "x" * (MAX_REQUEST + 1)]
        assert forward(str(data), argv, {}, sink=lambda kind, payload: None) is None
        with pytest.raises(TimeoutError):
            listening.accept()  # the server was never asked
    finally:
        listening.close()
