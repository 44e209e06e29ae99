"""The collection's modules against the Metabase API double, through ansible-playbook.

cronicorn.monitoring.metabase_setup and cronicorn.monitoring.metabase_database run against a double
(its port published on 127.0.0.1 only) whose app DB and "registered" database live in a PostgreSQL
stand-in on the same user-defined network: setup, registration with a sync, a second run that changes
nothing and writes nothing, a wrong read-only password refused with Metabase's message and nothing
registered, and every request the double accepted from the modules valid against the OpenAPI spec
(strict about trailing slashes: the modules send the spec's spelling). Passwords go in an extra-vars
file, never on the command line.

The stack and its helpers are those of double_playbooks.py (the double_scenario fixture).
"""

from __future__ import annotations

import secrets

import pytest
from ansible_runs import Run
from double_playbooks import DoubleScenario, contract_problems, leaks, ok, writes
from test_metabase_double_api import ADMIN_EMAIL, ADMIN_PASSWORD, READER, SECRETS, wait_synced

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


@pytest.fixture(scope="module")
def scenario(double_scenario) -> DoubleScenario:
    return double_scenario


def register(scenario: DoubleScenario, **overrides) -> Run:
    """The setup and registration playbook, with its variables overridden."""
    return scenario.play("metabase.yml", PLAYBOOK, **overrides)


def test_setup_registration_and_an_idempotent_second_run(scenario):
    """First run: setup done and the database registered with the read-only role and synced;
    second run: changed=0 and no write request at all (behaviour.md §2, §4)."""
    first = register(scenario)
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
    second = register(scenario)
    assert second.rc == 0, second.output[-5000:]
    assert second.changed == 0
    assert writes(scenario.journal()[before:]) == []


def test_a_wrong_read_only_password_is_refused_and_nothing_is_registered(scenario):
    """behaviour.md §4: Metabase tests the connection and refuses a wrong password with
    "Looks like your Password is incorrect."; the module fails with it, nothing is saved."""
    before = len(scenario.journal())
    wrong = "Wrong-" + secrets.token_hex(6)
    SECRETS.add(wrong)
    run = register(scenario, mb_database_name="Cronicorn wrong password", mb_db_password=wrong)
    assert run.rc == 2, run.output[-5000:]
    assert "POST /api/database/ failed: HTTP 400: Looks like your Password is incorrect." in run.output
    assert ("POST", "/api/database/") not in writes(scenario.journal()[before:])
    names = [row[0] for row in scenario.stack.execute(scenario.double.app_db, "SELECT name FROM metabase_database")]
    assert "Cronicorn wrong password" not in names


def test_every_request_the_modules_sent_matches_the_openapi_spec(scenario):
    """Issue 5 item 5: every request the double accepted from the modules is valid against
    shared/metabase/openapi.json, trailing slashes included."""
    if not scenario.journal():
        register(scenario)
    assert contract_problems(scenario.journal()) == []


def test_no_secret_in_the_double_logs_or_the_playbook_output(scenario):
    """Secrets never appear in docker logs of the double, nor in what ansible-playbook printed."""
    if not scenario.outputs:
        register(scenario)
    assert leaks(scenario) == []
