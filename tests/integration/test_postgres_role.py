"""The postgres role: a changed postgres_password is applied to the running server with
community.postgresql.postgresql_user, and the container is not recreated for it.

The official image (and the stand-in) read POSTGRES_PASSWORD only when they initialise an empty volume, so
recreating the container for a new password changed nothing in the database: the old password kept working
and the new one was refused. Every name is prefixed and the port is a free one of 127.0.0.1.
"""

from __future__ import annotations

import psycopg2
import pytest
from ansible_runs import run_playbook
from conftest import resource_name, wait_for_login
from ports import free_port

IMAGE = "cronicorn-offline/postgres:15"
PLAYBOOK = """
- name: The postgres role
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: cronicorn.monitoring.postgres
"""
FIRST = "first-password-" + "a" * 8
SECOND = "second-password-" + "b" * 8
THIRD = "third-password-" + "c" * 8


@pytest.fixture
def names(docker_client):
    made = {
        "postgres_container_name": resource_name("pg"),
        "postgres_network": resource_name("net"),
        "postgres_volume": resource_name("vol"),
    }
    yield made
    import docker.errors

    for kind, name in (
        ("containers", made["postgres_container_name"]),
        ("networks", made["postgres_network"]),
        ("volumes", made["postgres_volume"]),
    ):
        try:
            obj = getattr(docker_client, kind).get(name)
            obj.remove(force=True) if kind != "networks" else obj.remove()
        except docker.errors.NotFound:
            pass


def login(port: int, password: str) -> None:
    psycopg2.connect(
        host="127.0.0.1", port=port, user="user", dbname="db", password=password, connect_timeout=5
    ).close()


def test_a_new_password_is_applied_without_recreating_the_container(tmp_path, docker_client, names):
    port = free_port()
    extra = {**names, "postgres_image": IMAGE, "postgres_published_port": port, "postgres_wait_timeout": 90}

    first = run_playbook(tmp_path, "pg.yml", PLAYBOOK, {**extra, "postgres_password": FIRST}, timeout=300)
    assert first.rc == 0, first.output[-3000:]
    container = docker_client.containers.get(names["postgres_container_name"])
    wait_for_login(
        f"host=127.0.0.1 port={port} user=user dbname=db password={FIRST}", container, what="the role's PostgreSQL"
    )

    changed = run_playbook(tmp_path, "pg.yml", PLAYBOOK, {**extra, "postgres_password": SECOND}, timeout=300)
    assert changed.rc == 0, changed.output[-3000:]
    assert changed.changed == 1, changed.changed_tasks()
    assert docker_client.containers.get(names["postgres_container_name"]).id == container.id  # not recreated
    login(port, SECOND)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        login(port, FIRST)

    again = run_playbook(tmp_path, "pg.yml", PLAYBOOK, {**extra, "postgres_password": SECOND}, timeout=300)
    assert again.rc == 0 and again.changed == 0, again.changed_tasks()
    # A second rotation: the server has SECOND, which is neither the new value nor the one the container was
    # created with; without postgres_password_previous the role cannot log in, and says so.
    unknown = run_playbook(tmp_path, "pg.yml", PLAYBOOK, {**extra, "postgres_password": THIRD}, timeout=300)
    assert unknown.rc != 0
    assert "set postgres_password_previous to the current one" in " ".join(unknown.output.split())
    rotate = {**extra, "postgres_password": THIRD, "postgres_password_previous": SECOND}
    check = run_playbook(tmp_path, "pg.yml", PLAYBOOK, rotate, "--check", timeout=300)
    assert check.rc == 0 and check.changed == 1, check.changed_tasks()
    login(port, SECOND)  # check mode changed nothing
    rotated = run_playbook(tmp_path, "pg.yml", PLAYBOOK, rotate, timeout=300)
    assert rotated.rc == 0 and rotated.changed == 1, rotated.changed_tasks()
    login(port, THIRD)
    assert docker_client.containers.get(names["postgres_container_name"]).id == container.id
    for run in (first, changed, again, unknown, check, rotated):
        for secret in (FIRST, SECOND, THIRD):
            assert secret not in run.output
