"""metabase_setting against the fake Metabase: null means default (trap 8), update, no-op, reset,
env-set keys refused, unknown keys, check mode, diff."""

from __future__ import annotations

import pytest
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_setting as module
from content_helpers import SESSION_AUTH, writes


def run(run_module, key, check_mode=False, diff=False, **kwargs):
    args = dict(SESSION_AUTH, key=key, **kwargs)
    return run_module(module, args, check_mode=check_mode, diff=diff)


def ok(outcome):
    assert not outcome.failed, outcome.msg
    return outcome


def test_turns_public_sharing_off_then_no_op(fake, run_module):
    outcome = ok(run(run_module, "enable-public-sharing", value=False, diff=True))
    assert outcome.changed is True
    assert fake.settings["enable-public-sharing"] is False
    assert outcome.result["diff"] == {
        "before": {"value": True},
        "after": {"value": False},
        "before_header": "setting enable-public-sharing",
        "after_header": "setting enable-public-sharing",
    }
    fake.requests.clear()
    assert ok(run(run_module, "enable-public-sharing", value=False)).changed is False
    assert writes(fake) == []


def test_a_null_value_on_read_is_the_default(fake, run_module):
    """Metabase answers value null for the default: wanting the default writes nothing."""
    outcome = ok(run(run_module, "enable-public-sharing", value=True))
    assert outcome.changed is False and writes(fake) == []
    assert outcome.result["setting"] == {"key": "enable-public-sharing", "value": True, "is_default": True}


@pytest.mark.parametrize("value", ["false", "False", False])
def test_boolean_spellings_compare_equal(fake, run_module, value):
    fake.settings["check-for-updates"] = False
    assert ok(run(run_module, "check-for-updates", value=value)).changed is False


def test_site_url_is_compared_as_metabase_stores_it(fake, run_module):
    fake.settings["site-url"] = "https://metabase.example.com"
    assert ok(run(run_module, "site-url", value="https://metabase.example.com/")).changed is False


def test_reset_to_default(fake, run_module):
    fake.settings["enable-embedding-static"] = True
    outcome = ok(run(run_module, "enable-embedding-static"))
    assert outcome.changed is True
    assert [r.body for r in fake.writes()] == [{"value": None}]
    assert ok(run(run_module, "enable-embedding-static")).changed is False


def test_env_set_key_is_refused_with_the_variable(fake, run_module):
    fake.env_settings["check-for-updates"] = "false"
    outcome = run(run_module, "check-for-updates", value=True)
    assert outcome.failed and "MB_CHECK_FOR_UPDATES" in outcome.msg
    assert writes(fake) == []


def test_unknown_key_names_close_matches(fake, run_module):
    outcome = run(run_module, "enable-public-shareing", value=False)
    assert outcome.failed and "enable-public-sharing" in outcome.msg


def test_check_mode_writes_nothing(fake, run_module):
    outcome = ok(run(run_module, "anon-tracking-enabled", value=False, check_mode=True))
    assert outcome.changed is True and writes(fake) == []
