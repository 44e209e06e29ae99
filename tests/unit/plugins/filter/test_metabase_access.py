"""metabase_access_hidden: the read-only role's classification turned into what Metabase hides."""

from __future__ import annotations

import pytest
from controller_imports import module_side_kept

with module_side_kept():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.cronicorn.monitoring.plugins.filter.metabase_access import metabase_access_hidden

RELATIONS = [
    {"relation": "public.account", "decision": "hidden", "reason": "listed in denied tables", "withheld": None},
    {
        "relation": 'public."user"',
        "decision": "readable",
        "reason": "ordinary",
        "withheld": "stripe_customer_id, stripe_subscription_id",
    },
    {
        "relation": "public.job_endpoints",
        "decision": "readable",
        "reason": "ordinary",
        "withheld": "url, headers_json, body_json",
    },
    {"relation": "public.runs", "decision": "readable", "reason": "ordinary", "withheld": None},
    {"relation": "cronicorn_monitoring.admin_user_stats", "decision": "view", "reason": "view", "withheld": None},
    {"relation": 'public."odd.name"', "decision": "hidden", "reason": "pattern", "withheld": None},
]


def test_hidden_tables_and_withheld_columns():
    assert metabase_access_hidden(RELATIONS) == {
        "tables": ["public.account", "public.odd.name"],
        "fields": [
            {"table": "public.job_endpoints", "field": "body_json"},
            {"table": "public.job_endpoints", "field": "headers_json"},
            {"table": "public.job_endpoints", "field": "url"},
            {"table": "public.user", "field": "stripe_customer_id"},
            {"table": "public.user", "field": "stripe_subscription_id"},
        ],
    }


def test_as_metadata_gives_the_options_of_metabase_metadata():
    """Tables hidden, withheld columns sensitive: the ``tables`` and ``fields`` of one metabase_metadata run."""
    assert metabase_access_hidden(RELATIONS, as_metadata=True) == {
        "tables": [
            {"table": "public.account", "visibility": "hidden"},
            {"table": "public.odd.name", "visibility": "hidden"},
        ],
        "fields": [
            {"table": "public.job_endpoints", "field": "body_json", "visibility": "sensitive"},
            {"table": "public.job_endpoints", "field": "headers_json", "visibility": "sensitive"},
            {"table": "public.job_endpoints", "field": "url", "visibility": "sensitive"},
            {"table": "public.user", "field": "stripe_customer_id", "visibility": "sensitive"},
            {"table": "public.user", "field": "stripe_subscription_id", "visibility": "sensitive"},
        ],
    }


@pytest.mark.parametrize("as_metadata", [False, True])
def test_nothing_hidden(as_metadata):
    assert metabase_access_hidden([], as_metadata=as_metadata) == {"tables": [], "fields": []}


@pytest.mark.parametrize("bad", [None, [{"decision": "hidden"}], [{"relation": "nodot", "decision": "hidden"}]])
def test_malformed_input_fails_clearly(bad):
    with pytest.raises(AnsibleFilterError):
        metabase_access_hidden(bad)
