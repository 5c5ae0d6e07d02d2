"""The resident service (``analyzer serve``): one running AppContext per data directory.

It imports the whole framework, so nothing on the client's path imports it.

- ``resident``: the server process: the socket, the requests, idle timeout, signals;
- ``streams``: a request's stdout and stderr, sent to its client as it writes;
- ``http``: the HTTP API (optional extra ``server``);
- ``mcp``: the Model Context Protocol tools for agents (optional extra ``server``);
- ``watch``: keeping a collection current from file events.
"""
