"""Collections, cards (questions) and dashboards in the app DB: ids, entity ids, JSON shapes.

Enough for the runbooks (issue 7): create and find a question and a dashboard, and find them again,
with the same ids, after the app DB was backed up and restored. Ids come from the app DB's
sequences, so a pg_dump/pg_restore round trip keeps them.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

from psycopg2.extras import Json

from double import appdb

_NANOID_ALPHABET = string.ascii_letters + string.digits + "_-"

ROOT_COLLECTION = {
    "id": "root",
    "name": "Our analytics",
    "description": None,
    "location": None,
    "namespace": None,
    "is_personal": False,
    "can_write": True,
    "can_restore": False,
    "can_delete": False,
    "effective_ancestors": [],
    "authority_level": None,
    "parent_id": None,
    "type": None,
}


def new_entity_id() -> str:
    """A 21-character NanoID, like Metabase's entity ids."""
    return "".join(secrets.choice(_NANOID_ALPHABET) for _position in range(21))


def is_entity_id(value: str) -> bool:
    return len(value) == 21 and all(c in _NANOID_ALPHABET for c in value)


def lookup_id(cur, table: str, ident: str) -> int | None:
    """The numeric id for ``ident`` (an id or an entity id) in ``table``, or None."""
    if ident.isdigit():
        cur.execute(f"SELECT id FROM {table} WHERE id = %s", (int(ident),))  # noqa: S608 - fixed table names
    elif is_entity_id(ident):
        cur.execute(f"SELECT id FROM {table} WHERE entity_id = %s", (ident,))  # noqa: S608
    else:
        return None
    row = cur.fetchone()
    return row[0] if row else None


# -- collections -------------------------------------------------------------------------------

_COLLECTION_COLUMNS = (
    "id, entity_id, name, description, parent_id, archived, namespace, authority_level, type, personal_owner_id, "
    "created_at"
)


def create_personal_collection(cur, user_id: int, name: str) -> int:
    cur.execute(
        "INSERT INTO collection (entity_id, name, personal_owner_id) VALUES (%s, %s, %s) RETURNING id",
        (new_entity_id(), name, user_id),
    )
    return cur.fetchone()[0]


def _ancestors(cur, parent_id: int | None) -> list[int]:
    chain = []
    while parent_id is not None and parent_id not in chain:
        chain.append(parent_id)
        cur.execute("SELECT parent_id FROM collection WHERE id = %s", (parent_id,))
        row = cur.fetchone()
        parent_id = row[0] if row else None
    return list(reversed(chain))


def collection_json(cur, row: Mapping) -> dict:
    ancestors = _ancestors(cur, row["parent_id"])
    return {
        "id": row["id"],
        "entity_id": row["entity_id"].strip(),
        "name": row["name"],
        "description": row["description"],
        "slug": row["name"].lower().replace(" ", "_"),
        "location": "/" + "".join(f"{a}/" for a in ancestors),
        "parent_id": row["parent_id"],
        "archived": row["archived"],
        "namespace": row["namespace"],
        "authority_level": row["authority_level"],
        "type": row["type"],
        "personal_owner_id": row["personal_owner_id"],
        "is_personal": row["personal_owner_id"] is not None,
        "can_write": True,
        "can_delete": False,
        "created_at": row["created_at"],
        "model": "collection",
    }


def get_collection(cur, collection_id: int) -> dict | None:
    cur.execute(f"SELECT {_COLLECTION_COLUMNS} FROM collection WHERE id = %s", (collection_id,))  # noqa: S608 - constant column list
    return appdb.one(cur)


def list_collections(cur, *, archived: bool = False) -> list[dict]:
    cur.execute(
        f"SELECT {_COLLECTION_COLUMNS} FROM collection WHERE archived = %s ORDER BY lower(name), id",  # noqa: S608
        (archived,),
    )
    return appdb.dicts(cur)


def collection_exists(cur, collection_id: int | None) -> bool:
    if collection_id is None:
        return True
    cur.execute("SELECT 1 FROM collection WHERE id = %s", (collection_id,))
    return cur.fetchone() is not None


# -- cards -------------------------------------------------------------------------------------

CARD_COLUMNS = (
    "id, entity_id, name, description, display, type, dataset_query, visualization_settings, parameters, "
    "parameter_mappings, result_metadata, collection_id, collection_position, dashboard_id, archived, cache_ttl, "
    "enable_embedding, embedding_params, creator_id, created_at, updated_at"
)


def to_mbql5(query: Any) -> Any:
    """A legacy native query as MBQL 5 (GET /api/card returns MBQL 5 since v57); others unchanged."""
    if not isinstance(query, dict) or query.get("type") != "native" or not isinstance(query.get("native"), dict):
        return query
    stage = {"lib/type": "mbql.stage/native", "native": query["native"].get("query")}
    if query["native"].get("template-tags"):
        stage["template-tags"] = query["native"]["template-tags"]
    return {"lib/type": "mbql/query", "database": query.get("database"), "stages": [stage]}


def to_legacy(query: Any) -> Any:
    """An MBQL 5 native query as the legacy map; others unchanged."""
    if not isinstance(query, dict) or query.get("lib/type") != "mbql/query":
        return query
    stages = query.get("stages") or []
    if len(stages) != 1 or stages[0].get("lib/type") != "mbql.stage/native":
        return query
    native = {"query": stages[0].get("native")}
    if stages[0].get("template-tags"):
        native["template-tags"] = stages[0]["template-tags"]
    return {"database": query.get("database"), "type": "native", "native": native}


def card_json(row: Mapping, *, legacy: bool = False) -> dict:
    query = to_legacy(row["dataset_query"])
    return {
        "id": row["id"],
        "entity_id": row["entity_id"].strip(),
        "name": row["name"],
        "description": row["description"],
        "display": row["display"],
        "type": row["type"],
        "dataset_query": query if legacy else to_mbql5(query),
        "visualization_settings": row["visualization_settings"],
        "parameters": row["parameters"],
        "parameter_mappings": row["parameter_mappings"],
        "result_metadata": row["result_metadata"],
        "collection_id": row["collection_id"],
        "collection_position": row["collection_position"],
        "dashboard_id": row["dashboard_id"],
        "archived": row["archived"],
        "cache_ttl": row["cache_ttl"],
        "enable_embedding": row["enable_embedding"],
        "embedding_params": row["embedding_params"],
        "creator_id": row["creator_id"],
        "database_id": query.get("database") if isinstance(query, dict) else None,
        "query_type": query.get("type") if isinstance(query, dict) else None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "can_write": True,
    }


def get_card(cur, card_id: int) -> dict | None:
    cur.execute(f"SELECT {CARD_COLUMNS} FROM report_card WHERE id = %s", (card_id,))  # noqa: S608 - constant column list
    return appdb.one(cur)


# -- what cards and dashboards share ------------------------------------------------------------


def listed(rows: list[dict], f: str, user_id: int) -> list[dict]:
    """The rows ``GET /api/card/`` or ``/api/dashboard/`` answers for ``f``: all and mine (not archived), archived."""
    if f == "archived":
        return [r for r in rows if r["archived"]]
    return [r for r in rows if not r["archived"] and (f != "mine" or r["creator_id"] == user_id)]


def update_row(
    cur,
    table: str,
    row_id: int,
    body: Mapping,
    *,
    plain: tuple[str, ...],
    nullable: tuple[str, ...],
    json_keys: tuple[str, ...],
    convert: Mapping[str, Any] | None = None,
) -> None:
    """The partial update of a ``PUT``: ``plain`` keys present in ``body`` (null only where ``nullable``), and
    ``json_keys`` that are not null, stored as JSON after ``convert[key]`` when given. Nothing sent, nothing written."""
    changes = {key: body[key] for key in plain if key in body and (body[key] is not None or key in nullable)}
    for key in json_keys:
        if body.get(key) is not None:
            value = convert[key](body[key]) if convert and key in convert else body[key]
            changes[key] = Json(value)
    if changes:
        assignments = ", ".join(f"{key} = %s" for key in changes)
        cur.execute(
            f"UPDATE {table} SET {assignments}, updated_at = now() WHERE id = %s",  # noqa: S608 - callers' fixed names
            [*changes.values(), row_id],
        )


# -- dashboards --------------------------------------------------------------------------------

DASHBOARD_COLUMNS = (
    "id, entity_id, name, description, collection_id, collection_position, archived, parameters, cache_ttl, width, "
    "caveats, points_of_interest, position, show_in_getting_started, enable_embedding, embedding_params, "
    "creator_id, created_at, updated_at"
)
DASHCARD_COLUMNS = (
    'id, dashboard_id, card_id, dashboard_tab_id, "row", col, size_x, size_y, parameter_mappings, '
    "visualization_settings, series, inline_parameters, entity_id, created_at, updated_at"
)


def get_dashboard(cur, dashboard_id: int) -> dict | None:
    cur.execute(f"SELECT {DASHBOARD_COLUMNS} FROM report_dashboard WHERE id = %s", (dashboard_id,))  # noqa: S608 - constant column list
    return appdb.one(cur)


def dashboard_json(cur, row: Mapping, *, with_cards: bool = True) -> dict:
    result = {key: row[key] for key in row if key != "entity_id"}
    result["entity_id"] = row["entity_id"].strip()
    result["can_write"] = True
    if not with_cards:
        return result
    cur.execute(
        "SELECT id, dashboard_id, name, position, entity_id, created_at, updated_at FROM dashboard_tab"
        " WHERE dashboard_id = %s ORDER BY position, id",
        (row["id"],),
    )
    tabs = appdb.dicts(cur)
    for tab in tabs:
        tab["entity_id"] = tab["entity_id"].strip()
    cur.execute(
        f"SELECT {DASHCARD_COLUMNS} FROM report_dashboardcard WHERE dashboard_id = %s ORDER BY id",  # noqa: S608
        (row["id"],),
    )
    dashcards = appdb.dicts(cur)
    for dashcard in dashcards:
        dashcard["entity_id"] = dashcard["entity_id"].strip()
        card = get_card(cur, dashcard["card_id"]) if dashcard["card_id"] is not None else None
        dashcard["card"] = card_json(card) if card else None
    result["tabs"] = tabs
    result["dashcards"] = dashcards
    return result
