"""The verify tests of the metabase_content role, shared by molecule/dev and molecule/production.

A scenario's test module imports the tests below and defines the fixture ``content_stack`` (a
:class:`ContentStack`): how it reaches Metabase, the seeded Cronicorn database, the double's request journal,
and how it runs site.yml and the export playbook. Tests that change something (a card changed, removed,
deleted by hand) put the shipped content back before they end, so that the next test (and the scenario's
repeat-run tests) find the converged stack.
"""

from __future__ import annotations

import contextlib
import dataclasses
import decimal
import pathlib
import sys
import tempfile
from collections.abc import Callable

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.cronicorn.monitoring.plugins.filter.metabase_content import (  # noqa: E402
    metabase_content_dashboards,
)
from site_run import recaps  # noqa: E402

ROLE = ROOT / "roles" / "metabase_content"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
COLLECTION = DEFAULTS["metabase_content_collection"]
SHIPPED = {
    d["name"]: d
    for d in metabase_content_dashboards(
        [str(ROLE / "files" / "dashboards")],
        collection=COLLECTION,
        sql_values_map={"tier_prices": DEFAULTS["metabase_content_tier_prices"]},
    )
}
SHIPPED_CARDS = sorted({card["name"] for d in SHIPPED.values() for card in d["cards"]})
WRITES = ("POST", "PUT", "DELETE")
LOGIN = "/api/session"  # a login is a POST that changes no content

# Independent SQL on the seeded base tables for the guide's three questions (not through the views).
TOTAL_USERS = 'SELECT count(*) FROM "user"'
USERS_BY_TIER = 'SELECT tier, count(*) FROM "user" GROUP BY tier'
# The views' windows are relative to the current UTC time; timestamps are stored as UTC.
MOST_ACTIVE = """
SELECT u.email,
       count(r.id) FILTER (WHERE r.started_at >= (now() AT TIME ZONE 'UTC') - interval '24 hours'),
       count(r.id) FILTER (WHERE r.started_at >= (now() AT TIME ZONE 'UTC') - interval '7 days'),
       round(100.0 * count(r.id) FILTER (WHERE r.status = 'success') / nullif(count(r.id), 0), 2)
FROM "user" u
LEFT JOIN jobs j ON j.user_id = u.id
LEFT JOIN job_endpoints e ON e.job_id = j.id
LEFT JOIN runs r ON r.endpoint_id = e.id
GROUP BY u.id, u.email
HAVING count(r.id) FILTER (WHERE r.started_at >= (now() AT TIME ZONE 'UTC') - interval '24 hours') > 0"""


@dataclasses.dataclass
class ContentStack:
    """What the shared tests need from a scenario."""

    api: object  # metabase_api.MetabaseAPI
    session: Callable[[], str]
    sql: Callable[[str], list[tuple]]  # a query on the Cronicorn database, as its owner
    journal: Callable[[int], list[tuple]]  # (id, method, path) of the double's requests after an id
    run: Callable[..., object]  # ansible-playbook <playbook> <args...> on the scenario's inventory
    hosts: tuple[str, ...]  # the hosts of the scenario's PLAY RECAP


def value(item):
    """A cell compared across PostgreSQL and Metabase's JSON: numbers as numbers, the rest as text."""
    if item is None or isinstance(item, bool):
        return item
    with contextlib.suppress(decimal.InvalidOperation, ValueError, TypeError):
        return float(decimal.Decimal(str(item)))
    return str(item)


def rows(table):
    return [tuple(value(cell) for cell in row) for row in table]


# -- reading Metabase ------------------------------------------------------------------------------


def collection_id(stack, path=COLLECTION):
    session = stack.session()
    parent = None
    for name in path.split("/"):
        found = [
            c
            for c in stack.api.call("GET", "/api/collection/", session=session)
            if c.get("name") == name
            and not c.get("archived")
            and isinstance(c.get("id"), int)
            and (parent is None or c.get("location", "").rstrip("/").split("/")[-1] == str(parent))
        ]
        assert len(found) == 1, f"collection {name!r}: {found}"
        parent = found[0]["id"]
    return parent


def items(stack, model):
    path = f"/api/collection/{collection_id(stack)}/items?models={model}"
    answer = stack.api.call("GET", path, session=stack.session())
    return {item["name"]: item for item in answer["data"] if item.get("model") == model}


def dashboard(stack, name):
    found = items(stack, "dashboard")
    assert name in found, f"no dashboard {name!r} in {COLLECTION}: {sorted(found)}"
    return stack.api.call("GET", f"/api/dashboard/{found[name]['id']}", session=stack.session())


def dashboard_cards(stack, name):
    """{card name: card id} of the cards on a dashboard."""
    return {d["card"]["name"]: d["card_id"] for d in dashboard(stack, name)["dashcards"] if d.get("card_id")}


def card_ids(stack):
    return {name: item["id"] for name, item in items(stack, "card").items()}


def run_card(stack, card_id):
    return stack.api.call("POST", f"/api/card/{card_id}/query", {}, session=stack.session())


def card_rows(stack, name):
    result = run_card(stack, card_ids(stack)[name])
    assert result["status"] == "completed", result.get("error")
    return result["data"]["rows"]


def last_journal_id(stack):
    entries = stack.journal(0)
    return entries[-1][0] if entries else 0


def writes_after(stack, mark):
    """(method, path) of the requests after ``mark`` that could change content (logins left out)."""
    return [
        (method, path) for _id, method, path in stack.journal(mark) if method in WRITES and not path.startswith(LOGIN)
    ]


def apply(stack, *args):
    """site.yml's content stage; returns the total changed count of its PLAY RECAP."""
    run = stack.run("site.yml", "--tags", "metabase_content", *args)
    assert run.returncode == 0, run.stdout[-4000:]
    counts = recaps(run.stdout)
    assert set(counts) == set(stack.hosts), counts
    return sum(c["changed"] for c in counts.values())


@contextlib.contextmanager
def operator_dir(files: dict[str, dict]):
    """A metabase_content_dir holding ``files`` ({file name: dashboard}), as -e arguments."""
    with tempfile.TemporaryDirectory() as directory:
        for file_name, content in files.items():
            (pathlib.Path(directory) / file_name).write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        yield ("-e", f"metabase_content_dir={directory}")


def shipped_file(name):
    return yaml.safe_load((ROLE / "files" / "dashboards" / name).read_text(encoding="utf-8"))


# -- the tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_dashboard_exists_with_its_cards(content_stack, name):
    placed = dashboard(content_stack, name)["dashcards"]
    wanted = [(c["name"], c["row"], c["col"], c["size_x"], c["size_y"]) for c in SHIPPED[name]["cards"]]
    found = [(d["card"]["name"], d["row"], d["col"], d["size_x"], d["size_y"]) for d in placed]
    assert sorted(found) == sorted(wanted)


@pytest.mark.parametrize("name", SHIPPED_CARDS)
def test_every_card_runs_through_metabase_and_returns_rows(content_stack, name):
    assert card_rows(content_stack, name), f"{name} returned no rows"


def test_total_users_equals_sql_on_the_seeded_data(content_stack):
    assert rows(card_rows(content_stack, "Total Users")) == rows(content_stack.sql(TOTAL_USERS))


def test_users_by_tier_equals_sql_on_the_seeded_data(content_stack):
    found = rows(card_rows(content_stack, "Users by Tier"))
    assert sorted(found) == sorted(rows(content_stack.sql(USERS_BY_TIER)))
    assert len(found) == 3  # free, pro, enterprise


def test_most_active_users_equals_sql_on_the_seeded_data(content_stack):
    found = rows(card_rows(content_stack, "Most Active Users (24h)"))
    expected = rows(content_stack.sql(MOST_ACTIVE))
    assert found, "nobody ran anything in the last 24 hours: the seed should have recent runs"
    assert sorted(found, key=repr) == sorted(expected, key=repr)
    assert [row[1] for row in found] == sorted((row[1] for row in found), reverse=True)  # busiest first


def test_changing_one_card_writes_that_card_only(content_stack):
    overview = shipped_file("user_overview.yml")
    changed = next(card for card in overview["cards"] if card["name"] == "Most Active Users (24h)")
    changed["query"]["limit"] = 5
    card_id = card_ids(content_stack)["Most Active Users (24h)"]
    mark = last_journal_id(content_stack)
    try:
        with operator_dir({"user_overview.yml": overview}) as extra:
            assert apply(content_stack, *extra) == 1
        assert writes_after(content_stack, mark) == [("PUT", f"/api/card/{card_id}")]
        assert len(card_rows(content_stack, "Most Active Users (24h)")) <= 5
    finally:
        apply(content_stack)
    assert card_ids(content_stack)["Most Active Users (24h)"] == card_id


def test_a_card_removed_from_a_file_leaves_the_dashboard(content_stack):
    overview = shipped_file("user_overview.yml")
    overview["cards"] = [card for card in overview["cards"] if card["name"] != "Most Active Users (24h)"]
    try:
        with operator_dir({"user_overview.yml": overview}) as extra:
            apply(content_stack, *extra)
        assert sorted(dashboard_cards(content_stack, "User Overview")) == ["Total Users", "Users by Tier"]
    finally:
        apply(content_stack)
    assert "Most Active Users (24h)" in dashboard_cards(content_stack, "User Overview")


def test_a_card_deleted_by_hand_is_recreated(content_stack):
    old_id = card_ids(content_stack)["Total Users"]
    content_stack.api.call("DELETE", f"/api/card/{old_id}", session=content_stack.session())
    assert "Total Users" not in card_ids(content_stack)
    assert apply(content_stack) > 0
    new_id = card_ids(content_stack)["Total Users"]
    assert new_id != old_id
    assert dashboard_cards(content_stack, "User Overview")["Total Users"] == new_id
    assert rows(card_rows(content_stack, "Total Users")) == rows(content_stack.sql(TOTAL_USERS))


def test_export_then_apply_round_trips(content_stack, tmp_path):
    """A shipped dashboard written to a file by the export playbook applies back with nothing to change, and
    exporting it again gives the same file."""
    first, second = tmp_path / "first" / "executive.yml", tmp_path / "second" / "executive.yml"
    for path in (first, second):
        path.parent.mkdir()
    export = ("-e", "metabase_content_export_dashboard=Executive")
    run = content_stack.run("playbooks/export_dashboard.yml", *export, "-e", f"metabase_content_export_file={first}")
    assert run.returncode == 0, run.stdout[-4000:]
    exported = yaml.safe_load(first.read_text(encoding="utf-8"))
    assert exported["name"] == "Executive"
    assert [card["name"] for card in exported["cards"]] == [card["name"] for card in SHIPPED["Executive"]["cards"]]
    assert all("query" in card or "native" in card for card in exported["cards"])
    mark = last_journal_id(content_stack)
    only_the_file = ("-e", "metabase_content_shipped=false", "-e", f"metabase_content_dir={first.parent}")
    assert apply(content_stack, *only_the_file) == 0
    assert writes_after(content_stack, mark) == []
    run = content_stack.run("playbooks/export_dashboard.yml", *export, "-e", f"metabase_content_export_file={second}")
    assert run.returncode == 0, run.stdout[-4000:]
    assert second.read_text(encoding="utf-8") == first.read_text(encoding="utf-8")
