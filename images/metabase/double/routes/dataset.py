"""POST /api/dataset/: run a native query through the registered connection, for real.

Metabase answers query endpoints with a streaming response whose status is **202**, whether the
query succeeds or fails (its own tests: ``(mt/user-http-request :rasta :post 202 "dataset" ...)``,
"Even if a query fails we still expect a 202 response from the API"; metabase#28676). Success:
``{"data": {"rows", "cols", "native_form", "results_timezone", ...}, "row_count", "status":
"completed", "context": "ad-hoc", "json_query", "database_id", "started_at", "running_time",
"average_execution_time"}``. Failure: ``{"status": "failed", "error": "<driver message>", "class",
"state", "data": {"rows": [], "cols": []}, "row_count": 0, ...}``.

Only native SQL runs (``{"database", "type": "native", "native": {"query"}}``); anything else
fails with a message that says so. Queries run read-only (warehouse.run_native).
"""

from __future__ import annotations

import datetime
import logging

from double import auth, databases, warehouse
from double.validation import POSITIVE_INT, validate
from double.web import Request, Response, Router, not_found, timestamp

log = logging.getLogger("metabase.query-processor")

PSQL_EXCEPTION = "class org.postgresql.util.PSQLException"


def register(router: Router) -> None:
    router.route("POST", "/api/dataset")(dataset)


def dataset(request: Request) -> Response:
    auth.authenticate(request)
    query = validate(request.json(), database=POSITIVE_INT)
    return Response.json(run(request, query, context="ad-hoc"), 202)


def run(request: Request, query: dict, *, context: str, card_id: int | None = None) -> dict:
    """Metabase's query-processor answer for ``query`` (raises 404 for an unknown database)."""
    db_id = query.get("database")
    with request.app.db.transaction() as cur:
        row = databases.load(cur, request.app.encryptor, db_id) if isinstance(db_id, int) else None
    if row is None:
        raise not_found()
    native = query.get("native") if isinstance(query.get("native"), dict) else {}
    sql = native.get("query")
    common = {
        "database_id": db_id,
        "started_at": timestamp(datetime.datetime.now(datetime.UTC)),
        "json_query": {
            **query,
            "middleware": {"js-int-to-string?": True, "add-default-userland-constraints?": True},
        },
        "average_execution_time": None,
        "context": context,
        "cached": None,
    }
    if card_id is not None:
        common["card_id"] = card_id
    if query.get("type") != "native" or not isinstance(sql, str) or not sql.strip():
        return _failed(common, "The Metabase API double runs native SQL queries only.", None)
    if row["engine"] not in warehouse.SUPPORTED_ENGINES or row["details"] is None:
        return _failed(common, f"The Metabase API double cannot query {row['engine']} databases.", None)
    try:
        result = warehouse.run_native(row["engine"], row["details"], sql, request.app.config.query_timeout_minutes)
    except warehouse.QueryFailed as exc:
        return _failed(common, exc.error, exc.state)
    except warehouse.ConnectionRefused as exc:
        return _failed(common, exc.raw, None)
    data = {
        "rows": result["rows"],
        "cols": result["cols"],
        "native_form": {"query": sql, "params": None},
        "results_timezone": "UTC",
        "requested_timezone": "UTC",
        "results_metadata": {"columns": result["cols"]},
        "insights": None,
    }
    if result["truncated"]:
        data["rows_truncated"] = warehouse.MAX_RESULTS
    return {
        **common,
        "data": data,
        "row_count": len(result["rows"]),
        "status": "completed",
        "running_time": result["running_time"],
    }


def _failed(common: dict, error: str, state: str | None) -> dict:
    log.info("Error processing query: %s", error.splitlines()[0])
    return {
        **common,
        "data": {"rows": [], "cols": []},
        "row_count": 0,
        "running_time": 0,
        "status": "failed",
        "class": PSQL_EXCEPTION,
        "error": error,
        "error_type": "invalid-query",
        "state": state,
        "stacktrace": [],
        "via": [],
    }
