"""The unit tests' contract hook is real: a request off the spec that the fake Metabase accepts
(as Metabase would) is still reported by the check that runs at every test's teardown."""

from __future__ import annotations

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase import MetabaseClient
from fake_metabase import API_KEY, FakeMetabase


def test_the_hook_flags_requests_that_break_the_spec(contract, clock):
    fake = FakeMetabase()
    client = MetabaseClient("http://metabase.test", api_key=API_KEY, transport=fake)
    client.request("GET", "/api/database")  # Metabase serves it, the spec spells it /api/database/
    client.request("GET", "/api/database/", query={"limit": 1})
    client.request("PUT", "/api/database/1", body={"auto_run_queries": "yes"})
    problems = contract.check_many(fake.recorded())
    assert problems == [
        "GET /api/database: no path of the spec matches /api/database (the spec's path key is spelled /api/database/)",
        "GET /api/database/: GET /api/database/: query parameter 'limit' is not in the spec",
        "PUT /api/database/1: PUT /api/database/{id}: body auto_run_queries: 'yes' is not of type 'boolean'",
    ]


def test_the_hook_passes_what_the_modules_send(contract, clock):
    fake = FakeMetabase()
    client = MetabaseClient("http://metabase.test", api_key=API_KEY, transport=fake)
    client.list_databases()
    assert contract.check_many(fake.recorded()) == []
