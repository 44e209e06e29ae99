"""metabase_table and metabase_field against the fake Metabase: hide, describe, no-op, clear,
missing (fail or ignore), check mode, diff."""

from __future__ import annotations

import pytest
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_field, metabase_table
from content_helpers import SESSION_AUTH, seed, writes


def ok(outcome):
    assert not outcome.failed, outcome.msg
    return outcome


def table(fake, name):
    return next(t for tables in fake.tables.values() for t in tables if t["name"] == name)


def field(fake, table_name, name):
    return next(f for f in table(fake, table_name)["fields"] if f["name"] == name)


def run_field(run_module, check_mode=False, diff=False, **kwargs):
    args = dict(SESSION_AUTH, database="Cronicorn", table="admin_user_stats", field="email")
    args.update(kwargs)
    return run_module(metabase_field, args, check_mode=check_mode, diff=diff)


def run_table(run_module, check_mode=False, diff=False, **kwargs):
    args = dict(SESSION_AUTH, database="Cronicorn", table="public.admin_daily_metrics")
    args.update(kwargs)
    return run_module(metabase_table, args, check_mode=check_mode, diff=diff)


def test_field_made_sensitive_and_described_then_no_op(fake, run_module):
    seed(fake)
    outcome = ok(run_field(run_module, diff=True, visibility="sensitive", description="A person's email"))
    assert outcome.changed is True
    email = field(fake, "admin_user_stats", "email")
    assert (email["visibility_type"], email["description"]) == ("sensitive", "A person's email")
    assert [r.body for r in fake.writes()] == [{"visibility_type": "sensitive", "description": "A person's email"}]
    assert outcome.result["diff"]["before"] == {"visibility": "normal", "description": ""}
    fake.requests.clear()
    assert ok(run_field(run_module, visibility="sensitive", description="A person's email")).changed is False
    assert writes(fake) == []


def test_empty_description_and_semantic_type_are_cleared_with_null(fake, run_module):
    seed(fake)
    ok(run_field(run_module, description="x", semantic_type="type/Email"))
    ok(run_field(run_module, description="", semantic_type=""))
    assert fake.writes()[-1].body == {"description": None, "semantic_type": None}
    assert ok(run_field(run_module, description="", semantic_type="")).changed is False


def test_table_hidden_and_visible_again(fake, run_module):
    seed(fake)
    assert ok(run_table(run_module, visibility="visible")).changed is False  # Metabase says null
    ok(run_table(run_module, visibility="hidden"))
    assert table(fake, "admin_daily_metrics")["visibility_type"] == "hidden"
    assert ok(run_table(run_module, visibility="hidden")).changed is False
    ok(run_table(run_module, visibility="visible"))
    assert fake.writes()[-1].body == {"visibility_type": None}


@pytest.mark.parametrize("missing", ["fail", "ignore"])
def test_a_column_metabase_does_not_list(fake, run_module, missing):
    """A withheld column is not synced at all: hiding it is then nothing to do."""
    seed(fake)
    outcome = run_field(run_module, field="stripe_customer_id", visibility="sensitive", missing=missing)
    if missing == "fail":
        assert outcome.failed and "stripe_customer_id" in outcome.msg
    else:
        assert not outcome.failed and outcome.changed is False and outcome.result["field"] == {}
    assert writes(fake) == []


def test_check_mode_writes_nothing(fake, run_module):
    seed(fake)
    assert ok(run_field(run_module, check_mode=True, visibility="hidden")).changed is True
    assert ok(run_table(run_module, check_mode=True, visibility="hidden")).changed is True
    assert writes(fake) == []


@pytest.mark.parametrize("missing", ["fail", "ignore"])
@pytest.mark.parametrize("run", [run_table, run_field], ids=["table", "field"])
def test_a_table_metabase_does_not_list(fake, run_module, run, missing):
    seed(fake)
    outcome = run(run_module, table="public.no_such_table", visibility="hidden", missing=missing)
    kind = "table" if run is run_table else "field"
    if missing == "fail":
        assert outcome.failed
        assert outcome.msg.startswith("Unknown table 'public.no_such_table'"), outcome.msg
        assert ("in 'Cronicorn'" in outcome.msg) is (kind == "table")
    else:
        assert not outcome.failed, outcome.msg
        assert (outcome.changed, outcome.result[kind]) == (False, {})
    assert writes(fake) == []


def test_the_results_name_the_table_and_the_field(fake, run_module):
    seed(fake)
    hidden = ok(run_table(run_module, diff=True, visibility="hidden"))
    assert hidden.result["table"] == {
        "id": table(fake, "admin_daily_metrics")["id"],
        "schema": "public",
        "name": "admin_daily_metrics",
        "visibility": "hidden",
    }
    assert hidden.result["diff"]["before_header"] == "table public.admin_daily_metrics"
    sensitive = ok(run_field(run_module, diff=True, check_mode=True, visibility="sensitive"))
    assert sensitive.result["field"] == {
        "id": field(fake, "admin_user_stats", "email")["id"],
        "table": "public.admin_user_stats",
        "name": "email",
        "visibility": "sensitive",
    }
    assert sensitive.result["diff"]["after_header"] == "field public.admin_user_stats.email"
