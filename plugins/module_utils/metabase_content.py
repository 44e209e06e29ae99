# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Collections, cards and dashboards on top of the resource layer (``metabase_resource``).

Each class says what Metabase does differently for its kind of object:

* :class:`CollectionResource`: nested paths (missing ancestors created), and every PUT sends
  ``archived`` explicitly because ``PUT /api/collection/{id}`` defaults it to false (unarchives).
* :class:`CardResource`: the query by names (``metabase_mbql``), read back from MBQL 4 or MBQL 5
  alike, written only when the canonical definition differs (every PUT mints new ``lib/uuid``s).
* :class:`DashboardResource`: tabs, parameters and dashcards; dashcards and tabs are replaced
  wholesale by ``PUT /api/dashboard/{id}``, so the full lists are always sent together, existing ids
  kept for dashcards and tabs that stay, negative ids for new ones.
"""

from __future__ import annotations

import copy
import re
from typing import ClassVar

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_mbql import (
    MetadataCache,
    Unsupported,
    canonical_native,
    canonical_query,
    compile_native,
    compile_query,
    query_kind,
    read_dataset_query,
    resolve_native,
    resolve_query,
    short_hash,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (
    Change,
    Resource,
    ResourceError,
    join_path,
    split_path,
    unknown_name_error,
)

CARD_MODELS = ("card",)
DASHBOARD_MODELS = ("dashboard",)
ARCHIVED_SUFFIX = " (archived)"


def text_or_empty(value):
    return value if isinstance(value, str) else ""


# -- collections -----------------------------------------------------------------------------------


class CollectionResource(Resource):
    kind = "collection"
    api = "/api/collection/"
    keys = ("description",)
    hints: ClassVar[dict] = {
        403: "the Metabase account needs write access to the parent collection (an administrator has it)"
    }

    def normalize(self, obj):
        return {"description": text_or_empty(obj.get("description"))}

    def create_body(self, wanted):
        body = {"name": wanted["name"], "parent_id": wanted.get("_parent_id")}
        if wanted.get("description"):
            body["description"] = wanted["description"]
        return body

    def update_body(self, wanted, differing, current):
        # PUT defaults archived to false: say it, so that an update never unarchives by accident.
        body = {"archived": False}
        if "description" in differing:
            body["description"] = wanted["description"] or None
        return body

    def ensure_path(self, path, description=None, state="present"):
        """Ensure the collection at ``path``; missing ancestors are created. Returns
        ``(collection, changes)`` where ``collection`` has ``id`` and ``path`` (root: ``id`` None)."""
        found, missing = self.lookup.find_collection(path)
        parts = split_path(path)
        if state == "absent":
            if missing or found["id"] is None:
                return None, [Change("none", None, {}, {})]
            change = self.ensure(found, {"description": None}, state="absent")
            change.header = "collection %s" % found["path"]
            return None, [change]
        changes = []
        current = found
        depth = len(parts) - len(missing)
        for index, name in enumerate(missing):
            leaf = index == len(missing) - 1
            wanted = {
                "name": name,
                "description": description if leaf else None,
                "_parent_id": current["id"] if current["id"] is None or current["id"] > 0 else None,
            }
            change = self.ensure(None, wanted)
            created = dict(change.obj, path=join_path(parts[: depth + index + 1]))
            if not self.check_mode:
                self.lookup.remember_collection(change.obj)
            change.header = "collection %s" % created["path"]
            changes.append(change)
            current = created
        if not missing and found["id"] is not None:
            change = self.ensure(found, {"description": description})
            change.header = "collection %s" % found["path"]
            changes.append(change)
            if change.obj:
                current = dict(change.obj, path=found["path"])
        return current, changes


def public_collection(collection):
    if not collection:
        return {}
    return {
        "id": collection.get("id"),
        "name": collection.get("name"),
        "path": collection.get("path"),
        "description": collection.get("description"),
        "location": collection.get("location"),
    }


# -- cards -----------------------------------------------------------------------------------------

#: The card options the modules take (metabase_card, and each inline card of metabase_dashboard).
CARD_OPTIONS = ("database", "native", "query", "display", "visualization_settings", "description")


def card_definition_spec():
    """The argument spec of the CARD_OPTIONS: metabase_card's options, and the same keys of an inline
    card of metabase_dashboard (one spec, so the two cannot drift apart)."""
    return dict(
        database=dict(type="str"),
        native=dict(type="dict"),
        query=dict(type="dict"),
        display=dict(type="str", default="table"),
        visualization_settings=dict(type="dict"),
        description=dict(type="str"),
    )


class CardResource(Resource):
    kind = "card"
    api = "/api/card/"
    keys = ("database", "native", "query", "display", "visualization_settings", "description")
    hints: ClassVar[dict] = {
        400: "Metabase refused the question; check the query and the names in it",
        403: "the Metabase account needs write access to the collection and query access to the database",
    }

    def __init__(self, client, lookup, check_mode=False, metadata=None):
        super().__init__(client, lookup, check_mode)
        self.metadata = metadata or MetadataCache(client, lookup)

    # -- reading --

    def normalize(self, obj):
        result = {
            "name": obj.get("name"),
            "collection": self.lookup.collection_path(obj.get("collection_id")),
            "database": self.lookup.database_name(
                obj.get("database_id") or (obj.get("dataset_query") or {}).get("database")
            ),
            "display": obj.get("display"),
            "visualization_settings": obj.get("visualization_settings") or {},
            "description": text_or_empty(obj.get("description")),
            "native": None,
            "query": None,
        }
        try:
            kind, definition = read_dataset_query(obj.get("dataset_query"), self.metadata.get)
        except Unsupported as exc:
            kind = query_kind(obj.get("dataset_query"))
            definition = {"unsupported": str(exc)}
        result[kind] = definition
        return result

    def read_card(self, card_id):
        card = self.read(card_id)
        if not isinstance(card, dict) or card.get("id") != card_id:
            raise ResourceError("GET /api/card/%d answered something other than the card." % card_id)
        return card

    # -- wanting --

    def wanted(self, options, collection, where):
        """The compared keys (and the write payload) of a card given by module options."""
        name = options.get("name")
        if not name:
            raise ResourceError("%s: name is required" % where)
        native, query = options.get("native"), options.get("query")
        if (native is None) == (query is None):
            raise ResourceError("%s (%s): give exactly one of native or query" % (where, name))
        if not options.get("database"):
            raise ResourceError("%s (%s): database is required" % (where, name))
        database = self.lookup.database(options["database"])
        wanted = {
            "name": name,
            "collection": collection.get("path") or "",
            "database": database["name"],
            "display": options.get("display") or "table",
            "visualization_settings": options.get("visualization_settings"),
            "description": options.get("description"),
            "native": None,
            "query": None,
            "_collection_id": collection.get("id"),
        }
        label = "%s (%s)" % (where, name)
        if native is not None:
            canonical = resolve_native(
                canonical_native(native, label + ".native"), lambda: self.metadata.get(database["id"])
            )
            wanted["native"] = canonical
            wanted["_dataset_query"] = compile_native(
                canonical, database["id"], lambda: self.metadata.get(database["id"])
            )
        else:
            metadata = self.metadata.get(database["id"])
            canonical = resolve_query(canonical_query(query, label + ".query"), metadata)
            wanted["query"] = canonical
            wanted["_dataset_query"] = compile_query(canonical, database["id"], metadata)
        return wanted

    # -- writing --

    def create_body(self, wanted):
        body = {
            "name": wanted["name"],
            "type": "question",
            "collection_id": wanted["_collection_id"] if (wanted["_collection_id"] or 0) > 0 else None,
            "dataset_query": wanted["_dataset_query"],
            "display": wanted["display"],
            "visualization_settings": wanted.get("visualization_settings") or {},
        }
        if wanted.get("description"):
            body["description"] = wanted["description"]
        return body

    def update_body(self, wanted, differing, current):
        body = {}
        if set(differing) & {"database", "native", "query"}:
            body["dataset_query"] = wanted["_dataset_query"]
        for key in ("display", "visualization_settings"):
            if key in differing:
                body[key] = wanted[key]
        if "description" in differing:
            body["description"] = wanted["description"] or None
        return body

    def predict(self, current, wanted, body):
        predicted = super().predict(current, wanted, body)
        predicted.setdefault("name", wanted.get("name"))
        return predicted

    def find(self, collection_id, name):
        return self.lookup.find_item(collection_id, name, CARD_MODELS)

    def ensure_card(self, options, collection, state="present", where="card", known=None):
        """Find the card ``options["name"]`` in ``collection`` and make it as wanted.

        ``known`` maps card ids to cards already read (the hydrated cards of a dashboard), which
        saves a GET per card. Returns ``(change, wanted)``.
        """
        item = self.find(collection.get("id"), options["name"])
        current = None
        if item is not None:
            current = (known or {}).get(item["id"])
            if not (isinstance(current, dict) and "dataset_query" in current and "display" in current):
                current = self.read_card(item["id"])
        if state == "absent":
            change = self.ensure(current, {}, state="absent")
            change.header = "card %s" % options["name"]
            return change, None
        wanted = self.wanted(options, collection, where)
        change = self.ensure(current, wanted)
        change.header = "card %s" % options["name"]
        if change.action == "create" and not self.check_mode:
            self.lookup.remember_item(
                collection.get("id"), {"id": change.obj["id"], "name": wanted["name"], "model": "card"}
            )
        return change, wanted


def public_card(card, normalized=None):
    if not card:
        return {}
    result = {
        "id": card.get("id"),
        "name": card.get("name"),
        "collection_id": card.get("collection_id"),
        "display": card.get("display"),
        "archived": card.get("archived", False),
    }
    if normalized:
        result.update(collection=normalized.get("collection"), database=normalized.get("database"))
    return result


# -- dashboards ------------------------------------------------------------------------------------

DASHCARD_PLACEMENT = ("row", "col", "size_x", "size_y")
VIRTUAL_DISPLAYS = ("text", "heading")


def slugify(name):
    """Metabase's parameter slug: lower case, runs of other characters as ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "parameter"


def canonical_parameter(item, where):
    if not isinstance(item, dict) or not item.get("name"):
        raise ResourceError("%s: each parameter needs a name" % where)
    unknown = set(item) - {"name", "slug", "type", "default"}
    if unknown:
        raise ResourceError(
            "%s: unknown keys %s (known: name, slug, type, default)" % (where, ", ".join(sorted(unknown)))
        )
    result = {
        "name": item["name"],
        "slug": item.get("slug") or slugify(item["name"]),
        "type": item.get("type") or "string/=",
    }
    if item.get("default") is not None:
        result["default"] = item["default"]
    return result


def read_parameter(param):
    result = {"name": param.get("name"), "slug": param.get("slug"), "type": param.get("type")}
    if param.get("default") is not None:
        result["default"] = param["default"]
    return result


def dashcard_sort_key(item, tabs):
    tab = item.get("tab")
    return (
        tabs.index(tab) if tab in tabs else -1,
        item.get("row", 0),
        item.get("col", 0),
        str(item.get("card") or item.get("text") or item.get("heading") or ""),
    )


def card_source_table(dataset_query):
    """The source table id of a stored card query (either MBQL version), or None."""
    if not isinstance(dataset_query, dict):
        return None
    if "lib/type" in dataset_query:
        stages = dataset_query.get("stages") or [{}]
        return stages[0].get("source-table")
    return (dataset_query.get("query") or {}).get("source-table")


def card_template_tags(dataset_query):
    if not isinstance(dataset_query, dict):
        return {}
    if "lib/type" in dataset_query:
        stages = dataset_query.get("stages") or [{}]
        return stages[0].get("template-tags") or {}
    return (dataset_query.get("native") or {}).get("template-tags") or {}


class DashboardResource(Resource):
    kind = "dashboard"
    api = "/api/dashboard/"
    keys = ("description", "parameters", "tabs", "cards")
    hints: ClassVar[dict] = {
        400: "Metabase refused the dashboard; check the cards, tabs and parameter mappings",
        403: "the Metabase account needs write access to the collection and data access to mapped tables",
    }

    def __init__(self, client, lookup, check_mode=False, metadata=None):
        super().__init__(client, lookup, check_mode)
        self.metadata = metadata or MetadataCache(client, lookup)

    # -- reading --

    #: What a dashcard's hydrated ``card`` must carry to be compared without reading the card.
    HYDRATED_KEYS = ("name", "collection_id", "archived", "dataset_query", "display")

    def read_dashboard(self, dashboard_id):
        """The dashboard; a dashcard whose ``card`` comes back short (Metabase reduces cards the
        user cannot read to ``{"id": n}``) gets the card read on its own."""
        dashboard = self.read(dashboard_id)
        if not isinstance(dashboard, dict) or dashboard.get("id") != dashboard_id:
            raise ResourceError("GET /api/dashboard/%d answered something other than the dashboard." % dashboard_id)
        read = {}
        for dashcard in dashboard.get("dashcards") or []:
            card_id = dashcard.get("card_id") if isinstance(dashcard, dict) else None
            card = dashcard.get("card") if isinstance(dashcard, dict) else None
            if card_id is None or (isinstance(card, dict) and all(k in card for k in self.HYDRATED_KEYS)):
                continue
            if card_id not in read:
                answer = self.client.request("GET", "/api/card/%d" % card_id, hints=self.hints)
                read[card_id] = answer if isinstance(answer, dict) else {"id": card_id}
            dashcard["card"] = read[card_id]
        return dashboard

    def _mapping_target(self, target, card):
        """``{"column": ...}`` or ``{"tag": ...}`` of a stored mapping target."""
        if not isinstance(target, list) or len(target) < 2 or not isinstance(target[1], list):
            return {"unsupported": repr(target)}
        ref = target[1]
        if ref and ref[0] == "template-tag" and len(ref) > 1:
            name = ref[1]
            return {"tag": name if isinstance(name, str) else (name or {}).get("id")}
        if ref and ref[0] == "field" and len(ref) > 1:
            field = ref[1]
            if isinstance(field, dict) and len(ref) > 2:  # an MBQL 5 ref: ["field", {options}, id]
                field = ref[2]
            if isinstance(field, str):
                return {"column": field}
            dataset_query = (card or {}).get("dataset_query")
            try:
                metadata = self.metadata.get(dataset_query.get("database"))
                table = metadata.table_by_id(card_source_table(dataset_query))
                return {"column": metadata.column_name(field, table)}
            except (Unsupported, AttributeError, TypeError):
                return {"unsupported": repr(target)}
        return {"unsupported": repr(target)}

    def normalize_dashcard(self, dashcard, dashboard_path, tab_names, param_names):
        item = {}
        card = dashcard.get("card") if isinstance(dashcard.get("card"), dict) else None
        if dashcard.get("card_id") is None:
            settings = dashcard.get("visualization_settings") or {}
            display = (settings.get("virtual_card") or {}).get("display")
            if display in VIRTUAL_DISPLAYS:
                item[display] = settings.get("text") or ""
            else:
                item["unsupported"] = "a %s card" % (display or "virtual")
        else:
            name = (card or {}).get("name") or "card #%s" % dashcard.get("card_id")
            path = self.lookup.collection_path((card or {}).get("collection_id"))
            if (card or {}).get("archived") or path is None:
                name += ARCHIVED_SUFFIX
            item["card"] = name
            if path is not None and path != dashboard_path:
                item["collection"] = path
        for key in DASHCARD_PLACEMENT:
            item[key] = dashcard.get(key)
        if tab_names:
            item["tab"] = tab_names.get(dashcard.get("dashboard_tab_id"))
        mappings = []
        for mapping in dashcard.get("parameter_mappings") or []:
            entry = {"parameter": param_names.get(mapping.get("parameter_id"), mapping.get("parameter_id"))}
            entry.update(self._mapping_target(mapping.get("target"), card))
            mappings.append(entry)
        if mappings:
            item["parameter_mappings"] = sorted(mappings, key=lambda m: sorted((k, str(v)) for k, v in m.items()))
        return item

    def normalize(self, obj):
        dashboard_path = self.lookup.collection_path(obj.get("collection_id"))
        tabs = sorted(obj.get("tabs") or [], key=lambda t: (t.get("position") or 0, t.get("id") or 0))
        tab_names = dict((t.get("id"), t.get("name")) for t in tabs)
        tab_list = [t.get("name") for t in tabs]
        params = [p for p in obj.get("parameters") or [] if isinstance(p, dict)]
        param_names = dict((p.get("id"), p.get("name")) for p in params)
        cards = [
            self.normalize_dashcard(d, dashboard_path, tab_names, param_names)
            for d in obj.get("dashcards") or obj.get("ordered_cards") or []
            if isinstance(d, dict)
        ]
        cards.sort(key=lambda item: dashcard_sort_key(item, tab_list))
        return {
            "name": obj.get("name"),
            "collection": dashboard_path,
            "description": text_or_empty(obj.get("description")),
            "parameters": [read_parameter(p) for p in params],
            "tabs": tab_list,
            "cards": cards,
        }

    # -- writing --

    def create_body(self, wanted):
        body = {
            "name": wanted["name"],
            "collection_id": wanted["_collection_id"] if (wanted["_collection_id"] or 0) > 0 else None,
        }
        if wanted.get("description"):
            body["description"] = wanted["description"]
        if wanted.get("parameters"):
            body["parameters"] = wanted["_parameters"]
        return body

    def layout_body(self, wanted, current):
        """``tabs`` and ``dashcards`` for PUT: full lists, kept ids for what stays, negative for new."""
        existing_tabs = dict((t.get("name"), t.get("id")) for t in (current or {}).get("tabs") or [])
        tabs, tab_ids, next_id = [], {}, -1
        for name in wanted.get("tabs") or []:
            tab_id = existing_tabs.get(name)
            if tab_id is None:
                tab_id, next_id = next_id, next_id - 1
            tab_ids[name] = tab_id
            tabs.append({"id": tab_id, "name": name})
        unused = [d for d in (current or {}).get("dashcards") or [] if isinstance(d, dict)]
        dashcards, next_id = [], -1
        for entry in wanted["_dashcards"]:
            match = None
            same_card = [d for d in unused if d.get("card_id") == entry["card_id"]]
            if entry["card_id"] is None:
                same_card = [
                    d
                    for d in same_card
                    if ((d.get("visualization_settings") or {}).get("virtual_card") or {}).get("display")
                    == entry["virtual"]
                ]
            for candidate in same_card:
                if all(candidate.get(k) == entry[k] for k in ("row", "col")):
                    match = candidate
                    break
            if match is None and same_card:
                match = same_card[0]
            if match is not None:
                unused.remove(match)
                dashcard_id = match["id"]
                settings = match.get("visualization_settings") or {}
            else:
                dashcard_id, next_id = next_id, next_id - 1
                settings = {}
            if entry["card_id"] is None:
                settings = dict(settings, text=entry["text"])
                settings.setdefault(
                    "virtual_card",
                    {
                        "name": None,
                        "display": entry["virtual"],
                        "visualization_settings": {},
                        "dataset_query": {},
                        "archived": False,
                    },
                )
            dashcard = {
                "id": dashcard_id,
                "card_id": entry["card_id"],
                "row": entry["row"],
                "col": entry["col"],
                "size_x": entry["size_x"],
                "size_y": entry["size_y"],
                "dashboard_tab_id": tab_ids.get(entry.get("tab")) if tabs else None,
                "parameter_mappings": [dict(m, card_id=entry["card_id"]) for m in entry["mappings"]]
                if entry["card_id"]
                else [],
                "visualization_settings": settings,
                "series": [],
            }
            dashcards.append(dashcard)
        return {"tabs": tabs, "dashcards": dashcards}

    def update_body(self, wanted, differing, current):
        body = {}
        if "description" in differing:
            body["description"] = wanted["description"] or None
        if "parameters" in differing:
            body["parameters"] = wanted["_parameters"]
        if set(differing) & {"tabs", "cards"}:
            body.update(self.layout_body(wanted, current))
        return body

    def ensure(self, current, wanted, state="present"):
        change = super().ensure(current, wanted, state)
        if change.action == "create" and (wanted.get("cards") or wanted.get("tabs")):
            body = self.layout_body(wanted, None)
            if self.check_mode:
                change.obj = dict(change.obj, **body)
            else:
                updated = self.client.request("PUT", self.item_path(change.obj["id"]), body=body, hints=self.hints)
                if isinstance(updated, dict) and updated.get("id") == change.obj["id"]:
                    change.obj = updated
        return change


def wanted_parameters(parameters, current, where="parameters"):
    """Canonical parameters and the API list: existing ids kept by slug, new ids stable per slug."""
    canonical = [canonical_parameter(p, "%s[%d]" % (where, i)) for i, p in enumerate(parameters or [])]
    slugs = [p["slug"] for p in canonical]
    duplicates = sorted(set(s for s in slugs if slugs.count(s) > 1))
    if duplicates:
        raise ResourceError("%s: slug %s is used twice" % (where, ", ".join(duplicates)))
    existing = dict((p.get("slug"), p) for p in (current or {}).get("parameters") or [] if isinstance(p, dict))
    api = []
    for param in canonical:
        body = copy.deepcopy(existing.get(param["slug"])) or {"id": short_hash(param["slug"])}
        body.update(name=param["name"], slug=param["slug"], type=param["type"])
        if "default" in param:
            body["default"] = param["default"]
        else:
            body.pop("default", None)
        api.append(body)
    return canonical, api


def parameter_lookup(canonical, api):
    """name or slug -> (canonical parameter, api parameter)."""
    found = {}
    for param, body in zip(canonical, api, strict=True):
        found.setdefault(param["slug"], (param, body))
        found[param["name"]] = (param, body)
    return found


def known_card_names(lookup, collection_id):
    return lookup.item_names(collection_id, CARD_MODELS)


def unknown_card(name, lookup, collection_id, where):
    return unknown_name_error("card", name, known_card_names(lookup, collection_id), where)


# -- a dashboard from module options -----------------------------------------------------------------

#: Keys of a dashboard ``cards`` entry that define an inline card (the options of metabase_card).
INLINE_KEYS = ("database", "native", "query", "visualization_settings", "description")


def _entry_kind(entry, where):
    kinds = [key for key in ("name", "card", "text", "heading") if entry.get(key) is not None]
    if len(kinds) != 1:
        raise ResourceError(
            "%s: give exactly one of name (an inline card), card (an existing card), text or heading" % where
        )
    kind = kinds[0]
    if kind != "name":
        extra = [key for key in INLINE_KEYS if entry.get(key) is not None]
        if extra:
            raise ResourceError(
                "%s: %s only go with an inline card (name), not with %s" % (where, ", ".join(extra), kind)
            )
    if kind != "card" and entry.get("collection") is not None:
        raise ResourceError(
            "%s: collection only goes with card (an inline card lives in the dashboard's collection)" % where
        )
    if kind in ("text", "heading") and entry.get("parameter_mappings"):
        raise ResourceError("%s: a %s card takes no parameter_mappings" % (where, kind))
    return kind


class DashboardBuilder:
    """Turns the options of metabase_dashboard into the wanted dashboard, ensuring its inline cards.

    ``run()`` returns the :class:`Change` of the dashboard and the changes of its cards.
    """

    def __init__(self, ctx, params):
        self.ctx = ctx
        self.params = params
        self.metadata = MetadataCache(ctx.client, ctx.lookup)
        self.cards = ctx.resource(CardResource, metadata=self.metadata)
        self.dashboards = ctx.resource(DashboardResource, metadata=self.metadata)
        self.collections = ctx.resource(CollectionResource)
        self.changes = ctx.changes
        self.card_results = []

    def find_dashboard(self, collection):
        item = self.ctx.lookup.find_item(collection.get("id"), self.params["name"], DASHBOARD_MODELS)
        return self.dashboards.read_dashboard(item["id"]) if item else None

    def run(self):
        params = self.params
        if params["state"] == "absent":
            found, missing = self.ctx.lookup.find_collection(params.get("collection"))
            current = None if missing else self.find_dashboard(found)
            change = self.dashboards.ensure(current, {}, state="absent")
            change.header = "dashboard %s" % params["name"]
            self.changes.append(change)
            return change
        collection, collection_changes = self.collections.ensure_path(params.get("collection"))
        self.changes.extend(c for c in collection_changes if c.changed)
        current = self.find_dashboard(collection)
        wanted = self.wanted(collection, current)
        change = self.dashboards.ensure(current, wanted)
        change.header = "dashboard %s" % params["name"]
        self.changes.append(change)
        return change

    # -- wanted --

    def wanted(self, collection, current):
        params = self.params
        wanted = {
            "name": params["name"],
            "collection": collection.get("path") or "",
            "description": params.get("description"),
            "parameters": None,
            "tabs": None,
            "cards": None,
            "_collection_id": collection.get("id"),
        }
        if params.get("parameters") is not None:
            canonical, api = wanted_parameters(params["parameters"], current)
            wanted["parameters"], wanted["_parameters"] = canonical, api
        else:
            stored = [p for p in (current or {}).get("parameters") or [] if isinstance(p, dict)]
            canonical, api = [read_parameter(p) for p in stored], stored
            wanted["_parameters"] = api
        self.parameters = parameter_lookup(canonical, api)
        if params.get("cards") is None:
            if params.get("tabs"):
                raise ResourceError("tabs need cards: the cards list says which card goes on which tab")
            return wanted
        tabs = [str(t) for t in params.get("tabs") or []]
        if len(set(tabs)) != len(tabs):
            raise ResourceError("tabs: each tab name may appear once")
        wanted["tabs"] = tabs
        known = dict(
            (d["card"]["id"], d["card"])
            for d in (current or {}).get("dashcards") or []
            if isinstance(d, dict) and isinstance(d.get("card"), dict) and d["card"].get("id") is not None
        )
        items, dashcards, inline = [], [], {}
        for index, entry in enumerate(params["cards"]):
            where = "cards[%d]" % index
            item, dashcard = self.dashcard(entry, where, collection, (tabs, known, inline))
            items.append(item)
            dashcards.append(dashcard)
        items.sort(key=lambda item: dashcard_sort_key(item, tabs))
        wanted["cards"] = items
        wanted["_dashcards"] = dashcards
        return wanted

    def inline_card(self, entry, where, collection, known, inline):
        """``(card id, canonical definition)`` of an inline card, created or updated once per run."""
        name = entry["name"]
        options = dict((key, entry.get(key)) for key in ("name", *CARD_OPTIONS))
        if name in inline:
            if inline[name][0] != options:
                raise ResourceError("%s: the inline card %r is defined twice, differently" % (where, name))
            return inline[name][1], inline[name][2]
        change, card_def = self.cards.ensure_card(options, collection, where=where, known=known)
        self.changes.append(change)
        inline[name] = (options, change.obj["id"], card_def)
        self.card_results.append({"name": name, "id": change.obj["id"], "action": change.action})
        return change.obj["id"], card_def

    def dashcard(self, entry, where, collection, context):
        """``(canonical item, dashcard entry)`` of one ``cards`` entry; ``context`` is (tabs, known, inline)."""
        tabs, known, inline = context
        kind = _entry_kind(entry, where)
        item, dashcard = {}, {"card_id": None, "virtual": None, "text": None, "mappings": []}
        card_def = None
        home = collection.get("path") or ""
        if kind in ("text", "heading"):
            item[kind] = entry[kind]
            dashcard.update(virtual=kind, text=entry[kind])
        elif kind == "name":
            dashcard["card_id"], card_def = self.inline_card(entry, where, collection, known, inline)
            item["card"] = entry["name"]
        else:
            path = home if entry.get("collection") is None else entry["collection"]
            dashcard["card_id"], card_def = self.referenced(entry["card"], path, where, known)
            item["card"] = entry["card"]
            if path != home:
                item["collection"] = path
        self.place(entry, where, tabs, item, dashcard)
        mappings = []
        for number, mapping in enumerate(entry.get("parameter_mappings") or []):
            canonical, api = self.mapping(mapping, card_def, "%s.parameter_mappings[%d]" % (where, number))
            mappings.append(canonical)
            dashcard["mappings"].append(api)
        if mappings:
            item["parameter_mappings"] = sorted(mappings, key=lambda m: sorted((k, str(v)) for k, v in m.items()))
        return item, dashcard

    @staticmethod
    def place(entry, where, tabs, item, dashcard):
        """The grid place and tab of a dashcard, checked."""
        for key in DASHCARD_PLACEMENT:
            low = 0 if key in ("row", "col") else 1
            value = entry.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ResourceError("%s: %s must be an integer >= %d" % (where, key, low))
            item[key] = dashcard[key] = value
        if tabs:
            tab = entry.get("tab") or tabs[0]
            if tab not in tabs:
                raise unknown_name_error("tab", tab, tabs, " (%s)" % where)
            item["tab"] = dashcard["tab"] = tab
        elif entry.get("tab"):
            raise ResourceError("%s: tab %r, but the dashboard has no tabs" % (where, entry["tab"]))

    def referenced(self, name, path, where, known):
        """``(card id, canonical definition)`` of an existing card given by name."""
        found, missing = self.ctx.lookup.find_collection(path)
        item = None if missing else self.cards.find(found["id"], name)
        if item is None:
            if self.ctx.check_mode:
                self.ctx.warn("%s: card %r not found in %r; assuming an earlier task creates it" % (where, name, path))
                return self.cards.next_predicted_id(), None
            if missing:
                raise ResourceError("%s: collection %r of card %r does not exist" % (where, path, name))
            raise unknown_card(
                name, self.ctx.lookup, found["id"], " in collection %r (%s)" % (path or "Our analytics", where)
            )
        card = known.get(item["id"])
        if not (isinstance(card, dict) and "dataset_query" in card):
            card = self.cards.read_card(item["id"])
        normalized = self.cards.normalize(card)
        card_def = dict(native=normalized["native"], query=normalized["query"], database=normalized["database"])
        return item["id"], card_def

    def mapping(self, mapping, card_def, where):
        """``(canonical, api)`` of one parameter mapping of a dashcard."""
        if not isinstance(mapping, dict) or not mapping.get("parameter"):
            raise ResourceError("%s: each mapping needs parameter" % where)
        if (mapping.get("column") is None) == (mapping.get("tag") is None):
            raise ResourceError("%s: give exactly one of column (a simple question) or tag (a SQL variable)" % where)
        found = self.parameters.get(mapping["parameter"])
        if found is None:
            names = [p["name"] for p, _body in self.parameters.values()]
            raise unknown_name_error("dashboard parameter", mapping["parameter"], names, " (%s)" % where)
        param, body = found
        canonical = {"parameter": param["name"]}
        if card_def is None:  # check mode, card not created yet
            key = "column" if mapping.get("column") is not None else "tag"
            canonical[key] = mapping[key]
            return canonical, {"parameter_id": body["id"], "target": ["variable", ["template-tag", str(mapping[key])]]}
        if mapping.get("tag") is not None:
            tags = (card_def.get("native") or {}).get("template_tags") or {}
            if card_def.get("native") is None:
                raise ResourceError(
                    "%s: tag goes with a native (SQL) card; this card is a simple question, use column" % where
                )
            tag = mapping["tag"]
            if tag not in tags:
                raise unknown_name_error("template tag", tag, list(tags), " (%s)" % where)
            kind = "dimension" if tags[tag]["type"] == "dimension" else "variable"
            canonical["tag"] = tag
            return canonical, {"parameter_id": body["id"], "target": [kind, ["template-tag", tag]]}
        query = card_def.get("query")
        if not query or "unsupported" in query:
            raise ResourceError("%s: column goes with a simple question; this card is native SQL, use tag" % where)
        database = self.ctx.lookup.database(card_def["database"])
        metadata = self.metadata.get(database["id"])
        table = metadata.table(query["source_table"])
        field = metadata.column_field(mapping["column"], table)
        canonical["column"] = metadata.column_name(field["id"], table)
        return canonical, {"parameter_id": body["id"], "target": ["dimension", ["field", field["id"], None]]}


def public_dashboard(dashboard, collection_path=None):
    if not dashboard:
        return {}
    return {
        "id": dashboard.get("id"),
        "name": dashboard.get("name"),
        "collection_id": dashboard.get("collection_id"),
        "collection": collection_path,
        "archived": dashboard.get("archived", False),
    }
