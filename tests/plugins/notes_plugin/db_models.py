from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from modules.core.database.db_models import SQLiteJSON, get_database_base

DATABASE_NAME = "plugin_notes"

Base = get_database_base(DATABASE_NAME)


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[str] = mapped_column(String(2000), default="")
    rank: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list[str]] = mapped_column(SQLiteJSON, default=list)
