"""The single contact surface between modules and the database framework.

Modules import database things from here and nowhere else. Declaring a database:

    from modules.core.database.db_models import get_database_base

    DATABASE_NAME = "notes"
    Base = get_database_base(DATABASE_NAME)

    class Note(Base):
        __tablename__ = "notes"
        ...

Optional in the same file: ``SCHEMA_REVISION = 2`` and
``MIGRATIONS = {2: upgrade_to_2}`` where ``upgrade_to_2(connection)`` runs inside
the upgrade transaction.
"""

from __future__ import annotations

from modules.core.database.database_infrastructure import (
    Migration,
    SQLiteJSON,
    UTCDateTime,
    get_database_base,
    utcnow,
)

__all__ = ["Migration", "SQLiteJSON", "UTCDateTime", "get_database_base", "utcnow"]
