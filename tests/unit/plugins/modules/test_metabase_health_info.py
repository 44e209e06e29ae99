"""metabase_health_info against the fake Metabase: what it reads when all is well, and that each thing that
can go wrong (down, starting, login refused, connection unregistered or failing) is an answer, not a failure,
without a write, a retry or a secret in the result."""

from __future__ import annotations

import pytest
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_health_info as module
from fake_metabase import ADMIN_EMAIL, ADMIN_PASSWORD, API_KEY, RO_PASSWORD

URL = "http://metabase.test:3000"
SESSION_AUTH = {"url": URL, "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "wait_timeout": 0}
DETAILS = {"host": "postgres", "port": 5432, "dbname": "cronicorn", "user": "metabase_readonly"}


def read(run_module, fake, check_mode=False, **overrides):
    outcome = run_module(module, dict(SESSION_AUTH, **overrides), check_mode=check_mode)
    assert not outcome.failed, outcome.msg
    assert outcome.changed is False
    assert fake.writes() == []
    for secret in fake.secrets():
        assert secret not in outcome.text()
    return outcome.result


@pytest.mark.parametrize("check_mode", [False, True])
def test_healthy_metabase_and_connection(fake, run_module, check_mode):
    stored = fake.add_database("Cronicorn", password=RO_PASSWORD, **DETAILS)
    result = read(run_module, fake, check_mode=check_mode, database="Cronicorn")
    assert result["reachable"] is True
    assert result["health"] == {"status": "ok"}
    assert result["version"] == "v0.56.3"
    assert result["setup_done"] is True
    assert result["database"] == {
        "name": "Cronicorn",
        "registered": True,
        "id": stored["id"],
        "engine": "postgres",
        "healthcheck": {"status": "ok"},
    }
    assert result["errors"] == []


def test_without_database_it_does_not_log_in(fake, run_module):
    result = read(run_module, fake, url=URL, username=None, password=None)
    assert result["reachable"] is True and result["database"] is None
    assert fake.count("POST", "/api/session/") == 0


def test_api_key(fake, run_module):
    fake.add_database("Cronicorn", password=RO_PASSWORD, **DETAILS)
    result = read(run_module, fake, username=None, password=None, api_key=API_KEY, database="Cronicorn")
    assert result["database"]["healthcheck"] == {"status": "ok"}


def test_connection_whose_password_postgresql_refuses(fake, run_module):
    fake.add_database("Cronicorn", password="Not-the-password-1", **DETAILS)
    result = read(run_module, fake, database="Cronicorn")
    assert result["reachable"] is True
    assert result["database"]["healthcheck"] == {"status": "error", "message": "Looks like your Password is incorrect."}
    assert result["errors"] == []


def test_connection_not_registered(fake, run_module):
    result = read(run_module, fake, database="Cronicorn")
    assert result["database"] == {
        "name": "Cronicorn",
        "registered": False,
        "id": None,
        "engine": None,
        "healthcheck": None,
    }


def test_metabase_down_is_an_answer_sent_once(fake, run_module):
    fake.refuse_next(5)
    result = read(run_module, fake, database="Cronicorn")
    assert result["reachable"] is False
    assert result["version"] is None and result["database"] is None
    assert len(result["errors"]) == 1 and "GET /api/health failed" in result["errors"][0]
    assert "Connection refused" in result["errors"][0]
    assert fake.count() == 1  # no retry, no wait


def test_metabase_starting(fake, run_module):
    fake.initializing = 3
    result = read(run_module, fake, database="Cronicorn")
    assert result["reachable"] is False
    assert "503" in result["errors"][0]
    assert fake.count("GET", "/api/session/properties") == 0


def test_login_refused_is_an_error_of_the_result(fake, run_module):
    result = read(run_module, fake, password="Wrong-password-1", database="Cronicorn")
    assert result["reachable"] is True and result["version"] == "v0.56.3"
    assert result["database"] is None
    assert len(result["errors"]) == 1 and "POST /api/session/" in result["errors"][0], result["errors"]
    assert "Wrong-password-1" not in str(result)


def test_database_needs_credentials(fake, run_module):
    outcome = run_module(module, {"url": URL, "database": "Cronicorn"})
    assert outcome.failed
    assert "api_key, or username and password" in outcome.msg
    assert fake.count() == 0
