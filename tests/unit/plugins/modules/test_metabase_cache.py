"""metabase_cache against the fake Metabase: the adaptive root policy (create, no-op, update, check
mode, diff); duration and per-dashboard policies refused clearly on the open-source edition (also in
check mode, before any write) and accepted on a paid one."""

from __future__ import annotations

from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_cache as module
from content_helpers import SESSION_AUTH, writes

TTL = {"type": "ttl", "multiplier": 10, "min_duration_ms": 1000}


def run(run_module, check_mode=False, diff=False, **kwargs):
    return run_module(module, dict(SESSION_AUTH, **kwargs), check_mode=check_mode, diff=diff)


def ok(outcome):
    assert not outcome.failed, outcome.msg
    return outcome


def test_adaptive_root_policy_then_no_op(fake, run_module):
    outcome = ok(run(run_module, diff=True))
    assert outcome.changed is True
    assert fake.cache_policies == {("root", 0): TTL}
    assert outcome.result["diff"]["before"] == {} and outcome.result["diff"]["after"] == TTL
    fake.requests.clear()
    assert ok(run(run_module)).changed is False
    assert writes(fake) == []


def test_update_changes_the_multiplier(fake, run_module):
    ok(run(run_module))
    outcome = ok(run(run_module, multiplier=20))
    assert outcome.changed is True
    assert fake.cache_policies[("root", 0)]["multiplier"] == 20


def test_check_mode_writes_nothing(fake, run_module):
    assert ok(run(run_module, check_mode=True)).changed is True
    assert writes(fake) == []


def test_duration_is_refused_clearly_on_the_open_source_edition(fake, run_module):
    for check_mode in (True, False):
        outcome = run(run_module, strategy="duration", duration=30, check_mode=check_mode)
        assert outcome.failed and "need a paid Metabase edition" in outcome.msg
    assert writes(fake) == []


def test_per_dashboard_policy_is_refused_clearly(fake, run_module):
    outcome = run(run_module, model="dashboard", model_id=4)
    assert outcome.failed and "Granular Caching" in outcome.msg
    assert writes(fake) == []


def test_a_refused_write_is_explained_too(fake, run_module):
    """Should the preflight pass (a proxy, an old version) the 400 of the write is explained."""
    fake.paid_edition = True
    ok(run(run_module))
    fake.paid_edition = False
    fake.fail_next(200, {"data": []}, method="GET", path="/api/cache/")
    outcome = run(run_module, strategy="duration")
    assert outcome.failed and "need a paid Metabase edition" in outcome.msg and "HTTP 400" in outcome.msg


def test_duration_on_a_paid_edition(fake, run_module):
    fake.paid_edition = True
    outcome = ok(run(run_module, strategy="duration", duration=15))
    assert outcome.changed is True
    assert fake.cache_policies[("root", 0)]["duration"] == 15
    assert ok(run(run_module, strategy="duration", duration=15)).changed is False
