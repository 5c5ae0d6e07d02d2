from __future__ import annotations

from typing import Any

from analyzer.module_api import ModuleSpec, ServiceSpec


class NotesService:
    def __init__(self, crud: Any) -> None:
        self.crud = crud
        self.initialized = False
        self.closed = False

    async def initialize(self) -> None:
        self.initialized = True

    async def close(self) -> None:
        self.closed = True


MODULE = ModuleSpec(
    name="notes_plugin",
    version="2.3",
    services=(
        ServiceSpec(
            "notes.service",
            lambda app: NotesService(app.get_service("core.database.crud_service")),
            depends_on=("core.database.crud_service",),
        ),
    ),
)
