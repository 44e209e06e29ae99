"""Data and collection permissions, the way Metabase (v0.50+, open-source edition) keeps them.

content-facts.md §4-6 is the source; what this module implements:

* **Data permissions** per (group, database), database level only: ``view-data``
  (``unrestricted`` | ``legacy-no-self-service`` | ``blocked``), ``create-queries``
  (``query-builder-and-native`` | ``query-builder`` | ``no``) and ``download`` (``full`` | ``limited``
  | ``none``). Administrators are never stored: the graph synthesizes them with everything.
* **New-database defaults** (trap 6): a trigger gives every non-admin group ``view-data
  unrestricted``, ``create-queries`` = the group's lowest value in any other database
  (``query-builder-and-native`` when it has none) and ``download`` likewise (``full``). A new group
  copies All Users' values for every database (``set-new-group-permissions!``).
* **Collection permissions** per (group, collection or ``root``): ``read`` | ``write``; a new
  collection copies its parent's (``root`` for top-level ones); personal collections, their children
  and the Trash have none (they never appear in the graph). A fresh instance gives All Users
  ``write`` on the root collection, as Metabase does.
* **Revisions**: each graph has its own counter; a PUT with a stale or missing ``revision`` is
  refused 409 with Metabase's plain-text message unless ``?force=true``.
* **Checks**: :func:`query_level` (the most permissive ``create-queries`` over a user's groups) and
  :func:`can_read_collection` decide whether a query or a collection read is allowed.

Granular (schema or table level) values are not supported by the double: a PUT carrying them is
refused 400 naming the limitation (Metabase would accept them).
"""

from __future__ import annotations

from collections.abc import Mapping

from double import appdb, auth

STALE_REVISION = (
    "Looks like someone else edited the permissions and your data is out of date. Please fetch new data and try again."
)
BLOCKED_IS_PAID = (
    "The blocked permissions functionality is only enabled if you have a premium token with the "
    "advanced-permissions feature."
)
NATIVE_NEEDS_DATA = (
    "Invalid DB permissions: If you have write access for native queries, you must have data access to all schemas."
)

#: Values of each data permission type, most permissive first (the last one is elided on read).
DATA_VALUES: dict[str, tuple[str, ...]] = {
    "view-data": ("unrestricted", "legacy-no-self-service", "blocked"),
    "create-queries": ("query-builder-and-native", "query-builder", "no"),
    "download": ("full", "limited", "none"),
}
#: Keys Metabase accepts in a database's entry of the graph (a closed set).
GRAPH_KEYS = ("view-data", "create-queries", "data", "download", "data-model", "details", "transforms", "workspaces")
COLLECTION_VALUES = ("write", "read", "none")

ADMIN_DATA = {
    "view-data": "unrestricted",
    "create-queries": "query-builder-and-native",
    "download": {"schemas": "full"},
    "data-model": {"schemas": "all"},
    "details": "yes",
}


class GraphError(Exception):
    """A refused graph write: ``status`` and the plain-text ``message`` Metabase answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- revisions -----------------------------------------------------------------------------------


def revision(cur, graph: str) -> int:
    cur.execute("SELECT count(*) FROM permissions_revision WHERE graph = %s", (graph,))
    return int(cur.fetchone()[0])


def check_revision(cur, graph: str, sent: object, force: bool) -> None:
    """Metabase's ``check-revision-numbers``: 409 unless ``sent`` is the current revision (or force)."""
    if force:
        return
    if isinstance(sent, bool) or not isinstance(sent, int) or sent != revision(cur, graph):
        raise GraphError(409, STALE_REVISION)


def bump(cur, graph: str, user_id: int) -> int:
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("permissions-" + graph,))
    cur.execute("INSERT INTO permissions_revision (graph, user_id) VALUES (%s, %s)", (graph, user_id))
    return revision(cur, graph)


# -- the data graph ------------------------------------------------------------------------------


def _shown(perm_type: str, value: str) -> object:
    return {"schemas": value} if perm_type == "download" else value


def data_graph(cur, *, group_id: int | None = None, db_id: int | None = None) -> dict:
    """``{"revision", "groups"}`` as ``GET /api/permissions/graph`` answers it: sparse, elided."""
    cur.execute("SELECT id FROM metabase_database ORDER BY id")
    db_ids = [row[0] for row in cur.fetchall() if db_id is None or row[0] == db_id]
    cur.execute("SELECT id FROM permissions_group ORDER BY id")
    group_ids = [row[0] for row in cur.fetchall() if group_id is None or row[0] == group_id]
    cur.execute("SELECT group_id, db_id, perm_type, value FROM data_permission")
    stored: dict[int, dict[int, dict[str, object]]] = {}
    for g, d, perm_type, value in cur.fetchall():
        if value == DATA_VALUES[perm_type][-1]:
            continue  # the least permissive value of each type is left out
        stored.setdefault(g, {}).setdefault(d, {})[perm_type] = _shown(perm_type, value)
    groups: dict[str, dict] = {}
    for g in group_ids:
        if g == auth.ADMIN_GROUP:
            entry = {str(d): dict(ADMIN_DATA) for d in db_ids}
        else:
            entry = {str(d): stored[g][d] for d in db_ids if stored.get(g, {}).get(d)}
        if entry:
            groups[str(g)] = entry
    return {"revision": revision(cur, "data"), "groups": groups}


def _value(perm_type: str, raw: object) -> str:
    if perm_type == "download":
        if isinstance(raw, dict) and set(raw) == {"schemas"}:
            raw = raw["schemas"]
        elif isinstance(raw, dict):
            raise GraphError(400, "The Metabase API double does not support granular (schema or table) permissions.")
    if isinstance(raw, dict):
        raise GraphError(400, "The Metabase API double does not support granular (schema or table) permissions.")
    if raw not in DATA_VALUES[perm_type]:
        raise GraphError(
            400, f"Cannot parse permissions graph because it is invalid: {perm_type} value {raw!r} is not allowed."
        )
    return str(raw)


def put_data_graph(cur, groups: object, user_id: int) -> list[int]:
    """Apply a sparse graph; returns the group ids it named. Raises :class:`GraphError`."""
    if not isinstance(groups, dict):
        raise GraphError(400, "Cannot parse permissions graph because it is invalid: groups must be a map.")
    cur.execute("SELECT id FROM permissions_group")
    known_groups = {row[0] for row in cur.fetchall()}
    cur.execute("SELECT id FROM metabase_database")
    known_dbs = {row[0] for row in cur.fetchall()}
    writes: list[tuple[int, int, dict[str, str]]] = []
    named: list[int] = []
    for g_key, dbs in groups.items():
        g = _int_key(g_key)
        if g not in known_groups or not isinstance(dbs, dict):
            raise GraphError(400, f"Cannot parse permissions graph because it is invalid: unknown group {g_key!r}.")
        named.append(g)
        for d_key, perms in dbs.items():
            d = _int_key(d_key)
            if d not in known_dbs or not isinstance(perms, dict):
                raise GraphError(
                    400, f"Cannot parse permissions graph because it is invalid: unknown database {d_key!r}."
                )
            unknown = [k for k in perms if k not in GRAPH_KEYS]
            if unknown:
                raise GraphError(
                    400, f"Cannot parse permissions graph because it is invalid: unknown key {unknown[0]!r}."
                )
            values = {k: _value(k, v) for k, v in perms.items() if k in DATA_VALUES}
            if values.get("view-data") == "blocked":
                if values.get("create-queries") == "query-builder-and-native":
                    raise GraphError(400, NATIVE_NEEDS_DATA)
                raise GraphError(402, BLOCKED_IS_PAID)
            writes.append((g, d, values))
    for g, d, values in writes:
        if g == auth.ADMIN_GROUP:
            continue  # Administrators always have everything; nothing is stored for them
        if values.get("create-queries", "no") != "no":
            values.setdefault("view-data", "unrestricted")
        for perm_type, value in values.items():
            cur.execute(
                "INSERT INTO data_permission (group_id, db_id, perm_type, value) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (group_id, db_id, perm_type) DO UPDATE SET value = EXCLUDED.value",
                (g, d, perm_type, value),
            )
    bump(cur, "data", user_id)
    return named


def _int_key(key: object) -> int | None:
    text = str(key)
    return int(text) if text.isdigit() else None


# -- the collection graph ------------------------------------------------------------------------


def eligible_collections(cur) -> list[int]:
    """Collections that appear in the graph: not personal (nor under one), not archived, not the
    Trash, default namespace."""
    cur.execute("SELECT id, parent_id, personal_owner_id, archived, type, namespace FROM collection ORDER BY id")
    rows = {r["id"]: r for r in appdb.dicts(cur)}

    def personal(row: Mapping) -> bool:
        while row is not None:
            if row["personal_owner_id"] is not None:
                return True
            row = rows.get(row["parent_id"]) if row["parent_id"] is not None else None
        return False

    return [
        cid
        for cid, row in rows.items()
        if not row["archived"] and row["type"] != "trash" and row["namespace"] is None and not personal(row)
    ]


def collection_graph(cur) -> dict:
    eligible = eligible_collections(cur)
    keys = ["root", *[str(c) for c in eligible]]
    cur.execute("SELECT id FROM permissions_group ORDER BY id")
    group_ids = [row[0] for row in cur.fetchall()]
    cur.execute("SELECT group_id, collection_key, value FROM collection_permission")
    stored: dict[int, dict[str, str]] = {}
    for g, key, value in cur.fetchall():
        if key in keys and value != "none":
            stored.setdefault(g, {})[key] = value
    groups = {}
    for g in group_ids:
        entry = {k: "write" for k in keys} if g == auth.ADMIN_GROUP else stored.get(g, {})
        if entry:
            groups[str(g)] = entry
    return {"revision": revision(cur, "collection"), "groups": groups}


def put_collection_graph(cur, groups: object, user_id: int) -> None:
    if not isinstance(groups, dict):
        raise GraphError(400, "Invalid collection permissions graph: groups must be a map.")
    eligible = {str(c) for c in eligible_collections(cur)} | {"root"}
    cur.execute("SELECT id FROM permissions_group")
    known_groups = {row[0] for row in cur.fetchall()}
    writes = []
    for g_key, entries in groups.items():
        g = _int_key(g_key)
        if g not in known_groups or not isinstance(entries, dict):
            raise GraphError(400, f"Invalid collection permissions graph: unknown group {g_key!r}.")
        for key, value in entries.items():
            if value not in COLLECTION_VALUES:
                raise GraphError(400, f"Invalid collection permissions graph: value {value!r} is not allowed.")
            if str(key) in eligible and g != auth.ADMIN_GROUP:  # personal ones are silently dropped
                writes.append((g, str(key), value))
    for g, key, value in writes:
        if value == "none":
            cur.execute("DELETE FROM collection_permission WHERE group_id = %s AND collection_key = %s", (g, key))
        else:
            cur.execute(
                "INSERT INTO collection_permission (group_id, collection_key, value) VALUES (%s, %s, %s)"
                " ON CONFLICT (group_id, collection_key) DO UPDATE SET value = EXCLUDED.value",
                (g, key, value),
            )
    bump(cur, "collection", user_id)


# -- checks --------------------------------------------------------------------------------------


def user_groups(cur, user_id: int) -> list[int]:
    cur.execute("SELECT group_id FROM permissions_group_membership WHERE user_id = %s", (user_id,))
    return sorted({auth.ALL_USERS_GROUP, *(row[0] for row in cur.fetchall())})


def query_level(cur, user: Mapping, db_id: int) -> str:
    """The most permissive ``create-queries`` any of the user's groups has on ``db_id``."""
    if user["is_superuser"]:
        return "query-builder-and-native"
    cur.execute(
        "SELECT value FROM data_permission WHERE perm_type = 'create-queries' AND db_id = %s AND group_id = ANY (%s)",
        (db_id, user_groups(cur, user["id"])),
    )
    values = {row[0] for row in cur.fetchall()}
    for level in DATA_VALUES["create-queries"]:
        if level in values:
            return level
    return "no"


def collection_level(cur, user: Mapping, collection_id: int | None) -> str:
    """``write``, ``read`` or ``none`` for the user on a collection (``None``: the root)."""
    if user["is_superuser"]:
        return "write"
    if collection_id is not None:
        cur.execute("SELECT personal_owner_id, parent_id FROM collection WHERE id = %s", (collection_id,))
        row = cur.fetchone()
        chain = row
        while chain is not None:
            if chain[0] is not None:
                return "write" if chain[0] == user["id"] else "none"
            if chain[1] is None:
                break
            cur.execute("SELECT personal_owner_id, parent_id FROM collection WHERE id = %s", (chain[1],))
            chain = cur.fetchone()
    key = "root" if collection_id is None else str(collection_id)
    cur.execute(
        "SELECT value FROM collection_permission WHERE collection_key = %s AND group_id = ANY (%s)",
        (key, user_groups(cur, user["id"])),
    )
    values = {row[0] for row in cur.fetchall()}
    return "write" if "write" in values else "read" if "read" in values else "none"


def can_read_collection(cur, user: Mapping, collection_id: int | None) -> bool:
    return collection_level(cur, user, collection_id) != "none"
