"""A changed definition is replaced while sessions keep querying the view: none of them sees an error.

Two kinds of change: a body change (CREATE OR REPLACE FUNCTION, the view is not touched) and a result
type change (view and function dropped and created again, in one transaction). For the second, one
session holds the view open in a transaction while the role runs, so the replacement has to wait and
the other sessions queue up behind it: they are certainly querying while the view is being replaced.
"""

# ruff: noqa: S608  (SQL built from test constants only)
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import psycopg2
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "cronicorn"))

import harness

READERS = 4


@pytest.fixture
def deployed(pg_server):
    db = harness.create_app_database(pg_server, runs=2000, seed_value=5)
    try:
        assert db.run_role().returncode == 0
        yield db
    finally:
        db.drop()


class Readers:
    """Sessions that query a view in a loop and record every error, and what each session saw in order:
    (result type of the second column, first column), so a test can show that the sessions saw the old
    definition and then the new one, i.e. that they were querying while it was replaced."""

    def __init__(self, db, query):
        self.db, self.query = db, query
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.queries = 0
        self.type_codes: set[int] = set()
        self.sequences: list[list[tuple[int, object]]] = []
        self.slowest = 0.0
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _reader in range(READERS)]

    def _loop(self):
        conn = self.db.connect()
        conn.autocommit = True
        seen: list[tuple[int, object]] = []
        self.sequences.append(seen)
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    started = time.monotonic()
                    try:
                        cur.execute(self.query)
                        row = cur.fetchall()[0]
                        self.type_codes.add(cur.description[1].type_code)
                        seen.append((cur.description[1].type_code, row[0]))
                        self.queries += 1
                    except psycopg2.Error as exc:
                        self.errors.append(f"{type(exc).__name__}: {exc}".strip())
                    self.slowest = max(self.slowest, time.monotonic() - started)
        finally:
            conn.close()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        time.sleep(0.3)
        return self

    def changes(self) -> list[list[tuple[int, object]]]:
        """Per session, the distinct answers in the order it saw them (repeats collapsed)."""
        return [[answer for i, answer in enumerate(seq) if i == 0 or seq[i - 1] != answer] for seq in self.sequences]

    def __exit__(self, *exc):
        time.sleep(0.3)
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def _redefine(db, function, old, new, recreate_view=None):
    """Drift: change a managed function's definition (text replacement in pg_get_functiondef)."""
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_get_functiondef(%s::regprocedure)", (function,))
            definition = cur.fetchone()[0]
            for a, b in zip(old, new, strict=True):
                assert a in definition, a
                definition = definition.replace(a, b)
            if recreate_view:
                cur.execute(f"DROP VIEW {recreate_view}")
                cur.execute(f"DROP FUNCTION {function}")
            cur.execute(definition)
            cur.execute(f"ALTER FUNCTION {function} OWNER TO {db.views_owner}")
            if recreate_view:
                cur.execute(f"CREATE VIEW {recreate_view} AS SELECT * FROM {function.replace('()', '')}()")
                cur.execute(f"ALTER VIEW {recreate_view} OWNER TO {db.views_owner}")
        conn.commit()
    finally:
        conn.close()


def test_body_change_is_replaced_without_errors(deployed):
    db = deployed
    function = f"{db.schema}._admin_top_jobs_rows()"
    _redefine(db, function, ["LIMIT 100;"], ["LIMIT 7;"])
    with Readers(db, f"SELECT count(*), sum(total_runs) FROM {db.schema}.admin_top_jobs") as readers:
        run = db.run_role()
    assert run.returncode == 0 and run.changed == 1, str(run)
    assert readers.errors == []
    assert readers.queries > 20
    # Evidence of overlap: every session answered from the drifted body (7 jobs) and then, without an
    # error in between, from the restored one; none went back.
    changes = readers.changes()
    assert len(changes) == READERS
    for answers in changes:
        counts = [count for _type, count in answers]
        assert len(counts) == 2 and counts[0] == 7 and counts[1] > 7, changes
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {db.schema}.admin_top_jobs")
            assert cur.fetchone()[0] > 7
    finally:
        conn.close()


def test_result_type_change_replaces_view_atomically(deployed):
    db = deployed
    function, view = f"{db.schema}._admin_top_jobs_rows()", f"{db.schema}.admin_top_jobs"
    # drift: total_runs becomes numeric, so the role must drop and recreate function and view
    _redefine(
        db,
        function,
        [" total_runs bigint,", "coalesce(pj.total_runs, 0)::bigint"],
        [" total_runs numeric,", "coalesce(pj.total_runs, 0)::numeric"],
        recreate_view=view,
    )
    holder = db.connect()
    waited = threading.Event()

    def release_when_the_role_waits():
        """Commit the holder once the role's transaction waits for the view's lock (and readers queue)."""
        watcher = db.connect()
        watcher.autocommit = True
        try:
            with watcher.cursor() as cur:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    cur.execute("SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted", (view,))
                    if cur.fetchone()[0] > 0:
                        waited.set()
                        time.sleep(1.0)  # meanwhile the readers' queries queue behind the replacement
                        break
                    time.sleep(0.02)
        finally:
            watcher.close()
            holder.commit()

    with Readers(db, f"SELECT count(*), min(total_runs) FROM {view}") as readers:
        with holder.cursor() as cur:  # an open transaction that has read the view holds its lock
            cur.execute(f"SELECT count(*) FROM {view}")
        release = threading.Thread(target=release_when_the_role_waits)
        release.start()
        started = time.monotonic()
        run = db.run_role()
        elapsed = time.monotonic() - started
        release.join()
    holder.close()
    assert run.returncode == 0 and run.changed == 1, str(run)
    assert waited.is_set(), "the role never waited for the view: the test did not overlap with the replacement"
    assert readers.errors == [], readers.errors[:5]
    assert readers.slowest >= 0.9, "readers did not queue behind the replacement"
    numeric, int8 = 1700, 20
    assert readers.type_codes == {numeric, int8}, "readers saw the old and then the new definition"
    # Every session saw the old result type, then the new one, and never the old one again.
    for answers in readers.changes():
        assert [type_code for type_code, _count in answers] == [numeric, int8], readers.changes()
    assert readers.queries > 20
    print(
        f"\n{readers.queries} queries by {READERS} sessions during the replacement, 0 errors; "
        f"slowest query {readers.slowest * 1000:.0f} ms (waited for the replacement), role run {elapsed:.1f} s"
    )
