"""What `molecule verify -s dev` proves about the running dev stack (testinfra, on localhost)."""

from __future__ import annotations

import json
import urllib.request

import pytest

CONTAINERS = {
    "cronicorn-postgres": "5432/tcp",
    "cronicorn-metabase": "3000/tcp",
}


def inspect(host, name: str) -> dict:
    result = host.run("docker inspect %s", name)
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)[0]


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_container_runs_and_is_healthy(host, name):
    state = inspect(host, name)["State"]
    assert state["Running"] is True
    assert state["Health"]["Status"] == "healthy"


@pytest.mark.parametrize(("name", "port"), sorted(CONTAINERS.items()))
def test_ports_are_published_on_loopback_only(host, name, port):
    bindings = inspect(host, name)["NetworkSettings"]["Ports"][port]
    assert bindings, f"{name} publishes nothing for {port}"
    assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_containers_restart_unless_stopped(host, name):
    assert inspect(host, name)["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"


def test_postgres_data_lives_in_the_named_volume(host):
    mounts = {m["Destination"]: m for m in inspect(host, "cronicorn-postgres")["Mounts"]}
    data = mounts["/var/lib/postgresql/data"]
    assert (data["Type"], data["Name"]) == ("volume", "cronicorn-postgres-data")


@pytest.mark.parametrize("port", [5432, 3030])
def test_nothing_listens_on_all_addresses(host, port):
    assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert not host.socket(f"tcp://:::{port}").is_listening


def test_metabase_uses_postgres_for_its_application_database(host):
    env = dict(e.split("=", 1) for e in inspect(host, "cronicorn-metabase")["Config"]["Env"])
    assert env["MB_DB_TYPE"] == "postgres"
    assert env["MB_DB_HOST"] == "cronicorn-postgres"
    assert env["MB_DB_DBNAME"] == "metabase"
    assert len(env["MB_ENCRYPTION_SECRET_KEY"]) >= 16


def test_metabase_answers_health_on_loopback():
    with urllib.request.urlopen("http://127.0.0.1:3030/api/health", timeout=10) as response:
        assert response.status == 200
        assert json.load(response) == {"status": "ok"}


def test_postgres_data_survived_the_metabase_container(host):
    """side_effect.yml wrote a row, removed the Metabase container and converged again."""
    result = host.run(
        "docker exec cronicorn-postgres psql -U user -d db -At -c %s",
        "SELECT note FROM molecule_marker",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "written before the Metabase container was removed"
