"""The client's transport (``urls_transport``) against real HTTP servers on 127.0.0.1.

No fake at the transport boundary: ``open_url`` of the installed ansible-core sends the request, so what is
asserted is what a server received and what came back over the socket, not what a mock was told to return.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansible_collections.cronicorn.monitoring.plugins.module_utils import metabase as mb
from fake_metabase import API_KEY


class _Handler(BaseHTTPRequestHandler):
    """Answers from ``server.routes``: path -> (status, headers, body bytes, delay seconds)."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
        status, headers, payload, delay = self.server.routes.get(self.path.split("?")[0], (404, {}, b"Not found", 0))
        time.sleep(delay)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may have given up waiting (timeout test)
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(routes):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.routes, server.seen = routes, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_request_reaches_the_server_as_sent_and_the_answer_comes_back():
    answer = b'{"id": 7, "name": "Cronicorn"}'
    with serve({"/api/database/": (200, {"Content-Type": "application/json"}, answer, 0)}) as (server, url):
        status, body = mb.urls_transport(
            "POST",
            url + "/api/database/?include=tables",
            headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
            data=json.dumps({"name": "Cronicorn"}).encode(),
            timeout=5,
        )
    assert (status, json.loads(body)) == (200, {"id": 7, "name": "Cronicorn"})
    (seen,) = server.seen
    assert (seen["method"], seen["path"]) == ("POST", "/api/database/?include=tables")
    assert seen["headers"]["x-api-key"] == API_KEY
    assert seen["headers"]["user-agent"] == mb.USER_AGENT
    assert json.loads(seen["body"]) == {"name": "Cronicorn"}


@pytest.mark.parametrize(("status", "text"), [(400, b'{"errors": {"name": "required"}}'), (401, b"Unauthenticated")])
def test_http_errors_are_answers_with_their_body(status, text):
    with serve({"/api/user/current": (status, {}, text, 0)}) as (server, url):
        assert mb.urls_transport("GET", url + "/api/user/current", timeout=5) == (status, text)
    assert len(server.seen) == 1


def test_a_5xx_answer_is_returned_not_raised():
    with serve({"/api/health": (503, {}, b'{"status": "initializing"}', 0)}) as (_server, url):
        assert mb.urls_transport("GET", url + "/api/health", timeout=5) == (503, b'{"status": "initializing"}')


def test_credentials_do_not_follow_a_redirect():
    """A GET redirected elsewhere is followed, without the API key or the session header."""
    with serve({"/api/health": (200, {}, b'{"status": "ok"}', 0)}) as (target, target_url):
        moved = {"/api/health": (302, {"Location": target_url + "/api/health"}, b"", 0)}
        with serve(moved) as (origin, origin_url):
            headers = {"X-API-Key": API_KEY, "X-Metabase-Session": "a-session-id"}
            assert mb.urls_transport("GET", origin_url + "/api/health", headers=headers, timeout=5) == (
                200,
                b'{"status": "ok"}',
            )
    assert origin.seen[0]["headers"]["x-api-key"] == API_KEY
    (followed,) = target.seen
    assert "x-api-key" not in followed["headers"]
    assert "x-metabase-session" not in followed["headers"]


def test_a_redirected_post_is_not_followed():
    """follow_redirects=safe: a write is never re-sent to another address."""
    with serve({"/api/card/": (200, {}, b"{}", 0)}) as (target, target_url):
        moved = {"/api/card/": (307, {"Location": target_url + "/api/card/"}, b"", 0)}
        with serve(moved) as (_origin, origin_url):
            status, _body = mb.urls_transport("POST", origin_url + "/api/card/", data=b"{}", timeout=5)
    assert status == 307
    assert target.seen == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_not_sent_and_retryable():
    with pytest.raises(mb.TransportError) as caught:
        mb.urls_transport("POST", f"http://127.0.0.1:{_closed_port()}/api/card/", data=b"{}", timeout=5)
    assert caught.value.request_sent is False
    assert caught.value.retryable is True


def test_no_answer_in_time_counts_as_sent():
    """The server got the request and did not answer in time: a POST may have been carried out."""
    with serve({"/api/card/": (200, {}, b"{}", 3)}) as (server, url):
        started = time.monotonic()
        with pytest.raises(mb.TransportError) as caught:
            mb.urls_transport("POST", url + "/api/card/", data=b"{}", timeout=1)
        assert time.monotonic() - started < 2.5
    assert caught.value.request_sent is True
    assert [seen["method"] for seen in server.seen] == ["POST"]
