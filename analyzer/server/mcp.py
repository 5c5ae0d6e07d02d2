"""``analyzer mcp``: the Model Context Protocol over stdio, for agents (optional extra ``server``).

Tools: ``search``, ``get_document`` (a document's profile, or a range of its lines
around a hit's ``path:line``), ``similar`` and ``status``. Each runs the matching
command with ``--json``: in the data directory's resident server when one runs
(``analyzer serve``), else in an AppContext this process boots on first use and
keeps. Either way the answer is the JSON that ``--json`` prints.

Every line the client sends gets an answer: the SDK drops a line that is not a
JSON-RPC message without a word (not JSON, or a string holding a lone surrogate such
as ``\\ud800``), so such a line is answered here with a JSON-RPC error, and the
client does not wait for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from analyzer import __version__, ui
from analyzer.client.forward import forward
from analyzer.client.protocol import STDOUT
from analyzer.errors import AnalyzerError, ConfigurationError
from analyzer.module_api import ServiceFactory
from analyzer.paths import ANY_SURROGATE

_EXTRA_HINT = "analyzer mcp needs the 'server' extra: pip install 'analyzer[server]'"


class CommandBackend:
    """Runs ``analyzer ... --json`` for the tools: in the server, or in a context of our own."""

    def __init__(
        self, data_dir: str, command: Any, overrides: Mapping[str, ServiceFactory]
    ) -> None:
        self.data_dir = data_dir
        self._command = command
        self._overrides = dict(overrides)
        self._app: Any = None
        self._runner: Any = None
        self._booting = asyncio.Lock()

    async def run(self, *argv: str) -> Any:
        code, out, err = await self._through_server(list(argv))
        if code is None:
            code, out, err = await self._here(list(argv))
        if code != 0:
            from mcp.server.mcpserver.exceptions import ToolError

            lines = [line for line in err.splitlines() if line.strip()]
            raise ToolError(lines[-1].removeprefix("error: ") if lines else f"exit code {code}")
        return json.loads(out)

    async def _through_server(self, argv: list[str]) -> tuple[int | None, str, str]:
        captured: dict[bytes, list[bytes]] = {}

        def sink(kind: bytes, payload: bytes) -> None:
            captured.setdefault(kind, []).append(payload)

        code = await asyncio.to_thread(
            forward, self.data_dir, argv, os.environ, sink, terminal=False
        )
        out = b"".join(captured.get(STDOUT, [])).decode("utf-8")
        err = b"".join(part for kind, parts in captured.items() if kind != STDOUT for part in parts)
        return code, out, err.decode("utf-8")

    async def _here(self, argv: list[str]) -> tuple[int, str, str]:
        from analyzer.server.commands import Invocation

        runner = await self._own_runner()
        out, err = io.StringIO(), io.StringIO()
        terminal = ui.Terminal(out, err, environ={}, local=False)
        outcome = await asyncio.to_thread(runner.invoke, argv, os.getcwd(), terminal, Invocation())
        return outcome.code, out.getvalue(), err.getvalue()

    async def _own_runner(self) -> Any:
        async with self._booting:
            if self._runner is None:
                from pathlib import Path

                from analyzer.app_context import AppContext
                from analyzer.server.commands import CommandRunner, LoopContext
                from analyzer.settings import resolve_settings

                settings = resolve_settings(Path(self.data_dir))
                app = AppContext(settings, overrides=self._overrides)
                await app.start()
                self._app = app
                self._runner = CommandRunner(
                    self._command, LoopContext(app, asyncio.get_running_loop())
                )
            return self._runner

    async def close(self) -> None:
        if self._app is not None:
            await self._app.close()


def build_tools(backend: CommandBackend) -> Any:
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError:
        raise ConfigurationError(_EXTRA_HINT) from None

    server = MCPServer(
        name="analyzer",
        version=__version__,
        log_level="WARNING",
        instructions=(
            "Search and read the documents of one analyzer collection. search finds passages "
            "(each with a document, a line and a snippet); get_document with lines reads the "
            "text around a hit; similar finds related documents; status shows the index."
        ),
    )

    @server.tool()
    async def search(
        query: str,
        collection: str = "default",
        top_k: int = 10,
        mode: str = "hybrid",
        path: str | None = None,
    ) -> dict[str, Any]:
        """Search a collection. mode: hybrid (best), keyword, or semantic. path: a glob that
        documents must match, e.g. "docs/*.md". Results: document, line, heading, snippet."""
        _without_nul(query=query, collection=collection, mode=mode, path=path)
        argv = ["query", "--collection", collection, "--top-k", str(top_k), "--mode", mode]
        if path:
            argv += ["--path", path]
        return await backend.run(*argv, "--json", "--", query)

    @server.tool()
    async def get_document(
        document: str, collection: str = "default", lines: str | None = None
    ) -> dict[str, Any]:
        """One document: its path, title, statistics, keywords, summary and similar documents;
        or, with lines like "40-60", that range of its text (the numbers of path:line)."""
        _without_nul(document=document, collection=collection, lines=lines)
        argv = ["show", "--collection", collection, "--json"]
        if lines:
            argv += ["--lines", lines]
        return await backend.run(*argv, "--", document)

    @server.tool()
    async def similar(
        document: str, collection: str = "default", top_k: int = 10
    ) -> dict[str, Any]:
        """The documents closest in meaning to a document (a path, its end, or its id)."""
        _without_nul(document=document, collection=collection)
        argv = ["similar", "--collection", collection, "--top-k", str(top_k), "--json"]
        return await backend.run(*argv, "--", document)

    @server.tool()
    async def status() -> dict[str, Any]:
        """The index's databases, tables and row counts, and its last runs."""
        return await backend.run("db-status", "--json")

    return server


def _without_nul(**arguments: str | None) -> None:
    """A tool's text arguments, checked: a NUL is in no document name, collection or query
    (the command line that runs the tool could not carry it either)."""
    from mcp.server.mcpserver.exceptions import ToolError

    for name, value in arguments.items():
        if value is not None and "\0" in value:
            raise ToolError(f"{name} holds a NUL character; no {name} has one")


async def serve_mcp(data_dir: str, command: Any, overrides: Mapping[str, ServiceFactory]) -> None:
    """Speak MCP on stdin and stdout until the client goes away."""
    import anyio

    backend = CommandBackend(data_dir, command, overrides)
    server = build_tools(backend)
    try:
        with _claimed_stdio() as (wire_in, wire_out):
            lines = anyio.wrap_file(io.TextIOWrapper(wire_in, encoding="utf-8", errors="replace"))
            out = anyio.wrap_file(io.TextIOWrapper(wire_out, encoding="utf-8"))
            await serve_lines(server, lines, out)
    finally:
        await backend.close()


async def serve_lines(server: Any, lines: AsyncIterable[str], out: Any) -> None:
    """Serve ``server`` (built by ``build_tools``) over ``lines`` read and ``out`` written
    (``await out.write(text)``, ``await out.flush()``), as ``run_stdio_async`` does over
    stdin and stdout, answering every line the SDK cannot read."""
    from mcp.server.stdio import stdio_server

    wire = _Wire(out)
    lowlevel = server._lowlevel_server  # what run_stdio_async runs; it takes no streams
    async with stdio_server(_answered(lines, wire), wire) as (read_stream, write_stream):  # type: ignore[arg-type]
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


class _Wire:
    """The client's end: whole lines, one writer at a time (the SDK's answers and ours)."""

    def __init__(self, stream: Any) -> None:
        import anyio

        self._stream = stream
        self._lock = anyio.Lock()

    async def write(self, text: str) -> None:
        async with self._lock:
            await self._stream.write(text)

    async def flush(self) -> None:
        async with self._lock:
            await self._stream.flush()

    async def send_line(self, line: str) -> None:
        async with self._lock:
            await self._stream.write(line + "\n")
            await self._stream.flush()


async def _answered(lines: AsyncIterable[str], out: _Wire) -> AsyncIterator[str]:
    """The lines the SDK can read; each other line is answered with a JSON-RPC error."""
    async for line in lines:
        if not line.strip():
            continue  # a blank line between messages asks nothing
        refusal = refusal_of(line)
        if refusal is None:
            yield line
        else:
            await out.send_line(refusal)


def refusal_of(line: str) -> str | None:
    """None for a JSON-RPC message the SDK reads; else the JSON-RPC error that answers it,
    with the request's id when the line has one."""
    from mcp_types import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, jsonrpc_message_adapter
    from pydantic import ValidationError

    try:
        jsonrpc_message_adapter.validate_json(line, by_name=False)
        return None
    except ValidationError:
        pass
    try:
        message = json.loads(line)  # Python's parser reads lone surrogates; the SDK's does not
    except ValueError:
        return _error_line(None, PARSE_ERROR, "Parse error: the line is not JSON")
    request_id = message.get("id") if isinstance(message, dict) else None
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        request_id = None
    if _holds_surrogate(message):
        reason = "Invalid params: a string holds a lone surrogate, which is not Unicode text"
        return _error_line(request_id, INVALID_PARAMS, reason)
    return _error_line(request_id, INVALID_REQUEST, "Invalid Request: not a JSON-RPC message")


def _holds_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return ANY_SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_surrogate(k) or _holds_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_surrogate(item) for item in value)
    return False


def _error_line(request_id: str | int | None, code: int, message: str) -> str:
    error = {"code": code, "message": message}
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error})


@contextmanager
def _claimed_stdio() -> Iterator[tuple[Any, Any]]:
    """The protocol's own handles on stdin and stdout. Meanwhile fd 0 reads nothing and
    fd 1 writes to stderr, so that what a library prints cannot break the protocol's
    lines; both are put back after. Streams that are not fds 0 and 1 (replaced by a
    caller) serve as they are."""
    if sys.stdin is None or sys.stdout is None:  # closed when the process started
        raise AnalyzerError(
            "analyzer mcp speaks on stdin and stdout, and one of them is closed; "
            "start it from an MCP client, which connects both"
        )
    if not (_backed_by(sys.stdin, 0) and _backed_by(sys.stdout, 1)):
        yield sys.stdin.buffer, sys.stdout.buffer
        return
    sys.stdout.flush()
    wire_in, wire_out = os.dup(0), os.dup(1)
    try:
        nothing = os.open(os.devnull, os.O_RDONLY)
        os.dup2(nothing, 0)
        os.close(nothing)
        os.dup2(2, 1)
        # closefd=False: a thread may still wait on the wire when serving ends; the
        # descriptors stay open until the process exits.
        yield os.fdopen(wire_in, "rb", closefd=False), os.fdopen(wire_out, "wb", closefd=False)
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)


def _backed_by(stream: Any, fd: int) -> bool:
    try:
        return bool(stream.fileno() == fd)
    except (AttributeError, OSError, ValueError):
        return False
