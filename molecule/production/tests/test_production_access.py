"""The metabase_access role on the production shape, through the proxy over HTTPS (the shared tests of
molecule/access_verify.py): a person outside the admin team logs in but can neither query the Cronicorn
database nor open the content collection, a team member can, a person removed from the team is deactivated
(and comes back with the entry), public sharing is off, the cache policy is stored, a withheld column that
Metabase had synced is hidden, and a repeat run uses the API key, changes nothing, leaves no session and
shows no vault secret at -vvv."""

from __future__ import annotations

import pathlib

import pytest
from access_verify import (
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
from production import (
    ALL_VARS,
    APPDB_CONTAINER,
    METABASE,
    METABASE_VARS,
    STACK,
    VAULT_PASSWORD_FILE,
    admin_session,
    psql,
    vault_secrets,
)
from site_run import playbook

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


def lines(output: str) -> list[tuple]:
    """psql's unaligned rows (``|`` between cells) as tuples of text."""
    return [tuple(line.split("|")) for line in output.splitlines() if line]


def run(path: str, *args: str):
    # The example vault is allowed by the scenario's isolation.yml, which playbook() passes.
    return playbook(
        path,
        *args,
        inventory="inventory/production",
        vault_password_file=str(VAULT_PASSWORD_FILE),
    )


@pytest.fixture(scope="module")
def access_stack() -> AccessStack:
    session = admin_session()
    return AccessStack(
        api=METABASE,
        session=lambda: session,
        cronicorn_sql=lambda statement: psql("cronicorn-app-db", "postgres", ALL_VARS["monitoring_db_name"], statement),
        appdb=lambda statement: lines(psql(APPDB_CONTAINER, "metabase", "metabase", statement)),
        run=run,
        hosts=("monitoring-docker-host",),
        team=METABASE_VARS["metabase_access_team"],
        readonly_user=ALL_VARS["monitoring_readonly_user"],
        key_file=pathlib.Path(STACK["metabase_access_api_key_file"]),
        secrets=lambda: {name: str(value) for name, value in vault_secrets().items()},
    )
