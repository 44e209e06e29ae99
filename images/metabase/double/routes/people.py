"""People: users, permission groups and memberships (content-facts.md §4). Superusers only, except
``GET /api/user/{id}`` for oneself.

Users:

* ``GET /api/user/`` ``{"data", "total", "limit", "offset"}``: active users, or ``status=deactivated``
  / ``status=all`` / legacy ``include_deactivated=true``; admins see ``group_ids``;
* ``POST /api/user/`` ``{email, first_name?, last_name?, user_group_memberships?, password?}``:
  ``password`` is not in Metabase's schema but is passed through; without it a random one is set
  (an invitation). A taken email (any case) -> 400 ``errors.email``;
* ``GET/PUT /api/user/{id}``: PUT writes names, email and ``is_superuser``, and the groups when
  ``user_group_memberships`` is sent (Administrators must then agree with ``is_superuser``); a
  deactivated user -> 404; ``is_active`` is not accepted;
* ``DELETE /api/user/{id}`` deactivates (200 ``{"success": true}``), never deletes;
* ``PUT /api/user/{id}/reactivate`` reactivates **and clears** ``is_superuser`` (trap 9); an active
  user -> 400 ``{"message": "Not able to reactivate an active user"}``;
* ``PUT /api/user/{id}/password`` ``{password}``: Metabase's password rules.

Groups: ``GET/PUT/DELETE /api/permissions/group/{id}``, ``POST /api/permissions/group`` (the list is
served by routes/api_key.py). Memberships: ``GET/POST /api/permissions/membership``, ``DELETE
/api/permissions/membership/{id}``, ``PUT /api/permissions/membership/{group_id}/clear``.
"""

from __future__ import annotations

import secrets

from double import appdb, auth
from double.validation import BOOLEAN, EMAIL, NON_BLANK, POSITIVE_INT, SEQUENCE, error_response, optional, validate
from double.web import HTTPError, Request, Response, Router, not_found

EMAIL_TAKEN = "Email address already in use."
GROUP_TAKEN = "A group with that name already exists."
ALL_USERS_MEMBERSHIP = "You cannot add or remove users to/from the 'All Users' group."
LAST_ADMIN = "You cannot remove the last member of the 'Admin' group!"
SUPERUSER_MISMATCH = "Value of is_superuser must correspond to presence of Admin group ID in group_ids."
REACTIVATE_ACTIVE = "Not able to reactivate an active user"


def register(router: Router) -> None:
    router.route("GET", "/api/user")(list_users)
    router.route("POST", "/api/user")(create_user)
    router.route("GET", "/api/user/{user_id:int}")(get_user)
    router.route("PUT", "/api/user/{user_id:int}")(update_user)
    router.route("DELETE", "/api/user/{user_id:int}")(deactivate)
    router.route("PUT", "/api/user/{user_id:int}/reactivate")(reactivate)
    router.route("PUT", "/api/user/{user_id:int}/password")(set_password)
    router.route("POST", "/api/permissions/group")(create_group)
    router.route("GET", "/api/permissions/group/{group_id:int}")(get_group)
    router.route("PUT", "/api/permissions/group/{group_id:int}")(rename_group)
    router.route("DELETE", "/api/permissions/group/{group_id:int}")(delete_group)
    router.route("GET", "/api/permissions/membership")(memberships)
    router.route("POST", "/api/permissions/membership")(add_membership)
    router.route("DELETE", "/api/permissions/membership/{membership_id:int}")(remove_membership)
    router.route("PUT", "/api/permissions/membership/{group_id:int}/clear")(clear_group)


# -- users -----------------------------------------------------------------------------------------


def _load_user(cur, user_id: int, *, active_only: bool = False) -> dict:
    user = auth.get_user(cur, user_id)
    if user is None or user["type"] != "personal" or (active_only and not user["is_active"]):
        raise not_found()
    return user


def _group_ids(cur) -> set[int]:
    cur.execute("SELECT id FROM permissions_group")
    return {row[0] for row in cur.fetchall()}


def _memberships_body(cur, raw: object) -> list[int] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(m, dict) and isinstance(m.get("id"), int) for m in raw):
        raise HTTPError(error_response({"user_group_memberships": "nullable sequence of map with :id"}))
    ids = [m["id"] for m in raw]
    if not set(ids) <= _group_ids(cur):
        raise not_found()
    return ids


def list_users(request: Request) -> Response:
    auth.require_superuser(request)
    status = request.arg("status")
    if status is None and request.flag("include_deactivated"):
        status = "all"
    where = {"deactivated": "NOT is_active", "all": "true"}.get(status or "", "is_active")
    with request.app.db.transaction() as cur:
        cur.execute(
            f"SELECT id FROM core_user WHERE type = 'personal' AND {where} ORDER BY lower(email), id"  # noqa: S608
        )
        users = [auth.user_json(cur, auth.get_user(cur, row[0])) for row in cur.fetchall()]
    return Response.json({"data": users, "total": len(users), "limit": None, "offset": None})


def create_user(request: Request) -> Response:
    auth.require_superuser(request)
    body = validate(
        request.json(),
        email=EMAIL,
        first_name=optional(NON_BLANK),
        last_name=optional(NON_BLANK),
        user_group_memberships=optional(SEQUENCE),
    )
    with request.app.db.transaction() as cur:
        if auth.find_user_by_email(cur, body["email"].strip()) is not None:
            raise HTTPError(error_response({"email": EMAIL_TAKEN}))
        groups = _memberships_body(cur, body.get("user_group_memberships")) or []
        password = body.get("password") if isinstance(body.get("password"), str) else None
        user = auth.create_user(
            cur,
            email=body["email"].strip(),
            password=password or secrets.token_urlsafe(24),
            first_name=body.get("first_name"),
            last_name=body.get("last_name"),
            superuser=auth.ADMIN_GROUP in groups,
        )
        set_groups(cur, user["id"], [auth.ALL_USERS_GROUP, *groups])
        return Response.json(auth.user_json(cur, auth.get_user(cur, user["id"])))


def get_user(request: Request, user_id: int) -> Response:
    caller = auth.authenticate(request)
    if not caller["is_superuser"] and caller["id"] != user_id:
        raise HTTPError(Response.text("You don't have permissions to do that.", 403))
    with request.app.db.transaction() as cur:
        return Response.json(auth.user_json(cur, _load_user(cur, user_id)))


def update_user(request: Request, user_id: int) -> Response:
    auth.require_superuser(request)
    body = validate(
        request.json(),
        email=optional(EMAIL),
        first_name=optional(NON_BLANK),
        last_name=optional(NON_BLANK),
        is_superuser=optional(BOOLEAN),
        user_group_memberships=optional(SEQUENCE),
    )
    with request.app.db.transaction() as cur:
        user = _load_user(cur, user_id, active_only=True)
        groups = _memberships_body(cur, body.get("user_group_memberships"))
        superuser = body.get("is_superuser")
        if groups is not None and superuser is not None and (auth.ADMIN_GROUP in groups) != superuser:
            raise HTTPError(error_response({"is_superuser": SUPERUSER_MISMATCH}))
        if body.get("email") and body["email"].strip().lower() != user["email"].lower():
            if auth.find_user_by_email(cur, body["email"].strip()) is not None:
                raise HTTPError(error_response({"email": EMAIL_TAKEN}))
            cur.execute("UPDATE core_user SET email = %s WHERE id = %s", (body["email"].strip(), user_id))
        for key in ("first_name", "last_name"):
            if key in body:
                cur.execute(f"UPDATE core_user SET {key} = %s WHERE id = %s", (body[key], user_id))  # noqa: S608
        if groups is not None:
            _check_not_last_admin(cur, user_id, keeps_admin=auth.ADMIN_GROUP in groups)
            set_groups(cur, user_id, [auth.ALL_USERS_GROUP, *groups])
        elif superuser is not None:
            _check_not_last_admin(cur, user_id, keeps_admin=superuser)
            current = [g for g in access_groups(cur, user_id) if g != auth.ADMIN_GROUP]
            set_groups(cur, user_id, current + ([auth.ADMIN_GROUP] if superuser else []))
        cur.execute("UPDATE core_user SET updated_at = now() WHERE id = %s", (user_id,))
        return Response.json(auth.user_json(cur, auth.get_user(cur, user_id)))


def set_groups(cur, user_id: int, group_ids: list[int]) -> None:
    """Make ``group_ids`` the user's groups, keeping the memberships (and their ids) that stay;
    Administrators membership is ``is_superuser``, as in Metabase."""
    wanted = sorted(set(group_ids))
    cur.execute(
        "DELETE FROM permissions_group_membership WHERE user_id = %s AND NOT (group_id = ANY (%s))", (user_id, wanted)
    )
    for group_id in wanted:
        cur.execute(
            "INSERT INTO permissions_group_membership (user_id, group_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (user_id, group_id),
        )
    superuser = auth.ADMIN_GROUP in wanted
    cur.execute("UPDATE core_user SET is_superuser = %s, updated_at = now() WHERE id = %s", (superuser, user_id))


def access_groups(cur, user_id: int) -> list[int]:
    cur.execute("SELECT group_id FROM permissions_group_membership WHERE user_id = %s ORDER BY group_id", (user_id,))
    return [row[0] for row in cur.fetchall()]


def _check_not_last_admin(cur, user_id: int, *, keeps_admin: bool) -> None:
    if keeps_admin:
        return
    cur.execute(
        "SELECT count(*) FROM permissions_group_membership m JOIN core_user u ON u.id = m.user_id"
        " WHERE m.group_id = %s AND u.is_active AND u.type = 'personal' AND u.id <> %s",
        (auth.ADMIN_GROUP, user_id),
    )
    if cur.fetchone()[0] == 0 and auth.ADMIN_GROUP in access_groups(cur, user_id):
        raise HTTPError(Response.text(LAST_ADMIN, 400))


def deactivate(request: Request, user_id: int) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        _load_user(cur, user_id)
        cur.execute("UPDATE core_user SET is_active = false, updated_at = now() WHERE id = %s", (user_id,))
        cur.execute("DELETE FROM core_session WHERE user_id = %s", (user_id,))
    return Response.json({"success": True})


def reactivate(request: Request, user_id: int) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        user = _load_user(cur, user_id)
        if user["is_active"]:
            return Response.json({"message": REACTIVATE_ACTIVE}, 400)
        cur.execute("UPDATE core_user SET is_active = true, updated_at = now() WHERE id = %s", (user_id,))
        groups = [g for g in access_groups(cur, user_id) if g != auth.ADMIN_GROUP]
        set_groups(cur, user_id, [auth.ALL_USERS_GROUP, *groups])  # clears is_superuser, as Metabase
        return Response.json(auth.user_json(cur, auth.get_user(cur, user_id)))


def set_password(request: Request, user_id: int) -> Response:
    auth.require_superuser(request)
    body = request.json()
    password = body.get("password") if isinstance(body, dict) else None
    if not auth.password_ok(password, request.app.config.env):
        raise HTTPError(error_response({"password": auth.TOO_COMMON}))
    with request.app.db.transaction() as cur:
        _load_user(cur, user_id, active_only=True)
        cur.execute(
            "UPDATE core_user SET password_hash = %s, updated_at = now() WHERE id = %s",
            (auth.hash_password(password), user_id),
        )
        return Response.json(auth.user_json(cur, auth.get_user(cur, user_id)))


# -- groups ----------------------------------------------------------------------------------------


def _group_row(cur, group_id: int) -> dict:
    cur.execute("SELECT id, name, magic_group_type FROM permissions_group WHERE id = %s", (group_id,))
    row = appdb.one(cur)
    if row is None:
        raise not_found()
    return row


def _group_json(row: dict) -> dict:
    return {**row, "entity_id": None, "is_tenant_group": False}


def _name_taken(cur, name: str, other_than: int | None = None) -> bool:
    cur.execute(
        "SELECT 1 FROM permissions_group WHERE lower(name) = lower(%s) AND id IS DISTINCT FROM %s", (name, other_than)
    )
    return cur.fetchone() is not None


def _magic_refusal(row: dict) -> HTTPError:
    return HTTPError(Response.text(f"You cannot edit or delete the '{row['name']}' permissions group!", 400))


def create_group(request: Request) -> Response:
    auth.require_superuser(request)
    body = validate(request.json(), name=NON_BLANK)
    name = body["name"].strip()
    with request.app.db.transaction() as cur:
        if _name_taken(cur, name):
            raise HTTPError(Response.text(GROUP_TAKEN, 400))
        cur.execute("INSERT INTO permissions_group (name) VALUES (%s) RETURNING id", (name,))
        return Response.json(_group_json(_group_row(cur, cur.fetchone()[0])))


def _members(cur, group_id: int) -> list[dict]:
    cur.execute(
        "SELECT m.id AS membership_id, m.user_id, m.is_group_manager, u.email, u.first_name, u.last_name,"
        " u.is_superuser FROM permissions_group_membership m JOIN core_user u ON u.id = m.user_id"
        " WHERE m.group_id = %s AND u.is_active AND u.type = 'personal' ORDER BY lower(u.email)",
        (group_id,),
    )
    members = appdb.dicts(cur)
    for member in members:
        member["common_name"] = auth.common_name(member)
    return members


def get_group(request: Request, group_id: int) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        row = _group_row(cur, group_id)
        return Response.json({**_group_json(row), "members": _members(cur, group_id)})


def rename_group(request: Request, group_id: int) -> Response:
    auth.require_superuser(request)
    body = validate(request.json(), name=NON_BLANK)
    with request.app.db.transaction() as cur:
        row = _group_row(cur, group_id)
        if row["magic_group_type"]:
            raise _magic_refusal(row)
        if _name_taken(cur, body["name"].strip(), other_than=group_id):
            raise HTTPError(Response.text(GROUP_TAKEN, 400))
        cur.execute("UPDATE permissions_group SET name = %s WHERE id = %s", (body["name"].strip(), group_id))
        return Response.json(_group_json(_group_row(cur, group_id)))


def delete_group(request: Request, group_id: int) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        row = _group_row(cur, group_id)
        if row["magic_group_type"]:
            raise _magic_refusal(row)
        cur.execute("DELETE FROM permissions_group WHERE id = %s", (group_id,))
    return Response.empty(204)


# -- memberships -----------------------------------------------------------------------------------


def memberships(request: Request) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        cur.execute(
            "SELECT m.id AS membership_id, m.group_id, m.user_id, m.is_group_manager"
            " FROM permissions_group_membership m JOIN core_user u ON u.id = m.user_id"
            " WHERE u.is_active AND u.type = 'personal' ORDER BY m.user_id, m.group_id"
        )
        answer: dict[str, list] = {}
        for row in appdb.dicts(cur):
            answer.setdefault(str(row["user_id"]), []).append(row)
    return Response.json(answer)


def add_membership(request: Request) -> Response:
    auth.require_superuser(request)
    body = validate(request.json(), group_id=POSITIVE_INT, user_id=POSITIVE_INT, is_group_manager=optional(BOOLEAN))
    if body.get("is_group_manager"):
        return _premium("Group manager")
    with request.app.db.transaction() as cur:
        _group_row(cur, body["group_id"])
        _load_user(cur, body["user_id"])
        if body["group_id"] == auth.ALL_USERS_GROUP:
            raise HTTPError(Response.text(ALL_USERS_MEMBERSHIP, 400))
        groups = access_groups(cur, body["user_id"])
        if body["group_id"] in groups:
            return Response.text("duplicate key value violates unique constraint", 500)
        set_groups(cur, body["user_id"], [*groups, body["group_id"]])
        return Response.json(_members(cur, body["group_id"]))


def remove_membership(request: Request, membership_id: int) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        cur.execute("SELECT user_id, group_id FROM permissions_group_membership WHERE id = %s", (membership_id,))
        row = cur.fetchone()
        if row is None:
            raise not_found()
        user_id, group_id = row
        if group_id == auth.ALL_USERS_GROUP:
            raise HTTPError(Response.text(ALL_USERS_MEMBERSHIP, 400))
        if group_id == auth.ADMIN_GROUP:
            _check_not_last_admin(cur, user_id, keeps_admin=False)
        set_groups(cur, user_id, [g for g in access_groups(cur, user_id) if g != group_id])
    return Response.empty(204)


def clear_group(request: Request, group_id: int) -> Response:
    auth.require_superuser(request)
    with request.app.db.transaction() as cur:
        row = _group_row(cur, group_id)
        if group_id in (auth.ALL_USERS_GROUP, auth.ADMIN_GROUP):
            raise _magic_refusal(row)
        cur.execute("SELECT user_id FROM permissions_group_membership WHERE group_id = %s", (group_id,))
        for (user_id,) in cur.fetchall():
            set_groups(cur, user_id, [g for g in access_groups(cur, user_id) if g != group_id])
    return Response.empty(204)


def _premium(feature: str) -> Response:
    message = (
        f"{feature} is a paid feature not currently available to your instance. Please upgrade to use it. "
        "Learn more at metabase.com/upgrade/"
    )
    return Response.json(
        {
            "message": message,
            "cause": message,
            "status": "error-premium-feature-not-available",
            "data": {"status": "error-premium-feature-not-available", "status-code": 402},
        },
        402,
    )
