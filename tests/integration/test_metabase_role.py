"""The metabase role's own decisions, run with ansible-playbook: what it does when no port is
published, and what it says when the image cannot be pulled."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from ansible_runs import REPO, run_playbook

SECRETS = {
    "metabase_encryption_secret_key": "test-only-encryption-key-0123456789",
    "metabase_appdb_password": "test-only-appdb-pw-1",
}


def test_no_published_port_means_no_health_url_on_port_none(tmp_path):
    """metabase_published_port: null ("publish nothing") used to make the health URL
    http://127.0.0.1:None/api/health: ten minutes of retries, then a wrong message."""
    playbook = f"""
- hosts: localhost
  gather_facts: false
  vars_files: [{REPO}/roles/metabase/defaults/main.yml]
  tasks:
    - ansible.builtin.debug:
        msg: "HEALTH={{{{ {{'url': metabase_health_url}} | to_json }}}}"
"""
    run = run_playbook(tmp_path, "play.yml", playbook, {"metabase_published_port": None}, timeout=120)
    assert run.rc == 0, run.output[-3000:]
    assert 'HEALTH={"url": ""}' in run.output, run.output[-3000:]
    run = run_playbook(tmp_path, "play.yml", playbook, {"metabase_published_port": 3999}, timeout=120)
    assert 'HEALTH={"url": "http://127.0.0.1:3999/api/health"}' in run.output, run.output[-3000:]


@pytest.mark.parametrize(("given", "expected"), [(None, "false"), (True, "true"), (False, "false")])
def test_the_update_check_follows_its_variable(tmp_path, given, expected):
    """Issue #13: the update check per variable (it was fixed to false in the role)."""
    playbook = f"""
- hosts: localhost
  gather_facts: false
  vars_files: [{REPO}/roles/metabase/defaults/main.yml, {REPO}/roles/metabase/vars/main.yml]
  tasks:
    - ansible.builtin.debug:
        msg: >-
          CHECK={{{{ _metabase_env.MB_CHECK_FOR_UPDATES }}}}
          TRACKING={{{{ _metabase_env.MB_ANON_TRACKING_ENABLED }}}}
"""
    extra = dict(SECRETS) if given is None else {**SECRETS, "metabase_check_for_updates": given}
    run = run_playbook(tmp_path, "play.yml", playbook, extra, timeout=120)
    assert run.rc == 0, run.output[-3000:]
    assert f"CHECK={expected} TRACKING=false" in run.output, run.output[-3000:]


def _pull_case_metabase(name: str, tmp_path) -> dict:
    return {
        **SECRETS,
        "metabase_network": name,
        "metabase_container_name": name,
        "metabase_appdb_manage": False,
        "metabase_published_port": None,
        "metabase_wait_timeout": 120,
    }


def _pull_case_postgres(name: str, tmp_path) -> dict:
    return {
        "postgres_network": name,
        "postgres_volume": name,
        "postgres_container_name": name,
        "postgres_password": "test-only-pg-pw-1",
        "postgres_published_port": None,
    }


def _pull_case_proxy(name: str, tmp_path) -> dict:
    return {
        "proxy_network": name,
        "proxy_container_name": name,
        "proxy_tls_dir": str(tmp_path / "tls"),
        "proxy_config_dir": str(tmp_path / "proxy"),
        "proxy_https_port": 8443,
        "proxy_http_port": None,
    }


# role, its image variable, the name its message gives the image, its other variables, and what it may have
# created before it pulls (the metabase role creates its network first; the others create nothing).
PULL_CASES = {
    "metabase": ("metabase", "metabase_image", "Metabase", _pull_case_metabase, {"network"}),
    "postgres": ("postgres", "postgres_image", "PostgreSQL", _pull_case_postgres, set()),
    "proxy": ("proxy", "proxy_image", "nginx", _pull_case_proxy, set()),
}


@pytest.mark.parametrize("case", PULL_CASES)
def test_an_image_that_cannot_be_pulled_is_named_with_what_to_do(tmp_path, docker_client, case):
    """make deploy on a machine that cannot pull used to report 'did not become healthy within 120s'
    (and the proxy, that nginx refused its configuration). Each role pulls in its own step and says which
    image, and what to do."""
    role, image_var, label, variables, may_create = PULL_CASES[case]
    name = f"cronicorn-test-{uuid.uuid4().hex[:8]}"
    image = f"registry.invalid/cronicorn-test/{case}-{uuid.uuid4().hex[:8]}:v1"
    playbook = f"""
- hosts: localhost
  gather_facts: false
  roles:
    - role: cronicorn.monitoring.{role}
"""
    extra = {**variables(name, tmp_path), image_var: image}
    try:
        run = run_playbook(tmp_path, "play.yml", playbook, extra, timeout=300)
    finally:
        networks = docker_client.networks.list(names=[name])
        for found in networks:
            found.remove()
        volumes = docker_client.volumes.list(filters={"name": name})
        for found in volumes:
            found.remove()
    assert run.rc != 0
    assert f"Could not pull the {label} image {image}" in run.output, run.output[-3000:]
    assert "IMAGES=offline" in run.output and "registry-mirrors" in run.output
    assert "did not become healthy" not in run.output
    assert "nginx refused" not in run.output
    if "network" not in may_create:
        assert not networks, "the network was created before the pull"
    assert not docker_client.containers.list(all=True, filters={"name": name})
    assert not volumes, "a volume was created before the pull"
    assert not (tmp_path / "proxy").exists() and not (tmp_path / "tls").exists()
    for secret in (*SECRETS.values(), "test-only-pg-pw-1"):
        assert secret not in run.output


def test_check_mode_on_a_new_host_says_quickly_what_it_would_do(tmp_path, docker_client):
    """site.yml --check on a new host: no PostgreSQL, no Metabase. The role must not fail on the
    application database nor wait for a container that check mode never starts."""
    name = f"cronicorn-test-{uuid.uuid4().hex[:8]}"
    playbook = """
- hosts: localhost
  gather_facts: false
  roles:
    - role: cronicorn.monitoring.metabase
"""
    extra = {
        **SECRETS,
        "metabase_image": f"registry.invalid/cronicorn-test/none-{uuid.uuid4().hex[:8]}:v1",
        "metabase_network": name,
        "metabase_container_name": name,
        "metabase_appdb_manage": True,
        "metabase_appdb_login_password": "test-only-login-pw-1",
        "metabase_appdb_login_port": 9,  # nothing listens there
        "metabase_published_port": 3999,
    }
    started = time.monotonic()
    run = run_playbook(tmp_path, "play.yml", playbook, extra, "--check", timeout=300)
    elapsed = time.monotonic() - started
    assert run.rc == 0, run.output[-4000:]
    assert "Check mode: PostgreSQL at 127.0.0.1:9 does not answer yet" in run.output
    assert f"Check mode: the network {name} does not exist yet" in run.output
    assert elapsed < 120, f"the dry run took {elapsed:.0f} s"
    assert not docker_client.networks.list(names=[name])
    assert not docker_client.containers.list(all=True, filters={"name": name})


def test_changed_views_reach_the_metabase_hosts_as_a_sync_request(tmp_path):
    """The analytics_views handler sets analytics_views_changed on every monitoring_metabase host, which the
    registration (a later play) turns into force_sync; unchanged views set nothing."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "vars": {
                        "ansible_connection": "local",
                        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                    },
                    "children": {
                        "monitoring_database": {"hosts": {"db": {}}},
                        "monitoring_metabase": {"hosts": {"mb1": {}, "mb2": {}}},
                    },
                }
            }
        )
    )
    handlers = REPO / "roles/analytics_views/handlers/main.yml"
    tasks = yaml_registration_force_sync()
    playbook = f"""
- hosts: monitoring_database
  gather_facts: false
  handlers:
    - ansible.builtin.import_tasks: {handlers}
  tasks:
    - name: Views as the role loads them
      ansible.builtin.command: "true"
      changed_when: views_changed | bool
      notify: Tell the Metabase hosts that the analytics views changed

- hosts: monitoring_metabase
  gather_facts: false
  vars:
    monitoring_metabase_sync: true
  tasks:
    - ansible.builtin.debug:
        msg: "FORCE_SYNC {{{{ inventory_hostname }}}}={{{{ {tasks} }}}}"
"""
    for changed in (True, False):
        run = run_playbook(
            tmp_path, "play.yml", playbook, {"views_changed": changed}, "-i", str(inventory), timeout=120
        )
        assert run.rc == 0, run.output[-3000:]
        for host in ("mb1", "mb2"):
            assert f"FORCE_SYNC {host}={changed}" in run.output, run.output[-3000:]


def yaml_registration_force_sync() -> str:
    """The force_sync expression of roles/metabase_registration/tasks/main.yml, as the role has it."""
    import yaml

    tasks = yaml.safe_load((REPO / "roles/metabase_registration/tasks/main.yml").read_text())
    for task in tasks[0]["block"]:
        module_args = task.get("cronicorn.monitoring.metabase_database")
        if module_args:
            expression = module_args["force_sync"]
            assert expression.startswith("{{ ") and expression.endswith(" }}")
            return expression[3:-3]
    raise AssertionError("no metabase_database task in the registration role")
