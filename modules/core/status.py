"""StatusService: the health of every database, for ``analyzer db-status``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from analyzer.privacy import Exposure, exposure
from modules.core.database.service import DatabaseService, DatabaseStatus
from modules.core.runs import RunService, RunSummary


@dataclass(frozen=True)
class StatusReport:
    databases: list[DatabaseStatus]
    recent_runs: list[RunSummary]
    checked: bool
    # Data directories (and directories of SQLite files) that other users can read into.
    exposed: list[Exposure] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(db.integrity in (None, ["ok"]) for db in self.databases)


class StatusService:
    def __init__(self, database: DatabaseService, runs: RunService, data_dir: Path) -> None:
        self._database = database
        self._runs = runs
        self._data_dir = data_dir

    async def report(self, check: bool = False, runs: int = 5) -> StatusReport:
        databases = await self._database.status(check=check)
        recent = await self._runs.recent(runs)
        return StatusReport(databases, recent, checked=check, exposed=self.exposed())

    def exposed(self) -> list[Exposure]:
        """The private directories that other users of the machine can read into."""
        directories = {self._data_dir.absolute(), *self._database.directories()}
        found = (exposure(directory) for directory in sorted(directories))
        return [item for item in found if item is not None]
