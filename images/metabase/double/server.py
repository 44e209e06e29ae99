"""HTTP server and lifecycle of the Metabase API double.

Like Metabase (Jetty first, then ``init!``): the socket listens at once; while init runs,
GET /api/health answers 503 ``{"status":"initializing","progress":…}`` and every other /api route
503 ``Metabase is still initializing. Please sit tight...``. Init connects to the app DB (retrying
for MB_DB_CONNECTION_TIMEOUT_MS), creates the tables, creates the setup token on a fresh install and
lasts at least MB_DOUBLE_INIT_SECONDS. If it fails, "Metabase Initialization FAILED" is logged and
the process exits 1, so the container stops, as Metabase's does.

One log line per request: method, path (no query string), status and duration; never bodies or
headers, which can carry passwords, tokens and session ids.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import psycopg2

from double import METABASE_VERSION, __version__, appdb, content, databases, journal, settings
from double.appdb import AppDB, AppDBUnavailable
from double.auth import LoginThrottle
from double.config import Config, ConfigError
from double.crypto import Encryptor
from double.routes import build_router
from double.sync import SyncWorker
from double.web import NOT_FOUND, STILL_INITIALIZING, HTTPError, Request, Response, Router

log = logging.getLogger("metabase.core")
request_log = logging.getLogger("metabase.server.middleware.log")

MAX_BODY = 10 * 1024 * 1024


class InitError(Exception):
    """Init failed; the message is safe to log."""


class Lifecycle:
    """Init progress, read by /api/health while init runs in the main thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready = False
        self._progress = 0.0

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._ready

    @property
    def progress(self) -> float:
        with self._lock:
            return round(self._progress, 2)

    def advance(self, progress: float) -> None:
        with self._lock:
            self._progress = max(self._progress, min(progress, 0.99))

    def complete(self) -> None:
        with self._lock:
            self._progress = 1.0
            self._ready = True


class App:
    """What a request handler can reach: config, app DB, lifecycle, router, the encryption of
    connection details, the login throttle and the background sync worker."""

    def __init__(self, config: Config, router: Router | None = None) -> None:
        self.config = config
        self.db = AppDB(config)
        self.lifecycle = Lifecycle()
        self.router = router or build_router()
        self.stopping = threading.Event()
        self.encryptor = Encryptor(config.encryption_key or None)
        self.throttle = LoginThrottle(enabled=config.session_throttle)
        self.sync = SyncWorker(self)

    def initialize(self) -> None:
        """Metabase's ``init!``: app DB, tables, setup token; at least MB_DOUBLE_INIT_SECONDS long."""
        started = time.monotonic()
        problem = self.config.app_db_problem()
        if problem:
            raise InitError(problem)
        self.lifecycle.advance(0.1)
        log.info("Setting up and migrating Metabase DB. Please sit tight, this may take a minute...")
        try:
            self.db.wait_until_reachable(self.config.db_connection_timeout, self.stopping.is_set)
            self.lifecycle.advance(0.3)
            self.db.migrate()
            with self.db.transaction() as cur:
                upgraded = content.upgrade_legacy_queries(cur)
            if upgraded:
                log.info("Converted the queries of %d cards to MBQL 5", upgraded)
            self.lifecycle.advance(0.5)
            self._ensure_setup_token()
            self.sync.start()
        except AppDBUnavailable as exc:
            raise InitError(str(exc)) from None
        self.lifecycle.advance(0.7)
        # The double-only minimum duration, so clients really have to wait for readiness.
        while not self.stopping.is_set():
            elapsed = time.monotonic() - started
            if elapsed >= self.config.init_seconds:
                break
            self.lifecycle.advance(0.7 + 0.29 * elapsed / self.config.init_seconds)
            self.stopping.wait(min(0.1, self.config.init_seconds - elapsed))
        if self.stopping.is_set():
            raise InitError("stopped during init")
        self.lifecycle.complete()

    def _ensure_setup_token(self) -> None:
        """A fresh install (no user yet) gets a random setup token, stored so it survives restarts."""
        if settings.from_env(self.config.env, "setup-token"):
            return
        with self.db.transaction() as cur:
            if appdb.has_user(cur) or appdb.get_setting(cur, "setup-token"):
                return
            settings.put(cur, "setup-token", str(uuid.uuid4()))
            if self.config.load_sample_content:
                databases.add_sample_database(cur, self.encryptor)
                log.info("Loading sample database")
            log.info("Please use the following URL to setup Metabase: <site-url>/setup/")

    def maybe_set_site_url(self, request: Request) -> None:
        """Metabase sets site-url from the first API request when it is unset (not from health checks)."""
        if settings.from_env(self.config.env, "site-url"):
            return
        origin = request.header("Origin")
        if not origin:
            host = request.header("X-Forwarded-Host") or request.header("Host")
            if not host:
                return
            scheme = request.header("X-Forwarded-Proto") or "http"
            origin = f"{scheme}://{host}"
        with self.db.transaction() as cur:
            if appdb.get_setting(cur, "site-url") is None:
                settings.put(cur, "site-url", origin.rstrip("/"))

    def handle(self, request: Request) -> Response:
        """Route ``request`` the way Metabase's middleware stack would."""
        if not request.path.startswith("/api/") and request.path != "/api":
            if request.method == "GET":
                return Response.html("<!doctype html><title>Metabase</title><p>Metabase API double</p>")
            return Response.text(NOT_FOUND, 404)
        found = self.router.resolve(request.method, request.path)
        if not self.lifecycle.ready and not (found and found[0].during_init):
            return Response.text(STILL_INITIALIZING, 503)
        if found is not None and request.raw_path.endswith("/") and not found[0].root:
            found = None  # /api/card/1/: an item path with a trailing slash is no route in Metabase
        if found is None:
            return Response.text(NOT_FOUND, 404)
        route, params = found
        if not route.during_init:
            self.maybe_set_site_url(request)
        try:
            request.parse_body()  # a body that is not JSON: 400, whatever the route
            response = route.handler(request, **params)
        except HTTPError as exc:
            return exc.response
        if route.journal and 200 <= response.status < 300:
            self._journal(request, response)
        return response

    def _journal(self, request: Request, response: Response) -> None:
        """Append an accepted request to the journal (journal.py); a failure is logged, the
        answer still goes out."""
        try:
            with self.db.transaction() as cur:
                journal.record(
                    cur,
                    request.method,
                    request.raw_path,
                    query=request.query,
                    body=request.parse_body(),
                    status=response.status,
                )
        except (AppDBUnavailable, HTTPError, psycopg2.Error) as exc:
            # Only the error's class: a database error can quote the (secret-bearing) body.
            log.error("Could not journal %s %s: %s", request.method, request.path, type(exc).__name__)


class RequestHandler(BaseHTTPRequestHandler):
    server_version = "Jetty(11.0.25)"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    server: DoubleServer

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        path = url.path if url.path in ("", "/") else url.path.rstrip("/")
        method = "GET" if self.command == "HEAD" else self.command
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            response = Response.json({"message": "Invalid Content-Length."}, 400)
            self.close_connection = True
        else:
            body = self.rfile.read(length) if length else b""
            request = Request(
                method,
                path,
                parse_qs(url.query, keep_blank_values=True),
                self.headers,
                body,
                self.server.app,
                raw_path=url.path,
                remote_addr=self.client_address[0] if self.client_address else "",
            )
            response = self._safe_handle(request)
        self._send(response, include_body=self.command != "HEAD")
        request_log.info("%s %s %d %.1f ms", self.command, path, response.status, (time.monotonic() - started) * 1000)

    def _safe_handle(self, request: Request) -> Response:
        try:
            return self.server.app.handle(request)
        except AppDBUnavailable as exc:
            log.error("%s %s: application database unavailable: %s", request.method, request.path, exc)
            return Response.json({"message": "Unable to get app-db connection"}, 500)
        except Exception:
            log.exception("%s %s: unexpected error", request.method, request.path)
            return Response.json({"message": "Internal error in the Metabase API double."}, 500)

    def _send(self, response: Response, include_body: bool) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if include_body and response.body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args) -> None:
        # http.server would log the raw request line (query strings can hold tokens): keep it quiet;
        # _dispatch logs one sanitised line per request instead.
        return


class DoubleServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, RequestHandler)


def _configure_logging() -> None:
    logging.basicConfig(
        stream=sys.stdout,
        level=os.environ.get("MB_DOUBLE_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s :: %(message)s",
    )


def main() -> int:
    _configure_logging()
    log.info("Starting Metabase API double %s (as Metabase %s)", __version__, METABASE_VERSION["tag"])
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        log.error("%s", exc)
        log.error("Metabase Initialization FAILED")
        return 1

    app = App(config)
    try:
        server = DoubleServer((config.jetty_host, config.jetty_port), app)
    except OSError as exc:
        log.error("Cannot listen on %s:%d: %s", config.jetty_host, config.jetty_port, exc.strerror)
        return 1
    threading.Thread(target=server.serve_forever, name="jetty", daemon=True).start()
    log.info("Metabase API double is listening on %s:%d", config.jetty_host, config.jetty_port)

    def stop(signum: int, _frame) -> None:
        log.info("Received %s, shutting down", signal.Signals(signum).name)
        app.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    started = time.monotonic()
    try:
        app.initialize()
    except InitError as exc:
        server.shutdown()
        app.db.close()
        if app.stopping.is_set():
            return 0
        log.error("%s", exc)
        log.error("Metabase Initialization FAILED")
        return 1
    log.info("Metabase Initialization COMPLETE in %.1f s", time.monotonic() - started)

    app.stopping.wait()
    server.shutdown()
    app.sync.stop()
    server.server_close()
    app.db.close()
    log.info("Metabase API double stopped")
    return 0
