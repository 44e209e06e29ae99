"""The analytics_views role through ansible-playbook: check mode, idempotence, drift, diff, secrets.

Each test gets its own small seeded database whose tables belong to an application role with
CREATEROLE (not a superuser); the role logs in as that application role, as production does.
"""

# ruff: noqa: S608  (SQL built from test constants only)
from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "cronicorn"))

import harness

READ_ONLY = {"PGOPTIONS": "-c default_transaction_read_only=on"}


@pytest.fixture
def app_db(pg_server):
    db = harness.create_app_database(pg_server, runs=300, seed_value=3)
    try:
        yield db
    finally:
        db.drop()


def _scalar(db, query, *params):
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchone()[0]
    finally:
        conn.close()


def _execute(db, *statements):
    conn = db.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def _oid(db, kind, name):
    query = {
        "view": "SELECT %s::regclass::oid",
        "function": "SELECT %s::regprocedure::oid",
    }[kind]
    return _scalar(db, query, name)


def test_check_mode_on_a_fresh_database_changes_nothing(app_db):
    run = app_db.run_role("--check")
    assert run.returncode == 0, str(run)
    assert run.changed == 2, str(run)  # the owner role, and the views (schema and membership need the role)
    assert _scalar(app_db, "SELECT count(*) FROM pg_namespace WHERE nspname = %s", app_db.schema) == 0
    assert _scalar(app_db, "SELECT count(*) FROM pg_roles WHERE rolname = %s", app_db.views_owner) == 0


def test_second_run_changes_and_writes_nothing(app_db):
    first = app_db.run_role()
    assert first.returncode == 0 and first.changed >= 3, str(first)
    # A run with unchanged definitions must not even try to write: every transaction is read-only here.
    second = app_db.run_role(env=READ_ONLY)
    assert second.returncode == 0 and second.failed == 0, str(second)
    assert second.changed == 0, str(second)
    check = app_db.run_role("--check", "--diff")
    assert check.returncode == 0 and check.changed == 0, str(check)


def test_changed_definition_is_shown_in_check_mode_then_replaced_in_place(app_db):
    assert app_db.run_role().returncode == 0
    schema = app_db.schema
    function = f"{schema}._admin_top_jobs_rows()"
    view_oid, function_oid = _oid(app_db, "view", f"{schema}.admin_top_jobs"), _oid(app_db, "function", function)
    conn = app_db.connect()
    try:
        with conn.cursor() as cur:  # drift: someone edits the body (100 -> 3 rows)
            cur.execute("SELECT prosrc FROM pg_proc WHERE oid = %s", (function_oid,))
            body = cur.fetchone()[0]
            assert "LIMIT 100;" in body
            cur.execute(
                "SELECT pg_get_functiondef(%s)",
                (function_oid,),
            )
            definition = cur.fetchone()[0].replace("LIMIT 100;", "LIMIT 3;")
            cur.execute(definition)
        conn.commit()
    finally:
        conn.close()
    assert _scalar(app_db, f"SELECT count(*) FROM {schema}.admin_top_jobs") == 3

    check = app_db.run_role("--check", "--diff")
    assert check.returncode == 0 and check.changed == 1, str(check)
    assert "-  LIMIT 3;" in check.output and "+  LIMIT 100;" in check.output, str(check)
    assert _scalar(app_db, f"SELECT count(*) FROM {schema}.admin_top_jobs") == 3  # check mode wrote nothing

    fix = app_db.run_role("--diff")
    assert fix.returncode == 0 and fix.changed == 1, str(fix)
    assert _scalar(app_db, f"SELECT count(*) FROM {schema}.admin_top_jobs") > 3
    # replaced in place: same view, same function (CREATE OR REPLACE), nothing dropped
    assert _oid(app_db, "view", f"{schema}.admin_top_jobs") == view_oid
    assert _oid(app_db, "function", function) == function_oid
    assert app_db.run_role(env=READ_ONLY).changed == 0


def test_changed_view_query_and_owner_are_restored(app_db):
    assert app_db.run_role().returncode == 0
    schema = app_db.schema
    _execute(
        app_db,
        f"CREATE OR REPLACE VIEW {schema}.admin_user_stats AS"
        f" SELECT * FROM {schema}._admin_user_stats_rows() WHERE false",
        f"ALTER VIEW {schema}.admin_apikey_stats OWNER TO {app_db.app_owner}",
        f"GRANT SELECT ON {schema}.admin_apikey_stats TO PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {schema}._admin_apikey_stats_rows() TO PUBLIC",
    )
    run = app_db.run_role("--diff")
    assert run.returncode == 0 and run.changed == 1, str(run)
    assert _scalar(app_db, f"SELECT count(*) FROM {schema}.admin_user_stats") > 0
    assert (
        _scalar(
            app_db,
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass",
            f"{schema}.admin_apikey_stats",
        )
        == app_db.views_owner
    )
    assert not _scalar(app_db, "SELECT has_table_privilege('public', %s, 'SELECT')", f"{schema}.admin_apikey_stats")
    assert not _scalar(
        app_db, "SELECT has_function_privilege('public', %s, 'EXECUTE')", f"{schema}._admin_apikey_stats_rows()"
    )
    assert app_db.run_role(env=READ_ONLY).changed == 0


def test_reader_gets_access_once_it_exists(app_db):
    first = app_db.run_role()
    assert first.returncode == 0
    assert f"reader role {app_db.reader} does not exist" in first.output
    password = secrets.token_urlsafe(12)
    harness.add_reader(app_db, password)
    grant = app_db.run_role()
    assert grant.returncode == 0 and grant.changed == 1, str(grant)
    conn = harness.psycopg2.connect(app_db.dsn(app_db.reader, password), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM admin_user_stats")
            assert cur.fetchone()[0] > 0
    finally:
        conn.close()
    assert app_db.run_role(env=READ_ONLY).changed == 0


def test_objects_of_the_owner_that_are_not_defined_are_pruned_others_kept(app_db):
    assert app_db.run_role().returncode == 0
    schema, owner = app_db.schema, app_db.views_owner
    _execute(
        app_db,
        f"CREATE VIEW {schema}.obsolete_view AS SELECT 1 AS one",
        f"ALTER VIEW {schema}.obsolete_view OWNER TO {owner}",
        f"CREATE FUNCTION {schema}.obsolete_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        f"ALTER FUNCTION {schema}.obsolete_fn() OWNER TO {owner}",
        f"CREATE VIEW {schema}.someone_elses_view AS SELECT 2 AS two",  # owned by the superuser
    )
    run = app_db.run_role()
    assert run.returncode == 0 and run.changed == 1, str(run)
    assert _scalar(app_db, "SELECT to_regclass(%s) IS NULL", f"{schema}.obsolete_view")
    assert _scalar(app_db, "SELECT to_regprocedure(%s) IS NULL", f"{schema}.obsolete_fn()")
    assert _scalar(app_db, "SELECT to_regclass(%s) IS NOT NULL", f"{schema}.someone_elses_view")


def test_password_never_shown(app_db):
    run = app_db.run_role("-vvv", "--diff")
    assert run.returncode == 0, str(run)
    assert app_db.app_password not in run.output
    drift = app_db.run_role("-vvv", "--check", "--diff", monitoring_views_schema="other_schema")
    assert app_db.app_password not in drift.output
    failing = app_db.run_role("-vvv", monitoring_db_port=1)  # connection refused: the error path
    assert failing.returncode != 0
    assert app_db.app_password not in failing.output


def test_bad_identifiers_are_refused_before_connecting(app_db):
    run = app_db.run_role(monitoring_views_schema="views; DROP TABLE runs")
    assert run.returncode != 0
    assert "must be a lower-case SQL identifier" in run.output
    assert _scalar(app_db, "SELECT count(*) FROM runs") > 0
