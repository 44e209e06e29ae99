"""metabase_card against the fake Metabase (v0.58: MBQL 5 with fresh uuids on every save):
create, no-op, update of each compared key, archive, recreate, check mode, diff, names resolved
from the metadata, unknown names with close matches, no secret."""

from __future__ import annotations

import json

import pytest
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase import MetabaseClient
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_content import CardResource
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import Lookup
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_card as module
from content_helpers import KEY_AUTH, SESSION_AUTH, URL, secrets_absent, seed, writes
from fake_metabase import API_KEY

BY_TIER = {
    "source_table": "public.admin_user_stats",
    "aggregations": ["count"],
    "breakouts": ["tier"],
    "order_by": [{"aggregation": 0, "direction": "desc"}],
}
MOST_ACTIVE = {
    "source_table": "admin_user_stats",
    "fields": ["email", "runs_last_24h", "runs_last_7d", "success_rate"],
    "filters": [{"column": "runs_last_24h", "operator": ">", "value": 0}],
    "order_by": [{"column": "runs_last_24h", "direction": "desc"}],
    "limit": 20,
}
EVERYTHING = {
    "source_table": "public.admin_user_stats",
    "aggregations": [{"sum": "runs_last_7d"}, {"distinct": "email"}, {"avg": "success_rate"}, {"min": "runs_last_24h"}],
    "breakouts": [{"column": "created_at", "unit": "week"}, "tier"],
    "filters": [
        {"column": "tier", "operator": "=", "value": ["free", "pro"]},
        {"column": "runs_last_24h", "operator": "between", "value": [1, 10]},
        {"column": "email", "operator": "not-null"},
        {"column": "created_at", "operator": "time-interval", "value": [-30, "day"]},
        {"column": "email", "operator": "contains", "value": "@"},
    ],
    "order_by": [{"aggregation": 1, "direction": "desc"}, {"column": "tier", "direction": "asc"}],
    "limit": 100,
}
NATIVE = {
    "query": "SELECT tier, count(*) FROM public.admin_user_stats WHERE {{tier}} GROUP BY tier\n",
    "template_tags": {
        "tier": {"type": "dimension", "dimension": "public.admin_user_stats.tier", "widget_type": "string/="}
    },
}


@pytest.fixture
def db(fake):
    return seed(fake)


def card_args(**kwargs):
    args = dict(SESSION_AUTH, name="Users by Tier", collection="Cronicorn Admin", database="Cronicorn", query=BY_TIER)
    args.update(kwargs)
    return {k: v for k, v in args.items() if v is not None}


def run(run_module, check_mode=False, diff=False, **kwargs):
    outcome = run_module(module, card_args(**kwargs), check_mode=check_mode, diff=diff)
    assert not outcome.failed, outcome.msg
    return outcome


def test_create_sends_legacy_mbql_with_ids_resolved_from_names(fake, db, run_module):
    outcome = run(run_module, display="bar", description="Users per tier")
    assert outcome.changed is True
    table = fake.tables[db["id"]][0]
    tier = fake.field_id(table, "tier")
    posts = [r.body for r in fake.requests if (r.method, r.path) == ("POST", "/api/card/")]
    collection = fake.collection_by_path("Cronicorn Admin")
    assert posts == [
        {
            "name": "Users by Tier",
            "type": "question",
            "collection_id": collection["id"],
            "dataset_query": {
                "database": db["id"],
                "type": "query",
                "query": {
                    "source-table": table["id"],
                    "aggregation": [["count"]],
                    "breakout": [["field", tier, None]],
                    "order-by": [["desc", ["aggregation", 0]]],
                },
            },
            "display": "bar",
            "visualization_settings": {},
            "description": "Users per tier",
        }
    ]
    stored = fake.card_named("Users by Tier")
    assert stored["dataset_query"]["lib/type"] == "mbql/query"  # the fake stores MBQL 5 like v0.58
    assert outcome.result["card"]["id"] == stored["id"]
    assert outcome.result["card"]["collection"] == "Cronicorn Admin"
    assert outcome.result["definition"]["query"] == BY_TIER
    secrets_absent(fake, outcome)


@pytest.mark.parametrize("query", [BY_TIER, MOST_ACTIVE, EVERYTHING], ids=["aggregated", "raw-rows", "everything"])
@pytest.mark.parametrize("mbql_version", [5, 4])
def test_second_run_writes_nothing_whatever_mbql_version_comes_back(fake, db, run_module, query, mbql_version):
    fake.mbql_version = mbql_version
    run(run_module, query=query)
    fake.requests.clear()
    outcome = run(run_module, query=query)
    assert outcome.changed is False
    assert writes(fake) == []
    check = run(run_module, query=query, check_mode=True, diff=True)
    assert check.changed is False
    assert check.result["diff"][-1]["before"] == check.result["diff"][-1]["after"]


@pytest.mark.parametrize(
    "definition", [{"query": EVERYTHING}, {"query": None, "native": NATIVE}], ids=["mbql", "native"]
)
def test_mbql4_and_mbql5_read_backs_are_equal(fake, db, run_module, definition):
    """GET /api/card/{id} (MBQL 5, fresh uuids) and ?legacy-mbql=true (MBQL 4) read the same."""
    run(run_module, **definition)
    card_id = fake.card_named("Users by Tier")["id"]
    client = MetabaseClient(URL, api_key=API_KEY)
    lookup = Lookup(client)
    cards = CardResource(client, lookup)
    modern = client.request("GET", f"/api/card/{card_id}")
    legacy = client.request("GET", f"/api/card/{card_id}", query={"legacy-mbql": True})
    assert "lib/type" in modern["dataset_query"]
    assert "lib/type" not in legacy["dataset_query"]
    assert json.dumps(modern["dataset_query"]).count("lib/uuid") >= 1
    assert cards.normalize(modern) == cards.normalize(legacy)
    kind = "query" if definition.get("query") else "native"
    expected = EVERYTHING if kind == "query" else dict(NATIVE, query=NATIVE["query"].rstrip())
    if kind == "native":
        expected["template_tags"] = {"tier": dict(NATIVE["template_tags"]["tier"], display_name="Tier")}
    assert cards.normalize(modern)[kind] == expected


def test_every_save_mints_new_uuids_so_only_a_change_writes(fake, db, run_module):
    run(run_module, query=EVERYTHING)
    first = json.dumps(fake.card_named("Users by Tier")["dataset_query"])
    run(run_module, query=EVERYTHING, display="pie")  # a PUT without dataset_query keeps it
    assert json.dumps(fake.card_named("Users by Tier")["dataset_query"]) == first
    run(run_module, query=dict(EVERYTHING, limit=5), display="pie")
    assert json.dumps(fake.card_named("Users by Tier")["dataset_query"]) != first
    fake.requests.clear()
    assert run(run_module, query=dict(EVERYTHING, limit=5), display="pie").changed is False
    assert writes(fake) == []


def test_native_second_run_writes_nothing(fake, db, run_module):
    run(run_module, query=None, native=NATIVE, name="Tier SQL")
    fake.requests.clear()
    assert run(run_module, query=None, native=NATIVE, name="Tier SQL").changed is False
    assert writes(fake) == []
    stage = fake.card_named("Tier SQL")["dataset_query"]["stages"][0]
    assert stage["native"] == NATIVE["query"].rstrip()  # canonical SQL: trailing whitespace dropped
    assert stage["template-tags"]["tier"]["dimension"][1]["lib/uuid"]


def test_noop_request_count(fake, db, run_module):
    run(run_module)
    fake.requests.clear()
    outcome = run_module(module, card_args(**KEY_AUTH))
    assert outcome.changed is False
    card = fake.card_named("Users by Tier")
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/collection/"),
        ("GET", f"/api/collection/{card['collection_id']}/items"),
        ("GET", f"/api/card/{card['id']}"),
        ("GET", "/api/database/"),
        ("GET", f"/api/database/{db['id']}/metadata"),
    ]


CHANGES = [
    ({"display": "pie"}, {"display": "pie"}),
    ({"description": "New text"}, {"description": "New text"}),
    (
        {"visualization_settings": {"graph.dimensions": ["tier"]}},
        {"visualization_settings": {"graph.dimensions": ["tier"]}},
    ),
    ({"query": dict(BY_TIER, limit=3)}, "dataset_query"),
    ({"query": None, "native": {"query": "SELECT 1"}}, "dataset_query"),
]


@pytest.mark.parametrize(("change", "expected"), CHANGES, ids=["display", "description", "viz", "query", "native"])
def test_update_sends_only_what_differs(fake, db, run_module, change, expected):
    run(run_module, description="Users per tier")
    card = fake.card_named("Users by Tier")
    fake.requests.clear()
    outcome = run(run_module, diff=True, **dict({"description": "Users per tier"}, **change))
    assert outcome.changed is True
    puts = [r for r in fake.requests if r.method == "PUT"]
    assert [r.path for r in puts] == [f"/api/card/{card['id']}"]
    if expected == "dataset_query":
        assert list(puts[0].body) == ["dataset_query"]
    else:
        assert puts[0].body == expected
    fake.requests.clear()
    again = run(run_module, **dict({"description": "Users per tier"}, **change))
    assert again.changed is False
    assert writes(fake) == []


def test_database_change_rewrites_the_query(fake, db, run_module):
    other = fake.add_database(
        "Cronicorn replica", host="postgres", port=5432, dbname="cronicorn", user="metabase_readonly"
    )
    fake.add_table(other["id"], "public", "admin_user_stats", [("tier", "type/Text")])
    run(run_module)
    outcome = run(run_module, database="Cronicorn replica", diff=True)
    assert outcome.changed is True
    assert fake.card_named("Users by Tier")["dataset_query"]["database"] == other["id"]
    assert outcome.result["diff"][-1]["before"]["database"] == "Cronicorn"
    assert outcome.result["diff"][-1]["after"]["database"] == "Cronicorn replica"
    assert run(run_module, database="Cronicorn replica").changed is False


def test_diff_shows_names_not_ids(fake, db, run_module):
    run(run_module)
    outcome = run(run_module, diff=True, query=dict(BY_TIER, breakouts=[{"column": "created_at", "unit": "week"}]))
    diff = outcome.result["diff"][-1]
    assert diff["before"]["query"]["breakouts"] == ["tier"]
    assert diff["after"]["query"]["breakouts"] == [{"column": "created_at", "unit": "week"}]
    assert diff["before_header"] == "card Users by Tier"


def test_absent_archives(fake, db, run_module):
    run(run_module)
    card = fake.card_named("Users by Tier")
    fake.requests.clear()
    outcome = run_module(module, dict(SESSION_AUTH, name="Users by Tier", collection="Cronicorn Admin", state="absent"))
    assert outcome.changed is True
    assert [(r.path, r.body) for r in fake.requests if r.method == "PUT"] == [
        (f"/api/card/{card['id']}", {"archived": True})
    ]
    assert fake.cards[card["id"]]["archived"] is True
    again = run_module(module, dict(SESSION_AUTH, name="Users by Tier", collection="Cronicorn Admin", state="absent"))
    assert again.changed is False


def test_a_card_archived_by_hand_is_created_again(fake, db, run_module):
    run(run_module)
    old = fake.card_named("Users by Tier")
    old["archived"] = True
    outcome = run(run_module)
    assert outcome.changed is True
    new = fake.card_named("Users by Tier")
    assert new["id"] != old["id"]
    assert run(run_module).changed is False


def test_a_card_deleted_by_hand_is_created_again(fake, db, run_module):
    run(run_module)
    del fake.cards[fake.card_named("Users by Tier")["id"]]
    assert run(run_module).changed is True
    assert fake.card_named("Users by Tier") is not None


def test_check_mode_writes_nothing(fake, db, run_module):
    outcome = run(run_module, check_mode=True, diff=True)
    assert outcome.changed is True
    assert writes(fake) == []
    assert outcome.result["card"]["id"] < 0
    assert outcome.result["diff"][-1]["after"]["query"] == BY_TIER
    assert run(run_module).changed is True
    assert run(run_module, check_mode=True).changed is False
    fake.requests.clear()
    assert run(run_module, check_mode=True, display="pie").changed is True
    assert writes(fake) == []


def test_the_root_collection(fake, db, run_module):
    outcome = run(run_module, collection=None)
    assert outcome.changed is True
    assert fake.card_named("Users by Tier")["collection_id"] is None
    assert run(run_module, collection=None).changed is False


def test_table_without_schema_and_canonical_names(fake, db, run_module):
    outcome = run(run_module, query=dict(BY_TIER, source_table="admin_user_stats"))
    assert outcome.result["definition"]["query"]["source_table"] == "public.admin_user_stats"
    assert run(run_module, query=dict(BY_TIER, source_table="public.admin_user_stats")).changed is False


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            dict(BY_TIER, source_table="public.admin_users_stats"),
            "Unknown table 'public.admin_users_stats' in database 'Cronicorn'. "
            "Close matches: 'public.admin_user_stats'",
        ),
        (
            dict(BY_TIER, breakouts=["teir"]),
            "Unknown column 'teir' in table 'public.admin_user_stats' in database 'Cronicorn'. Close matches: 'tier'",
        ),
        (
            dict(BY_TIER, aggregations=[{"sum": "runs_last_24"}]),
            "Unknown column 'runs_last_24' in table 'public.admin_user_stats' in database 'Cronicorn'. "
            "Close matches: 'runs_last_24h', 'runs_last_7d'",
        ),
        (dict(BY_TIER, filters=[{"column": "emial", "operator": "=", "value": "a"}]), "Close matches: 'email'"),
    ],
    ids=["table", "breakout", "aggregation", "filter"],
)
def test_unknown_names_fail_with_close_matches(fake, db, run_module, query, expected):
    outcome = run_module(module, card_args(query=query))
    assert outcome.failed
    assert expected in outcome.msg
    assert writes(fake) == [("POST", "/api/collection/")]  # the collection, nothing else
    secrets_absent(fake, outcome)


def test_unknown_database_fails_with_close_matches(fake, db, run_module):
    outcome = run_module(module, card_args(database="Cronicron"))
    assert outcome.failed
    assert "Unknown database 'Cronicron'. Close matches: 'Cronicorn'" in outcome.msg


def test_native_variables_must_be_declared(fake, db, run_module):
    outcome = run_module(module, card_args(query=None, native={"query": "SELECT {{limit}}"}))
    assert outcome.failed
    assert "uses {{limit}} but template_tags does not declare it" in outcome.msg


def test_unknown_dimension_column(fake, db, run_module):
    native = {
        "query": "SELECT 1 WHERE {{t}}",
        "template_tags": {"t": {"type": "dimension", "dimension": "public.admin_user_stats.teir"}},
    }
    outcome = run_module(module, card_args(query=None, native=native))
    assert outcome.failed
    assert "Unknown column 'teir'" in outcome.msg


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"aggregations": ["count"]}, "source_table is required"),
        (dict(BY_TIER, aggregations=["sum"]), "'sum' needs a column"),
        (dict(BY_TIER, aggregations=[{"median": "tier"}]), "unknown aggregation 'median'"),
        (dict(BY_TIER, breakouts=[{"column": "created_at", "unit": "fortnight"}]), "unknown temporal unit 'fortnight'"),
        (dict(BY_TIER, filters=[{"column": "tier", "operator": "like", "value": "a"}]), "unknown operator 'like'"),
        (dict(BY_TIER, filters=[{"column": "tier", "operator": "between", "value": 1}]), "takes 2 values"),
        (dict(BY_TIER, order_by=[{"aggregation": 3}]), "aggregation 3 does not exist"),
        (dict(BY_TIER, limit=0), "limit is a positive integer"),
        (dict(BY_TIER, joins=[]), "unknown keys joins"),
    ],
)
def test_invalid_definitions_fail_before_any_write(fake, db, run_module, query, expected):
    outcome = run_module(module, card_args(query=query, collection=None))
    assert outcome.failed
    assert expected in outcome.msg
    assert writes(fake) == []


def test_native_and_query_are_exclusive(fake, db, run_module):
    outcome = run_module(module, card_args(native=NATIVE))
    assert outcome.failed
    assert "mutually exclusive" in outcome.msg


def test_failure_shows_no_secret(fake, db, run_module):
    fake.fail_next(400, {"message": "bad " + SESSION_AUTH["password"]}, path="/api/card/")
    outcome = run_module(module, card_args())
    assert outcome.failed
    assert "POST /api/card/ failed: HTTP 400" in outcome.msg
    assert outcome.result["changed"] is True  # the collection was created before the failure
    secrets_absent(fake, outcome)
