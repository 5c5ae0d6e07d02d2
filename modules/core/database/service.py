"""DatabaseService: sessions and status for every discovered database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import Connection, func, inspect, select, table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from analyzer.errors import DatabaseError
from modules.core.database.database_infrastructure import (
    DISK_FULL,
    DatabaseRuntime,
    OpenDatabase,
    database_name_of,
    disk_full,
    hidden_password,
    postgres_extensions,
    postgres_integrity_check,
    read_revisions,
    sqlite_integrity_check,
)

# The read snapshots open in this context: database name -> its session.
_SNAPSHOTS: ContextVar[Mapping[str, AsyncSession] | None] = ContextVar(
    "analyzer_snapshots", default=None
)


@dataclass(frozen=True)
class TableStatus:
    name: str
    rows: int


@dataclass(frozen=True)
class DatabaseStatus:
    name: str
    url: str
    path: str | None
    size_bytes: int | None
    wal_bytes: int | None
    journal_mode: str | None
    schema: dict[str, dict[str, int | None]]
    tables: list[TableStatus] = field(default_factory=list)
    integrity: list[str] | None = None
    checked: str | None = None  # what the integrity check looked at
    extensions: list[str] | None = None  # PostgreSQL's installed extensions, with versions
    read_only: str | None = None  # why it can only be read


class DatabaseService:
    """Hands out sessions; never builds engines (the framework did that at start-up)."""

    def __init__(self, runtime: DatabaseRuntime) -> None:
        self._runtime = runtime
        self._makers: dict[tuple[str, bool], async_sessionmaker[AsyncSession]] = {}

    async def close(self) -> None:
        self._makers.clear()

    @property
    def names(self) -> list[str]:
        return self._runtime.names

    def database_for(self, model: type[Any]) -> str:
        return database_name_of(model)

    def engine(self, name: str, readonly: bool = False) -> AsyncEngine:
        database = self._runtime.get(name)
        return database.readonly_engine if readonly else database.engine

    def sqlite_files(self) -> list[Path]:
        """The SQLite files of the open databases (none on PostgreSQL)."""
        files = (self._runtime.get(name).file for name in self.names)
        return [path for path in files if path is not None]

    def directories(self) -> set[Path]:
        """The directories that hold the SQLite files of the open databases."""
        files = (self._runtime.get(name).file for name in self.names)
        return {path.parent for path in files if path is not None}

    def read_only(self, name: str) -> str | None:
        """Why database ``name`` was opened only to read (a read-only data directory, a full
        disk), or None if it can be written."""
        return self._runtime.get(name).read_only_reason

    def dialect(self, name: str) -> str:
        return self._runtime.get(name).engine.dialect.name

    def get_database_session(
        self, name: str, readonly: bool = False
    ) -> async_sessionmaker[AsyncSession]:
        """A session factory for database ``name``; read-only sessions take no write lock."""
        key = (name, readonly)
        maker = self._makers.get(key)
        if maker is None:
            maker = async_sessionmaker(self.engine(name, readonly), expire_on_commit=False)
            self._makers[key] = maker
        return maker

    @asynccontextmanager
    async def session(self, name: str) -> AsyncIterator[AsyncSession]:
        """A write session: commits on success, rolls back on error, translates driver errors."""
        async with self.get_database_session(name)() as session:
            try:
                yield session
                await session.commit()
            except BaseException as exc:
                await session.rollback()
                self._raise_translated(exc, name)

    @asynccontextmanager
    async def snapshot(self, name: str) -> AsyncIterator[AsyncSession]:
        """One read transaction on database ``name`` for everything inside the block.

        Every ``read_session(name)`` in this task (and in what it awaits) then shares it,
        so a command's reads all see the same data even while another process commits
        between them. Writes keep their own transactions.
        """
        current = _SNAPSHOTS.get() or {}
        if name in current:
            yield current[name]
            return
        async with self._own_read_session(name) as session:
            token = _SNAPSHOTS.set({**current, name: session})
            try:
                yield session
            finally:
                _SNAPSHOTS.reset(token)

    @asynccontextmanager
    async def read_session(self, name: str) -> AsyncIterator[AsyncSession]:
        """A read session: the snapshot of the block around it, if any, else its own."""
        shared = (_SNAPSHOTS.get() or {}).get(name)
        if shared is not None:
            yield shared
            return
        async with self._own_read_session(name) as session:
            yield session

    @asynccontextmanager
    async def _own_read_session(self, name: str) -> AsyncIterator[AsyncSession]:
        async with self.get_database_session(name, readonly=True)() as session:
            # Closing the session (not rolling back) ends the read transaction and
            # leaves loaded objects usable after the block.
            try:
                yield session
            except BaseException as exc:
                self._raise_translated(exc, name)

    def _raise_translated(self, exc: BaseException, name: str) -> NoReturn:
        """Raise our error for a driver error, chained to it; anything else unchanged."""
        translated = self.translate(exc, name)
        if translated is exc:
            raise exc
        raise translated from exc

    def translate(self, exc: BaseException, name: str) -> BaseException:
        """Our error for a driver error; anything else passes through unchanged."""
        if isinstance(exc, DatabaseError):
            return exc
        translated = self._runtime.translate(exc, name)
        return exc if translated is None else translated

    async def status(self, check: bool = False) -> list[DatabaseStatus]:
        return [await self._status_of(self._runtime.get(n), check) for n in self.names]

    async def _status_of(self, database: OpenDatabase, check: bool) -> DatabaseStatus:
        try:
            async with database.readonly_engine.connect() as conn:
                tables, revisions, journal, (integrity, checked), extensions = await conn.run_sync(
                    _inspect_database, database.engine.dialect.name, check
                )
                await conn.rollback()
        except Exception as exc:
            self._raise_translated(exc, database.name)
        schema = {
            d.key: {"found": revisions.get(d.key), "code": d.head} for d in database.declarations
        }
        path = database.file
        return DatabaseStatus(
            name=database.name,
            url=hidden_password(database.url),
            path=str(path) if path else None,
            size_bytes=_file_size(path),
            wal_bytes=_file_size(path.with_name(path.name + "-wal")) if path else None,
            journal_mode=journal,
            schema=schema,
            tables=tables,
            integrity=integrity,
            checked=checked,
            extensions=extensions,
            read_only=database.read_only_reason or _full_disk_under(path),
        )


def _full_disk_under(path: Path | None) -> str | None:
    """DISK_FULL when the disk of a SQLite file opened for writing has filled since (no
    write was needed to open it): writes now fail, and status says so as it does of a
    file opened only to read on a full disk."""
    return DISK_FULL if path is not None and disk_full(path) else None


def _file_size(path: Any) -> int | None:
    try:
        return path.stat().st_size if path is not None else None
    except OSError:
        return None


def _inspect_database(
    conn: Connection, dialect: str, check: bool
) -> tuple[
    list[TableStatus],
    dict[str, int],
    str | None,
    tuple[list[str] | None, str | None],
    list[str] | None,
]:
    names = sorted(inspect(conn).get_table_names())
    tables = [
        TableStatus(name, conn.execute(select(func.count()).select_from(table(name))).scalar_one())
        for name in names
    ]
    journal = None
    extensions = None
    checked: tuple[list[str] | None, str | None] = (None, None)
    if dialect == "sqlite":
        journal = conn.execute(text("PRAGMA journal_mode")).scalar_one()
        if check:
            checked = sqlite_integrity_check(conn)
    elif dialect == "postgresql":
        extensions = postgres_extensions(conn)
        if check:
            checked = postgres_integrity_check(conn)
    return tables, read_revisions(conn), journal, checked, extensions
