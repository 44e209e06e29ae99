"""/api/dashboard: dashboards and their cards (api-facts.md §7, content-facts.md §3), on the generic
content routes.

What dashboards do differently from the generic set:

* ``POST`` (``name`` required) answers the hydrated dashboard with ``dashcards: []`` and ``tabs: []``;
* ``GET /api/dashboard/{id}`` carries ``dashcards`` (each with its full ``card``, ``series``) and ``tabs``;
* ``PUT`` with ``dashcards`` replaces them **wholesale** (``classify-changes``): an item whose ``id``
  exists is updated, any other id (normally negative) is created with a new id, existing dashcards
  left out are deleted; ids must be unique (400 ``value must be seq of maps in which ids are unique``);
  each item needs ``id``, ``size_x`` >= 1, ``size_y`` >= 1, ``row`` >= 0, ``col`` >= 0. ``tabs`` are
  processed together with ``dashcards``: **omitting ``tabs`` deletes the dashboard's tabs**; negative tab
  ids are created and dashcards pointing at them remapped; with exactly one tab, dashcards without a
  tab go to it; with tabs, every dashcard needs one (400 "This dashboard has tab, makes sure every
  card has a tab"). There is no negative -> real id map in the answer, only the full dashboard;
* adding an archived card: 404 ``{"message": "The object has been archived.", "error_code": "archived"}``
  (``api/check-not-archived``);
* ``archived: true`` also archives the dashboard's dashboard questions (``archived: false`` restores those
  not archived directly).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from psycopg2.extras import Json

from double import content
from double.routes.content import Resource
from double.validation import (
    BOOLEAN,
    INTEGER,
    MAP,
    NON_BLANK,
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    SEQUENCE,
    STRING,
    Rule,
    error_response,
    one_of,
    optional,
    problems,
)
from double.web import HTTPError, Request, Response, not_found

UNIQUE_IDS = "value must be seq of maps in which ids are unique"
NEEDS_TAB = "This dashboard has tab, makes sure every card has a tab"
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
ARCHIVED = {"message": "The object has been archived.", "error_code": "archived"}


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


def _check_tabs(tabs) -> None:
    if not all(
        isinstance(t, dict) and isinstance(t.get("id"), int) and isinstance(t.get("name"), str) and t["name"]
        for t in tabs
    ):
        raise HTTPError(error_response({"tabs": "value must be an array of maps with an integer id and a name."}))


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
        else:
            cur.execute(
                "INSERT INTO dashboard_tab (dashboard_id, name, position, entity_id) VALUES (%s, %s, %s, %s)"
                " RETURNING id",
                (dashboard_id, tab["name"], position, content.new_entity_id()),
            )
            mapping[tab["id"]] = cur.fetchone()[0]
    gone = existing - set(mapping.values())
    if gone:
        # The dashcards on a deleted tab go with it (ON DELETE CASCADE), as in Metabase.
        cur.execute("DELETE FROM dashboard_tab WHERE id = ANY (%s)", (sorted(gone),))
    return mapping


def _card_for_dashcard(cur, card_id: int | None) -> None:
    if card_id is None:
        return
    card = content.get_card(cur, card_id)
    if card is None:
        raise not_found()
    if card["archived"]:
        raise HTTPError(Response.json(ARCHIVED, 404))


def _replace_dashcards(cur, dashboard_id: int, dashcards: list[dict], tab_ids: dict[int, int]) -> None:
    cur.execute("SELECT id FROM report_dashboardcard WHERE dashboard_id = %s", (dashboard_id,))
    existing = {row[0] for row in cur.fetchall()}
    only_tab = next(iter(tab_ids.values())) if len(tab_ids) == 1 else None
    kept = set()
    for dashcard in dashcards:
        _card_for_dashcard(cur, dashcard.get("card_id"))
        tab_id = dashcard.get("dashboard_tab_id")
        if tab_id is None:
            if tab_ids and only_tab is None:
                raise HTTPError(Response.text(NEEDS_TAB, 400))
            tab_id = only_tab
        elif tab_id in tab_ids:
            tab_id = tab_ids[tab_id]
        else:
            raise not_found()
        values = (
            dashcard.get("card_id"),
            tab_id,
            dashcard.get("action_id"),
            dashcard["row"],
            dashcard["col"],
            dashcard["size_x"],
            dashcard["size_y"],
            Json(dashcard.get("parameter_mappings") or []),
            Json(dashcard.get("visualization_settings") or {}),
            Json([{"id": s.get("id")} for s in dashcard.get("series") or [] if isinstance(s, dict)]),
            Json(dashcard.get("inline_parameters") or []),
        )
        if dashcard["id"] in existing:
            cur.execute(
                'UPDATE report_dashboardcard SET card_id = %s, dashboard_tab_id = %s, action_id = %s, "row" = %s,'
                " col = %s, size_x = %s, size_y = %s, parameter_mappings = %s, visualization_settings = %s,"
                " series = %s, inline_parameters = %s, updated_at = now() WHERE id = %s",
                (*values, dashcard["id"]),
            )
            kept.add(dashcard["id"])
        else:
            cur.execute(
                'INSERT INTO report_dashboardcard (card_id, dashboard_tab_id, action_id, "row", col, size_x, size_y,'
                " parameter_mappings, visualization_settings, series, inline_parameters, dashboard_id, entity_id)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (*values, dashboard_id, content.new_entity_id()),
            )
    gone = existing - kept
    if gone:
        cur.execute("DELETE FROM report_dashboardcard WHERE id = ANY (%s)", (sorted(gone),))


class Dashboards(Resource):
    path = "/api/dashboard"
    table = "report_dashboard"
    columns = content.DASHBOARD_COLUMNS
    create_rules: ClassVar[dict[str, Rule]] = {
        "name": NON_BLANK,
        "description": optional(STRING),
        "collection_id": optional(POSITIVE_INT),
        "collection_position": optional(POSITIVE_INT),
        "cache_ttl": optional(POSITIVE_INT),
        "parameters": optional(SEQUENCE),
    }
    update_rules: ClassVar[dict[str, Rule]] = {
        "name": optional(NON_BLANK),
        "description": optional(STRING),
        "collection_id": optional(POSITIVE_INT),
        "collection_position": optional(POSITIVE_INT),
        "archived": optional(BOOLEAN),
        "cache_ttl": optional(POSITIVE_INT),
        "width": one_of("fixed", "full", required=False),
        "auto_apply_filters": optional(BOOLEAN),
        "parameters": optional(SEQUENCE),
        "tabs": optional(SEQUENCE),
        "dashcards": optional(SEQUENCE),
        "embedding_params": optional(MAP),
    }
    plain = (
        "name",
        "description",
        "collection_id",
        "collection_position",
        "cache_ttl",
        "width",
        "auto_apply_filters",
        "caveats",
        "points_of_interest",
        "position",
        "show_in_getting_started",
        "enable_embedding",
    )
    nullable = ("description", "collection_id", "collection_position", "cache_ttl", "caveats", "points_of_interest")
    json_keys = ("parameters", "embedding_params")

    def insert(self, request: Request, cur, body: dict, user: Mapping) -> int:
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
        return cur.fetchone()[0]

    def prepare_update(self, request: Request, cur, row: Mapping, body: dict) -> dict:
        if body.get("dashcards") is not None:
            _check_dashcards(body["dashcards"])
        if body.get("tabs") is not None:
            _check_tabs(body["tabs"])
        if not content.collection_exists(cur, body.get("collection_id")):
            raise not_found()
        return body

    def after_update(self, request: Request, cur, row: Mapping, body: Mapping) -> None:
        if body.get("dashcards") is not None:
            # Tabs go with dashcards: a PUT with dashcards but no tabs leaves the dashboard without tabs.
            tab_ids = _replace_tabs(cur, row["id"], body.get("tabs") or [])
            _replace_dashcards(cur, row["id"], body["dashcards"], tab_ids)
        elif body.get("tabs") is not None:
            _replace_tabs(cur, row["id"], body["tabs"])
        archived = body.get("archived")
        if archived is not None and archived != row["archived"]:
            # The dashboard's own questions follow it into (and out of) the Trash.
            cur.execute(
                "UPDATE report_card SET archived = %s, archived_directly = false, updated_at = now()"
                " WHERE dashboard_id = %s AND (archived_directly = false OR %s)",
                (archived, row["id"], archived),
            )

    def present(self, request: Request, cur, row: Mapping, *, created: bool = False, listing: bool = False) -> dict:
        return content.dashboard_json(cur, row, with_cards=not listing)


def register(router) -> None:
    Dashboards().register(router)
