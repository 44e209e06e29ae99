"""metabase_info: listings by collection and name, read-only in every mode, and the export of a
dashboard (built by the module or "in the UI") that metabase_dashboard applies back unchanged."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.cronicorn.monitoring.plugins.modules import (
    metabase_card,
    metabase_collection,
    metabase_dashboard,
)
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_info as module
from content_helpers import SESSION_AUTH, secrets_absent, seed, writes
from fake_metabase_content import Mbql
from test_metabase_dashboard import BY_TIER, PARAMETERS, RUNS_SQL, TOTAL


@pytest.fixture
def db(fake):
    return seed(fake)


def apply_dashboard(run_module, **kwargs):
    args = dict(SESSION_AUTH, name="User Overview", collection="Cronicorn Admin", parameters=PARAMETERS)
    args["cards"] = copy.deepcopy([TOTAL, BY_TIER, RUNS_SQL])
    args.update(kwargs)
    outcome = run_module(metabase_dashboard, args)
    assert not outcome.failed, outcome.msg
    return outcome


def info(run_module, check_mode=False, **kwargs):
    outcome = run_module(module, dict(SESSION_AUTH, **kwargs), check_mode=check_mode)
    assert not outcome.failed, outcome.msg
    assert outcome.changed is False
    return outcome


def test_lists_collections_cards_and_dashboards(fake, db, run_module):
    apply_dashboard(run_module)
    assert not run_module(metabase_collection, dict(SESSION_AUTH, path="Cronicorn Admin/Operations")).failed
    fake.requests.clear()
    outcome = info(run_module, collection="Cronicorn Admin")
    assert writes(fake) == []
    assert [c["path"] for c in outcome.result["collections"]] == ["Cronicorn Admin", "Cronicorn Admin/Operations"]
    assert sorted(c["name"] for c in outcome.result["cards"]) == ["Runs of a tier", "Total Users", "Users by Tier"]
    assert all(c["collection"] == "Cronicorn Admin" for c in outcome.result["cards"])
    assert [d["name"] for d in outcome.result["dashboards"]] == ["User Overview"]
    everything = info(run_module)
    assert {c["path"] for c in everything.result["collections"]} == {"Cronicorn Admin", "Cronicorn Admin/Operations"}
    named = info(run_module, name="Total Users")
    assert [c["name"] for c in named.result["cards"]] == ["Total Users"]
    assert named.result["dashboards"] == []
    secrets_absent(fake, outcome)


def test_check_mode_reads_the_same(fake, db, run_module):
    apply_dashboard(run_module)
    normal = info(run_module, collection="Cronicorn Admin", dashboard="User Overview")
    check = info(run_module, collection="Cronicorn Admin", dashboard="User Overview", check_mode=True)
    assert normal.result == check.result
    assert [w for w in writes(fake) if w[0] == "PUT"] == [  # the apply's only
        ("PUT", f"/api/dashboard/{fake.dashboard_named('User Overview')['id']}")
    ]


def test_export_is_the_format_metabase_dashboard_takes(fake, db, run_module):
    apply_dashboard(run_module, description="Who uses Cronicorn")
    definition = info(run_module, collection="Cronicorn Admin", dashboard="User Overview").result[
        "dashboard_definition"
    ]
    assert definition["name"] == "User Overview"
    assert definition["collection"] == "Cronicorn Admin"
    assert definition["description"] == "Who uses Cronicorn"
    assert definition["parameters"] == [{"name": "Tier", "slug": "tier", "type": "string/="}]
    by_name = {c["name"]: c for c in definition["cards"]}
    expected = dict(BY_TIER, query=dict(BY_TIER["query"], source_table="public.admin_user_stats"))
    assert by_name["Users by Tier"] == expected
    sql = copy.deepcopy(RUNS_SQL)
    assert by_name["Runs of a tier"] == sql
    assert "tabs" not in definition


def test_export_then_apply_is_a_no_op(fake, db, run_module):
    apply_dashboard(run_module, tabs=["Overview", "Details"])
    definition = info(run_module, collection="Cronicorn Admin", dashboard="User Overview").result[
        "dashboard_definition"
    ]
    fake.requests.clear()
    outcome = run_module(metabase_dashboard, dict(SESSION_AUTH, **definition))
    assert not outcome.failed, outcome.msg
    assert outcome.changed is False
    assert writes(fake) == []


def build_in_the_ui(fake, db, run_module):
    """A dashboard as Metabase's UI makes it: MBQL 5 cards with base types, random parameter ids
    with sectionId, mapping targets with options and stage-number, dashcard settings, two tabs,
    a card of another collection and a heading."""
    table = fake.tables[db["id"]][0]
    mbql = fake._mbql()
    for path in ("Cronicorn Admin", "Shared"):
        assert not run_module(metabase_collection, dict(SESSION_AUTH, path=path)).failed
    admin_id = fake.collection_by_path("Cronicorn Admin")["id"]
    shared_id = fake.collection_by_path("Shared")["id"]
    tier = fake.field_id(table, "tier")
    created = fake.field_id(table, "created_at")

    def card(name, collection_id, legacy, display):
        card_id = next(fake._content_ids)
        fake.cards[card_id] = {
            "id": card_id,
            "name": name,
            "description": None,
            "display": display,
            "type": "question",
            "dataset_query": mbql.to5(legacy),
            "visualization_settings": {"graph.dimensions": ["CREATED_AT"]} if display == "line" else {},
            "collection_id": collection_id,
            "database_id": db["id"],
            "archived": False,
            "parameters": [],
            "parameter_mappings": [],
        }
        return card_id

    weekly = card(
        "Signups per week",
        admin_id,
        {
            "database": db["id"],
            "type": "query",
            "query": {
                "source-table": table["id"],
                "aggregation": [["count"]],
                "breakout": [["field", created, {"base-type": "type/DateTimeWithLocalTZ", "temporal-unit": "week"}]],
            },
        },
        "line",
    )
    tiers = card(
        "Tiers",
        shared_id,
        {
            "database": db["id"],
            "type": "native",
            "native": {
                "query": "SELECT * FROM public.admin_user_stats WHERE {{tier}}",
                "template-tags": {
                    "tier": {
                        "id": "0f6e7a3c-1111-2222-3333-444455556666",
                        "name": "tier",
                        "display-name": "Tier",
                        "type": "dimension",
                        "dimension": ["field", tier, None],
                        "widget-type": "string/=",
                    }
                },
            },
        },
        "table",
    )
    dashboard_id = next(fake._content_ids)
    fake.dashboards[dashboard_id] = {
        "id": dashboard_id,
        "name": "Growth",
        "description": "Built by hand",
        "collection_id": admin_id,
        "parameters": [{"id": "f00dcafe", "name": "Tier", "slug": "tier", "type": "string/=", "sectionId": "string"}],
        "archived": False,
        "tabs": [
            {"id": 501, "name": "Signups", "position": 0},
            {"id": 502, "name": "Tiers", "position": 1},
        ],
        "dashcards": [
            {
                "id": 601,
                "card_id": weekly,
                "dashboard_tab_id": 501,
                "row": 0,
                "col": 0,
                "size_x": 12,
                "size_y": 6,
                "parameter_mappings": [],
                "visualization_settings": {"card.title": "Weekly signups"},
            },
            {
                "id": 602,
                "card_id": tiers,
                "dashboard_tab_id": 502,
                "row": 0,
                "col": 0,
                "size_x": 24,
                "size_y": 8,
                "parameter_mappings": [
                    {"parameter_id": "f00dcafe", "card_id": tiers, "target": ["dimension", ["template-tag", "tier"]]}
                ],
                "visualization_settings": {},
            },
            {
                "id": 603,
                "card_id": None,
                "dashboard_tab_id": 501,
                "row": 6,
                "col": 0,
                "size_x": 24,
                "size_y": 1,
                "parameter_mappings": [],
                "visualization_settings": {
                    "virtual_card": {
                        "name": None,
                        "display": "heading",
                        "visualization_settings": {},
                        "archived": False,
                    },
                    "text": "More soon",
                },
            },
        ],
    }
    return dashboard_id


def test_a_dashboard_built_in_the_ui_exports_and_applies_back_unchanged(fake, db, run_module):
    dashboard_id = build_in_the_ui(fake, db, run_module)
    definition = info(run_module, collection="Cronicorn Admin", dashboard="Growth").result["dashboard_definition"]
    assert definition["tabs"] == ["Signups", "Tiers"]
    assert definition["parameters"] == [{"name": "Tier", "slug": "tier", "type": "string/="}]
    assert definition["cards"] == [
        {
            "name": "Signups per week",
            "database": "Cronicorn",
            "query": {
                "source_table": "public.admin_user_stats",
                "aggregations": ["count"],
                "breakouts": [{"column": "created_at", "unit": "week"}],
            },
            "display": "line",
            "visualization_settings": {"graph.dimensions": ["CREATED_AT"]},
            "row": 0,
            "col": 0,
            "size_x": 12,
            "size_y": 6,
            "tab": "Signups",
        },
        {"heading": "More soon", "row": 6, "col": 0, "size_x": 24, "size_y": 1, "tab": "Signups"},
        {
            "card": "Tiers",
            "collection": "Shared",
            "row": 0,
            "col": 0,
            "size_x": 24,
            "size_y": 8,
            "tab": "Tiers",
            "parameter_mappings": [{"parameter": "Tier", "tag": "tier"}],
        },
    ]
    before = copy.deepcopy(fake.dashboards[dashboard_id])
    fake.requests.clear()
    outcome = run_module(metabase_dashboard, dict(SESSION_AUTH, **definition))
    assert not outcome.failed, outcome.msg
    assert outcome.changed is False
    assert writes(fake) == []
    assert fake.dashboards[dashboard_id] == before
    card = info(run_module, collection="Shared", card="Tiers").result["card_definition"]
    assert card["native"]["template_tags"] == {
        "tier": {
            "type": "dimension",
            "display_name": "Tier",
            "dimension": "public.admin_user_stats.tier",
            "widget_type": "string/=",
        }
    }
    assert not run_module(metabase_card, dict(SESSION_AUTH, **card)).changed


def test_a_question_the_format_cannot_express_fails_the_export_by_name(fake, db, run_module):
    apply_dashboard(run_module)
    card = fake.card_named("Users by Tier")
    card["dataset_query"]["stages"][0]["joins"] = [{"lib/type": "mbql/join"}]
    outcome = run_module(module, dict(SESSION_AUTH, collection="Cronicorn Admin", dashboard="User Overview"))
    assert outcome.failed
    assert "Card 'Users by Tier' cannot be exported: the question uses joins" in outcome.msg


def test_unknown_dashboard_fails_with_close_matches(fake, db, run_module):
    apply_dashboard(run_module)
    outcome = run_module(module, dict(SESSION_AUTH, collection="Cronicorn Admin", dashboard="User Overveiw"))
    assert outcome.failed
    assert "Unknown dashboard 'User Overveiw' in collection 'Cronicorn Admin'. Close matches: 'User Overview'" in (
        outcome.msg
    )


def test_unknown_collection_fails_with_close_matches(fake, db, run_module):
    apply_dashboard(run_module)
    outcome = run_module(module, dict(SESSION_AUTH, collection="Cronicorn Admn"))
    assert outcome.failed
    assert "Unknown collection 'Cronicorn Admn' at the top level. Close matches: 'Cronicorn Admin'" in outcome.msg


def test_the_fake_converter_round_trips(fake, db):
    """The fake's own MBQL 4 -> 5 -> 4 is faithful, so the module tests compare against Metabase's shapes."""
    table = fake.tables[db["id"]][0]
    legacy = {
        "database": db["id"],
        "type": "query",
        "query": {
            "source-table": table["id"],
            "aggregation": [["count"], ["sum", ["field", 3, None]]],
            "filter": ["and", [">", ["field", 3, None], 0], ["time-interval", ["field", 4, None], -30, "day"]],
            "order-by": [["desc", ["aggregation", 1]]],
        },
    }
    modern = Mbql({}).to5(legacy)
    assert modern["stages"][0]["order-by"][0][2][2] == modern["stages"][0]["aggregation"][1][1]["lib/uuid"]
    assert Mbql({}).to4(modern) == legacy


def test_database_alone_reads_its_sync_status_and_tables_and_no_collection(fake, db, run_module):
    fake.databases[db["id"]]["initial_sync_status"] = "complete"
    fake.requests.clear()
    outcome = info(run_module, database="Cronicorn")
    assert outcome.result["database"] == {
        "id": db["id"],
        "name": "Cronicorn",
        "initial_sync_status": "complete",
        "tables": [
            {"schema": "public", "name": "admin_user_stats", "visibility": None},
            {"schema": "public", "name": "admin_daily_metrics", "visibility": None},
        ],
    }
    assert (outcome.result["collections"], outcome.result["cards"], outcome.result["dashboards"]) == ([], [], [])
    read = [r.path for r in fake.requests if r.method == "GET"]
    assert not [path for path in read if path.startswith(("/api/collection", "/api/card", "/api/dashboard"))], read
    assert writes(fake) == []
    assert fake.count("DELETE", "/api/session/") == 1  # the password login is logged out again
    secrets_absent(fake, outcome)


def test_database_in_check_mode_reads_the_same_and_an_unknown_one_fails_by_name(fake, db, run_module):
    assert info(run_module, check_mode=True, database="Cronicorn").result["database"]["initial_sync_status"] == (
        "incomplete"
    )
    outcome = run_module(module, dict(SESSION_AUTH, database="Cronicron"))
    assert outcome.failed
    assert "Cronicron" in outcome.msg and "Cronicorn" in outcome.msg, outcome.msg
