"""The access modules against the Metabase API double, through ansible-playbook: the admin team in its
group, a person who left deactivated, All Users without query or content access, public sharing off,
the adaptive cache policy; then, as the people themselves: an outsider can log in but is refused the
database and the content collection, a team member gets both, the person who left cannot log in. A
second run changes nothing and writes nothing; a -vvv run shows no password.

The stack and its helpers are those of double_playbooks.py (the double_scenario fixture).
"""

from __future__ import annotations

import secrets

import pytest
from ansible_runs import Run
from double_playbooks import DoubleScenario, leaks, ok, writes
from test_metabase_double_api import ADMIN_EMAIL, ADMIN_PASSWORD, FORBIDDEN, SECRETS, wait_synced

GRACE_PASSWORD = "Gr-" + secrets.token_urlsafe(12)
LEAVER_PASSWORD = "Lv-" + secrets.token_urlsafe(12)
OUTSIDER_PASSWORD = "Ou-" + secrets.token_urlsafe(12)
SECRETS.update({GRACE_PASSWORD, LEAVER_PASSWORD, OUTSIDER_PASSWORD})

PLAYBOOK = """
- name: Access as code through the collection's modules
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/cronicorn.monitoring.metabase:
      url: "{{ mb_url }}"
      username: "{{ mb_admin_email }}"
      password: "{{ mb_admin_password }}"
  tasks:
    - name: Setup
      cronicorn.monitoring.metabase_setup:
        site_name: Cronicorn monitoring
        first_name: Ada
        last_name: Admin

    - name: Register the database
      cronicorn.monitoring.metabase_database:
        name: Cronicorn
        host: "{{ mb_db_host }}"
        port: 5432
        dbname: warehouse
        db_user: "{{ mb_db_user }}"
        db_password: "{{ mb_db_password }}"
        sync: true

    - name: The content collection
      cronicorn.monitoring.metabase_collection:
        path: Cronicorn Admin

    - name: The admin team's group
      cronicorn.monitoring.metabase_group:
        name: Cronicorn Admins

    - name: The team
      cronicorn.monitoring.metabase_user:
        email: "{{ item.email }}"
        first_name: "{{ item.first_name }}"
        superuser: false
        groups: [Cronicorn Admins]
        initial_password: "{{ item.initial_password }}"
      loop: "{{ team }}"
      loop_control:
        label: "{{ item.email }}"
      no_log: true

    - name: Exactly the team in the group
      cronicorn.monitoring.metabase_group:
        name: Cronicorn Admins
        members: "{{ team | map(attribute='email') | list }}"
        members_exclusive: true
      register: members

    - name: Deactivate who left
      cronicorn.monitoring.metabase_user:
        email: "{{ item }}"
        state: absent
      loop: "{{ members.removed }}"

    - name: All Users get nothing
      cronicorn.monitoring.metabase_permissions:
        group: All Users
        databases: [{database: Cronicorn, create_queries: "no", download: none}]
        collections: [{collection: Cronicorn Admin, access: none}]

    - name: The team's group
      cronicorn.monitoring.metabase_permissions:
        group: Cronicorn Admins
        databases:
          - {database: Cronicorn, view_data: unrestricted, create_queries: query-builder-and-native, download: full}
        collections: [{collection: Cronicorn Admin, access: read}]

    - name: No public links
      cronicorn.monitoring.metabase_setting:
        key: enable-public-sharing
        value: false

    - name: Adaptive caching
      cronicorn.monitoring.metabase_cache:
        strategy: ttl
        multiplier: 10
        min_duration_ms: 1000
"""

NATIVE = {"type": "native", "native": {"query": "SELECT name FROM visible ORDER BY id"}}


@pytest.fixture(scope="module")
def scenario(double_scenario) -> DoubleScenario:
    return double_scenario


def play(scenario: DoubleScenario, team: list[dict], *options: str) -> Run:
    return scenario.play("access.yml", PLAYBOOK, *options, team=team)


GRACE = {"email": "grace@example.com", "first_name": "Grace", "initial_password": GRACE_PASSWORD}
LEAVER = {"email": "leaver@example.com", "first_name": "Lee", "initial_password": LEAVER_PASSWORD}


def test_only_the_team_gets_in_and_a_second_run_changes_nothing(scenario):
    first = play(scenario, [GRACE, LEAVER])
    assert first.rc == 0, first.output[-5000:]
    admin = scenario.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    db_id = ok(admin.get("/api/database/"))["data"][0]["id"]
    wait_synced(admin, db_id)
    ok(admin.post("/api/user/", {"email": "outsider@example.com", "password": OUTSIDER_PASSWORD}))

    removed = play(scenario, [GRACE])  # the leaver is no longer on the list
    assert removed.rc == 0, removed.output[-5000:]
    assert "leaver@example.com" in removed.output

    collection = next(c for c in ok(admin.get("/api/collection/")) if c["name"] == "Cronicorn Admin")
    card = ok(
        admin.post(
            "/api/card/",
            {
                "name": "Names",
                "display": "table",
                "dataset_query": {"database": db_id, **NATIVE},
                "visualization_settings": {},
                "collection_id": collection["id"],
            },
        )
    )
    outsider = scenario.login("outsider@example.com", OUTSIDER_PASSWORD)
    assert outsider.post("/api/dataset", {"database": db_id, **NATIVE}).plain == FORBIDDEN
    assert outsider.get(f"/api/collection/{collection['id']}").plain == FORBIDDEN
    assert outsider.post(f"/api/card/{card['id']}/query").plain == FORBIDDEN

    grace = scenario.login("grace@example.com", GRACE_PASSWORD)
    assert ok(grace.post("/api/dataset", {"database": db_id, **NATIVE}), 202)["status"] == "completed"
    assert ok(grace.get(f"/api/collection/{collection['id']}"))["id"] == collection["id"]
    assert ok(grace.post(f"/api/card/{card['id']}/query"), 202)["status"] == "completed"

    leaver = scenario.login("leaver@example.com", LEAVER_PASSWORD)
    assert leaver.status == 401
    assert ok(admin.get("/api/setting/enable-public-sharing")) is False
    assert ok(admin.get("/api/cache/"))["data"][0]["strategy"] == {
        "type": "ttl",
        "multiplier": 10,
        "min_duration_ms": 1000,
    }

    before = len(scenario.journal())
    again = play(scenario, [GRACE], "--check")
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()
    second = play(scenario, [GRACE], "-vvv")
    assert second.rc == 0 and second.changed == 0, second.changed_tasks()
    assert writes(scenario.journal()[before:]) == []


def test_no_secret_in_the_playbook_output_or_the_double_logs(scenario):
    if not scenario.outputs:
        play(scenario, [GRACE], "-vvv")
    assert leaks(scenario) == []
