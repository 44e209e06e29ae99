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

from double.access_schema import SQL as ACCESS_SQL
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
    Migration(
        2,
        "groups, sessions, API keys, databases and their metadata, content, request journal",
        """
        ALTER TABLE core_user ALTER COLUMN password_hash DROP NOT NULL;
        ALTER TABLE core_user ADD COLUMN type text NOT NULL DEFAULT 'personal';
        ALTER TABLE core_user ADD COLUMN locale text;
        ALTER TABLE core_user ADD COLUMN is_installer boolean NOT NULL DEFAULT false;
        ALTER TABLE core_user ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

        CREATE TABLE permissions_group (
            id               integer PRIMARY KEY,
            name             text NOT NULL UNIQUE,
            magic_group_type text
        );
        INSERT INTO permissions_group (id, name, magic_group_type)
        VALUES (1, 'All Users', 'all-internal-users'), (2, 'Administrators', 'admin');
        CREATE TABLE permissions_group_membership (
            user_id  integer NOT NULL REFERENCES core_user (id) ON DELETE CASCADE,
            group_id integer NOT NULL REFERENCES permissions_group (id) ON DELETE CASCADE,
            PRIMARY KEY (user_id, group_id)
        );

        -- Session ids and API keys are stored hashed, never in clear.
        CREATE TABLE core_session (
            key_hashed text PRIMARY KEY,
            user_id    integer NOT NULL REFERENCES core_user (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE api_key (
            id         serial PRIMARY KEY,
            user_id    integer NOT NULL REFERENCES core_user (id),
            name       text NOT NULL UNIQUE,
            key_prefix varchar(7) NOT NULL UNIQUE,
            key_hashed text NOT NULL,
            created_by integer REFERENCES core_user (id),
            updated_by integer REFERENCES core_user (id),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE collection (
            id                serial PRIMARY KEY,
            entity_id         char(21) NOT NULL UNIQUE,
            name              text NOT NULL,
            description       text,
            parent_id         integer REFERENCES collection (id),
            archived          boolean NOT NULL DEFAULT false,
            namespace         text,
            authority_level   text,
            type              text,
            personal_owner_id integer UNIQUE REFERENCES core_user (id) ON DELETE CASCADE,
            created_at        timestamptz NOT NULL DEFAULT now()
        );

        -- details: JSON text, or its encryption when MB_ENCRYPTION_SECRET_KEY is set (crypto.py).
        CREATE TABLE metabase_database (
            id                          serial PRIMARY KEY,
            name                        text NOT NULL,
            engine                      text NOT NULL,
            details                     text NOT NULL,
            description                 text,
            caveats                     text,
            points_of_interest          text,
            is_sample                   boolean NOT NULL DEFAULT false,
            is_full_sync                boolean NOT NULL DEFAULT true,
            is_on_demand                boolean NOT NULL DEFAULT false,
            auto_run_queries            boolean NOT NULL DEFAULT true,
            cache_ttl                   integer,
            initial_sync_status         text NOT NULL DEFAULT 'incomplete',
            metadata_sync_schedule      text NOT NULL,
            cache_field_values_schedule text NOT NULL,
            settings                    jsonb NOT NULL DEFAULT '{}',
            dbms_version                jsonb,
            timezone                    text,
            creator_id                  integer REFERENCES core_user (id),
            created_at                  timestamptz NOT NULL DEFAULT now(),
            updated_at                  timestamptz NOT NULL DEFAULT now()
        );
        -- What a sync found readable; rows that vanish are kept with active = false (stable ids).
        CREATE TABLE metabase_table (
            id           serial PRIMARY KEY,
            db_id        integer NOT NULL REFERENCES metabase_database (id) ON DELETE CASCADE,
            schema       text NOT NULL,
            name         text NOT NULL,
            display_name text NOT NULL,
            entity_type  text,
            description  text,
            active       boolean NOT NULL DEFAULT true,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            UNIQUE (db_id, schema, name)
        );
        CREATE TABLE metabase_field (
            id                serial PRIMARY KEY,
            table_id          integer NOT NULL REFERENCES metabase_table (id) ON DELETE CASCADE,
            name              text NOT NULL,
            display_name      text NOT NULL,
            base_type         text NOT NULL,
            database_type     text NOT NULL,
            semantic_type     text,
            position          integer NOT NULL,
            database_required boolean NOT NULL DEFAULT false,
            description       text,
            active            boolean NOT NULL DEFAULT true,
            created_at        timestamptz NOT NULL DEFAULT now(),
            updated_at        timestamptz NOT NULL DEFAULT now(),
            UNIQUE (table_id, name)
        );

        CREATE TABLE report_card (
            id                     serial PRIMARY KEY,
            entity_id              char(21) NOT NULL UNIQUE,
            name                   text NOT NULL,
            description            text,
            display                text NOT NULL,
            type                   text NOT NULL DEFAULT 'question',
            dataset_query          jsonb NOT NULL,
            visualization_settings jsonb NOT NULL,
            parameters             jsonb NOT NULL DEFAULT '[]',
            parameter_mappings     jsonb NOT NULL DEFAULT '[]',
            result_metadata        jsonb,
            collection_id          integer REFERENCES collection (id),
            collection_position    integer,
            dashboard_id           integer,
            archived               boolean NOT NULL DEFAULT false,
            cache_ttl              integer,
            enable_embedding       boolean NOT NULL DEFAULT false,
            embedding_params       jsonb,
            creator_id             integer REFERENCES core_user (id),
            created_at             timestamptz NOT NULL DEFAULT now(),
            updated_at             timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE report_dashboard (
            id                      serial PRIMARY KEY,
            entity_id               char(21) NOT NULL UNIQUE,
            name                    text NOT NULL,
            description             text,
            collection_id           integer REFERENCES collection (id),
            collection_position     integer,
            archived                boolean NOT NULL DEFAULT false,
            parameters              jsonb NOT NULL DEFAULT '[]',
            cache_ttl               integer,
            width                   text NOT NULL DEFAULT 'fixed',
            caveats                 text,
            points_of_interest      text,
            position                integer,
            show_in_getting_started boolean NOT NULL DEFAULT false,
            enable_embedding        boolean NOT NULL DEFAULT false,
            embedding_params        jsonb,
            creator_id              integer REFERENCES core_user (id),
            created_at              timestamptz NOT NULL DEFAULT now(),
            updated_at              timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE dashboard_tab (
            id           serial PRIMARY KEY,
            dashboard_id integer NOT NULL REFERENCES report_dashboard (id) ON DELETE CASCADE,
            name         text NOT NULL,
            position     integer NOT NULL,
            entity_id    char(21) NOT NULL UNIQUE,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE report_dashboardcard (
            id                     serial PRIMARY KEY,
            dashboard_id           integer NOT NULL REFERENCES report_dashboard (id) ON DELETE CASCADE,
            card_id                integer REFERENCES report_card (id) ON DELETE CASCADE,
            dashboard_tab_id       integer REFERENCES dashboard_tab (id) ON DELETE CASCADE,
            "row"                  integer NOT NULL,
            col                    integer NOT NULL,
            size_x                 integer NOT NULL,
            size_y                 integer NOT NULL,
            parameter_mappings     jsonb NOT NULL DEFAULT '[]',
            visualization_settings jsonb NOT NULL DEFAULT '{}',
            series                 jsonb NOT NULL DEFAULT '[]',
            inline_parameters      jsonb NOT NULL DEFAULT '[]',
            entity_id              char(21) NOT NULL UNIQUE,
            created_at             timestamptz NOT NULL DEFAULT now(),
            updated_at             timestamptz NOT NULL DEFAULT now()
        );

        -- Every /api request the double accepted (2xx), secrets replaced by "<redacted>" (journal.py).
        CREATE TABLE double_request_journal (
            id          bigserial PRIMARY KEY,
            received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            method      text NOT NULL,
            path        text NOT NULL,
            query       jsonb NOT NULL DEFAULT '{}',
            has_body    boolean NOT NULL,
            body        jsonb,
            status      integer NOT NULL
        );
        """,
    ),
    Migration(
        3,
        "content as code: Trash, archived_directly, dashboard options, field visibility",
        """
        -- Metabase (v0.50+) keeps archived items where they were and shows them in a Trash collection.
        ALTER TABLE collection ADD COLUMN archived_directly boolean;
        ALTER TABLE report_card ADD COLUMN archived_directly boolean NOT NULL DEFAULT false;
        ALTER TABLE report_dashboard ADD COLUMN archived_directly boolean NOT NULL DEFAULT false;
        ALTER TABLE report_dashboard ADD COLUMN auto_apply_filters boolean NOT NULL DEFAULT true;
        ALTER TABLE report_dashboardcard ADD COLUMN action_id integer;
        INSERT INTO collection (entity_id, name, type)
        VALUES (substr(md5(random()::text || clock_timestamp()::text), 1, 21), 'Trash', 'trash');
        ALTER TABLE metabase_table ADD COLUMN visibility_type text;
        ALTER TABLE metabase_field ADD COLUMN visibility_type text NOT NULL DEFAULT 'normal';
        ALTER TABLE metabase_field ADD COLUMN fk_target_field_id integer;
        """,
    ),
    # Numbered apart from the content migrations so that branches adding 4, 5... do not collide.
    Migration(40, "access as code: permissions graphs, defaults, memberships, cache (access_schema.py)", ACCESS_SQL),
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
        for _attempt in range(2):
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
    """Metabase's ``has-user-setup``: true once any user exists (API-key users do not count)."""
    cur.execute("SELECT EXISTS (SELECT 1 FROM core_user WHERE type = 'personal')")
    return bool(cur.fetchone()[0])


def dicts(cur) -> list[dict]:
    """The rows of the last query as dicts keyed by column name."""
    names = [column.name for column in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def one(cur) -> dict | None:
    """The first row of the last query as a dict, or None."""
    rows = dicts(cur)
    return rows[0] if rows else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
