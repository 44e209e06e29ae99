"""Registered databases ("warehouses"): connect for real, refuse like Metabase, read metadata, run SQL.

Only the ``postgres`` engine is supported (through psycopg2). What Metabase does, and so the double:

* **Connection test** before a database is saved (behaviour.md §4). A failure becomes Metabase's
  answer ``{"message", "errors"}``: Postgres' ``FATAL: password authentication failed`` ->
  "Looks like your Password is incorrect.", ``role ... does not exist`` -> username,
  ``database ... does not exist`` -> dbname, a refused or unreachable port -> "Hmm, we couldn't
  connect to the database. Make sure your Host and Port settings are correct"; an unknown host ->
  the driver's own text (pgjdbc's "The connection attempt failed."); other ``FATAL:`` messages
  pass through capitalised with a period, anything else as ``{"message"}`` only.
* **SSL**: ``details.ssl`` true connects with ``sslmode`` = ``details.ssl-mode`` (default
  ``require``), otherwise ``disable``. ``opportunistic_ssl`` tries SSL first, as Metabase does
  when a database is created.
* **Metadata** (what a sync stores): the tables, views, materialized views, foreign and
  partitioned tables the registered role can SELECT from (``has_table_privilege`` or, for
  column grants, ``has_any_column_privilege``) in schemas it may use, with the columns it can
  SELECT (``has_column_privilege``); ``schema-filters-type`` inclusion/exclusion honoured.
* **Native queries** run in a READ ONLY transaction in UTC with MB_DB_QUERY_TIMEOUT_MINUTES as
  statement timeout, at most 2 000 rows (Metabase's limit for ad-hoc queries), and roll back.

Nothing here logs connection details.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import fnmatch
import json
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg2
import psycopg2.extensions

SUPPORTED_ENGINES = ("postgres",)
CONNECT_TIMEOUT = 10
MAX_RESULTS = 2000

# driver/util.clj connection-error-messages (the ones the Postgres driver produces).
CANNOT_CONNECT = {
    "message": "Hmm, we couldn't connect to the database. Make sure your Host and Port settings are correct",
    "errors": {"host": "check your host settings", "port": "check your port settings"},
}
DATABASE_NAME_INCORRECT = {
    "message": "Looks like the Database name is incorrect.",
    "errors": {"dbname": "check your database name settings"},
}
PASSWORD_INCORRECT = {
    "message": "Looks like your Password is incorrect.",
    "errors": {"password": "check your password"},
}
UNKNOWN_HOST = "The connection attempt failed."
USERNAME_INCORRECT = {"message": "Looks like your Username is incorrect.", "errors": {"user": "check your username"}}

_FATAL = re.compile(r"FATAL:\s+(.*)")


class ConnectionRefused(Exception):
    """The database refused or could not be reached; ``answer`` is Metabase's 400 body (its
    ``message`` is sync_schema's 422 text) and ``raw`` the driver's own message (for logs)."""

    def __init__(self, answer: dict, raw: str) -> None:
        super().__init__(answer["message"])
        self.answer = answer
        self.raw = raw


class UnsupportedEngine(Exception):
    pass


_FATAL_ANSWERS = (
    (re.compile(r"password authentication failed for user.*"), PASSWORD_INCORRECT),
    (re.compile(r'role ".*" does not exist'), USERNAME_INCORRECT),
    (re.compile(r'database ".*" does not exist'), DATABASE_NAME_INCORRECT),
)


def humanize(exc: psycopg2.Error) -> tuple[dict, str]:
    """(Metabase's answer, the driver message) for a failed connection attempt."""
    text = str(exc).strip()
    fatal = _FATAL.search(text)
    if fatal:
        message = fatal.group(1).strip()
        answer = next((known for pattern, known in _FATAL_ANSWERS if pattern.fullmatch(message)), None)
        return dict(answer or {"message": message.capitalize() + "."}), "FATAL: " + message
    first = text.splitlines()[0] if text else type(exc).__name__
    if "does not support SSL" in text:
        answer = {"message": "The server does not support SSL."}
    elif "could not translate host name" in text:
        # pgjdbc reports an unknown host (UnknownHostException, an IOException) as "The connection attempt
        # failed.", which the Postgres driver's humanize-connection-error-message passes through as is.
        answer = {"message": UNKNOWN_HOST}
    else:
        # Refused or timed out: behaviour.md §4's "Hmm, we couldn't connect ..." with errors.host/port.
        answer = dict(CANNOT_CONNECT)
    return answer, first


def _sslmode(details: Mapping) -> str:
    if details.get("ssl") is True or str(details.get("ssl")).lower() == "true":
        mode = details.get("ssl-mode") or "require"
        return mode if mode in ("allow", "prefer", "require", "verify-ca", "verify-full") else "require"
    return "disable"


def connect_kwargs(details: Mapping) -> dict:
    port = details.get("port")
    try:
        port = int(port) if port not in (None, "") else 5432
    except (TypeError, ValueError):
        port = 5432
    return {
        "host": details.get("host") or "localhost",
        "port": port,
        "dbname": details.get("dbname") or details.get("db") or "",
        "user": details.get("user") or "",
        "password": details.get("password") or "",
        "sslmode": _sslmode(details),
        "connect_timeout": CONNECT_TIMEOUT,
        "application_name": "Metabase",
    }


@contextlib.contextmanager
def connection(engine: str, details: Mapping) -> Iterator[psycopg2.extensions.connection]:
    """An open connection with ``details``; ConnectionRefused when it cannot be made."""
    if engine not in SUPPORTED_ENGINES:
        raise UnsupportedEngine(engine)
    try:
        conn = psycopg2.connect(**connect_kwargs(details))
    except psycopg2.Error as exc:
        answer, raw = humanize(exc)
        raise ConnectionRefused(answer, raw) from None
    try:
        yield conn
    finally:
        conn.close()


def test_connection(engine: str, details: Mapping) -> None:
    """Connect and run ``SELECT 1`` (Metabase's can-connect?); ConnectionRefused on failure."""
    with connection(engine, details) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")


def opportunistic_ssl(engine: str, details: Mapping) -> dict:
    """The details to save for a new database: with ``ssl: true`` when ``ssl`` was not asked for
    and an SSL connection works, else as given (and then they must connect as given)."""
    details = dict(details)
    if details.get("ssl") is not True:
        trial = {**details, "ssl": True}
        try:
            test_connection(engine, trial)
        except ConnectionRefused:
            pass
        else:
            return trial
    test_connection(engine, details)
    return details


# -- types -------------------------------------------------------------------------------------

_BASE_TYPES = {
    "int2": "type/Integer",
    "int4": "type/Integer",
    "int8": "type/BigInteger",
    "oid": "type/Integer",
    "numeric": "type/Decimal",
    "money": "type/Decimal",
    "float4": "type/Float",
    "float8": "type/Float",
    "text": "type/Text",
    "varchar": "type/Text",
    "bpchar": "type/Text",
    "char": "type/Text",
    "name": "type/Text",
    "citext": "type/Text",
    "bool": "type/Boolean",
    "date": "type/Date",
    "time": "type/Time",
    "timetz": "type/TimeWithLocalTZ",
    "timestamp": "type/DateTime",
    "timestamptz": "type/DateTimeWithLocalTZ",
    "uuid": "type/UUID",
    "json": "type/JSON",
    "jsonb": "type/JSON",
    "inet": "type/IPAddress",
    "xml": "type/Structured",
}


def base_type(typname: str, typtype: str = "b", category: str = "") -> str:
    """Metabase's base type for a Postgres type (driver/postgres.clj database-type->base-type)."""
    if typtype == "e":
        return "type/PostgresEnum"
    if category == "A":
        return "type/Array"
    return _BASE_TYPES.get(typname, "type/*")


def humanize_name(name: str) -> str:
    """Metabase's default (simple) humanization: words split on ``_``/``-``, capitalised."""
    words = [w for w in re.split(r"[_\-\s]+", name) if w]
    return " ".join("ID" if w.lower() == "id" else w.capitalize() for w in words) or name


# -- metadata ----------------------------------------------------------------------------------

_TABLES_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind, obj_description(c.oid, 'pg_class')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp)'
  AND has_schema_privilege(n.oid, 'USAGE')
  AND (has_table_privilege(c.oid, 'SELECT') OR has_any_column_privilege(c.oid, 'SELECT'))
ORDER BY n.nspname, c.relname
"""

_COLUMNS_SQL = """
SELECT a.attrelid, a.attname, a.attnum, t.typname, t.typtype, t.typcategory,
       format_type(a.atttypid, a.atttypmod), a.attnotnull, col_description(a.attrelid, a.attnum),
       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
               WHERE k.conrelid = a.attrelid AND k.contype = 'p' AND a.attnum = ANY (k.conkey)),
       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
               WHERE k.conrelid = a.attrelid AND k.contype = 'f' AND a.attnum = ANY (k.conkey)),
       (SELECT array[tn.nspname::text, tc.relname::text, ta.attname::text]
        FROM pg_catalog.pg_constraint k
        JOIN pg_catalog.pg_class tc ON tc.oid = k.confrelid
        JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
        JOIN pg_catalog.pg_attribute ta ON ta.attrelid = k.confrelid AND ta.attnum = k.confkey[1]
        WHERE k.conrelid = a.attrelid AND k.contype = 'f' AND k.conkey = array[a.attnum]
        ORDER BY k.conname LIMIT 1)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = ANY (%s) AND a.attnum > 0 AND NOT a.attisdropped
  AND has_column_privilege(a.attrelid, a.attnum, 'SELECT')
ORDER BY a.attrelid, a.attnum
"""


def _schema_allowed(schema: str, details: Mapping) -> bool:
    kind = details.get("schema-filters-type") or "all"
    patterns = [p.strip() for p in str(details.get("schema-filters-patterns") or "").split(",") if p.strip()]
    if kind not in ("inclusion", "exclusion") or not patterns:
        return True
    matched = any(fnmatch.fnmatchcase(schema.lower(), p.lower()) for p in patterns)
    return matched if kind == "inclusion" else not matched


def read_metadata(engine: str, details: Mapping) -> list[dict]:
    """The readable tables and their readable columns, as the registered role sees them."""
    with connection(engine, details) as conn:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            cur.execute(_TABLES_SQL)
            tables = [
                {
                    "oid": oid,
                    "schema": schema,
                    "name": name,
                    "kind": kind,
                    "description": description,
                    "fields": [],
                }
                for oid, schema, name, kind, description in cur.fetchall()
                if _schema_allowed(schema, details)
            ]
            by_oid = {table["oid"]: table for table in tables}
            if by_oid:
                cur.execute(_COLUMNS_SQL, (list(by_oid),))
                for oid, name, num, typname, typtype, category, formatted, notnull, description, pk, fk, target in cur:
                    by_oid[oid]["fields"].append(
                        {
                            "name": name,
                            "position": num - 1,
                            "base_type": base_type(typname, typtype, category),
                            "database_type": typname if typtype != "e" else formatted,
                            "semantic_type": "type/PK" if pk else "type/FK" if fk else None,
                            "database_required": bool(notnull),
                            "description": description,
                            # (schema, table, column) a single-column foreign key points at
                            "fk_target": tuple(target) if target else None,
                        }
                    )
        conn.rollback()
    for table in tables:
        table.pop("oid")
    return tables


# -- native queries ----------------------------------------------------------------------------


class QueryFailed(Exception):
    """The database refused the query; the fields of Metabase's failed answer."""

    def __init__(self, error: str, state: str | None) -> None:
        super().__init__(error)
        self.error = error
        self.state = state


def _pg_error_text(exc: psycopg2.Error) -> str:
    """The message as pgjdbc (and so Metabase) words it: ``ERROR: <message>`` plus the position."""
    diag = exc.diag
    primary = diag.message_primary or (str(exc).strip().splitlines() or ["unknown error"])[0]
    text = f"{diag.severity or 'ERROR'}: {primary}"
    if diag.message_hint:
        text += f"\n  Hint: {diag.message_hint}"
    if diag.statement_position:
        text += f"\n  Position: {diag.statement_position}"
    return text


def _timestamp(value: datetime.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def _number(value: decimal.Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


# Order matters: datetime is a date.
_CONVERTERS: tuple[tuple[type | tuple[type, ...], Any], ...] = (
    (datetime.datetime, _timestamp),
    (datetime.date, lambda v: v.isoformat() + "T00:00:00Z"),
    (datetime.time, lambda v: v.isoformat()),
    (decimal.Decimal, _number),
    ((datetime.timedelta, uuid.UUID), str),
    ((memoryview, bytes), lambda v: bytes(v).hex()),
    ((dict, list), json.dumps),
)


def _value(value: Any) -> Any:
    """A result value as Metabase serialises it (timestamps in UTC with Z, JSON as text...)."""
    for kinds, convert in _CONVERTERS:
        if isinstance(value, kinds):
            return convert(value)
    return value


def run_native(
    engine: str,
    details: Mapping,
    sql: str,
    timeout_minutes: float,
    max_rows: int = MAX_RESULTS,
    *,
    params: list | None = None,
) -> dict:
    """Run ``sql`` read-only, with ``params`` bound to its ``%s`` placeholders when given (then a
    literal ``%`` must be written ``%%``). Returns ``{"rows", "cols", "truncated", "running_time"}``;
    raises QueryFailed (SQL error) or ConnectionRefused."""
    started = time.monotonic()
    with connection(engine, details) as conn:
        conn.set_session(readonly=True, autocommit=False)
        with conn.cursor() as cur:
            cur.execute("SET LOCAL TIME ZONE 'UTC'")
            cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(int(timeout_minutes * 60000)),))
            try:
                cur.execute(sql, params)
            except psycopg2.Error as exc:
                conn.rollback()
                raise QueryFailed(_pg_error_text(exc), exc.pgcode) from None
            description = cur.description or []
            fetched = cur.fetchmany(max_rows + 1) if description else []
            type_oids = sorted({column.type_code for column in description})
            types = {}
            if type_oids:
                cur.execute(
                    "SELECT oid, typname, typtype, typcategory FROM pg_catalog.pg_type WHERE oid = ANY (%s)",
                    (type_oids,),
                )
                types = {oid: (name, kind, category) for oid, name, kind, category in cur.fetchall()}
        conn.rollback()
    cols = []
    for column in description:
        typname, typtype, category = types.get(column.type_code, ("unknown", "b", ""))
        kind = base_type(typname, typtype, category)
        cols.append(
            {
                "display_name": column.name,
                "source": "native",
                "field_ref": ["field", column.name, {"base-type": kind}],
                "name": column.name,
                "base_type": kind,
                "effective_type": kind,
                "database_type": typname,
            }
        )
    rows = [[_value(v) for v in row] for row in fetched[:max_rows]]
    return {
        "rows": rows,
        "cols": cols,
        "truncated": len(fetched) > max_rows,
        "running_time": int((time.monotonic() - started) * 1000),
    }
