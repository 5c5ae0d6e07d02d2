"""``analyzer serve``: the resident server of a data directory (start, status, stop)."""

from __future__ import annotations

import ipaddress
import os
import re
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from analyzer import ui
from analyzer.cli.runner import CliState, reported_errors
from analyzer.errors import AnalyzerError, UsageError

DURATION_HELP = "Stop after this long without a request, e.g. 15m, 2h, 900s; 0 never (default)."
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s|ms)?")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, None: 1.0}


def serve(
    ctx: typer.Context,
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            metavar="HOST:PORT",
            help="Also serve the HTTP API (extra 'server'), e.g. 127.0.0.1:8765. Every request "
            "needs the token: ANALYZER_TOKEN, or the one kept in DATA_DIR/http.token.",
        ),
    ] = None,
    idle_timeout: Annotated[
        str, typer.Option("--idle-timeout", metavar="DURATION", help=DURATION_HELP)
    ] = "0",
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Run in this terminal instead of detaching.")
    ] = False,
    watch: Annotated[
        list[Path] | None,
        typer.Option(
            "--watch",
            metavar="PATH",
            help="Keep a collection current with these files (repeatable; extra 'server').",
        ),
    ] = None,
    collection: Annotated[
        str, typer.Option(help="Collection that --watch keeps current.")
    ] = "default",
    status: Annotated[bool, typer.Option("--status", help="Show the running server.")] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the running server.")] = False,
    json_output: Annotated[bool, typer.Option("--json", "-j", help="With --status: JSON.")] = False,
    detached: Annotated[bool, typer.Option("--detached", hidden=True)] = False,
) -> None:
    """Keep the framework, models and vectors warm for a data directory: commands then take
    a fraction of their usual start-up. Runs until --stop, SIGTERM, or the idle timeout."""
    data_dir = _data_dir(ctx)
    with reported_errors():
        if status:
            raise typer.Exit(_status(data_dir, json_output))
        if stop:
            raise typer.Exit(_stop(data_dir))
        options = _options(http, idle_timeout, watch or [], collection)
        if foreground:
            _run_foreground(ctx, data_dir, options, detached)
        else:
            _start_background(data_dir, options, idle_timeout, http)


def _data_dir(ctx: typer.Context) -> str:
    """The data directory as every command resolves it, without booting anything."""
    from analyzer.client import locate

    given = ctx.ensure_object(CliState).data_dir
    return locate.data_dir_from(str(given) if given else None, os.environ)


def _options(http: str | None, idle_timeout: str, watch: list[Path], collection: str) -> Any:
    from analyzer.paths import absolute
    from analyzer.server.resident import ServeOptions

    address = _address(http) if http else None
    if address is not None:
        _resolve(address[0])  # a host name is refused here, before anything starts
    # The HTTP token: ANALYZER_TOKEN, else the one the server keeps in its data directory.
    token = os.environ.get("ANALYZER_TOKEN", "").strip() or None
    return ServeOptions(
        idle_timeout_s=parse_duration(idle_timeout),
        http=address,
        token=token,
        watch=tuple(absolute(path) for path in watch),
        watch_collection=collection,
    )


def parse_duration(text: str) -> float | None:
    """Seconds in ``15m``, ``2h``, ``90s``, ``250ms`` or a bare number; None for 0 (never)."""
    cleaned = text.strip().lower()
    if cleaned in ("0", "never", "off", "none"):
        return None
    match = _DURATION.fullmatch(cleaned)
    if match is None:
        raise UsageError(f"--idle-timeout {text!r} is not a duration; use e.g. 15m, 2h or 900s")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    return seconds or None


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--http {text!r} is not HOST:PORT; use e.g. 127.0.0.1:8765")
    return host, int(port)


def _resolve(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--http host {host!r} is not an IP address; use e.g. 127.0.0.1") from None
    return host


# --- start ---------------------------------------------------------------------------------


def _run_foreground(ctx: typer.Context, data_dir: str, options: Any, detached: bool) -> None:
    import asyncio

    from analyzer.server.logs import log_to
    from analyzer.server.resident import ResidentServer, install_routed_streams
    from analyzer.settings import resolve_settings

    state = ctx.ensure_object(CliState)
    settings = resolve_settings(Path(data_dir))
    root = ctx.find_root().command  # the whole CLI: each request is one of its command lines
    server = ResidentServer(settings, options, root, overrides=state.overrides)
    server.claim()
    log_stream = log_to(server.data_dir, echo=None if detached else sys.stderr)

    def ready(running: Any) -> None:
        sys.stdout.write(ready_line(running) + "\n")
        sys.stdout.flush()
        if detached:  # the parent has what it waited for: from now on, only the log
            os.dup2(log_stream.fileno(), 1)
            os.dup2(log_stream.fileno(), 2)
        install_routed_streams(log_stream if detached else sys.__stderr__)

    asyncio.run(server.run(on_ready=ready))


def ready_line(server: Any) -> str:
    line = f"analyzer serve (pid {os.getpid()}) is serving {server.data_dir}"
    http = server.extras.get("http")
    if http is not None:
        line += f"; HTTP on {http.url} (token in {http.token_file})"
    return line


def _start_background(data_dir: str, options: Any, idle_timeout: str, http: str | None) -> None:
    from analyzer.client import locate

    if locate.server_alive(data_dir):  # said here, before a process is started to find out
        raise AnalyzerError(locate.already_running(data_dir))
    from analyzer.client.spawn import detached_server

    forwarded = ["--idle-timeout", idle_timeout, "--collection", options.watch_collection]
    forwarded += ["--http", http] if http else []
    for path in options.watch:
        forwarded += ["--watch", str(path)]
    child = detached_server(data_dir, forwarded, report=True)
    assert child.stdout is not None and child.stderr is not None
    line = child.stdout.readline()
    if not line:
        child.wait(timeout=READY_TIMEOUT_S)
        sys.stderr.write(child.stderr.read())
        raise typer.Exit(child.returncode or 1)
    ui.print_line(line.rstrip("\n"))


# --- status and stop -----------------------------------------------------------------------


def _status(data_dir: str, json_output: bool) -> int:
    from analyzer.client.forward import ask

    reply = ask(data_dir, {"type": "status"})
    if reply is None:
        if json_output:
            ui.print_json({"running": False, "data_dir": data_dir})
        else:
            ui.print_line(f"analyzer serve is not running for {data_dir}")
        return 1
    if json_output:
        ui.print_json({"running": True, **reply})
        return 0
    rows = [(key, _shown(value)) for key, value in reply.items()]
    ui.print_table(f"analyzer serve (pid {reply.get('pid')})", ["", ""], rows)
    return 0


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_shown(v) for v in value) or "-"
    return "-" if value is None else str(value)


def _stop(data_dir: str) -> int:
    from analyzer.client import locate
    from analyzer.client.forward import ask

    reply = ask(data_dir, {"type": "stop"})
    if reply is None:
        ui.print_line(f"analyzer serve is not running for {data_dir}")
        return 0
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while locate.server_alive(data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    if locate.server_alive(data_dir):
        raise AnalyzerError(
            f"analyzer serve (pid {reply.get('pid')}) is still finishing its commands; "
            f"wait, or end it with: kill {reply.get('pid')}"
        )
    ui.print_line(f"stopped analyzer serve (pid {reply.get('pid')}) for {data_dir}")
    return 0


# --- mcp -------------------------------------------------------------------------------------


def mcp(ctx: typer.Context) -> None:
    """Serve the Model Context Protocol on stdin and stdout, for agents: tools search,
    get_document, similar and status (through analyzer serve when it runs)."""
    import asyncio

    data_dir = _data_dir(ctx)
    with reported_errors():
        from analyzer.server.mcp import serve_mcp

        overrides = ctx.ensure_object(CliState).overrides
        asyncio.run(serve_mcp(data_dir, ctx.find_root().command, overrides))
