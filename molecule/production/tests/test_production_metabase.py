"""Through the proxy over HTTPS: the Cronicorn database is registered with the read-only role, the example
questions are answered, every request Metabase accepted matches its OpenAPI description, and the
application's data is what it was before converge. A check-mode run on the converged stack changes nothing."""

from __future__ import annotations

import json
import sys

import pytest
from metabase_api import journal_problems
from production import (
    ALL_VARS,
    APPDB_CONTAINER,
    METABASE,
    METABASE_VARS,
    ROOT,
    VAULT_PASSWORD_FILE,
    admin_session,
    ephemeral_file,
    psql,
)
from site_run import site, succeeded

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "cronicorn"))
from contract import CREDENTIAL_TABLES, EXAMPLE_QUESTIONS, VIEWS


@pytest.fixture(scope="module")
def session() -> str:
    return admin_session()


@pytest.fixture(scope="module")
def cronicorn(session) -> dict:
    return METABASE.database(session)


def test_cronicorn_is_registered_as_the_readonly_role(cronicorn):
    assert cronicorn["engine"] == "postgres"
    assert cronicorn["details"]["user"] == ALL_VARS["monitoring_readonly_user"] == "metabase_readonly"
    assert cronicorn["details"]["host"] == METABASE_VARS["monitoring_metabase_db_host"]
    assert cronicorn["details"]["dbname"] == ALL_VARS["monitoring_db_name"]
    assert cronicorn["details"]["password"] == "**MetabasePass**"


def test_sync_shows_the_views_and_no_credential_table(session, cronicorn):
    names = METABASE.synced_tables(session, cronicorn["id"])
    assert set(VIEWS) <= names, f"missing after sync: {sorted(set(VIEWS) - names)}"
    assert not names & set(CREDENTIAL_TABLES)


@pytest.mark.parametrize("question", EXAMPLE_QUESTIONS, ids=["tokens by user", "daily active users", "subscribers"])
def test_example_questions_are_answered_over_https(session, cronicorn, question):
    result = METABASE.native(session, cronicorn["id"], question)
    assert result["status"] == "completed", result.get("error")
    assert result["row_count"] > 0


@pytest.mark.double_only("the request journal is the double's own table; Metabase keeps none")
def test_every_accepted_request_matches_the_openapi_description():
    rows = psql(
        APPDB_CONTAINER,
        "metabase",
        "metabase",
        "SELECT coalesce(json_agg(json_build_array(method, path, query, has_body, body) ORDER BY id), '[]')"
        " FROM double_request_journal",
    )
    journal = json.loads(rows)
    assert journal, "the double journaled no request"
    assert journal_problems(journal) == []


def test_the_applications_data_is_untouched():
    before = ephemeral_file("app-checksum.txt").read_text(encoding="utf-8").strip()
    query = (ROOT / "molecule" / "production" / "app_checksum.sql").read_text(encoding="utf-8")
    after = psql("cronicorn-app-db", "postgres", ALL_VARS["monitoring_db_name"], query)
    assert "runs 3000 " in before  # the seeded data was there to compare
    assert after == before


def test_check_mode_on_the_converged_stack_reports_no_change():
    run = site(
        "--check",
        "--diff",
        inventory="inventory/production",
        vault_password_file=str(VAULT_PASSWORD_FILE),
    )
    counts = succeeded(run.returncode, run.stdout)
    assert set(counts) == {"monitoring-docker-host", "cronicorn-db-access"}, counts
    assert {host: c["changed"] for host, c in counts.items()} == {"monitoring-docker-host": 0, "cronicorn-db-access": 0}
