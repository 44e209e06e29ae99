"""metabase_dashboard against the fake Metabase (v0.58): inline and referenced cards, grid, tabs,
parameters mapped by column or SQL variable, wholesale dashcards, archive, recreate, check mode,
diff, request counts, no secret."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_card
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_dashboard as module
from content_helpers import KEY_AUTH, SESSION_AUTH, secrets_absent, seed, writes

TOTAL = {
    "name": "Total Users",
    "database": "Cronicorn",
    "query": {"source_table": "admin_user_stats", "aggregations": ["count"]},
    "display": "scalar",
    "row": 0,
    "col": 0,
    "size_x": 6,
    "size_y": 4,
}
BY_TIER = {
    "name": "Users by Tier",
    "database": "Cronicorn",
    "query": {"source_table": "public.admin_user_stats", "aggregations": ["count"], "breakouts": ["tier"]},
    "display": "bar",
    "row": 0,
    "col": 6,
    "size_x": 18,
    "size_y": 6,
    "parameter_mappings": [{"parameter": "Tier", "column": "tier"}],
}
RUNS_SQL = {
    "name": "Runs of a tier",
    "database": "Cronicorn",
    "native": {
        "query": "SELECT sum(runs_last_24h) FROM public.admin_user_stats WHERE tier = {{tier}}",
        "template_tags": {"tier": {"type": "text", "display_name": "Tier"}},
    },
    "display": "scalar",
    "row": 6,
    "col": 0,
    "size_x": 6,
    "size_y": 4,
    "parameter_mappings": [{"parameter": "Tier", "tag": "tier"}],
}
PARAMETERS = [{"name": "Tier", "type": "string/="}]


@pytest.fixture
def db(fake):
    return seed(fake)


def dash_args(cards=None, **kwargs):
    args = dict(
        SESSION_AUTH,
        name="User Overview",
        collection="Cronicorn Admin",
        parameters=PARAMETERS,
        cards=copy.deepcopy([TOTAL, BY_TIER, RUNS_SQL] if cards is None else cards),
    )
    args.update(kwargs)
    return {k: v for k, v in args.items() if v is not None}


def run(run_module, check_mode=False, diff=False, **kwargs):
    outcome = run_module(module, dash_args(**kwargs), check_mode=check_mode, diff=diff)
    assert not outcome.failed, outcome.msg
    return outcome


def dashboard(fake):
    return fake.dashboard_named("User Overview")


def placed(fake):
    """(card name, row, col, size_x, size_y, tab) of every dashcard, sorted."""
    tabs = {t["id"]: t["name"] for t in dashboard(fake)["tabs"]}
    result = []
    for d in dashboard(fake)["dashcards"]:
        name = fake.cards[d["card_id"]]["name"] if d["card_id"] else d["visualization_settings"].get("text")
        result.append((name, d["row"], d["col"], d["size_x"], d["size_y"], tabs.get(d["dashboard_tab_id"])))
    return sorted(result)


def test_create_with_inline_cards_and_mapped_filters(fake, db, run_module):
    outcome = run(run_module, description="Who uses Cronicorn")
    assert outcome.changed is True
    assert [(c["name"], c["action"]) for c in outcome.result["cards"]] == [
        ("Total Users", "create"),
        ("Users by Tier", "create"),
        ("Runs of a tier", "create"),
    ]
    stored = dashboard(fake)
    collection = fake.collection_by_path("Cronicorn Admin")
    assert stored["collection_id"] == collection["id"]
    assert stored["description"] == "Who uses Cronicorn"
    assert [(p["name"], p["slug"], p["type"]) for p in stored["parameters"]] == [("Tier", "tier", "string/=")]
    assert placed(fake) == [
        ("Runs of a tier", 6, 0, 6, 4, None),
        ("Total Users", 0, 0, 6, 4, None),
        ("Users by Tier", 0, 6, 18, 6, None),
    ]
    assert all(fake.cards[d["card_id"]]["collection_id"] == collection["id"] for d in stored["dashcards"])
    param_id = stored["parameters"][0]["id"]
    table = fake.tables[db["id"]][0]
    mappings = {fake.cards[d["card_id"]]["name"]: d["parameter_mappings"] for d in stored["dashcards"]}
    by_tier = fake.card_named("Users by Tier")["id"]
    sql = fake.card_named("Runs of a tier")["id"]
    assert mappings["Users by Tier"] == [
        {
            "parameter_id": param_id,
            "target": ["dimension", ["field", fake.field_id(table, "tier"), None]],
            "card_id": by_tier,
        }
    ]
    assert mappings["Runs of a tier"] == [
        {"parameter_id": param_id, "target": ["variable", ["template-tag", "tier"]], "card_id": sql}
    ]
    # POST creates the dashboard, one PUT places the cards: tabs always sent, new dashcards negative
    dashboard_writes = [r for r in fake.requests if r.path.startswith("/api/dashboard/")]
    assert [r.method for r in dashboard_writes] == ["POST", "PUT"]
    put = dashboard_writes[1].body
    assert put["tabs"] == []
    assert sorted(d["id"] for d in put["dashcards"]) == [-3, -2, -1]
    assert outcome.result["dashboard"]["id"] == stored["id"]
    assert outcome.result["dashboard"]["collection"] == "Cronicorn Admin"
    secrets_absent(fake, outcome)


@pytest.mark.parametrize("mbql_version", [5, 4])
def test_second_run_writes_nothing_with_constant_requests(fake, db, run_module, mbql_version):
    fake.mbql_version = mbql_version
    run(run_module)
    fake.requests.clear()
    outcome = run(run_module)
    assert outcome.changed is False
    assert writes(fake) == []
    stored = dashboard(fake)
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/api/session/"),
        ("GET", "/api/collection/"),
        ("GET", f"/api/collection/{stored['collection_id']}/items"),
        ("GET", f"/api/dashboard/{stored['id']}"),
        ("GET", "/api/database/"),
        ("GET", f"/api/database/{db['id']}/metadata"),
        ("DELETE", "/api/session/"),
    ]


def test_cards_reduced_to_their_id_are_read_on_their_own(fake, db, run_module):
    """Metabase reduces a dashcard's card to {"id": n} when it cannot be read in full: no flapping."""
    run(run_module)
    fake.reduced_cards = frozenset(d["card_id"] for d in dashboard(fake)["dashcards"])
    fake.requests.clear()
    outcome = run(run_module)
    assert outcome.changed is False
    assert writes(fake) == []
    assert fake.count("GET") == 5 + 3  # the no-op reads plus one GET /api/card/{id} per card


def test_noop_requests_do_not_grow_with_the_cards(fake, db, run_module):
    """The no-op run reads each list once: 30 cards cost what 3 do (the cards come with the dashboard)."""
    cards = []
    for number in range(30):
        card = copy.deepcopy(TOTAL)
        card.update(name=f"Card {number}", row=4 * (number // 4), col=6 * (number % 4))
        cards.append(card)
    run(run_module, cards=cards, parameters=None)
    fake.requests.clear()
    outcome = run_module(module, dash_args(cards=cards, parameters=None, **KEY_AUTH))
    assert outcome.changed is False
    assert len(fake.requests) == 5


def test_check_mode_writes_nothing(fake, db, run_module):
    outcome = run(run_module, check_mode=True, diff=True)
    assert outcome.changed is True
    assert writes(fake) == []
    assert outcome.result["dashboard"]["id"] < 0
    headers = [d["before_header"] for d in outcome.result["diff"]]
    assert headers == [
        "collection Cronicorn Admin",
        "card Total Users",
        "card Users by Tier",
        "card Runs of a tier",
        "dashboard User Overview",
    ]
    assert run(run_module).changed is True
    assert run(run_module, check_mode=True).changed is False
    fake.requests.clear()
    moved = copy.deepcopy([TOTAL, BY_TIER, RUNS_SQL])
    moved[0]["row"] = 12
    assert run(run_module, cards=moved, check_mode=True).changed is True
    assert writes(fake) == []


def test_moving_a_card_keeps_every_dashcard_id(fake, db, run_module):
    run(run_module)
    ids = sorted(d["id"] for d in dashboard(fake)["dashcards"])
    moved = copy.deepcopy([TOTAL, BY_TIER, RUNS_SQL])
    moved[0].update(row=10, size_x=12)
    fake.requests.clear()
    outcome = run(run_module, cards=moved, diff=True)
    assert outcome.changed is True
    assert writes(fake) == [("PUT", f"/api/dashboard/{dashboard(fake)['id']}")]
    assert fake.dashcard_writes[-1] == {"kept": ids, "created": 0, "deleted": []}
    assert ("Total Users", 10, 0, 12, 4, None) in placed(fake)
    diff = outcome.result["diff"][-1]
    assert {"card": "Total Users", "row": 0, "col": 0, "size_x": 6, "size_y": 4} in diff["before"]["cards"]
    assert {"card": "Total Users", "row": 10, "col": 0, "size_x": 12, "size_y": 4} in diff["after"]["cards"]
    assert run(run_module, cards=moved).changed is False


def test_a_card_removed_from_the_definition_leaves_the_dashboard(fake, db, run_module):
    run(run_module)
    removed = next(d["id"] for d in dashboard(fake)["dashcards"] if fake.cards[d["card_id"]]["name"] == "Total Users")
    outcome = run(run_module, cards=[BY_TIER, RUNS_SQL])
    assert outcome.changed is True
    assert fake.dashcard_writes[-1]["deleted"] == [removed]
    assert fake.dashcard_writes[-1]["created"] == 0
    assert [p[0] for p in placed(fake)] == ["Runs of a tier", "Users by Tier"]
    assert fake.card_named("Total Users")["archived"] is False  # the card stays, only its place goes
    assert run(run_module, cards=[BY_TIER, RUNS_SQL]).changed is False


def test_adding_a_card_keeps_the_others(fake, db, run_module):
    run(run_module, cards=[TOTAL])
    kept = [d["id"] for d in dashboard(fake)["dashcards"]]
    run(run_module)
    assert fake.dashcard_writes[-1] == {"kept": kept, "created": 2, "deleted": []}
    body = [r.body for r in fake.requests if r.method == "PUT" and r.path.startswith("/api/dashboard/")][-1]
    assert sorted(d["id"] for d in body["dashcards"]) == sorted([-2, -1, *kept])


def test_changing_one_inline_card_writes_that_card_only(fake, db, run_module):
    run(run_module)
    changed = copy.deepcopy([TOTAL, BY_TIER, RUNS_SQL])
    changed[1]["query"]["limit"] = 3
    fake.requests.clear()
    outcome = run(run_module, cards=changed)
    assert outcome.changed is True
    assert writes(fake) == [("PUT", f"/api/card/{fake.card_named('Users by Tier')['id']}")]
    assert [c["action"] for c in outcome.result["cards"]] == ["none", "update", "none"]


def test_tabs(fake, db, run_module):
    cards = copy.deepcopy([TOTAL, BY_TIER, RUNS_SQL])
    cards[2]["tab"] = "Details"
    run(run_module, cards=cards, tabs=["Overview", "Details"])
    assert placed(fake) == [
        ("Runs of a tier", 6, 0, 6, 4, "Details"),
        ("Total Users", 0, 0, 6, 4, "Overview"),
        ("Users by Tier", 0, 6, 18, 6, "Overview"),
    ]
    tab_ids = [t["id"] for t in dashboard(fake)["tabs"]]
    assert run(run_module, cards=cards, tabs=["Overview", "Details"]).changed is False
    cards[0]["tab"] = "Details"
    fake.requests.clear()
    run(run_module, cards=cards, tabs=["Overview", "Details"])
    body = next(r.body for r in fake.requests if r.method == "PUT")
    assert body["tabs"] == [{"id": tab_ids[0], "name": "Overview"}, {"id": tab_ids[1], "name": "Details"}]
    assert [t["id"] for t in dashboard(fake)["tabs"]] == tab_ids
    assert ("Total Users", 0, 0, 6, 4, "Details") in placed(fake)


def test_tabs_are_sent_with_every_dashcard_change(fake, db, run_module):
    """Trap 4: a PUT with dashcards but without tabs deletes every tab."""
    run(run_module, tabs=["Overview"])
    tab_id = dashboard(fake)["tabs"][0]["id"]
    moved = copy.deepcopy([TOTAL, BY_TIER, RUNS_SQL])
    moved[0]["row"] = 20
    run(run_module, cards=moved, tabs=["Overview"])
    assert [t["id"] for t in dashboard(fake)["tabs"]] == [tab_id]
    assert run(run_module, cards=moved, tabs=["Overview"]).changed is False


@pytest.mark.parametrize(
    ("change", "expected_keys"),
    [
        ({"description": "New"}, ["description"]),
        ({"parameters": [*PARAMETERS, {"name": "Since", "type": "date/all-options"}]}, ["parameters"]),
        ({"tabs": ["Main"]}, ["tabs", "dashcards"]),
    ],
    ids=["description", "parameters", "tabs"],
)
def test_update_sends_only_what_differs(fake, db, run_module, change, expected_keys):
    run(run_module, description="Old")
    fake.requests.clear()
    outcome = run(run_module, **dict({"description": "Old"}, **change))
    assert outcome.changed is True
    puts = [r for r in fake.requests if r.method == "PUT"]
    assert len(puts) == 1
    assert sorted(puts[0].body) == sorted(expected_keys)
    assert run(run_module, **dict({"description": "Old"}, **change)).changed is False


def test_existing_parameter_ids_are_kept(fake, db, run_module):
    run(run_module)
    stored = dashboard(fake)
    stored["parameters"][0]["id"] = "a1b2c3d4"  # as the UI made it
    for dashcard in stored["dashcards"]:
        for mapping in dashcard["parameter_mappings"]:
            mapping["parameter_id"] = "a1b2c3d4"
    assert run(run_module).changed is False
    run(run_module, parameters=[{"name": "Tier", "type": "string/=", "default": "free"}])
    assert dashboard(fake)["parameters"][0]["id"] == "a1b2c3d4"
    assert dashboard(fake)["parameters"][0]["default"] == "free"


def test_mbql5_field_refs_in_mapping_targets_read_the_same(fake, db, run_module):
    """Mapping targets are legacy refs today; should Metabase return MBQL 5 refs, nothing flaps."""
    run(run_module)
    table = fake.tables[db["id"]][0]
    for dashcard in dashboard(fake)["dashcards"]:
        for mapping in dashcard["parameter_mappings"]:
            if mapping["target"][1][0] == "field":
                field_id = mapping["target"][1][1]
                mapping["target"] = ["dimension", ["field", {"lib/uuid": "x", "base-type": "type/Text"}, field_id]]
                assert field_id == fake.field_id(table, "tier")
    assert run(run_module).changed is False


def test_a_card_archived_by_hand_is_recreated_and_placed_back(fake, db, run_module):
    run(run_module)
    old = fake.card_named("Users by Tier")
    old["archived"] = True
    outcome = run(run_module, diff=True)
    assert outcome.changed is True
    new = fake.card_named("Users by Tier")
    assert new["id"] != old["id"]
    assert new["id"] in [d["card_id"] for d in dashboard(fake)["dashcards"]]
    assert old["id"] not in [d["card_id"] for d in dashboard(fake)["dashcards"]]
    before = outcome.result["diff"][-1]["before"]["cards"]
    assert any(c["card"] == "Users by Tier (archived)" for c in before)
    assert run(run_module).changed is False


def test_a_card_deleted_by_hand_is_recreated_and_placed_back(fake, db, run_module):
    run(run_module)
    old = fake.card_named("Total Users")
    del fake.cards[old["id"]]
    dashboard(fake)["dashcards"] = [d for d in dashboard(fake)["dashcards"] if d["card_id"] != old["id"]]
    assert run(run_module).changed is True
    assert ("Total Users", 0, 0, 6, 4, None) in placed(fake)
    assert run(run_module).changed is False


def test_referenced_cards(fake, db, run_module):
    card_args = dict(SESSION_AUTH, name="Shared count", collection="Shared", database="Cronicorn")
    card_args["native"] = {"query": "SELECT count(*) FROM public.admin_user_stats WHERE tier = {{t}}"}
    card_args["native"]["template_tags"] = {"t": {"type": "text"}}
    assert not run_module(metabase_card, card_args).failed
    entry = {"card": "Shared count", "collection": "Shared", "row": 0, "col": 12, "parameter_mappings": []}
    entry["parameter_mappings"] = [{"parameter": "Tier", "tag": "t"}]
    outcome = run(run_module, cards=[TOTAL, entry])
    shared = fake.card_named("Shared count")
    assert shared["id"] in [d["card_id"] for d in dashboard(fake)["dashcards"]]
    assert [c["name"] for c in outcome.result["cards"]] == ["Total Users"]
    assert run(run_module, cards=[TOTAL, entry]).changed is False
    assert fake.card_named("Shared count")["collection_id"] == fake.collection_by_path("Shared")["id"]


def test_unknown_referenced_card_fails_with_close_matches(fake, db, run_module):
    run(run_module)
    outcome = run_module(module, dash_args(cards=[TOTAL, {"card": "Users by Teir", "row": 0, "col": 6}]))
    assert outcome.failed
    assert (
        "Unknown card 'Users by Teir' in collection 'Cronicorn Admin' (cards[1]). Close matches: 'Users by Tier'"
        in (outcome.msg)
    )


def test_unknown_referenced_card_in_check_mode_is_a_warning(fake, db, run_module):
    outcome = run_module(module, dash_args(cards=[{"card": "Later", "row": 0, "col": 0}]), check_mode=True)
    assert not outcome.failed, outcome.msg
    assert outcome.changed is True
    assert "assuming an earlier task creates it" in outcome.warnings[0]


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (
            {"parameter": "Teir", "column": "tier"},
            "Unknown dashboard parameter 'Teir' (cards[1].parameter_mappings[0]). ",
        ),
        ({"parameter": "Tier", "column": "teir"}, "Unknown column 'teir' in table 'public.admin_user_stats'"),
        ({"parameter": "Tier", "tag": "tier"}, "tag goes with a native (SQL) card"),
        ({"parameter": "Tier"}, "give exactly one of column"),
    ],
)
def test_wrong_mappings_fail_with_a_message(fake, db, run_module, mapping, expected):
    cards = copy.deepcopy([TOTAL, BY_TIER])
    cards[1]["parameter_mappings"] = [mapping]
    outcome = run_module(module, dash_args(cards=cards))
    assert outcome.failed
    assert expected in outcome.msg


def test_unknown_template_tag_fails_with_close_matches(fake, db, run_module):
    cards = copy.deepcopy([RUNS_SQL])
    cards[0]["parameter_mappings"] = [{"parameter": "Tier", "tag": "tiers"}]
    outcome = run_module(module, dash_args(cards=cards))
    assert outcome.failed
    assert "Unknown template tag 'tiers' (cards[0].parameter_mappings[0]). Close matches: 'tier'" in outcome.msg


def test_unknown_tab_fails(fake, db, run_module):
    cards = copy.deepcopy([TOTAL])
    cards[0]["tab"] = "Overveiw"
    outcome = run_module(module, dash_args(cards=cards, tabs=["Overview"]))
    assert outcome.failed
    assert "Unknown tab 'Overveiw' (cards[0]). Close matches: 'Overview'" in outcome.msg


def test_an_inline_card_defined_twice_differently_fails(fake, db, run_module):
    twice = copy.deepcopy(TOTAL)
    twice.update(row=8, display="table")
    outcome = run_module(module, dash_args(cards=[TOTAL, twice]))
    assert outcome.failed
    assert "the inline card 'Total Users' is defined twice, differently" in outcome.msg
    same = dict(copy.deepcopy(TOTAL), row=8)
    assert run(run_module, cards=[TOTAL, same]).changed is True
    assert len(dashboard(fake)["dashcards"]) == 2
    assert run(run_module, cards=[TOTAL, same]).changed is False


def test_text_and_heading_cards(fake, db, run_module):
    cards = [
        TOTAL,
        {"heading": "Usage", "row": 4, "col": 0, "size_x": 24, "size_y": 1},
        {"text": "*Hi*", "row": 5, "col": 0},
    ]
    run(run_module, cards=cards)
    virtual = [d for d in dashboard(fake)["dashcards"] if d["card_id"] is None]
    assert sorted(d["visualization_settings"]["virtual_card"]["display"] for d in virtual) == ["heading", "text"]
    assert run(run_module, cards=cards).changed is False
    cards[2] = {"text": "*Hello*", "row": 5, "col": 0}
    run(run_module, cards=cards)
    assert fake.dashcard_writes[-1]["created"] == 0


def test_absent_archives_the_dashboard_only(fake, db, run_module):
    run(run_module)
    stored = dashboard(fake)
    fake.requests.clear()
    outcome = run_module(module, dict(SESSION_AUTH, name="User Overview", collection="Cronicorn Admin", state="absent"))
    assert outcome.changed is True
    assert writes(fake) == [("PUT", f"/api/dashboard/{stored['id']}")]
    assert fake.dashboards[stored["id"]]["archived"] is True
    assert fake.card_named("Total Users")["archived"] is False
    again = run_module(module, dict(SESSION_AUTH, name="User Overview", collection="Cronicorn Admin", state="absent"))
    assert again.changed is False


def test_cards_omitted_leaves_the_layout_alone(fake, db, run_module):
    run(run_module)
    outcome = run_module(module, dict(SESSION_AUTH, name="User Overview", collection="Cronicorn Admin"))
    assert outcome.changed is False
    assert len(dashboard(fake)["dashcards"]) == 3


def test_failure_shows_no_secret(fake, db, run_module):
    fake.fail_next(400, {"message": "refused " + SESSION_AUTH["password"]}, method="PUT")
    outcome = run_module(module, dash_args())
    assert outcome.failed
    assert "PUT /api/dashboard/" in outcome.msg
    assert outcome.result["changed"] is True
    secrets_absent(fake, outcome)
