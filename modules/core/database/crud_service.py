"""CRUDService: the one way documents and other rows are read and written.

The database is resolved from the model class. Every method can join a caller's
transaction (``session=``) so several writes commit together; without one, each
call is its own transaction. Driver errors come out as ``analyzer.errors`` types.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, func, insert, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from analyzer.errors import NotFoundError, UsageError
from modules.core.database.database_infrastructure import dialect_insert
from modules.core.database.service import DatabaseService

Model = TypeVar("Model")
DEFAULT_BATCH_SIZE = 500
Filters = Mapping[str, Any]
OrderBy = str | Sequence[str] | None


class CRUDService:
    def __init__(self, database: DatabaseService) -> None:
        self._database = database

    @asynccontextmanager
    async def transaction(self, model: type[Any]) -> AsyncIterator[AsyncSession]:
        """One write transaction on the database of ``model``; pass it as ``session=``."""
        async with self._database.session(self._database.database_for(model)) as session:
            yield session

    async def serialize(self, model: type[Any], key: int, *, session: AsyncSession) -> None:
        """Queue this write transaction behind any other that serializes on ``key`` of
        ``model``'s table, until it ends: two writers of one collection take turns.

        SQLite's write transactions queue already (each begins IMMEDIATE, holding the
        database's write lock); PostgreSQL takes a transaction-level advisory lock."""
        name = self._database.database_for(model)
        if self._database.dialect(name) == "postgresql":
            space = zlib.crc32(model.__tablename__.encode()) & 0x7FFFFFFF
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": space, "key": key}
            )

    def writable(self, model: type[Any]) -> bool:
        """Whether rows of ``model`` can be written (its database is not opened read-only)."""
        return self.why_read_only(model) is None

    def why_read_only(self, model: type[Any]) -> str | None:
        """Why the database of ``model`` can only be read, or None."""
        return self._database.read_only(self._database.database_for(model))

    @asynccontextmanager
    async def snapshot(self, model: type[Any]) -> AsyncIterator[AsyncSession]:
        """One read transaction on the database of ``model`` for every read in the block."""
        async with self._database.snapshot(self._database.database_for(model)) as session:
            yield session

    @asynccontextmanager
    async def _use(
        self, model: type[Any], session: AsyncSession | None, write: bool
    ) -> AsyncIterator[AsyncSession]:
        if session is not None:
            yield session
            return
        name = self._database.database_for(model)
        opener = self._database.session if write else self._database.read_session
        async with opener(name) as own:
            yield own

    async def create(self, obj: Model, *, session: AsyncSession | None = None) -> Model:
        async with self._use(type(obj), session, write=True) as s:
            s.add(obj)
            await s.flush()
        return obj

    async def create_many(
        self, objects: Sequence[Model], *, session: AsyncSession | None = None
    ) -> Sequence[Model]:
        """Insert ORM objects in one flush (one batched statement per table); keys are set."""
        if not objects:
            return objects
        async with self._use(type(objects[0]), session, write=True) as s:
            s.add_all(objects)
            await s.flush()
        return objects

    async def values(
        self,
        model: type[Any],
        columns: Sequence[str],
        *,
        filters: Filters | None = None,
        where: Sequence[ColumnElement[bool]] = (),
        order_by: OrderBy = None,
        session: AsyncSession | None = None,
    ) -> list[tuple[Any, ...]]:
        """Only the named columns, as tuples: for scans that need a few fields of many rows."""
        selected = [_column(model, name) for name in columns]
        query = _filtered(select(*selected), model, filters, where)
        query = query.order_by(*_order_clauses(model, order_by))
        async with self._use(model, session, write=False) as s:
            return [tuple(row) for row in (await s.execute(query)).all()]

    async def get(
        self, model: type[Model], key: Any, *, session: AsyncSession | None = None
    ) -> Model:
        async with self._use(model, session, write=False) as s:
            found = await s.get(model, key)
        if found is None:
            raise NotFoundError(
                f"no {model.__name__} with key {key!r}; list them to see what exists"
            )
        return found

    async def find(
        self, model: type[Model], filters: Filters, *, session: AsyncSession | None = None
    ) -> Model | None:
        """The first row matching ``filters``, or None."""
        rows = await self.list(model, filters=filters, limit=1, session=session)
        return rows[0] if rows else None

    async def list(
        self,
        model: type[Model],
        *,
        filters: Filters | None = None,
        where: Sequence[ColumnElement[bool]] = (),
        order_by: OrderBy = None,
        limit: int | None = None,
        offset: int = 0,
        session: AsyncSession | None = None,
    ) -> list[Model]:
        query = _filtered(select(model), model, filters, where)
        query = query.order_by(*_order_clauses(model, order_by)).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        async with self._use(model, session, write=False) as s:
            return list((await s.scalars(query)).all())

    async def count(
        self,
        model: type[Any],
        *,
        filters: Filters | None = None,
        where: Sequence[ColumnElement[bool]] = (),
        session: AsyncSession | None = None,
    ) -> int:
        query = _filtered(select(func.count()).select_from(model), model, filters, where)
        async with self._use(model, session, write=False) as s:
            return int((await s.execute(query)).scalar_one())

    async def count_by(
        self,
        model: type[Any],
        column: str,
        *,
        filters: Filters | None = None,
        session: AsyncSession | None = None,
    ) -> dict[Any, int]:
        """Rows per value of ``column`` (one GROUP BY), for the values that have any."""
        key = _column(model, column)
        query = _filtered(select(key, func.count()).select_from(model), model, filters, ())
        async with self._use(model, session, write=False) as s:
            return {value: int(n) for value, n in (await s.execute(query.group_by(key))).all()}

    async def exists(
        self, model: type[Any], filters: Filters, *, session: AsyncSession | None = None
    ) -> bool:
        query = _filtered(select(1).select_from(model), model, filters, ()).limit(1)
        async with self._use(model, session, write=False) as s:
            return (await s.execute(query)).first() is not None

    async def update(
        self,
        model: type[Model],
        key: Any,
        values: Mapping[str, Any],
        *,
        session: AsyncSession | None = None,
    ) -> Model:
        _check_columns(model, values)
        async with self._use(model, session, write=True) as s:
            found = await s.get(model, key)
            if found is None:
                raise NotFoundError(f"no {model.__name__} with key {key!r} to update")
            for column, value in values.items():
                setattr(found, column, value)
            await s.flush()
        return found

    async def update_where(
        self,
        model: type[Any],
        filters: Filters,
        values: Mapping[str, Any],
        *,
        session: AsyncSession | None = None,
    ) -> int:
        _check_columns(model, values)
        statement = _filtered(update(model), model, filters, ()).values(**values)
        async with self._use(model, session, write=True) as s:
            return int((await s.execute(statement)).rowcount or 0)  # type: ignore[attr-defined]

    async def delete(
        self, model: type[Any], key: Any, *, session: AsyncSession | None = None
    ) -> None:
        async with self._use(model, session, write=True) as s:
            found = await s.get(model, key)
            if found is None:
                raise NotFoundError(f"no {model.__name__} with key {key!r} to delete")
            await s.delete(found)
            await s.flush()

    async def delete_where(
        self, model: type[Any], filters: Filters, *, session: AsyncSession | None = None
    ) -> int:
        statement = _filtered(delete(model), model, filters, ())
        async with self._use(model, session, write=True) as s:
            return int((await s.execute(statement)).rowcount or 0)  # type: ignore[attr-defined]

    async def bulk_insert(
        self,
        model: type[Any],
        rows: Sequence[Mapping[str, Any]],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        session: AsyncSession | None = None,
    ) -> int:
        """Insert rows in batches, one executemany statement per batch."""
        async with self._use(model, session, write=True) as s:
            for batch in _batches(rows, batch_size):
                await s.execute(insert(model), batch)
        return len(rows)

    async def bulk_upsert(
        self,
        model: type[Any],
        rows: Sequence[Mapping[str, Any]],
        *,
        conflict_columns: Sequence[str],
        update_columns: Sequence[str] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        session: AsyncSession | None = None,
    ) -> int:
        """Insert rows, or update ``update_columns`` where ``conflict_columns`` already match."""
        if not rows:
            return 0
        name = self._database.database_for(model)
        table = model.__table__
        columns = list(update_columns or [c for c in rows[0] if c not in conflict_columns])
        async with self._use(model, session, write=True) as s:
            for batch in _batches(rows, batch_size):
                statement = dialect_insert(self._database.dialect(name), table).values(list(batch))
                if columns:
                    statement = statement.on_conflict_do_update(
                        index_elements=list(conflict_columns),
                        set_={c: statement.excluded[c] for c in columns},
                    )
                else:
                    statement = statement.on_conflict_do_nothing(
                        index_elements=list(conflict_columns)
                    )
                await s.execute(statement)
        return len(rows)


def _batches(rows: Sequence[Mapping[str, Any]], size: int) -> list[list[Mapping[str, Any]]]:
    if size < 1:
        raise UsageError(f"batch size must be at least 1, got {size}")
    return [list(rows[i : i + size]) for i in range(0, len(rows), size)]


def _column(model: type[Any], name: str) -> Any:
    mapper = inspect(model)
    if name not in mapper.columns:
        known = ", ".join(mapper.columns.keys())
        raise UsageError(f"{model.__name__} has no column {name!r}; columns are: {known}")
    return mapper.columns[name]


def _check_columns(model: type[Any], values: Mapping[str, Any]) -> None:
    for name in values:
        _column(model, name)


def _filtered(
    query: Any, model: type[Any], filters: Filters | None, where: Sequence[ColumnElement[bool]]
) -> Any:
    """Equality filters by column name (a list or tuple value means IN), plus raw clauses."""
    for name, value in (filters or {}).items():
        column = _column(model, name)
        if isinstance(value, (list, tuple, set, frozenset)):
            query = query.where(column.in_(list(value)))
        elif value is None:
            query = query.where(column.is_(None))
        else:
            query = query.where(column == value)
    for clause in where:
        query = query.where(clause)
    return query


def _order_clauses(model: type[Any], order_by: OrderBy) -> list[Any]:
    """``"name"`` ascending, ``"-name"`` descending; default: primary key."""
    if order_by is None:
        return list(inspect(model).primary_key)
    names = [order_by] if isinstance(order_by, str) else list(order_by)
    clauses = []
    for name in names:
        descending = name.startswith("-")
        column = _column(model, name.lstrip("-"))
        clauses.append(column.desc() if descending else column.asc())
    return clauses
