"""``analyzer serve --watch PATH...``: keep a collection current from file events.

File events (watchfiles, extra ``server``) are debounced into passes. A pass is an
incremental ingest of the watched paths through the same ingest service as
``analyzer ingest --prune``: new and changed files are ingested, unchanged ones
cost a stat, vanished ones are removed. Each pass is a recorded run; its summary
goes to the log and to ``analyzer serve --status``.

The watcher follows each path, not the folder that was there when it started.
File events follow inodes: a folder swapped for another (``mv W W.old; mv W.new W``)
or deleted and made again is a new inode that nobody watches, and the server went on
saying it watched. So the identity (device, inode) of every watched path is compared
after each event and every ``RECHECK_S`` when none comes; when one differs, the
watch is armed again on what is there now, and a replaced or re-created path gets a
pass of its own.

A watched path that is missing keeps its documents: it is reported (log, ``--status``)
and looked for again every ``RECHECK_S``, and passes leave it out, so nothing of it is
pruned. A folder that is gone for a moment (an unmounted disk, a swap half done, a
checkout being rewritten) must not empty the collection; when it is back, its first
pass removes what is no longer in it. Removing it for good is ``analyzer collections``
work, not a side effect of a missing folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer.errors import AnalyzerError, ConfigurationError

if TYPE_CHECKING:
    from analyzer.server.resident import ResidentServer

log = logging.getLogger("analyzer.server")
DEBOUNCE_MS = 500
RECHECK_S = 1.0  # how often the paths' identities are compared while no event comes

Identity = tuple[int, int] | None  # (device, inode); None: the path is missing


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


def identities(paths: list[Path]) -> dict[Path, Identity]:
    """Each path's (device, inode), or None for a path that is missing now."""
    found: dict[Path, Identity] = {}
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            found[path] = None
        else:
            found[path] = (info.st_dev, info.st_ino)
    return found


class Watcher:
    def __init__(self, server: ResidentServer, paths: list[Path], collection: str) -> None:
        self._server = server
        self.paths = paths
        self.collection = collection
        self.passes = 0
        self.rearmed = 0  # times the watch followed a path replaced, re-created or gone
        self.missing: list[Path] = []
        self.last: dict[str, Any] | None = None
        self._stop = asyncio.Event()

    def status(self) -> dict[str, Any]:
        return {
            "paths": [str(p) for p in self.paths],
            "collection": self.collection,
            "missing": [str(p) for p in self.missing],
            "passes": self.passes,
            "rearmed": self.rearmed,
            "last_pass": self.last,
        }

    async def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        armed = self._look()  # before the first pass: a swap during it is seen after it
        await self.ingest_pass("start")  # catch up with what changed while nobody watched
        while not self._stop.is_set():
            unseen = await self._watch(armed)
            if self._stop.is_set():
                return
            now = self._look()
            self.rearmed += now != armed
            arrived = [p for p in self.paths if now[p] is not None and now[p] != armed[p]]
            armed = now
            if arrived:
                names = ", ".join(str(p) for p in arrived)
                log.info("watching %s again (replaced or re-created)", names)
                await self.ingest_pass(f"{names} replaced or re-created")
            elif unseen:  # another path's changes came in the batch that saw one go
                await self.ingest_pass(f"{unseen} file events")

    def _look(self) -> dict[Path, Identity]:
        """The paths' identities now; a path that went missing or came back is logged."""
        now = identities(self.paths)
        missing = [p for p in self.paths if now[p] is None]
        for path in missing:
            if path not in self.missing:
                log.warning(
                    "watched path %s is missing: its documents are kept, and it is looked "
                    "for every %g s",
                    path,
                    RECHECK_S,
                )
        self.missing = missing
        return now

    async def _watch(self, armed: dict[Path, Identity]) -> int:
        """Ingest on file events until stopped or until a path's identity is not ``armed``;
        the number of events of the last batch, which no pass has seen."""
        present = [p for p in self.paths if armed[p] is not None]

        def changed() -> bool:
            return identities(self.paths) != armed

        if not present:
            while not self._stop.is_set() and not changed():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), RECHECK_S)
            return 0
        from watchfiles import awatch

        events = awatch(
            *present,
            debounce=DEBOUNCE_MS,
            stop_event=self._stop,
            watch_filter=self._filter(),
            rust_timeout=int(RECHECK_S * 1000),
            yield_on_timeout=True,  # an empty set every RECHECK_S: time to compare
        )
        try:
            async with contextlib.aclosing(events):
                async for changes in events:
                    if changed():
                        return len(changes)  # the caller looks again, then passes
                    if changes:
                        await self.ingest_pass(f"{len(changes)} file events")
        except OSError as exc:  # a path went between the look and the watch: look again
            log.warning("cannot watch %s (%s); trying again", ", ".join(map(str, present)), exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RECHECK_S)
        return 0

    def _filter(self) -> Callable[[Any, str], bool]:
        from watchfiles import DefaultFilter

        from analyzer.paths import is_within

        usual = DefaultFilter()  # .git, __pycache__, editor swap files and the like
        data_dir = self._server.data_dir

        def outside_data_dir(change: Any, path: str) -> bool:
            # Our own databases and log change with every pass: never a reason for another.
            return usual(change, path) and not is_within(path, data_dir)

        return outside_data_dir

    async def ingest_pass(self, reason: str) -> None:
        from modules.semantic_core.ingest.service import IngestOptions

        present = [p for p in self.paths if p.exists()]  # a missing path is never pruned
        if not present:
            return
        options = IngestOptions(collection=self.collection, prune=True)
        try:
            report = await self._server.ingest(present, options, "watch")
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
