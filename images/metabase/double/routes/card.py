"""/api/card: questions (api-facts.md §6, content-facts.md §1), on the generic content routes.

What cards do differently from the generic set:

* ``POST`` requires ``name``, ``display``, ``dataset_query``, ``visualization_settings``;
  ``collection_id`` may be an entity id; ``entity_id`` in the body is ignored (a fresh one is always
  generated, ``create-card!``); a card with ``dashboard_id`` is a dashboard question and lives in
  that dashboard's collection;
* ``dataset_query`` is stored as MBQL 5 (a legacy query is converted, with new ``lib/uuid``s on
  every save, content-facts §1.2-1.3); ``GET ?legacy-mbql=true`` answers MBQL 4; a query Metabase
  would not normalize is refused 400 with its message (plain text: an ex-info with only a status
  code, content-facts §0; the 400 itself is ``[not confirmed]`` for v0.58);
* ``GET /api/card/?f=archived`` lists archived cards;
* ``POST /api/card/{id}/query`` runs the card (202, like /api/dataset).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from psycopg2.extras import Json

from double import auth, content, mbql
from double.routes import dataset
from double.routes.content import Resource
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
)
from double.web import HTTPError, Request, Response, Router, not_found

_COLLECTION_REF = Rule(
    "nullable value must be an integer greater than zero., or value must be a valid 21-character NanoID string.",
    lambda v: (
        (isinstance(v, int) and not isinstance(v, bool) and v >= 1) or (isinstance(v, str) and content.is_entity_id(v))
    ),
    required=False,
)


def _resolve_collection(cur, value) -> int | None:
    if value is None:
        return None
    collection_id = content.lookup_id(cur, "collection", str(value))
    if collection_id is None or not content.collection_exists(cur, collection_id):
        raise not_found()
    return collection_id


def _saved_query(cur, query: Mapping) -> dict:
    try:
        return content.save_query(cur, query)
    except mbql.InvalidQuery as exc:
        raise HTTPError(Response.text(str(exc), 400)) from None


class Cards(Resource):
    path = "/api/card"
    table = "report_card"
    columns = content.CARD_COLUMNS
    create_rules: ClassVar[dict[str, Rule]] = {
        "name": NON_BLANK,
        "display": NON_BLANK,
        "dataset_query": MAP,
        "visualization_settings": MAP,
        "type": one_of("question", "metric", "model", required=False),
        "description": optional(NON_BLANK),
        "collection_id": _COLLECTION_REF,
        "collection_position": optional(POSITIVE_INT),
        "dashboard_id": optional(POSITIVE_INT),
        "dashboard_tab_id": optional(POSITIVE_INT),
        "cache_ttl": optional(POSITIVE_INT),
        "parameters": optional(SEQUENCE),
        "parameter_mappings": optional(SEQUENCE),
        "result_metadata": optional(SEQUENCE),
    }
    update_rules: ClassVar[dict[str, Rule]] = {
        "name": optional(NON_BLANK),
        "display": optional(NON_BLANK),
        "dataset_query": optional(MAP),
        "visualization_settings": optional(MAP),
        "type": one_of("question", "metric", "model", required=False),
        "description": optional(STRING),
        "collection_id": optional(POSITIVE_INT),
        "collection_position": optional(POSITIVE_INT),
        "dashboard_id": optional(POSITIVE_INT),
        "archived": optional(BOOLEAN),
        "cache_ttl": optional(POSITIVE_INT),
        "enable_embedding": optional(BOOLEAN),
        "parameters": optional(SEQUENCE),
        "parameter_mappings": optional(SEQUENCE),
        "result_metadata": optional(SEQUENCE),
        "embedding_params": optional(MAP),
    }
    plain = (
        "name",
        "description",
        "display",
        "type",
        "collection_id",
        "collection_position",
        "dashboard_id",
        "cache_ttl",
        "enable_embedding",
    )
    # Nulls are dropped, except where null means something (root collection, no description...).
    nullable = ("collection_id", "description", "cache_ttl", "collection_position")
    json_keys = (
        "dataset_query",
        "visualization_settings",
        "parameters",
        "parameter_mappings",
        "result_metadata",
        "embedding_params",
    )

    def extra_routes(self, router: Router) -> None:
        router.route("POST", "/api/card/{card_id:int}/query")(self.query_route)

    def insert(self, request: Request, cur, body: dict, user: Mapping) -> int:
        collection_id = _resolve_collection(cur, body.get("collection_id"))
        if body.get("dashboard_id") is not None:
            dashboard = content.get_dashboard(cur, body["dashboard_id"])
            if dashboard is None:
                raise not_found()
            collection_id = dashboard["collection_id"]
        cur.execute(
            "INSERT INTO report_card (entity_id, name, description, display, type, dataset_query,"
            " visualization_settings, parameters, parameter_mappings, result_metadata, collection_id,"
            " collection_position, dashboard_id, cache_ttl, creator_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                content.new_entity_id(),  # never the body's entity_id (create-card! ignores it)
                body["name"],
                body.get("description"),
                body["display"],
                body.get("type") or "question",
                Json(_saved_query(cur, body["dataset_query"])),
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
        return cur.fetchone()[0]

    def prepare_update(self, request: Request, cur, row: Mapping, body: dict) -> dict:
        if body.get("collection_id") is not None:
            _resolve_collection(cur, body["collection_id"])
        if body.get("dataset_query") is not None:
            body = {**body, "dataset_query": _saved_query(cur, body["dataset_query"])}
        return body

    def present(self, request: Request, cur, row: Mapping, *, created: bool = False, listing: bool = False) -> dict:
        return content.card_json(cur, row, legacy=request.flag("legacy-mbql") and not listing)

    def query_route(self, request: Request, card_id: int) -> Response:
        auth.authenticate(request)
        with request.app.db.transaction() as cur:
            row = self.load(cur, card_id)
        body = request.json()
        parameters = body.get("parameters") if isinstance(body, dict) else None
        answer = dataset.run(
            request,
            row["dataset_query"],
            context="question",
            card_id=card_id,
            parameters=parameters if isinstance(parameters, list) else [],
            card_parameters=row["parameters"] or [],
        )
        return Response.json(answer, 202)


def register(router: Router) -> None:
    Cards().register(router)
