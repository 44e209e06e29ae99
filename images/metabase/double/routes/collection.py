"""/api/collection: collections and what they hold (api-facts.md §5, content-facts.md §2), on the
generic content routes.

What collections do differently from the generic set:

* ``GET /api/collection/`` answers the root "Our analytics" first, then the collections
  (``archived=true``: the archived ones instead); the Trash is not listed [inferred];
* ``POST`` takes ``parent_id``; ``location`` is ``/`` + the ancestors' ids (``/12/34/``);
* ``PUT`` writes ``name``, ``description``, ``parent_id`` (a move), ``authority_level`` when present,
  and **``archived`` defaults to false** (``{:default false}`` in the endpoint schema): a PUT without
  it restores an archived collection [content-facts §2, inferred from defendpoint decoding];
  archiving marks the collection ``archived_directly`` and everything below it ``archived``;
  restoring undoes both;
* ``DELETE`` only once archived (400 ``Collection must be trashed before deletion.``), with what it holds;
* ``GET /api/collection/root``, ``/trash``, ``/tree``, ``/root/items``, ``/{id}/items`` (``models``,
  ``archived``, ``show_dashboard_questions``; dashboard questions are hidden by default; the Trash's
  items are what was archived directly).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from double import appdb, auth, content
from double.routes.content import Resource
from double.validation import BOOLEAN, NON_BLANK, POSITIVE_INT, Rule, one_of, optional
from double.web import HTTPError, Request, Response, Router, not_found

MOVE_INTO_ITSELF = "You cannot move a Collection into itself or into one of its descendants."


class Collections(Resource):
    path = "/api/collection"
    table = "collection"
    columns = content.COLLECTION_COLUMNS
    create_rules: ClassVar[dict[str, Rule]] = {
        "name": NON_BLANK,
        "description": optional(NON_BLANK),
        "parent_id": optional(POSITIVE_INT),
        "namespace": optional(NON_BLANK),
        "authority_level": one_of("official", required=False),
    }
    update_rules: ClassVar[dict[str, Rule]] = {
        "name": optional(NON_BLANK),
        "description": optional(NON_BLANK),
        "parent_id": optional(POSITIVE_INT),
        "archived": optional(BOOLEAN),
        "authority_level": one_of("official", required=False),
    }
    plain = ("name", "description", "parent_id", "authority_level")
    nullable = ("description", "parent_id", "authority_level")
    archivable = True

    def extra_routes(self, router: Router) -> None:
        router.route("GET", "/api/collection/root")(self.root_route)
        router.route("GET", "/api/collection/trash")(self.trash_route)
        router.route("GET", "/api/collection/tree")(self.tree_route)
        router.route("GET", "/api/collection/root/items")(self.root_items_route)
        router.route("GET", "/api/collection/{ident}/items")(self.items_route)

    # -- the generic routes, as collections answer them -----------------------------------------

    def listed(self, request: Request, cur, user: Mapping) -> list[dict]:
        archived = request.flag("archived")
        cur.execute(
            f"SELECT {self.columns} FROM collection WHERE archived = %s AND type IS DISTINCT FROM 'trash'"  # noqa: S608
            " AND (personal_owner_id IS NULL OR personal_owner_id = %s OR %s) ORDER BY lower(name), id",
            (archived, user["id"], bool(user["is_superuser"]) and not request.flag("exclude-other-user-collections")),
        )
        rows = [content.collection_json(cur, row) for row in appdb.dicts(cur)]
        if request.flag("personal-only"):
            rows = [r for r in rows if r["is_personal"]]
        return ([] if archived else [dict(content.ROOT_COLLECTION)]) + rows

    def insert(self, request: Request, cur, body: dict, user: Mapping) -> int:
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
        return cur.fetchone()[0]

    def prepare_update(self, request: Request, cur, row: Mapping, body: dict) -> dict:
        if row["type"] == "trash" or (row["personal_owner_id"] is not None and body.get("archived")):
            raise HTTPError(Response.text("You cannot archive or edit this collection.", 400))
        if "archived" not in body:
            body = {**body, "archived": False}  # the endpoint's {:default false}
        parent = body.get("parent_id")
        if parent is not None:
            if not content.collection_exists(cur, parent):
                raise not_found()
            if parent == row["id"] or parent in content.descendants(cur, row["id"]):
                raise HTTPError(Response.text(MOVE_INTO_ITSELF, 400))
        return body

    def after_update(self, request: Request, cur, row: Mapping, body: Mapping) -> None:
        archived = body.get("archived")
        if archived is None or archived == row["archived"]:
            return
        below = content.descendants(cur, row["id"])
        inside = [row["id"], *below]
        if archived:
            cur.execute("UPDATE collection SET archived = true WHERE id = ANY (%s)", (below,))
            for table in ("report_card", "report_dashboard"):
                cur.execute(
                    f"UPDATE {table} SET archived = true, updated_at = now()"  # noqa: S608 - fixed names
                    " WHERE collection_id = ANY (%s) AND NOT archived",
                    (inside,),
                )
        else:
            cur.execute(
                "UPDATE collection SET archived = false, archived_directly = NULL"
                " WHERE id = ANY (%s) AND archived_directly IS NOT TRUE",
                (below,),
            )
            for table in ("report_card", "report_dashboard"):
                cur.execute(
                    f"UPDATE {table} SET archived = false, updated_at = now()"  # noqa: S608 - fixed names
                    " WHERE collection_id = ANY (%s) AND archived AND NOT archived_directly",
                    (inside,),
                )

    def before_delete(self, request: Request, cur, row: Mapping) -> None:
        auth.require_superuser(request)
        if row["personal_owner_id"] is not None or row["type"] == "trash":
            raise HTTPError(Response.text("You cannot delete a personal collection.", 400))
        if not row["archived"]:
            raise HTTPError(Response.text("Collection must be trashed before deletion.", 400))
        inside = [row["id"], *content.descendants(cur, row["id"])]
        for table in ("report_card", "report_dashboard"):
            cur.execute(f"DELETE FROM {table} WHERE collection_id = ANY (%s)", (inside,))  # noqa: S608 - fixed names
        cur.execute("DELETE FROM collection WHERE id = ANY (%s) AND id <> %s", (inside[1:], row["id"]))
        cur.execute("UPDATE collection SET parent_id = NULL WHERE id = %s", (row["id"],))

    def present(self, request: Request, cur, row: Mapping, *, created: bool = False, listing: bool = False) -> dict:
        return content.collection_json(cur, row, detail=not created)

    # -- what only collections have ------------------------------------------------------------

    def root_route(self, request: Request) -> Response:
        auth.authenticate(request)
        return Response.json(dict(content.ROOT_COLLECTION))

    def trash_route(self, request: Request) -> Response:
        auth.authenticate(request)
        with request.app.db.transaction() as cur:
            return Response.json(content.collection_json(cur, self.load(cur, content.trash_id(cur))))

    def tree_route(self, request: Request) -> Response:
        user = auth.authenticate(request)
        exclude_archived = request.flag("exclude-archived")
        with request.app.db.transaction() as cur:
            cur.execute(
                f"SELECT {self.columns} FROM collection WHERE type IS DISTINCT FROM 'trash'"  # noqa: S608
                " AND (personal_owner_id IS NULL OR personal_owner_id = %s) ORDER BY lower(name), id",
                (user["id"],),
            )
            rows = [r for r in appdb.dicts(cur) if not (exclude_archived and r["archived"])]
            nodes = {r["id"]: {**content.collection_json(cur, r, detail=False), "children": []} for r in rows}
        roots = []
        for node in nodes.values():
            parent = nodes.get(node["parent_id"])
            (parent["children"] if parent else roots).append(node)
        return Response.json(roots)

    def root_items_route(self, request: Request) -> Response:
        auth.authenticate(request)
        with request.app.db.transaction() as cur:
            return Response.json(_items(request, cur, None, trash=False))

    def items_route(self, request: Request, ident: str) -> Response:
        auth.authenticate(request)
        with request.app.db.transaction() as cur:
            row = self.find(cur, ident)
            return Response.json(_items(request, cur, row["id"], trash=row["type"] == "trash"))


def _item(cur, model: str, row: Mapping, parent_id: int | None) -> dict:
    """One row of /items (content-facts §2: a light representation, ``collection_id`` the parent's)."""
    item = {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "entity_id": row["entity_id"].strip(),
        "model": model,
        "collection_id": parent_id,
        "collection_position": row.get("collection_position"),
        "archived": row["archived"],
        "last_used_at": None,
        "moderated_status": None,
        "can_write": True,
        "can_restore": bool(row.get("archived_directly")),
        "can_delete": bool(row["archived"]),
    }
    if model in ("card", "dataset", "metric"):
        database_id = (row["dataset_query"] or {}).get("database") if isinstance(row["dataset_query"], dict) else None
        item.update({"display": row["display"], "database_id": database_id, "dashboard_id": row["dashboard_id"]})
    elif model == "dashboard":
        item["dashboard_id"] = None
    else:
        full = content.collection_json(cur, row)
        item.update(
            {
                "type": row["type"],
                "authority_level": row["authority_level"],
                "location": full["location"],
                "effective_location": full["effective_location"],
                "here": [],
                "below": [],
            }
        )
    return item


def _items(request: Request, cur, collection_id: int | None, *, trash: bool) -> dict:
    wanted = set(request.query.get("models", [])) - {"no_models"}
    archived = request.flag("archived") or trash
    show_dashboard_questions = request.flag("show_dashboard_questions")
    where = (
        "archived_directly" if trash else "collection_id IS NOT DISTINCT FROM %(parent)s AND archived = %(archived)s"
    )
    params = {"parent": collection_id, "archived": archived}
    found = []
    if not wanted or wanted & {"card", "dataset", "metric"}:
        cur.execute(f"SELECT {content.CARD_COLUMNS} FROM report_card WHERE {where}", params)  # noqa: S608
        for row in appdb.dicts(cur):
            if row["dashboard_id"] is not None and not show_dashboard_questions:
                continue  # dashboard questions are hidden unless asked for
            model = {"model": "dataset", "metric": "metric"}.get(row["type"], "card")
            if not wanted or model in wanted:
                found.append(_item(cur, model, row, row["collection_id"] if not trash else collection_id))
    if not wanted or "dashboard" in wanted:
        cur.execute(f"SELECT {content.DASHBOARD_COLUMNS} FROM report_dashboard WHERE {where}", params)  # noqa: S608
        found.extend(
            _item(cur, "dashboard", row, row["collection_id"] if not trash else collection_id)
            for row in appdb.dicts(cur)
        )
    if not wanted or "collection" in wanted:
        condition = (
            "archived_directly IS TRUE"
            if trash
            else "parent_id IS NOT DISTINCT FROM %(parent)s AND archived = %(archived)s"
            " AND personal_owner_id IS NULL AND type IS DISTINCT FROM 'trash'"
        )
        cur.execute(f"SELECT {content.COLLECTION_COLUMNS} FROM collection WHERE {condition}", params)  # noqa: S608
        found.extend(_item(cur, "collection", row, collection_id) for row in appdb.dicts(cur))
    found.sort(key=lambda item: (item["model"], item["name"].lower(), item["id"]))
    return {
        "total": len(found),
        "data": found,
        "models": sorted({item["model"] for item in found}),
        "limit": None,
        "offset": None,
    }


def register(router: Router) -> None:
    Collections().register(router)
