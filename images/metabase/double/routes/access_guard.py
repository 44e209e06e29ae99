"""Permission checks in front of the content and query routes, as Metabase refuses:

* ``POST /api/dataset``: a user whose groups all have ``create-queries: no`` on the database is
  refused by the endpoint's ``read-check`` on the Database: **403**, plain text ``You don't have
  permissions to do that.`` (Metabase's own tests: ``(mt/user-http-request user-id :post 403
  "dataset" ...)`` -> "You don't have permissions to do that."). A ``query-builder`` user running
  native SQL is refused by the query processor: the failed-query answer (202, like every failed
  query in the double) with ``error`` "You do not have permissions to run this query." and
  ``error_type`` ``missing-required-permissions`` (newer Metabase answers that one 403; the status
  for v0.58 is [not confirmed]).
* Cards, dashboards and collections (``GET /api/card/{id}``, ``POST /api/card/{id}/query``,
  ``GET /api/dashboard/{id}``, ``GET /api/collection/{id}`` and ``.../items``): without read
  permission on the collection they live in -> 403 plain text. A saved question runs with the
  collection's permission alone (no data permission needed), as in Metabase's open-source edition.

Each guard checks, then hands the request to the route registered after it for the same path.
"""

from __future__ import annotations

from collections.abc import Callable

from double import access, auth, content
from double.routes import dataset as dataset_routes
from double.web import Request, Response, Router, forbidden

NO_PERMS_TO_RUN = "You do not have permissions to run this query."

_router: Router | None = None
_guards: set[Callable] = set()


def register(router: Router) -> None:
    global _router  # noqa: PLW0603 - one router per process
    _router = router
    for method, path, guard in (
        ("POST", "/api/dataset", dataset),
        ("POST", "/api/card/{card_id:int}/query", card_query),
        ("GET", "/api/card/{ident}", card),
        ("GET", "/api/dashboard/{ident}", dashboard),
        ("GET", "/api/collection/{ident}", collection),
        ("GET", "/api/collection/{ident}/items", collection_items),
    ):
        _guards.add(guard)
        router.route(method, path, journal=True)(guard)


def _next(request: Request) -> Response:
    """The response of the first non-guard route for this request."""
    if _router is None:
        raise RuntimeError("access_guard.register() was not called")
    for route in _router._routes:
        if route.handler in _guards or route.method != request.method:
            continue
        match = route.pattern.match(request.path)
        if match:
            params = {k: route.converters[k](v) for k, v in match.groupdict().items()}
            return route.handler(request, **params)
    return Response.text("API endpoint does not exist.", 404)


def _is_native(query: object) -> bool:
    if not isinstance(query, dict):
        return False
    if query.get("type") == "native":
        return True
    stages = query.get("stages")
    return bool(
        isinstance(stages, list)
        and stages
        and isinstance(stages[0], dict)
        and stages[0].get("lib/type") == "mbql.stage/native"
    )


def dataset(request: Request) -> Response:
    user = auth.authenticate(request)
    body = request.json()
    db_id = body.get("database") if isinstance(body, dict) else None
    if user["is_superuser"] or not isinstance(db_id, int) or isinstance(db_id, bool):
        return _next(request)
    with request.app.db.transaction() as cur:
        cur.execute("SELECT 1 FROM metabase_database WHERE id = %s", (db_id,))
        if cur.fetchone() is None:
            return _next(request)
        level = access.query_level(cur, user, db_id)
    if level == "no":
        raise forbidden()
    if level == "query-builder" and _is_native(body):
        failed = dataset_routes._failed(
            {"database_id": db_id, "context": "ad-hoc", "json_query": body},
            NO_PERMS_TO_RUN,
            None,
            klass=dataset_routes.EX_INFO,
        )
        failed["error_type"] = "missing-required-permissions"
        failed["ex-data"] = {"type": "missing-required-permissions", "permissions-error?": True}
        return Response.json(failed, 202)
    return _next(request)


def _check_item(request: Request, table: str, ident: str) -> None:
    user = auth.authenticate(request)
    if user["is_superuser"]:
        return
    with request.app.db.transaction() as cur:
        item_id = content.lookup_id(cur, table, ident)
        if item_id is None:
            return  # the route answers 404
        cur.execute(f"SELECT collection_id FROM {table} WHERE id = %s", (item_id,))  # noqa: S608 - fixed names
        collection_id = cur.fetchone()[0]
        if not access.can_read_collection(cur, user, collection_id):
            raise forbidden()


def card_query(request: Request, card_id: int) -> Response:
    _check_item(request, "report_card", str(card_id))
    return _next(request)


def card(request: Request, ident: str) -> Response:
    _check_item(request, "report_card", ident)
    return _next(request)


def dashboard(request: Request, ident: str) -> Response:
    _check_item(request, "report_dashboard", ident)
    return _next(request)


def _check_collection(request: Request, ident: str) -> None:
    user = auth.authenticate(request)
    if user["is_superuser"] or ident in ("trash", "tree", "graph"):
        return
    with request.app.db.transaction() as cur:
        if ident == "root":
            collection_id = None
        else:
            collection_id = content.lookup_id(cur, "collection", ident)
            if collection_id is None:
                return
        if not access.can_read_collection(cur, user, collection_id):
            raise forbidden()


def collection(request: Request, ident: str) -> Response:
    _check_collection(request, ident)
    return _next(request)


def collection_items(request: Request, ident: str) -> Response:
    _check_collection(request, ident)
    return _next(request)
