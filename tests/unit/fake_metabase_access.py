"""Access routes of the unit tests' fake Metabase: users, groups, memberships, both permission graphs,
settings and the cache API, answering as ``shared/metabase/content-facts.md`` §4-8 records, traps
included:

* ``PUT /api/user/{id}/reactivate`` clears ``is_superuser`` (trap 9); ``DELETE /api/user/{id}``
  deactivates; ``GET /api/user/`` lists active users unless ``status=all|deactivated``;
* the graphs are sparse and elided (trap 7); a PUT with a stale or missing revision answers 409 with
  Metabase's plain text unless ``?force=true`` (trap 5); ``view-data: blocked`` answers 402 (trap 10);
  ``conflict_next(n)`` makes someone else write the graph just before each of the next ``n`` PUTs;
* settings answer ``value: null`` for defaults and env values, ``is_env_setting`` says which (trap 8);
* ``PUT /api/cache`` takes only the open-source root strategies: ``duration`` -> 400, another model ->
  402, and ``GET /api/cache?model=dashboard`` -> 402 (trap 10); ``paid_edition = True`` lifts both.
"""

from __future__ import annotations

import copy
import itertools
import json

STALE = (
    "Looks like someone else edited the permissions and your data is out of date. Please fetch new data and try again."
)
BLOCKED = (
    "The blocked permissions functionality is only enabled if you have a premium token with the "
    "advanced-permissions feature."
)
GRANULAR = (
    "Granular Caching is a paid feature not currently available to your instance. Please upgrade to use it. "
    "Learn more at metabase.com/upgrade/"
)
LEAST = {"view-data": "blocked", "create-queries": "no", "download": "none"}
SETTING_DEFAULTS = {
    "enable-public-sharing": True,
    "enable-embedding-static": False,
    "anon-tracking-enabled": True,
    "check-for-updates": True,
    "site-url": None,
    "site-name": "Metabase",
}


def _json(status, payload):
    return status, json.dumps(payload).encode("utf-8")


def _text(status, text):
    return status, text.encode("utf-8")


class AccessRoutes:
    def _init_access(self):
        self.groups = {1: "All Users", 2: "Administrators"}
        self._group_ids = itertools.count(3)
        self._membership_ids = itertools.count(1)
        self._memberships = {}  # membership id -> (user id, group id)
        self.data_perms = {}  # (group, db) -> {type: value}
        self.collection_perms = {1: {"root": "write"}}  # group -> {key: value}
        self.revisions = {"data": 1, "collection": 1}
        self._conflicts = 0
        self.settings = {}  # key -> stored value
        self.env_settings = {}  # key -> value from MB_*
        self.cache_policies = {}  # (model, id) -> strategy
        self.paid_edition = False
        self.api_key_rows = {}  # id -> {id, name, group_id, key}
        self._api_key_ids = itertools.count(1)

    # -- helpers for tests ------------------------------------------------------------------------

    def person(self, email):
        user = self.users[email]
        user.setdefault("is_active", True)
        user.setdefault("groups", {1, 2} if user["is_superuser"] else {1})
        return user

    def add_person(self, email, *, groups=(), superuser=False, active=True, first_name=None, last_name=None):
        user = self._add_user(email, "Pw-" + email, superuser, first_name, last_name)
        user["is_active"] = active
        user["groups"] = {1, *groups} | ({2} if superuser else set())
        return user

    def add_group(self, name):
        group_id = next(self._group_ids)
        self.groups[group_id] = name
        for (g, db), perms in list(self.data_perms.items()):
            if g == 1:
                self.data_perms[(group_id, db)] = dict(perms)
        return group_id

    def open_database(self, db_id):
        """Trap 6: a new database gives every non-admin group full query access."""
        for group_id in self.groups:
            if group_id != 2:
                self.data_perms[(group_id, db_id)] = {
                    "view-data": "unrestricted",
                    "create-queries": "query-builder-and-native",
                    "download": "full",
                }

    def conflict_next(self, count=1):
        self._conflicts = count

    # -- routing ----------------------------------------------------------------------------------

    def _access_route(self, req, path, user):  # noqa: PLR0911, PLR0912 - one branch per route
        parts = [p for p in path.split("/") if p][1:]
        method = req.method
        if method == "PUT" and len(parts) == 2 and parts[0] in ("table", "field") and parts[1].isdigit():
            return self._metadata_put(parts[0], int(parts[1]), req.body if isinstance(req.body, dict) else {})
        admin_only = parts[:1] in (["user"], ["permissions"], ["setting"], ["cache"], ["api-key"]) or parts == [
            "collection",
            "graph",
        ]
        if not admin_only or parts == ["user", "current"]:
            return None
        if not user["is_superuser"]:
            return _text(403, "You don't have permissions to do that.")
        body = req.body if isinstance(req.body, dict) else {}
        if parts == ["user"]:
            return self._users_list(req) if method == "GET" else self._user_create(body)
        if parts[0] == "user" and len(parts) >= 2 and parts[1].isdigit():
            person = next((u for u in self.users.values() if u["id"] == int(parts[1])), None)
            if person is None:
                return _text(404, "Not found.")
            self.person(person["email"])
            if parts[2:] == ["reactivate"] and method == "PUT":
                return self._user_reactivate(person)
            if len(parts) == 2:
                handler = {"GET": self._user_get, "PUT": self._user_update, "DELETE": self._user_deactivate}
                return handler[method](person, body)
        if parts == ["permissions", "group"]:
            if method == "GET":
                return _json(200, [self._group_json(g) for g in sorted(self.groups)])
            return self._group_create(body)
        if parts[:2] == ["permissions", "group"] and len(parts) == 3:
            group_id = int(parts[2])
            if group_id not in self.groups:
                return _text(404, "Not found.")
            if method == "DELETE":
                del self.groups[group_id]
                return 204, b""
            return _json(200, dict(self._group_json(group_id), members=self._members(group_id)))
        if parts == ["permissions", "membership"] and method == "POST":
            person = next(u for u in self.users.values() if u["id"] == body["user_id"])
            self.person(person["email"])["groups"].add(body["group_id"])
            if body["group_id"] == 2:
                person["is_superuser"] = True
            return _json(200, self._members(body["group_id"]))
        if parts[:2] == ["permissions", "membership"] and method == "DELETE":
            user_id, group_id = self._memberships[int(parts[2])]
            person = next(u for u in self.users.values() if u["id"] == user_id)
            person["groups"].discard(group_id)
            return 204, b""
        if parts[:3] == ["permissions", "graph", "group"] and method == "GET":
            return _json(200, self._data_graph(int(parts[3])))
        if parts == ["permissions", "graph"] and method == "PUT":
            return self._put_data_graph(req, body)
        if parts == ["collection", "graph"]:
            return self._collection_graph() if method == "GET" else self._put_collection_graph(req, body)
        if parts == ["setting"] and method == "GET":
            return _json(200, [self._setting_item(k) for k in sorted(SETTING_DEFAULTS)])
        if parts[:1] == ["setting"] and len(parts) == 2 and method == "PUT":
            if parts[1] not in SETTING_DEFAULTS:
                return _json(500, {"message": f"Unknown setting: {parts[1]}"})
            self.settings[parts[1]] = body.get("value")
            return 204, b""
        if parts[:1] == ["api-key"]:
            return self._api_key_route(parts[1:], method, body)
        if parts == ["cache"]:
            return self._cache_get(req) if method == "GET" else self._cache_put(body)
        return _text(404, "API endpoint does not exist.")

    # -- users ------------------------------------------------------------------------------------

    def _user_json(self, person):
        groups = sorted(person["groups"])
        return {
            "id": person["id"],
            "email": person["email"],
            "first_name": person["first_name"],
            "last_name": person["last_name"],
            "common_name": person["common_name"],
            "is_superuser": person["is_superuser"],
            "is_active": person["is_active"],
            "group_ids": groups,
            "user_group_memberships": [{"id": g} for g in groups],
        }

    def _users_list(self, req):
        status = (req.query.get("status") or [""])[0]
        people = [self.person(e) for e in self.users]
        if status == "all":
            chosen = people
        elif status == "deactivated":
            chosen = [p for p in people if not p["is_active"]]
        else:
            chosen = [p for p in people if p["is_active"]]
        data = [self._user_json(p) for p in chosen]
        return _json(200, {"data": data, "total": len(data), "limit": None, "offset": None})

    def _user_create(self, body):
        if any(e.lower() == body["email"].lower() for e in self.users):
            return _json(400, {"errors": {"email": "Email address already in use."}})
        ids = {m["id"] for m in body.get("user_group_memberships") or []}
        person = self._add_user(
            body["email"], body.get("password"), 2 in ids, body.get("first_name"), body.get("last_name")
        )
        person["is_active"] = True
        person["groups"] = {1, *ids}
        return _json(200, self._user_json(person))

    def _user_get(self, person, _body):
        return _json(200, self._user_json(person))

    def _user_update(self, person, body):
        if not person["is_active"]:
            return _text(404, "Not found.")
        memberships = body.get("user_group_memberships")
        if memberships is not None:
            ids = {m["id"] for m in memberships}
            if "is_superuser" in body and (2 in ids) != body["is_superuser"]:
                return _json(400, {"errors": {"is_superuser": "Value of is_superuser must correspond ..."}})
            person["groups"] = {1, *ids}
            person["is_superuser"] = 2 in ids
        elif body.get("is_superuser") is not None:
            person["is_superuser"] = body["is_superuser"]
            person["groups"] = (person["groups"] - {2}) | ({2} if body["is_superuser"] else set())
        for key in ("first_name", "last_name"):
            if key in body:
                person[key] = body[key]
        return _json(200, self._user_json(person))

    def _user_deactivate(self, person, _body):
        person["is_active"] = False
        return _json(200, {"success": True})

    def _user_reactivate(self, person):
        if person["is_active"]:
            return _json(400, {"message": "Not able to reactivate an active user"})
        person["is_active"] = True
        person["is_superuser"] = False  # trap 9
        person["groups"].discard(2)
        return _json(200, self._user_json(person))

    # -- groups -----------------------------------------------------------------------------------

    def _group_json(self, group_id):
        magic = {1: "all-internal-users", 2: "admin"}.get(group_id)
        return {"id": group_id, "name": self.groups[group_id], "magic_group_type": magic, "member_count": 0}

    def _group_create(self, body):
        if any(n.lower() == body["name"].lower() for n in self.groups.values()):
            return _text(400, "A group with that name already exists.")
        return _json(200, self._group_json(self.add_group(body["name"])))

    def _members(self, group_id):
        members = []
        for email in self.users:
            person = self.person(email)
            if group_id in person["groups"] and person["is_active"]:
                membership_id = next(
                    (m for m, key in self._memberships.items() if key == (person["id"], group_id)), None
                ) or next(self._membership_ids)
                self._memberships[membership_id] = (person["id"], group_id)
                members.append({"membership_id": membership_id, "user_id": person["id"], "email": email})
        return members

    # -- graphs -----------------------------------------------------------------------------------

    def _check_revision(self, req, graph, body):
        if self._conflicts > 0:
            self._conflicts -= 1
            self.revisions[graph] += 1  # someone else wrote first
        if (req.query.get("force") or [""])[0] == "true":
            return None
        if body.get("revision") != self.revisions[graph]:
            return _text(409, STALE)
        return None

    def _data_graph(self, group_id):
        groups = {}
        if group_id == 2:
            groups["2"] = {
                str(db): {"view-data": "unrestricted", "create-queries": "query-builder-and-native"}
                for db in self.databases
            }
        else:
            entry = {}
            for (g, db), perms in sorted(self.data_perms.items()):
                if g != group_id:
                    continue
                shown = {}
                for key, value in perms.items():
                    if value != LEAST[key]:
                        shown[key] = {"schemas": value} if key == "download" else value
                if shown:
                    entry[str(db)] = shown
            if entry:
                groups[str(group_id)] = entry
        return {"revision": self.revisions["data"], "groups": groups}

    def _put_data_graph(self, req, body):
        refused = self._check_revision(req, "data", body)
        if refused:
            return refused
        for g, dbs in body["groups"].items():
            for db, perms in dbs.items():
                if perms.get("view-data") == "blocked":
                    return _text(402, BLOCKED)
                stored = self.data_perms.setdefault((int(g), int(db)), dict(LEAST))
                for key, value in perms.items():
                    stored[key] = value["schemas"] if key == "download" else value
                if stored["create-queries"] != "no":
                    stored["view-data"] = "unrestricted"
        self.revisions["data"] += 1
        return _json(200, {"revision": self.revisions["data"], "groups": {}})

    def _collection_graph(self):
        keys = ["root"] + [
            str(c["id"])
            for c in self.collections.values()
            if not c.get("archived") and c.get("type") != "trash" and c.get("personal_owner_id") is None
        ]
        groups = {str(g): {k: v for k, v in perms.items() if v != "none"} for g, perms in self.collection_perms.items()}
        groups["2"] = {k: "write" for k in keys}
        return _json(200, {"revision": self.revisions["collection"], "groups": {k: v for k, v in groups.items() if v}})

    def _put_collection_graph(self, req, body):
        refused = self._check_revision(req, "collection", body)
        if refused:
            return refused
        for g, entries in body["groups"].items():
            stored = self.collection_perms.setdefault(int(g), {})
            for key, value in entries.items():
                if value == "none":
                    stored.pop(key, None)
                else:
                    stored[key] = value
        self.revisions["collection"] += 1
        return self._collection_graph()

    # -- settings and cache -----------------------------------------------------------------------

    def _setting_item(self, key):
        default = SETTING_DEFAULTS[key]
        env = key in self.env_settings
        stored = self.settings.get(key)
        value = None if env or stored is None or stored == default else stored
        env_name = "MB_" + key.upper().replace("-", "_")
        return {
            "key": key,
            "value": value,
            "is_env_setting": env,
            "env_name": env_name,
            "description": "…",
            "default": f"Using value of env var ${env_name}" if env else default,
        }

    def _cache_get(self, req):
        model = (req.query.get("model") or ["root"])[0]
        if model != "root" and not self.paid_edition:
            return _json(402, {"message": GRANULAR, "status": "error-premium-feature-not-available"})
        rows = [
            {"model": m, "model_id": i, "strategy": copy.deepcopy(s)}
            for (m, i), s in sorted(self.cache_policies.items())
            if m == model
        ]
        return _json(200, {"data": rows})

    def _cache_put(self, body):
        strategy = body.get("strategy") or {}
        if not self.paid_edition and strategy.get("type") not in ("ttl", "nocache"):
            return _json(400, {"errors": {"strategy": "value must be a map with schema: ..."}})
        if body["model"] != "root" and not self.paid_edition:
            return _json(402, {"message": GRANULAR, "status": "error-premium-feature-not-available"})
        self.cache_policies[(body["model"], body["model_id"])] = copy.deepcopy(strategy)
        return _json(200, {"id": len(self.cache_policies)})

    # -- metadata -------------------------------------------------------------------------------

    def _metadata_put(self, kind, item_id, body):
        for tables in self.tables.values():
            for table in tables:
                items = [table] if kind == "table" else table["fields"]
                for item in items:
                    if item["id"] == item_id:
                        if body.get("description") == "":
                            return _json(400, {"errors": {"description": "nullable value must be a non-blank string."}})
                        for key, value in body.items():
                            if key in ("description", "semantic_type") or value is not None:
                                item[key] = value
                        return _json(200, item)
        return _text(404, "Not found.")

    # -- API keys -------------------------------------------------------------------------------

    def _api_key_json(self, row, unmasked=False):
        shown = {
            "id": row["id"],
            "name": row["name"],
            "group": {"id": row["group_id"], "name": self.groups[row["group_id"]]},
            "masked_key": row["key"][:7] + "*" * 40,
            "prefix": row["key"][:7],
        }
        if unmasked:
            shown["unmasked_key"] = row["key"]
        return shown

    def _new_key(self, row):
        row["key"] = "mb_" + next(self._key_material)
        # A key of Administrators acts as an administrator (the fake has no separate key users).
        admin = next(email for email, user in self.users.items() if user["is_superuser"])
        self.api_keys[row["key"]] = admin if row["group_id"] == 2 else f"api-key-user-{row['id']}@api-key.invalid"

    def _api_key_route(self, rest, method, body):
        if not hasattr(self, "_key_material"):
            self._key_material = (f"Key{n:04d}Material{'x' * 32}=" for n in itertools.count(1))
        if not rest:
            if method == "GET":
                return _json(200, [self._api_key_json(r) for r in self.api_key_rows.values()])
            row = {"id": next(self._api_key_ids), "name": body["name"], "group_id": body["group_id"]}
            self._new_key(row)
            self.api_key_rows[row["id"]] = row
            return _json(200, self._api_key_json(row, unmasked=True))
        row = self.api_key_rows.get(int(rest[0]))
        if row is None:
            return _text(404, "Not found.")
        if rest[1:] == ["regenerate"]:
            self.api_keys.pop(row["key"], None)
            self._new_key(row)
            return _json(200, self._api_key_json(row, unmasked=True))
        if method == "DELETE":
            self.api_keys.pop(row["key"], None)
            del self.api_key_rows[row["id"]]
            return 204, b""
        row["group_id"] = body.get("group_id", row["group_id"])
        return _json(200, self._api_key_json(row))
