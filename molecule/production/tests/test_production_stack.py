"""What verify proves about the production stack after converge: nothing publishes PostgreSQL, Metabase
listens on loopback only, the proxy serves HTTPS with the expected certificate, redirects plain HTTP and
refuses TLS below 1.2, no secret of the repository's plain text is in Metabase's environment, and no vault
secret is in the scenario's -vvv log."""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import ssl
import subprocess
import urllib.request

import pytest
from production import (
    APPDB_CONTAINER,
    CERTIFICATE,
    HTTP_PORT,
    HTTPS_PORT,
    METABASE_CONTAINER,
    PROXY_CONTAINER,
    ROOT,
    SERVER_NAME,
    STACK,
    call,
    docker_client,
    ephemeral_file,
    https_context,
    vault_secrets,
)

# The checks run on this machine itself. Not through Molecule's Ansible inventory: reading it would decrypt the
# vault into the scenario's log, which must hold the converge's output only.
testinfra_hosts = ["local://"]

DEPLOYED = [APPDB_CONTAINER, METABASE_CONTAINER, PROXY_CONTAINER]
POSTGRES_CONTAINERS = [APPDB_CONTAINER, "cronicorn-app-db"]
NETWORKS = [STACK["postgres_network"], "cronicorn-app"]


@pytest.fixture(scope="module")
def containers():
    """Every container of the deployment: the stack's and the stand-ins', i.e. all on their networks."""
    client = docker_client()
    names = {c["Name"] for net in NETWORKS for c in client.api.inspect_network(net)["Containers"].values()}
    return {name: client.containers.get(name) for name in names}


def test_the_stack_and_the_stand_ins_run(containers):
    assert set(containers) == set(DEPLOYED + POSTGRES_CONTAINERS + ["cronicorn-db-access"])
    assert all(c.status == "running" for c in containers.values())


def test_no_container_publishes_postgres(containers):
    """No container of the deployment binds a host port for 5432; the PostgreSQL containers publish nothing."""
    published = {
        name: {port: bindings for port, bindings in (c.attrs["NetworkSettings"]["Ports"] or {}).items() if bindings}
        for name, c in containers.items()
    }
    assert [(name, ports) for name, ports in published.items() if "5432/tcp" in ports] == []
    for name in POSTGRES_CONTAINERS:
        assert published[name] == {}, name
        assert containers[name].attrs["HostConfig"]["PortBindings"] in (None, {}), name


def test_every_published_port_is_on_loopback(containers):
    bound = [
        (name, binding["HostIp"])
        for name, c in containers.items()
        for bindings in (c.attrs["HostConfig"]["PortBindings"] or {}).values()
        for binding in bindings
    ]
    assert bound, "nothing is published at all"
    assert {address for _name, address in bound} == {"127.0.0.1"}, bound


def test_metabase_is_published_on_loopback_only(containers, host):
    port = STACK["metabase_published_port"]
    bindings = containers[METABASE_CONTAINER].attrs["HostConfig"]["PortBindings"]
    assert bindings == {"3000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(f":{port}")]
    assert listening == [f"tcp://127.0.0.1:{port}"]


def test_health_over_https_through_the_proxy_with_the_expected_certificate():
    expected = ssl.PEM_cert_to_DER_cert(
        CERTIFICATE.read_text(encoding="ascii").split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    )
    with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as raw:
        with https_context().wrap_socket(raw, server_hostname=SERVER_NAME) as tls:
            served = tls.getpeercert(binary_form=True)
    assert served == expected
    assert call("GET", "/api/health") == {"status": "ok"}


def test_https_answers_carry_hsts():
    request = urllib.request.Request(f"https://{SERVER_NAME}:{HTTPS_PORT}/api/health")
    with urllib.request.urlopen(request, timeout=10, context=https_context()) as response:
        hsts = response.headers.get("Strict-Transport-Security", "")
    assert re.fullmatch(r"max-age=\d+(; includeSubDomains)?", hsts), hsts
    assert int(hsts.split(";")[0].split("=")[1]) >= 31536000


def test_plain_http_is_redirected_to_https():
    connection = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=10)
    try:
        connection.request("GET", "/api/health", headers={"Host": SERVER_NAME})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 301
    port = "" if HTTPS_PORT == 443 else f":{HTTPS_PORT}"
    assert response.getheader("Location") == f"https://{SERVER_NAME}{port}/api/health"
    assert b'"status"' not in body  # answered by the proxy, not forwarded to Metabase


def _handshake(version: ssl.TLSVersion) -> str:
    context = https_context()
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer what the server must refuse
    context.minimum_version = version
    context.maximum_version = version
    with socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=SERVER_NAME) as tls:
            return tls.version()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # ssl.TLSVersion.TLSv1 and TLSv1_1 on purpose
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["TLSv1.0", "TLSv1.1"])
def test_tls_below_1_2_is_refused(version):
    with pytest.raises(ssl.SSLError):
        _handshake(version)


@pytest.mark.parametrize(
    ("version", "name"),
    [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")],
    ids=["TLSv1.2", "TLSv1.3"],
)
def test_tls_1_2_and_1_3_are_served(version, name):
    assert _handshake(version) == name


def _repository_text() -> str:
    git = shutil.which("git")
    assert git, "git is needed to list the repository's files"
    files = subprocess.run(
        [git, "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    text = []
    for name in filter(None, files):
        path = ROOT / name.decode()
        if path.is_file() and not path.is_symlink():
            text.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(text)


def test_metabase_environment_holds_no_secret_that_the_repository_has_in_plain_text(containers):
    environment = dict(
        item.split("=", 1) for item in containers[METABASE_CONTAINER].attrs["Config"]["Env"] if "=" in item
    )
    secret_names = sorted(k for k in environment if any(w in k for w in ("PASS", "SECRET", "KEY", "TOKEN")))
    assert {"MB_DB_PASS", "MB_ENCRYPTION_SECRET_KEY"} <= set(secret_names)
    vault = vault_secrets()
    # They come from the vault ...
    assert environment["MB_DB_PASS"] == vault["vault_metabase_appdb_password"]
    assert environment["MB_ENCRYPTION_SECRET_KEY"] == vault["vault_metabase_encryption_secret_key"]
    # ... and no file of the repository holds them unencrypted.
    repository = _repository_text()
    assert "vault_metabase_appdb_password" in repository  # the search reads the inventory
    assert [name for name in secret_names if environment[name] in repository] == []


def test_no_vault_secret_in_the_vvv_log_of_the_scenario():
    log = ephemeral_file("ansible.log").read_text(encoding="utf-8", errors="replace")
    # The log is the converge's (and idempotence's), at -vvv.
    assert "Register the Cronicorn database with the read-only role" in log
    assert "ESTABLISH" in log
    secrets = vault_secrets()
    assert len(secrets) >= 5
    assert [name for name, value in secrets.items() if str(value) in log] == []
