"""The SQL questions the metabase_content role ships run as the Metabase role on the seeded data and return
rows; the revenue question multiplies the right users by the prices of metabase_content_tier_prices.

PostgreSQL only (no Metabase): the same seed as the Molecule scenarios (3000 runs, seed 42), the real views,
a reader with the grants the views give the Metabase role. The simple questions (MBQL) are run through
Metabase by the scenarios' verify tests.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import psycopg2
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "fixtures" / "cronicorn"))
sys.path.insert(0, str(REPO / "collections"))

import harness  # noqa: E402
from ansible_collections.cronicorn.monitoring.plugins.filter.metabase_content import (  # noqa: E402
    metabase_content_dashboards,
)

ROLE = REPO / "roles" / "metabase_content"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
DASHBOARDS = metabase_content_dashboards(
    [str(ROLE / "files" / "dashboards")], sql_values_map={"tier_prices": DEFAULTS["metabase_content_tier_prices"]}
)
NATIVE = {card["name"]: card["native"]["query"] for d in DASHBOARDS for card in d["cards"] if "native" in card}


def test_the_shipped_set_has_native_questions():
    assert len(NATIVE) >= 8, sorted(NATIVE)


@pytest.fixture(scope="module")
def reader(pg_server):
    db = harness.create_app_database(pg_server, runs=3000, seed_value=42)
    password = secrets.token_urlsafe(16)
    harness.add_reader(db, password)
    try:
        run = db.run_role()
        assert run.returncode == 0 and run.failed == 0, str(run)
        conn = psycopg2.connect(db.dsn(db.reader, password), connect_timeout=10)
        conn.set_session(readonly=True)
        try:
            yield conn
        finally:
            conn.close()
    finally:
        db.drop()


@pytest.mark.parametrize("name", sorted(NATIVE))
def test_native_question_returns_rows(reader, name):
    with reader.cursor() as cur:
        cur.execute(NATIVE[name])
        rows = cur.fetchall()
    reader.rollback()
    assert rows, f"{name} returned no rows on the seeded data"
    # An aggregate over no rows still answers one row (of zeros and nulls): that is no data either.
    assert any(value not in (None, 0) for row in rows for value in row), f"{name} found no data: {rows}"


def test_revenue_is_active_subscribers_times_the_tier_price(reader):
    prices = DEFAULTS["metabase_content_tier_prices"]
    with reader.cursor() as cur:
        cur.execute(NATIVE["Monthly Recurring Revenue by Tier"])
        revenue = {tier: (users, mrr) for tier, users, _price, mrr in cur.fetchall()}
        cur.execute("""SELECT tier::text, count(*) FROM "user" WHERE subscription_status = 'active' GROUP BY 1""")
        expected = {tier: (count, count * prices[tier]) for tier, count in cur.fetchall()}
    reader.rollback()
    assert revenue == expected
