"""What verify proves about Metabase after converge: setup done, the Cronicorn database registered as the
read-only role, the views (and no credential table) visible after a sync, the example questions answered,
and every request Metabase accepted matching Metabase's OpenAPI description."""

from __future__ import annotations

import pathlib
import sys

import psycopg2
import pytest
import yaml
from isolation import load
from metabase_api import MetabaseAPI, journal_problems
from site_run import site

ROOT = pathlib.Path(__file__).resolve().parents[3]
# The names and questions of shared/cronicorn/views.md and schema.md, kept once for every test.
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "cronicorn"))
from contract import CREDENTIAL_TABLES, EXAMPLE_QUESTIONS, VIEWS  # noqa: E402

DEV = yaml.safe_load((ROOT / "inventory/dev/group_vars/all/main.yml").read_text(encoding="utf-8"))
STACK = load("dev")  # the scenario's own names and ports (molecule/isolation.yml)
METABASE = MetabaseAPI(STACK["monitoring_metabase_url"])
call = METABASE.call


@pytest.fixture(scope="module")
def session() -> str:
    return METABASE.login(DEV["monitoring_metabase_admin_email"], DEV["monitoring_metabase_admin_password"])


@pytest.fixture(scope="module")
def cronicorn(session) -> dict:
    return METABASE.database(session)


def test_setup_is_done():
    assert call("GET", "/api/session/properties")["has-user-setup"] is True


def test_cronicorn_is_registered_as_the_readonly_role(cronicorn):
    assert cronicorn["engine"] == "postgres"
    assert cronicorn["details"]["user"] == "metabase_readonly"
    assert cronicorn["details"]["dbname"] == "db"
    assert cronicorn["details"]["password"] == "**MetabasePass**"


def test_sync_shows_the_views_and_no_credential_table(session, cronicorn):
    names = METABASE.synced_tables(session, cronicorn["id"])
    assert set(VIEWS) <= names, f"missing after sync: {sorted(set(VIEWS) - names)}"
    assert not names & set(CREDENTIAL_TABLES)


@pytest.mark.parametrize("question", EXAMPLE_QUESTIONS, ids=["tokens by user", "daily active users", "subscribers"])
def test_example_questions_return_rows(session, cronicorn, question):
    result = METABASE.native(session, cronicorn["id"], question)
    assert result["status"] == "completed", result.get("error")
    assert result["row_count"] > 0


@pytest.mark.double_only("the request journal is the double's own table; Metabase keeps none")
def test_every_accepted_request_matches_the_openapi_description():
    connection = psycopg2.connect(
        host="127.0.0.1",
        port=STACK["postgres_published_port"],
        dbname="metabase",
        user=DEV["postgres_user"],
        password=DEV["postgres_password"],
    )
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT method, path, query, has_body, body FROM double_request_journal ORDER BY id")
        journal = cursor.fetchall()
    connection.close()
    assert journal, "the double journaled no request"
    assert journal_problems(journal) == []


def test_a_wrong_readonly_password_is_refused_and_nothing_is_registered(session, tmp_path):
    """The registration stage with a wrong read-only password (as a mistyped inventory would give it) fails with
    Metabase's own refusal, and leaves no half-registered connection behind."""
    wrong = tmp_path / "wrong-password.yml"
    wrong.write_text(
        "monitoring_metabase_database_name: Cronicorn (wrong password)\n"
        "monitoring_metabase_db_password: not-the-readonly-password\n",
        encoding="utf-8",
    )
    run = site("-e", f"@{wrong}", "--tags", "metabase_registration")
    assert run.returncode != 0
    assert "Looks like your Password is incorrect" in run.stdout
    assert "not-the-readonly-password" not in run.stdout + run.stderr
    names = {d["name"] for d in call("GET", "/api/database/", session=session)["data"]}
    assert "Cronicorn (wrong password)" not in names
