"""/api/collection: collections and what they hold (api-facts.md §5).

``GET /api/collection/`` (the root "Our analytics" first, then the collections), ``POST``,
``GET``/``PUT /api/collection/{id}`` (id or entity id), ``GET /api/collection/root`` and
``GET /api/collection/root/items`` / ``GET /api/collection/{id}/items`` -> ``{"total", "data",
"models", "limit", "offset"}`` with cards, dashboards and collections (``models`` filters).
"""

from __future__ import annotations

from double import appdb, auth, content
from double.validation import BOOLEAN, NON_BLANK, POSITIVE_INT, one_of, optional, validate
from double.web import Request, Response, Router, not_found


def register(router: Router) -> None:
    router.route("GET", "/api/collection")(list_collections)
    router.route("POST", "/api/collection")(create)
    router.route("GET", "/api/collection/root")(root)
    router.route("GET", "/api/collection/root/items")(root_items)
    router.route("GET", "/api/collection/{ident}")(get)
    router.route("PUT", "/api/collection/{ident}")(update)
    router.route("GET", "/api/collection/{ident}/items")(items)


def _collection_id(cur, ident: str) -> int:
    collection_id = content.lookup_id(cur, "collection", ident)
    if collection_id is None:
        raise not_found()
    return collection_id


def list_collections(request: Request) -> Response:
    auth.authenticate(request)
    archived = request.flag("archived")
    with request.app.db.transaction() as cur:
        rows = [content.collection_json(cur, row) for row in content.list_collections(cur, archived=archived)]
    return Response.json(([] if archived else [dict(content.ROOT_COLLECTION)]) + rows)


def root(request: Request) -> Response:
    auth.authenticate(request)
    return Response.json(dict(content.ROOT_COLLECTION))


def get(request: Request, ident: str) -> Response:
    auth.authenticate(request)
    with request.app.db.transaction() as cur:
        row = content.get_collection(cur, _collection_id(cur, ident))
        return Response.json(content.collection_json(cur, row))


def create(request: Request) -> Response:
    auth.authenticate(request)
    body = validate(
        request.json(),
        name=NON_BLANK,
        description=optional(NON_BLANK),
        parent_id=optional(POSITIVE_INT),
        namespace=optional(NON_BLANK),
        authority_level=one_of("official", required=False),
    )
    with request.app.db.transaction() as cur:
        if not content.collection_exists(cur, body.get("parent_id")):
            raise not_found()
        cur.execute(
            "INSERT INTO collection (entity_id, name, description, parent_id, namespace, authority_level)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (
                content.new_entity_id(),
                body["name"],
                body.get("description"),
                body.get("parent_id"),
                body.get("namespace"),
                body.get("authority_level"),
            ),
        )
        row = content.get_collection(cur, cur.fetchone()[0])
        return Response.json(content.collection_json(cur, row))


def update(request: Request, ident: str) -> Response:
    auth.authenticate(request)
    body = validate(
        request.json(),
        name=optional(NON_BLANK),
        description=optional(NON_BLANK),
        parent_id=optional(POSITIVE_INT),
        archived=optional(BOOLEAN),
        authority_level=one_of("official", required=False),
    )
    with request.app.db.transaction() as cur:
        collection_id = _collection_id(cur, ident)
        if not content.collection_exists(cur, body.get("parent_id")):
            raise not_found()
        for key in ("name", "description", "parent_id", "archived", "authority_level"):
            if key in body and (body[key] is not None or key in ("description", "parent_id", "authority_level")):
                cur.execute(
                    f"UPDATE collection SET {key} = %s WHERE id = %s",  # noqa: S608 - fixed keys
                    (body[key], collection_id),
                )
        return Response.json(content.collection_json(cur, content.get_collection(cur, collection_id)))


def _items(request: Request, cur, collection_id: int | None) -> dict:
    wanted = set(request.query.get("models", [])) - {"no_models"}
    archived = request.flag("archived")
    found = []
    if not wanted or wanted & {"card", "dataset", "metric"}:
        cur.execute(
            f"SELECT {content.CARD_COLUMNS} FROM report_card"  # noqa: S608 - constant column list
            " WHERE collection_id IS NOT DISTINCT FROM %s AND archived = %s AND dashboard_id IS NULL",
            (collection_id, archived),
        )
        for row in appdb.dicts(cur):
            model = {"model": "dataset", "metric": "metric"}.get(row["type"], "card")
            if not wanted or model in wanted:
                found.append({**content.card_json(row), "model": model})
    if not wanted or "dashboard" in wanted:
        cur.execute(
            f"SELECT {content.DASHBOARD_COLUMNS} FROM report_dashboard"  # noqa: S608 - constant column list
            " WHERE collection_id IS NOT DISTINCT FROM %s AND archived = %s",
            (collection_id, archived),
        )
        found.extend(
            {**content.dashboard_json(cur, row, with_cards=False), "model": "dashboard"} for row in appdb.dicts(cur)
        )
    if not wanted or "collection" in wanted:
        cur.execute(
            "SELECT id FROM collection WHERE parent_id IS NOT DISTINCT FROM %s AND archived = %s"
            " AND personal_owner_id IS NULL",
            (collection_id, archived),
        )
        for (child,) in cur.fetchall():
            found.append(content.collection_json(cur, content.get_collection(cur, child)))
    found.sort(key=lambda item: (item["model"], item["name"].lower(), item["id"]))
    return {
        "total": len(found),
        "data": found,
        "models": sorted({item["model"] for item in found}),
        "limit": None,
        "offset": None,
    }


def root_items(request: Request) -> Response:
    auth.authenticate(request)
    with request.app.db.transaction() as cur:
        return Response.json(_items(request, cur, None))


def items(request: Request, ident: str) -> Response:
    auth.authenticate(request)
    with request.app.db.transaction() as cur:
        return Response.json(_items(request, cur, _collection_id(cur, ident)))
