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
        """What other users of the machine can read: in the data directory, anything; where
        a URL puts a SQLite database elsewhere, that database's files."""
        data_dir = self._data_dir.absolute()
        found = [exposure(data_dir)]
        elsewhere: dict[Path, set[str]] = {}
        for path in self._database.sqlite_files():
            if path.parent != data_dir:
                names = {path.name, f"{path.name}-wal", f"{path.name}-shm"}
                elsewhere.setdefault(path.parent, set()).update(names)
        found += [exposure(folder, only=names) for folder, names in sorted(elsewhere.items())]
        return [item for item in found if item is not None]
