"""framework.db: what the framework itself remembers between runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from modules.core.database.db_models import SQLiteJSON, UTCDateTime, get_database_base, utcnow

DATABASE_NAME = "framework"
SCHEMA_REVISION = 2

Base = get_database_base(DATABASE_NAME)


class ModuleRecord(Base):
    """A module seen at start-up, with the version it declared."""

    __tablename__ = "modules"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    package: Mapped[str] = mapped_column(String(300))
    version: Mapped[str] = mapped_column(String(50))
    source: Mapped[str] = mapped_column(String(20))
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DatabaseRecord(Base):
    """A database the framework opened, where it lives and its schema revisions."""

    __tablename__ = "databases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    location: Mapped[str] = mapped_column(Text)
    revisions: Mapped[dict[str, int]] = mapped_column(SQLiteJSON, default=dict)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CommandRun(Base):
    """One invocation of a command: when, how it ended, and what it reported."""

    __tablename__ = "command_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    command: Mapped[str] = mapped_column(String(100), index=True)
    arguments: Mapped[dict[str, Any]] = mapped_column(SQLiteJSON, default=dict)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="running")
    exit_code: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[dict[str, Any] | None] = mapped_column(SQLiteJSON)
    error: Mapped[str | None] = mapped_column(Text)
    # The process that ran it, so a run whose process died shows as abandoned.
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255))


def _add_run_process(connection: Connection) -> None:
    connection.execute(text("ALTER TABLE command_runs ADD COLUMN pid INTEGER"))
    connection.execute(text("ALTER TABLE command_runs ADD COLUMN host VARCHAR(255)"))


MIGRATIONS = {2: _add_run_process}
