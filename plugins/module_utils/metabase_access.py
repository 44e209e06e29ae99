# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Access as code: people, groups, permission graphs, settings, caching, metadata.

The access modules sit on the resource layer (:mod:`metabase_resource`): they read, compare an
explicit list of keys, stop in check mode, write only the difference, and return a
:class:`~metabase_resource.Change`. What Metabase does differently for these objects lives here
(content-facts.md §4-9):

* people are found by email (any case) among **all** users, deactivated ones included; ``absent``
  deactivates (``DELETE /api/user/{id}``), never deletes; reactivation clears ``is_superuser``, so
  the superuser flag is written again right after it;
* groups are found by name; the magic groups (All Users, Administrators) are never created,
  renamed or deleted; Administrators membership *is* the superuser flag;
* permission graphs are sparse and elided (a missing key is the least permissive value); a write
  sends only the differing entries with the revision it read; a 409 (someone else wrote) means
  re-read, re-compute, retry, **never** ``force``;
* settings set by an environment variable are refused (Metabase would store the value and keep
  answering the env one); a null ``value`` on read means "the default";
* the cache API of the open-source edition only takes the adaptive (``ttl``) or ``nocache`` root
  policy; duration, schedule and per-object policies are detected and refused with a clear message.
"""

from __future__ import annotations

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase import MetabaseError
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (
    Change,
    ResourceError,
    unknown_name_error,
)

ALL_USERS = 1
ADMINISTRATORS = 2
MAGIC_GROUPS = ("All Users", "Administrators")

#: How often a graph write is tried again after a 409 (someone else changed the graph meanwhile).
GRAPH_ATTEMPTS = 4

#: Data permission values: option value -> graph value, and the least permissive (elided) one.
VIEW_DATA = ("unrestricted", "legacy-no-self-service", "blocked")
CREATE_QUERIES = ("query-builder-and-native", "query-builder", "no")
DOWNLOAD = ("full", "limited", "none")
DATA_TYPES = (
    ("view_data", "view-data", VIEW_DATA),
    ("create_queries", "create-queries", CREATE_QUERIES),
    ("download", "download", DOWNLOAD),
)
COLLECTION_ACCESS = ("write", "read", "none")

PAID_CACHE = (
    "Caching policies other than the adaptive (ttl) or nocache policy of the root, that is the duration and "
    "schedule strategies and per-database, per-dashboard or per-question policies, need a paid Metabase edition "
    "(the Granular Caching feature); this instance does not offer it"
)


# -- lookups ---------------------------------------------------------------------------------------


def list_users(client):
    """Every personal user, deactivated ones included (``GET /api/user/?status=all``)."""
    answer = client.request("GET", "/api/user/", query={"status": "all"})
    users = answer.get("data") if isinstance(answer, dict) else answer
    if not isinstance(users, list):
        raise ResourceError("GET /api/user/ answered something other than a list of users.")
    return [u for u in users if isinstance(u, dict) and isinstance(u.get("id"), int)]


def find_user(users, email):
    wanted = email.strip().lower()
    named = [u for u in users if str(u.get("email", "")).lower() == wanted]
    return named[0] if named else None


def list_groups(client):
    answer = client.request("GET", "/api/permissions/group")
    if not isinstance(answer, list):
        raise ResourceError("GET /api/permissions/group answered something other than a list of groups.")
    return [g for g in answer if isinstance(g, dict) and isinstance(g.get("id"), int)]


def find_group(groups, name):
    named = [g for g in groups if g.get("name") == name]
    return named[0] if named else None


def group_ids(groups, names):
    """The ids of the groups ``names``; an unknown name fails naming close matches."""
    ids = []
    for name in names:
        group = find_group(groups, name)
        if group is None:
            raise unknown_name_error("group", name, [g.get("name") for g in groups])
        ids.append(group["id"])
    return ids


def user_group_ids(user):
    memberships = user.get("user_group_memberships")
    if isinstance(memberships, list):
        return sorted(set(m["id"] for m in memberships if isinstance(m, dict) and isinstance(m.get("id"), int)))
    return sorted(set(i for i in user.get("group_ids") or [] if isinstance(i, int)))


# -- users -----------------------------------------------------------------------------------------

USER_KEYS = ("email", "first_name", "last_name", "superuser", "groups", "active")


def normalize_user(user, groups):
    """The compared keys of a user; ``groups`` are names, without All Users and Administrators."""
    names = dict((g["id"], g.get("name")) for g in groups)
    ids = user_group_ids(user)
    return dict(
        email=user.get("email"),
        first_name=user.get("first_name"),
        last_name=user.get("last_name"),
        superuser=bool(user.get("is_superuser")),
        groups=sorted(names.get(i, str(i)) for i in ids if i not in (ALL_USERS, ADMINISTRATORS)),
        active=bool(user.get("is_active", True)),
    )


def wanted_user(params, current, groups):
    """The compared keys the module wants (``None``: not managed)."""
    wanted = dict(
        email=params["email"],
        first_name=params.get("first_name"),
        last_name=params.get("last_name"),
        superuser=params.get("superuser"),
        groups=None,
        active=params["state"] == "present",
    )
    if params.get("groups") is not None:
        names = sorted(set(n for n in params["groups"] if n not in MAGIC_GROUPS))
        group_ids(groups, names)  # fails early on an unknown name
        if params.get("append_groups") and current is not None:
            names = sorted(set(names) | set(current["groups"]))
        wanted["groups"] = names
    return wanted


def membership_body(group_names, superuser, groups):
    ids = [ALL_USERS] + group_ids(groups, group_names) + ([ADMINISTRATORS] if superuser else [])
    return [dict(id=i) for i in sorted(set(ids))]


def ensure_user(client, params, check_mode):
    """Create, update, reactivate or deactivate one person. Returns a :class:`Change`."""
    groups = list_groups(client)
    user = find_user(list_users(client), params["email"])
    current = normalize_user(user, groups) if user else None
    wanted = wanted_user(params, current, groups)
    header = "user %s" % params["email"]
    if params["state"] == "absent":
        if not user or not current["active"]:
            return _change("none", user, current or {}, current or {}, header)
        if not check_mode:
            client.request("DELETE", "/api/user/%d" % user["id"])
        return _change("deactivate", dict(user, is_active=False), current, dict(current, active=False), header)
    if not user:
        return _create_user(client, params, wanted, groups, check_mode, header)
    return _update_user(client, user, current, wanted, groups, check_mode, header)


def _create_user(client, params, wanted, groups, check_mode, header):  # noqa: PLR0917
    body = dict(email=params["email"])
    for key in ("first_name", "last_name"):
        if params.get(key):
            body[key] = params[key]
    body["user_group_memberships"] = membership_body(wanted["groups"] or [], bool(wanted["superuser"]), groups)
    if params.get("initial_password"):
        body["password"] = params["initial_password"]
    after = dict((k, v) for k, v in wanted.items() if v is not None)
    after.update(superuser=bool(wanted["superuser"]), groups=wanted["groups"] or [])
    if check_mode:
        return _change("create", dict(id=-1, email=params["email"], is_active=True), {}, after, header)
    created = client.request("POST", "/api/user/", body=body, idempotent=False)
    return _change("create", created, {}, after, header)


def _update_user(client, user, current, wanted, groups, check_mode, header):  # noqa: PLR0917
    action, reactivated = "update", current
    if not current["active"]:
        action = "reactivate"
        if not check_mode:
            user = client.request("PUT", "/api/user/%d/reactivate" % user["id"])
        # Reactivation clears is_superuser: what the user becomes now is what gets compared.
        user = dict(user, is_active=True, is_superuser=False)
        reactivated = dict(normalize_user(user, groups), active=True, superuser=False)
        if wanted["superuser"] is None:
            wanted["superuser"] = current["superuser"]  # restore what it was before the deactivation
    differing = [k for k in USER_KEYS if wanted.get(k) is not None and wanted[k] != reactivated.get(k)]
    if "email" in differing and wanted["email"].lower() == str(reactivated["email"]).lower():
        differing.remove("email")  # emails compare without case, as Metabase's lookup does
    if not differing and action == "update":
        return _change("none", user, current, current, header)
    body = dict((key, wanted[key]) for key in ("first_name", "last_name") if key in differing)
    if "superuser" in differing or "groups" in differing:
        names = wanted["groups"] if wanted["groups"] is not None else reactivated["groups"]
        superuser = wanted["superuser"] if wanted["superuser"] is not None else reactivated["superuser"]
        body["is_superuser"] = bool(superuser)
        body["user_group_memberships"] = membership_body(names, bool(superuser), groups)
    after = dict(current)
    after.update(dict((k, wanted[k]) for k in differing))
    after["active"] = True
    if body and not check_mode:
        user = client.request("PUT", "/api/user/%d" % user["id"], body=body)
    return _change(action, user, current, after, header)


def _change(action, obj, before, after, header):
    change = Change(action, obj, before, after)
    change.header = header
    return change


def public_user(user, groups):
    if not user:
        return {}
    shown = normalize_user(user, groups)
    shown["id"] = user.get("id")
    return shown


# -- groups ----------------------------------------------------------------------------------------


def ensure_group(client, name, state, check_mode, *, members=None, members_exclusive=False):
    """Create or delete a group by name and, when ``members`` is given, its members (emails).

    Returns ``(group, [Change, ...])``.
    """
    groups = list_groups(client)
    group = find_group(groups, name)
    header = "group %s" % name
    changes = []
    if name in MAGIC_GROUPS and (state == "absent" or (members is not None and name == "All Users")):
        raise ResourceError(
            "%r is one of Metabase's own groups: it cannot be deleted, and All Users always holds everyone." % name
        )
    if state == "absent":
        if group is None:
            return None, [_change("none", None, {}, {}, header)]
        if not check_mode:
            client.request("DELETE", "/api/permissions/group/%d" % group["id"])
        return None, [_change("delete", None, dict(name=name), {}, header)]
    if group is None:
        if check_mode:
            group = dict(id=-1, name=name)
        else:
            group = client.request("POST", "/api/permissions/group", body=dict(name=name), idempotent=False)
        changes.append(_change("create", group, {}, dict(name=name), header))
    if members is not None:
        changes.append(_ensure_members(client, group, members, members_exclusive, check_mode))
    if not changes:
        changes.append(_change("none", group, dict(name=name), dict(name=name), header))
    return group, changes


def _ensure_members(client, group, members, exclusive, check_mode):
    header = "members of group %s" % group["name"]
    users = list_users(client)
    current = []
    if group["id"] > 0:
        detail = client.request("GET", "/api/permissions/group/%d" % group["id"])
        current = [m for m in (detail.get("members") or []) if isinstance(m, dict)]
    by_email = dict((str(m.get("email", "")).lower(), m) for m in current)
    wanted = []
    for email in members:
        user = find_user(users, email)
        if user is None:
            raise unknown_name_error("user", email, [u.get("email") for u in users])
        if not user.get("is_active", True):
            raise ResourceError("User %r is deactivated; reactivate them (metabase_user) first." % email)
        wanted.append(user)
    to_add = [u for u in wanted if str(u["email"]).lower() not in by_email]
    wanted_emails = set(str(u["email"]).lower() for u in wanted)
    to_remove = [m for e, m in sorted(by_email.items()) if exclusive and e not in wanted_emails]
    before = sorted(by_email)
    after = sorted((set(before) | wanted_emails) - set(str(m.get("email", "")).lower() for m in to_remove))
    removed = sorted(str(m.get("email", "")).lower() for m in to_remove)
    if not to_add and not to_remove:
        change = _change("none", group, dict(members=before), dict(members=before), header)
        change.removed = removed
        return change
    if not check_mode:
        for user in to_add:
            client.request(
                "POST",
                "/api/permissions/membership",
                body=dict(group_id=group["id"], user_id=user["id"]),
                idempotent=False,
            )
        for member in to_remove:
            client.request("DELETE", "/api/permissions/membership/%d" % member["membership_id"])
    change = _change("update", group, dict(members=before), dict(members=after), header)
    change.removed = removed
    return change


# -- data and collection permissions ---------------------------------------------------------------


def _graph_value(perm_type, raw):
    if isinstance(raw, dict) and set(raw) == {"schemas"}:
        raw = raw["schemas"]
    return raw


def current_data_permissions(graph, group_id, db_id):
    """``{view_data, create_queries, download}`` of a group on a database; an elided key is the least
    permissive value (content-facts trap 7). Granular (schema) values come back as they are."""
    entry = ((graph.get("groups") or {}).get(str(group_id)) or {}).get(str(db_id)) or {}
    found = {}
    for option, key, values in DATA_TYPES:
        found[option] = _graph_value(key, entry[key]) if key in entry else values[-1]
    return found


def plan_data(graph, group_id, wanted):
    """``(before, after, sparse graph entries)`` for ``wanted``: ``{db_id: {option: value}}``."""
    before, after, entries = {}, {}, {}
    for db_id, values in sorted(wanted.items()):
        current = current_data_permissions(graph, group_id, db_id)
        target = dict(current)
        target.update(dict((k, v) for k, v in values.items() if v is not None))
        # Metabase's implication: query access needs unrestricted view data.
        if target["create_queries"] != "no" and values.get("view_data") is None:
            target["view_data"] = "unrestricted" if current["view_data"] == "blocked" else current["view_data"]
        differing = dict((k, target[k]) for k in target if target[k] != current[k])
        before[db_id], after[db_id] = current, target
        if differing:
            body = {}
            for option, key, _values in DATA_TYPES:
                if option in differing:
                    body[key] = {"schemas": differing[option]} if key == "download" else differing[option]
            entries[str(db_id)] = body
    return before, after, entries


def plan_collections(graph, group_id, wanted):
    """``(before, after, entries)`` for ``wanted``: ``{collection key: access}``."""
    current = (graph.get("groups") or {}).get(str(group_id)) or {}
    before, after, entries = {}, {}, {}
    for key, access in sorted(wanted.items()):
        have = current.get(str(key), "none")
        before[str(key)], after[str(key)] = have, access
        if have != access:
            entries[str(key)] = access
    return before, after, entries


def write_graph(client, read, plan, put_path, check_mode, *, attempts=GRAPH_ATTEMPTS):
    """Read a graph, plan, write the sparse difference with the revision read; on 409 read again.

    ``read()`` returns the graph; ``plan(graph)`` returns ``(before, after, entries)`` where
    ``entries`` is the ``groups`` body (empty: nothing to write). Returns ``(before, after, written,
    conflicts)``. Never sends ``force``.
    """
    conflicts = 0
    while True:
        graph = read()
        before, after, entries = plan(graph)
        if not entries or check_mode:
            return before, after, bool(entries), conflicts
        try:
            client.request("PUT", put_path, body=dict(revision=graph.get("revision"), groups=entries))
            return before, after, True, conflicts
        except MetabaseError as exc:
            if exc.status != 409:
                raise
            conflicts += 1
            if conflicts >= attempts:
                raise ResourceError(
                    "%s kept answering 409 (the permissions changed under the module %d times in a row); "
                    "nothing was forced. Hint: run again once the other writer is done." % (put_path, conflicts)
                ) from None


# -- settings --------------------------------------------------------------------------------------


def normalize_setting_value(key, value):
    """Metabase's normalization of a written value (``site-url``: no trailing ``/``, a scheme)."""
    if key == "site-url" and isinstance(value, str) and value:
        value = value.rstrip("/")
        if "://" not in value:
            value = "http://" + value
    return value


def effective_setting(item):
    """The value of a ``GET /api/setting/`` item: ``value``, or the ``default`` when it is null."""
    return item.get("default") if item.get("value") is None else item.get("value")


def same_setting_value(current, wanted):
    if isinstance(current, bool) or isinstance(wanted, bool):
        return str(current).lower() == str(wanted).lower()
    if isinstance(current, (int, float)) and isinstance(wanted, str):
        return str(current) == wanted
    return current == wanted


# -- cache -----------------------------------------------------------------------------------------


def cache_strategy(params):
    kind = params["strategy"]
    if kind == "nocache":
        return dict(type="nocache")
    if kind == "ttl":
        return dict(type="ttl", multiplier=params["multiplier"], min_duration_ms=params["min_duration_ms"])
    if kind == "duration":
        return dict(type="duration", duration=params["duration"], unit=params["unit"], refresh_automatically=False)
    return dict(type="schedule", schedule=params["schedule"], refresh_automatically=False)


def needs_paid_cache(model, strategy):
    return model != "root" or strategy.get("type") not in ("ttl", "nocache")


def granular_caching_available(client):
    """Whether the instance offers per-object and duration policies: ``GET /api/cache?model=dashboard``
    answers 402 on an edition without Granular Caching (read-only preflight, also in check mode)."""
    try:
        client.request("GET", "/api/cache/", query={"model": "dashboard"})
    except MetabaseError as exc:
        if exc.status == 402:
            return False
        raise
    return True


# -- table and field metadata ----------------------------------------------------------------------

TABLE_KEYS = ("visibility", "description", "display_name")
FIELD_KEYS = ("visibility", "description", "display_name", "semantic_type")
#: Option value -> Metabase's ``visibility_type`` (a visible table is ``null``).
TABLE_VISIBILITY = {"visible": None, "hidden": "hidden", "technical": "technical", "cruft": "cruft"}


def database_metadata(client, database_id):
    """Tables and fields of a database, hidden and sensitive ones included."""
    answer = client.request(
        "GET", "/api/database/%d/metadata" % database_id, query={"include_hidden": "true", "remove_inactive": "true"}
    )
    tables = answer.get("tables") if isinstance(answer, dict) else None
    if not isinstance(tables, list):
        raise ResourceError("GET /api/database/%d/metadata answered no list of tables." % database_id)
    return [t for t in tables if isinstance(t, dict) and t.get("active", True)]


def find_table(tables, name):
    """A table by ``name`` or ``schema.name``; ``None`` when Metabase does not list it."""
    schema, _dot, bare = name.rpartition(".")
    named = [t for t in tables if t.get("name") == bare and (not schema or t.get("schema") == schema)]
    if len(named) > 1:
        raise ResourceError(
            "Metabase lists %d tables named %r (schemas %s). Hint: write it as schema.table."
            % (len(named), bare, ", ".join(sorted(str(t.get("schema")) for t in named)))
        )
    return named[0] if named else None


def normalize_table(table):
    visibility = table.get("visibility_type")
    return dict(
        visibility="visible" if visibility is None else visibility,
        description=table.get("description") or "",
        display_name=table.get("display_name"),
    )


def normalize_field(field):
    return dict(
        visibility=field.get("visibility_type") or "normal",
        description=field.get("description") or "",
        display_name=field.get("display_name"),
        semantic_type=field.get("semantic_type") or "",
    )


def metadata_body(differing, wanted, table):
    """The PUT body for the differing keys; ``""`` clears a description or semantic type (null)."""
    body = {}
    for key in differing:
        value = wanted[key]
        if key == "visibility":
            body["visibility_type"] = TABLE_VISIBILITY[value] if table else value
        elif key in ("description", "semantic_type"):
            body[key] = value or None
        else:
            body[key] = value
    return body


def ensure_metadata(client, path, current, wanted, check_mode, header, table):  # noqa: PLR0917
    """Compare and PUT one table's or field's metadata. Returns a :class:`Change`."""
    before = normalize_table(current) if table else normalize_field(current)
    keys = TABLE_KEYS if table else FIELD_KEYS
    shown = [k for k in keys if wanted.get(k) is not None]
    differing = [k for k in shown if wanted[k] != before[k]]
    before_shown = dict((k, before[k]) for k in shown)
    after = dict(before_shown)
    after.update(dict((k, wanted[k]) for k in differing))
    if not differing:
        return _change("none", current, before_shown, before_shown, header)
    if not check_mode:
        client.request("PUT", path, body=metadata_body(differing, wanted, table))
    return _change("update", current, before_shown, after, header)


def locate_table(spec, database, tables):
    """The table named ``spec["table"]`` among ``tables``: ``(table, identity, header)``, or the
    :class:`ResourceError` naming it unknown (with close matches)."""
    table = find_table(tables, spec["table"])
    if table is None:
        names = [t.get("name") for t in tables]
        return unknown_name_error("table", spec["table"], names, " in %r" % database["name"])
    identity = dict(schema=table.get("schema"), name=table.get("name"))
    return table, identity, "table %s.%s" % (identity["schema"], identity["name"])


def locate_field(spec, database, tables):
    """The active column ``spec["field"]`` of the table ``spec["table"]``: ``(field, identity, header)``,
    or the :class:`ResourceError` naming the table or the column unknown (with close matches)."""
    table = find_table(tables, spec["table"])
    if table is None:
        return unknown_name_error("table", spec["table"], [t.get("name") for t in tables])
    fields = [f for f in table.get("fields") or [] if isinstance(f, dict) and f.get("active", True)]
    field = next((f for f in fields if f.get("name") == spec["field"]), None)
    if field is None:
        names = [f.get("name") for f in fields]
        return unknown_name_error("column", spec["field"], names, " in %r" % spec["table"])
    qualified = "%s.%s" % (table.get("schema"), table.get("name"))
    return field, dict(table=qualified, name=field["name"]), "field %s.%s" % (qualified, field["name"])


LOCATE = {"table": locate_table, "field": locate_field}


def table_options():
    """The options naming a table and its compared keys (``metabase_table``, ``metabase_metadata`` tables)."""
    return dict(
        table=dict(type="str", required=True),
        visibility=dict(type="str", choices=list(TABLE_VISIBILITY)),
        description=dict(type="str"),
        display_name=dict(type="str"),
    )


def field_options():
    """The options naming a column and its compared keys (``metabase_field``, ``metabase_metadata`` fields)."""
    return dict(
        table=dict(type="str", required=True),
        field=dict(type="str", required=True),
        visibility=dict(type="str", choices=["normal", "details-only", "hidden", "sensitive", "retired"]),
        description=dict(type="str"),
        display_name=dict(type="str"),
        semantic_type=dict(type="str"),
    )


def ensure_metadata_item(client, kind, spec, found, check_mode):
    """Compare the keys ``spec`` gives with the table (``kind="table"``) or field (``kind="field"``)
    ``found`` (what ``LOCATE[kind]`` returned: ``(item, identity, header)``) and put the difference
    (:func:`ensure_metadata`).

    Returns ``(change, shown)``: the :class:`Change` and the item as the single modules return it (id,
    names, compared keys after the run, predicted in check mode)."""
    item, identity, header = found
    table = kind == "table"
    wanted = dict((k, spec.get(k)) for k in (TABLE_KEYS if table else FIELD_KEYS))
    path = "/api/%s/%d" % (kind, item["id"])
    change = ensure_metadata(client, path, item, wanted, check_mode, header, table)
    return change, dict(change.after, id=item["id"], **identity)


def run_metadata_module(ctx, kind):
    """The run of ``metabase_table`` (``kind="table"``) and ``metabase_field`` (``kind="field"``).

    Finds the database, reads its metadata, and sets the one item the parameters name
    (:func:`ensure_metadata_item`). A missing item fails, or reports nothing with ``missing=ignore``.
    The result holds the item (predicted in check mode) and the diff."""
    params = ctx.params
    database = ctx.lookup.database(params["database"])
    found = LOCATE[kind](params, database, database_metadata(ctx.client, database["id"]))
    if isinstance(found, Exception):
        if params["missing"] == "ignore":
            ctx.result[kind] = {}
            return
        raise found
    change, shown = ensure_metadata_item(ctx.client, kind, params, found, ctx.check_mode)
    ctx.changes.append(change)
    ctx.result[kind] = shown
    if ctx.diff_mode:
        ctx.result["diff"] = change.diff


def run_metadata_many(ctx):
    """The run of ``metabase_metadata``: many tables and fields of one database, one metadata read.

    Every item is located first; with ``missing=fail`` an item Metabase does not list fails the run
    before anything is written (the message names each such item, with close matches). Then each item
    that differs is put, one ``PUT`` per item. The result lists the tables and the fields as
    ``metabase_table`` and ``metabase_field`` return them, and the missing ones; the diff is one diff
    whose before and after are keyed by each changed item's name, and whose header names them."""
    params = ctx.params
    database = ctx.lookup.database(params["database"])
    specs = [("table", spec) for spec in params["tables"] or []] + [("field", spec) for spec in params["fields"] or []]
    tables = database_metadata(ctx.client, database["id"]) if specs else []
    located, missing = [], dict(tables=[], fields=[])
    errors, seen = [], set()
    for kind, spec in specs:
        found = LOCATE[kind](spec, database, tables)
        if isinstance(found, Exception):
            errors.append(str(found))
            name = spec["table"] if kind == "table" else dict(table=spec["table"], field=spec["field"])
            missing[kind + "s"].append(name)
            continue
        if (kind, found[0]["id"]) in seen:
            # A second entry would be compared with what Metabase held before the first one's write.
            raise ResourceError("The %s is given twice; give each table and column once." % found[2])
        seen.add((kind, found[0]["id"]))
        located.append((kind, spec, found))
    if errors and params["missing"] == "fail":
        raise ResourceError(" ".join(errors))
    ctx.result.update(tables=[], fields=[], missing=missing)
    for kind, spec, found in located:
        change, shown = ensure_metadata_item(ctx.client, kind, spec, found, ctx.check_mode)
        ctx.changes.append(change)
        ctx.result[kind + "s"].append(shown)
    if ctx.diff_mode:
        changed = [c for c in ctx.changes if c.changed]
        header = "metadata of database %s" % database["name"]
        if changed:
            header += ": " + ", ".join(c.header for c in changed)
        ctx.result["diff"] = dict(
            before=dict((c.header, c.before) for c in changed),
            after=dict((c.header, c.after) for c in changed),
            before_header=header,
            after_header=header,
        )
