"""Configuration from the environment, read once at start-up like Metabase does.

Variables (Metabase's names and defaults unless marked "double only"):

    MB_DB_TYPE                 must be ``postgres`` (Metabase's default, h2, is not supported)
    MB_DB_HOST                 default ``localhost``
    MB_DB_PORT                 default 5432
    MB_DB_DBNAME               required
    MB_DB_USER / MB_DB_USER_FILE
    MB_DB_PASS / MB_DB_PASS_FILE
    MB_DB_CONNECTION_TIMEOUT_MS
                               how long init keeps trying to reach the app DB (default 10000)
    MB_APPLICATION_DB_MAX_CONNECTION_POOL_SIZE
                               default 15
    MB_JETTY_HOST              default ``0.0.0.0`` (as in Metabase's Docker image)
    MB_JETTY_PORT              default 3000
    MB_ENCRYPTION_SECRET_KEY   optional; when set, at least 16 characters; encrypts connection details
    MB_LOAD_SAMPLE_CONTENT     default true: a fresh install gets the "Sample Database" (H2, never queried)
    MB_DISABLE_SESSION_THROTTLE
                               default false: 10 failed logins per username, or 50 per source
                               address, in an hour throttle it
    MB_SOURCE_ADDRESS_HEADER   header naming the source address (default X-Forwarded-For, last entry)
    MAX_SESSION_AGE            session lifetime in minutes (default 20160, 14 days)
    MB_DB_QUERY_TIMEOUT_MINUTES
                               statement timeout of queries on registered databases (default 20)
    MB_DOUBLE_INIT_SECONDS     double only: init lasts at least this long (default 3)

Settings that environment variables override (MB_SITE_NAME, MB_SITE_URL, MB_SETUP_TOKEN, ...) are
read by settings.py from ``Config.env``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


class ConfigError(Exception):
    """The environment is not usable; the message is safe to log (it never holds a secret)."""


@dataclasses.dataclass(frozen=True)
class Config:
    db_type: str
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_pass: str = dataclasses.field(repr=False)
    db_connection_timeout: float
    db_pool_size: int
    jetty_host: str
    jetty_port: int
    init_seconds: float
    encryption_key: str = dataclasses.field(repr=False)
    load_sample_content: bool
    session_throttle: bool
    max_session_age_minutes: int
    query_timeout_minutes: float
    env: Mapping[str, str] = dataclasses.field(repr=False)

    @property
    def encryption_key_set(self) -> bool:
        return bool(self.encryption_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        key = env.get("MB_ENCRYPTION_SECRET_KEY", "")
        if key and len(key) < 16:
            raise ConfigError("MB_ENCRYPTION_SECRET_KEY must be at least 16 characters.")
        return cls(
            db_type=env.get("MB_DB_TYPE", "h2").strip().lower(),
            db_host=env.get("MB_DB_HOST", "localhost"),
            db_port=_integer(env, "MB_DB_PORT", 5432),
            db_name=env.get("MB_DB_DBNAME", ""),
            db_user=_value_or_file(env, "MB_DB_USER"),
            db_pass=_value_or_file(env, "MB_DB_PASS"),
            db_connection_timeout=_integer(env, "MB_DB_CONNECTION_TIMEOUT_MS", 10000) / 1000.0,
            db_pool_size=max(1, _integer(env, "MB_APPLICATION_DB_MAX_CONNECTION_POOL_SIZE", 15)),
            jetty_host=env.get("MB_JETTY_HOST", "0.0.0.0"),  # noqa: S104 - Metabase's Docker default
            jetty_port=_integer(env, "MB_JETTY_PORT", 3000),
            init_seconds=_number(env, "MB_DOUBLE_INIT_SECONDS", 3.0),
            encryption_key=key,
            load_sample_content=_boolean(env, "MB_LOAD_SAMPLE_CONTENT", True),
            session_throttle=not _boolean(env, "MB_DISABLE_SESSION_THROTTLE", False),
            max_session_age_minutes=max(1, _integer(env, "MAX_SESSION_AGE", 20160)),
            query_timeout_minutes=_number(env, "MB_DB_QUERY_TIMEOUT_MINUTES", 20.0),
            env=dict(env),
        )

    def app_db_problem(self) -> str | None:
        """Why the app DB settings cannot work (checked during init, like Metabase), or None."""
        if self.db_type != "postgres":
            return (
                f"MB_DB_TYPE={self.db_type!r} is not supported by the Metabase API double: "
                "set MB_DB_TYPE=postgres and MB_DB_HOST, MB_DB_PORT, MB_DB_DBNAME, MB_DB_USER, MB_DB_PASS"
            )
        if not self.db_name:
            return "MB_DB_DBNAME is required when MB_DB_TYPE=postgres"
        if not self.db_user:
            return "MB_DB_USER (or MB_DB_USER_FILE) is required when MB_DB_TYPE=postgres"
        return None


def _value_or_file(env: Mapping[str, str], name: str) -> str:
    """``NAME`` or the content of the file named by ``NAME_FILE`` (Docker secrets), not both."""
    value = env.get(name, "")
    file_name = env.get(f"{name}_FILE", "")
    if value and file_name:
        raise ConfigError(f"error: both {name} and {name}_FILE are set (but are exclusive)")
    if not file_name:
        return value
    try:
        with open(file_name, encoding="utf-8") as handle:
            return handle.read().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{name}_FILE: cannot read {file_name}: {exc.strerror}") from None


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return value


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "false"):
        return raw == "true"
    raise ConfigError(f"{name} must be true or false, got {raw!r}")
