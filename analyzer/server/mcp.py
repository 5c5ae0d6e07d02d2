"""``analyzer mcp``: the Model Context Protocol over stdio, for agents (optional extra ``server``).

Tools: ``search``, ``get_document`` (a document's profile, or a range of its lines
around a hit's ``path:line``), ``similar`` and ``status``. Each runs the matching
command with ``--json``: in the data directory's resident server when one runs
(``analyzer serve``), else in an AppContext this process boots on first use and
keeps. Either way the answer is the JSON that ``--json`` prints.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import Mapping
from typing import Any

from analyzer import __version__, ui
from analyzer.client.forward import forward
from analyzer.client.protocol import STDOUT
from analyzer.errors import ConfigurationError
from analyzer.module_api import ServiceFactory

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
        argv = ["show", "--collection", collection, "--json"]
        if lines:
            argv += ["--lines", lines]
        return await backend.run(*argv, "--", document)

    @server.tool()
    async def similar(
        document: str, collection: str = "default", top_k: int = 10
    ) -> dict[str, Any]:
        """The documents closest in meaning to a document (a path, its end, or its id)."""
        argv = ["similar", "--collection", collection, "--top-k", str(top_k), "--json"]
        return await backend.run(*argv, "--", document)

    @server.tool()
    async def status() -> dict[str, Any]:
        """The index's databases, tables and row counts, and its last runs."""
        return await backend.run("db-status", "--json")

    return server


async def serve_mcp(data_dir: str, command: Any, overrides: Mapping[str, ServiceFactory]) -> None:
    """Speak MCP on stdin and stdout until the client goes away."""
    backend = CommandBackend(data_dir, command, overrides)
    server = build_tools(backend)
    try:
        await server.run_stdio_async()
    finally:
        await backend.close()
