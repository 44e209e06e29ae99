"""/api/card: questions (api-facts.md §6, behaviour.md §6).

``POST /api/card/`` (required ``name``, ``display``, ``dataset_query``, ``visualization_settings``),
``GET /api/card/`` (``f=all|mine|archived``), ``GET /api/card/{id}`` (id or entity id),
``PUT /api/card/{id}`` (partial; ``archived: true`` soft-deletes), ``DELETE /api/card/{id}`` (hard,
204) and ``POST /api/card/{id}/query`` (runs it, 202 like /api/dataset).

``dataset_query`` is stored in the legacy form and answered as MBQL 5 for native queries (v57+),
or in the legacy form with ``?legacy-mbql=true``.
"""

from __future__ import annotations

from psycopg2.extras import Json

from double import appdb, auth, content
from double.routes import dataset
from double.validation import (
    BOOLEAN,
    MAP,
    NON_BLANK,
    POSITIVE_INT,
    SEQUENCE,
    STRING,
    Rule,
    one_of,
    optional,
    validate,
)
from double.web import Request, Response, Router, not_found

_COLLECTION_REF = Rule(
    "nullable value must be an integer greater than zero., or value must be a valid 21-character NanoID string.",
    lambda v: (
        (isinstance(v, int) and not isinstance(v, bool) and v >= 1) or (isinstance(v, str) and content.is_entity_id(v))
    ),
    required=False,
)
_JSON_KEYS = (
    "dataset_query",
    "visualization_settings",
    "parameters",
    "parameter_mappings",
    "result_metadata",
    "embedding_params",
)
_PLAIN_KEYS = (
    "name",
    "description",
    "display",
    "type",
    "collection_id",
    "collection_position",
    "dashboard_id",
    "archived",
    "cache_ttl",
    "enable_embedding",
)


def register(router: Router) -> None:
    router.route("GET", "/api/card")(list_cards)
    router.route("POST", "/api/card")(create)
    router.route("GET", "/api/card/{ident}")(get)
    router.route("PUT", "/api/card/{card_id:int}")(update)
    router.route("DELETE", "/api/card/{card_id:int}")(delete)
    router.route("POST", "/api/card/{card_id:int}/query")(query)


def _resolve_collection(cur, value) -> int | None:
    if value is None:
        return None
    collection_id = content.lookup_id(cur, "collection", str(value))
    if collection_id is None:
        raise not_found()
    return collection_id


def _card(cur, card_id: int) -> dict:
    row = content.get_card(cur, card_id)
    if row is None:
        raise not_found()
    return row


def list_cards(request: Request) -> Response:
    user = auth.authenticate(request)
    f = request.arg("f") or "all"
    with request.app.db.transaction() as cur:
        cur.execute(f"SELECT {content.CARD_COLUMNS} FROM report_card ORDER BY lower(name), id")  # noqa: S608 - constant column list
        rows = appdb.dicts(cur)
    return Response.json([content.card_json(r) for r in content.listed(rows, f, user["id"])])


def create(request: Request) -> Response:
    user = auth.authenticate(request)
    body = validate(
        request.json(),
        name=NON_BLANK,
        display=NON_BLANK,
        dataset_query=MAP,
        visualization_settings=MAP,
        type=one_of("question", "metric", "model", required=False),
        description=optional(NON_BLANK),
        collection_id=_COLLECTION_REF,
        collection_position=optional(POSITIVE_INT),
        dashboard_id=optional(POSITIVE_INT),
        cache_ttl=optional(POSITIVE_INT),
        parameters=optional(SEQUENCE),
        parameter_mappings=optional(SEQUENCE),
        result_metadata=optional(SEQUENCE),
    )
    with request.app.db.transaction() as cur:
        collection_id = _resolve_collection(cur, body.get("collection_id"))
        if body.get("dashboard_id") is not None and content.get_dashboard(cur, body["dashboard_id"]) is None:
            raise not_found()
        cur.execute(
            "INSERT INTO report_card (entity_id, name, description, display, type, dataset_query,"
            " visualization_settings, parameters, parameter_mappings, result_metadata, collection_id,"
            " collection_position, dashboard_id, cache_ttl, creator_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                content.new_entity_id(),
                body["name"],
                body.get("description"),
                body["display"],
                body.get("type") or "question",
                Json(content.to_legacy(body["dataset_query"])),
                Json(body["visualization_settings"]),
                Json(body.get("parameters") or []),
                Json(body.get("parameter_mappings") or []),
                Json(body.get("result_metadata")) if body.get("result_metadata") is not None else None,
                collection_id,
                body.get("collection_position"),
                body.get("dashboard_id"),
                body.get("cache_ttl"),
                user["id"],
            ),
        )
        return Response.json(content.card_json(_card(cur, cur.fetchone()[0])))


def get(request: Request, ident: str) -> Response:
    auth.authenticate(request)
    with request.app.db.transaction() as cur:
        card_id = content.lookup_id(cur, "report_card", ident)
        if card_id is None:
            raise not_found()
        return Response.json(content.card_json(_card(cur, card_id), legacy=request.flag("legacy-mbql")))


def update(request: Request, card_id: int) -> Response:
    auth.authenticate(request)
    body = validate(
        request.json(),
        name=optional(NON_BLANK),
        display=optional(NON_BLANK),
        dataset_query=optional(MAP),
        visualization_settings=optional(MAP),
        type=one_of("question", "metric", "model", required=False),
        description=optional(STRING),
        collection_id=optional(POSITIVE_INT),
        collection_position=optional(POSITIVE_INT),
        dashboard_id=optional(POSITIVE_INT),
        archived=optional(BOOLEAN),
        cache_ttl=optional(POSITIVE_INT),
        enable_embedding=optional(BOOLEAN),
        parameters=optional(SEQUENCE),
        parameter_mappings=optional(SEQUENCE),
        result_metadata=optional(SEQUENCE),
        embedding_params=optional(MAP),
    )
    with request.app.db.transaction() as cur:
        _card(cur, card_id)
        if "collection_id" in body:
            _resolve_collection(cur, body["collection_id"])
        content.update_row(
            cur,
            "report_card",
            card_id,
            body,
            plain=_PLAIN_KEYS,
            # Nulls are dropped, except where null means something (root collection, no description...).
            nullable=("collection_id", "description", "cache_ttl"),
            json_keys=_JSON_KEYS,
            convert={"dataset_query": content.to_legacy},
        )
        return Response.json(content.card_json(_card(cur, card_id)))


def delete(request: Request, card_id: int) -> Response:
    auth.authenticate(request)
    with request.app.db.transaction() as cur:
        _card(cur, card_id)
        cur.execute("DELETE FROM report_card WHERE id = %s", (card_id,))
    return Response.empty(204)


def query(request: Request, card_id: int) -> Response:
    auth.authenticate(request)
    with request.app.db.transaction() as cur:
        row = _card(cur, card_id)
    stored = content.to_legacy(row["dataset_query"])
    return Response.json(dataset.run(request, stored, context="question", card_id=card_id), 202)
