"""/api/database: registered databases (behaviour.md §4).

* ``GET /api/database/`` -> ``{"data": [...], "total": n}`` ordered by lower(name);
  ``include=tables`` adds the synced tables, ``saved=true`` the "Saved Questions" virtual database.
* ``POST /api/database/`` (superuser): required ``name``, ``engine``, ``details`` (400 errors map);
  engines other than ``postgres`` -> 400 as an unknown driver; **connects for real** first (SSL
  tried first when ``details.ssl`` is not true, saved as ``ssl: true`` only if that worked) and
  refuses with 400 ``{"message", "errors"}``, saving nothing; duplicate names are allowed; the new
  database answers ``initial_sync_status: "incomplete"`` and a background sync follows.
* ``GET /api/database/{id}`` (404 if missing; ``include=tables|tables.fields``).
* ``PUT /api/database/{id}`` (superuser): partial; ``details`` merged over the stored ones, nulls
  dropped, ``**MetabasePass**`` keeps the stored secret; the connection is tested again only when
  details or engine changed, and a refusal (400) saves nothing; an omitted ``is_on_demand`` is
  written as false (Metabase's quirk).
* ``DELETE /api/database/{id}`` -> 204. ``POST /{id}/sync_schema`` -> ``{"status":"ok"}`` after a
  connection check (422 with Metabase's humanized message as plain text when it fails), the sync runs in the background;
  ``POST /{id}/rescan_values`` -> ``{"status":"ok"}``.
* ``GET /{id}/metadata`` (tables with fields), ``GET /{id}/schemas``, ``GET /{id}/schema/{schema}``,
  ``GET /{id}/healthcheck`` (``{"status":"ok"}`` or ``{"status":"error","message",...}``),
  ``POST /api/database/validate`` (``{"details":{"engine","details"}}`` -> ``{"valid": bool}``).

Secrets in ``details`` are always answered as ``**MetabasePass**``; non-superusers see no
``details`` at all and get 403 on every write.
"""

from __future__ import annotations

import json
import logging

from double import auth, databases, warehouse
from double.validation import (
    BOOLEAN,
    MAP,
    NON_BLANK,
    POSITIVE_INT,
    STRING,
    error_response,
    one_of,
    optional,
    validate,
)
from double.web import HTTPError, Request, Response, Router, not_found

log = logging.getLogger("metabase.warehouses.api")

INVALID_ENGINE = "value must be a valid database engine."
SAVED_QUESTIONS = {
    "id": -1337,
    "name": "Saved Questions",
    "is_saved_questions": True,
    "features": ["basic-aggregations", "nested-queries"],
    "tables": [],
}


def register(router: Router) -> None:
    router.route("GET", "/api/database")(list_databases)
    router.route("POST", "/api/database")(create)
    router.route("POST", "/api/database/validate")(validate_connection)
    router.route("GET", "/api/database/{db_id:int}")(get)
    router.route("PUT", "/api/database/{db_id:int}")(update)
    router.route("DELETE", "/api/database/{db_id:int}")(delete)
    router.route("POST", "/api/database/{db_id:int}/sync_schema")(sync_schema)
    router.route("POST", "/api/database/{db_id:int}/rescan_values")(rescan_values)
    router.route("GET", "/api/database/{db_id:int}/metadata")(metadata)
    router.route("GET", "/api/database/{db_id:int}/healthcheck")(healthcheck)
    router.route("GET", "/api/database/{db_id:int}/schemas")(schemas)
    router.route("GET", "/api/database/{db_id:int}/schema/{schema}")(schema_tables)


def _load(request: Request, db_id: int) -> dict:
    with request.app.db.transaction() as cur:
        row = databases.load(cur, request.app.encryptor, db_id)
    if row is None:
        raise not_found()
    return row


def _engine_error() -> HTTPError:
    return HTTPError(error_response({"engine": INVALID_ENGINE}))


def _refused(row_name: str, exc: warehouse.ConnectionRefused) -> HTTPError:
    log.warning("Cannot connect to Database %r: %s", row_name, exc.raw)
    return HTTPError(Response.json(exc.answer, 400))


def list_databases(request: Request) -> Response:
    user = auth.authenticate(request)
    include_tables = request.arg("include") == "tables"
    with request.app.db.transaction() as cur:
        rows = databases.load_all(cur, request.app.encryptor)
        data = [
            databases.as_json(
                row,
                admin=user["is_superuser"],
                tables=databases.tables(cur, db_id=row["id"]) if include_tables else None,
            )
            for row in rows
        ]
    if request.flag("saved"):
        data.append(dict(SAVED_QUESTIONS))
    return Response.json({"data": data, "total": len(data)})


def get(request: Request, db_id: int) -> Response:
    user = auth.authenticate(request)
    include = request.arg("include")
    row = _load(request, db_id)
    with request.app.db.transaction() as cur:
        tables = None
        if include in ("tables", "tables.fields"):
            tables = databases.tables(cur, db_id=db_id, with_fields=include == "tables.fields")
    return Response.json(databases.as_json(row, admin=user["is_superuser"], tables=tables))


def create(request: Request) -> Response:
    user = auth.require_superuser(request)
    body = validate(
        request.json(),
        name=NON_BLANK,
        engine=NON_BLANK,
        details=MAP,
        is_full_sync=optional(BOOLEAN),
        is_on_demand=optional(BOOLEAN),
        auto_run_queries=optional(BOOLEAN),
        cache_ttl=optional(POSITIVE_INT),
        schedules=optional(MAP),
        connection_source=one_of("admin", "setup", required=False),
    )
    engine = body["engine"]
    if engine not in warehouse.SUPPORTED_ENGINES:
        raise _engine_error()
    try:
        details = warehouse.opportunistic_ssl(engine, body["details"])
    except warehouse.ConnectionRefused as exc:
        raise _refused(body["name"], exc) from None
    app = request.app
    with app.db.transaction() as cur:
        db_id = databases.insert(
            cur,
            app.encryptor,
            {
                "name": body["name"],
                "engine": engine,
                "details": details,
                "is_full_sync": body.get("is_full_sync", True) is not False,
                "is_on_demand": bool(body.get("is_on_demand")),
                "auto_run_queries": body.get("auto_run_queries", True) is not False,
                "cache_ttl": body.get("cache_ttl"),
                "schedules": body.get("schedules"),
                "creator_id": user["id"],
            },
        )
        row = databases.load(cur, app.encryptor, db_id)
    app.sync.submit(db_id)  # Metabase syncs a new database at once (:event/database-create)
    return Response.json(databases.as_json(row, admin=True))


def update(request: Request, db_id: int) -> Response:
    auth.require_superuser(request)
    body = validate(
        request.json(),
        name=optional(NON_BLANK),
        engine=optional(NON_BLANK),
        details=optional(MAP),
        schedules=optional(MAP),
        settings=optional(MAP),
        auto_run_queries=optional(BOOLEAN),
        refingerprint=optional(BOOLEAN),
        cache_ttl=optional(POSITIVE_INT),
        description=optional(STRING),
        caveats=optional(STRING),
        points_of_interest=optional(STRING),
    )
    current = _load(request, db_id)
    engine = body.get("engine") or current["engine"]
    details = databases.merge_details(current["details"], body.get("details") or {})
    connection_changed = details != current["details"] or engine != current["engine"]
    if connection_changed:
        if engine not in warehouse.SUPPORTED_ENGINES:
            raise _engine_error()
        try:
            warehouse.test_connection(engine, details)
        except warehouse.ConnectionRefused as exc:
            raise _refused(current["name"], exc) from None
    app = request.app
    changes: dict = {"is_on_demand": False}  # Metabase's quirk: an omitted is_on_demand is written as false
    for key in ("name", "auto_run_queries", "cache_ttl", "description", "caveats", "points_of_interest"):
        if body.get(key) is not None:
            changes[key] = body[key]
    if connection_changed:
        changes["engine"] = engine
        changes["details"] = databases.seal(app.encryptor, details)
    schedules = databases.schedules_for(
        details, body.get("schedules"), (current["metadata_sync_schedule"], current["cache_field_values_schedule"])
    )
    changes["metadata_sync_schedule"], changes["cache_field_values_schedule"] = schedules
    with app.db.transaction() as cur:
        assignments = ", ".join(f"{key} = %s" for key in changes)
        cur.execute(
            f"UPDATE metabase_database SET {assignments}, updated_at = now() WHERE id = %s",  # noqa: S608 - fixed keys
            [*changes.values(), db_id],
        )
        if body.get("settings"):
            cur.execute(
                "UPDATE metabase_database SET settings = settings || %s::jsonb WHERE id = %s",
                (json.dumps(body["settings"]), db_id),
            )
        row = databases.load(cur, app.encryptor, db_id)
    if row is None:
        raise not_found()
    return Response.json(databases.as_json(row, admin=True))


def delete(request: Request, db_id: int) -> Response:
    auth.require_superuser(request)
    _load(request, db_id)
    with request.app.db.transaction() as cur:
        cur.execute("DELETE FROM metabase_database WHERE id = %s", (db_id,))
    return Response.empty(204)


def sync_schema(request: Request, db_id: int) -> Response:
    auth.require_superuser(request)
    row = _load(request, db_id)
    if row["engine"] in warehouse.SUPPORTED_ENGINES:
        try:
            warehouse.test_connection(row["engine"], row["details"] or {})
        except warehouse.ConnectionRefused as exc:
            # warehouses/api.clj: (ex-info (ex-message ex) {:status-code 422}), the message
            # can-connect-with-details? humanized ("Looks like your Password is incorrect."), as plain text.
            log.warning("Cannot sync Database %r: %s", row["name"], exc.raw)
            return Response.text(exc.answer["message"], 422)
        request.app.sync.submit(db_id)
    return Response.json({"status": "ok"})


def rescan_values(request: Request, db_id: int) -> Response:
    auth.require_superuser(request)
    _load(request, db_id)
    return Response.json({"status": "ok"})


def metadata(request: Request, db_id: int) -> Response:
    user = auth.authenticate(request)
    row = _load(request, db_id)
    with request.app.db.transaction() as cur:
        hidden = request.flag("include_hidden")
        tables = databases.tables(
            cur,
            db_id=db_id,
            with_fields=not request.flag("skip_fields"),
            hidden_tables=hidden,
            hidden_fields=hidden,
            sensitive_fields=hidden,
        )
    return Response.json(databases.as_json(row, admin=user["is_superuser"], tables=tables))


def schemas(request: Request, db_id: int) -> Response:
    auth.authenticate(request)
    _load(request, db_id)
    with request.app.db.transaction() as cur:
        names = sorted({t["schema"] for t in databases.tables(cur, db_id=db_id)})
    return Response.json(names)


def schema_tables(request: Request, db_id: int, schema: str) -> Response:
    auth.authenticate(request)
    _load(request, db_id)
    with request.app.db.transaction() as cur:
        found = [t for t in databases.tables(cur, db_id=db_id) if t["schema"] == schema]
    if not found:
        raise not_found()
    return Response.json(found)


def healthcheck(request: Request, db_id: int) -> Response:
    auth.authenticate(request)
    row = _load(request, db_id)
    if row["engine"] not in warehouse.SUPPORTED_ENGINES:
        return Response.json({"status": "error", "message": f"The {row['engine']} engine is not supported here."})
    try:
        warehouse.test_connection(row["engine"], row["details"] or {})
    except warehouse.ConnectionRefused as exc:
        return Response.json({"status": "error", **exc.answer})
    return Response.json({"status": "ok"})


def validate_connection(request: Request) -> Response:
    auth.require_superuser(request)
    body = validate(request.json(), details=MAP)
    inner = validate(body["details"], engine=NON_BLANK, details=MAP)
    if inner["engine"] not in warehouse.SUPPORTED_ENGINES:
        raise _engine_error()
    try:
        warehouse.test_connection(inner["engine"], inner["details"])
    except warehouse.ConnectionRefused:
        return Response.json({"valid": False})
    return Response.json({"valid": True})
