"""The metabase_content role on the production shape, through the proxy over HTTPS (the shared tests of
molecule/content_verify.py): every shipped dashboard with its cards, every card answered with rows, the
guide's three questions equal to SQL on the application's seeded database, one write for one changed card,
a removed card leaving its dashboard, a card deleted by hand created again, export -> apply unchanged."""

from __future__ import annotations

import pytest
from content_verify import (
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
from production import ALL_VARS, APPDB_CONTAINER, METABASE, VAULT_PASSWORD_FILE, admin_session, psql
from site_run import playbook

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


def lines(output: str) -> list[tuple]:
    """psql's unaligned rows (``|`` between cells) as tuples of text."""
    return [tuple(line.split("|")) for line in output.splitlines() if line]


def run(path: str, *args: str):
    return playbook(path, *args, inventory="inventory/production", vault_password_file=str(VAULT_PASSWORD_FILE))


@pytest.fixture(scope="module")
def content_stack() -> ContentStack:
    session = admin_session()
    return ContentStack(
        api=METABASE,
        session=lambda: session,
        sql=lambda statement: lines(psql("cronicorn-app-db", "postgres", ALL_VARS["monitoring_db_name"], statement)),
        journal=lambda mark: [
            (int(entry_id), method, path)
            for entry_id, method, path in lines(
                psql(
                    APPDB_CONTAINER,
                    "metabase",
                    "metabase",
                    f"SELECT id, method, path FROM double_request_journal WHERE id > {int(mark)} ORDER BY id",  # noqa: S608
                )
            )
        ],
        run=run,
        # the preflight play runs on every host, the application database's included (always tagged)
        hosts=("monitoring-docker-host", "cronicorn-db-access"),
    )
