"""analyzer: a semantic document analyzer for the command line."""

__version__ = "0.1.0"
