"""The HTTP API of ``analyzer serve --http HOST:PORT`` (optional extra ``server``).

FastAPI on uvicorn, in the server's own event loop and AppContext: each endpoint
calls one service method and returns the JSON that ``--json`` prints
(``analyzer.views``). The OpenAPI description is at ``/openapi.json``, browsable
at ``/docs``. Any address but loopback needs a token, sent as ``Authorization:
Bearer TOKEN``; errors are ``{"error": "one line"}`` with a 4xx or 5xx status.

No ``from __future__ import annotations`` here: FastAPI reads the endpoints'
annotations at definition time, and they name types imported inside ``build_api``.
"""

import asyncio
import itertools
import logging
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

if TYPE_CHECKING:
    from fastapi import FastAPI

    from analyzer.server.resident import ResidentServer

log = logging.getLogger("analyzer.server")
MAX_BODY_BYTES = 1024 * 1024
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
    listening = _bind(host, port)
    api = build_api(server)
    config = uvicorn.Config(api, log_level="warning", access_log=False, lifespan="off")
    embedded = _embedded_uvicorn(uvicorn, config)
    task = asyncio.get_running_loop().create_task(embedded.serve(sockets=[listening]))
    bound_host, bound_port = listening.getsockname()[:2]
    server.extras["http"] = HttpExtra(
        embedded, task, f"http://{_url_host(bound_host)}:{bound_port}"
    )
    return task


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

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

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
        while True:
            message = await receive()
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


@dataclass
class HttpExtra:
    server: Any
    task: asyncio.Task[None]
    url: str
    requests: int = 0

    def status(self) -> dict[str, Any]:
        return {"url": self.url, "requests": self.requests}

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


def build_api(server: "ResidentServer") -> "FastAPI":
    from fastapi import Body, FastAPI, Query
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field
    from starlette.exceptions import HTTPException

    from analyzer import __version__
    from modules.core.module import core
    from modules.semantic_core.ingest.service import IngestOptions
    from modules.semantic_core.module import semantic_core
    from modules.semantic_core.search.modes import Mode
    from modules.semantic_core.search.service import SearchOptions

    app = server.app
    assert app is not None
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

    @api.exception_handler(Exception)
    async def unexpected(request: Any, exc: Exception) -> JSONResponse:
        log.exception("HTTP %s %s failed", request.method, request.url.path)
        return error(500, "internal error; the server's log has the details")

    # Added before the guard, so it runs inside it: a refused request's body is never read.
    api.add_middleware(BodyLimit)

    @api.middleware("http")
    async def guard(request: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        token = server.options.token
        if token and not _authorised(request.headers.get("authorization", ""), token):
            return error(401, "missing or wrong token; send Authorization: Bearer TOKEN")
        if not token and not _loopback_host(request.headers.get("host", "")):
            # Without a token only this machine may ask, by its loopback name: a web page
            # that rebinds its own name to 127.0.0.1 is refused.
            return error(403, "requests must be addressed to 127.0.0.1, ::1 or localhost")
        server.touch()
        extra = server.extras.get("http")
        if extra is not None:
            extra.requests += 1
        return await call_next(request)

    class SearchBody(BaseModel):
        query: str
        collection: str = "default"
        top_k: int = Field(10, ge=1, le=1000)
        mode: Mode = Mode.HYBRID
        path: str | None = None
        min_score: float | None = None
        chunks: bool = False

    class IngestBody(BaseModel):
        paths: list[str] = Field(min_length=1)
        collection: str = "default"
        include: list[str] = []
        exclude: list[str] = []
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
        )
        return views.search_json(await services.search.search(body.query, options))

    @api.get("/status", summary="Every database, the last runs, and this server")
    async def status() -> dict[str, Any]:
        report = await core(app).status.report()
        return {**views.status_json(report), "server": server.status()}

    @api.get("/search", summary="Search a collection (the JSON of analyzer query --json)")
    async def search_get(
        q: Annotated[str, Query(description="What to search for.")],
        collection: str = "default",
        top_k: Annotated[int, Query(ge=1, le=1000)] = 10,
        mode: Mode = Mode.HYBRID,
        path: str | None = None,
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
    async def document(document: str, collection: str = "default") -> dict[str, Any]:
        return views.profile_json(await services.analysis.show(document, collection))

    @api.get("/similar/{document:path}", summary="Documents similar to one")
    async def similar(
        document: str,
        collection: str = "default",
        top_k: Annotated[int, Query(ge=1, le=1000)] = 10,
    ) -> dict[str, Any]:
        return views.similar_json(await services.analysis.similar(document, collection, top_k))

    @api.get("/duplicates", summary="Exact and near-duplicate pairs (the scan is stored)")
    async def duplicates(
        collection: str = "default", threshold: Annotated[float, Query(ge=0.5, le=1.0)] = 0.9
    ) -> dict[str, Any]:
        return views.duplicates_json(await services.analysis.duplicates(collection, threshold))

    @api.get("/keywords", summary="Keywords of a document, or of the whole collection")
    async def keywords(
        collection: str = "default",
        document: str | None = None,
        top: Annotated[int, Query(ge=1, le=30)] = 10,
    ) -> dict[str, Any]:
        return views.keywords_json(await services.analysis.keywords(document, collection, top))

    @api.get("/topics", summary="Topics of a collection (k-means over document vectors)")
    async def topics(
        collection: str = "default", k: Annotated[int | None, Query(ge=2, le=50)] = None
    ) -> dict[str, Any]:
        return views.topics_json(await services.analysis.topics(collection, k))

    @api.post("/ingest", status_code=202, summary="Start ingesting absolute paths")
    async def ingest(body: Annotated[IngestBody, Body()]) -> dict[str, Any]:
        paths = [Path(p) for p in body.paths]
        for path in paths:
            if not path.is_absolute():
                raise UsageError(f"path {str(path)!r} is not absolute; send absolute paths")
            if not path.exists():
                raise UsageError(f"path {str(path)!r} does not exist on the server")
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


def one_line(errors: Any) -> str:
    """The first validation error as one line: where, and what is wrong."""
    if not errors:
        return "bad request"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    message = str(first.get("msg", "invalid"))
    if first.get("type") == "json_invalid":
        return f"the body is not valid JSON ({message})"
    return f"{where}: {message}"


def _loopback_host(header: str) -> bool:
    host = header.rsplit(":", 1)[0] if not header.endswith("]") else header
    return host.strip("[]").lower() in ("127.0.0.1", "localhost", "::1", "")


def _authorised(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip(), token)
