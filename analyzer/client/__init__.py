"""The ``analyzer`` client: everything that runs before the command is handed on.

Standard library only (and platformdirs for the default data directory), so the
entry point decides fast whether a resident server runs the command:

- ``main``: the entry point;
- ``command_line``: what the client reads of a command line, without Typer;
- ``forward``: talking to a server: a command, a status or a stop;
- ``protocol``: the frames on the wire; ``locate``: the socket, lock and log files.

A test keeps this package free of Typer, SQLAlchemy, numpy and rich.
"""
