"""Content routes of the unit tests' fake Metabase: collections, cards, dashboards, metadata.

They answer as ``shared/metabase/content-facts.md`` records for v0.58 (section numbers below refer
to it), traps included:

* cards are stored as MBQL 5 with a fresh ``lib/uuid`` on every clause at every POST and PUT
  (traps 1 and 2), and ``GET /api/card/{id}`` answers MBQL 5 unless ``?legacy-mbql=true``
  (``mbql_version = 4`` makes it answer like Metabase before v0.57: always MBQL 4);
* ``PUT /api/collection/{id}`` without ``archived`` unarchives (§2);
* ``PUT /api/dashboard/{id}`` with ``dashcards`` replaces them wholesale, creates the negative ids,
  deletes the missing ones, and drops every tab when ``tabs`` is left out (trap 4);
* an archived card or dashboard shows the Trash as its collection (§1.6).

The MBQL 4 <-> 5 conversion here is the fake's own, written from the facts, independent of the
modules' reader in ``plugins/module_utils/metabase_mbql.py``.
"""

from __future__ import annotations

import copy
import itertools
import json
import uuid

TRASH_ID = 9000

#: Clause tags the fake's converter knows; everything else in a clause is a literal value.
CLAUSES = {
    "field",
    "aggregation",
    "count",
    "sum",
    "avg",
    "distinct",
    "min",
    "max",
    "asc",
    "desc",
    "and",
    "or",
    "not",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "between",
    "is-null",
    "not-null",
    "contains",
    "does-not-contain",
    "starts-with",
    "ends-with",
    "time-interval",
}


def _json(status, payload):
    return status, json.dumps(payload).encode("utf-8")


def _text(status, text):
    return status, text.encode("utf-8")


def _uuid():
    return str(uuid.uuid4())


def _nano_id():
    return uuid.uuid4().hex[:21]


class Mbql:
    """MBQL 4 -> 5 (on save) and 5 -> 4 (``legacy-mbql=true``), as content-facts §1.2 describes."""

    def __init__(self, base_types):
        self.base_types = base_types  # field id -> base type

    # -- 4 -> 5 --

    def clause5(self, clause):
        if not (isinstance(clause, list) and clause and isinstance(clause[0], str) and clause[0] in CLAUSES):
            return clause
        tag = clause[0]
        if tag == "field":
            options = dict(clause[2] or {}) if len(clause) > 2 else {}
            options["lib/uuid"] = _uuid()
            if isinstance(clause[1], int) and clause[1] in self.base_types:
                options.setdefault("base-type", self.base_types[clause[1]])
            return ["field", options, clause[1]]
        args = list(clause[1:])
        options = {"lib/uuid": _uuid()}
        if args and isinstance(args[-1], dict):
            options.update(args.pop())
        return [tag, options, *[self.clause5(arg) for arg in args]]

    def tags5(self, tags):
        result = {}
        for name, legacy in (tags or {}).items():
            tag = dict(legacy)
            if "dimension" in tag:
                tag["dimension"] = self.clause5(tag["dimension"])
            result[name] = tag
        return result

    def to5(self, query):
        if "lib/type" in query:
            return copy.deepcopy(query)
        if query.get("type") == "native":
            native = query.get("native") or {}
            stage = {"lib/type": "mbql.stage/native", "native": native.get("query")}
            if native.get("template-tags"):
                stage["template-tags"] = self.tags5(native["template-tags"])
            return {"lib/type": "mbql/query", "database": query["database"], "stages": [stage]}
        inner = query.get("query") or {}
        stage = {"lib/type": "mbql.stage/mbql", "source-table": inner["source-table"]}
        aggregations = [self.clause5(c) for c in inner.get("aggregation") or []]
        if aggregations:
            stage["aggregation"] = aggregations
        for key in ("breakout", "fields"):
            if inner.get(key):
                stage[key] = [self.clause5(c) for c in inner[key]]
        if inner.get("filter"):
            legacy = inner["filter"]
            parts = legacy[1:] if legacy[0] == "and" else [legacy]
            stage["filters"] = [self.clause5(c) for c in parts]
        if inner.get("order-by"):
            orders = []
            for direction, target in inner["order-by"]:
                if target[0] == "aggregation":
                    ref = ["aggregation", {"lib/uuid": _uuid()}, aggregations[target[1]][1]["lib/uuid"]]
                else:
                    ref = self.clause5(target)
                orders.append([direction, {"lib/uuid": _uuid()}, ref])
            stage["order-by"] = orders
        if inner.get("limit") is not None:
            stage["limit"] = inner["limit"]
        return {"lib/type": "mbql/query", "database": query["database"], "stages": [stage]}

    # -- 5 -> 4 --

    def clause4(self, clause, aggregation_uuids=()):
        if not (isinstance(clause, list) and clause and isinstance(clause[0], str) and clause[0] in CLAUSES):
            return clause
        tag, options, args = clause[0], dict(clause[1]), clause[2:]
        options.pop("lib/uuid", None)
        if tag == "field":
            return ["field", args[0], options or None]
        if tag == "aggregation":
            return ["aggregation", list(aggregation_uuids).index(args[0])]
        legacy = [tag, *[self.clause4(arg, aggregation_uuids) for arg in args]]
        if options:
            legacy.append(options)
        return legacy

    def to4(self, query):
        stage = query["stages"][0]
        if stage["lib/type"] == "mbql.stage/native":
            tags = {}
            for name, stored in (stage.get("template-tags") or {}).items():
                tag = dict(stored)
                if "dimension" in tag:
                    tag["dimension"] = self.clause4(tag["dimension"])
                tags[name] = tag
            return {
                "database": query["database"],
                "type": "native",
                "native": {"query": stage["native"], "template-tags": tags},
            }
        inner = {"source-table": stage["source-table"]}
        uuids = [c[1]["lib/uuid"] for c in stage.get("aggregation") or []]
        if stage.get("aggregation"):
            inner["aggregation"] = [self.clause4(c) for c in stage["aggregation"]]
        for key in ("breakout", "fields", "order-by"):
            if stage.get(key):
                inner[key] = [self.clause4(c, uuids) for c in stage[key]]
        if stage.get("filters"):
            filters = [self.clause4(c) for c in stage["filters"]]
            inner["filter"] = filters[0] if len(filters) == 1 else ["and", *filters]
        if stage.get("limit") is not None:
            inner["limit"] = stage["limit"]
        return {"database": query["database"], "type": "query", "query": inner}


class ContentRoutes:
    """Mixed into ``FakeMetabase``; ``_content_route`` answers or returns None."""

    mbql_version = 5

    def _init_content(self):
        self.collections = {}
        self.cards = {}
        self.dashboards = {}
        self.tables = {}  # database id -> [table]
        self._content_ids = itertools.count(1)
        self._dashcard_ids = itertools.count(100)
        self.collections[TRASH_ID] = {
            "id": TRASH_ID,
            "name": "Trash",
            "type": "trash",
            "location": "/",
            "archived": False,
            "description": None,
            "personal_owner_id": None,
            "namespace": None,
        }

    # -- helpers for tests --

    def add_table(self, database_id, schema, name, columns):
        """A synced table: ``columns`` is ``[(name, base_type), ...]``. Returns the table."""
        table = {
            "id": next(self._content_ids),
            "db_id": database_id,
            "schema": schema,
            "name": name,
            "display_name": name.replace("_", " ").title(),
            "active": True,
            "visibility_type": None,
            "fields": [],
        }
        for position, (column, base_type) in enumerate(columns):
            table["fields"].append(
                {
                    "id": next(self._content_ids),
                    "table_id": table["id"],
                    "name": column,
                    "display_name": column.replace("_", " ").title(),
                    "base_type": base_type,
                    "effective_type": base_type,
                    "position": position,
                    "active": True,
                }
            )
        self.tables.setdefault(database_id, []).append(table)
        return table

    def field_id(self, table, column):
        return next(f["id"] for f in table["fields"] if f["name"] == column)

    def _mbql(self):
        types = {f["id"]: f["base_type"] for ts in self.tables.values() for t in ts for f in t["fields"]}
        return Mbql(types)

    def collection_by_path(self, path):
        parent, found = "/", None
        for part in path.split("/"):
            found = next(
                c
                for c in self.collections.values()
                if c["name"] == part and c["location"] == parent and not c["archived"]
            )
            parent = f"{parent}{found['id']}/"
        return found

    def card_named(self, name, archived=False):
        found = [c for c in self.cards.values() if c["name"] == name and c["archived"] == archived]
        assert len(found) <= 1, found
        return found[0] if found else None

    def dashboard_named(self, name):
        found = [d for d in self.dashboards.values() if d["name"] == name and not d["archived"]]
        assert len(found) <= 1, found
        return found[0] if found else None

    # -- routing --

    def _content_route(self, req, path):  # noqa: PLR0911, PLR0912 - one branch per route
        parts = [p for p in path.split("/") if p][1:]  # drop "api"
        method = req.method
        if parts and parts[0] == "collection":
            if parts == ["collection"]:
                return {"GET": self._collection_list, "POST": self._collection_create}[method](req)
            if len(parts) == 3 and parts[2] == "items" and method == "GET":
                key = None if parts[1] == "root" else int(parts[1])
                return self._collection_items(req, key)
            if len(parts) == 2 and parts[1].isdigit():
                collection = self.collections.get(int(parts[1]))
                if collection is None:
                    return _text(404, "Not found.")
                return {"GET": self._collection_get, "PUT": self._collection_update}[method](req, collection)
        if parts and parts[0] == "card":
            if parts == ["card"] and method == "POST":
                return self._card_create(req)
            if len(parts) == 2 and parts[1].isdigit():
                card = self.cards.get(int(parts[1]))
                if card is None:
                    return _text(404, "Not found.")
                return {"GET": self._card_get, "PUT": self._card_update}[method](req, card)
        if parts and parts[0] == "dashboard":
            if parts == ["dashboard"] and method == "POST":
                return self._dashboard_create(req)
            if len(parts) == 2 and parts[1].isdigit():
                dashboard = self.dashboards.get(int(parts[1]))
                if dashboard is None:
                    return _text(404, "Not found.")
                return {"GET": self._dashboard_get, "PUT": self._dashboard_update}[method](req, dashboard)
        if len(parts) == 3 and parts[0] == "database" and parts[2] == "metadata" and method == "GET":
            database = self.databases.get(int(parts[1]))
            if database is None:
                return _text(404, "Not found.")
            answer = dict(self.public(database), tables=copy.deepcopy(self.tables.get(database["id"], [])))
            return _json(200, answer)
        return None

    # -- collections (§2) --

    def _collection_list(self, req):
        archived = req.query.get("archived", ["false"])[0] == "true"
        rows = [dict(c) for c in self.collections.values() if c["archived"] == archived]
        root = {"id": "root", "name": "Our analytics", "can_write": True, "effective_ancestors": []}
        return _json(200, [root, *sorted(rows, key=lambda c: (c["name"].lower(), c["id"]))])

    def _collection_create(self, req):
        body = req.body
        if not body.get("name"):
            return _json(400, {"errors": {"name": "value must be a non-blank string."}})
        parent = body.get("parent_id")
        if parent is not None and parent not in self.collections:
            return _text(404, "Not found.")
        location = "/" if parent is None else f"{self.collections[parent]['location']}{parent}/"
        collection = {
            "id": next(self._content_ids),
            "name": body["name"],
            "description": body.get("description"),
            "location": location,
            "archived": False,
            "archived_directly": None,
            "personal_owner_id": None,
            "namespace": None,
            "authority_level": None,
            "entity_id": _nano_id(),
            "type": None,
            "created_at": "2026-01-01T00:00:00Z",
        }
        self.collections[collection["id"]] = collection
        return _json(200, collection)

    def _collection_detail(self, collection):
        parent = collection["location"].rstrip("/").split("/")[-1]
        return dict(collection, parent_id=int(parent) if parent else None, can_write=True, is_personal=False)

    def _collection_get(self, _req, collection):
        return _json(200, self._collection_detail(collection))

    def _collection_update(self, req, collection):
        body = req.body
        for key in ("name", "description"):
            if key in body:
                collection[key] = body[key]
        # Malli default: an omitted "archived" is false, so this PUT unarchives (content-facts §2).
        archived = body.get("archived", False)
        collection["archived"] = bool(archived)
        collection["archived_directly"] = True if archived else None
        if archived:
            for card in self.cards.values():
                if card["collection_id"] == collection["id"]:
                    card["archived"] = True
        return _json(200, self._collection_detail(collection))

    def _collection_items(self, req, collection_id):
        archived = req.query.get("archived", ["false"])[0] == "true"
        rows = []
        for collection in self.collections.values():
            parent = collection["location"].rstrip("/").split("/")[-1]
            if (int(parent) if parent else None) == collection_id and collection["archived"] == archived:
                if collection["id"] != TRASH_ID:
                    rows.append({"id": collection["id"], "name": collection["name"], "model": "collection"})
        for card in self.cards.values():
            if card["collection_id"] == collection_id and card["archived"] == archived:
                rows.append({"id": card["id"], "name": card["name"], "model": "card", "display": card["display"]})
        for dashboard in self.dashboards.values():
            if dashboard["collection_id"] == collection_id and dashboard["archived"] == archived:
                rows.append({"id": dashboard["id"], "name": dashboard["name"], "model": "dashboard"})
        return _json(200, {"total": len(rows), "data": rows, "models": ["card", "collection", "dashboard"]})

    # -- cards (§1) --

    def _store_query(self, query):
        if "lib/type" not in query and "type" not in query:
            return None, _text(400, "Query must include :lib/type or :type")
        if "database" not in query:
            return None, _text(400, "Query must include :database")
        return self._mbql().to5(query), None

    def _card_json(self, card, legacy=False):
        result = copy.deepcopy(card)
        if legacy or self.mbql_version == 4:
            result["dataset_query"] = self._mbql().to4(card["dataset_query"])
        if card["archived"]:
            result["collection_id"] = TRASH_ID
        return result

    def _card_create(self, req):
        body = req.body
        stored, error = self._store_query(body["dataset_query"])
        if error:
            return error
        card = {
            "id": next(self._content_ids),
            "entity_id": _nano_id(),
            "name": body["name"],
            "description": body.get("description"),
            "display": body["display"],
            "type": body.get("type") or "question",
            "dataset_query": stored,
            "visualization_settings": body.get("visualization_settings") or {},
            "collection_id": body.get("collection_id"),
            "database_id": stored["database"],
            "query_type": "native" if stored["stages"][0]["lib/type"] == "mbql.stage/native" else "query",
            "parameters": body.get("parameters") or [],
            "parameter_mappings": [],
            "result_metadata": None,
            "archived": False,
            "card_schema": 23,
            "can_write": True,
        }
        self.cards[card["id"]] = card
        return _json(200, self._card_json(card))

    def _card_get(self, req, card):
        legacy = req.query.get("legacy-mbql", ["false"])[0] == "true"
        return _json(200, self._card_json(card, legacy))

    def _card_update(self, req, card):
        body = req.body
        if "dataset_query" in body:
            stored, error = self._store_query(body["dataset_query"])
            if error:
                return error
            card["dataset_query"] = stored
            card["database_id"] = stored["database"]
        for key in ("name", "description", "display", "visualization_settings", "collection_id"):
            if key in body and not (key == "collection_id" and body.get("archived")):
                card[key] = body[key]
        if body.get("archived") is not None:
            card["archived"] = body["archived"]
        return _json(200, self._card_json(card))

    # -- dashboards (§3) --

    #: Card ids whose dashcards come back with ``card: {"id": n}`` (unreadable to the user, §3).
    reduced_cards = frozenset()

    def _dashboard_json(self, dashboard):
        result = copy.deepcopy(dashboard)
        for dashcard in result["dashcards"]:
            card = self.cards.get(dashcard["card_id"]) if dashcard["card_id"] is not None else None
            dashcard["card"] = self._card_json(card) if card else None
            if card and card["id"] in self.reduced_cards:
                dashcard["card"] = {"id": card["id"]}
        if dashboard["archived"]:
            result["collection_id"] = TRASH_ID
        return result

    def _dashboard_create(self, req):
        body = req.body
        dashboard = {
            "id": next(self._content_ids),
            "entity_id": _nano_id(),
            "name": body["name"],
            "description": body.get("description"),
            "collection_id": body.get("collection_id"),
            "parameters": body.get("parameters") or [],
            "archived": False,
            "width": "fixed",
            "tabs": [],
            "dashcards": [],
        }
        self.dashboards[dashboard["id"]] = dashboard
        return _json(200, self._dashboard_json(dashboard))

    def _dashboard_get(self, _req, dashboard):
        return _json(200, self._dashboard_json(dashboard))

    def _dashboard_update(self, req, dashboard):
        body = req.body
        for key in ("name", "description", "collection_id", "width"):
            if key in body:
                dashboard[key] = body[key]
        if body.get("parameters") is not None:
            dashboard["parameters"] = body["parameters"]
        if body.get("archived") is not None:
            dashboard["archived"] = body["archived"]
        if "dashcards" not in body:
            return _json(200, self._dashboard_json(dashboard))
        tab_ids = {}
        tabs = []
        for position, tab in enumerate(body.get("tabs") or []):  # omitted tabs: all deleted (trap 4)
            tab_id = tab["id"] if tab["id"] > 0 else next(self._dashcard_ids)
            tab_ids[tab["id"]] = tab_id
            tabs.append({"id": tab_id, "name": tab["name"], "position": position, "dashboard_id": dashboard["id"]})
        existing = {d["id"]: d for d in dashboard["dashcards"]}
        dashcards = []
        for item in body["dashcards"]:
            card_id = item.get("card_id")
            if card_id is not None:
                card = self.cards.get(card_id)
                if card is None or card["archived"]:
                    return _text(404, "Not found.")
            tab_id = tab_ids.get(item.get("dashboard_tab_id"), item.get("dashboard_tab_id")) if tabs else None
            if tabs and tab_id is None:
                if len(tabs) == 1:
                    tab_id = tabs[0]["id"]
                else:
                    return _text(400, "This dashboard has tab, makes sure every card has a tab")
            keep = existing.get(item["id"])
            dashcard = {
                "id": keep["id"] if keep else next(self._dashcard_ids),
                "dashboard_id": dashboard["id"],
                "card_id": card_id,
                "dashboard_tab_id": tab_id,
                "row": item["row"],
                "col": item["col"],
                "size_x": item["size_x"],
                "size_y": item["size_y"],
                "parameter_mappings": item.get("parameter_mappings") or [],
                "visualization_settings": item.get("visualization_settings") or {},
                "series": [],
                "action_id": None,
            }
            dashcards.append(dashcard)
        self.dashcard_writes.append(
            {
                "kept": sorted(d["id"] for d in dashcards if d["id"] in existing),
                "created": sum(1 for d in dashcards if d["id"] not in existing),
                "deleted": sorted(set(existing) - {d["id"] for d in dashcards}),
            }
        )
        dashboard["tabs"] = tabs
        dashboard["dashcards"] = dashcards
        return _json(200, self._dashboard_json(dashboard))
