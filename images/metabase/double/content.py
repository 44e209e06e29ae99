"""Collections, cards (questions) and dashboards in the app DB: ids, entity ids, the Trash, JSON shapes.

Ids come from the app DB's sequences, so a pg_dump/pg_restore round trip keeps them (the runbooks
rely on it). What follows Metabase, with the source in shared/metabase/content-facts.md:

* ``dataset_query`` is stored as MBQL 5 (mbql.py), as Metabase v0.57+ does (§1.1-1.3);
* archiving never moves a row: ``archived`` + ``archived_directly`` are set and GET shows an item
  archived directly with ``collection_id`` = the Trash collection's id (§1.6,
  ``present-in-trash-if-archived-directly``); the Trash is a collection of ``type`` ``trash``;
* a collection's ``location`` is ``/`` + its ancestors' ids (``/1/2/``) (§2).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

from psycopg2.extras import Json

from double import appdb, mbql

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


def trash_id(cur) -> int:
    cur.execute("SELECT id FROM collection WHERE type = 'trash' ORDER BY id LIMIT 1")
    return cur.fetchone()[0]


# -- collections -------------------------------------------------------------------------------

COLLECTION_COLUMNS = (
    "id, entity_id, name, description, parent_id, archived, archived_directly, namespace, authority_level, type, "
    "personal_owner_id, created_at"
)


def create_personal_collection(cur, user_id: int, name: str) -> int:
    cur.execute(
        "INSERT INTO collection (entity_id, name, personal_owner_id) VALUES (%s, %s, %s) RETURNING id",
        (new_entity_id(), name, user_id),
    )
    return cur.fetchone()[0]


def ancestors(cur, parent_id: int | None) -> list[int]:
    """The ids from the top-level collection down to ``parent_id``."""
    chain: list[int] = []
    while parent_id is not None and parent_id not in chain:
        chain.append(parent_id)
        cur.execute("SELECT parent_id FROM collection WHERE id = %s", (parent_id,))
        row = cur.fetchone()
        parent_id = row[0] if row else None
    return list(reversed(chain))


def descendants(cur, collection_id: int) -> list[int]:
    cur.execute(
        "WITH RECURSIVE d(id) AS (SELECT id FROM collection WHERE parent_id = %s"
        " UNION SELECT c.id FROM collection c JOIN d ON c.parent_id = d.id) SELECT id FROM d",
        (collection_id,),
    )
    return [row[0] for row in cur.fetchall()]


def location(chain: list[int]) -> str:
    return "/" + "".join(f"{a}/" for a in chain)


def collection_json(cur, row: Mapping, *, detail: bool = True) -> dict:
    chain = ancestors(cur, row["parent_id"])
    result = {
        "id": row["id"],
        "entity_id": row["entity_id"].strip(),
        "name": row["name"],
        "description": row["description"],
        "slug": row["name"].lower().replace(" ", "_"),
        "location": location(chain),
        "parent_id": row["parent_id"],
        "archived": row["archived"],
        "archived_directly": row["archived_directly"],
        "namespace": row["namespace"],
        "authority_level": row["authority_level"],
        "type": row["type"],
        "personal_owner_id": row["personal_owner_id"],
        "is_personal": row["personal_owner_id"] is not None,
        "is_remote_synced": False,
        "created_at": row["created_at"],
        "model": "collection",
    }
    if not detail:
        return result
    trash = trash_id(cur)
    # An archived-directly collection is shown in the Trash (its location is kept for a restore)
    # [inferred from present-in-trash-if-archived-directly; not confirmed for collections].
    effective = [trash] if row["archived_directly"] else chain
    names = {}
    if effective:
        cur.execute("SELECT id, name, entity_id, type FROM collection WHERE id = ANY (%s)", (effective,))
        names = {r[0]: {"id": r[0], "name": r[1], "entity_id": r[2].strip(), "type": r[3]} for r in cur.fetchall()}
    result.update(
        {
            "parent_id": trash if row["archived_directly"] else row["parent_id"],
            "effective_location": location(effective),
            "effective_ancestors": [
                {**ROOT_COLLECTION, "is_personal": False},
                *({**names[a], "can_write": True, "personal_owner_id": None} for a in effective if a in names),
            ]
            if row["type"] != "trash"
            else [],
            "can_write": True,
            "can_restore": bool(row["archived_directly"]),
            "can_delete": bool(row["archived"]),
        }
    )
    return result


def get_collection(cur, collection_id: int) -> dict | None:
    cur.execute(f"SELECT {COLLECTION_COLUMNS} FROM collection WHERE id = %s", (collection_id,))  # noqa: S608 - constant column list
    return appdb.one(cur)


def collection_exists(cur, collection_id: int | None) -> bool:
    if collection_id is None:
        return True
    cur.execute("SELECT 1 FROM collection WHERE id = %s AND type IS DISTINCT FROM 'trash'", (collection_id,))
    return cur.fetchone() is not None


# -- cards -------------------------------------------------------------------------------------

CARD_COLUMNS = (
    "id, entity_id, name, description, display, type, dataset_query, visualization_settings, parameters, "
    "parameter_mappings, result_metadata, collection_id, collection_position, dashboard_id, archived, "
    "archived_directly, cache_ttl, enable_embedding, embedding_params, creator_id, created_at, updated_at"
)


class FieldTypes:
    """``(base_type, effective_type)`` of synced fields by id, read once per field (mbql.add_types_to_fields)."""

    def __init__(self, cur) -> None:
        self._cur = cur
        self._seen: dict[int, tuple[str, str] | None] = {}

    def __call__(self, field_id: int) -> tuple[str, str] | None:
        if field_id not in self._seen:
            self._cur.execute("SELECT base_type FROM metabase_field WHERE id = %s", (field_id,))
            row = self._cur.fetchone()
            self._seen[field_id] = (row[0], row[0]) if row else None
        return self._seen[field_id]


def save_query(cur, query: Mapping) -> dict:
    """``dataset_query`` as stored: MBQL 5 (raises mbql.InvalidQuery)."""
    return mbql.normalize_for_save(query, FieldTypes(cur))


def upgrade_legacy_queries(cur) -> int:
    """Cards saved by an older double (legacy queries) stored as MBQL 5, as Metabase's own migration
    of v0.57 does; the number converted."""
    cur.execute("SELECT id, dataset_query FROM report_card WHERE NOT (dataset_query ? 'lib/type') FOR UPDATE")
    rows = cur.fetchall()
    for card_id, query in rows:
        try:
            converted = save_query(cur, query)
        except mbql.InvalidQuery:
            continue
        cur.execute("UPDATE report_card SET dataset_query = %s WHERE id = %s", (Json(converted), card_id))
    return len(rows)


def _query_summary(query: Any) -> tuple[int | None, str | None, int | None]:
    """(database_id, query_type, table_id) of a stored MBQL 5 query."""
    if not isinstance(query, dict):
        return None, None, None
    stages = query.get("stages") or [{}]
    first = stages[0] if isinstance(stages[0], dict) else {}
    kind = "native" if first.get("lib/type") == "mbql.stage/native" else "query"
    table = first.get("source-table") if isinstance(first.get("source-table"), int) else None
    return query.get("database"), kind, table


def card_json(cur, row: Mapping, *, legacy: bool = False) -> dict:
    query = row["dataset_query"]
    database_id, query_type, table_id = _query_summary(query)
    trash = trash_id(cur) if row["archived_directly"] else None
    return {
        "id": row["id"],
        "entity_id": row["entity_id"].strip(),
        "name": row["name"],
        "description": row["description"],
        "display": row["display"],
        "type": row["type"],
        "dataset_query": mbql.mbql5_to_legacy(query) if legacy else query,
        "visualization_settings": row["visualization_settings"],
        "parameters": row["parameters"],
        "parameter_mappings": row["parameter_mappings"],
        "result_metadata": row["result_metadata"],
        "collection_id": trash if trash is not None else row["collection_id"],
        "collection_position": row["collection_position"],
        "dashboard_id": row["dashboard_id"],
        "archived": row["archived"],
        "archived_directly": row["archived_directly"],
        "can_restore": bool(row["archived_directly"]),
        "can_delete": bool(row["archived"]),
        "cache_ttl": row["cache_ttl"],
        "enable_embedding": row["enable_embedding"],
        "embedding_params": row["embedding_params"],
        "creator_id": row["creator_id"],
        "database_id": database_id,
        "query_type": query_type,
        "table_id": table_id,
        "source_card_id": None,
        "card_schema": 22,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "can_write": True,
    }


def get_card(cur, card_id: int) -> dict | None:
    cur.execute(f"SELECT {CARD_COLUMNS} FROM report_card WHERE id = %s", (card_id,))  # noqa: S608 - constant column list
    return appdb.one(cur)


# -- dashboards --------------------------------------------------------------------------------

DASHBOARD_COLUMNS = (
    "id, entity_id, name, description, collection_id, collection_position, archived, archived_directly, parameters, "
    "cache_ttl, width, auto_apply_filters, caveats, points_of_interest, position, show_in_getting_started, "
    "enable_embedding, embedding_params, creator_id, created_at, updated_at"
)
DASHCARD_COLUMNS = (
    'id, dashboard_id, card_id, dashboard_tab_id, action_id, "row", col, size_x, size_y, parameter_mappings, '
    "visualization_settings, series, inline_parameters, entity_id, created_at, updated_at"
)


def get_dashboard(cur, dashboard_id: int) -> dict | None:
    cur.execute(f"SELECT {DASHBOARD_COLUMNS} FROM report_dashboard WHERE id = %s", (dashboard_id,))  # noqa: S608 - constant column list
    return appdb.one(cur)


def dashboard_json(cur, row: Mapping, *, with_cards: bool = True) -> dict:
    result = {key: row[key] for key in row if key != "entity_id"}
    result["entity_id"] = row["entity_id"].strip()
    if row["archived_directly"]:
        result["collection_id"] = trash_id(cur)
    result.update(
        {"can_write": True, "can_restore": bool(row["archived_directly"]), "can_delete": bool(row["archived"])}
    )
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
        dashcard["card"] = card_json(cur, card) if card else None
        series = []
        for item in dashcard["series"] or []:
            found = get_card(cur, item.get("id")) if isinstance(item, dict) else None
            if found:
                series.append(card_json(cur, found))
        dashcard["series"] = series
    result["tabs"] = tabs
    result["dashcards"] = dashcards
    result["param_fields"] = None
    return result
