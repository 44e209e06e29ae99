"""API keys and permission groups (behaviour.md §3, api-facts.md §2). Superusers only.

* ``POST /api/api-key/`` ``{"name", "group_id"}``: creates the key and its user; the answer is the
  only one that carries ``unmasked_key`` (besides regenerate). A name in use -> 400
  ``{"errors":{"name":"An API key with this name already exists."}}``.
* ``GET /api/api-key/``, ``GET /api/api-key/count``, ``PUT /api/api-key/{id}`` (name and/or
  group), ``PUT /api/api-key/{id}/regenerate`` (a new key, the old one stops working),
  ``DELETE /api/api-key/{id}`` (204; the key's user is deactivated).
* ``GET /api/permissions/group``: All Users (id 1) and Administrators (id 2).
"""

from __future__ import annotations

import re

from double import appdb, auth
from double.validation import NON_BLANK, POSITIVE_INT, error_response, optional, validate
from double.web import HTTPError, Request, Response, Router, not_found

NAME_TAKEN = "An API key with this name already exists."
_MASK_TAIL = "*" * 40  # keys are 47 characters: the 7 of the prefix, then the masked rest


def register(router: Router) -> None:
    router.route("GET", "/api/api-key")(list_keys)
    router.route("POST", "/api/api-key")(create)
    router.route("GET", "/api/api-key/count")(count)
    router.route("PUT", "/api/api-key/{key_id:int}")(update)
    router.route("PUT", "/api/api-key/{key_id:int}/regenerate")(regenerate)
    router.route("DELETE", "/api/api-key/{key_id:int}")(delete)
    router.route("GET", "/api/permissions/group")(groups)


def _groups(cur) -> dict[int, str]:
    cur.execute("SELECT id, name FROM permissions_group ORDER BY id")
    return dict(cur.fetchall())


def _key_json(cur, row: dict) -> dict:
    cur.execute(
        "SELECT g.id, g.name FROM permissions_group_membership m JOIN permissions_group g ON g.id = m.group_id"
        " WHERE m.user_id = %s ORDER BY (g.id = 1), g.id LIMIT 1",
        (row["user_id"],),
    )
    group = cur.fetchone()
    updated_by = auth.get_user(cur, row["updated_by"]) if row["updated_by"] else None
    return {
        "id": row["id"],
        "name": row["name"],
        "user_id": row["user_id"],
        "group": {"id": group[0], "name": group[1]} if group else None,
        "group_name": group[1] if group else None,
        "masked_key": row["key_prefix"] + _MASK_TAIL,
        "prefix": row["key_prefix"],
        "creator_id": row["created_by"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "updated_by": ({"id": updated_by["id"], "common_name": auth.common_name(updated_by)} if updated_by else None),
    }


def _load(cur, key_id: int) -> dict:
    cur.execute(
        "SELECT id, user_id, name, key_prefix, created_by, updated_by, created_at, updated_at"
        " FROM api_key WHERE id = %s",
        (key_id,),
    )
    row = appdb.one(cur)
    if row is None:
        raise not_found()
    return row


def _name_taken(cur, name: str, other_than: int | None = None) -> bool:
    cur.execute("SELECT 1 FROM api_key WHERE name = %s AND id IS DISTINCT FROM %s", (name, other_than))
    return cur.fetchone() is not None


def _new_key(cur) -> str:
    for _attempt in range(5):
        key = auth.generate_api_key()
        cur.execute("SELECT 1 FROM api_key WHERE key_prefix = %s", (auth.key_prefix(key),))
        if cur.fetchone() is None:
            return key
    raise RuntimeError("could not generate key with unique prefix")


def _user_email(cur, name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "key"
    email = f"api-key-user-{slug}@api-key.invalid"
    cur.execute("SELECT 1 FROM core_user WHERE lower(email) = %s", (email,))
    if cur.fetchone() is not None:  # a deleted key's user keeps its address
        email = f"api-key-user-{slug}-{auth.generate_api_key()[3:11].lower()}@api-key.invalid"
    return email


def create(request: Request) -> Response:
    admin = auth.require_superuser(request)
    body = validate(request.json(), name=NON_BLANK, group_id=POSITIVE_INT)
    name = body["name"].strip()
    with request.app.db.transaction() as cur:
        if _name_taken(cur, name):
            raise HTTPError(error_response({"name": NAME_TAKEN}))
        if body["group_id"] not in _groups(cur):
            raise not_found()
        user = auth.create_user(
            cur,
            email=_user_email(cur, name),
            password=None,
            first_name=name,
            kind="api-key",
            superuser=body["group_id"] == auth.ADMIN_GROUP,
        )
        key = _new_key(cur)
        cur.execute(
            "INSERT INTO api_key (user_id, name, key_prefix, key_hashed, created_by, updated_by)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (user["id"], name, auth.key_prefix(key), auth.hash_api_key(key), admin["id"], admin["id"]),
        )
        answer = _key_json(cur, _load(cur, cur.fetchone()[0]))
    answer["unmasked_key"] = key
    answer["masked_key"] = auth.mask_key(key)
    return Response.json(answer)


def list_keys(request: Request) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        cur.execute("SELECT id FROM api_key ORDER BY lower(name), id")
        return Response.json([_key_json(cur, _load(cur, row[0])) for row in cur.fetchall()])


def count(request: Request) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        cur.execute("SELECT count(*) FROM api_key")
        return Response.json(cur.fetchone()[0])


def update(request: Request, key_id: int) -> Response:
    admin = auth.require_superuser(request)
    body = validate(request.json(), name=optional(NON_BLANK), group_id=optional(POSITIVE_INT))
    with request.app.db.transaction() as cur:
        row = _load(cur, key_id)
        if body.get("name"):
            name = body["name"].strip()
            if _name_taken(cur, name, other_than=key_id):
                raise HTTPError(error_response({"name": NAME_TAKEN}))
            cur.execute("UPDATE api_key SET name = %s WHERE id = %s", (name, key_id))
            cur.execute(
                "UPDATE core_user SET first_name = %s, updated_at = now() WHERE id = %s", (name, row["user_id"])
            )
        if body.get("group_id"):
            if body["group_id"] not in _groups(cur):
                raise not_found()
            auth.set_groups(cur, row["user_id"], [auth.ALL_USERS_GROUP, body["group_id"]])
        cur.execute("UPDATE api_key SET updated_at = now(), updated_by = %s WHERE id = %s", (admin["id"], key_id))
        return Response.json(_key_json(cur, _load(cur, key_id)))


def regenerate(request: Request, key_id: int) -> Response:
    admin = auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        _load(cur, key_id)
        key = _new_key(cur)
        cur.execute(
            "UPDATE api_key SET key_prefix = %s, key_hashed = %s, updated_at = now(), updated_by = %s WHERE id = %s",
            (auth.key_prefix(key), auth.hash_api_key(key), admin["id"], key_id),
        )
        answer = _key_json(cur, _load(cur, key_id))
    answer["unmasked_key"] = key
    answer["masked_key"] = auth.mask_key(key)
    return Response.json(answer)


def delete(request: Request, key_id: int) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        row = _load(cur, key_id)
        cur.execute("DELETE FROM api_key WHERE id = %s", (key_id,))
        cur.execute("UPDATE core_user SET is_active = false, updated_at = now() WHERE id = %s", (row["user_id"],))
    return Response.empty(204)


def groups(request: Request) -> Response:
    auth.require_superuser(request)
    if request.arg("tenancy") == "external":
        return Response.json([])
    with request.app.db.transaction() as cur:
        cur.execute(
            "SELECT g.id, g.name, g.magic_group_type,"
            " (SELECT count(*) FROM permissions_group_membership m JOIN core_user u ON u.id = m.user_id"
            "  WHERE m.group_id = g.id AND u.is_active) AS member_count"
            " FROM permissions_group g ORDER BY g.id"
        )
        rows = appdb.dicts(cur)
    for row in rows:
        row["is_tenant_group"] = False
    return Response.json(rows)
