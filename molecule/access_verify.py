"""The verify tests of the metabase_access role, shared by molecule/dev and molecule/production.

A scenario's test module imports the tests below and defines the fixture ``access_stack`` (an
:class:`AccessStack`): how it reaches Metabase as its admin, SQL on the Cronicorn database and on Metabase's
application database (the double's request journal and sessions), how it runs site.yml, the inventory's
admin team and the scenario's API key file. Tests that change the stack (a person created, a person removed
from the team, a withheld column granted) put it back before they end, so that the next tests and the
scenario's repeat-run tests find the converged stack.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import secrets
import stat
import sys
import tempfile
import time
import urllib.error
from collections.abc import Callable

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "collections"))
from site_run import recaps  # noqa: E402

DEFAULTS = yaml.safe_load((ROOT / "roles/metabase_access/defaults/main.yml").read_text(encoding="utf-8"))
GROUP = DEFAULTS["metabase_access_group"]
COLLECTION = DEFAULTS["metabase_access_collection"]
# A column the read-only role withholds (readonly_user_withheld_columns) on a table it can read.
WITHHELD_TABLE, WITHHELD_COLUMN = "user", "stripe_customer_id"
# The one module that logs in with the password even when an API key is set: it checks the admin's login.
SETUP_TASK = "TASK [cronicorn.monitoring.metabase_registration : Complete Metabase's first-run setup"
WRITES = ("POST", "PUT", "DELETE")
SESSION_PATHS = ("/api/session", "/api/session/")


@dataclasses.dataclass
class AccessStack:
    """What the shared tests need from a scenario."""

    api: object  # metabase_api.MetabaseAPI
    session: Callable[[], str]  # an admin session
    cronicorn_sql: Callable[[str], object]  # a statement on the Cronicorn database, as its owner
    appdb: Callable[[str], list[tuple]]  # a query on Metabase's application database
    run: Callable[..., object]  # ansible-playbook <playbook> <args...> on the scenario's inventory
    hosts: tuple[str, ...]  # the hosts of the scenario's PLAY RECAP
    team: list[dict]  # the inventory's metabase_access_team
    readonly_user: str  # the role Metabase connects as
    key_file: pathlib.Path  # the scenario's metabase_access_api_key_file
    secrets: Callable[[], dict[str, str]]  # {name: value} that no log may show


# -- helpers ---------------------------------------------------------------------------------------


def refused(call) -> int:
    """The HTTP status of a call that Metabase must refuse (an assertion error when it answers 2xx)."""
    with pytest.raises(urllib.error.HTTPError) as error:
        call()
    return error.value.code


def admin(stack, method, path, body=None):
    return stack.api.call(method, path, body, session=stack.session())


def cronicorn_id(stack) -> int:
    return stack.api.database(stack.session())["id"]


def collection_id(stack) -> int:
    found = [
        c
        for c in admin(stack, "GET", "/api/collection/")
        if c.get("name") == COLLECTION and not c.get("archived") and isinstance(c.get("id"), int)
    ]
    assert len(found) == 1, found
    return found[0]["id"]


def user(stack, email) -> dict:
    found = [u for u in admin(stack, "GET", "/api/user/?status=all")["data"] if u["email"] == email.lower()]
    assert len(found) == 1, f"{email}: {found}"
    return admin(stack, "GET", f"/api/user/{found[0]['id']}")


def group_id(stack, name) -> int:
    found = [g["id"] for g in admin(stack, "GET", "/api/permissions/group") if g["name"] == name]
    assert len(found) == 1, name
    return found[0]


def set_password(stack, user_id) -> str:
    """A new password for a user, set by the admin as Metabase's admin pages do; returns it. It always has a digit
    (Metabase's default complexity asks for one; a random token alone may have none)."""
    password = "Vf-" + secrets.token_urlsafe(16) + "-7q"
    admin(stack, "PUT", f"/api/user/{user_id}/password", {"password": password})
    return password


def native_select(stack, session) -> dict:
    query = "SELECT count(*) FROM admin_user_stats"  # a view of the Cronicorn database (analytics_views)
    body = {"database": cronicorn_id(stack), "type": "native", "native": {"query": query}}
    return stack.api.call("POST", "/api/dataset/", body, session=session)


def access_run(stack, *args):
    """site.yml's access stage; returns the CompletedProcess of a run that succeeded on every host."""
    run = stack.run("site.yml", "--tags", "metabase_access", *args)
    assert run.returncode == 0, run.stdout[-4000:]
    assert set(stack.hosts) <= set(recaps(run.stdout)), run.stdout[-2000:]
    return run


def changed(run) -> int:
    return sum(c["changed"] for c in recaps(run.stdout).values())


@contextlib.contextmanager
def vars_file(variables: dict):
    """-e @file arguments for ``variables`` (a file, not the command line: it may carry addresses)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as handle:
        json.dump(variables, handle)
        handle.flush()
        yield ("-e", f"@{handle.name}")


def last_journal_id(stack) -> int:
    rows = stack.appdb("SELECT coalesce(max(id), 0) FROM double_request_journal")
    return int(rows[0][0])


def journal_after(stack, mark) -> list[tuple[str, str]]:
    query = f"SELECT method, path FROM double_request_journal WHERE id > {int(mark)} ORDER BY id"  # noqa: S608
    return list(stack.appdb(query))


def sessions(stack) -> int:
    return int(stack.appdb("SELECT count(*) FROM core_session")[0][0])


def fields(stack, include_hidden: bool) -> dict[str, str | None]:
    """{column: visibility_type} of the withheld column's table in Metabase's metadata."""
    flag = "?include_hidden=true" if include_hidden else ""
    metadata = admin(stack, "GET", f"/api/database/{cronicorn_id(stack)}/metadata{flag}")
    return {
        f["name"]: f.get("visibility_type")
        for t in metadata["tables"]
        if t["name"] == WITHHELD_TABLE and t.get("schema") == "public"
        for f in t.get("fields") or []
    }


def sync_until(stack, present: bool, timeout: float = 90) -> None:
    """Ask Metabase to sync the Cronicorn database, until the withheld column is (or is no longer) listed."""
    admin(stack, "POST", f"/api/database/{cronicorn_id(stack)}/sync_schema")
    deadline = time.monotonic() + timeout
    while (WITHHELD_COLUMN in fields(stack, include_hidden=True)) != present:
        assert time.monotonic() < deadline, f"{WITHHELD_COLUMN} listed: {not present} after {timeout}s"
        time.sleep(1)


def member(stack) -> dict:
    """The first person of the team who is not the admin the modules log in as."""
    people = [p for p in stack.team if not p.get("superuser")]
    assert people, "the scenario's inventory needs a team member who is not an administrator"
    return people[0]


# -- the tests -------------------------------------------------------------------------------------


def test_the_inventory_names_a_team_of_two_or_more(access_stack):
    assert len(access_stack.team) >= 2
    members = {u["email"] for u in admin(access_stack, "GET", "/api/user/")["data"]}
    assert {p["email"].lower() for p in access_stack.team} <= members


def test_a_person_outside_the_team_logs_in_but_cannot_query_nor_open_the_collection(access_stack):
    email = f"outsider-{secrets.token_hex(4)}@cronicorn.invalid"
    created = admin(access_stack, "POST", "/api/user/", {"email": email, "first_name": "Out", "last_name": "Sider"})
    try:
        password = set_password(access_stack, created["id"])
        session = access_stack.api.login(email, password)
        me = access_stack.api.call("GET", "/api/user/current", session=session)
        assert me["email"] == email
        assert me["is_superuser"] is False
        assert refused(lambda: native_select(access_stack, session)) == 403
        collection = collection_id(access_stack)
        assert refused(lambda: access_stack.api.call("GET", f"/api/collection/{collection}", session=session)) == 403
        items = f"/api/collection/{collection}/items"
        assert refused(lambda: access_stack.api.call("GET", items, session=session)) == 403
    finally:
        admin(access_stack, "DELETE", f"/api/user/{created['id']}")  # deactivated: cannot log in any more
    assert user(access_stack, email)["is_active"] is False


def test_a_team_member_can_query_and_open_the_collection(access_stack):
    person = user(access_stack, member(access_stack)["email"])
    assert person["is_active"] is True
    assert group_id(access_stack, GROUP) in [m["id"] for m in person["user_group_memberships"]]
    session = access_stack.api.login(person["email"], set_password(access_stack, person["id"]))
    answer = native_select(access_stack, session)
    assert answer["status"] == "completed", answer.get("error")
    assert answer["data"]["rows"][0][0] > 0
    collection = collection_id(access_stack)
    assert access_stack.api.call("GET", f"/api/collection/{collection}", session=session)["name"] == COLLECTION
    items = access_stack.api.call("GET", f"/api/collection/{collection}/items", session=session)
    assert items["data"], "the content collection shows the team nothing"


def test_a_person_removed_from_the_team_is_deactivated_and_comes_back_with_the_entry(access_stack):
    leaving = access_stack.team[-1]
    assert not leaving.get("superuser"), "remove a person who is not the modules' admin"
    person = user(access_stack, leaving["email"])
    password = set_password(access_stack, person["id"])
    access_stack.api.login(person["email"], password)  # logs in while in the team
    try:
        with vars_file({"metabase_access_team": access_stack.team[:-1]}) as extra:
            assert changed(access_run(access_stack, *extra)) > 0
        assert user(access_stack, leaving["email"])["is_active"] is False
        assert refused(lambda: access_stack.api.login(person["email"], password)) == 401
        members = admin(access_stack, "GET", f"/api/permissions/group/{group_id(access_stack, GROUP)}")["members"]
        assert leaving["email"].lower() not in {m["email"] for m in members}
    finally:
        access_run(access_stack)
    back = user(access_stack, leaving["email"])
    assert back["is_active"] is True
    assert group_id(access_stack, GROUP) in [m["id"] for m in back["user_group_memberships"]]


def test_public_sharing_and_static_embedding_are_off(access_stack):
    """In effect: Metabase answers null for a setting at its default (false for static embedding, true for public
    sharing), so the value is read with its default, and neither comes from the environment."""
    found = {item["key"]: item for item in admin(access_stack, "GET", "/api/setting/")}
    for key in ("enable-public-sharing", "enable-embedding-static"):
        assert found[key]["is_env_setting"] is False, key
        effective = found[key]["default"] if found[key]["value"] is None else found[key]["value"]
        assert effective is False, (key, found[key]["value"], found[key]["default"])
    assert admin(access_stack, "GET", "/api/setting/enable-public-sharing") is False  # not Metabase's default


def test_the_cache_policy_is_stored(access_stack):
    policies = admin(access_stack, "GET", "/api/cache/?model=root")["data"]
    assert [(p["model"], p["model_id"], p["strategy"]) for p in policies] == [
        (
            "root",
            0,
            {
                "type": DEFAULTS["metabase_access_cache_strategy"],
                "multiplier": DEFAULTS["metabase_access_cache_multiplier"],
                "min_duration_ms": DEFAULTS["metabase_access_cache_min_duration_ms"],
            },
        )
    ]


def test_a_withheld_column_that_metabase_had_synced_is_hidden_in_the_metadata(access_stack):
    """As on an instance synced before the column was withheld: the reader may read it, Metabase lists it; the
    access stage marks it sensitive, and the metadata no longer shows it."""
    assert WITHHELD_COLUMN not in fields(access_stack, include_hidden=True)  # the converged stack
    grant = f'GRANT SELECT ({WITHHELD_COLUMN}) ON public."{WITHHELD_TABLE}" TO {access_stack.readonly_user}'
    access_stack.cronicorn_sql(grant)
    try:
        sync_until(access_stack, present=True)
        assert fields(access_stack, include_hidden=False)[WITHHELD_COLUMN] == "normal"
        assert changed(access_run(access_stack)) > 0
        assert fields(access_stack, include_hidden=True)[WITHHELD_COLUMN] == "sensitive"
        visible = fields(access_stack, include_hidden=False)
        assert "email" in visible
        assert WITHHELD_COLUMN not in visible
    finally:
        access_stack.cronicorn_sql(grant.replace("GRANT", "REVOKE", 1).replace(" TO ", " FROM "))
        sync_until(access_stack, present=False)


def test_a_repeat_run_uses_the_api_key_leaves_no_session_and_logs_no_secret(access_stack):
    assert stat.S_IMODE(access_stack.key_file.stat().st_mode) == 0o600
    key = access_stack.key_file.read_text(encoding="utf-8").strip()
    assert key.startswith("mb_")
    before, mark = sessions(access_stack), last_journal_id(access_stack)
    run = access_run(access_stack, "-vvv")
    assert changed(run) == 0
    requests = journal_after(access_stack, mark)
    logins = [r for r in requests if r[0] == "POST" and r[1] in SESSION_PATHS]
    # Only the setup check logs in (once per Metabase host it runs on); every other module sent the key.
    assert len(logins) == run.stdout.count(SETUP_TASK) * len(access_stack.hosts) >= 1
    assert len(requests) > 10 * len(logins)
    assert len([r for r in requests if r[0] == "DELETE" and r[1] in SESSION_PATHS]) == len(logins)  # logged out
    assert [r for r in requests if r[0] in WRITES and not r[1].startswith("/api/session")] == []
    assert sessions(access_stack) == before
    output = run.stdout + run.stderr
    leaked = [name for name, value in {**access_stack.secrets(), "the API key": key}.items() if value in output]
    assert leaked == []
