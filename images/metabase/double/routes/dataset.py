"""POST /api/dataset/: run a native query through the registered connection, for real.

Metabase answers query endpoints with a streaming response whose status is **202**, whether the
query succeeds or fails (its own tests: ``(mt/user-http-request :rasta :post 202 "dataset" ...)``,
"Even if a query fails we still expect a 202 response from the API"; metabase#28676). Success:
``{"data": {"rows", "cols", "native_form", "results_timezone", ...}, "row_count", "status":
"completed", "context": "ad-hoc", "json_query", "database_id", "started_at", "running_time",
"average_execution_time"}``. Failure: ``{"status": "failed", "error": "<driver message>", "class",
"state", "data": {"rows": [], "cols": []}, "row_count": 0, ...}``.

Native SQL (legacy ``{"type": "native", "native": {"query", "template-tags"}}`` or an MBQL 5 native
stage) runs as written, its template tags bound from ``parameters`` (qp.substitute); a simple MBQL
question (MBQL 4 or 5) is compiled to SQL over the synced metadata (qp.compile_mbql) and run; anything
outside that subset fails (202, ``status: failed``) with a message naming what is unsupported.
Queries run read-only (warehouse.run_native).
"""

from __future__ import annotations

import datetime
import logging

from double import auth, databases, mbql, qp, warehouse
from double.validation import POSITIVE_INT, validate
from double.web import Request, Response, Router, not_found, timestamp

log = logging.getLogger("metabase.query-processor")

PSQL_EXCEPTION = "class org.postgresql.util.PSQLException"
EX_INFO = "class clojure.lang.ExceptionInfo"


def register(router: Router) -> None:
    router.route("POST", "/api/dataset")(dataset)


def dataset(request: Request) -> Response:
    auth.authenticate(request)
    query = validate(request.json(), database=POSITIVE_INT)
    parameters = query.get("parameters") if isinstance(query.get("parameters"), list) else []
    return Response.json(run(request, query, context="ad-hoc", parameters=parameters), 202)


def _compile(
    request: Request, db_id: int, query: dict, parameters: list, card_parameters: list
) -> tuple[str, list | None, list[dict] | None]:
    """(SQL, bound parameters or None, the MBQL columns or None) for ``query`` (legacy or MBQL 5);
    raises qp.Unsupported / qp.QueryError / mbql.InvalidQuery."""
    with request.app.db.transaction() as cur:
        metadata = qp.Metadata.from_tables(databases.tables(cur, db_id=db_id, with_fields=True))
    mbql.check_query(query)
    query5 = mbql.to_mbql5(query, metadata.field_types)
    stages = query5.get("stages") or []
    if len(stages) == 1 and stages[0].get("lib/type") == "mbql.stage/native":
        sql, tags = stages[0].get("native"), stages[0].get("template-tags") or {}
        if not isinstance(sql, str) or not sql.strip():
            raise qp.QueryError("Native query is empty.")
        if not tags and "{{" not in sql:
            return sql, None, None
        values = qp.tag_values(tags, parameters, card_parameters)
        return (*qp.substitute(sql, tags, values, metadata), None)
    compiled = qp.compile_mbql(query5, metadata)
    return compiled.sql, compiled.params, compiled.cols


def run(
    request: Request,
    query: dict,
    *,
    context: str,
    card_id: int | None = None,
    parameters: list | None = None,
    card_parameters: list | None = None,
) -> dict:
    """Metabase's query-processor answer for ``query`` (raises 404 for an unknown database)."""
    db_id = query.get("database")
    with request.app.db.transaction() as cur:
        row = databases.load(cur, request.app.encryptor, db_id) if isinstance(db_id, int) else None
    if row is None:
        raise not_found()
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
    if row["engine"] not in warehouse.SUPPORTED_ENGINES or row["details"] is None:
        return _failed(common, f"The Metabase API double cannot query {row['engine']} databases.", None)
    try:
        sql, params, mbql_cols = _compile(request, db_id, query, parameters or [], card_parameters or [])
    except (qp.Unsupported, qp.QueryError, mbql.InvalidQuery) as exc:
        return _failed(common, str(exc), None, klass=EX_INFO)
    try:
        result = warehouse.run_native(
            row["engine"], row["details"], sql, request.app.config.query_timeout_minutes, params=params
        )
    except warehouse.QueryFailed as exc:
        return _failed(common, exc.error, exc.state)
    except warehouse.ConnectionRefused as exc:
        return _failed(common, exc.raw, None)
    cols = result["cols"]
    if mbql_cols is not None:
        cols = [{**native, **col} for native, col in zip(result["cols"], mbql_cols, strict=True)]
    data = {
        "rows": result["rows"],
        "cols": cols,
        "native_form": {"query": sql, "params": params},
        "results_timezone": "UTC",
        "requested_timezone": "UTC",
        "results_metadata": {"columns": cols},
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


def _failed(common: dict, error: str, state: str | None, klass: str = PSQL_EXCEPTION) -> dict:
    log.info("Error processing query: %s", error.splitlines()[0])
    return {
        **common,
        "data": {"rows": [], "cols": []},
        "row_count": 0,
        "running_time": 0,
        "status": "failed",
        "class": klass,
        "error": error,
        "error_type": "invalid-query",
        "state": state,
        "stacktrace": [],
        "via": [],
    }
