"""metabase_permissions against the fake Metabase: the sparse graphs (elided values), revisions,
409 -> read again and retry without force, the edition's refusal, check mode, diff, no-op."""

from __future__ import annotations

from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_permissions as module
from content_helpers import SESSION_AUTH, seed, writes

CLOSED = {"database": "Cronicorn", "create_queries": "no", "download": "none"}


def run(run_module, check_mode=False, diff=False, **kwargs):
    args = dict(SESSION_AUTH, group="All Users")
    args.update(kwargs)
    return run_module(module, args, check_mode=check_mode, diff=diff)


def ok(outcome):
    assert not outcome.failed, outcome.msg
    return outcome


def graph_puts(fake, path="/api/permissions/graph"):
    return [r for r in fake.requests if r.method == "PUT" and r.path == path]


def opened(fake):
    database = seed(fake)
    fake.open_database(database["id"])
    return database


def test_closes_a_database_that_defaults_opened(fake, run_module):
    database = opened(fake)
    outcome = ok(run(run_module, diff=True, databases=[CLOSED]))
    assert outcome.changed is True
    puts = graph_puts(fake)
    assert [p.body for p in puts] == [
        {
            "revision": 1,
            "groups": {"1": {str(database["id"]): {"create-queries": "no", "download": {"schemas": "none"}}}},
        }
    ]
    assert "force" not in puts[0].query
    assert fake.data_perms[(1, database["id"])] == {
        "view-data": "unrestricted",
        "create-queries": "no",
        "download": "none",
    }
    assert outcome.result["diff"][0]["before"] == {
        "Cronicorn": {"view_data": "unrestricted", "create_queries": "query-builder-and-native", "download": "full"}
    }
    assert outcome.result["diff"][0]["after"]["Cronicorn"]["create_queries"] == "no"
    assert outcome.result["diff"][0]["before_header"] == "data permissions of All Users"
    graph_reads = [r.path for r in fake.requests if r.method == "GET" and "graph" in r.path]
    assert graph_reads == ["/api/permissions/graph/group/1"]


def test_elided_values_compare_as_the_least_permissive(fake, run_module):
    """The graph leaves out no/none: a second run must read them as such and write nothing."""
    opened(fake)
    ok(run(run_module, databases=[CLOSED]))
    fake.requests.clear()
    outcome = ok(run(run_module, databases=[CLOSED]))
    assert outcome.changed is False and writes(fake) == []


def test_query_access_implies_unrestricted_view_data(fake, run_module):
    database = opened(fake)
    gid = fake.add_group("Cronicorn Admins")
    fake.data_perms[(gid, database["id"])] = {"view-data": "unrestricted", "create-queries": "no", "download": "none"}
    wanted = {"database": "Cronicorn", "create_queries": "query-builder-and-native", "download": "full"}
    ok(run(run_module, group="Cronicorn Admins", databases=[wanted]))
    assert ok(run(run_module, group="Cronicorn Admins", databases=[wanted])).changed is False


def test_a_409_is_read_again_and_retried_without_force(fake, run_module):
    opened(fake)
    fake.conflict_next(2)
    outcome = ok(run(run_module, databases=[CLOSED]))
    assert outcome.changed is True and outcome.result["conflicts"] == 2
    puts = graph_puts(fake)
    assert [p.body["revision"] for p in puts] == [1, 2, 3]
    assert all("force" not in p.query for p in puts)
    reads = [r for r in fake.requests if r.method == "GET" and r.path.startswith("/api/permissions/graph/group/")]
    assert len(reads) == 3


def test_endless_conflicts_fail_without_forcing(fake, run_module):
    opened(fake)
    fake.conflict_next(10)
    outcome = run(run_module, databases=[CLOSED])
    assert outcome.failed and "409" in outcome.msg and "nothing was forced" in outcome.msg
    assert all("force" not in p.query for p in graph_puts(fake))


def test_blocked_fails_with_metabases_message(fake, run_module):
    opened(fake)
    outcome = run(run_module, databases=[{"database": "Cronicorn", "view_data": "blocked"}])
    assert outcome.failed and outcome.result["status"] == 402
    assert "advanced-permissions feature" in outcome.msg


def test_collections_are_revoked_and_granted(fake, run_module):
    seed(fake)
    fake.collections[50] = {
        "id": 50,
        "name": "Cronicorn Admin",
        "location": "/",
        "archived": False,
        "personal_owner_id": None,
        "namespace": None,
        "type": None,
        "description": None,
    }
    fake.collection_perms[1]["50"] = "write"
    outcome = ok(run(run_module, diff=True, collections=[{"collection": "Cronicorn Admin", "access": "none"}]))
    assert outcome.changed is True
    assert "50" not in fake.collection_perms[1]
    put = graph_puts(fake, "/api/collection/graph")[0]
    assert put.body == {"revision": 1, "groups": {"1": {"50": "none"}}}
    assert outcome.result["diff"][0]["before"] == {"Cronicorn Admin": "write"}
    assert outcome.result["diff"][0]["before_header"] == "collection permissions of All Users"
    fake.requests.clear()
    again = ok(run(run_module, collections=[{"collection": "Cronicorn Admin", "access": "none"}]))
    assert again.changed is False and writes(fake) == []
    ok(run(run_module, collections=[{"collection": "/", "access": "read"}]))
    assert fake.collection_perms[1]["root"] == "read"


def test_check_mode_writes_nothing(fake, run_module):
    opened(fake)
    outcome = ok(run(run_module, check_mode=True, databases=[CLOSED]))
    assert outcome.changed is True and writes(fake) == []
    ok(run(run_module, databases=[CLOSED]))
    assert ok(run(run_module, check_mode=True, databases=[CLOSED])).changed is False


def test_administrators_and_unknown_groups_are_refused(fake, run_module):
    opened(fake)
    assert "every permission" in run(run_module, group="Administrators", databases=[CLOSED]).msg
    assert "Unknown group" in run(run_module, group="Admins Team", databases=[CLOSED]).msg
    assert writes(fake) == []
