"""What `molecule verify -s dev` proves about the running dev stack (testinfra, on localhost)."""

from __future__ import annotations

import json
import os
import pathlib
import urllib.request

import pytest
import yaml
from isolation import load

# The scenario's own names and ports (molecule/isolation.yml), never those of `make deploy`.
STACK = load("dev")
POSTGRES, METABASE = STACK["postgres_container_name"], STACK["metabase_container_name"]
CONTAINERS = {POSTGRES: "5432/tcp", METABASE: "3000/tcp"}
PORTS = {POSTGRES: STACK["postgres_published_port"], METABASE: STACK["metabase_published_port"]}
ROOT = pathlib.Path(__file__).resolve().parents[3]


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
    assert {(b["HostIp"], int(b["HostPort"])) for b in bindings} == {("127.0.0.1", PORTS[name])}


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_containers_run_the_images_of_the_mode(host, name):
    """The offline stand-ins, or with IMAGES=official the official names (molecule/images-*.yml)."""
    mode = os.environ.get("CRONICORN_MOLECULE_IMAGES", "offline")
    offline = yaml.safe_load((ROOT / "playbooks/vars/images-offline.yml").read_text(encoding="utf-8"))
    defaults = {
        role: yaml.safe_load((ROOT / f"roles/{role}/defaults/main.yml").read_text(encoding="utf-8"))
        for role in ("postgres", "metabase")
    }
    key = "postgres_image" if name == POSTGRES else "metabase_image"
    expected = offline[key] if mode == "offline" else defaults[key.split("_", maxsplit=1)[0]][key]
    assert inspect(host, name)["Config"]["Image"] == expected


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_containers_restart_unless_stopped(host, name):
    assert inspect(host, name)["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"


def test_postgres_data_lives_in_the_named_volume(host):
    mounts = {m["Destination"]: m for m in inspect(host, POSTGRES)["Mounts"]}
    data = mounts["/var/lib/postgresql/data"]
    assert (data["Type"], data["Name"]) == ("volume", STACK["postgres_volume"])


@pytest.mark.parametrize("port", sorted(PORTS.values()))
def test_nothing_listens_on_all_addresses(host, port):
    assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert not host.socket(f"tcp://:::{port}").is_listening


def test_metabase_uses_postgres_for_its_application_database(host):
    env = dict(e.split("=", 1) for e in inspect(host, METABASE)["Config"]["Env"])
    assert env["MB_DB_TYPE"] == "postgres"
    assert env["MB_DB_HOST"] == POSTGRES
    assert env["MB_DB_DBNAME"] == "metabase"
    assert len(env["MB_ENCRYPTION_SECRET_KEY"]) >= 16


def test_metabase_answers_health_on_loopback():
    with urllib.request.urlopen(f"{STACK['monitoring_metabase_url']}/api/health", timeout=10) as response:
        assert response.status == 200
        assert json.load(response) == {"status": "ok"}


def test_postgres_data_survived_the_metabase_container(host):
    """side_effect.yml wrote a row, removed the Metabase container and converged again."""
    result = host.run(
        "docker exec %s psql -U user -d db -At -c %s",
        POSTGRES,
        "SELECT note FROM molecule_marker",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "written before the Metabase container was removed"
