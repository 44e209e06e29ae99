"""The metabase_content role on the dev stack (the shared tests of molecule/content_verify.py): every shipped
dashboard with its cards, every card answered with rows, the guide's three questions equal to SQL on the
seeded data, one write for one changed card, a removed card leaving its dashboard, a card deleted by hand
created again, and export -> apply with nothing to change."""

from __future__ import annotations

import psycopg2
import pytest
import yaml
from content_verify import (
    ROOT,
    ContentStack,
    test_a_card_deleted_by_hand_is_recreated,
    test_a_card_removed_from_a_file_leaves_the_dashboard,
    test_changing_one_card_writes_that_card_only,
    test_every_card_runs_through_metabase_and_returns_rows,
    test_every_shipped_dashboard_exists_with_its_cards,
    test_export_then_apply_round_trips,
    test_most_active_users_equals_sql_on_the_seeded_data,
    test_total_users_equals_sql_on_the_seeded_data,
    test_users_by_tier_equals_sql_on_the_seeded_data,
)
from isolation import load
from metabase_api import MetabaseAPI
from site_run import playbook

DEV = yaml.safe_load((ROOT / "inventory/dev/group_vars/all/main.yml").read_text(encoding="utf-8"))
STACK = load("dev")  # the scenario's own names and ports (molecule/isolation.yml)
METABASE = MetabaseAPI(STACK["monitoring_metabase_url"])
JOURNAL = "SELECT id, method, path FROM double_request_journal WHERE id > %s ORDER BY id"

# pytest collects the shared tests from this module.
__all__ = [
    "test_a_card_deleted_by_hand_is_recreated",
    "test_a_card_removed_from_a_file_leaves_the_dashboard",
    "test_changing_one_card_writes_that_card_only",
    "test_every_card_runs_through_metabase_and_returns_rows",
    "test_every_shipped_dashboard_exists_with_its_cards",
    "test_export_then_apply_round_trips",
    "test_most_active_users_equals_sql_on_the_seeded_data",
    "test_total_users_equals_sql_on_the_seeded_data",
    "test_users_by_tier_equals_sql_on_the_seeded_data",
]


def query(dbname: str, statement: str, params=None) -> list[tuple]:
    """A query on the dev PostgreSQL as its owner: ``db`` is Cronicorn's, ``metabase`` the double's."""
    connection = psycopg2.connect(
        host="127.0.0.1",
        port=STACK["postgres_published_port"],
        dbname=dbname,
        user=DEV["postgres_user"],
        password=DEV["postgres_password"],
    )
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def content_stack() -> ContentStack:
    session = METABASE.login(DEV["monitoring_metabase_admin_email"], DEV["monitoring_metabase_admin_password"])
    return ContentStack(
        api=METABASE,
        session=lambda: session,
        sql=lambda statement: query("db", statement),
        journal=lambda mark: query("metabase", JOURNAL, (mark,)),
        run=playbook,
        hosts=("localhost",),
    )
