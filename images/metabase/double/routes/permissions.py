"""The two permission graphs (content-facts.md §5-6), on access.py. Superusers only.

* ``GET /api/permissions/graph`` (also ``/graph/db/{id}``, ``/graph/group/{id}``) and
  ``PUT /api/permissions/graph`` (``?force=true``, ``?skip-graph=true``): the data graph, sparse and
  elided; a PUT answers ``{"revision", "groups": <the groups it named>}``;
* ``GET /api/collection/graph`` and ``PUT /api/collection/graph``: the collection graph; a PUT answers
  the whole graph.

A stale or missing ``revision`` -> 409 with Metabase's plain-text message; DB-level
``view-data: blocked`` -> 402 (open-source edition); ``sandboxes`` / ``impersonations`` -> 402.
"""

from __future__ import annotations

from double import access, auth
from double.web import HTTPError, Request, Response, Router


def register(router: Router) -> None:
    router.route("GET", "/api/permissions/graph")(data_graph)
    router.route("GET", "/api/permissions/graph/db/{db_id:int}")(data_graph_db)
    router.route("GET", "/api/permissions/graph/group/{group_id:int}")(data_graph_group)
    router.route("PUT", "/api/permissions/graph")(put_data_graph)
    router.route("GET", "/api/collection/graph")(collection_graph)
    router.route("PUT", "/api/collection/graph")(put_collection_graph)


def data_graph(request: Request) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        return Response.json(access.data_graph(cur))


def data_graph_db(request: Request, db_id: int) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        return Response.json(access.data_graph(cur, db_id=db_id))


def data_graph_group(request: Request, group_id: int) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        return Response.json(access.data_graph(cur, group_id=group_id))


def _refused(exc: access.GraphError) -> HTTPError:
    return HTTPError(Response.text(exc.message, exc.status))


def put_data_graph(request: Request) -> Response:
    admin = auth.require_superuser(request)
    body = request.json()
    body = body if isinstance(body, dict) else {}
    for paid in ("sandboxes", "impersonations"):
        if body.get(paid):
            return Response.text(
                "Sandboxing and connection impersonation are paid features not currently available to your instance.",
                402,
            )
    try:
        with request.app.db.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('permissions-data'))")
            access.check_revision(cur, "data", body.get("revision"), request.flag("force"))
            named = access.put_data_graph(cur, body.get("groups"), admin["id"])
            graph = access.data_graph(cur)
    except access.GraphError as exc:
        raise _refused(exc) from None
    if request.flag("skip-graph"):
        return Response.json({"revision": graph["revision"]})
    groups = {str(g): graph["groups"].get(str(g), {}) for g in named}
    return Response.json({"revision": graph["revision"], "groups": groups})


def collection_graph(request: Request) -> Response:
    auth.require_superuser(request)
    if request.arg("namespace"):
        return Response.json({"revision": 0, "groups": {}})
    with request.app.db.transaction() as cur:
        return Response.json(access.collection_graph(cur))


def put_collection_graph(request: Request) -> Response:
    admin = auth.require_superuser(request)
    body = request.json()
    body = body if isinstance(body, dict) else {}
    try:
        with request.app.db.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('permissions-collection'))")
            access.check_revision(cur, "collection", body.get("revision"), request.flag("force"))
            access.put_collection_graph(cur, body.get("groups"), admin["id"])
            graph = access.collection_graph(cur)
    except access.GraphError as exc:
        raise _refused(exc) from None
    if request.flag("skip-graph"):
        return Response.json({"revision": graph["revision"]})
    return Response.json(graph)
