"""Registered databases in the app DB: storage (details encrypted at rest), JSON shapes, schedules.

Shared by routes/database.py, routes/dataset.py, routes/table.py and the sync worker.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping
from typing import Any

from double import appdb
from double.crypto import CANNOT_DECRYPT, DecryptionError, Encryptor

log = logging.getLogger("metabase.models.database")

#: What Metabase puts in place of every secret it returns.
PROTECTED = "**MetabasePass**"

#: driver/util.clj default-sensitive-fields plus the driver secret properties.
SENSITIVE_FIELDS = frozenset(
    {
        "password",
        "pass",
        "tunnel-pass",
        "tunnel-private-key",
        "tunnel-private-key-passphrase",
        "access-token",
        "refresh-token",
        "service-account-json",
        "client-secret",
        "ssl-key-value",
        "ssl-key-password-value",
        "ssl-keystore-password-value",
        "ssl-truststore-password-value",
    }
)

POSTGRES_FEATURES = [
    "actions",
    "basic-aggregations",
    "binning",
    "case-sensitivity-string-filter-options",
    "expression-aggregations",
    "expressions",
    "foreign-keys",
    "native-parameters",
    "nested-queries",
    "persist-models",
    "regex",
    "schemas",
    "set-timezone",
    "standard-deviation-aggregations",
    "uploads",
]

SAMPLE_DATABASE_DETAILS = {"db": "file:/plugins/sample-database.db;USER=GUEST;PASSWORD=guest"}

_COLUMNS = (
    "id, name, engine, details, description, caveats, points_of_interest, is_sample, is_full_sync, "
    "is_on_demand, auto_run_queries, cache_ttl, initial_sync_status, metadata_sync_schedule, "
    "cache_field_values_schedule, settings, dbms_version, timezone, creator_id, created_at, updated_at"
)


# -- details at rest ---------------------------------------------------------------------------


def seal(encryptor: Encryptor, details: Mapping) -> str:
    """``details`` as stored: JSON, encrypted when MB_ENCRYPTION_SECRET_KEY is set."""
    return encryptor.encrypt(json.dumps(dict(details), sort_keys=True))


def unseal(encryptor: Encryptor, stored: str) -> dict | None:
    """The stored details, or None when they cannot be decrypted (logged like Metabase)."""
    try:
        value = json.loads(encryptor.decrypt(stored))
    except DecryptionError:
        log.warning("%s", CANNOT_DECRYPT)
        return None
    except ValueError:
        log.error("Error parsing JSON of stored database details")
        return None
    return value if isinstance(value, dict) else None


def load(cur, encryptor: Encryptor, db_id: int) -> dict | None:
    """The database row with ``details`` decrypted (None when it cannot be); None if missing."""
    cur.execute(f"SELECT {_COLUMNS} FROM metabase_database WHERE id = %s", (db_id,))  # noqa: S608 - constant column list
    row = appdb.one(cur)
    if row is not None:
        row["details"] = unseal(encryptor, row["details"])
    return row


def load_all(cur, encryptor: Encryptor) -> list[dict]:
    cur.execute(f"SELECT {_COLUMNS} FROM metabase_database ORDER BY lower(name), id")  # noqa: S608 - constant column list
    rows = appdb.dicts(cur)
    for row in rows:
        row["details"] = unseal(encryptor, row["details"])
    return rows


def redact(details: Mapping | None) -> dict | None:
    """Details as Metabase shows them to admins: every sensitive key present -> **MetabasePass**."""
    if details is None:
        return None
    return {
        key: (PROTECTED if key in SENSITIVE_FIELDS and value is not None else value) for key, value in details.items()
    }


def merge_details(stored: Mapping | None, incoming: Mapping) -> dict:
    """PUT's merge: incoming over stored, nulls dropped, **MetabasePass** keeps the stored secret."""
    merged = dict(stored or {})
    for key, value in incoming.items():
        if value is None:
            continue
        if value == PROTECTED and key in SENSITIVE_FIELDS:
            continue
        merged[key] = value
    return merged


# -- schedules ---------------------------------------------------------------------------------

_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


def schedule_to_cron(schedule: Mapping) -> str:
    """A ScheduleMap as the Quartz cron string Metabase stores."""
    kind = schedule.get("schedule_type") or "hourly"
    minute = schedule.get("schedule_minute") or 0
    hour = schedule.get("schedule_hour") or 0
    day = schedule.get("schedule_day")
    if kind == "hourly":
        return f"0 {minute} * * * ? *"
    if kind == "daily":
        return f"0 {minute} {hour} * * ? *"
    dow = str(_DAYS.index(day) + 1) if day in _DAYS else None
    if kind == "weekly":
        return f"0 {minute} {hour} ? * {dow or 1} *"
    frame = schedule.get("schedule_frame") or "first"
    if dow:
        return f"0 {minute} {hour} ? * {dow}{'L' if frame == 'last' else '#1' if frame == 'first' else '#3'} *"
    return f"0 {minute} {hour} {'L' if frame == 'last' else '15' if frame == 'mid' else '1'} * ? *"


def cron_to_schedule(cron: str) -> dict:
    """The ScheduleMap of a cron string written by :func:`schedule_to_cron`."""
    result = {
        "schedule_type": "hourly",
        "schedule_minute": 0,
        "schedule_hour": None,
        "schedule_day": None,
        "schedule_frame": None,
    }
    parts = cron.split()
    if len(parts) < 6:
        return result
    minute, hour, dom, dow = parts[1], parts[2], parts[3], parts[5]
    result["schedule_minute"] = int(minute) if minute.isdigit() else 0
    if hour == "*":
        return result
    result["schedule_hour"] = int(hour) if hour.isdigit() else 0
    if dom == "*" and dow == "?":
        result["schedule_type"] = "daily"
    elif dom == "?" and dow.isdigit():
        result.update(schedule_type="weekly", schedule_day=_DAYS[int(dow) - 1])
    else:
        result["schedule_type"] = "monthly"
        if dom == "?":
            result["schedule_day"] = _DAYS[int(dow[0]) - 1]
            result["schedule_frame"] = "last" if dow.endswith("L") else "first" if dow.endswith("#1") else "mid"
        else:
            result["schedule_frame"] = {"L": "last", "15": "mid"}.get(dom, "first")
    return result


def default_schedules() -> tuple[str, str]:
    """Metabase's randomised defaults: metadata sync hourly, field values daily."""
    return (
        schedule_to_cron({"schedule_type": "hourly", "schedule_minute": random.randint(0, 59)}),  # noqa: S311
        schedule_to_cron({"schedule_type": "daily", "schedule_hour": random.randint(0, 23)}),  # noqa: S311
    )


def schedules_for(
    details: Mapping, schedules: Mapping | None, current: tuple[str, str] | None = None
) -> tuple[str, str]:
    """The cron strings to store: supplied schedules only with let-user-control-scheduling."""
    metadata, field_values = current or default_schedules()
    if details.get("let-user-control-scheduling") and isinstance(schedules, Mapping):
        if isinstance(schedules.get("metadata_sync"), Mapping):
            metadata = schedule_to_cron(schedules["metadata_sync"])
        if isinstance(schedules.get("cache_field_values"), Mapping):
            field_values = schedule_to_cron(schedules["cache_field_values"])
    return metadata, field_values


# -- JSON --------------------------------------------------------------------------------------


def as_json(row: Mapping, *, admin: bool, tables: list[dict] | None = None) -> dict:
    """A Database as Metabase returns it: secrets redacted for admins, no details for others."""
    result: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "engine": row["engine"],
        "description": row["description"],
        "caveats": row["caveats"],
        "points_of_interest": row["points_of_interest"],
        "is_sample": row["is_sample"],
        "is_full_sync": row["is_full_sync"],
        "is_on_demand": row["is_on_demand"],
        "is_audit": False,
        "is_attached_dwh": False,
        "auto_run_queries": row["auto_run_queries"],
        "cache_ttl": row["cache_ttl"],
        "initial_sync_status": row["initial_sync_status"],
        "timezone": row["timezone"],
        "dbms_version": row["dbms_version"],
        "features": POSTGRES_FEATURES if row["engine"] == "postgres" else ["basic-aggregations"],
        "native_permissions": "write",
        "can-manage": admin,
        "can_upload": False,
        "uploads_enabled": False,
        "uploads_schema_name": None,
        "uploads_table_prefix": None,
        "refingerprint": None,
        "router_user_attribute": None,
        "router_database_id": None,
        "provider_name": None,
        "settings": row["settings"],
        "creator_id": row["creator_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "metadata_sync_schedule": row["metadata_sync_schedule"],
        "cache_field_values_schedule": row["cache_field_values_schedule"],
        "schedules": {
            "metadata_sync": cron_to_schedule(row["metadata_sync_schedule"]),
            "cache_field_values": cron_to_schedule(row["cache_field_values_schedule"]),
        },
    }
    if admin:
        result["details"] = redact(row["details"])
    if tables is not None:
        result["tables"] = tables
    return result


def insert(cur, encryptor: Encryptor, values: Mapping) -> int:
    metadata, field_values = schedules_for(values["details"], values.get("schedules"))
    cur.execute(
        "INSERT INTO metabase_database (name, engine, details, is_sample, is_full_sync, is_on_demand,"
        " auto_run_queries, cache_ttl, initial_sync_status, metadata_sync_schedule,"
        " cache_field_values_schedule, dbms_version, creator_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            values["name"],
            values["engine"],
            seal(encryptor, values["details"]),
            values.get("is_sample", False),
            values.get("is_full_sync", True),
            values.get("is_on_demand", False),
            values.get("auto_run_queries", True),
            values.get("cache_ttl"),
            values.get("initial_sync_status", "incomplete"),
            metadata,
            field_values,
            json.dumps(values["dbms_version"]) if values.get("dbms_version") else None,
            values.get("creator_id"),
        ),
    )
    return cur.fetchone()[0]


def add_sample_database(cur, encryptor: Encryptor) -> int:
    """Metabase's "Sample Database" on a fresh install (an H2 file the double never opens)."""
    return insert(
        cur,
        encryptor,
        {
            "name": "Sample Database",
            "engine": "h2",
            "details": SAMPLE_DATABASE_DETAILS,
            "is_sample": True,
            "initial_sync_status": "complete",
        },
    )


# -- metadata (what sync stored) ---------------------------------------------------------------

_TABLE_COLUMNS = (
    "t.id, t.db_id, t.schema, t.name, t.display_name, t.entity_type, t.description, t.active, t.visibility_type, "
    "t.created_at, t.updated_at"
)


def table_json(row: Mapping) -> dict:
    return {
        "id": row["id"],
        "db_id": row["db_id"],
        "schema": row["schema"],
        "name": row["name"],
        "display_name": row["display_name"],
        "entity_type": row["entity_type"],
        "description": row["description"],
        "active": row["active"],
        "visibility_type": row["visibility_type"],
        "field_order": "database",
        "initial_sync_status": "complete",
        "is_upload": False,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def field_json(row: Mapping) -> dict:
    return {
        "id": row["id"],
        "table_id": row["table_id"],
        "name": row["name"],
        "display_name": row["display_name"],
        "base_type": row["base_type"],
        "effective_type": row["base_type"],  # no coercion strategy in the double
        "database_type": row["database_type"],
        "semantic_type": row["semantic_type"],
        "position": row["position"],
        "database_position": row["position"],
        "database_required": row["database_required"],
        "description": row["description"],
        "active": row["active"],
        "visibility_type": row["visibility_type"],
        "has_field_values": "none",
        "fk_target_field_id": row["fk_target_field_id"],
        "coercion_strategy": None,
        "nfc_path": None,
        "parent_id": None,
        "settings": None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def tables(
    cur,
    *,
    db_id: int | None = None,
    table_id: int | None = None,
    with_fields: bool = False,
    hidden_tables: bool = True,
    hidden_fields: bool = True,
    sensitive_fields: bool = True,
) -> list[dict]:
    """Active tables (of one database, or one table), optionally with their active fields.

    Metabase leaves out hidden tables (``visibility_type`` hidden/technical/cruft) unless asked
    (``include_hidden``), and hidden or sensitive fields unless asked (``include_hidden_fields``,
    ``include_sensitive_fields``) (content-facts.md §9)."""
    where, params = ["t.active"], []
    if db_id is not None:
        where.append("t.db_id = %s")
        params.append(db_id)
    if table_id is not None:
        where.append("t.id = %s")
        params.append(table_id)
    if not hidden_tables:
        where.append("t.visibility_type IS NULL")
    cur.execute(
        f"SELECT {_TABLE_COLUMNS} FROM metabase_table t WHERE {' AND '.join(where)}"  # noqa: S608 - constant column list
        " ORDER BY t.db_id, lower(t.schema), lower(t.name)",
        params,
    )
    result = [table_json(row) for row in appdb.dicts(cur)]
    if with_fields and result:
        skipped = ([] if hidden_fields else ["hidden"]) + ([] if sensitive_fields else ["sensitive"])
        cur.execute(
            "SELECT id, table_id, name, display_name, base_type, database_type, semantic_type, position,"
            " database_required, description, active, visibility_type, fk_target_field_id, created_at, updated_at"
            " FROM metabase_field WHERE active AND table_id = ANY (%s) AND NOT (visibility_type = ANY (%s))"
            " ORDER BY table_id, position",
            ([t["id"] for t in result], skipped),
        )
        by_table: dict[int, list[dict]] = {t["id"]: [] for t in result}
        for row in appdb.dicts(cur):
            by_table[row["table_id"]].append(field_json(row))
        for table in result:
            table["fields"] = by_table[table["id"]]
    return result
