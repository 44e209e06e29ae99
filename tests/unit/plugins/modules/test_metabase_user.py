"""metabase_user against the fake Metabase: create (with and without password), no-op, update,
groups, absent deactivates, reactivation restores superuser (trap 9), check mode, diff, no secret."""

from __future__ import annotations

import pytest
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_user as module
from content_helpers import SESSION_AUTH, secrets_absent, writes

PASSWORD = "Grace-Pw-42-secret"


def run(run_module, check_mode=False, diff=False, **kwargs):
    args = dict(SESSION_AUTH, email="grace@example.com")
    args.update(kwargs)
    return run_module(module, args, check_mode=check_mode, diff=diff)


def ok(outcome):
    assert not outcome.failed, outcome.msg
    return outcome


def test_creates_with_password_names_and_groups(fake, run_module):
    fake.add_group("Cronicorn Admins")
    outcome = ok(
        run(
            run_module,
            diff=True,
            first_name="Grace",
            last_name="Hopper",
            groups=["Cronicorn Admins"],
            initial_password=PASSWORD,
        )
    )
    assert outcome.changed is True and outcome.result["action"] == "create"
    person = fake.person("grace@example.com")
    assert (person["first_name"], person["last_name"], person["password"]) == ("Grace", "Hopper", PASSWORD)
    assert person["groups"] == {1, 3} and person["is_superuser"] is False
    post = [r.body for r in fake.requests if r.method == "POST" and r.path == "/api/user/"]
    assert post[0]["user_group_memberships"] == [{"id": 1}, {"id": 3}]
    assert outcome.result["diff"]["after"]["groups"] == ["Cronicorn Admins"]
    assert PASSWORD not in outcome.text()
    secrets_absent(fake, outcome)


def test_without_password_metabase_picks_one(fake, run_module):
    ok(run(run_module))
    post = next(r.body for r in fake.requests if r.method == "POST" and r.path == "/api/user/")
    assert "password" not in post


def test_second_run_writes_nothing(fake, run_module):
    fake.add_group("Cronicorn Admins")
    args = dict(first_name="Grace", groups=["Cronicorn Admins"], superuser=True, initial_password=PASSWORD)
    ok(run(run_module, **args))
    fake.requests.clear()
    outcome = ok(run(run_module, **args))
    assert outcome.changed is False and outcome.result["action"] == "none"
    assert writes(fake) == []


def test_updates_only_what_differs(fake, run_module):
    fake.add_group("Cronicorn Admins")
    fake.add_group("Others")
    fake.add_person("grace@example.com", groups=[4], first_name="G")
    outcome = ok(run(run_module, diff=True, first_name="Grace", groups=["Cronicorn Admins"], superuser=True))
    assert outcome.result["action"] == "update"
    puts = [r.body for r in fake.requests if r.method == "PUT"]
    assert puts == [
        {"first_name": "Grace", "is_superuser": True, "user_group_memberships": [{"id": 1}, {"id": 2}, {"id": 3}]}
    ]
    assert fake.person("grace@example.com")["groups"] == {1, 2, 3}
    assert outcome.result["diff"]["before"]["groups"] == ["Others"]
    assert outcome.result["diff"]["after"]["groups"] == ["Cronicorn Admins"]


def test_append_groups_keeps_the_others(fake, run_module):
    fake.add_group("Cronicorn Admins")
    fake.add_group("Others")
    fake.add_person("grace@example.com", groups=[4])
    ok(run(run_module, groups=["Cronicorn Admins"], append_groups=True))
    assert fake.person("grace@example.com")["groups"] == {1, 3, 4}


def test_unknown_group_fails_with_close_matches(fake, run_module):
    fake.add_group("Cronicorn Admins")
    outcome = run(run_module, groups=["Cronicorn Admin"])
    assert outcome.failed and "Cronicorn Admins" in outcome.msg
    assert writes(fake) == []


def test_absent_deactivates_never_deletes(fake, run_module):
    fake.add_person("grace@example.com")
    outcome = ok(run(run_module, state="absent", diff=True))
    assert outcome.result["action"] == "deactivate"
    assert [(r.method, r.path) for r in fake.writes()] == [
        ("DELETE", f"/api/user/{fake.person('grace@example.com')['id']}")
    ]
    assert fake.person("grace@example.com")["is_active"] is False
    assert outcome.result["diff"]["after"]["active"] is False
    again = ok(run(run_module, state="absent"))
    assert again.changed is False


def test_absent_for_an_unknown_person_is_a_no_op(fake, run_module):
    outcome = ok(run(run_module, state="absent"))
    assert outcome.changed is False and writes(fake) == []


@pytest.mark.parametrize("explicit", [True, False])
def test_reactivation_restores_superuser(fake, run_module, explicit):
    """PUT /api/user/{id}/reactivate clears is_superuser: the module writes it back."""
    fake.add_person("grace@example.com", superuser=True, active=False)
    args = {"superuser": True} if explicit else {}
    outcome = ok(run(run_module, **args))
    assert outcome.result["action"] == "reactivate"
    person = fake.person("grace@example.com")
    assert person["is_active"] is True and person["is_superuser"] is True and 2 in person["groups"]
    paths = [(r.method, r.path) for r in fake.writes()]
    assert paths == [("PUT", f"/api/user/{person['id']}/reactivate"), ("PUT", f"/api/user/{person['id']}")]
    assert ok(run(run_module, **args)).changed is False


def test_reactivation_of_a_non_admin_needs_one_write(fake, run_module):
    fake.add_person("grace@example.com", active=False)
    ok(run(run_module, superuser=False))
    assert len(fake.writes()) == 1


@pytest.mark.parametrize("situation", ["missing", "deactivated", "different"])
def test_check_mode_writes_nothing(fake, run_module, situation):
    if situation == "deactivated":
        fake.add_person("grace@example.com", superuser=True, active=False)
    elif situation == "different":
        fake.add_person("grace@example.com", first_name="G")
    outcome = ok(run(run_module, check_mode=True, first_name="Grace", superuser=True))
    assert outcome.changed is True
    assert writes(fake) == []
    ok(run(run_module, first_name="Grace", superuser=True))
    assert ok(run(run_module, check_mode=True, first_name="Grace", superuser=True)).changed is False


def test_password_is_never_sent_again(fake, run_module):
    ok(run(run_module, initial_password=PASSWORD))
    fake.requests.clear()
    outcome = ok(run(run_module, initial_password="Another-Pw-99"))
    assert outcome.changed is False
    assert fake.person("grace@example.com")["password"] == PASSWORD
