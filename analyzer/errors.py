"""Errors that analyzer reports to its user.

Every expected failure is an ``AnalyzerError``: it carries a one-line message that
names the thing at fault and suggests the fix, and the process exit code the CLI
returns for it. The CLI translates these once, at its edge; anything else is a bug
and keeps its traceback.

    AnalyzerError (exit 1)
    ├── UsageError (exit 2)
    ├── ConfigurationError
    │   └── DataDirError
    ├── StartupError
    │   ├── UnknownServiceError
    │   ├── MissingDependencyError
    │   └── DependencyCycleError
    ├── DatabaseError
    │   ├── DatabaseUnavailableError
    │   │   ├── CorruptDatabaseError
    │   │   ├── ReadOnlyError
    │   │   └── DiskFullError
    │   ├── DatabaseBusyError
    │   ├── SchemaMismatchError
    │   ├── NotFoundError
    │   └── ConflictError
    └── ContextStateError

Modules add their own, next to the code that raises them:

    AnalyzerError
    ├── semantic_core.collections: CollectionNotFoundError, EmptyCollectionError,
    │                               ModelMismatchError, CollectionDroppedError
    ├── semantic_core.embeddings.registry: ModelError
    ├── semantic_core.analysis.corpus: DocumentNotFoundError, AmbiguousDocumentError
    └── semantic_core.analysis.topics: TooFewDocumentsError
"""

from __future__ import annotations


class AnalyzerError(Exception):
    """Base of every error analyzer reports to its user."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(AnalyzerError):
    """The command line asks for something that cannot be done as asked."""

    exit_code = 2


class ConfigurationError(AnalyzerError):
    """A setting (flag, environment variable) has a value that cannot work."""


class DataDirError(ConfigurationError):
    """The data directory cannot be created or written."""


class StartupError(AnalyzerError):
    """The application could not be assembled from its modules."""


class UnknownServiceError(StartupError):
    """A service name that no module registered."""


class MissingDependencyError(StartupError):
    """A service depends on a service that no module registered."""


class DependencyCycleError(StartupError):
    """Services depend on each other in a circle."""


class DatabaseError(AnalyzerError):
    """A database could not do what was asked."""


class DatabaseUnavailableError(DatabaseError):
    """A database cannot be opened or reached."""


class CorruptDatabaseError(DatabaseUnavailableError):
    """A database file is damaged or is not a database at all."""


class ReadOnlyError(DatabaseUnavailableError):
    """A write to a database that can only be read (a read-only data directory or mount)."""


class DiskFullError(DatabaseUnavailableError):
    """A write that found no space left on its disk."""


class DatabaseBusyError(DatabaseError):
    """Another process held a lock on the database for longer than the busy timeout."""


class SchemaMismatchError(DatabaseError):
    """A database's schema does not match what this version of analyzer expects."""


class NotFoundError(DatabaseError):
    """A row that was asked for does not exist."""


class ConflictError(DatabaseError):
    """A write would break a uniqueness or integrity rule."""


class ContextStateError(AnalyzerError):
    """The application context was used outside its running state."""
