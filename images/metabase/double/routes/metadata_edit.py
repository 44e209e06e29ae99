"""Table and field metadata edits (content-facts.md §9). Superusers only.

* ``PUT /api/table/{id}``: ``display_name``, ``description`` (null clears), ``visibility_type`` (null
  = visible, ``technical``, ``hidden``, ``cruft``), ``entity_type``, ``caveats``,
  ``points_of_interest``; answers the table;
* ``GET /api/field/{id}``; ``PUT /api/field/{id}``: ``description``, ``caveats``,
  ``points_of_interest`` and ``semantic_type`` written when present (null clears; ``""`` -> 400),
  ``display_name`` and ``visibility_type`` (``normal``, ``details-only``, ``hidden``, ``sensitive``,
  ``retired``) only when not null; answers the field.
"""

from __future__ import annotations

from double import appdb, auth, databases
from double.validation import NON_BLANK, error_response, one_of, optional, problems
from double.web import HTTPError, Request, Response, Router, not_found

TABLE_VISIBILITY = ("technical", "hidden", "cruft")
FIELD_VISIBILITY = ("normal", "details-only", "hidden", "sensitive", "retired")

_FIELD_COLUMNS = (
    "id, table_id, name, display_name, base_type, database_type, semantic_type, position, database_required,"
    " description, active, visibility_type, fk_target_field_id, created_at, updated_at"
)


def register(router: Router) -> None:
    router.route("PUT", "/api/table/{table_id:int}")(update_table)
    router.route("GET", "/api/field/{field_id:int}")(get_field)
    router.route("PUT", "/api/field/{field_id:int}")(update_field)


def update_table(request: Request, table_id: int) -> Response:
    auth.require_superuser(request)
    body = request.json()
    body = body if isinstance(body, dict) else {}
    errors = problems(
        body,
        {"display_name": optional(NON_BLANK), "visibility_type": one_of(*TABLE_VISIBILITY, required=False)},
    )
    if errors:
        raise HTTPError(error_response(errors))
    with request.app.db.transaction() as cur:
        if not databases.tables(cur, table_id=table_id):
            raise not_found()
        for key in ("description", "visibility_type", "entity_type", "caveats", "points_of_interest"):
            if key in body:
                cur.execute(f"UPDATE metabase_table SET {key} = %s WHERE id = %s", (body[key], table_id))  # noqa: S608
        if body.get("display_name"):
            cur.execute("UPDATE metabase_table SET display_name = %s WHERE id = %s", (body["display_name"], table_id))
        cur.execute("UPDATE metabase_table SET updated_at = now() WHERE id = %s", (table_id,))
        return Response.json(databases.tables(cur, table_id=table_id)[0])


def _field(cur, field_id: int) -> dict:
    cur.execute(f"SELECT {_FIELD_COLUMNS} FROM metabase_field WHERE id = %s", (field_id,))  # noqa: S608
    row = appdb.one(cur)
    if row is None:
        raise not_found()
    return databases.field_json(row)


def get_field(request: Request, field_id: int) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        return Response.json(_field(cur, field_id))


def update_field(request: Request, field_id: int) -> Response:
    auth.require_superuser(request)
    body = request.json()
    body = body if isinstance(body, dict) else {}
    rules = {key: optional(NON_BLANK) for key in ("display_name", "description", "caveats", "points_of_interest")}
    rules["visibility_type"] = one_of(*FIELD_VISIBILITY, required=False)
    rules["semantic_type"] = optional(NON_BLANK)
    errors = problems(body, rules)
    if errors:
        raise HTTPError(error_response(errors))
    with request.app.db.transaction() as cur:
        _field(cur, field_id)
        for key in ("description", "caveats", "points_of_interest", "semantic_type"):
            if key in body:
                cur.execute(f"UPDATE metabase_field SET {key} = %s WHERE id = %s", (body[key], field_id))  # noqa: S608
        for key in ("display_name", "visibility_type"):
            if body.get(key) is not None:
                cur.execute(f"UPDATE metabase_field SET {key} = %s WHERE id = %s", (body[key], field_id))  # noqa: S608
        cur.execute("UPDATE metabase_field SET updated_at = now() WHERE id = %s", (field_id,))
        return Response.json(_field(cur, field_id))
