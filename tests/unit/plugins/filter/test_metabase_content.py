"""The metabase_content filters: dashboard files to metabase_dashboard arguments (directories, overrides, cards
defined once and placed elsewhere, placeholders, errors that name the file), a definition back to a file, and
the shipped files themselves."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from controller_imports import module_side_kept

with module_side_kept():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.cronicorn.monitoring.plugins.filter.metabase_content import (
        FilterModule,
        metabase_content_dashboards,
        metabase_content_export,
        metabase_content_missing_tables,
        metabase_content_tables,
        metabase_content_yaml,
    )

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "tests" / "fixtures" / "cronicorn"))
from contract import EXAMPLE_QUESTIONS, EXAMPLE_TABLES, VIEWS  # noqa: E402

SHIPPED = REPO / "roles" / "metabase_content" / "files" / "dashboards"
DEFAULTS = yaml.safe_load((REPO / "roles" / "metabase_content" / "defaults" / "main.yml").read_text(encoding="utf-8"))
PRICES = {"tier_prices": {"free": 0, "pro": 29, "enterprise": 99}}

TOTAL = {
    "name": "Total Users",
    "display": "scalar",
    "query": {"source_table": "admin_user_stats", "aggregations": ["count"]},
    "row": 0,
    "col": 0,
    "size_x": 6,
    "size_y": 4,
}


def write(directory: Path, name: str, data) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def dashboards(*directories, **kwargs):
    return metabase_content_dashboards([str(d) for d in directories], **kwargs)


def test_a_file_becomes_the_module_arguments(tmp_path):
    write(tmp_path, "overview.yml", {"name": "Overview", "description": "d", "cards": [TOTAL]})
    assert dashboards(tmp_path, database="Cronicorn") == [
        {
            "name": "Overview",
            "description": "d",
            "collection": "Cronicorn Admin",
            "cards": [dict(TOTAL, database="Cronicorn")],
        }
    ]


def test_only_yaml_files_are_read_in_name_order(tmp_path):
    write(tmp_path, "b.yaml", {"name": "B", "cards": []})
    write(tmp_path, "a.yml", {"name": "A", "cards": []})
    write(tmp_path, "notes.txt", "not a dashboard")
    write(tmp_path, ".hidden.yml", "{")
    assert [d["name"] for d in dashboards(tmp_path)] == ["A", "B"]


def test_the_collection_nests_below_the_roles_collection(tmp_path):
    write(tmp_path, "a.yml", {"name": "A", "collection": "Operations/Daily", "cards": []})
    assert dashboards(tmp_path, collection="Cronicorn Admin")[0]["collection"] == "Cronicorn Admin/Operations/Daily"


def test_a_later_directory_replaces_a_dashboard_of_the_same_name(tmp_path):
    write(tmp_path / "shipped", "a.yml", {"name": "A", "description": "shipped", "cards": []})
    write(tmp_path / "mine", "x.yml", {"name": "A", "description": "mine", "cards": []})
    result = dashboards(tmp_path / "shipped", tmp_path / "mine")
    assert [(d["name"], d["description"]) for d in result] == [("A", "mine")]


def test_the_same_dashboard_twice_in_one_directory_is_an_error(tmp_path):
    write(tmp_path, "a.yml", {"name": "A", "cards": []})
    write(tmp_path, "b.yml", {"name": "A", "cards": []})
    with pytest.raises(AnsibleFilterError, match=r"dashboard 'A' is defined twice .*a\.yml and .*b\.yml"):
        dashboards(tmp_path)


def test_a_placed_card_gets_the_definition_of_the_set(tmp_path):
    write(tmp_path, "a.yml", {"name": "A", "cards": [TOTAL]})
    write(
        tmp_path,
        "b.yml",
        {"name": "B", "cards": [{"card": "Total Users", "row": 3, "col": 4, "size_x": 8, "size_y": 5}]},
    )
    placed = dashboards(tmp_path, database="Cronicorn")[1]["cards"][0]
    assert placed == dict(TOTAL, row=3, col=4, size_x=8, size_y=5, database="Cronicorn")
    assert "card" not in placed


def test_a_card_the_set_does_not_define_is_left_to_the_module(tmp_path):
    write(
        tmp_path,
        "a.yml",
        {"name": "A", "cards": [{"card": "Built in the UI", "row": 0, "col": 0, "size_x": 4, "size_y": 4}]},
    )
    assert dashboards(tmp_path, database="Cronicorn")[0]["cards"] == [
        {"card": "Built in the UI", "row": 0, "col": 0, "size_x": 4, "size_y": 4}
    ]


def test_two_different_definitions_of_one_card_are_an_error(tmp_path):
    write(tmp_path, "a.yml", {"name": "A", "cards": [TOTAL]})
    write(tmp_path, "b.yml", {"name": "B", "cards": [dict(TOTAL, display="table")]})
    with pytest.raises(AnsibleFilterError, match=r"card 'Total Users' is defined differently in .*a\.yml and .*b\.yml"):
        dashboards(tmp_path)


def test_the_same_definition_twice_is_fine(tmp_path):
    write(tmp_path, "a.yml", {"name": "A", "cards": [TOTAL]})
    write(tmp_path, "b.yml", {"name": "B", "cards": [dict(TOTAL, row=9)]})
    assert [len(d["cards"]) for d in dashboards(tmp_path)] == [1, 1]


def test_a_card_with_its_own_database_keeps_it(tmp_path):
    write(tmp_path, "a.yml", {"name": "A", "cards": [dict(TOTAL, database="Other")]})
    assert dashboards(tmp_path, database="Cronicorn")[0]["cards"][0]["database"] == "Other"


def test_placeholders_become_a_values_list_and_metabase_tags_stay(tmp_path):
    sql = "SELECT * FROM (${tier_prices}) p (tier, price) WHERE price > {{min_price}}"
    write(tmp_path, "a.yml", {"name": "A", "cards": [{"name": "Prices", "native": {"query": sql}}]})
    values = {"tier_prices": {"pro": 29, "free": 0, "team's": 12.5}}
    query = dashboards(tmp_path, sql_values_map=values)[0]["cards"][0]["native"]["query"]
    assert query == (
        "SELECT * FROM (VALUES ('free', 0), ('pro', 29), ('team''s', 12.5)) p (tier, price) WHERE price > {{min_price}}"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, r"unknown placeholder \$\{tier_prices\}; known: none"),
        ({"tier_prices": {}}, "needs a non-empty mapping"),
        ({"tier_prices": {"pro": "29; DROP TABLE x"}}, None),  # text is quoted, never spliced
        ({"tier_prices": {"pro": None}}, "neither a number nor a text"),
        ({"tier_prices": {"pro": True}}, "neither a number nor a text"),
        ({"bad name": {"pro": 1}}, "is not an identifier"),
    ],
)
def test_placeholder_values_are_checked(tmp_path, values, message):
    write(tmp_path, "a.yml", {"name": "A", "cards": [{"name": "P", "native": {"query": "SELECT ${tier_prices}"}}]})
    if message is None:
        query = dashboards(tmp_path, sql_values_map=values)[0]["cards"][0]["native"]["query"]
        assert query == "SELECT VALUES ('pro', '29; DROP TABLE x')"
        return
    with pytest.raises(AnsibleFilterError, match=message):
        dashboards(tmp_path, sql_values_map=values)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("- a list", "holds one mapping"),
        ({"cards": []}, "needs a name"),
        ({"name": "A"}, "needs a list of cards"),
        ({"name": "A", "cards": [], "colour": "red"}, "unknown keys colour"),
        ({"name": "A", "cards": [{"display": "bar"}]}, "give exactly one of name, card, text, heading"),
        ({"name": "A", "cards": [{"name": "X", "card": "X"}]}, "give exactly one of name, card, text, heading"),
        ({"name": "A", "cards": [dict(TOTAL, native={"query": "SELECT 1"})]}, "give native .* or query"),
        ({"name": "A", "cards": [{"name": "X", "display": "bar"}]}, "give native .* or query"),
        ({"name": "A", "cards": [{"card": "X", "display": "bar"}]}, "'X' has display, which only a card defined"),
        ("name: [unclosed", "not valid YAML"),
    ],
)
def test_a_wrong_file_is_refused_with_its_path(tmp_path, data, message):
    write(tmp_path, "wrong.yml", data)
    with pytest.raises(AnsibleFilterError, match=message) as raised:
        dashboards(tmp_path)
    assert "wrong.yml" in str(raised.value)


def test_a_missing_directory_is_an_error_and_an_empty_name_is_none(tmp_path):
    with pytest.raises(AnsibleFilterError, match="does not exist"):
        dashboards(tmp_path / "missing")
    assert metabase_content_dashboards(["", str(tmp_path)]) == []


def test_export_is_relative_to_the_roles_collection_and_drops_the_default_database():
    definition = {
        "name": "A",
        "description": "",
        "collection": "Cronicorn Admin/Ops",
        "parameters": [],
        "tabs": [],
        "cards": [dict(TOTAL, database="Cronicorn")],
    }
    assert metabase_content_export(definition, "Cronicorn Admin", "Cronicorn") == {
        "name": "A",
        "collection": "Ops",
        "cards": [TOTAL],
    }


def test_export_refuses_a_dashboard_outside_the_collection():
    with pytest.raises(AnsibleFilterError, match="is in collection 'Elsewhere'"):
        metabase_content_export({"name": "A", "collection": "Elsewhere", "cards": []}, "Cronicorn Admin")


def test_an_exported_file_applies_back_to_the_same_arguments(tmp_path):
    write(tmp_path, "a.yml", {"name": "A", "collection": "Ops", "description": "d", "cards": [TOTAL]})
    (arguments,) = dashboards(tmp_path, database="Cronicorn")
    exported = metabase_content_export(arguments, "Cronicorn Admin", "Cronicorn")
    write(tmp_path / "again", "a.yml", exported)
    assert dashboards(tmp_path / "again", database="Cronicorn") == [arguments]


def test_a_file_is_written_as_the_shipped_ones_are(tmp_path):
    sql = "SELECT tier\nFROM admin_user_stats\n"
    definition = {"name": "A", "cards": [{"name": "Q", "native": {"query": sql}, "row": 0}]}
    text = metabase_content_yaml(definition)
    assert text == (
        "---\nname: A\ncards:\n  - name: Q\n    native:\n      query: |\n        SELECT tier\n"
        "        FROM admin_user_stats\n    row: 0\n"
    )
    assert yaml.safe_load(text) == definition
    (tmp_path / "a.yml").write_text(text, encoding="utf-8")
    assert dashboards(tmp_path)[0]["cards"][0]["native"]["query"] == sql


class Tagged(str):
    """Like the str subclasses Ansible hands a filter."""


class TaggedDict(dict):
    pass


def test_ansibles_own_types_are_written_as_plain_yaml():
    data = TaggedDict(name=Tagged("A"), cards=[TaggedDict(name=Tagged("Q"), row=0, native={"query": Tagged("S\nF")})])
    text = metabase_content_yaml(data)
    assert yaml.safe_load(text) == {"name": "A", "cards": [{"name": "Q", "row": 0, "native": {"query": "S\nF"}}]}
    with pytest.raises(AnsibleFilterError, match="cannot write"):
        metabase_content_yaml({"name": object()})


@pytest.mark.parametrize("text", ["trailing space \nnext", "tab\there\n", "no newline", "ünïcode\n"])
def test_any_text_survives_the_file(text):
    assert yaml.safe_load(metabase_content_yaml({"name": text}))["name"] == text


def test_the_tables_of_the_simple_questions(tmp_path):
    other = dict(TOTAL, name="Runs", query={"source_table": "cronicorn_monitoring.admin_daily_metrics"})
    native = {"name": "SQL", "native": {"query": "SELECT 1 FROM admin_top_jobs"}}
    write(tmp_path, "a.yml", {"name": "A", "cards": [TOTAL, other, native]})
    write(tmp_path, "b.yml", {"name": "B", "cards": [dict(TOTAL, row=9)]})
    assert metabase_content_tables(dashboards(tmp_path)) == [
        "admin_user_stats",
        "cronicorn_monitoring.admin_daily_metrics",
    ]


def test_missing_tables_by_name_or_schema_and_name():
    metadata = {"tables": [{"schema": "cronicorn_monitoring", "name": "admin_user_stats"}, {"name": "plain"}]}
    wanted = ["admin_user_stats", "cronicorn_monitoring.admin_user_stats", "plain", "public.admin_user_stats", "gone"]
    assert metabase_content_missing_tables(wanted, metadata) == ["public.admin_user_stats", "gone"]
    assert metabase_content_missing_tables(["a"], {}) == ["a"]


def test_the_filters_are_registered():
    assert set(FilterModule().filters()) == {
        "metabase_content_dashboards",
        "metabase_content_export",
        "metabase_content_yaml",
        "metabase_content_tables",
        "metabase_content_missing_tables",
    }


# The shipped set (roles/metabase_content/files/dashboards)

SHIPPED_SET = metabase_content_dashboards(
    [str(SHIPPED)], database="Cronicorn", sql_values_map={"tier_prices": DEFAULTS["metabase_content_tier_prices"]}
)
BY_NAME = {d["name"]: d for d in SHIPPED_SET}


def test_the_shipped_dashboards_are_the_guides():
    assert set(BY_NAME) == {
        "User Overview",
        "Executive",
        "Operations",
        "Growth",
        "Cost Management",
        "Example Questions",
    }


def test_user_overview_is_built_as_the_guide_builds_it():
    cards = {c["name"]: c for c in BY_NAME["User Overview"]["cards"]}
    assert list(cards) == ["Total Users", "Users by Tier", "Most Active Users (24h)"]
    assert cards["Total Users"]["query"] == {"source_table": "admin_user_stats", "aggregations": ["count"]}
    assert cards["Users by Tier"]["display"] == "bar"
    assert cards["Users by Tier"]["query"] == {
        "source_table": "admin_user_stats",
        "aggregations": ["count"],
        "breakouts": ["tier"],
    }
    assert cards["Most Active Users (24h)"]["query"] == {
        "source_table": "admin_user_run_stats",
        "fields": ["email", "runs_last_24h", "runs_last_7d", "success_rate_percent"],
        "filters": [{"column": "runs_last_24h", "operator": ">", "value": 0}],
        "order_by": [{"column": "runs_last_24h", "direction": "desc"}],
    }


def test_the_example_questions_are_the_views_contracts_verbatim():
    queries = [c["native"]["query"] for c in BY_NAME["Example Questions"]["cards"]]
    assert queries == list(EXAMPLE_QUESTIONS)


def test_every_shipped_card_reads_the_views_or_the_example_tables():
    for dashboard in SHIPPED_SET:
        for card in dashboard["cards"]:
            if "query" in card:
                assert card["query"]["source_table"] in VIEWS, card["name"]
            elif dashboard["name"] != "Example Questions":
                sql = card["native"]["query"]
                assert any(view in sql for view in VIEWS), card["name"]
                assert not any(f" {table} " in sql for table in EXAMPLE_TABLES if table != "user"), card["name"]


def test_shipped_cards_do_not_overlap_on_the_grid():
    for dashboard in SHIPPED_SET:
        cells = {}
        for card in dashboard["cards"]:
            assert card["col"] + card["size_x"] <= 24, (dashboard["name"], card["name"])
            for row in range(card["row"], card["row"] + card["size_y"]):
                for col in range(card["col"], card["col"] + card["size_x"]):
                    assert (row, col) not in cells, (dashboard["name"], card["name"], cells.get((row, col)))
                    cells[(row, col)] = card["name"]
