"""Metabase settings, resolved the way Metabase resolves them.

An environment variable (``MB_`` + the key upper-cased, ``-`` -> ``_``) always wins and is never
written to the app DB; otherwise the value stored in the ``setting`` table; otherwise the default.
Add a setting by adding a ``Setting`` to ``SETTINGS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from double import appdb


class Setting(NamedTuple):
    key: str
    default: str | None = None

    @property
    def env_var(self) -> str:
        return "MB_" + self.key.upper().replace("-", "_")


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in (
        Setting("site-name", "Metabase"),
        Setting("site-url"),
        Setting("site-locale", "en"),
        Setting("setup-token"),
        Setting("admin-email"),
        Setting("anon-tracking-enabled", "true"),
        # The lockdown settings of routes/setting.py (content-facts.md §7).
        Setting("enable-public-sharing", "true"),
        Setting("enable-embedding", "false"),
        Setting("enable-embedding-static", "false"),
        Setting("enable-embedding-interactive", "false"),
        Setting("enable-embedding-sdk", "false"),
        Setting("check-for-updates", "true"),
        Setting("report-timezone"),
        Setting("enable-password-login", "true"),
        Setting("session-timeout"),
    )
}


def from_env(env: Mapping[str, str], key: str) -> str | None:
    """The environment's value for ``key``, or None when the environment does not set it."""
    value = env.get(SETTINGS[key].env_var, "")
    return value or None


def get(cur, env: Mapping[str, str], key: str) -> str | None:
    """The effective value of ``key``: environment, then app DB, then default."""
    value = from_env(env, key)
    if value is not None:
        return value
    value = appdb.get_setting(cur, key)
    if value is not None:
        return value
    return SETTINGS[key].default


def put(cur, key: str, value: str | None) -> None:
    """Store ``key`` in the app DB (None deletes it). An environment override still wins on read."""
    if key not in SETTINGS:
        raise KeyError(key)
    appdb.set_setting(cur, key, value)
