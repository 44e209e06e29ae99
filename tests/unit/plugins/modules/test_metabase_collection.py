"""metabase_collection against the fake Metabase: nested create, no-op, description, archive (and
the PUT-unarchives trap), check mode, diff, logout, no secret."""

from __future__ import annotations

import pytest
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_collection as module
from content_helpers import KEY_AUTH, SESSION_AUTH, secrets_absent, writes


def run(run_module, **kwargs):
    args = dict(SESSION_AUTH, path="Cronicorn Admin/Operations")
    args.update({k: v for k, v in kwargs.items() if k not in ("check_mode", "diff")})
    outcome = run_module(module, args, check_mode=kwargs.get("check_mode", False), diff=kwargs.get("diff", False))
    assert not outcome.failed, outcome.msg
    return outcome


def test_creates_the_path_with_missing_ancestors(fake, run_module):
    outcome = run(run_module, description="Operational dashboards", diff=True)
    assert outcome.changed is True
    assert outcome.result["created"] == ["Cronicorn Admin", "Cronicorn Admin/Operations"]
    top = fake.collection_by_path("Cronicorn Admin")
    leaf = fake.collection_by_path("Cronicorn Admin/Operations")
    assert leaf["location"] == f"/{top['id']}/"
    assert leaf["description"] == "Operational dashboards"
    assert top["description"] is None
    posts = [r.body for r in fake.requests if r.method == "POST" and r.path == "/api/collection/"]
    assert posts == [
        {"name": "Cronicorn Admin", "parent_id": None},
        {"name": "Operations", "parent_id": top["id"], "description": "Operational dashboards"},
    ]
    assert outcome.result["collection"]["id"] == leaf["id"]
    assert outcome.result["collection"]["path"] == "Cronicorn Admin/Operations"
    assert outcome.result["diff"][-1]["after"] == {"description": "Operational dashboards"}
    secrets_absent(fake, outcome)


def test_second_run_writes_nothing_and_logs_out(fake, run_module):
    run(run_module, description="Ops")
    fake.requests.clear()
    outcome = run(run_module, description="Ops")
    assert outcome.changed is False
    assert writes(fake) == []
    assert [(r.method, r.path) for r in fake.requests if r.method == "GET"] == [("GET", "/api/collection/")]


def test_noop_with_an_api_key_is_one_request(fake, run_module):
    run(run_module)
    fake.requests.clear()
    outcome = run_module(module, dict(KEY_AUTH, path="Cronicorn Admin/Operations"))
    assert outcome.changed is False
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/api/collection/")]


def test_description_update_sends_archived_false(fake, run_module):
    """PUT /api/collection/{id} defaults archived to false: the module always says it."""
    run(run_module, description="Ops")
    fake.requests.clear()
    outcome = run(run_module, description="Operations team", diff=True)
    assert outcome.changed is True
    puts = [r for r in fake.requests if r.method == "PUT"]
    leaf = fake.collection_by_path("Cronicorn Admin/Operations")
    assert [(r.path, r.body) for r in puts] == [
        (f"/api/collection/{leaf['id']}", {"archived": False, "description": "Operations team"})
    ]
    assert outcome.result["diff"] == [
        {
            "before": {"description": "Ops"},
            "after": {"description": "Operations team"},
            "before_header": "collection Cronicorn Admin/Operations",
            "after_header": "collection Cronicorn Admin/Operations",
        }
    ]
    assert run(run_module, description="Operations team").changed is False


def test_empty_description_removes_it(fake, run_module):
    run(run_module, description="Ops")
    outcome = run(run_module, description="")
    assert outcome.changed is True
    assert fake.collection_by_path("Cronicorn Admin/Operations")["description"] is None
    assert fake.requests[-2].body == {"archived": False, "description": None}
    assert run(run_module, description="").changed is False


def test_omitted_description_is_not_managed(fake, run_module):
    run(run_module, description="Ops")
    assert run(run_module).changed is False


def test_absent_archives_only_the_leaf(fake, run_module):
    run(run_module)
    leaf = fake.collection_by_path("Cronicorn Admin/Operations")
    fake.requests.clear()
    outcome = run(run_module, state="absent", diff=True)
    assert outcome.changed is True
    assert [(r.method, r.path, r.body) for r in fake.writes() if r.path != "/api/session/"] == [
        ("PUT", f"/api/collection/{leaf['id']}", {"archived": True})
    ]
    assert fake.collections[leaf["id"]]["archived"] is True
    assert fake.collection_by_path("Cronicorn Admin")["archived"] is False
    assert outcome.result["collection"] == {}
    assert outcome.result["diff"][0]["after"] == {}
    again = run(run_module, state="absent")
    assert again.changed is False


def test_an_archived_collection_is_created_anew(fake, run_module):
    run(run_module)
    old = fake.collection_by_path("Cronicorn Admin/Operations")
    run(run_module, state="absent")
    outcome = run(run_module)
    assert outcome.changed is True
    assert fake.collection_by_path("Cronicorn Admin/Operations")["id"] != old["id"]


@pytest.mark.parametrize("state", ["present", "absent"])
def test_check_mode_writes_nothing(fake, run_module, state):
    if state == "absent":
        run(run_module)
    fake.requests.clear()
    outcome = run(run_module, state=state, description="Ops", check_mode=True, diff=True)
    assert outcome.changed is True
    assert writes(fake) == []
    if state == "present":
        assert outcome.result["created"] == ["Cronicorn Admin", "Cronicorn Admin/Operations"]
        assert outcome.result["collection"]["id"] < 0


def test_check_mode_pattern(fake, run_module):
    assert run(run_module, check_mode=True).changed is True
    assert run(run_module).changed is True
    assert run(run_module, check_mode=True).changed is False


def test_duplicate_names_fail_instead_of_guessing(fake, run_module):
    run(run_module)
    top = fake.collection_by_path("Cronicorn Admin")
    fake.collections[999] = dict(fake.collections[top["id"]], id=999)
    outcome = run_module(module, dict(SESSION_AUTH, path="Cronicorn Admin/Operations"))
    assert outcome.failed
    assert "2 collections named 'Cronicorn Admin'" in outcome.msg
    assert fake.count("DELETE", "/api/session/") == 2  # every run logs out, the failed one too
    assert fake.sessions == {}


def test_trash_and_personal_collections_are_never_matched(fake, run_module):
    fake.collections[500] = {
        "id": 500,
        "name": "Cronicorn Admin",
        "location": "/",
        "archived": False,
        "description": None,
        "personal_owner_id": 1,
        "namespace": None,
    }
    outcome = run_module(module, dict(SESSION_AUTH, path="Trash"))
    assert outcome.changed is True
    assert outcome.result["collection"]["id"] not in (500, 9000)
    outcome = run(run_module)
    assert outcome.result["created"] == ["Cronicorn Admin", "Cronicorn Admin/Operations"]


def test_session_is_logged_out_at_the_end(fake, run_module):
    run(run_module)
    assert fake.count("DELETE", "/api/session/") == 1
    assert fake.requests[-1].method == "DELETE"
    assert fake.sessions == {}


def test_failure_shows_no_secret(fake, run_module):
    fake.fail_next(500, {"message": "boom " + SESSION_AUTH["password"]}, count=10, path="/api/collection/")
    outcome = run_module(module, dict(SESSION_AUTH, path="A"))
    assert outcome.failed
    assert "HTTP 500" in outcome.msg
    secrets_absent(fake, outcome)
