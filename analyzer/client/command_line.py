"""What the client reads of a command line, without Typer: the command, the data
directory, and whether the person asked for the version or for help."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandLine:
    """What the client needs to know of a command line, read without Typer."""

    command: str | None
    data_dir: str | None
    version: bool
    help: bool


def read_command_line(argv: Sequence[str]) -> CommandLine:
    """Global options come before the command, as the CLI defines them."""
    data_dir, version, index = None, False, 0
    while index < len(argv):
        token = argv[index]
        if token == "--data-dir" and index + 1 < len(argv):
            data_dir, index = argv[index + 1], index + 2
            continue
        if token.startswith("--data-dir="):
            data_dir = token.split("=", 1)[1]
        elif token == "--version":
            version = True
        elif not token.startswith("-"):
            break
        index += 1
    command = argv[index] if index < len(argv) else None
    rest = argv[index:]
    end = rest.index("--") if "--" in rest else len(rest)
    wants_help = any(t in ("--help", "-h") for t in rest[:end]) or command is None
    return CommandLine(command, data_dir, version, wants_help)


def without_no_server(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--no-server`` (anywhere before ``--``), and whether it was there."""
    end = list(argv).index("--") if "--" in argv else len(argv)
    head = [token for token in argv[:end] if token != "--no-server"]
    return head + list(argv[end:]), len(head) != end
