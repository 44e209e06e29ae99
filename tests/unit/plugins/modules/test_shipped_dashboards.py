"""The shipped dashboard files, as the metabase_content role turns them into arguments, applied by
metabase_dashboard to the fake Metabase that holds the ten views: every dashboard is created with its
questions, a second application writes nothing, and each dashboard exported by metabase_info and written as a
file (metabase_content_export) applies back with nothing to change."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_dashboard, metabase_info
from content_helpers import SESSION_AUTH
from controller_imports import module_side_kept

with module_side_kept():
    from ansible_collections.cronicorn.monitoring.plugins.filter.metabase_content import (
        metabase_content_dashboards,
        metabase_content_export,
    )

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "tests" / "fixtures" / "cronicorn"))
from contract import VIEWS as CONTRACT_VIEWS  # noqa: E402

ROLE = REPO / "roles" / "metabase_content"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
PRICES = {"tier_prices": DEFAULTS["metabase_content_tier_prices"]}
SHIPPED = {
    d["name"]: d
    for d in metabase_content_dashboards(
        [str(ROLE / "files" / "dashboards")], database="Cronicorn", sql_values_map=PRICES
    )
}
N, T, F, D, TS, B = "type/Integer", "type/Text", "type/Decimal", "type/Date", "type/DateTime", "type/Boolean"
# The ten views of shared/cronicorn/views.md as Metabase's sync sees them (schema cronicorn_monitoring).
VIEWS = {
    "admin_user_stats": {
        "id": T, "email": T, "name": T, "tier": T, "subscription_status": T, "created_at": TS, "is_anonymous": B,
        "subscription_ends_at": TS, "total_jobs": N, "total_endpoints": N, "active_endpoints": N,
        "paused_endpoints": N,
    },
    "admin_user_run_stats": {
        "user_id": T, "email": T, "tier": T, "total_runs": N, "successful_runs": N, "failed_runs": N,
        "timeout_runs": N, "success_rate_percent": F, "avg_duration_ms": F, "last_run_at": TS, "active_days": N,
        "runs_last_24h": N, "runs_last_7d": N, "runs_last_30d": N,
    },
    "admin_user_ai_stats": {
        "user_id": T, "email": T, "tier": T, "total_ai_sessions": N, "total_tokens_used": N,
        "avg_tokens_per_session": F, "avg_session_duration_ms": F, "last_ai_analysis_at": TS,
        "ai_sessions_last_24h": N, "ai_sessions_last_7d": N, "ai_sessions_last_30d": N, "tokens_last_30d": N,
    },
    "admin_apikey_stats": {
        "api_key_id": T, "api_key_name": T, "user_id": T, "email": T, "tier": T, "enabled": B,
        "rate_limit_enabled": B, "request_count": N, "remaining": N, "last_request": TS, "created_at": TS,
        "expires_at": TS, "status": T,
    },
    "admin_daily_metrics": {
        "date": D, "active_endpoints": N, "total_runs": N, "successful_runs": N, "failed_runs": N,
        "success_rate_percent": F, "avg_duration_ms": F, "ai_sessions": N, "total_tokens": N,
    },
    "admin_subscription_overview": {
        "tier": T, "subscription_status": T, "user_count": N, "new_users_30d": N, "expired_subscriptions": N,
        "active_subscriptions": N,
    },
    "admin_top_jobs": {
        "job_id": T, "job_name": T, "user_id": T, "user_email": T, "tier": T, "job_status": T, "endpoint_count": N,
        "total_runs": N, "successful_runs": N, "failed_runs": N, "last_run_at": TS, "created_at": TS,
    },
    "admin_run_source_stats": {
        "date": D, "source": T, "source_group": T, "run_count": N, "successful_runs": N, "failed_runs": N,
        "success_rate_percent": F,
    },
    "admin_error_analysis": {
        "date": D, "status_code": N, "error_summary": T, "error_count": N, "affected_endpoints": N,
        "affected_jobs": N, "affected_users": N,
    },
    "admin_user_activity": {
        "user_id": T, "email": T, "tier": T, "subscription_status": T, "signup_date": TS,
        "last_activity_date": TS, "days_since_last_activity": N, "total_active_days": N, "activity_status": T,
    },
}  # fmt: skip


@pytest.fixture
def cronicorn(fake):
    database = fake.add_database("Cronicorn", host="postgres", port=5432, dbname="db", user="metabase_readonly")
    for view, columns in VIEWS.items():
        fake.add_table(database["id"], "cronicorn_monitoring", view, list(columns.items()))
    return database


def apply(run_module, arguments, **kwargs):
    outcome = run_module(metabase_dashboard, dict(SESSION_AUTH, **arguments), **kwargs)
    assert not outcome.failed, outcome.msg
    return outcome


def writes_since(fake, before):
    """(method, path) of the requests after the first ``before`` ones that change something (logins aside)."""
    return [(r.method, r.path) for r in fake.requests[before:] if r.method != "GET" and "/api/session" not in r.path]


def test_the_ten_views_of_the_contract_are_here():
    assert set(VIEWS) == set(CONTRACT_VIEWS)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_a_shipped_dashboard_is_created_then_left_alone(fake, cronicorn, run_module, name):
    first = apply(run_module, SHIPPED[name])
    assert first.changed is True
    cards = {c["name"] for c in SHIPPED[name]["cards"]}
    created = {r.body["name"] for r in fake.writes() if (r.method, r.path) == ("POST", "/api/card/")}
    assert created == cards
    before = len(fake.requests)
    second = apply(run_module, SHIPPED[name], diff=True)
    assert second.changed is False, second.result.get("diff")
    assert writes_since(fake, before) == []


def test_the_whole_set_applies_twice_with_the_second_run_writing_nothing(fake, cronicorn, run_module):
    for arguments in SHIPPED.values():
        assert apply(run_module, arguments).changed is True
    before = len(fake.requests)
    for arguments in SHIPPED.values():
        assert apply(run_module, arguments).changed is False, arguments["name"]
    assert writes_since(fake, before) == []


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_an_exported_dashboard_applies_back_unchanged(fake, cronicorn, run_module, tmp_path, name):
    apply(run_module, SHIPPED[name])
    info = run_module(metabase_info, dict(SESSION_AUTH, collection="Cronicorn Admin", dashboard=name))
    assert not info.failed, info.msg
    exported = metabase_content_export(info.result["dashboard_definition"], "Cronicorn Admin", "Cronicorn")
    assert all("database" not in card for card in exported["cards"])  # the role's database is the default
    (tmp_path / "exported.yml").write_text(yaml.safe_dump(exported, sort_keys=False), encoding="utf-8")
    (again,) = metabase_content_dashboards([str(tmp_path)], database="Cronicorn", sql_values_map=PRICES)
    before = len(fake.requests)
    assert apply(run_module, again).changed is False
    assert writes_since(fake, before) == []
    assert [c["name"] for c in again["cards"]] == [c["name"] for c in SHIPPED[name]["cards"]]
