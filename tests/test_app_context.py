"""AppContext lifecycle, service registry, discovery of third-party modules."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import analyzer.discovery as discovery_module
from analyzer.app_context import AppContext, ContextState
from analyzer.discovery import order_services
from analyzer.errors import (
    ContextStateError,
    DataDirError,
    DependencyCycleError,
    MissingDependencyError,
    UnknownServiceError,
)
from analyzer.module_api import ServiceSpec
from analyzer.settings import Settings, resolve_settings
from tests.conftest import PLUGIN
from tests.helpers import run


@pytest.mark.sqlite_only("checks the SQLite files it creates")
def test_start_creates_both_databases_in_the_data_dir(settings: Settings) -> None:
    async def scenario() -> list[str]:
        async with AppContext(settings) as app:
            assert app.state is ContextState.RUNNING
            return app.get_service("core.database.service").names

    names = run(scenario())
    assert {"framework", "semantic_core"} <= set(names)
    assert (settings.data_dir / "framework.db").exists()
    assert (settings.data_dir / "semantic_core.db").exists()


def test_constructing_a_context_touches_no_file(settings: Settings) -> None:
    AppContext(settings)
    assert not settings.data_dir.exists()


def test_unknown_service_lists_the_registered_names(settings: Settings) -> None:
    async def scenario() -> None:
        async with AppContext(settings) as app:
            app.get_service("no.such.service")

    with pytest.raises(UnknownServiceError) as caught:
        run(scenario())
    assert "no.such.service" in caught.value.message
    assert "core.database.crud_service" in caught.value.message


def test_a_closed_context_cannot_be_used_or_reopened(settings: Settings) -> None:
    async def scenario() -> AppContext:
        async with AppContext(settings) as app:
            pass
        return app

    app = run(scenario())
    assert app.state is ContextState.CLOSED
    with pytest.raises(ContextStateError, match="closed"):
        app.get_service("core.database.service")
    with pytest.raises(ContextStateError, match="closed"):
        run(app.start())


def test_a_dependency_cycle_names_both_ends() -> None:
    specs = [
        ServiceSpec("a", lambda app: None, depends_on=("b",)),
        ServiceSpec("b", lambda app: None, depends_on=("a",)),
    ]
    with pytest.raises(DependencyCycleError, match="a -> b -> a"):
        order_services(specs)


def test_a_missing_dependency_names_both_ends() -> None:
    specs = [ServiceSpec("search", lambda app: None, depends_on=("vectors",))]
    with pytest.raises(MissingDependencyError, match="'search' depends on 'vectors'"):
        order_services(specs)


def test_services_start_in_dependency_order_whatever_the_declaration_order() -> None:
    specs = [
        ServiceSpec("c", lambda app: None, depends_on=("b",)),
        ServiceSpec("b", lambda app: None, depends_on=("a",)),
        ServiceSpec("a", lambda app: None),
    ]
    assert [s.name for s in order_services(specs)] == ["a", "b", "c"]


def test_an_entry_point_module_gets_its_database_and_services(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = EntryPoint(name="notes", value=PLUGIN, group=discovery_module.ENTRY_POINT_GROUP)
    monkeypatch.setattr(discovery_module, "entry_points", lambda group: [entry])

    async def scenario() -> object:
        async with AppContext(settings) as app:
            notes = app.get_service("notes.service")
            assert notes.initialized
            return notes

    notes = run(scenario())
    assert notes.closed
    assert (settings.data_dir / "plugin_notes.db").exists()


def test_unwritable_data_dir_is_reported_with_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings = Settings(data_dir=blocker / "data")
    with pytest.raises(DataDirError) as caught:
        run(AppContext(settings).start())
    assert str(blocker / "data") in caught.value.message
    assert "--data-dir" in caught.value.message


def test_settings_precedence_flag_over_environment(tmp_path: Path) -> None:
    env = {"ANALYZER_DATA_DIR": str(tmp_path / "env"), "ANALYZER_DB_SEMANTIC_CORE_URL": "x://y"}
    assert resolve_settings(None, env).data_dir == tmp_path / "env"
    assert resolve_settings(tmp_path / "flag", env).data_dir == tmp_path / "flag"
    assert resolve_settings(None, env).database_url("semantic_core") == "x://y"
    assert resolve_settings(None, env).database_url("framework").endswith("env/framework.db")


def test_a_lazy_service_is_built_on_first_use_and_closed(settings: Settings) -> None:
    built: list[str] = []

    class Heavy:
        closed = False

        def work(self) -> str:
            return "done"

        async def close(self) -> None:
            Heavy.closed = True

    def factory(app: AppContext) -> Heavy:
        built.append("heavy")
        return Heavy()

    discovery = discover_with(ServiceSpec("heavy", factory, lazy=True))

    async def scenario() -> str:
        async with AppContext(settings, discovery=discovery) as app:
            assert built == []
            return app.get_service("heavy").work()

    assert run(scenario()) == "done"
    assert built == ["heavy"] and Heavy.closed


def discover_with(extra: ServiceSpec):  # noqa: ANN201
    from analyzer.discovery import discover, order_services

    found = discover()
    found.services = order_services([*found.services, extra])
    return found
