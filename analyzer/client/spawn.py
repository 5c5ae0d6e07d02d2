"""Starting a server in the background, detached from the terminal. Standard library only."""

from __future__ import annotations

import subprocess
import sys


def detached_server(data_dir: str, options: list[str], report: bool) -> subprocess.Popen[str]:
    """``analyzer serve --foreground --detached`` in a session of its own.

    ``report``: keep its stdout and stderr as pipes, to read the line it prints once ready
    (or its error); otherwise nothing is read and they go nowhere.
    """
    command = [sys.executable, "-m", "analyzer", "--data-dir", data_dir, "serve"]
    streams = subprocess.PIPE if report else subprocess.DEVNULL
    return subprocess.Popen(
        [*command, *options, "--foreground", "--detached"],
        stdin=subprocess.DEVNULL,
        stdout=streams,
        stderr=streams,
        start_new_session=True,
        close_fds=True,
        text=True,
        cwd="/",  # paths it gets are absolute; it must not keep a mount busy
    )
