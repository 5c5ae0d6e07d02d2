"""Settings: where data lives and how databases are reached.

Precedence: command-line flags > environment variables (``ANALYZER_*``) > defaults.
Resolving settings touches no file; the data directory is created when the
application context starts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.errors import ConfigurationError

ENV_PREFIX = "ANALYZER_"
DEFAULT_BUSY_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Settings:
    """Everything the application context needs to start."""

    data_dir: Path
    database_urls: Mapping[str, str] = field(default_factory=dict)
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    echo_sql: bool = False

    def database_url(self, name: str) -> str:
        """The URL of database ``name``: an override, or a SQLite file in the data dir."""
        override = self.database_urls.get(name)
        if override:
            return override
        return f"sqlite+aiosqlite:///{self.database_path(name)}"

    def database_path(self, name: str) -> Path:
        return self.data_dir / f"{name}.db"


def default_data_dir() -> Path:
    """The platform's user data directory for analyzer (imported lazily: --help stays fast)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("analyzer", appauthor=False))


def database_urls_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``ANALYZER_DB_<NAME>_URL=...`` overrides the URL of database ``<name>``."""
    urls: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith(f"{ENV_PREFIX}DB_") and key.endswith("_URL") and value:
            name = key[len(f"{ENV_PREFIX}DB_") : -len("_URL")].lower()
            if name:
                urls[name] = value
    return urls


def _float_from_env(environ: Mapping[str, str], key: str, default: float) -> float:
    raw = environ.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # nan and inf parse as floats, then fail as a timeout
        raise ConfigurationError(f"{key}={raw!r} is not a number; set it to seconds, e.g. 5")
    if value < 0:
        raise ConfigurationError(f"{key}={raw!r} is negative; set it to seconds, e.g. 5")
    return value


def resolve_settings(
    data_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build settings from flags (arguments), then the environment, then defaults."""
    env = os.environ if environ is None else environ
    if data_dir is None:
        env_dir = env.get(f"{ENV_PREFIX}DATA_DIR")
        data_dir = Path(env_dir) if env_dir else default_data_dir()
    return Settings(
        data_dir=data_dir.expanduser(),
        database_urls=database_urls_from_env(env),
        busy_timeout_s=_float_from_env(env, f"{ENV_PREFIX}BUSY_TIMEOUT", DEFAULT_BUSY_TIMEOUT_S),
        echo_sql=env.get(f"{ENV_PREFIX}ECHO_SQL", "") not in ("", "0", "false"),
    )
