"""The command-line interface: thin commands over services."""
