"""What the production scenario's tests share: the inventory's settings and vault, HTTPS through the proxy,
and commands in containers (the stack publishes no PostgreSQL port to reach it otherwise)."""

from __future__ import annotations

import os
import pathlib
import ssl

import docker
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from isolation import load
from metabase_api import MetabaseAPI

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCENARIO = ROOT / "molecule" / "production"
INVENTORY = ROOT / "inventory" / "production"
VAULT_PASSWORD_FILE = SCENARIO / "vault-password"
VAULT_FILE = INVENTORY / "group_vars" / "all" / "vault.yml"


def group_vars(name: str) -> dict:
    path = INVENTORY / "group_vars" / (name if name == "all" else f"{name}.yml")
    path = path / "main.yml" if path.is_dir() else path
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def vault_secrets() -> dict[str, str]:
    """The decrypted example vault: {variable: secret}."""
    secret = VaultSecret(VAULT_PASSWORD_FILE.read_bytes().strip())
    plain = VaultLib([("default", secret)]).decrypt(VAULT_FILE.read_bytes())
    return yaml.safe_load(plain)


# The inventory's settings, with the scenario's own names and ports over them (molecule/isolation.yml), as
# molecule/isolate.yml gives them to every playbook of the scenario.
STACK = load("production")
METABASE_VARS = group_vars("monitoring_metabase") | STACK
PROXY_VARS = group_vars("monitoring_proxy") | STACK
ALL_VARS = group_vars("all") | STACK
HTTPS_PORT = PROXY_VARS["proxy_https_port"]
HTTP_PORT = PROXY_VARS["proxy_http_port"]
SERVER_NAME = PROXY_VARS["proxy_server_name"]
CERTIFICATE = pathlib.Path(METABASE_VARS["monitoring_metabase_ca_path"])
METABASE_CONTAINER = STACK["metabase_container_name"]
APPDB_CONTAINER = STACK["postgres_container_name"]
PROXY_CONTAINER = STACK["proxy_container_name"]
BASE_URL = f"https://{SERVER_NAME}:{HTTPS_PORT}"


def https_context() -> ssl.SSLContext:
    """Trusts only the proxy's certificate, and checks the host name."""
    context = ssl.create_default_context(cafile=str(CERTIFICATE))
    context.check_hostname = True
    return context


# Metabase through the proxy over HTTPS.
METABASE = MetabaseAPI(BASE_URL, https_context())
call = METABASE.call


def admin_session() -> str:
    return METABASE.login(
        METABASE_VARS["monitoring_metabase_admin_email"], vault_secrets()["vault_monitoring_metabase_admin_password"]
    )


def docker_client():
    return docker.from_env()


def psql(container: str, user: str, dbname: str, query: str) -> str:
    """Run one query with psql inside ``container`` (local socket); returns its unaligned output."""
    result = (
        docker_client()
        .containers.get(container)
        .exec_run(
            ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", dbname, "-c", query],
            environment={"PGOPTIONS": "-c statement_timeout=60000"},
        )
    )
    output = result.output.decode()
    assert result.exit_code == 0, output
    return output.strip()


def ephemeral_file(name: str) -> pathlib.Path:
    directory = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    assert directory, "run through `molecule verify -s production` (MOLECULE_EPHEMERAL_DIRECTORY is not set)"
    return pathlib.Path(directory) / name
