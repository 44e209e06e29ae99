"""Schema sync in the background, as Metabase does it after a create and on sync_schema.

One worker thread takes database ids from a queue, reads the metadata through the registered
connection (warehouse.read_metadata: only what the registered role may SELECT) and stores it in
``metabase_table`` / ``metabase_field``. Tables and fields that are no longer visible stay with
``active = false``, so ids are stable across syncs, as in Metabase. The first successful sync sets
``initial_sync_status`` to ``complete``; a first sync that cannot connect sets ``aborted``.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from double import databases, warehouse
from double.appdb import AppDBUnavailable

log = logging.getLogger("metabase.sync")

_STOP = object()


class SyncWorker:
    def __init__(self, app: Any) -> None:
        self._app = app
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None

    def submit(self, db_id: int) -> None:
        self._queue.put(db_id)

    def _run(self) -> None:
        while True:
            db_id = self._queue.get()
            if db_id is _STOP:
                return
            try:
                sync_database(self._app, db_id)
            except AppDBUnavailable as exc:
                log.error("Cannot sync Database %d: application database unavailable: %s", db_id, exc)
            except Exception:
                log.exception("Cannot sync Database %d", db_id)


def sync_database(app: Any, db_id: int) -> None:
    with app.db.transaction() as cur:
        database = databases.load(cur, app.encryptor, db_id)
    if database is None:
        return
    if database["engine"] not in warehouse.SUPPORTED_ENGINES or database["details"] is None:
        log.info("Skipping sync of Database %d (%s): nothing the double can read", db_id, database["engine"])
        return
    log.info("STARTING: Sync metadata for %s Database %d '%s'", database["engine"], db_id, database["name"])
    try:
        found = warehouse.read_metadata(database["engine"], database["details"])
    except warehouse.ConnectionRefused as exc:
        log.warning("Cannot sync Database %d '%s': %s", db_id, database["name"], exc.raw)
        with app.db.transaction() as cur:
            cur.execute(
                "UPDATE metabase_database SET initial_sync_status = 'aborted'"
                " WHERE id = %s AND initial_sync_status = 'incomplete'",
                (db_id,),
            )
        return
    with app.db.transaction() as cur:
        store(cur, db_id, found)
        cur.execute(
            "UPDATE metabase_database SET initial_sync_status = 'complete', updated_at = now() WHERE id = %s", (db_id,)
        )
    log.info("FINISHED: Sync metadata for Database %d '%s': %d tables", db_id, database["name"], len(found))


def store(cur, db_id: int, found: list[dict]) -> None:
    """Make the stored metadata of ``db_id`` what ``found`` says (the database row is locked)."""
    cur.execute("SELECT id FROM metabase_database WHERE id = %s FOR UPDATE", (db_id,))
    if cur.fetchone() is None:
        return  # deleted meanwhile
    seen_tables = []
    for table in found:
        cur.execute(
            "INSERT INTO metabase_table (db_id, schema, name, display_name, entity_type, description)"
            " VALUES (%s, %s, %s, %s, 'entity/GenericTable', %s)"
            " ON CONFLICT (db_id, schema, name) DO UPDATE"
            " SET active = true, description = EXCLUDED.description, updated_at = now()"
            " RETURNING id",
            (db_id, table["schema"], table["name"], warehouse.humanize_name(table["name"]), table["description"]),
        )
        table_id = cur.fetchone()[0]
        seen_tables.append(table_id)
        names = []
        for field in table["fields"]:
            names.append(field["name"])
            cur.execute(
                "INSERT INTO metabase_field (table_id, name, display_name, base_type, database_type, semantic_type,"
                " position, database_required, description) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (table_id, name) DO UPDATE SET active = true, base_type = EXCLUDED.base_type,"
                " database_type = EXCLUDED.database_type, semantic_type = EXCLUDED.semantic_type,"
                " position = EXCLUDED.position, database_required = EXCLUDED.database_required,"
                " description = EXCLUDED.description, updated_at = now()",
                (
                    table_id,
                    field["name"],
                    warehouse.humanize_name(field["name"]),
                    field["base_type"],
                    field["database_type"],
                    field["semantic_type"],
                    field["position"],
                    field["database_required"],
                    field["description"],
                ),
            )
        cur.execute(
            "UPDATE metabase_field SET active = false, updated_at = now()"
            " WHERE table_id = %s AND active AND NOT (name = ANY (%s))",
            (table_id, names),
        )
    cur.execute(
        "UPDATE metabase_table SET active = false, updated_at = now()"
        " WHERE db_id = %s AND active AND NOT (id = ANY (%s))",
        (db_id, seen_tables),
    )
    _store_fk_targets(cur, db_id, found)


def _store_fk_targets(cur, db_id: int, found: list[dict]) -> None:
    """``fk_target_field_id``: the synced field a foreign key points at (null when that column is not
    synced, e.g. the role cannot read it), as Metabase's sync-fks step does."""
    cur.execute(
        "SELECT f.id, t.schema, t.name, f.name FROM metabase_field f JOIN metabase_table t ON t.id = f.table_id"
        " WHERE t.db_id = %s AND t.active AND f.active",
        (db_id,),
    )
    ids = {(schema, table, column): field_id for field_id, schema, table, column in cur.fetchall()}
    for table in found:
        for field in table["fields"]:
            source = ids.get((table["schema"], table["name"], field["name"]))
            target = ids.get(field.get("fk_target")) if field.get("fk_target") else None
            if source is not None:
                cur.execute("UPDATE metabase_field SET fk_target_field_id = %s WHERE id = %s", (target, source))
