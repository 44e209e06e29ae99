"""/api/dashboard: dashboards and their cards (api-facts.md §7, behaviour.md §6).

``POST /api/dashboard/`` (``name`` required; no cards at creation), ``GET /api/dashboard/``
(``f=all|mine|archived``), ``GET /api/dashboard/{id}`` (id or entity id, with ``dashcards`` and
``tabs``), ``DELETE`` (hard, 204) and ``PUT /api/dashboard/{id}``: plain keys are a partial update;
``tabs`` and ``dashcards``, when present, are the **complete set**: items with a negative ``id``
are created, existing ids are updated, existing items left out are deleted. Dashcard ids must be
unique (400 ``value must be seq of maps in which ids are unique``); a dashcard needs ``id``,
``size_x`` >= 1, ``size_y`` >= 1, ``row`` >= 0 and ``col`` >= 0.
"""

from __future__ import annotations

from psycopg2.extras import Json

from double import appdb, auth, content
from double.validation import (
    BOOLEAN,
    INTEGER,
    MAP,
    NON_BLANK,
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    SEQUENCE,
    STRING,
    error_response,
    one_of,
    optional,
    problems,
    validate,
)
from double.web import HTTPError, Request, Response, Router, not_found

UNIQUE_IDS = "value must be seq of maps in which ids are unique"
_PLAIN_KEYS = (
    "name",
    "description",
    "collection_id",
    "collection_position",
    "archived",
    "cache_ttl",
    "width",
    "caveats",
    "points_of_interest",
    "position",
    "show_in_getting_started",
    "enable_embedding",
)
_NULLABLE = ("description", "collection_id", "collection_position", "cache_ttl", "caveats", "points_of_interest")
_DASHCARD_RULES = {
    "id": INTEGER,
    "size_x": POSITIVE_INT,
    "size_y": POSITIVE_INT,
    "row": NON_NEGATIVE_INT,
    "col": NON_NEGATIVE_INT,
    "card_id": optional(POSITIVE_INT),
    "dashboard_tab_id": optional(INTEGER),
    "parameter_mappings": optional(SEQUENCE),
    "visualization_settings": optional(MAP),
    "series": optional(SEQUENCE),
    "inline_parameters": optional(SEQUENCE),
}


def register(router: Router) -> None:
    router.route("GET", "/api/dashboard")(list_dashboards)
    router.route("POST", "/api/dashboard")(create)
    router.route("GET", "/api/dashboard/{ident}")(get)
    router.route("PUT", "/api/dashboard/{dashboard_id:int}")(update)
    router.route("DELETE", "/api/dashboard/{dashboard_id:int}")(delete)


def _dashboard(cur, dashboard_id: int) -> dict:
    row = content.get_dashboard(cur, dashboard_id)
    if row is None:
        raise not_found()
    return row


def list_dashboards(request: Request) -> Response:
    user = auth.authenticate(request)
    f = request.arg("f") or "all"
    with request.app.db.transaction() as cur:
        cur.execute(f"SELECT {content.DASHBOARD_COLUMNS} FROM report_dashboard ORDER BY lower(name), id")  # noqa: S608 - constant column list
        rows = content.listed(appdb.dicts(cur), f, user["id"])
        return Response.json([content.dashboard_json(cur, r, with_cards=False) for r in rows])


def create(request: Request) -> Response:
    user = auth.authenticate(request)
    body = validate(
        request.json(),
        name=NON_BLANK,
        description=optional(STRING),
        collection_id=optional(POSITIVE_INT),
        collection_position=optional(POSITIVE_INT),
        cache_ttl=optional(POSITIVE_INT),
        parameters=optional(SEQUENCE),
    )
    with request.app.db.transaction() as cur:
        if not content.collection_exists(cur, body.get("collection_id")):
            raise not_found()
        cur.execute(
            "INSERT INTO report_dashboard (entity_id, name, description, collection_id, collection_position,"
            " cache_ttl, parameters, creator_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                content.new_entity_id(),
                body["name"],
                body.get("description"),
                body.get("collection_id"),
                body.get("collection_position"),
                body.get("cache_ttl"),
                Json(body.get("parameters") or []),
                user["id"],
            ),
        )
        return Response.json(content.dashboard_json(cur, _dashboard(cur, cur.fetchone()[0])))


def get(request: Request, ident: str) -> Response:
    auth.authenticate(request)
    with request.app.db.transaction() as cur:
        dashboard_id = content.lookup_id(cur, "report_dashboard", ident)
        if dashboard_id is None:
            raise not_found()
        return Response.json(content.dashboard_json(cur, _dashboard(cur, dashboard_id)))


def _check_dashcards(dashcards) -> None:
    if not isinstance(dashcards, list) or not all(isinstance(d, dict) for d in dashcards):
        raise HTTPError(error_response({"dashcards": "value must be an array of maps."}))
    ids = [d.get("id") for d in dashcards]
    if len(ids) != len(set(map(repr, ids))):
        raise HTTPError(error_response({"dashcards": UNIQUE_IDS}))
    for dashcard in dashcards:
        found = problems(dashcard, _DASHCARD_RULES)
        if found:
            key, message = next(iter(found.items()))
            raise HTTPError(error_response({"dashcards": f"{key}: {message}"}))


def _replace_tabs(cur, dashboard_id: int, tabs: list[dict]) -> dict[int, int]:
    """Make ``tabs`` the dashboard's tabs; the id of each tab as sent -> its id in the app DB."""
    cur.execute("SELECT id FROM dashboard_tab WHERE dashboard_id = %s", (dashboard_id,))
    existing = {row[0] for row in cur.fetchall()}
    mapping = {}
    for position, tab in enumerate(tabs):
        if tab["id"] in existing:
            cur.execute(
                "UPDATE dashboard_tab SET name = %s, position = %s, updated_at = now() WHERE id = %s",
                (tab["name"], position, tab["id"]),
            )
            mapping[tab["id"]] = tab["id"]
        elif tab["id"] < 0:
            cur.execute(
                "INSERT INTO dashboard_tab (dashboard_id, name, position, entity_id) VALUES (%s, %s, %s, %s)"
                " RETURNING id",
                (dashboard_id, tab["name"], position, content.new_entity_id()),
            )
            mapping[tab["id"]] = cur.fetchone()[0]
        else:
            raise not_found()
    gone = existing - set(mapping.values())
    if gone:
        cur.execute("DELETE FROM dashboard_tab WHERE id = ANY (%s)", (sorted(gone),))
    return mapping


def _replace_dashcards(cur, dashboard_id: int, dashcards: list[dict], tab_ids: dict[int, int]) -> None:
    cur.execute("SELECT id FROM report_dashboardcard WHERE dashboard_id = %s", (dashboard_id,))
    existing = {row[0] for row in cur.fetchall()}
    kept = set()
    for dashcard in dashcards:
        card_id = dashcard.get("card_id")
        if card_id is not None and content.get_card(cur, card_id) is None:
            raise not_found()
        tab_id = dashcard.get("dashboard_tab_id")
        if tab_id is not None:
            if tab_id not in tab_ids:
                cur.execute("SELECT 1 FROM dashboard_tab WHERE id = %s AND dashboard_id = %s", (tab_id, dashboard_id))
                if cur.fetchone() is None:
                    raise not_found()
            tab_id = tab_ids.get(tab_id, tab_id)
        values = (
            card_id,
            tab_id,
            dashcard["row"],
            dashcard["col"],
            dashcard["size_x"],
            dashcard["size_y"],
            Json(dashcard.get("parameter_mappings") or []),
            Json(dashcard.get("visualization_settings") or {}),
            Json(dashcard.get("series") or []),
            Json(dashcard.get("inline_parameters") or []),
        )
        if dashcard["id"] in existing:
            cur.execute(
                'UPDATE report_dashboardcard SET card_id = %s, dashboard_tab_id = %s, "row" = %s, col = %s,'
                " size_x = %s, size_y = %s, parameter_mappings = %s, visualization_settings = %s, series = %s,"
                " inline_parameters = %s, updated_at = now() WHERE id = %s",
                (*values, dashcard["id"]),
            )
            kept.add(dashcard["id"])
        elif dashcard["id"] < 0:
            cur.execute(
                'INSERT INTO report_dashboardcard (card_id, dashboard_tab_id, "row", col, size_x, size_y,'
                " parameter_mappings, visualization_settings, series, inline_parameters, dashboard_id, entity_id)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (*values, dashboard_id, content.new_entity_id()),
            )
        else:
            raise not_found()
    gone = existing - kept
    if gone:
        cur.execute("DELETE FROM report_dashboardcard WHERE id = ANY (%s)", (sorted(gone),))


def update(request: Request, dashboard_id: int) -> Response:
    auth.authenticate(request)
    body = validate(
        request.json(),
        name=optional(NON_BLANK),
        description=optional(STRING),
        collection_id=optional(POSITIVE_INT),
        collection_position=optional(POSITIVE_INT),
        archived=optional(BOOLEAN),
        cache_ttl=optional(POSITIVE_INT),
        width=one_of("fixed", "full", required=False),
        parameters=optional(SEQUENCE),
        tabs=optional(SEQUENCE),
        dashcards=optional(SEQUENCE),
        embedding_params=optional(MAP),
    )
    if body.get("dashcards") is not None:
        _check_dashcards(body["dashcards"])
    tabs = body.get("tabs")
    if tabs is not None and not all(
        isinstance(t, dict) and isinstance(t.get("id"), int) and isinstance(t.get("name"), str) and t["name"]
        for t in tabs
    ):
        raise HTTPError(error_response({"tabs": "value must be an array of maps with an integer id and a name."}))
    with request.app.db.transaction() as cur:
        _dashboard(cur, dashboard_id)
        if not content.collection_exists(cur, body.get("collection_id")):
            raise not_found()
        content.update_row(
            cur,
            "report_dashboard",
            dashboard_id,
            body,
            plain=_PLAIN_KEYS,
            nullable=_NULLABLE,
            json_keys=("parameters", "embedding_params"),
        )
        tab_ids = _replace_tabs(cur, dashboard_id, tabs) if tabs is not None else {}
        if body.get("dashcards") is not None:
            _replace_dashcards(cur, dashboard_id, body["dashcards"], tab_ids)
        return Response.json(content.dashboard_json(cur, _dashboard(cur, dashboard_id)))


def delete(request: Request, dashboard_id: int) -> Response:
    auth.authenticate(request)
    with request.app.db.transaction() as cur:
        _dashboard(cur, dashboard_id)
        cur.execute("DELETE FROM report_dashboard WHERE id = %s", (dashboard_id,))
    return Response.empty(204)
