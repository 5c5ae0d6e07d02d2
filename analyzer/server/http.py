"""The HTTP API of ``analyzer serve --http HOST:PORT`` (optional extra ``server``).

FastAPI on uvicorn, in the server's own event loop and AppContext: each endpoint
calls one service method and returns the JSON that ``--json`` prints
(``analyzer.views``). The OpenAPI description is at ``/openapi.json``, browsable
at ``/docs``. Every request needs the server's token, sent as ``Authorization:
Bearer TOKEN``, on loopback too: HTTP over TCP does not say which user is asking, and
any user of the machine can reach a loopback port. The token is ``ANALYZER_TOKEN``, or
the one kept owner-only in ``http.token`` in the data directory (made at the first
start), so only the data directory's owner, and whoever they hand it to, gets in.
Errors are ``{"error": "one line"}`` with a 4xx or 5xx status.

No ``from __future__ import annotations`` here: FastAPI reads the endpoints'
annotations at definition time, and they name types imported inside ``build_api``.
"""

import asyncio
import itertools
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from analyzer import views
from analyzer.errors import (
    AnalyzerError,
    ConfigurationError,
    DatabaseBusyError,
    DatabaseUnavailableError,
    UsageError,
)
from analyzer.paths import ANY_SURROGATE, is_within, unreadable
from analyzer.privacy import write_private_file

if TYPE_CHECKING:
    from fastapi import FastAPI

    from analyzer.server.resident import ResidentServer

log = logging.getLogger("analyzer.server")
MAX_BODY_BYTES = 1024 * 1024
TOKEN_NAME = "http.token"
# A request's headers must arrive within this, its body within BODY_TIMEOUT_S: a client
# that sends half a request cannot hold a connection (and its memory) forever.
HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0
# Where a request may not send the server to read: not documents, and some of them
# (/proc/self/environ) hold the server's own secrets. The data directory is refused too.
NOT_DOCUMENTS = ("/proc", "/sys", "/dev")
_EXTRA_HINT = "the HTTP API needs the 'server' extra: pip install 'analyzer[server]'"


def _imports() -> Any:
    try:
        import fastapi
        import uvicorn
    except ImportError:
        raise ConfigurationError(_EXTRA_HINT) from None
    return fastapi, uvicorn


async def start_http(server: "ResidentServer") -> asyncio.Task[None]:
    """Listen on ``--http`` and serve the API as a task of the server's loop."""
    _, uvicorn = _imports()
    assert server.options.http is not None
    host, port = server.options.http
    token = server_token(server.data_dir, server.options.token)
    listening = _bind(host, port)
    api = build_api(server, token)
    config = uvicorn.Config(
        api,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http=_header_deadline_protocol(),
    )
    embedded = _embedded_uvicorn(uvicorn, config)
    task = asyncio.get_running_loop().create_task(embedded.serve(sockets=[listening]))
    bound_host, bound_port = listening.getsockname()[:2]
    url = f"http://{_url_host(bound_host)}:{bound_port}"
    server.extras["http"] = HttpExtra(embedded, task, url, token_path(server.data_dir))
    return task


def token_path(data_dir: str) -> str:
    return os.path.join(data_dir, TOKEN_NAME)


def server_token(data_dir: str, given: str | None) -> str:
    """The token every request must carry: ``given`` (``ANALYZER_TOKEN``), else the one in
    ``http.token``, else a new one. Whichever it is, ``http.token`` holds it, owner-only,
    for the owner's own tools (``curl -H "Authorization: Bearer $(cat .../http.token)"``);
    a token kept there survives restarts, and deleting the file makes a new one."""
    path = Path(token_path(data_dir))
    kept = _kept_token(path)
    token = (given.strip() if given else None) or kept or secrets.token_urlsafe(32)
    if kept != token:
        write_private_file(path, token + "\n")
    return token


def _kept_token(path: Path) -> str | None:
    """The token in ``path``, if the file is ours and owner-only (else it is not trusted)."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    private = info.st_uid == os.getuid() and not info.st_mode & 0o077
    return text if private and text else None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as exc:
        listening.close()
        raise ConfigurationError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --http HOST:PORT"
        ) from None
    listening.listen(128)
    listening.setblocking(False)
    return listening


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _embedded_uvicorn(uvicorn: Any, config: Any) -> Any:
    """uvicorn's server without its signal handling: the resident server owns the signals."""

    class Embedded(uvicorn.Server):  # type: ignore[misc, name-defined]
        @contextmanager
        def capture_signals(self) -> Any:
            yield

    return Embedded(config)


class BodyLimit:
    """ASGI middleware: a request body over the limit ends in 413, however it is sent
    (with a Content-Length or in chunks). The body is read here, up to the limit, and
    handed on whole."""

    def __init__(
        self, app: Any, limit: int = MAX_BODY_BYTES, timeout_s: float = BODY_TIMEOUT_S
    ) -> None:
        self.app = app
        self.limit = limit
        self.timeout_s = timeout_s

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _send_error(send, 413, f"request body over {self.limit} bytes")
            return
        messages = []
        seen = 0
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except TimeoutError:
                await _send_error(send, 408, f"request body not sent within {self.timeout_s:g} s")
                return
            messages.append(message)
            seen += len(message.get("body", b""))
            if seen > self.limit:
                await _send_error(send, 413, f"request body over {self.limit} bytes")
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        replay = iter(messages)

        async def received() -> Any:
            return next(replay, None) or await receive()

        await self.app(scope, received, send)


async def _send_error(send: Any, status: int, message: str) -> None:
    import json

    body = json.dumps({"error": message}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header_deadline_protocol() -> type:
    """uvicorn's HTTP/1.1 protocol, with a deadline for each request's headers.

    uvicorn times out idle keep-alive connections, but not a request whose headers never
    end: a client sending a byte a minute would hold its connection forever. The deadline
    is armed when a connection opens and after each response, and disarmed when the next
    request's headers are complete (the body has its own, in ``BodyLimit``).
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadline(H11Protocol):  # type: ignore[misc]
        _deadline: asyncio.TimerHandle | None = None
        _waiting_after: Any = None  # the cycle that was current when the deadline was armed

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self._deadline is not None and self.cycle is not self._waiting_after:
                self._disarm()  # a new request's headers are in

        def on_response_complete(self) -> None:
            # Armed first: the parent may start a pipelined request's cycle at once, and
            # that start must disarm it (in handle_events), not be taken for the wait.
            self._arm()
            super().on_response_complete()
            if self.transport.is_closing():
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._waiting_after = self.cycle
            self._deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeaderDeadline


@dataclass
class HttpExtra:
    server: Any
    task: asyncio.Task[None]
    url: str
    token_file: str
    requests: int = 0

    def status(self) -> dict[str, Any]:
        return {"url": self.url, "token_file": self.token_file, "requests": self.requests}

    async def stop(self) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), 10)
        except (TimeoutError, asyncio.CancelledError):
            self.task.cancel()


# --- ingest jobs ---------------------------------------------------------------------------


@dataclass
class IngestJob:
    id: str
    paths: list[str]
    collection: str
    status: str = "running"  # running, done, failed
    files_done: int = 0
    files_total: int = 0
    chunks: int = 0
    started_at: float = field(default_factory=time.time)
    report: dict[str, Any] | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "job": self.id,
            "status": self.status,
            "paths": self.paths,
            "collection": self.collection,
            "progress": {
                "files_done": self.files_done,
                "files_total": self.files_total,
                "chunks": self.chunks,
            },
            "report": self.report,
            "error": self.error,
        }


# --- the API ---------------------------------------------------------------------------------


def build_api(server: "ResidentServer", token: str) -> "FastAPI":
    from fastapi import Body, FastAPI, Query
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import AfterValidator, BaseModel, Field
    from starlette.exceptions import HTTPException

    from analyzer import __version__
    from modules.core.module import core
    from modules.semantic_core.ingest.service import IngestOptions
    from modules.semantic_core.module import semantic_core
    from modules.semantic_core.search.modes import Mode
    from modules.semantic_core.search.service import SearchOptions

    app = server.app
    assert app is not None
    # Every string a request carries, in a body, a query or a path.
    Text = Annotated[str, AfterValidator(plain_text)]  # noqa: N806 - a type, named as one
    services = semantic_core(app)
    jobs: dict[str, IngestJob] = {}
    numbers = itertools.count(1)
    api = FastAPI(
        title="analyzer",
        version=__version__,
        description="Search and analyse the documents of one analyzer data directory.",
    )

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @api.exception_handler(AnalyzerError)
    async def analyzer_error(request: Any, exc: AnalyzerError) -> JSONResponse:
        return error(status_of(exc), exc.message)

    @api.exception_handler(RequestValidationError)
    async def bad_request(request: Any, exc: RequestValidationError) -> JSONResponse:
        return error(400, one_line(exc.errors()))

    @api.exception_handler(HTTPException)
    async def http_error(request: Any, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @api.exception_handler(UnicodeError)
    async def not_text(request: Any, exc: UnicodeError) -> JSONResponse:
        # A backstop: ``plain_text`` refuses such strings where they come in.
        log.warning("HTTP %s %s: %s", request.method, request.url.path, exc)
        return error(400, "the request holds text that is not valid Unicode; send UTF-8")

    @api.exception_handler(Exception)
    async def unexpected(request: Any, exc: Exception) -> JSONResponse:
        log.exception("HTTP %s %s failed", request.method, request.url.path)
        return error(500, "internal error; the server's log has the details")

    # Added before the guard, so it runs inside it: a refused request's body is never read.
    api.add_middleware(BodyLimit)

    on_loopback = _is_loopback_address(server.options.http[0] if server.options.http else "")

    @api.middleware("http")
    async def guard(request: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if on_loopback and not _loopback_host(request.headers.get("host", "")):
            # A server on loopback is asked by its loopback name: a web page that rebinds
            # its own name to 127.0.0.1 is refused before anything else.
            return error(403, "requests must be addressed to 127.0.0.1, ::1 or localhost")
        if not _authorised(request.headers.get("authorization", ""), token):
            # The file is named, not its path: whoever asks without the token may be anyone.
            return error(
                401,
                "missing or wrong token; send Authorization: Bearer TOKEN, with the token in "
                "http.token in the server's data directory (or ANALYZER_TOKEN)",
            )
        server.touch()
        extra = server.extras.get("http")
        if extra is not None:
            extra.requests += 1
        return await call_next(request)

    class SearchBody(BaseModel):
        query: Text
        collection: Text = "default"
        top_k: int = Field(10, ge=1, le=1000)
        mode: Mode = Mode.HYBRID
        path: Text | None = None
        min_score: float | None = None
        chunks: bool = False
        all_copies: bool = False

    class IngestBody(BaseModel):
        paths: list[Text] = Field(min_length=1)
        collection: Text = "default"
        include: list[Text] = []
        exclude: list[Text] = []
        prune: bool = False
        force: bool = False

    async def run_search(body: SearchBody) -> dict[str, Any]:
        options = SearchOptions(
            collection=body.collection,
            top_k=body.top_k,
            mode=body.mode.value,
            path_glob=body.path,
            min_score=body.min_score,
            chunks=body.chunks,
            all_copies=body.all_copies,
        )
        return views.search_json(await services.search.search(body.query, options))

    @api.get("/status", summary="Every database, the last runs, and this server")
    async def status() -> dict[str, Any]:
        report = await core(app).status.report()
        return {**views.status_json(report), "server": server.status()}

    @api.get("/search", summary="Search a collection (the JSON of analyzer query --json)")
    async def search_get(
        q: Annotated[Text, Query(description="What to search for.")],
        collection: Text = "default",
        top_k: Annotated[int, Query(ge=1, le=1000)] = 10,
        mode: Mode = Mode.HYBRID,
        path: Text | None = None,
        min_score: float | None = None,
        chunks: bool = False,
    ) -> dict[str, Any]:
        body = SearchBody(
            query=q,
            collection=collection,
            top_k=top_k,
            mode=mode,
            path=path,
            min_score=min_score,
            chunks=chunks,
        )
        return await run_search(body)

    @api.post("/search", summary="Search a collection, the query in a JSON body")
    async def search_post(body: Annotated[SearchBody, Body()]) -> dict[str, Any]:
        return await run_search(body)

    @api.get("/documents/{document:path}", summary="One document (analyzer show --json)")
    async def document(document: Text, collection: Text = "default") -> dict[str, Any]:
        return views.profile_json(await services.analysis.show(document, collection))

    @api.get("/similar/{document:path}", summary="Documents similar to one")
    async def similar(
        document: Text,
        collection: Text = "default",
        top_k: Annotated[int, Query(ge=1, le=1000)] = 10,
    ) -> dict[str, Any]:
        return views.similar_json(await services.analysis.similar(document, collection, top_k))

    @api.get("/duplicates", summary="Exact and near-duplicate pairs (the scan is stored)")
    async def duplicates(
        collection: Text = "default", threshold: Annotated[float, Query(ge=0.5, le=1.0)] = 0.9
    ) -> dict[str, Any]:
        return views.duplicates_json(await services.analysis.duplicates(collection, threshold))

    @api.get("/keywords", summary="Keywords of a document, or of the whole collection")
    async def keywords(
        collection: Text = "default",
        document: Text | None = None,
        top: Annotated[int, Query(ge=1, le=30)] = 10,
    ) -> dict[str, Any]:
        return views.keywords_json(await services.analysis.keywords(document, collection, top))

    @api.get("/topics", summary="Topics of a collection (k-means over document vectors)")
    async def topics(
        collection: Text = "default", k: Annotated[int | None, Query(ge=2, le=50)] = None
    ) -> dict[str, Any]:
        return views.topics_json(await services.analysis.topics(collection, k))

    @api.post("/ingest", status_code=202, summary="Start ingesting absolute paths")
    async def ingest(body: Annotated[IngestBody, Body()]) -> dict[str, Any]:
        paths = [Path(p) for p in body.paths]
        for path in paths:
            _check_ingest_path(path, server.data_dir)
        job = IngestJob(str(next(numbers)), [str(p) for p in paths], body.collection)
        jobs[job.id] = job
        options = IngestOptions(
            collection=body.collection,
            include=tuple(body.include),
            exclude=tuple(body.exclude),
            prune=body.prune,
            force=body.force,
        )
        server.track(asyncio.get_running_loop().create_task(run_ingest(job, paths, options)))
        return job.as_json()

    async def run_ingest(job: IngestJob, paths: list[Path], options: Any) -> None:
        def progress(event: Any) -> None:
            job.files_done, job.files_total = event.files_done, event.files_total
            job.chunks = event.chunks_done

        try:
            report = await server.ingest(paths, options, "http", progress)
            job.report, job.status = views.ingest_json(report), "done"
        except AnalyzerError as exc:
            job.error, job.status = exc.message, "failed"
        except Exception:
            log.exception("ingest job %s failed", job.id)
            job.error, job.status = "internal error; the server's log has the details", "failed"

    @api.get("/ingest/{job_id}", summary="An ingest job: its progress, then its report")
    async def ingest_job(job_id: str) -> dict[str, Any]:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no ingest job {job_id!r}; POST /ingest starts one")
        return job.as_json()

    return api


def status_of(exc: AnalyzerError) -> int:
    from modules.semantic_core.analysis.corpus import AmbiguousDocumentError, DocumentNotFoundError
    from modules.semantic_core.collections import (
        CollectionNotFoundError,
        EmptyCollectionError,
        ModelMismatchError,
    )

    if isinstance(exc, (DocumentNotFoundError, CollectionNotFoundError)):
        return 404
    if isinstance(exc, (AmbiguousDocumentError, EmptyCollectionError, ModelMismatchError)):
        return 409
    if isinstance(exc, (DatabaseBusyError, DatabaseUnavailableError)):
        return 503
    if isinstance(exc, UsageError) or exc.exit_code == 2:
        return 400
    return 422


def plain_text(value: str) -> str:
    """A string a request may carry: without NUL (PostgreSQL's text cannot hold it) and
    without lone surrogates (JSON's ``\\ud800`` escapes: no database stores one)."""
    if "\x00" in value:
        raise ValueError("holds a NUL character; send text without it")
    if ANY_SURROGATE.search(value):
        raise ValueError("holds a lone surrogate such as \\ud800, which is not text; send UTF-8")
    return value


def one_line(errors: Any) -> str:
    """The first validation error as one line: where, and what is wrong."""
    if not errors:
        return "bad request"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if first.get("type") == "json_invalid":
        return f"the body is not valid JSON ({message})"
    return f"{where}: {message}"


def _check_ingest_path(path: Path, data_dir: str) -> None:
    """A path a request may have the server read: absolute, existing, and neither a system
    pseudo-file system nor the data directory itself."""
    shown = str(path)
    if not path.is_absolute():
        raise UsageError(f"path {shown!r} is not absolute; send absolute paths")
    refused = unreadable(path)  # a name too long, no permission on the way: exists() raises
    if refused is not None:
        raise UsageError(f"path {shown!r} cannot be looked up on the server ({refused})")
    if not path.exists():
        raise UsageError(f"path {shown!r} does not exist on the server")
    real = os.path.realpath(path)
    for system in NOT_DOCUMENTS:
        if is_within(real, system) or is_within(system, real):
            raise UsageError(
                f"path {shown!r} reaches {system}, which holds no documents and is not read "
                "through the HTTP API; send folders of documents"
            )
    if is_within(real, os.path.realpath(data_dir)):
        raise UsageError(f"path {shown!r} is in the data directory; send folders of documents")


def _is_loopback_address(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _loopback_host(header: str) -> bool:
    host = header.rsplit(":", 1)[0] if not header.endswith("]") else header
    return host.strip("[]").lower() in ("127.0.0.1", "localhost", "::1", "")


def _authorised(header: str, token: str) -> bool:
    """Whether ``header`` is ``Bearer TOKEN``, compared in constant time as bytes.

    Headers arrive decoded as Latin-1 (ASGI), so encoding them back gives the bytes sent;
    the token's bytes are its UTF-8. Strings with non-ASCII characters cannot go to
    ``compare_digest`` as they are (it raises), bytes always can.
    """
    scheme, _, given = header.partition(" ")
    sent = given.strip().encode("latin-1", "replace")
    expected = token.encode("utf-8", "surrogateescape")
    return scheme.lower() == "bearer" and secrets.compare_digest(sent, expected)
