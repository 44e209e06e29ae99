"""The TLS reverse proxy role (cronicorn.monitoring.proxy) through ansible-playbook.

The role runs against localhost with the offline nginx stand-in on a throwaway Docker network, in
front of a tiny upstream standing in for Metabase (a Python echo server in the Metabase double's image,
which has python3): it answers every request with what it received, keeps the list of requests, and
sends an HSTS header of its own. Ports are free ones of 127.0.0.1 chosen at run time; the certificate
and configuration directories live under pytest's tmp_path.

Proved here: HTTPS answers through the proxy with the generated self-signed certificate (byte for byte
the one on disk, valid for localhost and 127.0.0.1), the upstream gets X-Forwarded-Proto/For/Host and
the client exactly one HSTS header (the role's); plain HTTP answers only a redirect to HTTPS and no
plain-HTTP request reaches the upstream; TLS 1.0 and 1.1 are refused by the server, 1.2 and 1.3 work; a
second run, and a run in check mode, change nothing; a given certificate and key replace the generated
pair (reloaded in the running container) and the key appears nowhere in `ansible-playbook -vvv --diff`;
a key that does not belong to the certificate is refused before anything is written; a configuration
value nginx refuses (tested with `nginx -t` in a throwaway container before it replaces the file) fails the
run and leaves the previous configuration on disk, so a restart still comes up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import http.client
import ipaddress
import json
import socket
import ssl
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest
from ansible_runs import Run, run_playbook
from conftest import DockerResources, resource_name
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ports import free_port

NGINX_IMAGE = "cronicorn-offline/nginx:1.22"
UPSTREAM_IMAGE = "cronicorn-offline/metabase:v0.58.5"  # only for its python3
HSTS_MAX_AGE = 31536000

PLAYBOOK = """
- name: TLS reverse proxy
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: cronicorn.monitoring.proxy
"""

# The stand-in for Metabase: echoes each request as JSON and lists those it saw at /__seen.
ECHO_SERVER = """
import http.server, json
seen = []
class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path == "/__seen":
            body = json.dumps(seen).encode()
        else:
            seen.append({"method": self.command, "path": self.path})
            body = json.dumps({"method": self.command, "path": self.path,
                               "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Strict-Transport-Security", "max-age=1")
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_HEAD = answer
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 3000), Echo).serve_forever()
"""


@dataclasses.dataclass
class Proxy:
    resources: DockerResources
    workdir: Path
    container_name: str
    network: str
    upstream: str
    https_port: int
    http_port: int
    outputs: list[str] = dataclasses.field(default_factory=list)

    @property
    def tls_dir(self) -> Path:
        return self.workdir / "tls"

    @property
    def config_dir(self) -> Path:
        return self.workdir / "conf"

    @property
    def certificate_file(self) -> Path:
        return self.tls_dir / "proxy.crt"

    @property
    def key_file(self) -> Path:
        return self.tls_dir / "proxy.key"

    def play(self, *options: str, **overrides) -> Run:
        extra = {
            "ansible_python_interpreter": sys.executable,
            "proxy_image": NGINX_IMAGE,
            "proxy_container_name": self.container_name,
            "proxy_network": self.network,
            "proxy_upstream": f"http://{self.upstream}:3000",
            "proxy_https_port": self.https_port,
            "proxy_http_port": self.http_port,
            "proxy_tls_dir": str(self.tls_dir),
            "proxy_config_dir": str(self.config_dir),
            "proxy_healthcheck_interval": "1s",
            "proxy_healthcheck_start_period": "2s",
            "proxy_wait_timeout": 30,
            **overrides,
        }
        run = run_playbook(self.workdir, "proxy.yml", PLAYBOOK, extra, *options, timeout=180)
        self.outputs.append(run.output)
        return run

    def container(self):
        return self.resources.client.containers.get(self.container_name)


# The labels the collection's roles give the network: with others, docker_network would recreate it.
NETWORK_LABELS = {"org.cronicorn.monitoring.managed": "true", "org.cronicorn.monitoring.component": "network"}


@pytest.fixture(scope="module")
def proxy(docker_client, tmp_path_factory) -> Iterator[Proxy]:
    resources = DockerResources(docker_client)
    resources.require_image(NGINX_IMAGE)
    name = resource_name("proxy")
    network = docker_client.networks.create(resource_name("net"), driver="bridge", labels=NETWORK_LABELS)
    try:
        upstream = resources.run(
            UPSTREAM_IMAGE,
            name=resource_name("upstream"),
            entrypoint=["python3", "-c", ECHO_SERVER],
            network=network.name,
        )
        proxy = Proxy(
            resources,
            tmp_path_factory.mktemp("proxy"),
            name,
            network.name,
            upstream.name,
            free_port(),
            free_port(),
        )
        first = proxy.play("-vvv")
        assert first.rc == 0, first.output[-5000:]
        assert docker_client.networks.get(network.name).id == network.id  # the role used it as it was
        yield proxy
    finally:
        with contextlib.suppress(docker.errors.NotFound):  # never created, or already gone
            docker_client.containers.get(name).remove(force=True, v=True)
        resources.cleanup()
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.networks.get(network.name).remove()


def client_context(
    cafile: Path | None = None, version: ssl.TLSVersion | None = None, check_hostname: bool = True
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(cafile=str(cafile))
        context.check_hostname = check_hostname
    if version is not None:
        if version < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer what the server must refuse
        context.minimum_version = version
        context.maximum_version = version
    return context


def handshake(port: int, context: ssl.SSLContext, server_hostname: str = "localhost") -> tuple[bytes, str]:
    """The certificate the server sent (DER) and the TLS version negotiated."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        return tls.getpeercert(binary_form=True), tls.version()


def request(port: int, method: str, path: str, *, https: bool, cafile: Path | None = None, headers=None, body=None):
    if https:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=client_context(cafile, None, False))
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def der(pem: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem)


def served_certificate(proxy: Proxy) -> bytes:
    return handshake(proxy.https_port, client_context())[0]


def test_generated_certificate_is_served_and_valid_for_the_default_names(proxy):
    """The self-signed certificate is generated on the host (key 0600 in a 0700 directory), served byte
    for byte, and a client trusting it verifies localhost and 127.0.0.1 (subjectAltName)."""
    assert stat.S_IMODE(proxy.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(proxy.tls_dir.stat().st_mode) == 0o700
    assert served_certificate(proxy) == der(proxy.certificate_file.read_text())

    certificate = x509.load_pem_x509_certificate(proxy.certificate_file.read_bytes())
    assert certificate.issuer == certificate.subject
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    for name in ("localhost", "127.0.0.1"):
        handshake(proxy.https_port, client_context(proxy.certificate_file), server_hostname=name)


def test_the_generated_key_is_not_in_the_vvv_output(proxy):
    first_run = proxy.outputs[0]
    assert "Generate the private key" in first_run
    for fragment in key_fragments(proxy.key_file.read_text()):
        assert fragment not in first_run


def test_ports_are_published_on_loopback_only(proxy):
    container = proxy.container()
    assert DockerResources.published_port(container, "443/tcp") == proxy.https_port
    assert DockerResources.published_port(container, "80/tcp") == proxy.http_port
    assert container.attrs["State"]["Health"]["Status"] == "healthy"


def test_https_reaches_the_upstream_with_forwarded_headers_and_hsts(proxy):
    status, headers, body = request(
        proxy.https_port,
        "GET",
        "/api/health?probe=1",
        https=True,
        cafile=proxy.certificate_file,
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert status == 200, body
    echoed = json.loads(body)
    assert echoed["path"] == "/api/health?probe=1"
    forwarded = echoed["headers"]
    assert forwarded["x-forwarded-proto"] == "https"
    assert forwarded["x-forwarded-host"] == f"127.0.0.1:{proxy.https_port}"
    # The proxy is the edge: a client's own X-Forwarded-For is replaced by its address.
    assert "203.0.113.9" not in forwarded["x-forwarded-for"]
    ipaddress.ip_address(forwarded["x-forwarded-for"])
    hsts = [value for name, value in headers if name.lower() == "strict-transport-security"]
    assert hsts == [f"max-age={HSTS_MAX_AGE}"]


def test_http_only_redirects_to_https_and_never_reaches_the_upstream(proxy):
    """The login request sent over plain HTTP gets a redirect and is not forwarded to Metabase."""
    for method, body in (("GET", None), ("POST", b'{"username": "admin", "password": "over-plain-http"}')):
        status, headers, _body = request(
            proxy.http_port,
            method,
            "/api/session?next=%2F",
            https=False,
            body=body,
            headers={"Content-Type": "application/json"},
        )
        assert status in (301, 308)
        assert dict(headers)["Location"] == f"https://127.0.0.1:{proxy.https_port}/api/session?next=%2F"
    seen = request(proxy.https_port, "GET", "/__seen", https=True, cafile=proxy.certificate_file)[2]
    assert [entry for entry in json.loads(seen) if entry["path"].startswith("/api/session")] == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # ssl.TLSVersion.TLSv1 and TLSv1_1 on purpose
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["TLSv1.0", "TLSv1.1"])
def test_tls_below_1_2_is_refused_by_the_server(proxy, version):
    with pytest.raises(ssl.SSLError) as refused:
        handshake(proxy.https_port, client_context(version=version))
    # The server's protocol_version alert, not a client that could not offer the version.
    assert "ALERT_PROTOCOL_VERSION" in str(refused.value).upper(), refused.value


@pytest.mark.parametrize(
    ("version", "name"),
    [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")],
    ids=["TLSv1.2", "TLSv1.3"],
)
def test_tls_1_2_and_1_3_work(proxy, version, name):
    certificate, negotiated = handshake(proxy.https_port, client_context(proxy.certificate_file, version))
    assert negotiated == name
    assert certificate == der(proxy.certificate_file.read_text())


def test_a_second_run_and_a_check_run_change_nothing(proxy):
    before = (proxy.certificate_file.read_bytes(), proxy.key_file.read_bytes(), proxy.container().id)
    second = proxy.play()
    assert second.rc == 0, second.output[-5000:]
    assert second.changed == 0, second.output[-5000:]
    check = proxy.play("--check")
    assert check.rc == 0, check.output[-5000:]
    assert check.changed == 0, check.output[-5000:]
    assert (proxy.certificate_file.read_bytes(), proxy.key_file.read_bytes(), proxy.container().id) == before


def make_pair(common_name: str) -> tuple[str, str]:
    """A self-signed certificate for ``common_name`` and 127.0.0.1, and its private key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(common_name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def key_fragments(key_pem: str) -> list[str]:
    """What would give the private key away in an output: its PEM, each base64 line of it that is not
    also part of the public key's PEM (an EC key in PKCS#8 ends with its public key), and the private
    value in hex."""
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    public_b64 = "".join(line for line in public_pem.splitlines() if not line.startswith("-----"))
    lines = [line for line in key_pem.strip().splitlines() if not line.startswith("-----")]
    private_hex = format(key.private_numbers().private_value, "x")
    return [key_pem.strip(), private_hex, *(line for line in lines if line not in public_b64)]


def test_a_key_that_does_not_match_the_certificate_is_refused(proxy):
    certificate = make_pair("mismatch.test")[0]
    other_key = make_pair("mismatch.test")[1]
    before = proxy.certificate_file.read_bytes()
    run = proxy.play("-vvv", "--diff", proxy_tls_certificate=certificate, proxy_tls_private_key=other_key)
    assert run.rc == 2, run.output[-5000:]
    assert "the private key does not match the certificate" in run.output
    assert proxy.certificate_file.read_bytes() == before
    for fragment in key_fragments(other_key):
        assert fragment not in run.output


def test_a_configuration_nginx_refuses_is_never_written(proxy):
    """A value nginx rejects fails the run with nginx's message, and the configuration on disk stays the
    previous one: the running proxy keeps serving, and so does the container after a restart."""
    config = proxy.config_dir / "cronicorn-proxy.conf"
    before = config.read_bytes()
    container_id = proxy.container().id
    run = proxy.play(proxy_client_max_body_size="50q")
    assert run.rc != 0, run.output[-5000:]
    text = " ".join(run.output.split())
    assert "nginx refused the new configuration, so it was not written" in text, run.output[-5000:]
    assert "client_max_body_size" in text  # nginx's own message
    assert config.read_bytes() == before
    assert [p.name for p in proxy.config_dir.iterdir() if p.suffix == ".conf"] == ["cronicorn-proxy.conf"]
    assert proxy.container().id == container_id
    assert not [c for c in proxy.resources.client.containers.list(all=True) if c.name.endswith("-config-test")]

    proxy.container().restart(timeout=5)
    deadline = time.monotonic() + 20
    while True:
        try:
            handshake(proxy.https_port, client_context(proxy.certificate_file))
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    again = proxy.play()
    assert again.rc == 0 and again.changed == 0, again.output[-5000:]


def test_a_given_pair_replaces_the_generated_one_and_the_key_is_never_logged(proxy):
    """Run last: it leaves the given pair in place. The running container reloads it (same container)."""
    certificate, key = make_pair("proxy.test")
    container_id = proxy.container().id
    run = proxy.play("-vvv", "--diff", proxy_tls_certificate=certificate, proxy_tls_private_key=key)
    assert run.rc == 0, run.output[-5000:]
    assert run.changed > 0
    assert proxy.certificate_file.read_text() == certificate
    assert proxy.key_file.read_text() == key
    assert stat.S_IMODE(proxy.key_file.stat().st_mode) == 0o600
    assert proxy.container().id == container_id

    deadline = time.monotonic() + 5
    while served_certificate(proxy) != der(certificate) and time.monotonic() < deadline:
        time.sleep(0.1)  # nginx -s reload returns before the new workers take over
    assert served_certificate(proxy) == der(certificate)
    handshake(proxy.https_port, client_context(proxy.certificate_file), server_hostname="proxy.test")

    again = proxy.play(proxy_tls_certificate=certificate, proxy_tls_private_key=key)
    assert again.rc == 0, again.output[-5000:]
    assert again.changed == 0, again.output[-5000:]

    for output in proxy.outputs:
        for fragment in key_fragments(key):
            assert fragment not in output
