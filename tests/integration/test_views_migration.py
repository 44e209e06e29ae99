"""Application migrations succeed while the views are deployed, and the numbers stay right.

PostgreSQL refuses ALTER COLUMN ... TYPE on a column a view depends on. The views here read through
functions, whose bodies PostgreSQL does not track as dependencies, so the migration goes through; the
functions' type-independent helpers then pick the timestamptz overloads, so every number (and every
day bucket, whatever the session TimeZone) stays the same, before and after the next run of the role.

The data set keeps every timestamp 15 minutes clear of the views' now()-relative thresholds, so
that the numbers taken before and after the migration are comparable although now() moves.
"""

# ruff: noqa: S608  (SQL built from test constants only)
from __future__ import annotations

import sys
from pathlib import Path

import psycopg2
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "cronicorn"))

import harness

QUIET_MINUTES = 15

# What a real release does (plus more): every timestamp column to timestamptz, an enum to text, a new
# column, index and table. The session TimeZone of the migration is not UTC on purpose.
TIMESTAMP_COLUMNS = """
SELECT c.relname, a.attname
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  AND a.atttypid = 'timestamp'::regtype
ORDER BY 1, 2
"""


@pytest.fixture
def deployed(pg_server):
    db = harness.create_app_database(pg_server, runs=3000, seed_value=11, quiet_minutes=QUIET_MINUTES)
    try:
        run = db.run_role()
        assert run.returncode == 0, str(run)
        yield db
    finally:
        db.drop()


def _migrate(db, statements):
    """Run statements as the application owner, one transaction each (as a migration tool would)."""
    conn = db.as_app_owner()
    try:
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'Asia/Kolkata'")
        conn.commit()
        for statement in statements:
            with conn.cursor() as cur:
                cur.execute(statement)
            conn.commit()
    finally:
        conn.close()


def test_type_changes_succeed_and_numbers_stay_the_same(deployed):
    db = deployed
    before = db.snapshot()
    assert db.snapshot(timezone="America/Los_Angeles") == before  # already independent of the TimeZone
    assert all(before[view] for view in harness.VIEWS)

    # the three columns of the acceptance test first, exactly as the issue words them
    _migrate(
        db,
        [
            "ALTER TABLE runs ALTER COLUMN started_at TYPE timestamptz USING started_at AT TIME ZONE 'UTC'",
            "ALTER TABLE jobs ALTER COLUMN archived_at TYPE timestamptz USING archived_at AT TIME ZONE 'UTC'",
            "ALTER TABLE \"user\" ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC'",
            "ALTER TABLE runs ADD COLUMN trace_id text",
            "CREATE TABLE release_notes (id text PRIMARY KEY, body text, created_at timestamptz DEFAULT now())",
        ],
    )
    # views answer right away (before any run of the role), in any TimeZone
    assert db.snapshot() == before
    assert db.snapshot(timezone="Pacific/Chatham") == before

    # then the rest of a full "timestamptz everywhere" release, an enum turned into text, an index
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(TIMESTAMP_COLUMNS)
            remaining = cur.fetchall()
    finally:
        conn.close()
    assert len(remaining) > 20
    _migrate(
        db,
        [
            f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE timestamptz USING "{column}" AT TIME ZONE \'UTC\''
            for table, column in remaining
        ]
        + [
            "ALTER TABLE jobs ALTER COLUMN status DROP DEFAULT",
            "ALTER TABLE jobs ALTER COLUMN status TYPE text USING status::text",
            "DROP TYPE job_status",
            "CREATE INDEX runs_trace_id_idx ON runs (trace_id)",
        ],
    )
    assert db.snapshot(timezone="Europe/Berlin") == before

    run = db.run_role()
    assert run.returncode == 0 and run.failed == 0, str(run)
    assert run.changed == 0, str(run)  # the definitions did not need to change
    assert db.snapshot() == before
    assert db.snapshot(timezone="America/Los_Angeles") == before


def test_destructive_migrations_succeed_too(deployed):
    """Even changes that break a view never fail the migration: the view reports the problem instead,
    and the next run of the role fails with a message naming what is missing."""
    db = deployed
    _migrate(
        db,
        [
            "ALTER TABLE runs DROP COLUMN error_message",
            "ALTER TABLE ai_analysis_sessions RENAME TO ai_sessions",
        ],
    )
    conn = db.connect()
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.UndefinedColumn, match="error_message"):
            cur.execute(f'SELECT * FROM "{db.schema}".admin_error_analysis')
    finally:
        conn.close()
    # The role's preflight looks for the tables first: it stops there, naming the table, before any write.
    run = db.run_role()
    assert run.returncode != 0 and run.failed == 1, str(run)
    assert "has no ai_analysis_sessions in schema public" in " ".join(run.output.split()), str(run)
    assert "error_message" not in run.output, str(run)
    # With the table back, the role cannot give the views' owner read access to the dropped column: the run
    # fails there, naming the column and its table.
    _migrate(db, ["ALTER TABLE ai_sessions RENAME TO ai_analysis_sessions"])
    run = db.run_role()
    assert run.returncode != 0 and run.failed == 1, str(run)
    assert 'column "error_message" of relation "runs" does not exist' in run.output, str(run)
    assert "has no ai_analysis_sessions" not in run.output, str(run)
