"""The framework's rules, as tests that fail when a rule is broken."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest
import sqlalchemy

from analyzer.discovery import discover
from modules.core.database.database_infrastructure import NAMING_CONVENTION, get_database_base

REPO = Path(__file__).resolve().parents[1]
FRAMEWORK_DATABASE_PACKAGE = REPO / "modules" / "core" / "database"
FORBIDDEN = "database_infrastructure"


def infrastructure_imports(path: Path) -> list[int]:
    """Line numbers in ``path`` that import the database infrastructure module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        if any(name.split(".")[-1] == FORBIDDEN or f".{FORBIDDEN}." in name for name in names):
            lines.append(node.lineno)
    return lines


def violations(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if FRAMEWORK_DATABASE_PACKAGE in path.parents:
            continue
        found += [f"{path.relative_to(root)}:{line}" for line in infrastructure_imports(path)]
    return found


def test_no_module_outside_the_framework_imports_database_infrastructure() -> None:
    assert violations(REPO / "modules") == []
    assert violations(REPO / "tests" / "plugins") == []


def test_the_import_scan_catches_every_import_form(tmp_path: Path) -> None:
    forms = [
        "from modules.core.database.database_infrastructure import get_database_base",
        "import modules.core.database.database_infrastructure",
        "from modules.core.database import database_infrastructure",
        "import modules.core.database.database_infrastructure as infra",
    ]
    for index, line in enumerate(forms):
        (tmp_path / f"bad{index}.py").write_text(line + "\n")
    (tmp_path / "good.py").write_text("from modules.core.database.db_models import utcnow\n")
    assert len(violations(tmp_path)) == len(forms)


def test_get_database_base_is_idempotent_and_separate_per_name() -> None:
    first = get_database_base("rules_example")
    assert get_database_base("rules_example") is first
    other = get_database_base("rules_other")
    assert other is not first
    assert other.metadata is not first.metadata
    assert first.metadata.naming_convention["uq"] == NAMING_CONVENTION["uq"]


def test_get_database_base_opens_no_engine_and_touches_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = []
    monkeypatch.setattr(sqlalchemy, "create_engine", lambda *a, **k: created.append(a))
    monkeypatch.chdir(tmp_path)
    get_database_base("rules_no_io")
    assert created == []
    assert list(tmp_path.iterdir()) == []


def test_get_database_base_rejects_names_that_cannot_be_files() -> None:
    with pytest.raises(ValueError, match="lowercase"):
        get_database_base("../escape")


def test_reimporting_models_through_the_public_path_is_harmless() -> None:
    first = importlib.import_module("modules.semantic_core.db_models")
    tables = set(first.Base.metadata.tables)
    from modules.semantic_core import db_models as again

    discover()
    discover()
    assert again is first
    assert importlib.import_module("modules.semantic_core.db_models") is first
    assert set(first.Base.metadata.tables) == tables
    assert sys.modules["modules.semantic_core.db_models"] is first


def test_discovery_finds_builtin_databases_and_core_services_in_order() -> None:
    found = discover()
    assert {"framework", "semantic_core"} <= set(found.databases)
    names = [s.name for s in found.services]
    assert names.index("core.database.service") < names.index("core.database.crud_service")


def test_no_extend_existing_anywhere() -> None:
    offenders = [
        str(p.relative_to(REPO))
        for folder in ("analyzer", "modules")
        for p in (REPO / folder).rglob("*.py")
        if "extend_existing" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


def runtime_imports(path: Path, package: str) -> set[str]:
    """Modules of ``package`` that ``path`` imports at run time (TYPE_CHECKING blocks aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for child in block.body
        for node in ast.walk(child)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return {name for name in found if name.split(".")[0] == package}


def test_the_application_shell_has_no_runtime_import_circle() -> None:
    root = REPO / "analyzer"
    modules = {
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): path
        for path in root.rglob("*.py")
    }
    graph = {
        name: runtime_imports(path, "analyzer") & set(modules) for name, path in modules.items()
    }

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for target in graph[node]:
                if target == start:
                    return [*trail, start]
                if target not in trail:
                    stack.append((target, [*trail, target]))
        return None

    assert [cycle for name in graph if (cycle := cycle_from(name))] == []


CLIENT_MAY_IMPORT = {"analyzer", "platformdirs"}


def test_the_client_imports_only_the_standard_library() -> None:
    """The entry point decides before anything heavy loads; platformdirs (pure Python) only
    for the default data directory."""
    client = REPO / "analyzer" / "client"
    stdlib = set(sys.stdlib_module_names)
    found = {}
    for path in sorted(client.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                allowed = top in stdlib or top in CLIENT_MAY_IMPORT
                if top == "analyzer":
                    allowed = name in ("analyzer", "analyzer.cli.app") or name.startswith(
                        "analyzer.client"
                    )
                if not allowed:
                    found[f"{path.name}:{node.lineno}"] = name
    # analyzer.cli.app is imported only to run a command here, after the decision.
    assert found == {}
