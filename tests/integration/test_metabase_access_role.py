"""The metabase_access role (site.yml's play) against the Metabase API double: the registration role it
imports, the readonly_user classification read on the controller, the team, permissions, settings,
cache, an API key file, and a withheld column that Metabase had synced marked sensitive. A second run
and a --check run report changed=0; no password appears in the output.

The warehouse stands in for Cronicorn's database: its ``user`` table has ``stripe_customer_id``, a
column readonly_user withholds by default, granted to the reader before the sync here on purpose (an
instance set up before the column was withheld), so that Metabase lists it and the role must hide it.
"""

from __future__ import annotations

import secrets
import stat
from collections.abc import Iterator

import pytest
from ansible_runs import run_playbook
from test_metabase_double_api import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    READER,
    READER_PASSWORD,
    SECRETS,
    Stack,
    ok,
    register,
    run_setup,
    wait_synced,
    warehouse_stack,
)

GRACE_PASSWORD = "Gr-" + secrets.token_urlsafe(12)
SECRETS.add(GRACE_PASSWORD)
EXTRA_SQL = """
CREATE TABLE "user" (id integer, email text, stripe_customer_id text);
GRANT SELECT (id, email, stripe_customer_id) ON "user" TO mb_reader;
"""
PLAYBOOK = """
- name: The access stage of site.yml
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: cronicorn.monitoring.metabase_access
"""


@pytest.fixture(scope="module")
def stack(docker_client) -> Iterator[Stack]:
    with warehouse_stack(docker_client, EXTRA_SQL) as stack:
        yield stack


def test_the_role_applies_access_and_a_second_run_changes_nothing(stack, tmp_path):
    double = stack.start_double(stack.create_database("metabase_access_role"))
    # Set up and registered (and synced) beforehand, as the earlier stages of site.yml leave it.
    setup_admin = double.api.session(run_setup(double.api))
    details = {"host": stack.pg.name, "port": 5432, "dbname": "warehouse", "user": READER, "password": READER_PASSWORD}
    wait_synced(setup_admin, register(setup_admin, "Cronicorn", details)["id"])
    key_file = tmp_path / "metabase_api_key"
    extra = {
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "monitoring_metabase_url": f"http://127.0.0.1:{double.port}",
        "monitoring_metabase_admin_email": ADMIN_EMAIL,
        "monitoring_metabase_admin_password": ADMIN_PASSWORD,
        "monitoring_metabase_db_host": stack.pg.name,
        "monitoring_metabase_db_port": 5432,
        "monitoring_metabase_db_name": "warehouse",
        "monitoring_metabase_db_user": READER,
        "monitoring_metabase_db_password": READER_PASSWORD,
        "monitoring_readonly_user": READER,
        "monitoring_readonly_password": READER_PASSWORD,
        # The classification is read on the controller, through the published port.
        "monitoring_db_host": stack.server.host,
        "monitoring_db_port": stack.server.port,
        "monitoring_db_name": "warehouse",
        "monitoring_db_login_user": stack.server.user,
        "monitoring_db_login_password": stack.server.password,
        "monitoring_db_app_owner": stack.server.user,
        "metabase_access_team": [
            {"email": "grace@example.com", "first_name": "Grace", "initial_password": GRACE_PASSWORD}
        ],
        "metabase_access_api_key_file": str(key_file),
    }
    outputs = []
    for options in ((), (), ("--check",)):
        run = run_playbook(tmp_path, "access.yml", PLAYBOOK, extra, *options, timeout=600)
        outputs.append(run.output)
        assert run.rc == 0, run.output[-5000:]
        if len(outputs) > 1:
            assert run.changed == 0, run.changed_tasks()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    SECRETS.add(key)

    admin = double.api.api_key(key)  # the key the role kept works
    database = next(d for d in ok(admin.get("/api/database/"))["data"] if d["name"] == "Cronicorn")
    metadata = ok(admin.get(f"/api/database/{database['id']}/metadata?include_hidden=true"))
    user_fields = {
        f["name"]: f["visibility_type"] for t in metadata["tables"] if t["name"] == "user" for f in t["fields"]
    }
    assert user_fields == {"id": "normal", "email": "normal", "stripe_customer_id": "sensitive"}
    graph = ok(admin.get("/api/permissions/graph"))
    assert graph["groups"]["1"][str(database["id"])] == {"view-data": "unrestricted"}
    assert ok(admin.get("/api/setting/enable-public-sharing")) is False
    grace = ok(double.api.post("/api/session/", {"username": "grace@example.com", "password": GRACE_PASSWORD}))
    SECRETS.add(grace["id"])
    for text in outputs:
        for secret in (ADMIN_PASSWORD, GRACE_PASSWORD, READER_PASSWORD, stack.server.password, key):
            assert secret not in text
