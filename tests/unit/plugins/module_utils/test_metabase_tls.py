"""The client against a real TLS server on 127.0.0.1 with a self-signed certificate.

No fake at the transport boundary here: ``open_url`` of the installed ansible-core does the handshake,
so the exception chain is whatever that version raises (ansible-core 2.19: ``URLError`` wrapping
``ssl.SSLCertVerificationError``; its ``SSLValidationError`` is no longer raised).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansible_collections.cronicorn.monitoring.plugins.module_utils import metabase as mb
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fake_metabase import API_KEY


def _self_signed(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "metabase.test")])
    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 - datetime.UTC needs Python 3.11
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class _Handler(BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append((self.command, self.path))
        body = json.dumps({"status": "ok"} if self.path == "/api/health" else {"id": 1, "name": "X"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_server(tmp_path):
    """A HTTPS server on a free port of 127.0.0.1; ``seen`` lists the HTTP requests that reached it."""
    cert_file, key_file = _self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert_file, server.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize(
    ("host", "trust", "why"),
    [
        ("127.0.0.1", False, "self-signed certificate"),  # nobody vouches for it
        ("localhost", True, "Hostname mismatch"),  # trusted, but issued for 127.0.0.1 only
    ],
)
def test_the_real_exception_is_classified_as_not_sent_and_not_retryable(tls_server, host, trust, why):
    url, cert, seen = tls_server
    with pytest.raises(mb.TransportError) as caught:
        mb.urls_transport(
            "POST",
            url.replace("127.0.0.1", host) + "/api/database/",
            data=b"{}",
            timeout=5,
            ca_path=str(cert) if trust else None,
        )
    assert caught.value.request_sent is False
    assert caught.value.retryable is False
    assert caught.value.reason.startswith("TLS certificate validation failed")
    assert why in caught.value.reason
    assert seen == []


def test_a_post_is_tried_once_and_not_reported_as_maybe_done(tls_server, clock):
    url, _cert, seen = tls_server
    client = mb.MetabaseClient(url, api_key=API_KEY, timeout=5, transport=mb.urls_transport)
    with pytest.raises(mb.MetabaseError) as caught:
        client.request("POST", "/api/database/", body={"name": "X"}, idempotent=False)
    message = str(caught.value)
    assert message.startswith("POST /api/database/ failed: TLS certificate validation failed")
    assert "may have carried out" not in message
    assert "ca_path" in message and "validate_certs" in message
    assert clock.sleeps == []  # no retry, no readiness wait
    assert seen == []


def test_the_same_server_is_reached_with_its_certificate_as_ca_path(tls_server):
    """The failures above are the certificate's, not a broken server: trusting it works."""
    url, cert, seen = tls_server
    client = mb.MetabaseClient(url, api_key=API_KEY, ca_path=str(cert), timeout=5, transport=mb.urls_transport)
    assert client.request("POST", "/api/database/", body={"name": "X"}, idempotent=False) == {"id": 1, "name": "X"}
    assert seen == [("POST", "/api/database/")]
    insecure = mb.MetabaseClient(url, api_key=API_KEY, validate_certs=False, timeout=5, transport=mb.urls_transport)
    assert insecure.wait_until_ready() == {"status": "ok"}
