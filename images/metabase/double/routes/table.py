"""/api/table: the tables a sync found (only those the registered role can read).

``GET /api/table/`` lists the active tables of every database, each with its ``db``;
``GET /api/table/{id}`` one of them; ``GET /api/table/{id}/query_metadata`` with its fields (hidden
and sensitive ones only with ``include_hidden_fields=true`` / ``include_sensitive_fields=true``, as
Metabase).
"""

from __future__ import annotations

from double import auth, databases
from double.web import Request, Response, Router, not_found


def register(router: Router) -> None:
    router.route("GET", "/api/table")(list_tables)
    router.route("GET", "/api/table/{table_id:int}")(get)
    router.route("GET", "/api/table/{table_id:int}/query_metadata")(query_metadata)


def _with_db(request: Request, cur, tables: list[dict], admin: bool) -> list[dict]:
    cache: dict[int, dict | None] = {}
    for table in tables:
        if table["db_id"] not in cache:
            row = databases.load(cur, request.app.encryptor, table["db_id"])
            cache[table["db_id"]] = databases.as_json(row, admin=admin) if row else None
        table["db"] = cache[table["db_id"]]
    return tables


def list_tables(request: Request) -> Response:
    user = auth.authenticate(request)
    with request.app.db.transaction() as cur:
        return Response.json(_with_db(request, cur, databases.tables(cur), user["is_superuser"]))


def _one(request: Request, table_id: int, with_fields: bool) -> Response:
    user = auth.authenticate(request)
    with request.app.db.transaction() as cur:
        found = databases.tables(
            cur,
            table_id=table_id,
            with_fields=with_fields,
            hidden_fields=request.flag("include_hidden_fields"),
            sensitive_fields=request.flag("include_sensitive_fields"),
        )
        if not found:
            raise not_found()
        return Response.json(_with_db(request, cur, found, user["is_superuser"])[0])


def get(request: Request, table_id: int) -> Response:
    return _one(request, table_id, with_fields=False)


def query_metadata(request: Request, table_id: int) -> Response:
    return _one(request, table_id, with_fields=True)
