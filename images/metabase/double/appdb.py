"""The application database: all of the double's state lives here, on PostgreSQL.

Like Metabase, the double does not create the database itself; it creates its tables at start-up
(``migrate``). Table names follow Metabase's own where one exists (``setting``, ``core_user``).

To add state for a new route: append a ``Migration`` to ``MIGRATIONS`` (never edit a shipped one),
then read and write it through ``AppDB.transaction()``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import psycopg2
import psycopg2.pool

from double.config import Config

log = logging.getLogger("metabase.appdb")

# Any number; it only has to be the same for every double sharing one app DB.
_MIGRATION_LOCK = 5_805_805


class Migration(NamedTuple):
    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "settings and users",
        """
        CREATE TABLE setting (
            key   varchar(254) PRIMARY KEY,
            value text NOT NULL
        );
        CREATE TABLE core_user (
            id            serial PRIMARY KEY,
            email         text NOT NULL UNIQUE,
            first_name    text,
            last_name     text,
            password_hash text NOT NULL,
            is_superuser  boolean NOT NULL DEFAULT false,
            is_active     boolean NOT NULL DEFAULT true,
            date_joined   timestamptz NOT NULL DEFAULT now(),
            last_login    timestamptz
        );
        """,
    ),
)


class AppDBUnavailable(Exception):
    """The app DB does not answer; the message never contains credentials."""


class AppDB:
    """A small thread-safe pool of psycopg2 connections to the app DB."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._slots = threading.BoundedSemaphore(config.db_pool_size)

    def _connect_kwargs(self) -> dict:
        return {
            "host": self._config.db_host,
            "port": self._config.db_port,
            "dbname": self._config.db_name,
            "user": self._config.db_user,
            "password": self._config.db_pass,
            "connect_timeout": 5,
            "application_name": "Metabase API double",
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 2,
        }

    def wait_until_reachable(self, timeout: float, should_stop: Callable[[], bool]) -> None:
        """Open the pool, retrying until ``timeout`` seconds have passed (then AppDBUnavailable)."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                self._pool = psycopg2.pool.ThreadedConnectionPool(
                    0, self._config.db_pool_size, **self._connect_kwargs()
                )
                with self.transaction() as cur:
                    cur.execute("SELECT 1")
                return
            except (psycopg2.Error, AppDBUnavailable) as exc:
                reason = _first_line(exc)
                self.close()
            if should_stop() or time.monotonic() >= deadline:
                raise AppDBUnavailable(
                    f"cannot connect to the application database {self._where()} after {attempt} attempt(s): {reason}"
                )
            log.warning("Application database %s not reachable yet: %s", self._where(), reason)
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    def _where(self) -> str:
        cfg = self._config
        return f"postgres://{cfg.db_host}:{cfg.db_port}/{cfg.db_name}"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg2.extensions.cursor]:
        """A cursor in one transaction: committed on success, rolled back on any exception."""
        if self._pool is None:
            raise AppDBUnavailable("the application database is not connected")
        with self._slots:
            try:
                conn = self._pool.getconn()
            except psycopg2.Error as exc:
                raise AppDBUnavailable(_first_line(exc)) from None
            broken = False
            try:
                with conn, conn.cursor() as cur:
                    yield cur
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
                broken = True
                raise AppDBUnavailable(_first_line(exc)) from None
            finally:
                self._pool.putconn(conn, close=broken or bool(conn.closed))

    def ping(self) -> bool:
        """True when the app DB answers; a dropped pooled connection gets one retry."""
        for _ in range(2):
            try:
                with self.transaction() as cur:
                    cur.execute("SELECT 1")
                return True
            except AppDBUnavailable:
                continue
        return False

    def migrate(self) -> None:
        """Create or upgrade the double's tables (safe when several doubles start at once)."""
        with self.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS double_migration ("
                " version integer PRIMARY KEY,"
                " description text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur.execute("SELECT version FROM double_migration")
            applied = {row[0] for row in cur.fetchall()}
            for migration in MIGRATIONS:
                if migration.version in applied:
                    continue
                log.info("Applying app DB migration %d: %s", migration.version, migration.description)
                cur.execute(migration.sql)
                cur.execute(
                    "INSERT INTO double_migration (version, description) VALUES (%s, %s)",
                    (migration.version, migration.description),
                )

    def close(self) -> None:
        if self._pool is not None:
            with contextlib.suppress(psycopg2.Error):
                self._pool.closeall()
            self._pool = None


# Small queries that several routes share.


def get_setting(cur, key: str) -> str | None:
    cur.execute("SELECT value FROM setting WHERE key = %s", (key,))
    row = cur.fetchone()
    return None if row is None else row[0]


def set_setting(cur, key: str, value: str | None) -> None:
    if value is None:
        cur.execute("DELETE FROM setting WHERE key = %s", (key,))
    else:
        cur.execute(
            "INSERT INTO setting (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, value),
        )


def has_user(cur) -> bool:
    """Metabase's ``has-user-setup``: true once any user exists."""
    cur.execute("SELECT EXISTS (SELECT 1 FROM core_user)")
    return bool(cur.fetchone()[0])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
