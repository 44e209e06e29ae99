"""The collection's modules against the Metabase API double, through ansible-playbook.

cronicorn.monitoring.metabase_setup and cronicorn.monitoring.metabase_database run against a double
(its port published on 127.0.0.1 only) whose app DB and "registered" database live in a PostgreSQL
stand-in on the same user-defined network: setup, registration with a sync, a second run that changes
nothing and writes nothing, a wrong read-only password refused with Metabase's message and nothing
registered, and every request the double accepted from the modules valid against the OpenAPI spec
(strict about trailing slashes: the modules send the spec's spelling). Passwords go in an extra-vars
file, never on the command line.

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
from test_metabase_double_api import (  # it also makes tests/contract importable
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    NO_BODY,
    READER,
    READER_PASSWORD,
    SECRETS,
    WAREHOUSE_SQL,
    Double,
    Stack,
    load_contract,
    ok,
    wait_synced,
)

PLAYBOOK = """
- name: Metabase setup and registration through the collection's modules
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/cronicorn.monitoring.metabase:
      url: "{{ mb_url }}"
      username: "{{ mb_admin_email }}"
      password: "{{ mb_admin_password }}"
  tasks:
    - name: First-run setup
      cronicorn.monitoring.metabase_setup:
        site_name: Cronicorn monitoring
        first_name: Ada
        last_name: Admin

    - name: Register the database with the read-only role
      cronicorn.monitoring.metabase_database:
        name: "{{ mb_database_name }}"
        host: "{{ mb_db_host }}"
        port: 5432
        dbname: warehouse
        db_user: "{{ mb_db_user }}"
        db_password: "{{ mb_db_password }}"
        details:
          schema-filters-type: all
        sync: true
      register: registered

    - name: Show what the module returned
      ansible.builtin.debug:
        msg: "database id {{ registered.id }}, sync triggered {{ registered.sync_triggered }}"
"""


@dataclasses.dataclass
class Scenario:
    stack: Stack
    double: Double
    workdir: Path
    outputs: list[str] = dataclasses.field(default_factory=list)

    def play(self, **overrides) -> Run:
        extra = {
            "mb_url": f"http://127.0.0.1:{self.double.port}",
            "mb_admin_email": ADMIN_EMAIL,
            "mb_admin_password": ADMIN_PASSWORD,
            "mb_database_name": "Cronicorn",
            "mb_db_host": self.stack.pg.name,
            "mb_db_user": READER,
            "mb_db_password": READER_PASSWORD,
            **overrides,
        }
        run = run_playbook(self.workdir, "metabase.yml", PLAYBOOK, extra, timeout=300)
        self.outputs.append(run.output)
        return run

    def journal(self) -> list[dict]:
        return self.stack.journal(self.double.app_db)


@pytest.fixture(scope="module")
def scenario(docker_client, tmp_path_factory) -> Iterator[Scenario]:
    resources = DockerResources(docker_client)
    try:
        stack = Stack(resources)
        stack.create_database("warehouse")
        stack.execute("warehouse", WAREHOUSE_SQL, {"password": READER_PASSWORD})
        double = stack.start_double(stack.create_database("metabase_modules"), MB_LOAD_SAMPLE_CONTENT="false")
        yield Scenario(stack, double, tmp_path_factory.mktemp("metabase-modules"))
    finally:
        resources.cleanup()


#: Requests that change no content: login and logout, and the password check before setup.
NOT_WRITES = ("/api/session/", "/api/session", "/api/session/password-check")


def writes(entries: list[dict]) -> list[tuple[str, str]]:
    """Accepted requests that change Metabase's state (logging in and out, the password check aside)."""
    return [
        (e["method"], e["path"])
        for e in entries
        if e["method"] in ("POST", "PUT", "DELETE") and e["path"] not in NOT_WRITES
    ]


def test_setup_registration_and_an_idempotent_second_run(scenario):
    """First run: setup done and the database registered with the read-only role and synced;
    second run: changed=0 and no write request at all (behaviour.md §2, §4)."""
    first = scenario.play()
    assert first.rc == 0, first.output[-5000:]
    assert first.changed == 2
    entries = scenario.journal()
    assert writes(entries)[:2] == [("POST", "/api/setup/"), ("POST", "/api/database/")]
    # Every session the modules opened was ended (the setup's and each login's).
    paths = [(e["method"], e["path"]) for e in entries]
    assert paths.count(("DELETE", "/api/session/")) == paths.count(("POST", "/api/session/")) + 1
    assert ("POST", "/api/session/password-check") in paths

    session_id = ok(scenario.double.api.post("/api/session/", {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))[
        "id"
    ]
    SECRETS.add(session_id)
    admin = scenario.double.api.session(session_id)
    databases = ok(admin.get("/api/database/"))["data"]
    assert [(db["name"], db["details"]["user"], db["details"]["password"]) for db in databases] == [
        ("Cronicorn", READER, "**MetabasePass**")
    ]
    metadata = wait_synced(admin, databases[0]["id"], {"visible", "visible_summary", "partial"})
    assert "hidden" not in {t["name"] for t in metadata["tables"]}

    before = len(scenario.journal())
    second = scenario.play()
    assert second.rc == 0, second.output[-5000:]
    assert second.changed == 0
    assert writes(scenario.journal()[before:]) == []


def test_a_wrong_read_only_password_is_refused_and_nothing_is_registered(scenario):
    """behaviour.md §4: Metabase tests the connection and refuses a wrong password with
    "Looks like your Password is incorrect."; the module fails with it, nothing is saved."""
    before = len(scenario.journal())
    wrong = "Wrong-" + secrets.token_hex(6)
    SECRETS.add(wrong)
    run = scenario.play(mb_database_name="Cronicorn wrong password", mb_db_password=wrong)
    assert run.rc == 2, run.output[-5000:]
    assert "POST /api/database/ failed: HTTP 400: Looks like your Password is incorrect." in run.output
    assert ("POST", "/api/database/") not in writes(scenario.journal()[before:])
    names = [row[0] for row in scenario.stack.execute(scenario.double.app_db, "SELECT name FROM metabase_database")]
    assert "Cronicorn wrong password" not in names


def test_every_request_the_modules_sent_matches_the_openapi_spec(scenario):
    """Issue 5 item 5: every request the double accepted from the modules is valid against
    shared/metabase/openapi.json, trailing slashes included."""
    if not scenario.journal():
        scenario.play()
    contract = load_contract()
    problems = []
    for entry in scenario.journal():
        body = entry["body"] if entry["has_body"] else NO_BODY
        problems.extend(contract.check(entry["method"], entry["path"], query=entry["query"], body=body))
    assert problems == []


def test_no_secret_in_the_double_logs_or_the_playbook_output(scenario):
    """Secrets never appear in docker logs of the double, nor in what ansible-playbook printed."""
    if not scenario.outputs:
        scenario.play()
    texts = [scenario.double.logs(), *scenario.outputs]
    for text in texts:
        for secret in SECRETS | {scenario.stack.server.password}:
            assert secret not in text
