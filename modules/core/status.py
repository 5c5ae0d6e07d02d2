"""StatusService: the health of every database, for ``analyzer db-status``."""

from __future__ import annotations

from dataclasses import dataclass

from modules.core.database.service import DatabaseService, DatabaseStatus
from modules.core.runs import RunService, RunSummary


@dataclass(frozen=True)
class StatusReport:
    databases: list[DatabaseStatus]
    recent_runs: list[RunSummary]
    checked: bool

    @property
    def healthy(self) -> bool:
        return all(db.integrity in (None, ["ok"]) for db in self.databases)


class StatusService:
    def __init__(self, database: DatabaseService, runs: RunService) -> None:
        self._database = database
        self._runs = runs

    async def report(self, check: bool = False, runs: int = 5) -> StatusReport:
        databases = await self._database.status(check=check)
        return StatusReport(databases, await self._runs.recent(runs), checked=check)
