"""The ``analyzer`` entry point: hand the command to a resident server, or run it here.

Standard library only (and platformdirs for the default data directory): this
module decides before anything heavy is imported. When a server runs for the same
data directory and the same analyzer version (``analyzer serve``), the command runs
there and its stdout, stderr and exit code are relayed byte for byte; otherwise,
or when the server cannot take it (stale, another version, other settings, a usage
error it leaves to the local parser), the command runs in this process.

``ANALYZER_SERVER``: ``on`` (the default) uses a running server; ``off`` (or
``--no-server``) never does; ``auto`` also starts one in the background when none
runs, so the next command is fast. The default never starts a process on its own:
a tool that leaves a 300 MB process behind unasked would surprise people.
"""

from __future__ import annotations

import os
import sys

from analyzer import __version__
from analyzer.client import locate
from analyzer.client.command_line import forwardable, read_command_line, without_no_server
from analyzer.client.forward import forward, start_in_background

SERVER_MODES = ("on", "off", "auto")


def main() -> None:
    _check_standard_streams()
    argv, no_server = without_no_server(sys.argv[1:])
    line = read_command_line(argv)
    if line.version:
        sys.stdout.write(f"analyzer {__version__}\n")
        return
    mode = os.environ.get("ANALYZER_SERVER", "on").strip().lower() or "on"
    if mode not in SERVER_MODES:
        sys.stderr.write(
            f"error: ANALYZER_SERVER={mode!r} is not one of on, off, auto; "
            "set one of them or unset it\n"
        )
        sys.exit(1)
    if not no_server and mode != "off" and forwardable(line):
        data_dir = locate.data_dir_from(line.data_dir, os.environ)
        code = forward(data_dir, argv, os.environ)
        if code is not None:
            sys.exit(code)
        if mode == "auto":
            start_in_background(data_dir)
    run_here(argv)


def _check_standard_streams() -> None:
    """Standard output closed when the process started (``analyzer ... >&-``) leaves the
    command nowhere to write: say so and stop, as ``ls >&-`` does. A closed standard error
    only loses the error lines; the exit code still tells."""
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process
    if sys.stdout is None:
        sys.stderr.write(
            "error: standard output is closed; give analyzer somewhere to write, e.g. >/dev/null\n"
        )
        sys.exit(1)


def run_here(argv: list[str]) -> None:
    from analyzer.cli.app import main as cli_main

    sys.argv = [sys.argv[0], *argv]
    cli_main()
