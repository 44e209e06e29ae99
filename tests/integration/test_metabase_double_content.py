"""The content modules against the Metabase API double, through ansible-playbook.

After setup and registration (the playbook of test_metabase_double_modules.py) and the double's
sync, one play applies a collection and a dashboard whose questions are inline (a simple question
with a temporal breakout and a filter, a native one with a variable mapped to a dashboard filter):
the first run creates them, a second run changes nothing and writes nothing, a check-mode run with
diff reports nothing, a card archived by hand is recreated, metabase_info exports the dashboard and
the export applies back with no write, and every request the double accepted is valid against the
OpenAPI spec.
"""

from __future__ import annotations

import pytest
import yaml
from ansible_runs import Run
from double_playbooks import DoubleScenario, contract_problems, leaks, ok, writes
from test_metabase_double_api import wait_synced
from test_metabase_double_modules import PLAYBOOK as REGISTRATION

CONTENT = """
- name: Dashboards as code through the collection's modules
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/cronicorn.monitoring.metabase:
      url: "{{ mb_url }}"
      username: "{{ mb_admin_email }}"
      password: "{{ mb_admin_password }}"
  tasks:
    - name: The collection
      cronicorn.monitoring.metabase_collection:
        path: Cronicorn Admin/Operations
        description: Kept by Ansible

    - name: The dashboard, its questions inline
      cronicorn.monitoring.metabase_dashboard:
        name: Visible overview
        collection: Cronicorn Admin/Operations
        description: What the reader sees
        parameters:
          - name: Name
            type: string/=
        tabs: [Numbers, Rows]
        cards:
          - name: Visible rows
            database: Cronicorn
            query:
              source_table: public.visible
              aggregations: [count, {sum: amount}]
            display: table
            row: 0
            col: 0
            size_x: 12
            size_y: 4
          - name: Amount by month
            database: Cronicorn
            query:
              source_table: visible
              aggregations: [{sum: amount}]
              breakouts: [{column: created_at, unit: month}]
              filters: [{column: amount, operator: ">", value: 0}]
              order_by: [{aggregation: 0, direction: desc}]
            display: bar
            row: 0
            col: 12
            size_x: 12
            size_y: 6
            parameter_mappings:
              - {parameter: Name, column: name}
          - name: Rows named
            database: Cronicorn
            native:
              query: !unsafe "SELECT id, name, amount FROM public.visible WHERE name = {{name}}"
              template_tags:
                name: {type: text, display_name: Name, default: alpha}
            row: 0
            col: 0
            size_x: 24
            size_y: 6
            tab: Rows
            parameter_mappings:
              - {parameter: Name, tag: name}
          - heading: Rows of the visible table
            row: 6
            col: 0
            size_x: 24
            size_y: 1
            tab: Rows
      register: dashboard

    - name: Export it
      cronicorn.monitoring.metabase_info:
        collection: Cronicorn Admin/Operations
        dashboard: Visible overview
      register: exported

    - name: Write the export
      ansible.builtin.copy:
        content: "{{ exported.dashboard_definition | to_nice_yaml(indent=2) }}"
        dest: "{{ playbook_dir }}/exported.yml"
        mode: "0600"
"""

APPLY_EXPORT = """
- name: Apply an exported dashboard (read as data, so that SQL variables are not templated)
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    exported: "{{ lookup('ansible.builtin.file', playbook_dir ~ '/exported.yml') | ansible.builtin.from_yaml }}"
  tasks:
    - name: Apply it
      cronicorn.monitoring.metabase_dashboard:
        url: "{{ mb_url }}"
        username: "{{ mb_admin_email }}"
        password: "{{ mb_admin_password }}"
        name: "{{ exported.name }}"
        collection: "{{ exported.collection }}"
        description: "{{ exported.description | default(omit) }}"
        parameters: "{{ exported.parameters | default(omit) }}"
        tabs: "{{ exported.tabs | default(omit) }}"
        cards: "{{ exported.cards }}"
"""


def apply_content(scenario: DoubleScenario, *options: str) -> Run:
    return scenario.play("content.yml", CONTENT, *options)


@pytest.fixture(scope="module")
def scenario(double_scenario) -> DoubleScenario:
    """The double after setup and registration (the playbook of test_metabase_double_modules.py) and its sync."""
    registered = double_scenario.play("registration.yml", REGISTRATION)
    assert registered.rc == 0, registered.output[-5000:]
    admin = double_scenario.admin()
    database = ok(admin.get("/api/database/"))["data"][0]
    wait_synced(admin, database["id"], {"visible", "visible_summary", "partial"})
    return double_scenario


def test_first_run_creates_a_second_run_writes_nothing(scenario):
    first = apply_content(scenario)
    assert first.rc == 0, first.output[-5000:]
    assert first.changed == 3, first.output[-5000:]  # collection, dashboard, the export file
    admin = scenario.admin()
    items = ok(admin.get("/api/collection/root/items"))["data"]
    top = next(i for i in items if i["name"] == "Cronicorn Admin")
    operations = next(
        i for i in ok(admin.get(f"/api/collection/{top['id']}/items"))["data"] if i["model"] == "collection"
    )
    content = ok(admin.get(f"/api/collection/{operations['id']}/items"))["data"]
    assert sorted((i["model"], i["name"]) for i in content) == [
        ("card", "Amount by month"),
        ("card", "Rows named"),
        ("card", "Visible rows"),
        ("dashboard", "Visible overview"),
    ]
    dashboard = ok(admin.get(f"/api/dashboard/{next(i['id'] for i in content if i['model'] == 'dashboard')}"))
    assert [t["name"] for t in dashboard["tabs"]] == ["Numbers", "Rows"]
    assert len(dashboard["dashcards"]) == 4

    before = len(scenario.journal())
    second = apply_content(scenario)
    assert second.rc == 0, second.output[-5000:]
    assert second.changed == 0, second.output[-5000:]
    assert writes(scenario.journal()[before:]) == []

    check = apply_content(scenario, "--check", "--diff")
    assert check.rc == 0, check.output[-5000:]
    assert check.changed == 0, check.output[-5000:]


def test_a_card_archived_by_hand_is_recreated(scenario):
    admin = scenario.admin()
    found = [c for c in ok(admin.get("/api/card/")) if c["name"] == "Rows named" and not c["archived"]]
    assert len(found) == 1
    ok(admin.put(f"/api/card/{found[0]['id']}", {"archived": True}))
    run = apply_content(scenario)
    assert run.rc == 0, run.output[-5000:]
    assert run.changed == 1, run.output[-5000:]
    again = [c for c in ok(admin.get("/api/card/")) if c["name"] == "Rows named" and not c["archived"]]
    assert len(again) == 1
    assert again[0]["id"] != found[0]["id"]
    assert apply_content(scenario).changed == 0


def test_the_export_applies_back_with_no_write(scenario):
    exported = yaml.safe_load((scenario.workdir / "exported.yml").read_text(encoding="utf-8"))
    assert exported["name"] == "Visible overview"
    assert {c.get("name") or c.get("heading") for c in exported["cards"]} == {
        "Visible rows",
        "Amount by month",
        "Rows named",
        "Rows of the visible table",
    }
    before = len(scenario.journal())
    run = scenario.play("apply-export.yml", APPLY_EXPORT)
    assert run.rc == 0, run.output[-5000:]
    assert run.changed == 0, run.output[-5000:]
    assert writes(scenario.journal()[before:]) == []


def test_every_request_the_modules_sent_matches_the_openapi_spec(scenario):
    assert contract_problems(scenario.journal()) == []


def test_no_secret_in_the_double_logs_or_the_playbook_output(scenario):
    assert leaks(scenario) == []
