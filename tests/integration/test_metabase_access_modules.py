"""The access modules against the Metabase API double, through ansible-playbook: the admin team in its
group, a person who left deactivated, All Users without query or content access, public sharing off,
the adaptive cache policy; then, as the people themselves: an outsider can log in but is refused the
database and the content collection, a team member gets both, the person who left cannot log in. A
second run changes nothing and writes nothing; a -vvv run shows no password.

The containers and HTTP helpers are those of test_metabase_double_api.py.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_runs import Run, run_playbook
from conftest import DockerResources
from test_metabase_double_api import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    FORBIDDEN,
    READER,
    READER_PASSWORD,
    SECRETS,
    WAREHOUSE_SQL,
    Double,
    Stack,
    ok,
    wait_synced,
)

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


@dataclasses.dataclass
class Scenario:
    stack: Stack
    double: Double
    workdir: Path
    outputs: list[str] = dataclasses.field(default_factory=list)

    def play(self, team: list[dict], *options: str) -> Run:
        extra = {
            "mb_url": f"http://127.0.0.1:{self.double.port}",
            "mb_admin_email": ADMIN_EMAIL,
            "mb_admin_password": ADMIN_PASSWORD,
            "mb_db_host": self.stack.pg.name,
            "mb_db_user": READER,
            "mb_db_password": READER_PASSWORD,
            "team": team,
        }
        run = run_playbook(self.workdir, "access.yml", PLAYBOOK, extra, *options, timeout=300)
        self.outputs.append(run.output)
        return run

    def login(self, email: str, password: str):
        answer = self.double.api.post("/api/session/", {"username": email, "password": password})
        if answer.status != 200:
            return answer
        SECRETS.add(answer.json["id"])
        return self.double.api.session(answer.json["id"])


@pytest.fixture(scope="module")
def scenario(docker_client, tmp_path_factory) -> Iterator[Scenario]:
    resources = DockerResources(docker_client)
    try:
        stack = Stack(resources)
        stack.create_database("warehouse")
        stack.execute("warehouse", WAREHOUSE_SQL, {"password": READER_PASSWORD})
        double = stack.start_double(stack.create_database("metabase_access_modules"), MB_LOAD_SAMPLE_CONTENT="false")
        yield Scenario(stack, double, tmp_path_factory.mktemp("metabase-access"))
    finally:
        resources.cleanup()


GRACE = {"email": "grace@example.com", "first_name": "Grace", "initial_password": GRACE_PASSWORD}
LEAVER = {"email": "leaver@example.com", "first_name": "Lee", "initial_password": LEAVER_PASSWORD}


def writes(entries: list[dict]) -> list[tuple[str, str]]:
    return [
        (e["method"], e["path"])
        for e in entries
        if e["method"] in ("POST", "PUT", "DELETE") and e["path"] not in ("/api/session/", "/api/session")
    ]


def test_only_the_team_gets_in_and_a_second_run_changes_nothing(scenario):
    first = scenario.play([GRACE, LEAVER])
    assert first.rc == 0, first.output[-5000:]
    admin = scenario.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    db_id = ok(admin.get("/api/database/"))["data"][0]["id"]
    wait_synced(admin, db_id)
    ok(admin.post("/api/user/", {"email": "outsider@example.com", "password": OUTSIDER_PASSWORD}))

    removed = scenario.play([GRACE])  # the leaver is no longer on the list
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

    before = len(scenario.stack.journal(scenario.double.app_db))
    again = scenario.play([GRACE], "--check")
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()
    second = scenario.play([GRACE], "-vvv")
    assert second.rc == 0 and second.changed == 0, second.changed_tasks()
    assert writes(scenario.stack.journal(scenario.double.app_db)[before:]) == []


def test_no_secret_in_the_playbook_output_or_the_double_logs(scenario):
    if not scenario.outputs:
        scenario.play([GRACE], "-vvv")
    for text in [scenario.double.logs(), *scenario.outputs]:
        for secret in SECRETS | {scenario.stack.server.password}:
            assert secret not in text
