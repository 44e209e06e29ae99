"""An in-memory Metabase for unit tests, plugged in at the client's transport boundary.

It answers like Metabase does, as recorded in ``shared/metabase/behaviour.md`` (status codes and
bodies; section numbers below refer to it). It is not the Metabase double of ``images/``: it holds
no socket and no PostgreSQL, and it "connects" to databases described in ``pg_servers``.

Every request it receives is recorded (method, path, query, headers, decoded body) so tests can
count them and the contract fixture can validate each against the OpenAPI spec.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase import REDACTED, TransportError
from fake_metabase_access import AccessRoutes
from fake_metabase_content import ContentRoutes
from openapi_contract import NO_BODY

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Adm1n-Secret-pw"
API_KEY = "mb_FakeApiKeyValue0123456789abcdef="
SETUP_TOKEN = "7a1c1f58-0d4f-4c1e-9d0e-5c3e0b7f0a11"
RO_PASSWORD = "Ro-Secret-pw-42"
RO_PASSWORD_2 = "Ro-Secret-pw-43"

COMMON_PASSWORDS = {"password", "password1", "12345678", "metabase1", "admin123", "qwerty123"}
SENSITIVE = {"password", "pass", "tunnel-pass", "tunnel-private-key", "tunnel-private-key-passphrase"}


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: object = NO_BODY


@dataclass
class PgServer:
    """A PostgreSQL server the fake can 'connect' to: databases, users and whether it speaks SSL."""

    databases: set = field(default_factory=lambda: {"cronicorn"})
    users: dict = field(default_factory=lambda: {"metabase_readonly": RO_PASSWORD, "cronicorn": "Owner-pw-1"})
    ssl: bool = False


def _json(status, payload):
    return status, json.dumps(payload).encode("utf-8")


def _text(status, text):
    return status, text.encode("utf-8")


class FakeMetabase(ContentRoutes, AccessRoutes):
    """Callable with the transport signature of ``plugins/module_utils/metabase.py``.

    Collections, cards, dashboards and metadata are answered by :class:`ContentRoutes`.
    """

    def __init__(self, *, setup_done=True, list_shape="data", sample_database=True):
        self.requests: list[Request] = []
        self.setup_token = SETUP_TOKEN
        self.site_name = "Metabase"
        self.users = {}
        self._ids = itertools.count(1)
        if setup_done:
            self._add_user(ADMIN_EMAIL, ADMIN_PASSWORD, superuser=True, first_name="Ada", last_name="Admin")
        self.api_keys = {API_KEY: ADMIN_EMAIL}
        self.sessions = {}  # live sessions: id -> email
        self.opened_sessions = []  # every session id ever handed out, ended or not
        self.login_failures = {}  # username as sent -> failed or refused logins (no expiry here)
        self.databases = {}
        self._db_ids = itertools.count(1)
        self.list_shape = list_shape
        self.pg_servers = {("postgres", 5432): PgServer()}
        self.syncs = []
        self.healthchecks = 0
        self.initializing = 0  # health polls left that answer 503 "initializing"
        self._faults = []  # [remaining, method, path, kind, payload]
        self.dashcard_writes = []  # per PUT /api/dashboard/{id} with dashcards: kept, created, deleted
        self._init_content()
        self._init_access()
        if sample_database:
            self._store(
                {
                    "name": "Sample Database",
                    "engine": "h2",
                    "is_sample": True,
                    "details": {"db": "file:/plugins/sample-database.db;USER=GUEST;PASSWORD=guest"},
                }
            )

    # -- setup helpers for tests -----------------------------------------------------------------

    def _add_user(self, email, password, superuser, first_name=None, last_name=None):
        user_id = next(self._ids)
        self.users[email] = {
            "id": user_id,
            "email": email,
            "password": password,
            "is_superuser": superuser,
            "first_name": first_name,
            "last_name": last_name,
            "common_name": " ".join(part for part in (first_name, last_name) if part) or email,
            "locale": None,
        }
        return self.users[email]

    def add_user(self, email, password, superuser=False):
        return self._add_user(email, password, superuser)

    @property
    def has_user_setup(self):
        return bool(self.users)

    def _store(self, body):
        db_id = next(self._db_ids)
        database = {
            "id": db_id,
            "name": body["name"],
            "engine": body["engine"],
            "details": copy.deepcopy(body["details"]),
            "is_sample": body.get("is_sample", False),
            "is_full_sync": body.get("is_full_sync", True),
            "is_on_demand": body.get("is_on_demand", False),
            "auto_run_queries": body.get("auto_run_queries", True),
            "cache_ttl": None,
            "initial_sync_status": "incomplete",
            "timezone": None,
            "features": ["basic-aggregations"],
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "schedules": {"metadata_sync": {"schedule_type": "hourly", "schedule_minute": 17}},
            "native_permissions": "write",
            "can-manage": True,
        }
        self.databases[db_id] = database
        return database

    def add_database(self, name, engine="postgres", **details):
        return self._store({"name": name, "engine": engine, "details": details})

    def fail_next(self, status, payload, *, count=1, method=None, path=None):
        """The next ``count`` matching requests get ``status`` with ``payload`` (dict → JSON, str → text)."""
        self._faults.append([count, method, path, "http", (status, payload)])

    def refuse_next(self, count=1, *, method=None, path=None):
        """The next ``count`` matching requests find no listener (connection refused)."""
        self._faults.append([count, method, path, "refused", None])

    def timeout_next(self, count=1, *, method=None, path=None):
        """The next ``count`` matching requests time out after being sent."""
        self._faults.append([count, method, path, "timeout", None])

    def secrets(self):
        """Every secret value in play: passwords, API key, setup token, session ids."""
        values = {ADMIN_PASSWORD, API_KEY, SETUP_TOKEN, RO_PASSWORD, RO_PASSWORD_2, *self.opened_sessions}
        values.update(user["password"] for user in self.users.values())
        for server in self.pg_servers.values():
            values.update(server.users.values())
        return {value for value in values if value}

    def count(self, method=None, path=None):
        return sum(
            1 for r in self.requests if (method is None or r.method == method) and (path is None or r.path == path)
        )

    def recorded(self):
        """The requests received, as ``(method, path, query, body)`` for ``OpenApiContract.check_many``."""
        return [(r.method, r.path, r.query, r.body) for r in self.requests]

    def writes(self):
        """Requests that would change Metabase's state (login and setup aside)."""
        return [
            r
            for r in self.requests
            if r.method in ("POST", "PUT", "DELETE") and r.path not in ("/api/session/", "/api/session")
        ]

    # -- transport -------------------------------------------------------------------------------

    def __call__(self, method, url, *, headers=None, data=None, timeout=None, validate_certs=True, ca_path=None):
        split = urlsplit(url)
        body = NO_BODY if data is None else json.loads(data.decode("utf-8"))
        headers = {key.lower(): value for key, value in (headers or {}).items()}
        request = Request(method, split.path, parse_qs(split.query, keep_blank_values=True), headers, body)
        self.requests.append(request)
        for fault in self._faults:
            remaining, f_method, f_path, kind, payload = fault
            if remaining > 0 and f_method in (None, method) and f_path in (None, split.path):
                fault[0] -= 1
                if kind == "refused":
                    raise TransportError("connection error: [Errno 111] Connection refused", request_sent=False)
                if kind == "timeout":
                    raise TransportError("timed out waiting for an answer")
                status, answer = payload
                return _json(status, answer) if isinstance(answer, (dict, list)) else _text(status, answer)
        return self._route(request)

    # -- routes ----------------------------------------------------------------------------------

    def _route(self, req):  # noqa: PLR0911, PLR0912 - one return per route reads best in a router
        path = req.path if req.path.endswith("/") else req.path + "/"  # Metabase serves both spellings
        if path == "/api/health/" and req.method == "GET":
            if self.initializing > 0:
                self.initializing -= 1
                return _json(503, {"status": "initializing", "progress": 0.4})
            return _json(200, {"status": "ok"})
        if self.initializing > 0:
            return _text(503, "Metabase is still initializing. Please sit tight...")
        public = {
            ("GET", "/api/session/properties/"): self._properties,
            ("POST", "/api/session/password-check/"): self._password_check,
            ("POST", "/api/setup/"): self._setup,
            ("POST", "/api/session/"): self._login,
        }
        if (req.method, path) in public:
            return public[(req.method, path)](req)
        if (req.method, path) == ("DELETE", "/api/session/"):
            return self._logout(req)
        user = self._authenticate(req)
        if user is None:
            return _text(401, "Unauthenticated")
        if (req.method, path) == ("GET", "/api/user/current/"):
            return _json(200, {k: v for k, v in user.items() if k != "password"})
        answer = self._access_route(req, path, user)
        if answer is None:
            answer = self._content_route(req, path)
        if answer is not None:
            return answer
        match = re.fullmatch(r"/api/database/(?:(\d+)/)?(?:(sync_schema|healthcheck)/)?", path)
        if not match:
            return _text(404, "API endpoint does not exist.")
        if not user["is_superuser"]:
            return _text(403, "You don't have permissions to do that.")
        db_id, action = match.groups()
        if db_id is None:
            return {"GET": self._list, "POST": self._create}.get(req.method, self._not_found)(req)
        database = self.databases.get(int(db_id))
        if database is None:
            return _text(404, "Not found.")
        if action == "sync_schema" and req.method == "POST":
            self.syncs.append(database["id"])
            return _json(200, {"status": "ok"})
        if action == "healthcheck" and req.method == "GET":
            self.healthchecks += 1
            refusal = self._connect(database["engine"], database["details"])
            if refusal is None:
                return _json(200, {"status": "ok"})
            return _json(200, {"status": "error", "message": json.loads(refusal[1])["message"]})
        handler = {"GET": self._get, "PUT": self._update, "DELETE": self._delete}.get(req.method)
        return handler(req, database) if handler and not action else self._not_found(req)

    @staticmethod
    def _not_found(*_):
        return _text(404, "API endpoint does not exist.")

    def _authenticate(self, req):
        key = req.headers.get("x-api-key")
        if key is not None:
            email = self.api_keys.get(key)
        else:
            email = self.sessions.get(req.headers.get("x-metabase-session"))
        return self.users.get(email) if email else None

    def _properties(self, _req):
        return _json(
            200,
            {
                "setup-token": self.setup_token,
                "has-user-setup": self.has_user_setup,
                "version": {"tag": "v0.56.3", "hash": "abc1234"},
                "site-url": None,
                "site-name": self.site_name,
            },
        )

    def _new_session(self, email):
        session_id = str(uuid.uuid4())
        self.sessions[session_id] = email
        self.opened_sessions.append(session_id)
        return _json(200, {"id": session_id})

    def _setup(self, req):
        body = req.body if isinstance(req.body, dict) else {}
        if self.has_user_setup:
            return _text(
                403, "The /api/setup route can only be used to create the first user, however a user currently exists."
            )
        if body.get("token") != self.setup_token:
            return _json(400, {"errors": {"token": "Token does not match the setup token."}})
        user = body.get("user") or {}
        password = user.get("password") or ""
        if not self.password_ok(password):
            return _json(
                400,
                {
                    "errors": {"user": {"password": "password is too common."}},
                    "specific-errors": {"user": {"password": ["valid password that is not too common"]}},
                },
            )
        if not (body.get("prefs") or {}).get("site_name"):
            return _json(400, {"errors": {"prefs": "map where {:site_name -> <value must be a non-blank string.>}"}})
        self._add_user(user["email"], password, True, user.get("first_name"), user.get("last_name"))
        self.site_name = body["prefs"]["site_name"]
        return self._new_session(user["email"])

    @staticmethod
    def password_ok(password):
        return not (password.lower() in COMMON_PASSWORDS or len(password) < 6 or not re.search(r"\d", password))

    def _password_check(self, req):
        """session/api.clj: ms/ValidPassword, the rule setup applies; no auth."""
        body = req.body if isinstance(req.body, dict) else {}
        password = body.get("password")
        if not isinstance(password, str) or not self.password_ok(password):
            return _json(
                400,
                {
                    "errors": {"password": "password is too common."},
                    "specific-errors": {"password": ["valid password that is not too common"]},
                },
            )
        return _json(200, {"valid": True})

    def _login(self, req):
        body = req.body if isinstance(req.body, dict) else {}
        if not body.get("username"):
            return _json(400, {"errors": {"username": "value must be a non-blank string."}})
        # Metabase's throttle (session/api.clj): from 10 failures for a username every login is
        # refused, the right password included, and the refusal counts as one more failure.
        failures = self.login_failures.get(body["username"], 0)
        if failures >= 10:
            self.login_failures[body["username"]] = failures + 1
            wait = round(15 * (failures + 1 - 10) ** 1.5)
            message = f"Too many attempts! You must wait {wait} seconds before trying again."
            return _json(401, {"errors": {"username": message}})
        user = self.users.get(body["username"])
        if user is None or user["password"] != body.get("password"):
            self.login_failures[body["username"]] = failures + 1
            return _json(401, {"errors": {"password": "did not match stored password"}})
        return self._new_session(user["email"])

    def _logout(self, req):
        """session/api.clj: 404 without a session key or for an unknown one, else 204."""
        session_id = req.headers.get("x-metabase-session")
        if not session_id or session_id not in self.sessions:
            return _text(404, "Not found.")
        del self.sessions[session_id]
        return 204, b""

    # -- databases -------------------------------------------------------------------------------

    @staticmethod
    def public(database):
        result = copy.deepcopy(database)
        result["details"] = {k: (REDACTED if k in SENSITIVE else v) for k, v in database["details"].items()}
        return result

    def _list(self, _req):
        entries = [self.public(db) for db in sorted(self.databases.values(), key=lambda d: d["name"].lower())]
        if self.list_shape == "bare":
            return _json(200, entries)
        return _json(200, {"data": entries, "total": len(entries)})

    def _get(self, _req, database):
        return _json(200, self.public(database))

    def _connect(self, engine, details):
        """Metabase's connection test (§4): None when it connects, else the 400 answer."""
        if engine != "postgres":
            return None
        server = self.pg_servers.get((details.get("host"), int(details.get("port") or 5432)))
        if server is None or (details.get("ssl") is True and not server.ssl):
            return _json(
                400,
                {
                    "message": "Hmm, we couldn't connect to the database. "
                    "Make sure your Host and Port settings are correct",
                    "errors": {"host": "check your host settings", "port": "check your port settings"},
                },
            )
        if details.get("user") not in server.users:
            return _json(
                400, {"message": "Looks like your Username is incorrect.", "errors": {"user": "check your username"}}
            )
        if server.users[details["user"]] != details.get("password"):
            return _json(
                400,
                {"message": "Looks like your Password is incorrect.", "errors": {"password": "check your password"}},
            )
        if details.get("dbname") not in server.databases:
            return _json(
                400,
                {
                    "message": "Looks like the Database name is incorrect.",
                    "errors": {"dbname": "check your database name settings"},
                },
            )
        return None

    def _create(self, req):
        body = req.body if isinstance(req.body, dict) else {}
        missing = {key: "value must be a non-blank string." for key in ("name", "engine") if not body.get(key)}
        if not isinstance(body.get("details"), dict):
            missing["details"] = "Value must be a map."
        if missing:
            return _json(400, {"errors": missing})
        details = dict(body["details"])
        if details.get("ssl") is not True:  # opportunistic SSL (§4): try SSL first, keep it if it works
            trial = dict(details, ssl=True)
            if self._connect(body["engine"], trial) is None:
                details = trial
        refusal = self._connect(body["engine"], details)
        if refusal is not None:
            return refusal
        database = self._store(dict(body, details=details))
        return _json(200, self.public(database))

    def _update(self, req, database):
        body = req.body if isinstance(req.body, dict) else {}
        details = dict(database["details"])
        for key, value in (body.get("details") or {}).items():
            if value is None or (key in SENSITIVE and value == REDACTED):
                continue  # nil dropped; the sentinel keeps the stored secret
            details[key] = value
        engine = body.get("engine") or database["engine"]
        if details != database["details"] or engine != database["engine"]:
            refusal = self._connect(engine, details)
            if refusal is not None:
                return refusal
        database.update(details=details, engine=engine)
        for key in ("name", "auto_run_queries", "description", "caveats", "points_of_interest", "cache_ttl"):
            if body.get(key) is not None:
                database[key] = body[key]
        database["is_on_demand"] = False  # quirk: an omitted is_on_demand is written as false
        return _json(200, self.public(database))

    def _delete(self, _req, database):
        del self.databases[database["id"]]
        return 204, b""
