"""Database infrastructure. Only the framework imports this module.

Modules reach database things through ``modules.core.database.db_models`` (the
contact surface) and services through the application context. Everything here
that runs at import time is pure: bases and types are built, no engine, file or
connection is made until ``Databases.open`` runs in phase 2 of start-up.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    event,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from analyzer.errors import (
    ConfigurationError,
    ConflictError,
    CorruptDatabaseError,
    DatabaseBusyError,
    DatabaseError,
    DatabaseUnavailableError,
    DataDirError,
    DiskFullError,
    ReadOnlyError,
    SchemaMismatchError,
)

# Constraint names that are stable across dialects and migrations.
NAMING_CONVENTION: Mapping[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_BASES: dict[str, type[DeclarativeBase]] = {}
_DATABASE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def get_database_base(name: str) -> type[DeclarativeBase]:
    """The declarative base of database ``name``: the same class for the same name, always.

    Pure and idempotent: it builds a class with its own ``MetaData`` the first time
    and returns that class afterwards. It opens no engine and touches no file.
    """
    base = _BASES.get(name)
    if base is not None:
        return base
    if not _DATABASE_NAME.match(name):
        raise ValueError(f"database name {name!r} must be lowercase letters, digits and _")
    metadata = MetaData(naming_convention=dict(NAMING_CONVENTION))
    base = type(
        f"{name.title().replace('_', '')}Base",
        (DeclarativeBase,),
        {"metadata": metadata, "__abstract__": True, "__module__": __name__},
    )
    base.info_database_name = name  # type: ignore[attr-defined]
    _BASES[name] = base
    return base


def database_name_of(model: type[Any]) -> str:
    """The database a model class belongs to, from the metadata it was declared on."""
    metadata = getattr(model, "metadata", None)
    for name, base in _BASES.items():
        if base.metadata is metadata:
            return name
    raise TypeError(f"{model!r} is not declared on a base from get_database_base()")


class SQLiteJSON(TypeDecorator[Any]):
    """JSON stored as TEXT on SQLite and as JSONB on PostgreSQL."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            # Imported here: the PostgreSQL dialect costs every SQLite start ~35 ms.
            from sqlalchemy.dialects import postgresql

            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(JSON())


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC, also on SQLite (which drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


# --- schema revisions -------------------------------------------------------

# Every database records, per declaring module, the schema revision it is at.
_REVISION_METADATA = MetaData()
SCHEMA_REVISIONS = Table(
    "analyzer_schema",
    _REVISION_METADATA,
    Column("module", String(200), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

Migration = Callable[[Connection], None]


@dataclass(frozen=True)
class ModelsDeclaration:
    """What one ``db_models`` module declares about its schema."""

    key: str
    head: int
    migrations: Mapping[int, Migration]

    @classmethod
    def of(cls, models: Any) -> ModelsDeclaration:
        return cls(
            key=models.__name__,
            head=int(getattr(models, "SCHEMA_REVISION", 1)),
            migrations=dict(getattr(models, "MIGRATIONS", {})),
        )


@dataclass(frozen=True)
class SchemaPlan:
    """Revisions found in a database versus the code's heads."""

    found: Mapping[str, int | None]
    heads: Mapping[str, int]
    tables_missing: bool

    @property
    def needs_write(self) -> bool:
        stale = any(self.found.get(key) != head for key, head in self.heads.items())
        return stale or self.tables_missing


def read_revisions(conn: Connection) -> dict[str, int]:
    if not inspect(conn).has_table(SCHEMA_REVISIONS.name):
        return {}
    rows = conn.execute(select(SCHEMA_REVISIONS.c.module, SCHEMA_REVISIONS.c.revision))
    return {str(module): int(revision) for module, revision in rows}


def plan_schema(
    conn: Connection, metadata: MetaData, declarations: Iterable[ModelsDeclaration], label: str
) -> SchemaPlan:
    """Read-only look at a database: which revisions it holds, and is anything missing."""
    found = read_revisions(conn)
    heads = {d.key: d.head for d in declarations}
    for key, head in heads.items():
        current = found.get(key)
        if current is not None and current > head:
            raise SchemaMismatchError(
                f"{label} was created by a newer analyzer (schema {current} > {head} "
                f"for {key}); upgrade analyzer"
            )
    existing = set(inspect(conn).get_table_names())
    missing = any(table.name not in existing for table in metadata.sorted_tables)
    return SchemaPlan({k: found.get(k) for k in heads}, heads, missing)


def apply_schema(
    conn: Connection,
    metadata: MetaData,
    declarations: Iterable[ModelsDeclaration],
    plan: SchemaPlan,
    label: str,
) -> None:
    """Create a new database at head, or upgrade an older one, in the caller's transaction."""
    for decl in declarations:
        current = plan.found.get(decl.key)
        if current is None:
            continue  # new: create_all below builds the tables at head
        for revision in range(current + 1, decl.head + 1):
            migration = decl.migrations.get(revision)
            if migration is None:
                raise SchemaMismatchError(
                    f"{label} is at schema {current} for {decl.key} and no migration leads "
                    f"to {revision}; back it up and re-create it with a fresh --data-dir"
                )
            migration(conn)
    SCHEMA_REVISIONS.create(conn, checkfirst=True)
    metadata.create_all(conn, checkfirst=True)
    now = utcnow()
    for decl in declarations:
        conn.execute(SCHEMA_REVISIONS.delete().where(SCHEMA_REVISIONS.c.module == decl.key))
        conn.execute(
            SCHEMA_REVISIONS.insert().values(module=decl.key, revision=decl.head, updated_at=now)
        )


# --- engines ----------------------------------------------------------------

READONLY_OPTION = "analyzer_readonly"
_SCHEMA_LOCK = 0x616E616C  # the advisory lock that creates and upgrades tables on PostgreSQL


def is_sqlite_url(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


# The async driver analyzer talks to each engine through; a URL without one gets it.
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
_DRIVER_INSTALL = {
    "asyncpg": "pip install 'analyzer[postgres]'",
    "aiosqlite": "pip install aiosqlite",
}


def url_variable(name: str) -> str:
    """The environment variable that sets the URL of database ``name``."""
    return f"ANALYZER_DB_{name.upper()}_URL"


_URL_FORM = (
    "write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE with the password's special "
    "characters percent-encoded (@ as %40, : as %3A, / as %2F), or keep the password out of "
    "the URL in ~/.pgpass or PGPASSWORD"
)
_MASK = "***"


def _is_secret(key: str) -> bool:
    """A query parameter that carries a password (``password=``, ``sslpassword=``)."""
    return "password" in key.lower()


def hidden_password(url: str) -> str:
    """``url`` as it may be shown or stored: its password, in the user part and in any
    ``password=`` query parameter, is ***."""
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        return "(not a URL)"
    secrets = {key: _MASK for key in parsed.query if _is_secret(key)}
    if secrets:
        parsed = parsed.update_query_dict(secrets)
    try:
        shown = parsed.render_as_string(hide_password=True)
    except UnicodeEncodeError:
        return "(not a URL)"
    return shown.replace("=" + quote(_MASK, safe=""), "=" + _MASK)


def _why_unreadable(url: str) -> str:
    """What is wrong with a URL that SQLAlchemy could not take apart, in words that never
    quote its password: a misplaced ``@`` or ``:`` in the password shows up as a strange
    port, which would hold part of it."""
    if not _is_utf8(url):
        return "it holds bytes that are not UTF-8"
    authority = url.partition("://")[2].partition("?")[0]
    if authority.count("@") > 1:
        return "its user name or password holds an unescaped '@'"
    host_port = authority.rpartition("@")[2].partition("/")[0]
    if host_port.startswith("[") and "]" not in host_port:
        return "an IPv6 host needs its closing ']', as in [::1]:5432"
    port = host_port.rpartition("]")[2].rpartition(":")[2] if ":" in host_port else ""
    if port and not port.isdigit():
        return f"port {port!r} is not a number"
    if host_port.endswith(":"):
        return "the port after ':' is missing"
    return "it cannot be read as a URL"


def _is_utf8(url: str) -> bool:
    """False for text holding undecodable bytes (of an environment variable or a path)."""
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_url(url: str, name: str) -> URL:
    """``url`` taken apart, or a one-line error naming the variable that set it (and never
    quoting its password) when it cannot be."""
    variable = url_variable(name)
    if url.startswith("sqlite") and not _is_utf8(url):
        # Most likely the data directory's name, which SQLite cannot open either.
        raise ConfigurationError(
            f"the path of database {name} holds bytes that are not UTF-8; choose a "
            f"--data-dir (or {variable}) whose path is UTF-8"
        )
    try:
        url.encode("utf-8")  # a URL is text: undecodable bytes of the environment are not
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise ConfigurationError(
            f"{variable} is not a database URL; use postgresql://USER@HOST:PORT/DATABASE "
            "or sqlite:///PATH"
        ) from None
    except ValueError:  # UnicodeEncodeError too
        raise ConfigurationError(
            f"{variable} is not a valid database URL ({_why_unreadable(url)}); {_URL_FORM}"
        ) from None
    if parsed.host is not None and "@" in parsed.host:
        problem = "its user name or password holds an unescaped '@'"
        raise ConfigurationError(f"{variable} is not a valid database URL ({problem}); {_URL_FORM}")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        problem = f"port {parsed.port} is not between 1 and 65535"
        raise ConfigurationError(f"{variable} is not a valid database URL ({problem}); {_URL_FORM}")
    return parsed


def engine_url(url: str, name: str) -> str:
    """``url`` with the async driver filled in (``postgresql://`` means asyncpg), or a
    one-line error naming the variable, when it is not a URL analyzer can use."""
    variable = url_variable(name)
    parsed = parse_url(url, name)
    backend = "postgresql" if parsed.get_backend_name() == "postgres" else parsed.get_backend_name()
    driver = ASYNC_DRIVERS.get(backend)
    if driver is None:
        raise ConfigurationError(
            f"{variable} points at {backend}; analyzer runs on SQLite and PostgreSQL "
            "(postgresql://USER@HOST:PORT/DATABASE)"
        )
    given = parsed.drivername.partition("+")[2]
    if given and given != driver:
        raise ConfigurationError(
            f"{variable} asks for the {given} driver; analyzer talks to {backend} through "
            f"{driver}: write {backend}+{driver}:// or {backend}://"
        )
    if importlib.util.find_spec(driver) is None:
        raise ConfigurationError(
            f"{variable} needs the {driver} driver, which is not installed: "
            f"{_DRIVER_INSTALL[driver]}"
        )
    return parsed.set(drivername=f"{backend}+{driver}").render_as_string(hide_password=False)


def display_location(url: str) -> str:
    """A file path for SQLite, else the URL with its password hidden."""
    path = sqlite_file(url)
    if path is not None:
        return str(path)
    return hidden_password(url)


def _read_only_url(url: str, immutable: bool) -> str:
    """A SQLite file opened only to read. With a usable WAL index (-shm) it is read as usual;
    without one (closed cleanly on read-only media, or a full disk where none can grow)
    SQLite can only open it as immutable, which is what such a file is for now."""
    path = sqlite_file(url)
    assert path is not None
    shm = path.with_name(path.name + "-shm")
    mode = "immutable=1" if immutable or not shm.exists() else "mode=ro"
    return f"sqlite+aiosqlite:///file:{quote(str(path))}?{mode}&uri=true"


def _install_sqlite_pragmas(
    engine: AsyncEngine, busy_timeout_s: float, read_only: bool = False
) -> None:
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below), so the driver must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if not read_only:  # a read-only file keeps the journal mode it has
                _use_wal(cursor, busy_timeout_s)
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front, so concurrent writers queue on
        # busy_timeout instead of failing when a read lock cannot be upgraded.
        readonly = conn.get_execution_options().get(READONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _use_wal(cursor: Any, busy_timeout_s: float) -> None:
    """Switch a database to WAL. Switching takes an exclusive lock that SQLite does not wait
    for, so two processes opening one new database at once can find it taken: then the
    other has usually switched it already (the mode is stored in the file), else retry."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not any(marker in str(exc).lower() for marker in _BUSY):
                raise
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() == "wal":
                return
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def create_engine_for(
    url: str,
    busy_timeout_s: float,
    echo: bool = False,
    read_only: bool = False,
    immutable: bool = False,
) -> AsyncEngine:
    """One engine per database; SQLite gets its pragmas on every pooled connection."""
    if is_sqlite_url(url):
        if read_only:
            url = _read_only_url(url, immutable)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": busy_timeout_s})
        _install_sqlite_pragmas(engine, busy_timeout_s, read_only)
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True)


def dialect_insert(dialect_name: str, table: Any) -> Any:
    """An INSERT that supports ``on_conflict_do_update`` for the dialect at hand."""
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    if dialect_name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    raise DatabaseError(f"upserts are not supported on {dialect_name}; use SQLite or PostgreSQL")


# --- errors -----------------------------------------------------------------

_BUSY = ("database is locked", "database table is locked", "database is busy")
_CORRUPT = ("file is not a database", "database disk image is malformed", "not a database")
_FULL = ("database or disk is full", "no space left on device")
_READONLY = ("readonly database", "read-only file system")
_UNWRITABLE = ("unable to open database file", "disk i/o error")
_SCHEMA = ("no such table", "no such column", "has no column")
# PostgreSQL giving up on a transaction that raced another (none of analyzer's own writers
# race: they queue on advisory locks; another program's might).
_CONTENTION = ("deadlock detected", "could not serialize access")


def disk_full_error(label: str) -> DiskFullError:
    return DiskFullError(
        f"cannot write {label}: the disk is full; free some space and run the command "
        "again (what is stored is intact)"
    )


def _root_message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc.__cause__ or exc
    return str(orig).lower()


# PostgreSQL refusing a connection, and what to do about it.
_CONNECTION_REFUSALS = (
    (
        ("password authentication failed", "no password supplied"),
        "the server refused the user name or password; fix them in {variable}, or keep the "
        "password out of the URL in ~/.pgpass or PGPASSWORD",
    ),
    (
        ("does not exist",),
        "{message}; create it (createdb) or name an existing one in {variable}",
    ),
    (
        ("connection refused", "connect call failed", "could not connect", "name or service not"),
        "cannot connect ({message}); check that the server is running and that the host and "
        "port in {variable} are right",
    ),
)


def translate_connection_error(
    exc: BaseException, label: str, name: str
) -> DatabaseUnavailableError | None:
    """A database server that refused us, as one line that says what to fix."""
    if not isinstance(exc, (sa_exc.DBAPIError, OSError)):
        return None
    message = _root_message(exc)
    for markers, advice in _CONNECTION_REFUSALS:
        if any(marker in message for marker in markers):
            advice = advice.format(message=message, variable=url_variable(name))
            return DatabaseUnavailableError(f"{label}: {advice}")
    return None


def translate_database_error(
    exc: BaseException, label: str, busy_timeout_s: float
) -> DatabaseError | None:
    """Map a driver error on database ``label`` to one of ours, or None if unexpected."""
    message = _root_message(exc)
    if isinstance(exc, sa_exc.IntegrityError):
        return ConflictError(f"{label}: {message}; the row already exists or breaks a constraint")
    if any(marker in message for marker in _BUSY):
        return DatabaseBusyError(
            f"{label} is locked by another process (waited {busy_timeout_s:g} s); "
            "retry when it finishes, or raise ANALYZER_BUSY_TIMEOUT"
        )
    if any(marker in message for marker in _CONTENTION):
        return DatabaseBusyError(
            f"{label}: another transaction got in the way ({message}); run the command "
            "again (what is stored is intact)"
        )
    if any(marker in message for marker in _CORRUPT):
        return CorruptDatabaseError(
            f"{label} is damaged or not a SQLite database ({message}); move it aside "
            "and run again to start a fresh one, or restore it from a backup"
        )
    if any(marker in message for marker in _FULL):
        return disk_full_error(label)
    if any(marker in message for marker in _READONLY):
        return ReadOnlyError(
            f"cannot write {label}: it is read-only; commands that only read still work, "
            "or choose a writable --data-dir"
        )
    if any(marker in message for marker in _UNWRITABLE):
        return DatabaseUnavailableError(
            f"cannot open or write {label} ({message}); check its permissions and free space, "
            "or choose another --data-dir"
        )
    if any(marker in message for marker in _SCHEMA):
        return SchemaMismatchError(
            f"{label} does not have the expected schema ({message}); "
            "run it with the analyzer version that created it, or start a fresh --data-dir"
        )
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, sqlite3.Error)):
        return DatabaseUnavailableError(f"{label}: {message}; check that the database is reachable")
    return None


DISK_FULL = "the disk is full"


def _no_database_yet(path: Path) -> bool:
    """Whether ``path`` holds no database: missing, or the empty owner-only file made for
    SQLite to open, with no write-ahead log either (a database young enough never to have
    been checkpointed keeps everything there). A full disk then has nothing to read."""
    return not any(_size(p) for p in (path, path.with_name(f"{path.name}-wal")))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def disk_full(path: Path) -> bool:
    """Whether the disk holding ``path`` has no room left (less than 64 KiB)."""
    try:
        return shutil.disk_usage(path.parent).free < 64 * 1024
    except OSError:
        return False


def sqlite_integrity_check(conn: Connection) -> tuple[list[str], str]:
    """SQLite's own check: ``["ok"]`` or what it found, and what was checked."""
    rows = conn.execute(text("PRAGMA integrity_check")).scalars().all()
    return [str(r) for r in rows], "PRAGMA integrity_check (every page, row and index)"


def postgres_extensions(conn: Connection) -> list[str]:
    """The extensions installed in a PostgreSQL database, as ``name version``."""
    rows = conn.execute(
        text("SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1")
    )
    return [f"{name} {version}" for name, version in rows]


_OUR_INDEXES = """
SELECT c.relname, c.oid, i.indisvalid, am.amname
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema()
ORDER BY c.relname
"""


def postgres_integrity_check(conn: Connection) -> tuple[list[str], str]:
    """Every index of analyzer's schema is valid and, where the amcheck extension is
    installed, every B-tree index agrees with its table; ``["ok"]`` or what failed,
    and what was checked. The connection and the schema revision are checked by
    opening the database at all."""
    indexes = conn.execute(text(_OUR_INDEXES)).all()
    problems = [
        f"index {name} is invalid; rebuild it with REINDEX INDEX {name}"
        for name, _, valid, _ in indexes
        if not valid
    ]
    has_amcheck = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'")).first()
    btrees = [(name, oid) for name, oid, valid, method in indexes if valid and method == "btree"]
    if has_amcheck:
        for name, oid in btrees:
            try:
                with conn.begin_nested():
                    conn.execute(text("SELECT bt_index_check(:oid, true)"), {"oid": oid})
            except sa_exc.DBAPIError as exc:
                problems.append(f"index {name} disagrees with its table: {_root_message(exc)}")
        deep = f"amcheck of {len(btrees)} B-tree indexes against their tables"
    else:
        deep = "no amcheck (CREATE EXTENSION amcheck enables a deeper check)"
    checked = f"connection, schema revision, validity of {len(indexes)} indexes, {deep}"
    return problems or ["ok"], checked


# --- runtime: engines and schemas of the discovered databases ----------------


@dataclass
class OpenDatabase:
    """A database in use: its engine and the revisions its schema is at."""

    name: str
    url: str
    label: str
    engine: AsyncEngine
    metadata: MetaData
    declarations: tuple[ModelsDeclaration, ...]
    revisions: dict[str, int]
    read_only_reason: str | None = None  # why it was opened only to read, if it was

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    @property
    def file(self) -> Path | None:
        return sqlite_file(self.url)

    @property
    def readonly_engine(self) -> AsyncEngine:
        """The engine for reads. On PostgreSQL a read transaction is REPEATABLE READ: its
        statements share one snapshot, as a SQLite read transaction's do (READ COMMITTED
        would give each statement the newest data, and a query could mix two states)."""
        if self.engine.dialect.name == "postgresql":
            return self.engine.execution_options(
                **{READONLY_OPTION: True},
                isolation_level="REPEATABLE READ",
                postgresql_readonly=True,
            )
        return self.engine.execution_options(**{READONLY_OPTION: True})


class DatabaseRuntime:
    """Opens one engine per discovered database and brings its schema to head."""

    def __init__(self, urls: Mapping[str, str], busy_timeout_s: float, echo: bool = False):
        self._urls = {name: engine_url(url, name) for name, url in urls.items()}
        self.busy_timeout_s = busy_timeout_s
        self._echo = echo
        self._open: dict[str, OpenDatabase] = {}
        self.read_only_dirs: set[Path] = set()  # SQLite files in these are opened to read

    @property
    def names(self) -> list[str]:
        return list(self._open)

    def get(self, name: str) -> OpenDatabase:
        try:
            return self._open[name]
        except KeyError:
            known = ", ".join(sorted(self._open)) or "none"
            raise DatabaseUnavailableError(
                f"no database named {name!r} is open (open: {known}); "
                "check the module that declares it"
            ) from None

    def translate(self, exc: BaseException, name: str) -> DatabaseError | None:
        database = self._open.get(name)
        label = database.label if database is not None else name
        if database is not None and database.file is None:
            refused = translate_connection_error(exc, label, name)
            if refused is not None:
                return refused
        translated = translate_database_error(exc, label, self.busy_timeout_s)
        opened_on_full_disk = database is not None and database.read_only_reason == DISK_FULL
        if isinstance(translated, ReadOnlyError) and opened_on_full_disk:
            return disk_full_error(label)  # read-only because the disk is full: say so
        return translated

    async def open(self, name: str, base: type[DeclarativeBase], models: Iterable[Any]) -> None:
        url = self._urls[name]
        path = sqlite_file(url)
        read_only = path is not None and path.parent in self.read_only_dirs
        if read_only and path is not None and not path.exists():
            raise DataDirError(
                f"data directory {path.parent} is read-only and holds no {path.name}; "
                "run analyzer there once with write access, or choose another --data-dir"
            )
        declarations = tuple(ModelsDeclaration.of(m) for m in models)
        try:
            reason = "the data directory is read-only" if read_only else None
            await self._open_as(name, url, base, declarations, reason)
        except DatabaseUnavailableError as exc:
            unreadable = isinstance(exc, CorruptDatabaseError)
            if unreadable or path is None or read_only or _no_database_yet(path):
                raise
            if not disk_full(path):
                raise
            # SQLite cannot even make the files it reads through (-wal, -shm) on a full
            # disk: read the database as it is, and say why writes fail.
            await self._open[name].engine.dispose()
            await self._open_as(name, url, base, declarations, DISK_FULL)

    async def _open_as(
        self,
        name: str,
        url: str,
        base: type[DeclarativeBase],
        declarations: tuple[ModelsDeclaration, ...],
        read_only: str | None,
    ) -> None:
        """Open ``url`` (to read only, for the reason given) and bring its schema to head."""
        label = display_location(url)
        engine = create_engine_for(
            url, self.busy_timeout_s, self._echo, read_only is not None, read_only == DISK_FULL
        )
        database = OpenDatabase(
            name, url, label, engine, base.metadata, declarations, {}, read_only
        )
        self._open[name] = database
        try:
            database.revisions = await self._ensure_schema(database)
        except DatabaseError:
            raise
        except Exception as exc:
            translated = self.translate(exc, name)
            if translated is None:
                raise
            raise translated from exc

    async def _ensure_schema(self, db: OpenDatabase) -> dict[str, int]:
        def plan(conn: Connection) -> SchemaPlan:
            return plan_schema(conn, db.metadata, db.declarations, db.label)

        async with db.readonly_engine.connect() as conn:
            current = await conn.run_sync(plan)
            await conn.rollback()
        if current.needs_write and db.read_only:
            raise SchemaMismatchError(
                f"{db.label} needs its tables created or upgraded, but it is read-only; "
                "run analyzer once with write access to it"
            )
        if current.needs_write:
            async with db.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # SQLite's write transaction holds the database's lock; PostgreSQL's
                    # would let two processes create one table at once.
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK}
                    )
                # Plan again under the write lock: another process may have done it.
                current = await conn.run_sync(plan)
                if current.needs_write:
                    await conn.run_sync(
                        lambda c: apply_schema(c, db.metadata, db.declarations, current, db.label)
                    )
        return {d.key: d.head for d in db.declarations}

    async def dispose(self) -> None:
        for database in self._open.values():
            await database.engine.dispose()
        self._open.clear()
