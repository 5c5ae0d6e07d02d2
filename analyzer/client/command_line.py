"""What the client reads of a command line, without Typer: the command, the data
directory, whether the person asked for the version or for help, and whether the
command reads its standard input.

Global options may come before or after the command (``analyzer query x --data-dir D``);
``hoisted`` moves them before it, for the client here and for the CLI's own parser
(``analyzer.cli.app``), so both read a command line the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Commands a server runs; everything else (serve, mcp, --help, --version) is local and cheap.
# The server refuses the others too: it is asked only what a client would forward.
FORWARDED = frozenset(
    {
        "query",
        "similar",
        "show",
        "keywords",
        "topics",
        "duplicates",
        "db-status",
        "ingest",
        "eval",
        "collections",
        "documents",
        "remove",
    }
)
# Global options the CLI accepts after the command too: name -> whether it takes a value.
GLOBAL_OPTIONS = {"--data-dir": True, "--no-server": False, "--debug": False}
HELP_OPTIONS = ("--help", "-h")


@dataclass(frozen=True)
class CommandLine:
    """What the client needs to know of a command line, read without Typer."""

    command: str | None
    data_dir: str | None
    version: bool
    help: bool
    reads_stdin: bool = False


def _global(token: str) -> tuple[bool, bool]:
    """Whether ``token`` is a global option, and whether its value is the next token."""
    name, has_value = token.split("=", 1)[0], "=" in token
    takes_value = GLOBAL_OPTIONS.get(name)
    if takes_value is None or (has_value and not takes_value):
        return False, False
    return True, takes_value and not has_value


def hoisted(argv: Sequence[str]) -> list[str]:
    """``argv`` with the global options given after the command moved before it.

    Nothing after ``--`` moves, and a global option's value stays with it.
    """
    args = list(argv)
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] != "--":
        _, takes_next = _global(args[index])
        index += 2 if takes_next else 1
    front, rest = args[:index], args[index:]
    moved: list[str] = []
    kept: list[str] = []
    position = 0
    while position < len(rest):
        token = rest[position]
        if token == "--":
            kept.extend(rest[position:])
            break
        is_global, takes_next = _global(token)
        if is_global and (not takes_next or position + 1 < len(rest)):
            width = 2 if takes_next else 1
            moved.extend(rest[position : position + width])
            position += width
            continue
        kept.append(token)
        position += 1
    return front + moved + kept


def read_command_line(argv: Sequence[str]) -> CommandLine:
    """The command and global options, wherever the global options are."""
    args = hoisted(argv)
    data_dir, version, index = None, False, 0
    while index < len(args):
        token = args[index]
        if token == "--data-dir" and index + 1 < len(args):
            data_dir, index = args[index + 1], index + 2
            continue
        if token.startswith("--data-dir="):
            data_dir = token.split("=", 1)[1]
        elif token == "--version":
            version = True
        elif not token.startswith("-"):
            break
        index += 1
    command = args[index] if index < len(args) else None
    rest = args[index:]
    end = rest.index("--") if "--" in rest else len(rest)
    wants_help = any(t in HELP_OPTIONS for t in rest[:end]) or command is None
    return CommandLine(command, data_dir, version, wants_help, _reads_stdin(rest[:end]))


def forwardable(line: CommandLine) -> bool:
    """Whether a server may run ``line``: a forwarded command, without --help, that reads
    no standard input (--batch -: the server has none) and names a data directory (an
    empty --data-dir is an error the local parser reports)."""
    return (
        line.command in FORWARDED and not line.help and not line.reads_stdin and line.data_dir != ""
    )


def _reads_stdin(options: Sequence[str]) -> bool:
    """``--batch -``: the queries come from standard input, which only this process has."""
    pairs = zip(options, [*options[1:], ""], strict=False)
    return any(t == "--batch=-" or (t == "--batch" and after == "-") for t, after in pairs)


def without_no_server(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--no-server`` (anywhere before ``--``), and whether it was there."""
    end = list(argv).index("--") if "--" in argv else len(argv)
    head = [token for token in argv[:end] if token != "--no-server"]
    return head + list(argv[end:]), len(head) != end
