"""The README stays honest: every command has help text and a README entry."""

from __future__ import annotations

from pathlib import Path

import typer.main

from analyzer.cli.app import app

README = Path(__file__).resolve().parents[1] / "README.md"


def command_names() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_every_command_has_help_text() -> None:
    group = typer.main.get_command(app)
    missing = [name for name, cmd in group.commands.items() if not (cmd.help or "").strip()]  # type: ignore[attr-defined]
    assert missing == []


def test_every_command_is_documented_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [name for name in command_names() if f"analyzer {name}" not in text]
    assert missing == []


def test_the_readme_holds_the_setup_and_test_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert 'pip install -e ".[test]"' in text
    assert "ruff check . && python -m pytest -q" in text
