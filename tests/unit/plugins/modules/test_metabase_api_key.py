"""metabase_api_key against the fake Metabase: created once and written 0600, never returned; a
repeat run with the file is a no-op; a lost file fails unless regenerate; group update; absent;
check mode writes neither Metabase nor the file; the next run can use the key."""

from __future__ import annotations

import stat

from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_api_key as module
from content_helpers import SESSION_AUTH, URL, writes


def run(run_module, key_file, check_mode=False, diff=False, **kwargs):
    args = dict(SESSION_AUTH, name="cronicorn-ansible", key_file=str(key_file))
    args.update(kwargs)
    return run_module(module, args, check_mode=check_mode, diff=diff)


def ok(outcome):
    assert not outcome.failed, outcome.msg
    return outcome


def test_created_once_written_0600_never_returned(fake, run_module, tmp_path):
    key_file = tmp_path / "key"
    outcome = ok(run(run_module, key_file, diff=True))
    assert outcome.changed is True and outcome.result["key_written"] is True
    key = key_file.read_text().strip()
    assert key in fake.api_keys
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key not in outcome.text()
    assert outcome.result["api_key"]["group"] == "Administrators"
    fake.requests.clear()
    again = ok(run(run_module, key_file))
    assert again.changed is False and writes(fake) == []
    assert key_file.read_text().strip() == key


def test_the_next_run_authenticates_with_the_key_and_opens_no_session(fake, run_module, tmp_path):
    key_file = tmp_path / "key"
    ok(run(run_module, key_file))
    sessions = len(fake.opened_sessions)
    outcome = run_module(
        module,
        {"url": URL, "api_key": key_file.read_text().strip(), "name": "cronicorn-ansible", "key_file": str(key_file)},
    )
    assert not outcome.failed and outcome.changed is False
    assert len(fake.opened_sessions) == sessions


def test_a_lost_file_fails_unless_regenerate(fake, run_module, tmp_path):
    key_file = tmp_path / "key"
    ok(run(run_module, key_file))
    old = key_file.read_text().strip()
    key_file.unlink()
    failed = run(run_module, key_file)
    assert failed.failed and "regenerate" in failed.msg and not key_file.exists()
    outcome = ok(run(run_module, key_file, regenerate=True))
    assert outcome.changed is True
    new = key_file.read_text().strip()
    assert new != old and new in fake.api_keys and old not in fake.api_keys


def test_group_update_and_absent(fake, run_module, tmp_path):
    key_file = tmp_path / "key"
    fake.add_group("Cronicorn Admins")
    ok(run(run_module, key_file))
    assert ok(run(run_module, key_file, group="Cronicorn Admins")).changed is True
    row = next(iter(fake.api_key_rows.values()))
    assert fake.groups[row["group_id"]] == "Cronicorn Admins"
    assert ok(run(run_module, key_file, state="absent")).changed is True
    assert fake.api_key_rows == {}
    assert ok(run(run_module, key_file, state="absent")).changed is False


def test_check_mode_writes_nothing(fake, run_module, tmp_path):
    key_file = tmp_path / "key"
    outcome = ok(run(run_module, key_file, check_mode=True))
    assert outcome.changed is True
    assert writes(fake) == [] and not key_file.exists()
