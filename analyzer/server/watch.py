"""``analyzer serve --watch PATH...``: keep a collection current from file events.

File events (watchfiles, extra ``server``) are debounced into passes. A pass is an
incremental ingest of the watched paths through the same ingest service as
``analyzer ingest --prune``: new and changed files are ingested, unchanged ones
cost a stat, vanished ones are removed. Each pass is a recorded run; its summary
goes to the log and to ``analyzer serve --status``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer.errors import AnalyzerError, ConfigurationError

if TYPE_CHECKING:
    from analyzer.server.resident import ResidentServer

log = logging.getLogger("analyzer.server")
DEBOUNCE_MS = 500


async def start_watch(server: ResidentServer) -> asyncio.Task[None]:
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "--watch needs the 'server' extra: pip install 'analyzer[server]'"
        ) from None
    missing = [str(p) for p in server.options.watch if not p.exists()]
    if missing:
        raise ConfigurationError(f"cannot watch {missing[0]}: it does not exist")
    watcher = Watcher(server, list(server.options.watch), server.options.watch_collection)
    server.extras["watch"] = watcher
    return asyncio.get_running_loop().create_task(watcher.run())


class Watcher:
    def __init__(self, server: ResidentServer, paths: list[Path], collection: str) -> None:
        self._server = server
        self.paths = paths
        self.collection = collection
        self.passes = 0
        self.last: dict[str, Any] | None = None
        self._stop = asyncio.Event()

    def status(self) -> dict[str, Any]:
        return {
            "paths": [str(p) for p in self.paths],
            "collection": self.collection,
            "passes": self.passes,
            "last_pass": self.last,
        }

    async def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        from watchfiles import DefaultFilter, awatch

        usual = DefaultFilter()  # .git, __pycache__, editor swap files and the like
        await self.ingest_pass("start")  # catch up with what changed while nobody watched
        from analyzer.paths import is_within

        data_dir = self._server.data_dir

        def outside_data_dir(change: Any, path: str) -> bool:
            # Our own databases and log change with every pass: never a reason for another.
            return usual(change, path) and not is_within(path, data_dir)

        async for changes in awatch(
            *self.paths, debounce=DEBOUNCE_MS, stop_event=self._stop, watch_filter=outside_data_dir
        ):
            await self.ingest_pass(f"{len(changes)} file events")

    async def ingest_pass(self, reason: str) -> None:
        from modules.semantic_core.ingest.service import IngestOptions

        options = IngestOptions(collection=self.collection, prune=True)
        try:
            report = await self._server.ingest(self.paths, options, "watch")
        except AnalyzerError as exc:
            self.last = {"at": time.time(), "reason": reason, "error": exc.message}
            log.warning("watch pass (%s) failed: %s", reason, exc.message)
            return
        except Exception as exc:  # the next event brings another pass
            self.last = {"at": time.time(), "reason": reason, "error": type(exc).__name__}
            log.exception("watch pass (%s) failed", reason)
            return
        finally:
            self.passes += 1
            self._server.touch()
        summary = report.summary()
        self.last = {"at": time.time(), "reason": reason, **summary}
        log.info(
            "watch pass (%s): %d new, %d updated, %d removed, %d unchanged, %d failed",
            reason,
            summary["new"],
            summary["updated"],
            summary["pruned"],
            summary["unchanged"],
            summary["failed"],
        )
