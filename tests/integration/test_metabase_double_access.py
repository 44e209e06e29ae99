"""The Metabase API double answers the access API the way Metabase does (content-facts.md §4-9):
users, groups, memberships, both permission graphs (revisions, 409, sparse and elided), the defaults
that open a new database to All Users, settings (env values hidden on read), the cache API's
open-source refusals, metadata edits, and the permission checks on queries, cards and collections.

One double of its own (started with ``MB_CHECK_FOR_UPDATES=false`` to have an env setting), on the
stack of test_metabase_double_api.
"""

from __future__ import annotations

import secrets

import pytest
from test_metabase_double_api import (  # noqa: F401  # pylint: disable=unused-import
    FORBIDDEN,
    SECRETS,
    Api,
    ok,
    reader_details,
    register,
    run_setup,
    stack,
    wait_synced,
)

STALE = (
    409,
    "text/plain",
    "Looks like someone else edited the permissions and your data is out of date. Please fetch new data and try again.",
)
PERSON_PASSWORD = "Pe-" + secrets.token_urlsafe(12)
SECRETS.add(PERSON_PASSWORD)


@pytest.fixture(scope="module")
def double(stack):  # noqa: F811
    return stack.start_double(stack.create_database("metabase_access"), MB_CHECK_FOR_UPDATES="false")


@pytest.fixture(scope="module")
def admin(double) -> Api:
    return double.api.session(run_setup(double.api))


@pytest.fixture(scope="module")
def warehouse(admin, reader_details) -> int:  # noqa: F811
    db_id = register(admin, "Warehouse", reader_details)["id"]
    wait_synced(admin, db_id)
    return db_id


def login(api: Api, email: str, password: str) -> Api:
    session_id = ok(api.post("/api/session/", {"username": email, "password": password}))["id"]
    SECRETS.add(session_id)
    return api.session(session_id)


def new_person(double, admin, email: str, **extra) -> tuple[dict, Api]:
    user = ok(admin.post("/api/user/", {"email": email, "first_name": "Per", "password": PERSON_PASSWORD, **extra}))
    return user, login(double.api, email, PERSON_PASSWORD)


def test_users_are_created_updated_deactivated_and_reactivated_without_superuser(double, admin):
    user, session = new_person(double, admin, "per@example.com", last_name="Son")
    assert (user["email"], user["first_name"], user["last_name"], user["is_superuser"]) == (
        "per@example.com",
        "Per",
        "Son",
        False,
    )
    assert ok(session.get("/api/user/current"))["id"] == user["id"]
    invited = ok(admin.post("/api/user/", {"email": "invited@example.com"}))
    assert (invited["is_active"], invited["is_superuser"]) == (True, False)
    assert admin.post("/api/user/", {"email": "PER@example.com"}).json == {
        "errors": {"email": "Email address already in use."},
        "specific-errors": {"email": ["Email address already in use."]},
    }
    updated = ok(admin.put(f"/api/user/{user['id']}", {"last_name": "Sonne", "is_superuser": True}))
    assert (updated["last_name"], updated["is_superuser"], 2 in updated["group_ids"]) == ("Sonne", True, True)

    assert ok(admin.delete(f"/api/user/{user['id']}")) == {"success": True}
    assert session.get("/api/user/current").status == 401
    refused = double.api.post("/api/session/", {"username": "per@example.com", "password": PERSON_PASSWORD})
    assert refused.status == 401
    assert admin.put(f"/api/user/{user['id']}", {"first_name": "X"}).status == 404
    active = {u["email"] for u in ok(admin.get("/api/user/"))["data"]}
    everyone = {u["email"] for u in ok(admin.get("/api/user/?status=all"))["data"]}
    legacy = {u["email"] for u in ok(admin.get("/api/user/?include_deactivated=true"))["data"]}
    deactivated = {u["email"] for u in ok(admin.get("/api/user/?status=deactivated"))["data"]}
    assert "per@example.com" not in active and invited["email"] in active
    assert "per@example.com" in everyone and everyone == legacy
    assert deactivated == {"per@example.com"}

    back = ok(admin.put(f"/api/user/{user['id']}/reactivate"))
    assert (back["is_active"], back["is_superuser"], 2 in back["group_ids"]) == (True, False, False)
    assert admin.put(f"/api/user/{user['id']}/reactivate").json == {"message": "Not able to reactivate an active user"}
    login(double.api, "per@example.com", PERSON_PASSWORD)


def test_groups_and_memberships(double, admin):
    user, _password = new_person(double, admin, "member@example.com")
    group = ok(admin.post("/api/permissions/group", {"name": "Cronicorn Admins"}))
    assert group["magic_group_type"] is None and group["id"] > 2
    assert admin.post("/api/permissions/group", {"name": "cronicorn admins"}).plain == (
        400,
        "text/plain",
        "A group with that name already exists.",
    )
    members = ok(admin.post("/api/permissions/membership", {"group_id": group["id"], "user_id": user["id"]}))
    assert [m["user_id"] for m in members] == [user["id"]]
    by_user = ok(admin.get("/api/permissions/membership"))
    ours = [m for m in by_user[str(user["id"])] if m["group_id"] == group["id"]]
    assert len(ours) == 1 and ours[0]["is_group_manager"] is False
    assert {g["name"] for g in ok(admin.get("/api/permissions/group"))} >= {"All Users", "Cronicorn Admins"}
    assert admin.post("/api/permissions/membership", {"group_id": 1, "user_id": user["id"]}).plain == (
        400,
        "text/plain",
        "You cannot add or remove users to/from the 'All Users' group.",
    )
    assert admin.put("/api/permissions/group/1", {"name": "Everyone"}).status == 400
    ok(admin.post("/api/permissions/membership", {"group_id": 2, "user_id": user["id"]}))
    assert ok(admin.get(f"/api/user/{user['id']}"))["is_superuser"] is True
    assert admin.delete(f"/api/permissions/membership/{ours[0]['membership_id']}").status == 204
    assert [m["user_id"] for m in ok(admin.get(f"/api/permissions/group/{group['id']}"))["members"]] == []


def test_a_new_database_is_open_to_all_users_and_the_graph_needs_the_current_revision(
    admin,
    warehouse,
    reader_details,  # noqa: F811
):
    graph = ok(admin.get("/api/permissions/graph"))
    assert graph["groups"]["1"][str(warehouse)] == {
        "view-data": "unrestricted",
        "create-queries": "query-builder-and-native",
        "download": {"schemas": "full"},
    }
    assert graph["groups"]["2"][str(warehouse)]["create-queries"] == "query-builder-and-native"
    closed = {"1": {str(warehouse): {"create-queries": "no", "download": {"schemas": "none"}}}}
    assert admin.put("/api/permissions/graph", {"revision": graph["revision"] - 1, "groups": closed}).plain == STALE
    assert admin.put("/api/permissions/graph", {"groups": closed}).plain == STALE
    answer = ok(admin.put("/api/permissions/graph", {"revision": graph["revision"], "groups": closed}))
    assert answer["revision"] == graph["revision"] + 1
    assert list(answer["groups"]) == ["1"]  # only the groups of the request
    assert answer["groups"]["1"][str(warehouse)] == {"view-data": "unrestricted"}  # no / none are elided
    assert admin.put("/api/permissions/graph", {"revision": graph["revision"], "groups": closed}).plain == STALE
    forced = admin.put("/api/permissions/graph?force=true", {"groups": closed})
    assert ok(forced)["revision"] == graph["revision"] + 2
    blocked = {"1": {str(warehouse): {"view-data": "blocked"}}}
    refused = admin.put("/api/permissions/graph", {"revision": forced.json["revision"], "groups": blocked})
    assert refused.status == 402 and "advanced-permissions" in refused.text
    bad_key = {"1": {str(warehouse): {"query": "all"}}}
    assert admin.put("/api/permissions/graph?force=true", {"groups": bad_key}).status == 400
    # A database registered now inherits All Users' lowest level: no query access.
    later = register(admin, "Warehouse again", reader_details)["id"]
    assert ok(admin.get("/api/permissions/graph"))["groups"]["1"][str(later)] == {"view-data": "unrestricted"}


def test_query_and_content_checks_refuse_like_metabase(double, admin, warehouse, reader_details):  # noqa: F811
    _user, person = new_person(double, admin, "outsider@example.com")
    ok(admin.put("/api/permissions/graph?force=true", {"groups": {"1": {str(warehouse): {"create-queries": "no"}}}}))
    native = {"database": warehouse, "type": "native", "native": {"query": "SELECT name FROM visible ORDER BY id"}}
    assert person.post("/api/dataset", native).plain == FORBIDDEN
    assert ok(admin.post("/api/dataset", native), 202)["status"] == "completed"

    graph = ok(admin.get("/api/permissions/graph"))
    builder = {"1": {str(warehouse): {"create-queries": "query-builder"}}}
    ok(admin.put("/api/permissions/graph", {"revision": graph["revision"], "groups": builder}))
    failed = ok(person.post("/api/dataset", native), 202)
    assert (failed["status"], failed["error"], failed["error_type"]) == (
        "failed",
        "You do not have permissions to run this query.",
        "missing-required-permissions",
    )

    collection = ok(admin.post("/api/collection/", {"name": "Cronicorn content"}))
    card = ok(
        admin.post(
            "/api/card/",
            {
                "name": "Names",
                "display": "table",
                "dataset_query": native,
                "visualization_settings": {},
                "collection_id": collection["id"],
            },
        )
    )
    # The collection copied the root's permissions: All Users may write, so the card runs.
    assert ok(person.post(f"/api/card/{card['id']}/query"), 202)["status"] == "completed"
    cgraph = ok(admin.get("/api/collection/graph"))
    assert cgraph["groups"]["1"][str(collection["id"])] == "write"
    revoke = {"1": {str(collection["id"]): "none"}}
    assert admin.put("/api/collection/graph", {"revision": cgraph["revision"] + 5, "groups": revoke}).plain == STALE
    after = ok(admin.put("/api/collection/graph", {"revision": cgraph["revision"], "groups": revoke}))
    assert str(collection["id"]) not in after["groups"]["1"]  # none is elided
    assert after["groups"]["2"][str(collection["id"])] == "write"
    for method, path in (
        ("GET", f"/api/collection/{collection['id']}"),
        ("GET", f"/api/collection/{collection['id']}/items"),
        ("GET", f"/api/card/{card['id']}"),
        ("POST", f"/api/card/{card['id']}/query"),
    ):
        assert person(method, path).plain == FORBIDDEN, path
    assert ok(admin.post(f"/api/card/{card['id']}/query"), 202)["status"] == "completed"


def test_settings_hide_default_and_env_values(admin):
    listed = {s["key"]: s for s in ok(admin.get("/api/setting/"))}
    assert listed["enable-public-sharing"]["value"] is None and listed["enable-public-sharing"]["default"] is True
    assert listed["check-for-updates"]["is_env_setting"] is True
    assert listed["check-for-updates"]["value"] is None
    assert listed["check-for-updates"]["default"] == "Using value of env var $MB_CHECK_FOR_UPDATES"
    # Metabase stores a write to an env-set key, but the environment wins and its value stays hidden.
    assert admin.put("/api/setting/check-for-updates", {"value": False}).status == 204
    assert ok(admin.get("/api/setting/check-for-updates")) is None
    assert admin.put("/api/setting/enable-public-sharing", {"value": False}).status == 204
    assert ok(admin.get("/api/setting/enable-public-sharing")) is False
    assert admin.put("/api/setting/enable-public-sharing", {"value": True}).status == 204
    assert ok(admin.get("/api/setting/enable-public-sharing")) is None  # back to the default: null on read
    assert admin.put("/api/setting/site-url", {"value": "metabase.example.com/"}).status == 204
    assert ok(admin.get("/api/setting/site-url")) == "http://metabase.example.com"
    assert admin.put("/api/setting/enable-password-login", {"value": False}).status == 500
    assert admin.put("/api/setting/enable-query-caching", {"value": True}).status == 500


def test_cache_api_refuses_what_the_open_source_edition_lacks(admin):
    assert ok(admin.get("/api/cache/")) == {"data": []}
    ttl = {"type": "ttl", "multiplier": 10, "min_duration_ms": 60000}
    assert isinstance(ok(admin.put("/api/cache/", {"model": "root", "model_id": 0, "strategy": ttl}))["id"], int)
    assert ok(admin.get("/api/cache/"))["data"] == [{"model": "root", "model_id": 0, "strategy": ttl}]
    caching = {s["key"]: s for s in ok(admin.get("/api/setting/"))}["enable-query-caching"]
    assert caching["default"] is True
    duration = {"type": "duration", "duration": 30, "unit": "minutes", "refresh_automatically": False}
    refused = admin.put("/api/cache/", {"model": "root", "model_id": 0, "strategy": duration})
    assert refused.status == 400 and "strategy" in refused.json["errors"]
    paid = admin.put("/api/cache/", {"model": "dashboard", "model_id": 1, "strategy": ttl})
    assert paid.status == 402 and paid.json["message"].startswith("Granular Caching is a paid feature")
    wrong = admin.put("/api/cache/", {"model": "root", "model_id": 3, "strategy": ttl})
    assert (wrong.status, wrong.json["message"]) == (404, "Root configuration is only valid with model_id = 0")


def test_metadata_edits_hide_fields_and_tables(admin, warehouse):
    tables = {t["name"]: t for t in ok(admin.get(f"/api/database/{warehouse}/metadata"))["tables"]}
    table = tables["visible"]
    field = next(f for f in table["fields"] if f["name"] == "name")
    answer = ok(admin.put(f"/api/field/{field['id']}", {"visibility_type": "sensitive", "description": "A name"}))
    assert (answer["visibility_type"], answer["description"]) == ("sensitive", "A name")
    shown = ok(admin.get(f"/api/table/{table['id']}/query_metadata"))
    assert "name" not in {f["name"] for f in shown["fields"]}
    everything = ok(admin.get(f"/api/table/{table['id']}/query_metadata?include_sensitive_fields=true"))
    assert "name" in {f["name"] for f in everything["fields"]}
    assert admin.put(f"/api/field/{field['id']}", {"description": ""}).status == 400
    assert ok(admin.put(f"/api/table/{table['id']}", {"visibility_type": "hidden"}))["visibility_type"] == "hidden"
    assert "visible" not in {t["name"] for t in ok(admin.get(f"/api/database/{warehouse}/metadata"))["tables"]}
