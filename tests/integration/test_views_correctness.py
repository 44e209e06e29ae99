"""The ten analytics views return exactly what independent queries on the base tables return.

A seeded database (a few thousand runs, every tier/status/edge case, the fan-out traps) is loaded with
the role; each view is compared, row by row and column by column, with a query written differently
(correlated subqueries per row, no pre-aggregation), in the same transaction (one now()) and under a
session TimeZone far from UTC: the views must not depend on it. Everything runs four times: on the data of
both independent generators (seed.py, seed_heavy.py) and in databases of both collations (C.UTF-8,
en_US.UTF-8).
"""

# ruff: noqa: S608  (the SQL below is built from this module's constants only, never from input)
from __future__ import annotations

import secrets
import sys
from pathlib import Path

import psycopg2
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "cronicorn"))

import harness
from contract import EXAMPLE_QUESTIONS

TIMEZONE = "Pacific/Chatham"  # UTC+12:45/+13:45: a wrong day bucket or window shows at once
NOW = "(now() AT TIME ZONE 'UTC')"  # the current UTC wall-clock time, whatever the session TimeZone
LIVE_JOB = "j.status::text <> 'archived' AND j.archived_at IS NULL"
USER_RUNS = """runs r WHERE r.endpoint_id IN (
    SELECT e.id FROM job_endpoints e JOIN jobs j ON j.id = e.job_id WHERE j.user_id = u.id)"""
USER_AI = """ai_analysis_sessions a WHERE a.endpoint_id IN (
    SELECT e.id FROM job_endpoints e JOIN jobs j ON j.id = e.job_id WHERE j.user_id = u.id)"""

# One independent query per view, producing the view's columns in order.
EXPECTED = {
    "admin_user_stats": f"""
        SELECT u.id, u.email, u.name, u.tier, u.subscription_status, u.created_at, u.is_anonymous,
               u.subscription_ends_at,
               (SELECT count(*) FROM jobs j WHERE j.user_id = u.id AND {LIVE_JOB}),
               (SELECT count(*) FROM job_endpoints e
                 WHERE e.job_id IN (SELECT j.id FROM jobs j WHERE j.user_id = u.id AND {LIVE_JOB})),
               (SELECT count(*) FROM job_endpoints e
                 WHERE e.archived_at IS NULL
                   AND e.job_id IN (SELECT j.id FROM jobs j WHERE j.user_id = u.id AND {LIVE_JOB})),
               (SELECT count(*) FROM job_endpoints e
                 WHERE e.paused_until > {NOW}
                   AND e.job_id IN (SELECT j.id FROM jobs j WHERE j.user_id = u.id AND {LIVE_JOB}))
        FROM "user" u""",
    "admin_user_run_stats": f"""
        SELECT u.id, u.email, u.tier,
               (SELECT count(*) FROM {USER_RUNS}),
               (SELECT count(*) FROM {USER_RUNS} AND r.status = 'success'),
               (SELECT count(*) FROM {USER_RUNS} AND r.status = 'failed'),
               (SELECT count(*) FROM {USER_RUNS} AND r.status = 'timeout'),
               (SELECT round(100.0 * count(*) FILTER (WHERE r.status = 'success') / nullif(count(*), 0), 2)
                  FROM {USER_RUNS}),
               (SELECT round(avg(r.duration_ms), 2) FROM {USER_RUNS}),
               (SELECT max(r.started_at) FROM {USER_RUNS}),
               (SELECT count(DISTINCT r.started_at::date) FROM {USER_RUNS}),
               (SELECT count(*) FROM {USER_RUNS} AND r.started_at >= {NOW} - interval '24 hours'),
               (SELECT count(*) FROM {USER_RUNS} AND r.started_at >= {NOW} - interval '7 days'),
               (SELECT count(*) FROM {USER_RUNS} AND r.started_at >= {NOW} - interval '30 days')
        FROM "user" u""",
    "admin_user_ai_stats": f"""
        SELECT u.id, u.email, u.tier,
               (SELECT count(*) FROM {USER_AI}),
               (SELECT coalesce(sum(a.token_usage), 0) FROM {USER_AI}),
               (SELECT round(avg(a.token_usage), 2) FROM {USER_AI}),
               (SELECT round(avg(a.duration_ms), 2) FROM {USER_AI}),
               (SELECT max(a.analyzed_at) FROM {USER_AI}),
               (SELECT count(*) FROM {USER_AI} AND a.analyzed_at >= {NOW} - interval '24 hours'),
               (SELECT count(*) FROM {USER_AI} AND a.analyzed_at >= {NOW} - interval '7 days'),
               (SELECT count(*) FROM {USER_AI} AND a.analyzed_at >= {NOW} - interval '30 days'),
               (SELECT coalesce(sum(a.token_usage), 0) FROM {USER_AI} AND a.analyzed_at >= {NOW} - interval '30 days')
        FROM "user" u""",
    "admin_apikey_stats": f"""
        SELECT k.id, k.name, k.user_id, (SELECT u.email FROM "user" u WHERE u.id = k.user_id),
               (SELECT u.tier FROM "user" u WHERE u.id = k.user_id), k.enabled, k.rate_limit_enabled,
               k.request_count, k.remaining, k.last_request, k.created_at, k.expires_at,
               CASE WHEN k.expires_at IS NOT NULL AND k.expires_at < {NOW} THEN 'expired'
                    WHEN k.enabled THEN 'active' ELSE 'disabled' END
        FROM apikey k""",
    "admin_daily_metrics": f"""
        WITH window_runs AS (SELECT * FROM runs WHERE started_at >= {NOW} - interval '90 days'),
             window_ai AS (SELECT * FROM ai_analysis_sessions WHERE analyzed_at >= {NOW} - interval '90 days'),
             days AS (SELECT started_at::date AS d FROM window_runs UNION SELECT analyzed_at::date FROM window_ai)
        SELECT days.d,
               (SELECT count(DISTINCT r.endpoint_id) FROM window_runs r WHERE r.started_at::date = days.d),
               (SELECT count(*) FROM window_runs r WHERE r.started_at::date = days.d),
               (SELECT count(*) FROM window_runs r WHERE r.started_at::date = days.d AND r.status = 'success'),
               (SELECT count(*) FROM window_runs r WHERE r.started_at::date = days.d AND r.status = 'failed'),
               (SELECT round(100.0 * count(*) FILTER (WHERE r.status = 'success') / nullif(count(*), 0), 2)
                  FROM window_runs r WHERE r.started_at::date = days.d),
               (SELECT round(avg(r.duration_ms), 2) FROM window_runs r WHERE r.started_at::date = days.d),
               (SELECT count(*) FROM window_ai a WHERE a.analyzed_at::date = days.d),
               (SELECT coalesce(sum(a.token_usage), 0) FROM window_ai a WHERE a.analyzed_at::date = days.d)
        FROM days""",
    "admin_subscription_overview": f"""
        SELECT g.tier, g.subscription_status,
               (SELECT count(*) FROM "user" u WHERE u.tier = g.tier
                   AND u.subscription_status IS NOT DISTINCT FROM g.subscription_status),
               (SELECT count(*) FROM "user" u WHERE u.tier = g.tier
                   AND u.subscription_status IS NOT DISTINCT FROM g.subscription_status
                   AND u.created_at >= {NOW} - interval '30 days'),
               (SELECT count(*) FROM "user" u WHERE u.tier = g.tier
                   AND u.subscription_status IS NOT DISTINCT FROM g.subscription_status
                   AND u.subscription_ends_at < {NOW}),
               (SELECT count(*) FROM "user" u WHERE u.tier = g.tier
                   AND u.subscription_status IS NOT DISTINCT FROM g.subscription_status
                   AND u.subscription_ends_at > {NOW})
        FROM (SELECT DISTINCT tier, subscription_status FROM "user") g""",
    "admin_top_jobs": f"""
        SELECT * FROM (
          SELECT j.id, j.name, j.user_id, (SELECT u.email FROM "user" u WHERE u.id = j.user_id),
                 (SELECT u.tier FROM "user" u WHERE u.id = j.user_id), j.status::text,
                 (SELECT count(*) FROM job_endpoints e WHERE e.job_id = j.id),
                 (SELECT count(*) FROM runs r
                   WHERE r.endpoint_id IN (SELECT e.id FROM job_endpoints e WHERE e.job_id = j.id)) AS total,
                 (SELECT count(*) FROM runs r WHERE r.status = 'success'
                     AND r.endpoint_id IN (SELECT e.id FROM job_endpoints e WHERE e.job_id = j.id)),
                 (SELECT count(*) FROM runs r WHERE r.status = 'failed'
                     AND r.endpoint_id IN (SELECT e.id FROM job_endpoints e WHERE e.job_id = j.id)),
                 (SELECT max(r.started_at) FROM runs r
                   WHERE r.endpoint_id IN (SELECT e.id FROM job_endpoints e WHERE e.job_id = j.id)),
                 j.created_at
          FROM jobs j WHERE {LIVE_JOB}
        ) t ORDER BY t.total DESC, t.id LIMIT 100""",
    "admin_run_source_stats": f"""
        SELECT date_trunc('day', r.started_at)::date AS d, r.source,
               CASE WHEN starts_with(r.source, 'baseline-') THEN 'baseline'
                    WHEN starts_with(r.source, 'ai-') THEN 'ai' ELSE 'other' END,
               count(*), sum(CASE WHEN r.status = 'success' THEN 1 ELSE 0 END),
               sum(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END),
               round(avg(CASE WHEN r.status = 'success' THEN 100.0 ELSE 0 END), 2)
        FROM runs r WHERE r.started_at >= {NOW} - interval '30 days' AND r.source IS NOT NULL
        GROUP BY 1, 2, 3""",
    "admin_error_analysis": f"""
        SELECT * FROM (
          SELECT date_trunc('day', r.started_at)::date AS d, r.status_code AS code,
                 substr(r.error_message, 1, 100) AS summary, count(*) AS n,
                 count(DISTINCT r.endpoint_id),
                 count(DISTINCT (SELECT e.job_id FROM job_endpoints e WHERE e.id = r.endpoint_id)),
                 count(DISTINCT (SELECT j.user_id FROM job_endpoints e JOIN jobs j ON j.id = e.job_id
                                  WHERE e.id = r.endpoint_id))
          FROM runs r WHERE r.status IN ('failed', 'timeout') AND r.started_at >= {NOW} - interval '7 days'
          GROUP BY 1, 2, 3
        ) t ORDER BY t.n DESC, t.d DESC, t.code NULLS LAST, t.summary NULLS LAST LIMIT 100""",
    "admin_user_activity": f"""
        SELECT u.id, u.email, u.tier, u.subscription_status, u.created_at::date, last.at,
               floor(extract(epoch FROM {NOW} - last.at) / 86400)::integer,
               (SELECT count(DISTINCT r.started_at::date) FROM {USER_RUNS}),
               CASE WHEN last.at IS NULL THEN 'never_active'
                    WHEN last.at >= {NOW} - interval '7 days' THEN 'active'
                    WHEN last.at >= {NOW} - interval '30 days' THEN 'inactive'
                    ELSE 'churned' END
        FROM "user" u CROSS JOIN LATERAL (SELECT max(r.started_at) AS at FROM {USER_RUNS}) last""",
}


@pytest.fixture(
    scope="module",
    params=[(generator, locale) for generator in harness.GENERATORS for locale in harness.LOCALES],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def views_db(pg_server, request):
    generator, locale = request.param
    db = harness.create_app_database(pg_server, runs=4000, seed_value=7, generator=generator, locale=locale)
    db.locale = locale
    reader_password = secrets.token_urlsafe(16)
    harness.add_reader(db, reader_password)
    db.reader_password = reader_password
    try:
        run = db.run_role()
        assert run.returncode == 0 and run.failed == 0, str(run)
        yield db
    finally:
        db.drop()


@pytest.fixture
def cursor(views_db):
    conn = views_db.connect()
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE %s", (TIMEZONE,))
            cur.execute("SET search_path = public")
            yield cur
    finally:
        conn.rollback()
        conn.close()


def _rows(cur, query):
    cur.execute(query)
    return cur.fetchall()


def _view(cur, db, name):
    return _rows(cur, f'SELECT * FROM "{db.schema}"."{name}"')


def _assert_same_rows(view, actual, expected):
    assert actual, f"{view} returned no rows: the seed should exercise it"
    if view in ("admin_top_jobs", "admin_error_analysis"):  # ordered top-N: same rows, same order
        assert actual == expected
    else:
        assert sorted(actual, key=repr) == sorted(expected, key=repr)


@pytest.mark.parametrize("view", harness.VIEWS)
def test_view_equals_independent_query(views_db, cursor, view):
    _assert_same_rows(view, _view(cursor, views_db, view), _rows(cursor, EXPECTED[view]))


# Planner settings that make parallel plans free, so that the small seed gets them too.
PARALLEL_EVERYWHERE = {
    "parallel_setup_cost": "0",
    "parallel_tuple_cost": "0",
    "min_parallel_table_scan_size": "0",
    "min_parallel_index_scan_size": "0",
}


def test_views_equal_independent_queries_in_parallel_plans(views_db, cursor):
    """At scale the planner runs parts of the view functions in parallel workers (admin_error_analysis
    asks for it). Whatever runs in a worker must give the same result as in the leader (for example the
    numbering of endpoints, jobs and users that admin_error_analysis counts): every view, with parallel
    plans made free, still equals its independent query. auto_explain shows which ran parallel."""
    expected = {view: _rows(cursor, EXPECTED[view]) for view in harness.VIEWS}  # planned with the defaults
    cursor.execute("LOAD 'auto_explain'")
    for name, value in {
        "auto_explain.log_min_duration": "0",
        "auto_explain.log_nested_statements": "on",
        "auto_explain.log_analyze": "on",
        "auto_explain.log_level": "notice",
        **PARALLEL_EVERYWHERE,
    }.items():
        cursor.execute("SELECT set_config(%s, %s, true)", (name, value))
    parallel = set()
    for view in harness.VIEWS:
        del cursor.connection.notices[:]
        actual = _view(cursor, views_db, view)
        if any("Workers Launched" in notice for notice in cursor.connection.notices):
            parallel.add(view)
        _assert_same_rows(view, actual, expected[view])
    assert parallel == set(harness.VIEWS), f"no parallel plan for {sorted(set(harness.VIEWS) - parallel)}"


def test_view_functions_never_compile_with_jit(views_db, cursor):
    """JIT is decided from the plan's estimated cost, so it switches on with the data's size: on one data set
    of 1M runs it compiled for 115 s of CPU a query that runs in 1.5 s. Every function of the views that runs
    a query over the application's tables pins jit = off (like work_mem), whatever the server's setting."""
    cursor.execute(
        "SELECT p.proname, coalesce(p.proconfig, '{}') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = %s AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')",
        (views_db.schema,),
    )
    functions = dict(cursor.fetchall())
    assert len(functions) == len(harness.VIEWS) + 2  # the view functions and the two shared blocks
    assert {name for name, config in functions.items() if "jit=off" not in config} == set()


def test_database_has_the_collation(views_db, cursor):
    """The comparisons above ran under the collation they are named after."""
    cursor.execute("SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()")
    assert cursor.fetchone() == (views_db.locale, views_db.locale)


def test_views_have_the_documented_columns(views_db, cursor):
    """Names and order of the columns are the public interface (shared/cronicorn/views.md)."""
    documented = {
        "admin_user_stats": "id email name tier subscription_status created_at is_anonymous subscription_ends_at "
        "total_jobs total_endpoints active_endpoints paused_endpoints",
        "admin_user_run_stats": "user_id email tier total_runs successful_runs failed_runs timeout_runs "
        "success_rate_percent avg_duration_ms last_run_at active_days runs_last_24h runs_last_7d runs_last_30d",
        "admin_user_ai_stats": "user_id email tier total_ai_sessions total_tokens_used avg_tokens_per_session "
        "avg_session_duration_ms last_ai_analysis_at ai_sessions_last_24h ai_sessions_last_7d "
        "ai_sessions_last_30d tokens_last_30d",
        "admin_apikey_stats": "api_key_id api_key_name user_id email tier enabled rate_limit_enabled request_count "
        "remaining last_request created_at expires_at status",
        "admin_daily_metrics": "date active_endpoints total_runs successful_runs failed_runs success_rate_percent "
        "avg_duration_ms ai_sessions total_tokens",
        "admin_subscription_overview": "tier subscription_status user_count new_users_30d expired_subscriptions "
        "active_subscriptions",
        "admin_top_jobs": "job_id job_name user_id user_email tier job_status endpoint_count total_runs "
        "successful_runs failed_runs last_run_at created_at",
        "admin_run_source_stats": "date source source_group run_count successful_runs failed_runs success_rate_percent",
        "admin_error_analysis": "date status_code error_summary error_count affected_endpoints affected_jobs "
        "affected_users",
        "admin_user_activity": "user_id email tier subscription_status signup_date last_activity_date "
        "days_since_last_activity total_active_days activity_status",
    }
    for view, columns in documented.items():
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum",
            (f'"{views_db.schema}"."{view}"',),
        )
        assert [r[0] for r in cursor.fetchall()] == columns.split(), view


def test_fan_out_trap_day(views_db, cursor):
    """A day with many runs and many AI sessions: per-day totals are not multiplied by each other."""
    day = views_db.summary.trap_day
    cursor.execute("SELECT count(*) FROM runs WHERE started_at::date = %s", (day,))
    runs = cursor.fetchone()[0]
    cursor.execute(
        "SELECT count(*), coalesce(sum(token_usage), 0) FROM ai_analysis_sessions WHERE analyzed_at::date = %s", (day,)
    )
    sessions, tokens = cursor.fetchone()
    cursor.execute(  # the trap is armed: joining on the date multiplies rows
        "SELECT count(*) FROM runs r JOIN ai_analysis_sessions a ON a.analyzed_at::date = r.started_at::date"
        " WHERE r.started_at::date = %s",
        (day,),
    )
    assert cursor.fetchone()[0] == runs * sessions and runs > 50 and sessions > 20
    schema = views_db.schema
    cursor.execute(
        f'SELECT total_runs, ai_sessions, total_tokens FROM "{schema}".admin_daily_metrics WHERE date = %s', (day,)
    )
    assert cursor.fetchone() == (runs, sessions, tokens)


def test_fan_out_trap_user(views_db, cursor):
    """A user with several jobs, endpoints, AI sessions and keys: each child table counted once."""
    user = views_db.summary.trap_user_id
    cursor.execute(f"SELECT count(*) FROM {USER_RUNS.replace('u.id', '%(u)s')}", {"u": user})
    runs = cursor.fetchone()[0]
    cursor.execute(f"SELECT count(*), sum(token_usage) FROM {USER_AI.replace('u.id', '%(u)s')}", {"u": user})
    sessions, tokens = cursor.fetchone()
    cursor.execute("SELECT count(*) FROM jobs WHERE user_id = %s", (user,))
    jobs = cursor.fetchone()[0]
    cursor.execute("SELECT count(*) FROM job_endpoints e JOIN jobs j ON j.id = e.job_id WHERE j.user_id = %s", (user,))
    endpoints = cursor.fetchone()[0]
    assert jobs >= 5 and endpoints >= 10 and runs > 100 and sessions > 50
    cursor.execute(  # the trap is armed: runs x sessions through the shared parent
        "SELECT count(*) FROM jobs j JOIN job_endpoints e ON e.job_id = j.id JOIN runs r ON r.endpoint_id = e.id"
        " JOIN ai_analysis_sessions a ON a.endpoint_id = e.id WHERE j.user_id = %s",
        (user,),
    )
    assert cursor.fetchone()[0] > runs
    schema = views_db.schema
    cursor.execute(f'SELECT total_runs FROM "{schema}".admin_user_run_stats WHERE user_id = %s', (user,))
    assert cursor.fetchone() == (runs,)
    cursor.execute(
        f'SELECT total_ai_sessions, total_tokens_used FROM "{schema}".admin_user_ai_stats WHERE user_id = %s', (user,)
    )
    assert cursor.fetchone() == (sessions, tokens)
    cursor.execute(f'SELECT count(*) FROM "{schema}".admin_apikey_stats WHERE user_id = %s', (user,))
    assert cursor.fetchone() == (3,)


def test_seed_covers_the_edge_cases(views_db, cursor):
    """The data set holds what the comparisons above need to be meaningful."""
    schema = views_db.schema
    checks = {
        "every tier x subscription status": "SELECT count(*) = 18 FROM (SELECT DISTINCT tier, subscription_status"
        ' FROM "user") s',
        "users without runs, with zero counts": f'SELECT count(*) >= 5 FROM "{schema}".admin_user_run_stats '
        "WHERE total_runs = 0 AND success_rate_percent IS NULL AND active_days = 0",
        "never active users": f'SELECT count(*) >= 5 FROM "{schema}".admin_user_activity'
        " WHERE activity_status = 'never_active'",
        "archived and paused jobs": "SELECT count(DISTINCT status) = 3 FROM jobs",
        "archived and paused endpoints": f"SELECT count(*) FILTER (WHERE archived_at IS NOT NULL) > 0 "
        f"AND count(*) FILTER (WHERE paused_until > {NOW}) > 0 FROM job_endpoints",
        "endpoints without a job": "SELECT count(*) > 0 FROM job_endpoints WHERE job_id IS NULL",
        "runs at both edges of a UTC day": "SELECT count(*) FILTER (WHERE started_at::time = '00:00') > 0 "
        "AND count(*) FILTER (WHERE started_at::time = '23:59:59.999999') > 0 FROM runs",
        "timeout runs": f'SELECT sum(timeout_runs) > 0 FROM "{schema}".admin_user_run_stats',
        "all three API key states": f'SELECT count(DISTINCT status) = 3 FROM "{schema}".admin_apikey_stats',
        "runs without a source, and 'other' sources": "SELECT count(*) FILTER (WHERE source IS NULL) > 0 "
        "AND count(*) FILTER (WHERE source LIKE 'clamped-%') > 0 FROM runs",
        "failures without status code": "SELECT count(*) > 0 FROM runs WHERE status = 'failed' AND status_code IS NULL",
        "error messages sharing 100 characters": "SELECT count(DISTINCT error_message)"
        " > count(DISTINCT left(error_message, 100)) FROM runs",
        "every activity status": f'SELECT count(DISTINCT activity_status) = 4 FROM "{schema}".admin_user_activity',
    }
    failed = []
    for what, query in checks.items():
        cursor.execute(query)
        if not cursor.fetchone()[0]:
            failed.append(what)
    assert not failed, f"seed does not cover: {failed}"


def test_example_questions_run_unchanged_as_the_reader(views_db):
    """The three example questions of views.md, verbatim, as a role with only the reader's grants."""
    conn = psycopg2.connect(views_db.dsn(views_db.reader, views_db.reader_password), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            for question in EXAMPLE_QUESTIONS:
                cur.execute(question)
                assert cur.fetchall(), question
            cur.execute("SELECT count(*) FROM admin_apikey_stats")
            assert cur.fetchone()[0] > 0
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT key FROM apikey")
        conn.rollback()
    finally:
        conn.close()


def test_every_view_readable_by_the_reader(views_db):
    conn = psycopg2.connect(views_db.dsn(views_db.reader, views_db.reader_password), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            for view in harness.VIEWS:
                cur.execute(f"SELECT count(*) FROM {view}")  # unqualified: the search_path finds them
                assert cur.fetchone()[0] > 0, view
    finally:
        conn.close()


def test_owner_role_cannot_read_secrets(views_db, cursor):
    """The role the views run as can read the columns they need, not apikey.key nor credential tables."""
    owner = views_db.views_owner
    cursor.execute("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = %s", (owner,))
    assert cursor.fetchone() == (False, False)
    for table, column in (
        ("apikey", "key"),
        ("account", "password"),
        ("session", "token"),
        ("verification", "value"),
        ("oauth_tokens", "access_token"),
        ("device_codes", "device_code"),
    ):
        cursor.execute("SELECT has_column_privilege(%s, %s, %s, 'SELECT')", (owner, f"public.{table}", column))
        assert cursor.fetchone() == (False,), f"{owner} can read {table}.{column}"
    cursor.execute("SELECT has_column_privilege(%s, 'public.runs', 'started_at', 'SELECT')", (owner,))
    assert cursor.fetchone() == (True,)
