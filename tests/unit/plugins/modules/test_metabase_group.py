"""metabase_group against the fake Metabase: create, no-op, members (added, exclusive), absent,
magic groups refused, check mode, diff."""

from __future__ import annotations

from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_group as module
from content_helpers import SESSION_AUTH, writes


def run(run_module, check_mode=False, diff=False, **kwargs):
    args = dict(SESSION_AUTH, name="Cronicorn Admins")
    args.update(kwargs)
    return run_module(module, args, check_mode=check_mode, diff=diff)


def ok(outcome):
    assert not outcome.failed, outcome.msg
    return outcome


def group_id(fake, name):
    return next(i for i, n in fake.groups.items() if n == name)


def test_creates_then_no_op(fake, run_module):
    outcome = ok(run(run_module, diff=True))
    assert outcome.changed is True and "Cronicorn Admins" in fake.groups.values()
    assert outcome.result["diff"][0]["after"] == {"name": "Cronicorn Admins"}
    fake.requests.clear()
    assert ok(run(run_module)).changed is False
    assert writes(fake) == []


def test_members_are_added_and_exclusive_removes_the_others(fake, run_module):
    fake.add_person("ada2@example.com")
    fake.add_person("grace@example.com")
    ok(run(run_module, members=["ada2@example.com"]))
    gid = group_id(fake, "Cronicorn Admins")
    assert gid in fake.person("ada2@example.com")["groups"]
    outcome = ok(run(run_module, diff=True, members=["grace@example.com"], members_exclusive=True))
    assert outcome.changed is True
    assert outcome.result["removed"] == ["ada2@example.com"]
    assert gid not in fake.person("ada2@example.com")["groups"]
    assert gid in fake.person("grace@example.com")["groups"]
    assert outcome.result["diff"][-1] == {
        "before": {"members": ["ada2@example.com"]},
        "after": {"members": ["grace@example.com"]},
        "before_header": "members of group Cronicorn Admins",
        "after_header": "members of group Cronicorn Admins",
    }
    assert ok(run(run_module, members=["grace@example.com"], members_exclusive=True)).changed is False


def test_unknown_member_fails(fake, run_module):
    outcome = run(run_module, members=["nobody@example.com"])
    assert outcome.failed and "nobody@example.com" in outcome.msg


def test_absent_deletes(fake, run_module):
    gid = fake.add_group("Cronicorn Admins")
    ok(run(run_module, state="absent"))
    assert gid not in fake.groups
    assert ok(run(run_module, state="absent")).changed is False


def test_magic_groups_are_never_deleted(fake, run_module):
    outcome = run(run_module, name="All Users", state="absent")
    assert outcome.failed and "Metabase's own groups" in outcome.msg
    assert writes(fake) == []


def test_check_mode_writes_nothing(fake, run_module):
    fake.add_person("grace@example.com")
    outcome = ok(run(run_module, check_mode=True, members=["grace@example.com"]))
    assert outcome.changed is True and writes(fake) == []
    ok(run(run_module, members=["grace@example.com"]))
    assert ok(run(run_module, check_mode=True, members=["grace@example.com"])).changed is False
