"""The metabase_access role on the dev stack (the shared tests of molecule/access_verify.py): a person outside
the admin team logs in but can neither query the Cronicorn database nor open the content collection, a team
member can, a person removed from the team is deactivated (and comes back with the entry), public sharing is
off, the cache policy is stored, a withheld column that Metabase had synced is hidden, and a repeat run uses
the API key, changes nothing, leaves no session and shows no secret at -vvv."""

from __future__ import annotations

import pathlib

import psycopg2
import pytest
import yaml
from access_verify import (
    ROOT,
    AccessStack,
    test_a_person_outside_the_team_logs_in_but_cannot_query_nor_open_the_collection,
    test_a_person_removed_from_the_team_is_deactivated_and_comes_back_with_the_entry,
    test_a_repeat_run_uses_the_api_key_leaves_no_session_and_logs_no_secret,
    test_a_team_member_can_query_and_open_the_collection,
    test_a_withheld_column_that_metabase_had_synced_is_hidden_in_the_metadata,
    test_public_sharing_and_static_embedding_are_off,
    test_the_cache_policy_is_stored,
    test_the_inventory_names_a_team_of_two_or_more,
)
from isolation import load
from metabase_api import MetabaseAPI
from site_run import playbook

DEV = yaml.safe_load((ROOT / "inventory/dev/group_vars/all/main.yml").read_text(encoding="utf-8"))
STACK = load("dev")  # the scenario's own names and ports (molecule/isolation.yml)
METABASE = MetabaseAPI(STACK["monitoring_metabase_url"])

# pytest collects the shared tests from this module.
__all__ = [
    "test_a_person_outside_the_team_logs_in_but_cannot_query_nor_open_the_collection",
    "test_a_person_removed_from_the_team_is_deactivated_and_comes_back_with_the_entry",
    "test_a_repeat_run_uses_the_api_key_leaves_no_session_and_logs_no_secret",
    "test_a_team_member_can_query_and_open_the_collection",
    "test_a_withheld_column_that_metabase_had_synced_is_hidden_in_the_metadata",
    "test_public_sharing_and_static_embedding_are_off",
    "test_the_cache_policy_is_stored",
    "test_the_inventory_names_a_team_of_two_or_more",
]


def execute(dbname: str, statement: str) -> list[tuple]:
    """A statement on the dev PostgreSQL as its owner (``db`` is Cronicorn's, ``metabase`` the double's); the
    rows it returns, if any."""
    connection = psycopg2.connect(
        host="127.0.0.1",
        port=STACK["postgres_published_port"],
        dbname=dbname,
        user=DEV["postgres_user"],
        password=DEV["postgres_password"],
    )
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def dev_secrets() -> dict[str, str]:
    found = {
        name: value
        for name, value in DEV.items()
        if ("password" in name or "secret" in name) and isinstance(value, str) and "{{" not in value
    }
    found |= {f"initial_password of {p['email']}": p["initial_password"] for p in DEV["metabase_access_team"]}
    return found


@pytest.fixture(scope="module")
def access_stack() -> AccessStack:
    session = METABASE.login(DEV["monitoring_metabase_admin_email"], DEV["monitoring_metabase_admin_password"])
    return AccessStack(
        api=METABASE,
        session=lambda: session,
        cronicorn_sql=lambda statement: execute("db", statement),
        appdb=lambda statement: execute("metabase", statement),
        run=playbook,
        hosts=("localhost",),
        team=DEV["metabase_access_team"],
        readonly_user=DEV["monitoring_readonly_user"],
        key_file=pathlib.Path(STACK["metabase_access_api_key_file"]),
        secrets=dev_secrets,
    )
