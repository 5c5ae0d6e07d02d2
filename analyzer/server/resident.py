"""The resident server: one AppContext, booted once, serving commands on a Unix socket.

Each request is a command line. It runs through the same Typer commands as in a
process of its own (Typer -> AppContext -> services -> CRUD), in a worker thread,
with the client's working directory and terminal (``analyzer.paths``,
``analyzer.ui``), while its database work runs on the server's event loop. Output
is sent to the client as it is written. The server stops on SIGTERM or SIGINT
(in-flight commands finish first; a second signal cancels them), on
``analyzer serve --stop``, or after the idle timeout.
"""

from __future__ import annotations

import asyncio
import codecs
import concurrent.futures
import contextlib
import fcntl
import json
import logging
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer import __version__, ui
from analyzer.app_context import AppContext
from analyzer.client import locate
from analyzer.client.command_line import forwardable, read_command_line
from analyzer.client.protocol import (
    ACCEPTED,
    DECLINED,
    EXIT,
    HEADER_SIZE,
    MAX_REQUEST,
    REPLY,
    REQUEST,
    STDERR,
    STDOUT,
    ProtocolError,
    decode_json,
    frame,
    json_frame,
    parse_header,
)
from analyzer.errors import AnalyzerError, ConfigurationError
from analyzer.module_api import ServiceFactory
from analyzer.privacy import make_private_dir
from analyzer.server.commands import CommandRunner, Invocation, LoopContext, Outcome
from analyzer.server.streams import RemoteStream, RoutedStream
from analyzer.settings import Settings, resolve_settings

if TYPE_CHECKING:
    from modules.semantic_core.ingest.report import IngestReport
    from modules.semantic_core.ingest.service import IngestOptions

log = logging.getLogger("analyzer.server")

REQUEST_TIMEOUT_S = 10.0
HANGUP_READ = 64 * 1024  # what is read at once, and dropped, while waiting for a hang-up
HIGH_WATER = 1024 * 1024  # bytes waiting for a client before its command waits for it
COMMAND_THREADS = 8
LOCK_ATTEMPTS = 20  # a client checking the lock holds it for microseconds


class ServerRunningError(AnalyzerError):
    """A server already runs for this data directory."""


@dataclass(frozen=True)
class ServeOptions:
    idle_timeout_s: float | None = None  # None: never stop for idleness
    http: tuple[str, int] | None = None
    token: str | None = field(default=None, repr=False)  # never in a log line
    watch: tuple[Path, ...] = ()
    watch_collection: str = "default"


class ResidentServer:
    def __init__(
        self,
        settings: Settings,
        options: ServeOptions,
        command: Any,
        overrides: Mapping[str, ServiceFactory] | None = None,
    ) -> None:
        """``command``: the CLI's root command (Typer's), which runs each request."""
        self.settings = settings
        self.options = options
        self._overrides = dict(overrides or {})
        self.data_dir = str(settings.data_dir.absolute())
        self._real_data_dir = os.path.realpath(self.data_dir)
        self._settings_key = _settings_key(settings)
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._served = 0
        self._last_activity = time.monotonic()
        self._started_at = time.time()
        self._lock_handle: int | None = None
        self._requests: set[Invocation] = set()
        self._tracked: set[asyncio.Task[Any]] = set()
        self._pool = concurrent.futures.ThreadPoolExecutor(COMMAND_THREADS, "analyzer-command")
        self._command = command
        self.extras: dict[str, Any] = {}  # what HTTP and watch report for --status
        self.app: AppContext | None = None

    # --- lifecycle ------------------------------------------------------------------

    def claim(self) -> None:
        """Check the data directory and take its lock, or say which server holds it."""
        _check_private_dir(self.data_dir)
        try:
            handle = os.open(locate.lock_path(self.data_dir), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot run a server for {self.data_dir} ({exc.strerror}): it needs to write "
                "its socket and lock there; commands still run without one"
            ) from None
        for _ in range(LOCK_ATTEMPTS):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.01)
        else:
            os.close(handle)
            raise ServerRunningError(locate.already_running(self.data_dir))
        self._lock_handle = handle

    async def run(self, on_ready: Any = None) -> None:
        """Boot, listen until stopped, shut down cleanly. ``on_ready(server)`` once listening."""
        loop = asyncio.get_running_loop()
        try:
            async with AppContext(self.settings, overrides=self._overrides) as app:
                self.app = app
                self._runner = CommandRunner(self._command, LoopContext(app, loop))
                background = await self._start_extras()  # HTTP binds first: it may fail
                try:
                    await self._serve_until_stopped(loop, background, on_ready)
                finally:
                    await _stop_extras(self.extras)  # HTTP finishes its requests first
                    for task in background:
                        task.cancel()
                    await asyncio.gather(*background, return_exceptions=True)
                    self._remove_socket()
        finally:
            self._pool.shutdown(wait=True)
            self._release()
        log.info("stopped")

    async def _serve_until_stopped(
        self, loop: asyncio.AbstractEventLoop, background: list[asyncio.Task[Any]], on_ready: Any
    ) -> None:
        listener = await self._listen()
        self._write_lock_record()
        background += [loop.create_task(self._warm_up()), loop.create_task(self._idle_watch())]
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, self.stop, signal.Signals(number).name)
        try:
            log.info("serving %s (pid %d, version %s)", self.data_dir, os.getpid(), __version__)
            if on_ready is not None:
                on_ready(self)
            await self._stopping.wait()
            listener.close()
            await self._finish_requests()
        finally:
            for number in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(number)

    def stop(self, reason: str = "stop requested") -> None:
        if self._stopping.is_set():
            log.info("%s again: cancelling %d running commands", reason, self._active)
            for request in self._requests:
                request.cancel()
            for task in self._tracked:
                task.cancel()
            return
        log.info("%s: finishing %d running commands", reason, self._active)
        self._stopping.set()

    async def _listen(self) -> asyncio.AbstractServer:
        path = locate.socket_path(self.data_dir)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # we hold the lock: whatever is there is a leftover
        previous = os.umask(0o177)  # the socket is born owner-only: no window for others
        try:
            with locate.reachable(path) as address:
                listener = await asyncio.start_unix_server(self._serve_client, address)
        finally:
            os.umask(previous)
        os.chmod(path, 0o600)
        return listener

    def _write_lock_record(self) -> None:
        record = {
            "pid": os.getpid(),
            "version": __version__,
            "socket": locate.socket_path(self.data_dir),
            "started_at": self._started_at,
        }
        assert self._lock_handle is not None
        os.ftruncate(self._lock_handle, 0)
        os.pwrite(self._lock_handle, json.dumps(record).encode("utf-8"), 0)

    def _remove_socket(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(locate.socket_path(self.data_dir))

    def _release(self) -> None:
        if self._lock_handle is not None:
            os.ftruncate(self._lock_handle, 0)
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            os.close(self._lock_handle)
            self._lock_handle = None

    async def _finish_requests(self) -> None:
        while self._active:
            self._idle.clear()
            await self._idle.wait()

    async def _idle_watch(self) -> None:
        timeout = self.options.idle_timeout_s
        if not timeout:
            return
        while True:
            await asyncio.sleep(min(30.0, max(timeout / 4, 0.05)))
            if self._active == 0 and time.monotonic() - self._last_activity >= timeout:
                self.stop(f"idle for {timeout:g} s")
                return

    def track(self, task: asyncio.Task[Any]) -> None:
        """Work started outside a command (an HTTP ingest): counted as running, and
        finished before the server stops."""
        self._tracked.add(task)

        def finished(_: asyncio.Task[Any]) -> None:
            self._tracked.discard(task)
            self.touch()
            self._idle.set()

        task.add_done_callback(finished)

    async def ingest(
        self, paths: list[Path], options: IngestOptions, via: str, progress: Any = None
    ) -> IngestReport:
        """An ingest the server starts itself (HTTP, watch): a recorded run, as the CLI's is."""
        from modules.core.module import core
        from modules.semantic_core.module import semantic_core

        assert self.app is not None
        work = semantic_core(self.app).ingest.ingest_paths(paths, options, progress)
        paths_shown = [str(p) for p in paths]
        arguments = {"paths": paths_shown, "collection": options.collection, "via": via}
        return await core(self.app).runs.record("ingest", arguments, work, lambda r: r.summary())

    @property
    def _active(self) -> int:
        """Commands being served and tracked work (HTTP ingests) not yet finished."""
        return len(self._requests) + len(self._tracked)

    def touch(self) -> None:
        """Something was served (a command, an HTTP request, a watch pass)."""
        self._last_activity = time.monotonic()

    async def _warm_up(self) -> None:
        """Load what the first query would otherwise wait for: models, and their first run."""
        from modules.semantic_core.module import semantic_core

        models = semantic_core(self.app).models
        try:
            await asyncio.to_thread(lambda: models.embedder().encode(["warm up"]))
            await asyncio.to_thread(lambda: models.reranker().encode(["warm up"], max_length=64))
            await asyncio.to_thread(_import_command_modules)
        except Exception:  # noqa: BLE001 - a failed warm-up only costs the first query time
            log.exception("warm-up failed; the first command will load what it needs")

    async def _start_extras(self) -> list[asyncio.Task[Any]]:
        tasks: list[asyncio.Task[Any]] = []
        if self.options.http is not None:
            from analyzer.server.http import start_http

            tasks.append(await start_http(self))
        if self.options.watch:
            from analyzer.server.watch import start_watch

            tasks.append(await start_watch(self))
        return tasks

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "version": __version__,
            "data_dir": self.data_dir,
            "socket": locate.socket_path(self.data_dir),
            "log": locate.log_path(self.data_dir),
            "started_at": self._started_at,
            "uptime_s": round(time.time() - self._started_at, 1),
            "idle_timeout_s": self.options.idle_timeout_s,
            "commands_served": self._served,
            "commands_running": self._active,
            "caches": self._caches(),
            **{name: extra.status() for name, extra in self.extras.items()},
        }

    def _caches(self) -> dict[str, Any]:
        """What the services keep in memory between commands: each collection's vectors
        (rows, bytes, how they are searched), and their bytes in all."""
        if self.app is None:
            return {}
        from modules.semantic_core.module import semantic_core

        try:
            kept = semantic_core(self.app).index.cache_status()
        except AnalyzerError:  # stopping: the services are gone
            return {}
        return {"vector_bytes": sum(int(k["bytes"]) for k in kept), "vectors": kept}

    # --- one connection ---------------------------------------------------------------

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            request = await asyncio.wait_for(_read_request(reader), REQUEST_TIMEOUT_S)
            kind = request.get("type")
            if kind == "run":
                await self._run_command(request, reader, writer)
            elif kind == "status":
                writer.write(json_frame(REPLY, self.status()))
            elif kind == "stop":
                writer.write(json_frame(REPLY, {"pid": os.getpid(), "stopping": True}))
                self.stop("stop requested by analyzer serve --stop")
            else:
                writer.write(json_frame(DECLINED, {"reason": f"unknown request {kind!r}"}))
            await writer.drain()
        except ConnectionError:
            log.info("a client went away before its answer was sent")
        except (ProtocolError, asyncio.IncompleteReadError, TimeoutError) as exc:
            log.warning("dropped a connection: %s", exc or type(exc).__name__)
        except Exception:
            log.exception("a connection failed; its client runs the command itself")
        finally:
            writer.close()

    def _decline_reason(self, request: Mapping[str, Any]) -> str | None:
        if self._stopping.is_set():
            return "the server is stopping"
        if request.get("version") != __version__:
            return f"the server runs analyzer {__version__}"
        malformed = _malformed(request)
        if malformed is not None:
            return malformed
        if not forwardable(read_command_line(request["argv"])):
            return "the server runs only the commands a client forwards; run it with --no-server"
        if os.path.realpath(request["data_dir"]) != self._real_data_dir:
            return "the server serves another data directory"
        try:
            wanted = resolve_settings(Path(self.data_dir), environ=request.get("env", {}))
        except ConfigurationError as exc:
            return exc.message  # the local run reports it, one line
        if _settings_key(wanted) != self._settings_key:
            return "the server runs with other ANALYZER_* settings"
        if self.app is not None and self.app.opened_on_full_disk:
            return "the server opened its databases on a full disk: a new process reads better"
        return None

    async def _run_command(
        self,
        request: dict[str, Any],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        reason = self._decline_reason(request)
        if reason is not None:
            writer.write(json_frame(DECLINED, {"reason": reason}))
            return
        writer.write(json_frame(ACCEPTED, {"pid": os.getpid(), "version": __version__}))
        started = time.perf_counter()
        served = Invocation()
        self.touch()
        try:
            self._requests.add(served)
            outcome = await self._invoke_until_done(request, served, reader, writer)
        finally:
            self._requests.discard(served)
            self._served += 1
            self.touch()
            self._idle.set()
        if outcome.declined is not None:
            writer.write(json_frame(DECLINED, {"reason": outcome.declined}))
        else:
            writer.write(json_frame(EXIT, {"code": outcome.code}))
        command = read_command_line(list(request.get("argv", []))).command
        elapsed = (time.perf_counter() - started) * 1000
        log.info("%s -> %s in %.0f ms", command, outcome.declined or outcome.code, elapsed)

    async def _invoke_until_done(
        self,
        request: dict[str, Any],
        served: Invocation,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> Outcome:
        loop = asyncio.get_running_loop()

        loop_thread = threading.get_ident()

        def send(kind: bytes, payload: bytes) -> None:
            loop.call_soon_threadsafe(_write_frame, writer, frame(kind, payload))
            # A client that reads slowly (| less) slows the command down, as a pipe would,
            # instead of the server holding all its output.
            if threading.get_ident() != loop_thread and _backlog(writer) > HIGH_WATER:
                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(writer.drain(), loop).result()

        job = loop.run_in_executor(self._pool, self._invoke, request, send, served)
        hangup = asyncio.ensure_future(until_hangup(reader))
        done, _ = await asyncio.wait({job, hangup}, return_when=asyncio.FIRST_COMPLETED)
        if job not in done:
            log.info("client hung up: cancelling its command")
            served.cancel()
        else:
            hangup.cancel()
        return await job

    def _invoke(self, request: dict[str, Any], send: Any, served: Invocation) -> Outcome:
        """Worker thread: run the command line with the client's directory and terminal."""
        tty = list(request.get("tty", [False, False, False]))
        encodings = request.get("encoding", {})
        unbuffered = request.get("env", {}).get("PYTHONUNBUFFERED", "") != ""
        out = RemoteStream(
            STDOUT, send, bool(tty[1]), *_encoding(encodings, "stdout"), unbuffered=unbuffered
        )
        err = RemoteStream(
            STDERR,
            send,
            bool(tty[2]),
            *_encoding(encodings, "stderr"),
            by_line=True,
            unbuffered=unbuffered,
        )
        size = request.get("size")
        terminal = ui.Terminal(
            out,
            err,
            environ=dict(request.get("env", {})),
            local=False,
            measured=(int(size[0]), int(size[1])) if size else None,
        )
        argv = [str(token) for token in request.get("argv", [])]
        return self._runner.invoke(argv, str(request.get("cwd", "/")), terminal, served)


# --- helpers -----------------------------------------------------------------------------


def _import_command_modules() -> None:
    """What commands import on first use, imported ahead of the first command."""
    import modules.semantic_core.analysis.service  # noqa: F401
    import modules.semantic_core.ingest.service  # noqa: F401
    import modules.semantic_core.search.service  # noqa: F401


async def _read_request(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The client's one request: a frame no longer than a command line needs."""
    kind, length = parse_header(await reader.readexactly(HEADER_SIZE), MAX_REQUEST)
    if kind != REQUEST:
        raise ProtocolError(f"expected a request frame, got kind {kind!r}")
    payload = await reader.readexactly(length)
    return decode_json(payload)


async def until_hangup(reader: asyncio.StreamReader) -> int:
    """Return when the client hangs up (EOF); the bytes it sent meanwhile, discarded.

    A client sends nothing after its request, so its end of the connection closing is
    the only news to wait for (Ctrl-C on the client). Reading to EOF in one call kept
    whatever a client wrote in the meantime: one that went on writing grew the server
    by gigabytes. Reading in small pieces and dropping them keeps at most the stream's
    buffer, whatever the client sends.
    """
    discarded = 0
    try:
        while piece := await reader.read(HANGUP_READ):
            if not discarded:
                log.warning("a client wrote after its request; what it writes is discarded")
            discarded += len(piece)
    except ConnectionError:
        # A reset (the client killed, SO_LINGER 0) is a hang-up too. Raised out of this
        # task, it was never retrieved once the command had finished first.
        pass
    return discarded


def _backlog(writer: asyncio.StreamWriter) -> int:
    transport = writer.transport
    return 0 if transport.is_closing() else transport.get_write_buffer_size()


def _write_frame(writer: asyncio.StreamWriter, data: bytes) -> None:
    if not writer.is_closing():
        writer.write(data)


def _malformed(request: Mapping[str, Any]) -> str | None:
    """What in a run request is not of the shape a client sends (``forward._request``), or
    None: such a request is declined, instead of failing in the middle of its command."""
    argv, env = request.get("argv"), request.get("env", {})
    if not isinstance(argv, list) or not all(isinstance(token, str) for token in argv):
        return "argv is not a list of strings"
    if not isinstance(env, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in env.items()
    ):
        return "env is not a map of strings to strings"
    for name, path in (("data_dir", request.get("data_dir")), ("cwd", request.get("cwd", "/"))):
        if not isinstance(path, str) or "\0" in path:
            return f"{name} is not a path"
    tty, size = request.get("tty", [False] * 3), request.get("size")
    if not isinstance(tty, list) or len(tty) != 3:
        return "tty is not three flags"
    if size is not None and not (
        isinstance(size, list)
        and len(size) == 2
        and all(type(n) is int and 0 <= n < 100_000 for n in size)  # a pty may say 0x0
    ):
        return "size is not two numbers"
    return _bad_encoding(request.get("encoding", {}))


def _bad_encoding(encodings: Any) -> str | None:
    if not isinstance(encodings, dict):
        return "encoding is not a map"
    for pair in encodings.values():
        if not pair:
            continue
        try:
            "text".encode(str(pair[0] or "utf-8"))  # a text encoding (not rot13, not zlib)
            codecs.lookup_error(str(pair[1] or "strict"))
        except (LookupError, TypeError, IndexError, KeyError):
            return f"encoding {pair!r} is not a codec and its errors"
    return None


def _encoding(encodings: Mapping[str, Any], name: str) -> tuple[str, str]:
    pair = encodings.get(name) or ["utf-8", "strict"]
    return str(pair[0] or "utf-8"), str(pair[1] or "strict")


def _settings_key(settings: Settings) -> tuple[Any, ...]:
    return (sorted(settings.database_urls.items()), settings.busy_timeout_s, settings.echo_sql)


def _check_private_dir(directory: str) -> None:
    """The socket lives here: the directory must be ours and closed to other users."""
    make_private_dir(Path(directory))
    info = os.stat(directory)
    if info.st_uid != os.getuid():
        raise ConfigurationError(
            f"data directory {directory} belongs to another user; serve your own data directory"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigurationError(
            f"data directory {directory} is writable by other users; run: chmod go-w {directory}"
        )


async def _stop_extras(extras: Mapping[str, Any]) -> None:
    for extra in extras.values():
        stop = getattr(extra, "stop", None)
        if stop is not None:
            await stop()


def install_routed_streams(log_stream: Any) -> None:
    """``sys.stdout`` and ``sys.stderr`` follow the request being served in each context."""
    sys.stdout = RoutedStream(lambda t: t.stdout, log_stream)  # type: ignore[assignment]
    sys.stderr = RoutedStream(lambda t: t.stderr, log_stream)  # type: ignore[assignment]
