"""The Metabase API double answers the API the way Metabase does (shared/metabase/behaviour.md).

One PostgreSQL stand-in on a user-defined network holds the doubles' application databases and the
"registered" database (``warehouse``: tables a role can read, one it cannot, one with column grants,
a view); it is published on 127.0.0.1 only so the tests can prepare it and read the doubles' app DB
(the request journal). The doubles reach it by container name on that network; the host reaches the
doubles only through their ports published on 127.0.0.1. Containers are shared by the module (one
double for most tests, a fresh one where a test needs a fresh install) and removed at the end.

Each test's docstring names the section of behaviour.md (or api-facts.md, the spec's own facts)
whose status codes and bodies it checks.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg2
import pytest
from conftest import DockerResources, PgServer, wait_for_login
from psycopg2 import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contract"))
from openapi_contract import NO_BODY, load_contract

IMAGE = "cronicorn-offline/metabase:v0.58.5"
UNAUTHENTICATED = (401, "text/plain", "Unauthenticated")
FORBIDDEN = (403, "text/plain", "You don't have permissions to do that.")
NOT_FOUND = (404, "text/plain", "Not found.")
PROTECTED = "**MetabasePass**"
CANNOT_CONNECT = {
    "message": "Hmm, we couldn't connect to the database. Make sure your Host and Port settings are correct",
    "errors": {"host": "check your host settings", "port": "check your port settings"},
}

ADMIN_EMAIL = "ada@example.com"
# Generated per run: the tests prove they never show up in logs or in the journal.
ADMIN_PASSWORD = "Adm1n-" + secrets.token_urlsafe(12)
READER_PASSWORD = "Rd-" + secrets.token_urlsafe(12)
ENCRYPTION_KEY = "enc-" + secrets.token_urlsafe(24)
SECRETS: set[str] = {ADMIN_PASSWORD, READER_PASSWORD, ENCRYPTION_KEY}
READER = "mb_reader"  # the role WAREHOUSE_SQL creates


# -- HTTP --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Answer:
    status: int
    ctype: str
    text: str

    @property
    def json(self):
        assert self.ctype == "application/json", f"not JSON ({self.status} {self.ctype}): {self.text[:300]}"
        return json.loads(self.text)

    @property
    def plain(self) -> tuple[int, str, str]:
        return self.status, self.ctype, self.text


class Api:
    """Requests to a double on 127.0.0.1:<port>, with fixed extra headers (credentials)."""

    def __init__(self, port: int, headers: dict | None = None) -> None:
        self.port = port
        self.headers = headers or {}

    def auth(self, **headers: str) -> Api:
        return Api(self.port, {key.replace("_", "-"): value for key, value in headers.items()})

    def session(self, session_id: str) -> Api:
        return Api(self.port, {"X-Metabase-Session": session_id})

    def api_key(self, key: str) -> Api:
        return Api(self.port, {"X-API-Key": key})

    def __call__(self, method: str, path: str, body=NO_BODY, *, raw: bytes | None = None) -> Answer:
        data = raw if raw is not None else None if body is NO_BODY else json.dumps(body).encode()
        headers = {**self.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - fixed http URL
                return Answer(response.status, response.headers.get_content_type(), response.read().decode())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.headers.get_content_type(), exc.read().decode())

    def get(self, path: str) -> Answer:
        return self("GET", path)

    def post(self, path: str, body=NO_BODY) -> Answer:
        return self("POST", path, body)

    def put(self, path: str, body=NO_BODY) -> Answer:
        return self("PUT", path, body)

    def delete(self, path: str) -> Answer:
        return self("DELETE", path)


def ok(answer: Answer, status: int = 200):
    assert answer.status == status, f"expected {status}, got {answer.status}: {answer.text[:500]}"
    return answer.json if answer.text else None


def _specific(errors: dict) -> dict:
    return {key: _specific(value) if isinstance(value, dict) else [value] for key, value in errors.items()}


def errors_body(errors: dict) -> dict:
    """Metabase's 400 for a body that breaks the endpoint's schema (behaviour.md §2), errors nested
    like the body (api/macros.clj: assoc-in at the failing path)."""
    return {"errors": errors, "specific-errors": _specific(errors)}


# -- containers --------------------------------------------------------------------------------


@dataclasses.dataclass
class Double:
    resources: DockerResources
    container: object
    env: dict
    network: str
    app_db: str
    port: int = 0

    @property
    def api(self) -> Api:
        return Api(self.port)

    def wait_ready(self, timeout: float = 60.0) -> None:
        self.port = self.resources.published_port(self.container, "3000/tcp")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.api.get("/api/health").status == 200:
                    return
            except (ConnectionError, urllib.error.URLError):
                pass
            self.container.reload()
            assert self.container.status == "running", self.resources.log_tail(self.container, 40)
            time.sleep(0.2)
        raise AssertionError(f"double not ready in {timeout:.0f} s:\n{self.resources.log_tail(self.container, 40)}")

    def logs(self) -> str:
        return self.container.logs().decode("utf-8", "replace")


class Stack:
    """A network, one PostgreSQL server (app DBs and the registered database) and doubles."""

    def __init__(self, resources: DockerResources) -> None:
        self.resources = resources
        self.network = resources.network()
        password = secrets.token_urlsafe(18)
        SECRETS.add(password)
        self.pg = resources.start_postgres({"POSTGRES_PASSWORD": password}, network=self.network.name)
        self.server: PgServer = resources.pg_server(self.pg, "postgres", password)
        wait_for_login(self.server.dsn(), self.pg, what="PostgreSQL for the double tests")
        self.doubles: list[Double] = []
        self.removed_logs: list[str] = []  # docker logs of doubles already removed

    def connect(self, dbname: str = "postgres"):
        conn = psycopg2.connect(self.server.dsn(dbname), connect_timeout=10)
        conn.autocommit = True
        return conn

    def execute(self, dbname: str, statement, params=None) -> list[tuple]:
        with closing(self.connect(dbname)) as conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str) -> str:
        self.execute("postgres", sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def start_double(self, app_db: str, **env: str) -> Double:
        environment = {
            "MB_DB_TYPE": "postgres",
            "MB_DB_HOST": self.pg.name,
            "MB_DB_PORT": "5432",
            "MB_DB_DBNAME": app_db,
            "MB_DB_USER": "postgres",
            "MB_DB_PASS": self.server.password,
            "MB_DB_CONNECTION_TIMEOUT_MS": "60000",
            "MB_DOUBLE_INIT_SECONDS": "0.3",
            "MB_ENCRYPTION_SECRET_KEY": ENCRYPTION_KEY,
            **env,
        }
        container = self.resources.run(
            IMAGE,
            environment=environment,
            network=self.network.name,
            ports={"3000/tcp": ("127.0.0.1", None)},
        )
        double = Double(self.resources, container, environment, self.network.name, app_db)
        self.doubles.append(double)
        double.wait_ready()
        return double

    def replace_double(self, double: Double, **env: str) -> Double:
        """Remove ``double``'s container (its logs are kept) and start another on the same app DB."""
        self.removed_logs.append(double.logs())
        self.doubles.remove(double)
        self.resources.remove(double.container)
        return self.start_double(double.app_db, **{**double.env, **env})

    def all_logs(self) -> list[str]:
        return [*self.removed_logs, *(double.logs() for double in self.doubles)]

    def journal(self, app_db: str) -> list[dict]:
        rows = self.execute(
            app_db, "SELECT method, path, query, has_body, body, status FROM double_request_journal ORDER BY id"
        )
        return [
            {"method": m, "path": p, "query": q, "has_body": hb, "body": b, "status": s} for m, p, q, hb, b, s in rows
        ]


WAREHOUSE_SQL = """
CREATE ROLE mb_reader LOGIN PASSWORD %(password)s;
CREATE TABLE visible (id integer PRIMARY KEY, name text NOT NULL, created_at timestamp NOT NULL,
                      amount numeric(10, 2));
INSERT INTO visible VALUES (1, 'alpha', '2025-01-02 03:04:05', 12.50), (2, 'beta', '2025-02-03 04:05:06', 7);
CREATE TABLE hidden (id integer, secret text);
INSERT INTO hidden VALUES (1, 'nobody may read this');
CREATE TABLE partial (id integer, public_note text, private_note text);
CREATE VIEW visible_summary AS SELECT count(*) AS n, sum(amount) AS total FROM visible;
CREATE SCHEMA closed;
CREATE TABLE closed.elsewhere (id integer);
GRANT SELECT ON visible, visible_summary TO mb_reader;
GRANT SELECT (id, public_note) ON partial TO mb_reader;
GRANT SELECT ON closed.elsewhere TO mb_reader;  -- no USAGE on the schema: still unreadable
"""


@contextmanager
def warehouse_stack(docker_client, *more_sql: str) -> Iterator[Stack]:
    """A :class:`Stack` whose PostgreSQL holds ``warehouse`` (WAREHOUSE_SQL, then ``more_sql``), removed after."""
    resources = DockerResources(docker_client)
    try:
        stack = Stack(resources)
        stack.create_database("warehouse")
        stack.execute("warehouse", WAREHOUSE_SQL, {"password": READER_PASSWORD})
        for statement in more_sql:
            stack.execute("warehouse", statement)
        yield stack
    finally:
        resources.cleanup()


@pytest.fixture(scope="module")
def stack(docker_client) -> Iterator[Stack]:
    with warehouse_stack(docker_client) as stack:
        yield stack


@pytest.fixture(scope="module")
def double(stack) -> Double:
    """The double most tests share (fresh install, Sample Database loaded as by default)."""
    return stack.start_double(stack.create_database("metabase_shared"))


def run_setup(api: Api) -> str:
    properties = ok(api.get("/api/session/properties"))
    SECRETS.add(properties["setup-token"])
    body = {
        "token": properties["setup-token"],
        "user": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "first_name": "Ada", "last_name": "Admin"},
        "prefs": {"site_name": "Cronicorn monitoring"},
    }
    session_id = ok(api.post("/api/setup/", body))["id"]
    SECRETS.add(session_id)
    return session_id


@pytest.fixture(scope="module")
def admin(double) -> Api:
    """The shared double after first-run setup, with the admin's session."""
    return double.api.session(run_setup(double.api))


@pytest.fixture(scope="module")
def reader_details(stack) -> dict:
    return {"host": stack.pg.name, "port": 5432, "dbname": "warehouse", "user": READER, "password": READER_PASSWORD}


def wait_synced(api: Api, db_id: int, expect_tables: set[str] | None = None, timeout: float = 30.0) -> dict:
    """Poll until the first sync completed (and, if given, exactly ``expect_tables`` are there)."""
    deadline = time.monotonic() + timeout
    metadata = {}
    while time.monotonic() < deadline:
        metadata = ok(api.get(f"/api/database/{db_id}/metadata"))
        names = {t["name"] for t in metadata["tables"]}
        if metadata["initial_sync_status"] == "complete" and (expect_tables is None or names == expect_tables):
            return metadata
        time.sleep(0.2)
    raise AssertionError(f"sync of database {db_id} did not finish as expected: {metadata}")


def register(api: Api, name: str, details: dict, **extra) -> dict:
    return ok(api.post("/api/database/", {"name": name, "engine": "postgres", "details": details, **extra}))


# -- setup and auth ----------------------------------------------------------------------------


def test_first_run_setup_once_only(stack):
    """behaviour.md §2 and §9: setup-token until setup, 400 token mismatch, 400 common password,
    200 {"id": session} creating a superuser, has-user-setup true, then 403 (plain text)."""
    double = stack.start_double(stack.create_database("metabase_setup"), MB_LOAD_SAMPLE_CONTENT="false")
    api = double.api
    properties = ok(api.get("/api/session/properties"))
    assert properties["has-user-setup"] is False
    token = properties["setup-token"]
    SECRETS.add(token)
    assert str(uuid.UUID(token)) == token
    user = {"email": "first@example.com", "password": ADMIN_PASSWORD}
    prefs = {"site_name": "Setup test"}

    wrong_token = api.post("/api/setup/", {"token": str(uuid.uuid4()), "user": user, "prefs": prefs})
    assert (wrong_token.status, wrong_token.json) == (
        400,
        errors_body({"token": "Token does not match the setup token."}),
    )
    # Too short, no digit, and three from Metabase's common-password list (start, middle, end of it).
    for weak in ("ab1", "nodigits", "password1", "polniypizdec0211", "11234567"):
        answer = api.post("/api/setup/", {"token": token, "user": {**user, "password": weak}, "prefs": prefs})
        expected = errors_body({"user": {"password": "password is too common."}})
        assert (answer.status, answer.json) == (400, expected), weak
        # The same rule, without auth and without changing anything, at /api/session/password-check.
        check = api.post("/api/session/password-check", {"password": weak})
        assert (check.status, check.json) == (400, errors_body({"password": "password is too common."})), weak
    assert ok(api.post("/api/session/password-check", {"password": ADMIN_PASSWORD})) == {"valid": True}
    no_prefs = api.post("/api/setup/", {"token": token, "user": user, "prefs": {}})
    assert no_prefs.json == errors_body({"prefs": {"site_name": "value must be a non-blank string."}})
    assert ok(api.get("/api/session/properties"))["has-user-setup"] is False  # nothing half-done

    session_id = ok(api.post("/api/setup/", {"token": token, "user": user, "prefs": prefs}))["id"]
    SECRETS.add(session_id)
    assert str(uuid.UUID(session_id)) == session_id
    me = ok(api.session(session_id).get("/api/user/current"))
    assert (me["email"], me["is_superuser"], sorted(me["group_ids"])) == ("first@example.com", True, [1, 2])
    properties = ok(api.get("/api/session/properties"))
    assert properties["has-user-setup"] is True
    assert properties["setup-token"] == token  # v0.58 keeps publishing it (behaviour.md §2)
    assert properties["site-name"] == "Setup test"

    again = api.post("/api/setup/", {"token": token, "user": {**user, "email": "second@example.com"}, "prefs": prefs})
    assert again.plain == (
        403,
        "text/plain",
        "The /api/setup route can only be used to create the first user, however a user currently exists.",
    )
    databases = ok(api.session(session_id).get("/api/database/"))
    assert databases == {"data": [], "total": 0}  # MB_LOAD_SAMPLE_CONTENT=false: no Sample Database


def test_login_logout_and_unauthenticated_answers(double, admin):
    """behaviour.md §3: POST /api/session 200 {"id"}, 401 errors.password for a wrong password or
    an unknown user, 400 for a missing field; DELETE /api/session 204; missing or invalid
    credentials 401 plain text "Unauthenticated"; malformed JSON 400."""
    api = double.api
    for username in (ADMIN_EMAIL, "nobody@example.com"):
        wrong = api.post("/api/session/", {"username": username, "password": "Wrong-pw-123"})
        assert (wrong.status, wrong.json) == (401, {"errors": {"password": "did not match stored password"}})
    missing = api.post("/api/session/", {"username": ADMIN_EMAIL})
    assert (missing.status, missing.json) == (400, errors_body({"password": "value must be a non-blank string."}))
    for raw in (b'{"username": ', b'{"username": "a@b.co", "password": NaN}'):
        malformed = api("POST", "/api/session/", raw=raw)
        assert malformed.plain == (400, "text/plain", "Malformed JSON in request body."), raw

    session_id = ok(api.post("/api/session/", {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))["id"]
    SECRETS.add(session_id)
    me = ok(api.session(session_id).get("/api/user/current"))
    assert (me["email"], me["common_name"], me["is_superuser"]) == (ADMIN_EMAIL, "Ada Admin", True)
    assert "password" not in json.dumps(me).lower()

    assert api.session(session_id).delete("/api/session/").plain == (204, "text/plain", "")
    assert api.session(session_id).get("/api/user/current").plain == UNAUTHENTICATED
    assert api.get("/api/user/current").plain == UNAUTHENTICATED
    assert api.session(str(uuid.uuid4())).get("/api/database/").plain == UNAUTHENTICATED
    assert api.api_key("mb_" + "A" * 44).get("/api/database/").plain == UNAUTHENTICATED
    assert ok(admin.get("/api/user/current"))["email"] == ADMIN_EMAIL  # other sessions unaffected


def test_login_is_throttled_after_ten_failures(double, admin):
    """behaviour.md §3 and session/api.clj with metabase/throttle: after 10 failed logins for a username
    within an hour every login for it is refused with 401 errors.username "Too many attempts! ...",
    the right password included, and each refusal counts as one more failure (the wait grows)."""
    username = f"throttled-{uuid.uuid4().hex[:6]}@example.com"
    # Its own source address, so this test does not spend the shared double's per-address budget.
    api = double.api.auth(X_Forwarded_For=f"10.9.{secrets.randbelow(250)}.{secrets.randbelow(250)}")
    for _attempt in range(10):
        assert api.post("/api/session/", {"username": username, "password": "Wrong-1"}).status == 401
    throttled = api.post("/api/session/", {"username": username, "password": "Wrong-1"})
    assert throttled.status == 401
    message = throttled.json["errors"]["username"]
    assert re.fullmatch(r"Too many attempts! You must wait 1[45] seconds before trying again\.", message), message
    # The refusal counted: the next wait is 15 s x 2^1.5, about 42 s.
    again = api.post("/api/session/", {"username": username, "password": "Wrong-1"})
    assert re.fullmatch(
        r"Too many attempts! You must wait 4[12] seconds before trying again\.", again.json["errors"]["username"]
    )
    # Per username: the admin still logs in from the same address.
    assert api.post("/api/session/", {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).status == 200


def test_a_throttled_username_is_refused_even_with_the_right_password(stack):
    """session/api.clj: the throttle check runs before the password check, so a locked-out admin
    cannot log in until an hour has passed since the last attempt (or Metabase restarts)."""
    double = stack.start_double(stack.create_database("metabase_lockout"), MB_LOAD_SAMPLE_CONTENT="false")
    run_setup(double.api)
    for _attempt in range(10):
        assert double.api.post("/api/session/", {"username": ADMIN_EMAIL, "password": "Wrong-1"}).status == 401
    refused = double.api.post("/api/session/", {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert refused.status == 401
    assert refused.json["errors"]["username"].startswith("Too many attempts!")
    assert "id" not in refused.json


def test_login_is_throttled_per_source_address_after_fifty_failures(double, admin):
    """session/api.clj: 50 failed logins from one source address (the last X-Forwarded-For entry)
    within an hour refuse every login from it, whatever the username; other addresses are not affected."""
    address = f"10.7.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    api = double.api.auth(X_Forwarded_For=f"203.0.113.9, {address}")
    for attempt in range(50):
        answer = api.post("/api/session/", {"username": f"nobody-{attempt}@example.com", "password": "Wrong-1"})
        assert answer.json == {"errors": {"password": "did not match stored password"}}
    refused = api.post("/api/session/", {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert refused.status == 401
    assert refused.json["errors"]["username"].startswith("Too many attempts!")
    other = double.api.auth(X_Forwarded_For=f"10.6.{secrets.randbelow(250)}.{secrets.randbelow(250)}")
    assert other.post("/api/session/", {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).status == 200


def test_credentials_are_stored_hashed(stack, double, admin):
    """behaviour.md §3 (keys stored hashed): the app DB holds no password, session id or API key
    in clear; passwords are scrypt hashes."""
    key = ok(admin.post("/api/api-key/", {"name": f"hash-check-{uuid.uuid4().hex[:6]}", "group_id": 2}))
    SECRETS.add(key["unmasked_key"])
    (password_hash,) = stack.execute(
        double.app_db, "SELECT password_hash FROM core_user WHERE email = %s", (ADMIN_EMAIL,)
    )[0]
    assert password_hash.startswith("scrypt$") and ADMIN_PASSWORD not in password_hash
    dump = json.dumps(
        [
            stack.execute(double.app_db, f"SELECT to_jsonb(t)::text FROM {table} t")  # noqa: S608 - fixed names
            for table in ("core_user", "core_session", "api_key", "setting", "metabase_database")
        ]
    )
    session_ids = {s for s in SECRETS if re.fullmatch(r"[0-9a-f-]{36}", s)} - {
        ok(double.api.get("/api/session/properties"))["setup-token"]
    }
    for secret in [ADMIN_PASSWORD, READER_PASSWORD, key["unmasked_key"], *session_ids]:
        assert secret not in dump


def test_a_valid_session_wins_over_an_api_key_and_logout_needs_a_session(double, admin):
    """server/middleware/session.clj merge-current-user-info: (or session-user api-key-user); and
    session/api.clj DELETE /api/session: 404 without a session key or for an unknown one."""
    reader = ok(admin.post("/api/api-key/", {"name": f"reader-{uuid.uuid4().hex[:6]}", "group_id": 1}))
    SECRETS.add(reader["unmasked_key"])
    session_id = ok(double.api.post("/api/session/", {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))["id"]
    SECRETS.add(session_id)
    both = double.api.auth(X_API_Key=reader["unmasked_key"], X_Metabase_Session=session_id)
    assert ok(both.get("/api/user/current"))["email"] == ADMIN_EMAIL
    stale = double.api.auth(X_API_Key=reader["unmasked_key"], X_Metabase_Session=str(uuid.uuid4()))
    assert ok(stale.get("/api/user/current"))["email"] != ADMIN_EMAIL  # unknown session: the key's user

    assert double.api.api_key(reader["unmasked_key"]).delete("/api/session/").plain == NOT_FOUND
    assert double.api.delete("/api/session/").plain == NOT_FOUND
    assert double.api.session(str(uuid.uuid4())).delete("/api/session/").plain == NOT_FOUND
    assert double.api.session(session_id).delete("/api/session/").plain == (204, "text/plain", "")
    assert double.api.session(session_id).delete("/api/session/").plain == NOT_FOUND  # already ended


def test_item_paths_with_a_trailing_slash_are_404(double, admin):
    """api-facts.md §1: item paths have no trailing slash; Metabase matches none with one (404
    "API endpoint does not exist."), while collection roots answer with or without it."""
    endpoint_missing = (404, "text/plain", "API endpoint does not exist.")
    assert admin.get("/api/user/current/").plain == endpoint_missing
    assert double.api.get("/api/session/properties/").plain == endpoint_missing
    first = ok(admin.get("/api/database/"))["data"][0]["id"]
    assert admin.get(f"/api/database/{first}/").plain == endpoint_missing
    assert ok(admin.get(f"/api/database/{first}"))["id"] == first
    assert ok(admin.get("/api/database"))["total"] == ok(admin.get("/api/database/"))["total"]


# -- API keys ----------------------------------------------------------------------------------


def test_api_keys(double, admin):
    """behaviour.md §3 and api-facts.md §2: POST /api/api-key (mb_ + base64, unmasked only at
    create and regenerate, duplicate name 400), count, list, rename, regenerate (old key stops
    working), X-API-Key auth, non-admin key 403 on admin endpoints, DELETE 204 (key stops working);
    GET /api/permissions/group: All Users 1, Administrators 2."""
    groups = ok(admin.get("/api/permissions/group"))
    assert [(g["id"], g["name"]) for g in groups] == [(1, "All Users"), (2, "Administrators")]

    before = ok(admin.get("/api/api-key/count"))
    name = f"ops-{uuid.uuid4().hex[:6]}"
    created = ok(admin.post("/api/api-key/", {"name": name, "group_id": 2}))
    key = created["unmasked_key"]
    SECRETS.add(key)
    assert re.fullmatch(r"mb_[A-Za-z0-9+/]{43}=", key)
    assert created["prefix"] == key[:7] and created["masked_key"].startswith(key[:7])
    assert re.fullmatch(r"mb_.{4}\*+", created["masked_key"])
    assert created["group"] == {"id": 2, "name": "Administrators"} and created["name"] == name
    assert ok(admin.get("/api/api-key/count")) == before + 1

    duplicate = admin.post("/api/api-key/", {"name": name, "group_id": 1})
    assert (duplicate.status, duplicate.json) == (
        400,
        errors_body({"name": "An API key with this name already exists."}),
    )
    missing = admin.post("/api/api-key/", {"name": "no-group"})
    assert (missing.status, missing.json) == (
        400,
        errors_body({"group_id": "value must be an integer greater than zero."}),
    )

    listed = ok(admin.get("/api/api-key/"))
    assert name in {k["name"] for k in listed}
    assert "unmasked_key" not in json.dumps(listed) and key not in json.dumps(listed)

    by_key = double.api.api_key(key)
    me = ok(by_key.get("/api/user/current"))
    assert (me["is_superuser"], me["type"]) == (True, "api-key")

    renamed = ok(admin.put(f"/api/api-key/{created['id']}", {"name": name + "-renamed"}))
    assert renamed["name"] == name + "-renamed" and "unmasked_key" not in renamed
    regenerated = ok(admin.put(f"/api/api-key/{created['id']}/regenerate"))
    new_key = regenerated["unmasked_key"]
    SECRETS.add(new_key)
    assert set(regenerated) >= {"id", "unmasked_key", "masked_key", "prefix"} and new_key != key
    assert by_key.get("/api/user/current").plain == UNAUTHENTICATED
    assert ok(double.api.api_key(new_key).get("/api/user/current"))["id"] == me["id"]

    plain = ok(admin.post("/api/api-key/", {"name": f"viewer-{uuid.uuid4().hex[:6]}", "group_id": 1}))
    SECRETS.add(plain["unmasked_key"])
    viewer = double.api.api_key(plain["unmasked_key"])
    assert ok(viewer.get("/api/user/current"))["is_superuser"] is False
    assert viewer.post("/api/database/", {"name": "x", "engine": "postgres", "details": {}}).plain == FORBIDDEN
    assert viewer.post("/api/api-key/", {"name": "y", "group_id": 2}).plain == FORBIDDEN
    assert viewer.get("/api/permissions/group").plain == FORBIDDEN
    assert all("details" not in db for db in ok(viewer.get("/api/database/"))["data"])  # no details for non-admins

    assert admin.delete(f"/api/api-key/{created['id']}").plain == (204, "text/plain", "")
    assert double.api.api_key(new_key).get("/api/user/current").plain == UNAUTHENTICATED
    assert admin.delete(f"/api/api-key/{created['id']}").plain == NOT_FOUND


# -- databases ---------------------------------------------------------------------------------


def test_refused_registrations_save_nothing(stack, double, admin, reader_details):
    """behaviour.md §4: POST /api/database validates required fields (400 errors map), accepts
    postgres only (400 like an unknown driver), connects for real and refuses with 400
    {"message", "errors"} mapped from Postgres' message; nothing is saved."""
    before = ok(admin.get("/api/database/"))["total"]
    name = "Refused " + uuid.uuid4().hex[:6]
    missing = admin.post("/api/database/", {"name": name})
    assert (missing.status, missing.json) == (
        400,
        errors_body({"engine": "value must be a non-blank string.", "details": "value must be a map."}),
    )
    unknown = admin.post("/api/database/", {"name": name, "engine": "no-such-driver", "details": reader_details})
    assert (unknown.status, unknown.json) == (400, errors_body({"engine": "value must be a valid database engine."}))

    refusals = [
        (
            {"password": "Wrong-" + secrets.token_hex(4)},
            {"message": "Looks like your Password is incorrect.", "errors": {"password": "check your password"}},
        ),
        (
            {"dbname": "no_such_db"},
            {
                "message": "Looks like the Database name is incorrect.",
                "errors": {"dbname": "check your database name settings"},
            },
        ),
        (
            {"host": "no-such-host.invalid"},
            {"message": "The connection attempt failed."},  # the driver's own text, passed through
        ),
        (
            {"port": 5439},
            CANNOT_CONNECT,
        ),
    ]
    for change, expected in refusals:
        answer = admin.post(
            "/api/database/", {"name": name, "engine": "postgres", "details": {**reader_details, **change}}
        )
        assert (answer.status, answer.json) == (400, expected), change
    assert ok(admin.get("/api/database/"))["total"] == before
    assert stack.execute(double.app_db, "SELECT count(*) FROM metabase_database WHERE name = %s", (name,)) == [(0,)]


def test_register_sync_and_read_metadata(stack, double, admin, reader_details):
    """behaviour.md §4: POST /api/database 200 with details redacted (**MetabasePass**) and
    initial_sync_status "incomplete", then a sync marks it complete; the synced tables are what
    the registered role can SELECT (no table without a grant, no schema without USAGE, only granted
    columns); duplicate names allowed; GET {data,total} ordered by name, with or without the slash;
    GET /{id} 404 plain text when missing; DELETE 204."""
    name = "Warehouse " + uuid.uuid4().hex[:6]
    created = register(admin, name, reader_details)
    assert created["name"] == name and created["engine"] == "postgres"
    assert created["initial_sync_status"] == "incomplete"
    assert created["details"] == {**reader_details, "password": PROTECTED}  # no SSL on this server: none saved
    assert "schedules" in created and created["schedules"]["metadata_sync"]["schedule_type"] == "hourly"
    readable = {"visible", "visible_summary", "partial"}
    metadata = wait_synced(admin, created["id"], readable)
    fields = {t["name"]: [f["name"] for f in t["fields"]] for t in metadata["tables"]}
    assert fields == {
        "visible": ["id", "name", "created_at", "amount"],
        "visible_summary": ["n", "total"],
        "partial": ["id", "public_note"],
    }
    visible = next(t for t in metadata["tables"] if t["name"] == "visible")
    assert (visible["schema"], visible["display_name"], visible["db_id"]) == ("public", "Visible", created["id"])
    types = {f["name"]: (f["base_type"], f["semantic_type"]) for f in visible["fields"]}
    assert types == {
        "id": ("type/Integer", "type/PK"),
        "name": ("type/Text", None),
        "created_at": ("type/DateTime", None),
        "amount": ("type/Decimal", None),
    }

    listed = ok(admin.get("/api/table/"))
    assert {t["name"] for t in listed if t["db_id"] == created["id"]} == readable
    table = ok(admin.get(f"/api/table/{visible['id']}/query_metadata"))
    assert [f["name"] for f in table["fields"]] == ["id", "name", "created_at", "amount"]
    with_tables = ok(admin.get(f"/api/database/{created['id']}?include=tables"))
    assert {t["name"] for t in with_tables["tables"]} == readable
    assert ok(admin.get(f"/api/database/{created['id']}/schemas")) == ["public"]

    # A grant added later shows up at the next sync; a revoked one disappears (and keeps its id).
    stack.execute("warehouse", sql.SQL("GRANT SELECT ON hidden TO {}").format(sql.Identifier(READER)))
    assert ok(admin.post(f"/api/database/{created['id']}/sync_schema")) == {"status": "ok"}
    hidden = next(
        t for t in wait_synced(admin, created["id"], readable | {"hidden"})["tables"] if t["name"] == "hidden"
    )
    stack.execute("warehouse", sql.SQL("REVOKE SELECT ON hidden FROM {}").format(sql.Identifier(READER)))
    ok(admin.post(f"/api/database/{created['id']}/sync_schema"))
    wait_synced(admin, created["id"], readable)
    assert admin.get(f"/api/table/{hidden['id']}").plain == NOT_FOUND

    duplicate = register(admin, name, reader_details)  # Metabase allows the same name twice (#11106)
    assert duplicate["id"] != created["id"]
    listing = ok(admin.get("/api/database"))  # Metabase serves both spellings
    assert listing["total"] == len(listing["data"])
    assert [db["name"] for db in listing["data"]] == sorted((db["name"] for db in listing["data"]), key=str.lower)
    assert [db["id"] for db in listing["data"] if db["name"] == name] == sorted([created["id"], duplicate["id"]])
    sample = [db for db in listing["data"] if db["is_sample"]]
    assert [db["name"] for db in sample] == ["Sample Database"]  # fresh install, MB_LOAD_SAMPLE_CONTENT unset
    assert all(db["details"].get("password") in (None, PROTECTED) for db in listing["data"])

    assert admin.delete(f"/api/database/{duplicate['id']}").plain == (204, "text/plain", "")
    assert admin.get(f"/api/database/{duplicate['id']}").plain == NOT_FOUND
    assert admin.delete(f"/api/database/{duplicate['id']}").plain == NOT_FOUND


def test_update_merges_details_and_retests_only_connection_changes(stack, double, admin, reader_details):
    """behaviour.md §4 PUT: partial; details merged over the stored ones; **MetabasePass** keeps
    the stored secret; the connection is re-tested only when details or engine changed; a refusal
    is 400 {"message","errors"} and saves nothing; is_on_demand written false; healthcheck."""
    role = f"rotating_{uuid.uuid4().hex[:6]}"
    first, second = "Pw1-" + secrets.token_hex(6), "Pw2-" + secrets.token_hex(6)
    SECRETS.update({first, second})
    stack.execute("warehouse", sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role)), (first,))
    stack.execute("warehouse", sql.SQL("GRANT SELECT ON visible TO {}").format(sql.Identifier(role)))
    created = register(admin, "Rotation " + role, {**reader_details, "user": role, "password": first})
    db_path = f"/api/database/{created['id']}"

    wrong = admin.put(db_path, {"details": {"password": "Not-it-" + secrets.token_hex(3)}})
    assert (wrong.status, wrong.json) == (
        400,
        {"message": "Looks like your Password is incorrect.", "errors": {"password": "check your password"}},
    )
    assert ok(admin.get(f"{db_path}/healthcheck")) == {"status": "ok"}  # the stored password still works

    kept = ok(admin.put(db_path, {"details": {"password": PROTECTED, "port": 5432}, "auto_run_queries": False}))
    assert kept["details"]["password"] == PROTECTED and kept["auto_run_queries"] is False
    assert kept["is_on_demand"] is False

    # The password changes in PostgreSQL: renaming needs no connection test, so it still works...
    stack.execute("warehouse", sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(role)), (second,))
    renamed = ok(admin.put(db_path, {"name": "Renamed " + role}))
    assert renamed["name"] == "Renamed " + role
    health = ok(admin.get(f"{db_path}/healthcheck"))
    assert health == {
        "status": "error",
        "message": "Looks like your Password is incorrect.",
        "errors": {"password": "check your password"},
    }
    # ...while changing a detail (here: an unchanged host plus the new port spelling) re-tests it.
    retest = admin.put(db_path, {"details": {"port": "5432"}})
    assert retest.status == 400 and retest.json["message"] == "Looks like your Password is incorrect."
    stored = ok(admin.get(db_path))
    assert stored["details"]["port"] == 5432  # nothing saved

    rotated = ok(admin.put(db_path, {"details": {"password": second}}))
    assert rotated["details"] == {**reader_details, "user": role, "password": PROTECTED}
    assert ok(admin.get(f"{db_path}/healthcheck")) == {"status": "ok"}

    assert ok(admin.post("/api/database/validate", {"details": {"engine": "postgres", "details": reader_details}})) == {
        "valid": True
    }
    bad = {**reader_details, "password": "nope-" + secrets.token_hex(3)}
    assert ok(admin.post("/api/database/validate", {"details": {"engine": "postgres", "details": bad}})) == {
        "valid": False
    }
    assert admin.put("/api/database/999999", {"name": "x"}).plain == NOT_FOUND


def test_sync_schema_checks_the_connection_first(stack, admin, reader_details):
    """behaviour.md §4: POST /{id}/sync_schema answers {"status":"ok"}; newer code checks the
    connection first and answers 422 when it fails."""
    role = f"vanishing_{uuid.uuid4().hex[:6]}"
    password = "Pw-" + secrets.token_hex(6)
    SECRETS.add(password)
    stack.execute("warehouse", sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role)), (password,))
    created = register(admin, "Vanishing " + role, {**reader_details, "user": role, "password": password})
    wait_synced(admin, created["id"], set())  # no grant at all: nothing to see
    stack.execute("warehouse", sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    answer = admin.post(f"/api/database/{created['id']}/sync_schema")
    # warehouses/api.clj: 422 with the humanized connection message, as plain text.
    # (PostgreSQL reports a dropped role as a failed password, so Metabase says the password is wrong.)
    assert answer.plain == (422, "text/plain", "Looks like your Password is incorrect.")


def test_native_queries_run_for_real_read_only(double, admin, reader_details):
    """POST /api/dataset/ (api-facts.md §6 for the native query shape; Metabase answers 202 with
    status "completed" or "failed", see images/README.md): rows and cols from the registered
    database, SQL errors and permission errors as Metabase's failed answer, read-only."""
    created = register(admin, "Queries " + uuid.uuid4().hex[:6], reader_details)
    db_id = created["id"]

    def query(text: str) -> Answer:
        return admin.post("/api/dataset/", {"database": db_id, "type": "native", "native": {"query": text}})

    answer = query("SELECT id, name, created_at, amount FROM visible ORDER BY id")
    result = ok(answer, 202)
    assert (result["status"], result["row_count"], result["database_id"]) == ("completed", 2, db_id)
    assert result["data"]["rows"] == [
        [1, "alpha", "2025-01-02T03:04:05Z", 12.5],
        [2, "beta", "2025-02-03T04:05:06Z", 7],
    ]
    assert [(c["name"], c["display_name"], c["base_type"]) for c in result["data"]["cols"]] == [
        ("id", "id", "type/Integer"),
        ("name", "name", "type/Text"),
        ("created_at", "created_at", "type/DateTime"),
        ("amount", "amount", "type/Decimal"),
    ]
    assert result["context"] == "ad-hoc" and result["data"]["native_form"]["query"].startswith("SELECT id")
    assert ok(query("SELECT n, total FROM visible_summary"), 202)["data"]["rows"] == [[2, 19.5]]

    failures = {
        "SELECT * FROM no_such_table": ("42P01", 'ERROR: relation "no_such_table" does not exist\n  Position: 15'),
        "SELECT * FROM hidden": ("42501", "ERROR: permission denied for table hidden"),
        "SELECT private_note FROM partial": ("42501", "ERROR: permission denied for table partial"),
        "INSERT INTO visible VALUES (3, 'x', now(), 1)": (
            "25006",
            "ERROR: cannot execute INSERT in a read-only transaction",
        ),
    }
    for text, (state, error) in failures.items():
        failed = ok(query(text), 202)
        assert (failed["status"], failed["state"], failed["error"], failed["row_count"]) == ("failed", state, error, 0)
        assert failed["data"] == {"rows": [], "cols": []}
    assert ok(query("SELECT count(*) FROM visible"), 202)["data"]["rows"] == [[2]]  # the INSERT left nothing

    assert admin.post(
        "/api/dataset/", {"database": 999999, "type": "native", "native": {"query": "SELECT 1"}}
    ).plain == (NOT_FOUND)
    assert double.api.post("/api/dataset/", {"database": db_id, "type": "native"}).plain == UNAUTHENTICATED


def test_opportunistic_ssl_is_saved_only_when_it_works(stack, admin, reader_details):
    """behaviour.md §4: without details.ssl true Metabase first tries SSL and saves ssl: true
    when that works; against a server without SSL the details stay as sent."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ssl-postgres")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    init = (
        b"#!/bin/sh\nset -e\numask 077\n"
        b'cp /docker-entrypoint-initdb.d/server.crt.pem "$PGDATA/server.crt"\n'
        b'cp /docker-entrypoint-initdb.d/server.key.pem "$PGDATA/server.key"\n'
        b'echo "ssl = on" >> "$PGDATA/postgresql.conf"\n'
    )
    password = "Ssl-" + secrets.token_hex(8)
    SECRETS.add(password)
    container = stack.resources.start_postgres(
        {"POSTGRES_PASSWORD": password},
        network=stack.network.name,
        publish=False,
        files={
            "server.crt.pem": (cert.public_bytes(serialization.Encoding.PEM), 0o644),
            "server.key.pem": (
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ),
                0o644,
            ),
            "ssl.sh": (init, 0o755),
        },
    )
    details = {"host": container.name, "port": 5432, "dbname": "postgres", "user": "postgres", "password": password}
    deadline = time.monotonic() + 60
    while ok(admin.post("/api/database/validate", {"details": {"engine": "postgres", "details": details}})) != {
        "valid": True
    }:
        assert time.monotonic() < deadline, stack.resources.log_tail(container)
        time.sleep(0.5)
    with_ssl = register(admin, "SSL " + uuid.uuid4().hex[:6], details)
    assert with_ssl["details"]["ssl"] is True
    without_ssl = register(admin, "No SSL " + uuid.uuid4().hex[:6], reader_details)
    assert "ssl" not in without_ssl["details"]
    refused = admin.post(
        "/api/database/", {"name": "forced", "engine": "postgres", "details": {**reader_details, "ssl": True}}
    )
    assert (refused.status, refused.json) == (400, {"message": "The server does not support SSL."})


# -- content -----------------------------------------------------------------------------------


def test_collections_cards_and_dashboards(double, admin, reader_details):
    """api-facts.md §5 to §7 and behaviour.md §6: collections, cards (native query stored, MBQL 5 on
    GET unless legacy-mbql=true, runnable), dashboards whose dashcards are replaced as a whole set
    (negative ids new, left-out ones deleted, ids unique), lookups by id and entity id."""
    db_id = register(admin, "Content " + uuid.uuid4().hex[:6], reader_details)["id"]
    collection = ok(admin.post("/api/collection/", {"name": "Ops", "description": "Runbook content"}))
    assert collection["name"] == "Ops" and len(collection["entity_id"]) == 21
    collections = ok(admin.get("/api/collection/"))
    assert collections[0]["id"] == "root" and collection["id"] in {c["id"] for c in collections}

    query = {"database": db_id, "type": "native", "native": {"query": "SELECT count(*) AS n FROM visible"}}
    card = ok(
        admin.post(
            "/api/card/",
            {
                "name": "Visible rows",
                "display": "scalar",
                "dataset_query": query,
                "visualization_settings": {},
                "collection_id": collection["id"],
            },
        )
    )
    assert card["dataset_query"] == {
        "lib/type": "mbql/query",
        "database": db_id,
        "stages": [{"lib/type": "mbql.stage/native", "native": "SELECT count(*) AS n FROM visible"}],
    }
    assert ok(admin.get(f"/api/card/{card['id']}?legacy-mbql=true"))["dataset_query"] == query
    assert ok(admin.get(f"/api/card/{card['entity_id']}"))["id"] == card["id"]
    run = ok(admin.post(f"/api/card/{card['id']}/query"), 202)
    assert (run["status"], run["data"]["rows"]) == ("completed", [[2]])
    missing = admin.post("/api/card/", {"name": "x", "display": "table"})
    assert missing.status == 400 and set(missing.json["errors"]) == {"dataset_query", "visualization_settings"}

    other = ok(
        admin.post(
            "/api/card/", {"name": "Other", "display": "table", "dataset_query": query, "visualization_settings": {}}
        )
    )
    dashboard = ok(admin.post("/api/dashboard/", {"name": "Ops overview", "collection_id": collection["id"]}))
    assert dashboard["dashcards"] == [] and dashboard["tabs"] == []
    first = ok(
        admin.put(
            f"/api/dashboard/{dashboard['id']}",
            {
                "dashcards": [
                    {"id": -1, "card_id": card["id"], "row": 0, "col": 0, "size_x": 6, "size_y": 4},
                    {"id": -2, "card_id": other["id"], "row": 0, "col": 6, "size_x": 6, "size_y": 4},
                ]
            },
        )
    )
    kept, dropped = sorted(first["dashcards"], key=lambda d: d["col"])
    assert [d["card_id"] for d in (kept, dropped)] == [card["id"], other["id"]]
    second = ok(
        admin.put(
            f"/api/dashboard/{dashboard['id']}",
            {
                "description": "Updated",
                "dashcards": [
                    {"id": kept["id"], "card_id": card["id"], "row": 1, "col": 0, "size_x": 12, "size_y": 4},
                    {"id": -1, "card_id": other["id"], "row": 5, "col": 0, "size_x": 12, "size_y": 4},
                ],
            },
        )
    )
    assert second["description"] == "Updated"
    ids = {d["id"] for d in second["dashcards"]}
    assert kept["id"] in ids and dropped["id"] not in ids and len(ids) == 2
    assert next(d for d in second["dashcards"] if d["id"] == kept["id"])["size_x"] == 12
    duplicate = admin.put(
        f"/api/dashboard/{dashboard['id']}",
        {"dashcards": [{"id": -1, "row": 0, "col": 0, "size_x": 1, "size_y": 1}] * 2},
    )
    assert (duplicate.status, duplicate.json["errors"]) == (
        400,
        {"dashcards": "value must be seq of maps in which ids are unique"},
    )
    assert ok(admin.get(f"/api/dashboard/{dashboard['entity_id']}"))["dashcards"] == second["dashcards"]

    items = ok(admin.get(f"/api/collection/{collection['id']}/items"))
    assert {(i["model"], i["id"]) for i in items["data"]} == {("card", card["id"]), ("dashboard", dashboard["id"])}
    only_cards = ok(admin.get(f"/api/collection/{collection['id']}/items?models=card"))
    assert [i["id"] for i in only_cards["data"]] == [card["id"]]
    assert other["id"] in {i["id"] for i in ok(admin.get("/api/collection/root/items"))["data"]}

    assert admin.delete(f"/api/card/{other['id']}").status == 204
    assert len(ok(admin.get(f"/api/dashboard/{dashboard['id']}"))["dashcards"]) == 1  # its dashcard went too
    assert admin.get(f"/api/card/{other['id']}").plain == NOT_FOUND
    assert admin.delete(f"/api/dashboard/{dashboard['id']}").status == 204
    assert admin.get(f"/api/dashboard/{dashboard['id']}").plain == NOT_FOUND


def test_card_and_dashboard_partial_updates_and_list_filters(double, admin, reader_details):
    """api-facts.md §6 and §7: PUT is a partial update (keys left out stay, null keeps the value except
    where null means "none", like description), a card's dataset_query is stored like at creation, and
    archived: true moves it from GET ?f=all to ?f=archived."""
    db_id = register(admin, "Updates " + uuid.uuid4().hex[:6], reader_details)["id"]
    first = {"database": db_id, "type": "native", "native": {"query": "SELECT 1 AS one"}}
    second = {"database": db_id, "type": "native", "native": {"query": "SELECT 2 AS two"}}
    name = "Partial " + uuid.uuid4().hex[:6]
    card = ok(
        admin.post(
            "/api/card/",
            {
                "name": name,
                "display": "table",
                "description": "first",
                "dataset_query": first,
                "visualization_settings": {},
            },
        )
    )
    updated = ok(admin.put(f"/api/card/{card['id']}", {"name": None, "description": None, "dataset_query": second}))
    assert (updated["name"], updated["description"], updated["display"]) == (name, None, "table")
    assert ok(admin.get(f"/api/card/{card['id']}?legacy-mbql=true"))["dataset_query"] == second
    assert ok(admin.put(f"/api/card/{card['id']}", {}))["dataset_query"] == updated["dataset_query"]

    dashboard = ok(admin.post("/api/dashboard/", {"name": name, "description": "first"}))
    changed = ok(admin.put(f"/api/dashboard/{dashboard['id']}", {"name": None, "description": "second"}))
    assert (changed["name"], changed["description"]) == (name, "second")

    def listed(kind: str, f: str) -> set[int]:
        return {item["id"] for item in ok(admin.get(f"/api/{kind}/?f={f}")) if item["name"] == name}

    for kind, item in (("card", card), ("dashboard", dashboard)):
        assert listed(kind, "all") == listed(kind, "mine") == {item["id"]}
        assert listed(kind, "archived") == set()
        assert ok(admin.put(f"/api/{kind}/{item['id']}", {"archived": True}))["archived"] is True
        assert listed(kind, "all") == listed(kind, "mine") == set()
        assert listed(kind, "archived") == {item["id"]}


# -- content as code (issue 12): MBQL 5, collections and the Trash, dashcards, running questions ----


def _uuids(value) -> list[str]:
    if isinstance(value, dict):
        own = [value["lib/uuid"]] if "lib/uuid" in value else []
        return own + [u for item in value.values() for u in _uuids(item)]
    if isinstance(value, list):
        return [u for item in value for u in _uuids(item)]
    return []


def _synced_fields(api: Api, db_id: int, table: str) -> tuple[int, dict[str, dict]]:
    metadata = ok(api.get(f"/api/database/{db_id}/metadata"))
    found = next(t for t in metadata["tables"] if t["name"] == table)
    return found["id"], {f["name"]: f for f in found["fields"]}


def test_cards_are_stored_as_mbql5_and_read_back_as_legacy_on_request(double, admin, reader_details):
    """content-facts.md traps 1-3 and §1.2-1.4: a legacy query comes back as MBQL 5 (lib/type, stages,
    a lib/uuid on every clause, filters as a list, aggregation refs by uuid, base/effective types from
    the metadata); ?legacy-mbql=true gives what was sent; every PUT of a legacy query mints new
    uuids while an MBQL 5 PUT keeps them; entity_id in POST is ignored; queries Metabase will not
    normalize are refused with its message."""
    db_id = register(admin, "Mbql " + uuid.uuid4().hex[:6], reader_details)["id"]
    wait_synced(admin, db_id)
    table_id, fields = _synced_fields(admin, db_id, "visible")
    legacy = {
        "database": db_id,
        "type": "query",
        "query": {
            "source-table": table_id,
            "aggregation": [["count"], ["sum", ["field", fields["amount"]["id"], None]]],
            "breakout": [["field", fields["created_at"]["id"], {"temporal-unit": "month"}]],
            "filter": [
                "and",
                [">", ["field", fields["amount"]["id"], None], 1],
                ["not-null", ["field", fields["name"]["id"], None]],
            ],
            "order-by": [["desc", ["aggregation", 0]]],
            "limit": 10,
        },
    }
    chosen = "A" * 21
    card = ok(
        admin.post(
            "/api/card/",
            {
                "name": "By month",
                "display": "bar",
                "dataset_query": legacy,
                "visualization_settings": {},
                "entity_id": chosen,
            },
        )
    )
    assert card["entity_id"] != chosen and len(card["entity_id"]) == 21
    stored = card["dataset_query"]
    assert (stored["lib/type"], stored["database"], len(stored["stages"])) == ("mbql/query", db_id, 1)
    stage = stored["stages"][0]
    assert (stage["lib/type"], stage["source-table"], stage["limit"]) == ("mbql.stage/mbql", table_id, 10)
    assert "filter" not in stage and [f[0] for f in stage["filters"]] == [">", "not-null"]
    count, total = stage["aggregation"]
    assert count == ["count", {"lib/uuid": count[1]["lib/uuid"]}]
    assert stage["order-by"][0][2] == [
        "aggregation",
        {"lib/uuid": stage["order-by"][0][2][1]["lib/uuid"]},
        count[1]["lib/uuid"],
    ]
    breakout = stage["breakout"][0]
    assert breakout[0] == "field" and breakout[2] == fields["created_at"]["id"]
    assert {k: v for k, v in breakout[1].items() if k != "lib/uuid"} == {
        "temporal-unit": "month",
        "base-type": "type/DateTime",
        "effective-type": "type/DateTime",
        "metabase.lib.query/transformation-added-base-type": True,
    }
    assert total[2][1]["base-type"] == "type/Decimal"
    first_uuids = _uuids(stored)
    assert len(first_uuids) == len(set(first_uuids)) == 10
    assert ok(admin.get(f"/api/card/{card['id']}"))["dataset_query"] == stored  # reads do not mint
    assert ok(admin.get(f"/api/card/{card['id']}?legacy-mbql=true"))["dataset_query"] == legacy

    again = ok(admin.put(f"/api/card/{card['id']}", {"dataset_query": legacy}))["dataset_query"]
    assert not set(_uuids(again)) & set(first_uuids)  # same query, all new uuids
    assert ok(admin.get(f"/api/card/{card['id']}?legacy-mbql=true"))["dataset_query"] == legacy
    assert ok(admin.put(f"/api/card/{card['id']}", {"dataset_query": again}))["dataset_query"] == again
    assert ok(admin.put(f"/api/card/{card['id']}", {"name": "Renamed"}))["dataset_query"] == again

    native = {
        "database": db_id,
        "type": "native",
        "native": {
            "query": "SELECT count(*) AS n FROM visible WHERE amount > {{min}}",
            "template-tags": {"min": {"id": "4f1c", "name": "min", "display-name": "Min", "type": "number"}},
        },
    }
    native_card = ok(
        admin.post(
            "/api/card/", {"name": "Native", "display": "scalar", "dataset_query": native, "visualization_settings": {}}
        )
    )
    assert native_card["dataset_query"] == {
        "lib/type": "mbql/query",
        "database": db_id,
        "stages": [
            {
                "lib/type": "mbql.stage/native",
                "native": native["native"]["query"],
                "template-tags": native["native"]["template-tags"],
            }
        ],
    }
    assert native_card["query_type"] == "native" and card["query_type"] == "query"
    assert ok(admin.get(f"/api/card/{native_card['id']}?legacy-mbql=true"))["dataset_query"] == native

    bad_stage = {
        "lib/type": "mbql/query",
        "database": db_id,
        "stages": [
            {
                "lib/type": "mbql.stage/mbql",
                "source-table": table_id,
                "filter": [">", {"lib/uuid": str(uuid.uuid4())}, 1, 2],
            }
        ],
    }
    for query, message in [
        (bad_stage, ":filter is not allowed in an MBQL 5 stage, use :filters instead"),
        ({"type": "native", "native": {"query": "SELECT 1"}}, "Query must include :database"),
        (
            {**stored, "type": "query"},
            "MBQL 4 keys like :type, :query, or :native are not allowed in MBQL 5 queries with :lib/type",
        ),
    ]:
        refused = admin.post(
            "/api/card/", {"name": "Bad", "display": "table", "dataset_query": query, "visualization_settings": {}}
        )
        assert refused.plain == (400, "text/plain", message)


def test_collections_nest_and_archived_items_go_to_the_trash(double, admin, reader_details):
    """content-facts.md §1.6 and §2: nested collections (location "/a/b/", parent_id), items with models
    and dashboard questions hidden by default; archived: true shows the item in the Trash (GET
    collection_id = the Trash's id, a collection_id sent along is discarded) and archived: false puts
    it back; a collection PUT without archived unarchives it; archiving a collection archives what it
    holds; DELETE only after archiving."""
    db_id = register(admin, "Trash " + uuid.uuid4().hex[:6], reader_details)["id"]
    top = ok(admin.post("/api/collection/", {"name": "Cronicorn Admin " + uuid.uuid4().hex[:4]}))
    child = ok(admin.post("/api/collection/", {"name": "Operations", "description": "Ops", "parent_id": top["id"]}))
    leaf = ok(admin.post("/api/collection/", {"name": "Deep", "parent_id": child["id"]}))
    assert (top["location"], child["location"], leaf["location"]) == (
        "/",
        f"/{top['id']}/",
        f"/{top['id']}/{child['id']}/",
    )
    got = ok(admin.get(f"/api/collection/{leaf['id']}"))
    assert (got["parent_id"], got["archived"]) == (child["id"], False)
    assert [a["name"] for a in got["effective_ancestors"]] == ["Our analytics", top["name"], "Operations"]
    tree = next(n for n in ok(admin.get("/api/collection/tree")) if n["id"] == top["id"])
    assert [c["id"] for c in tree["children"]] == [child["id"]] and [
        c["id"] for c in tree["children"][0]["children"]
    ] == [leaf["id"]]
    listed = {c["id"] for c in ok(admin.get("/api/collection/")) if c["id"] != "root"}
    assert {top["id"], child["id"], leaf["id"]} <= listed

    query = {"database": db_id, "type": "native", "native": {"query": "SELECT 1 AS one"}}

    def new_card(name: str, **extra) -> dict:
        return ok(
            admin.post(
                "/api/card/",
                {"name": name, "display": "table", "dataset_query": query, "visualization_settings": {}, **extra},
            )
        )

    card = new_card("Kept", collection_id=child["id"])
    dashboard = ok(admin.post("/api/dashboard/", {"name": "Ops board", "collection_id": child["id"]}))
    inner = new_card("Dashboard question", dashboard_id=dashboard["id"])
    assert inner["collection_id"] == child["id"] and inner["dashboard_id"] == dashboard["id"]

    def items(collection, suffix: str = "") -> set[tuple[str, int]]:
        return {(i["model"], i["id"]) for i in ok(admin.get(f"/api/collection/{collection}/items{suffix}"))["data"]}

    assert items(child["id"]) == {("card", card["id"]), ("dashboard", dashboard["id"]), ("collection", leaf["id"])}
    assert items(child["id"], "?show_dashboard_questions=true") >= {("card", inner["id"])}
    assert items(child["id"], "?models=card&models=dashboard") == {("card", card["id"]), ("dashboard", dashboard["id"])}

    trash = ok(admin.get("/api/collection/trash"))
    assert trash["type"] == "trash" and trash["name"] == "Trash"
    archived = ok(admin.put(f"/api/card/{card['id']}", {"archived": True, "collection_id": top["id"]}))
    assert (archived["archived"], archived["archived_directly"], archived["collection_id"]) == (True, True, trash["id"])
    assert ("card", card["id"]) in items(trash["id"]) and ("card", card["id"]) not in items(child["id"])
    assert ("card", card["id"]) in items(child["id"], "?archived=true")
    assert card["id"] in {c["id"] for c in ok(admin.get("/api/card/?f=archived"))}
    restored = ok(admin.put(f"/api/card/{card['id']}", {"archived": False}))
    assert (restored["archived"], restored["collection_id"]) == (False, child["id"])  # back where it was

    gone = ok(admin.put(f"/api/collection/{child['id']}", {"archived": True}))
    assert gone["archived"] is True and gone["parent_id"] == trash["id"]
    assert ok(admin.get(f"/api/card/{card['id']}"))["archived"] is True
    assert ok(admin.get(f"/api/card/{card['id']}"))["collection_id"] == child["id"]  # archived, not directly
    assert ok(admin.get(f"/api/collection/{leaf['id']}"))["archived"] is True
    assert ("collection", child["id"]) in items(trash["id"]) and ("card", card["id"]) not in items(trash["id"])
    # The trap: PUT without "archived" restores (the endpoint's {:default false}).
    renamed = ok(admin.put(f"/api/collection/{child['id']}", {"name": "Operations 2"}))
    assert (renamed["name"], renamed["archived"], renamed["parent_id"]) == ("Operations 2", False, top["id"])
    assert ok(admin.get(f"/api/card/{card['id']}"))["archived"] is False
    assert ok(admin.get(f"/api/collection/{leaf['id']}"))["archived"] is False

    refused = admin.delete(f"/api/collection/{leaf['id']}")
    assert refused.plain == (400, "text/plain", "Collection must be trashed before deletion.")
    ok(admin.put(f"/api/collection/{leaf['id']}", {"archived": True}))
    assert admin.delete(f"/api/collection/{leaf['id']}").status == 204
    assert admin.get(f"/api/collection/{leaf['id']}").plain == NOT_FOUND


def test_dashcards_and_tabs_are_replaced_wholesale(double, admin, reader_details):
    """content-facts.md trap 4 and §3: dashcards with negative ids are created (their real ids only in
    the full answer), ids left out are deleted, negative tab ids are created and dashcards on them
    remapped, omitting tabs deletes them, with tabs every dashcard needs one, parameters and
    parameter_mappings kept as sent, an archived card cannot be added, archiving a dashboard archives
    its dashboard questions."""
    db_id = register(admin, "Dash " + uuid.uuid4().hex[:6], reader_details)["id"]
    native = {
        "database": db_id,
        "type": "native",
        "native": {
            "query": "SELECT count(*) FROM visible WHERE amount > {{min}}",
            "template-tags": {"min": {"id": "9d1", "name": "min", "display-name": "Min", "type": "number"}},
        },
    }

    def new_card(name: str, **extra) -> dict:
        return ok(
            admin.post(
                "/api/card/",
                {"name": name, "display": "scalar", "dataset_query": native, "visualization_settings": {}, **extra},
            )
        )

    one, two = new_card("One"), new_card("Two")
    parameters = [{"id": "a1b2c3d4", "name": "Min", "slug": "min", "type": "number/="}]
    dashboard = ok(admin.post("/api/dashboard/", {"name": "Tabs", "parameters": parameters}))
    assert (dashboard["parameters"], dashboard["dashcards"], dashboard["tabs"]) == (parameters, [], [])
    mapping = [{"parameter_id": "a1b2c3d4", "card_id": one["id"], "target": ["variable", ["template-tag", "min"]]}]
    put = ok(
        admin.put(
            f"/api/dashboard/{dashboard['id']}",
            {
                "tabs": [{"id": -1, "name": "Overview"}, {"id": -2, "name": "Detail"}],
                "dashcards": [
                    {
                        "id": -1,
                        "card_id": one["id"],
                        "dashboard_tab_id": -1,
                        "row": 0,
                        "col": 0,
                        "size_x": 6,
                        "size_y": 4,
                        "parameter_mappings": mapping,
                    },
                    {
                        "id": -2,
                        "card_id": two["id"],
                        "dashboard_tab_id": -2,
                        "row": 0,
                        "col": 0,
                        "size_x": 6,
                        "size_y": 4,
                    },
                ],
            },
        )
    )
    tabs = {t["name"]: t["id"] for t in put["tabs"]}
    assert set(tabs) == {"Overview", "Detail"} and all(i > 0 for i in tabs.values())
    by_card = {d["card_id"]: d for d in put["dashcards"]}
    assert (
        by_card[one["id"]]["dashboard_tab_id"] == tabs["Overview"]
        and by_card[two["id"]]["dashboard_tab_id"] == tabs["Detail"]
    )
    assert by_card[one["id"]]["parameter_mappings"] == mapping and all(d["id"] > 0 for d in put["dashcards"])
    assert by_card[one["id"]]["card"]["dataset_query"]["lib/type"] == "mbql/query"

    no_tab = admin.put(
        f"/api/dashboard/{dashboard['id']}",
        {
            "tabs": put["tabs"],
            "dashcards": [{"id": -1, "card_id": one["id"], "row": 0, "col": 0, "size_x": 2, "size_y": 2}],
        },
    )
    assert no_tab.plain == (400, "text/plain", "This dashboard has tab, makes sure every card has a tab")
    kept = by_card[one["id"]]
    flat = ok(
        admin.put(
            f"/api/dashboard/{dashboard['id']}",
            {
                "dashcards": [
                    {**{k: kept[k] for k in ("id", "card_id", "row", "col", "size_x", "size_y")}, "size_x": 12}
                ]
            },
        )
    )
    assert flat["tabs"] == []  # tabs left out: deleted, and the dashcards on them with them
    (again,) = flat["dashcards"]  # so the one sent is created anew (new id, no tab)
    assert (again["card_id"], again["size_x"], again["dashboard_tab_id"]) == (one["id"], 12, None)
    assert again["id"] not in {d["id"] for d in put["dashcards"]}
    moved = ok(
        admin.put(
            f"/api/dashboard/{dashboard['id']}",
            {
                "dashcards": [
                    {"id": again["id"], "card_id": one["id"], "row": 2, "col": 6, "size_x": 6, "size_y": 4},
                    {"id": -7, "card_id": two["id"], "row": 0, "col": 0, "size_x": 6, "size_y": 2},
                ]
            },
        )
    )
    assert {(d["id"] == again["id"], d["card_id"], d["col"]) for d in moved["dashcards"]} == {
        (True, one["id"], 6),
        (False, two["id"], 0),
    }
    missing = admin.put(
        f"/api/dashboard/{dashboard['id']}", {"dashcards": [{"id": -1, "card_id": two["id"], "row": 0, "col": 0}]}
    )
    assert missing.status == 400 and set(missing.json["errors"]) == {"dashcards"}

    ok(admin.put(f"/api/card/{two['id']}", {"archived": True}))
    refused = admin.put(
        f"/api/dashboard/{dashboard['id']}",
        {"dashcards": [{"id": -1, "card_id": two["id"], "row": 0, "col": 0, "size_x": 2, "size_y": 2}]},
    )
    assert (refused.status, refused.json) == (
        404,
        {"message": "The object has been archived.", "error_code": "archived"},
    )

    inner = new_card("Inside", dashboard_id=dashboard["id"])
    archived = ok(admin.put(f"/api/dashboard/{dashboard['id']}", {"archived": True}))
    assert archived["archived"] is True and archived["collection_id"] == ok(admin.get("/api/collection/trash"))["id"]
    assert ok(admin.get(f"/api/card/{inner['id']}"))["archived"] is True
    ok(admin.put(f"/api/dashboard/{dashboard['id']}", {"archived": False}))
    assert ok(admin.get(f"/api/card/{inner['id']}"))["archived"] is False


# The seeded Cronicorn database: the reader may SELECT every table (as readonly_user grants the base tables).
CRONICORN_READER = "mb_cronicorn"


@pytest.fixture(scope="module")
def cronicorn(stack, admin) -> dict:
    """A seeded Cronicorn database (tests/fixtures/cronicorn/seed.py) registered with the shared double."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "cronicorn"))
    import seed

    stack.create_database("cronicorn")
    with closing(psycopg2.connect(stack.server.dsn("cronicorn"), connect_timeout=10)) as conn:
        seed.load_schema(conn)
        seed.seed_database(conn, runs=3000, seed=12)
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(CRONICORN_READER)), (READER_PASSWORD,)
            )
            cur.execute(
                sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(CRONICORN_READER))
            )
        conn.commit()
    details = {
        "host": stack.pg.name,
        "port": 5432,
        "dbname": "cronicorn",
        "user": CRONICORN_READER,
        "password": READER_PASSWORD,
    }
    db = register(admin, "Cronicorn " + uuid.uuid4().hex[:6], details)
    metadata = wait_synced(admin, db["id"])
    tables = {t["name"]: t for t in metadata["tables"]}
    return {
        "db_id": db["id"],
        "tables": tables,
        "fields": {name: {f["name"]: f for f in t["fields"]} for name, t in tables.items()},
    }


def test_metadata_after_sync_is_stable_and_humanized(stack, admin, cronicorn):
    """content-facts.md §9: /api/database/{id}/metadata tables with fields, display names humanized as
    Metabase does, PostgreSQL types mapped to base types, the same ids after another sync,
    /api/table/{id}/query_metadata with include_hidden_fields/include_sensitive_fields."""
    db_id, user = cronicorn["db_id"], cronicorn["tables"]["user"]
    assert {"user", "jobs", "job_endpoints", "runs", "ai_analysis_sessions", "apikey"} <= set(cronicorn["tables"])
    assert (user["display_name"], cronicorn["tables"]["job_endpoints"]["display_name"]) == ("User", "Job Endpoints")
    fields = cronicorn["fields"]["user"]
    assert {
        name: (f["display_name"], f["base_type"], f["effective_type"])
        for name, f in fields.items()
        if name in ("id", "email_verified", "created_at", "stripe_customer_id")
    } == {
        "id": ("ID", "type/Text", "type/Text"),
        "email_verified": ("Email Verified", "type/Boolean", "type/Boolean"),
        "created_at": ("Created At", "type/DateTime", "type/DateTime"),
        "stripe_customer_id": ("Stripe Customer ID", "type/Text", "type/Text"),
    }
    assert (
        fields["id"]["semantic_type"] == "type/PK"
        and cronicorn["fields"]["jobs"]["user_id"]["semantic_type"] == "type/FK"
    )
    # Foreign keys point at the synced field they reference (sync-fks), so filters can follow them.
    links = {
        (table, name): f["fk_target_field_id"]
        for table, by_name in cronicorn["fields"].items()
        for name, f in by_name.items()
        if f["semantic_type"] == "type/FK"
    }
    assert links[("jobs", "user_id")] == fields["id"]["id"]
    assert links[("runs", "endpoint_id")] == cronicorn["fields"]["job_endpoints"]["id"]["id"]
    assert all(links.values()) and fields["email"]["fk_target_field_id"] is None
    ok(admin.post(f"/api/database/{db_id}/sync_schema"))
    time.sleep(1)
    again = wait_synced(admin, db_id)
    assert {t["name"]: t["id"] for t in again["tables"]} == {n: t["id"] for n, t in cronicorn["tables"].items()}
    assert {f["name"]: f["id"] for f in next(t for t in again["tables"] if t["name"] == "user")["fields"]} == {
        n: f["id"] for n, f in fields.items()
    }
    assert ok(admin.get(f"/api/database/{db_id}/metadata?include_hidden=true"))["tables"] == again["tables"]
    table = ok(
        admin.get(f"/api/table/{user['id']}/query_metadata?include_hidden_fields=true&include_sensitive_fields=true")
    )
    assert [f["name"] for f in table["fields"]] == list(fields) and table["db_id"] == db_id


def _independent(stack, statement: str, params=None) -> list[list]:
    return [list(row) for row in stack.execute("cronicorn", statement, params)]


def test_questions_and_native_cards_return_the_rows_independent_sql_returns(stack, admin, cronicorn):
    """content-facts.md §10: a simple question (MBQL 4 or 5) is compiled to SQL and run for real, a native
    card runs with its template tags; the rows equal independent SQL on the seeded data; breakout
    columns keep the field name, aggregation columns are count/sum/avg; 202 with status completed;
    anything outside the subset answers 202 failed naming what is unsupported."""
    db_id, tables, fields = cronicorn["db_id"], cronicorn["tables"], cronicorn["fields"]
    user, runs = fields["user"], fields["runs"]
    by_tier = {
        "database": db_id,
        "type": "query",
        "query": {
            "source-table": tables["user"]["id"],
            "aggregation": [["count"]],
            "breakout": [["field", user["tier"]["id"], None]],
        },
    }
    card = ok(
        admin.post(
            "/api/card/",
            {"name": "Users by Tier", "display": "bar", "dataset_query": by_tier, "visualization_settings": {}},
        )
    )
    answer = ok(admin.post(f"/api/card/{card['id']}/query"), 202)
    assert (answer["status"], answer["context"], answer["card_id"]) == ("completed", "question", card["id"])
    assert answer["data"]["rows"] == _independent(
        stack, 'SELECT tier, count(*) FROM "user" GROUP BY tier ORDER BY tier'
    )
    assert [(c["name"], c["display_name"], c["source"]) for c in answer["data"]["cols"]] == [
        ("tier", "Tier", "breakout"),
        ("count", "Count", "aggregation"),
    ]

    # The same run through /api/dataset as MBQL 5 (what GET returns): the same rows.
    mbql5 = ok(admin.post("/api/dataset/", card["dataset_query"]), 202)
    assert mbql5["data"]["rows"] == answer["data"]["rows"]

    failed_by_day = {
        "database": db_id,
        "type": "query",
        "query": {
            "source-table": tables["runs"]["id"],
            "aggregation": [
                ["count"],
                ["sum", ["field", runs["duration_ms"]["id"], None]],
                ["avg", ["field", runs["duration_ms"]["id"], None]],
            ],
            "breakout": [["field", runs["started_at"]["id"], {"temporal-unit": "day"}]],
            "filter": [
                "and",
                ["=", ["field", runs["status"]["id"], None], "failed"],
                ["not-null", ["field", runs["duration_ms"]["id"], None]],
            ],
            "order-by": [
                ["desc", ["aggregation", 0]],
                ["asc", ["field", runs["started_at"]["id"], {"temporal-unit": "day"}]],
            ],
            "limit": 5,
        },
    }
    result = ok(admin.post("/api/dataset/", failed_by_day), 202)
    expected = _independent(
        stack,
        "SELECT date_trunc('day', started_at), count(*), sum(duration_ms), avg(duration_ms) FROM runs"
        " WHERE status = 'failed' AND duration_ms IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 ASC LIMIT 5",
    )
    assert len(expected) == 5
    assert [[r[0], r[1], r[2]] for r in result["data"]["rows"]] == [
        [r[0].isoformat() + "Z", r[1], int(r[2])] for r in expected
    ]
    assert [round(r[3], 6) for r in result["data"]["rows"]] == [round(float(r[3]), 6) for r in expected]
    assert [c["name"] for c in result["data"]["cols"]] == ["started_at", "count", "sum", "avg"]
    assert result["data"]["cols"][0]["display_name"] == "Started At: Day"

    top = {
        "database": db_id,
        "type": "query",
        "query": {
            "source-table": tables["user"]["id"],
            "fields": [["field", user["email"]["id"], None]],
            "filter": ["contains", ["field", user["email"]["id"], None], "EXAMPLE", {"case-sensitive": False}],
            "order-by": [["asc", ["field", user["email"]["id"], None]]],
            "limit": 3,
        },
    }
    emails = ok(admin.post("/api/dataset/", top), 202)["data"]["rows"]
    assert emails == _independent(
        stack, "SELECT email FROM \"user\" WHERE email ILIKE '%%example%%' ORDER BY email LIMIT 3"
    )

    native = {
        "database": db_id,
        "type": "native",
        "native": {
            "query": "SELECT count(*) AS n FROM runs WHERE duration_ms > {{min}} [[AND status = {{status}}]]",
            "template-tags": {
                "min": {"id": "m1", "name": "min", "display-name": "Min", "type": "number"},
                "status": {"id": "s1", "name": "status", "display-name": "Status", "type": "text"},
            },
        },
    }
    parameters = [
        {
            "id": "p1",
            "type": "number/=",
            "slug": "min",
            "target": ["variable", ["template-tag", "min"]],
            "default": 1000,
        }
    ]
    native_card = ok(
        admin.post(
            "/api/card/",
            {
                "name": "Slow runs",
                "display": "scalar",
                "dataset_query": native,
                "visualization_settings": {},
                "parameters": parameters,
            },
        )
    )
    by_default = ok(admin.post(f"/api/card/{native_card['id']}/query"), 202)
    assert by_default["data"]["rows"] == _independent(stack, "SELECT count(*) FROM runs WHERE duration_ms > 1000")
    chosen = ok(
        admin.post(
            f"/api/card/{native_card['id']}/query",
            {
                "parameters": [
                    {"type": "number/=", "target": ["variable", ["template-tag", "min"]], "value": 50},
                    {"type": "category", "target": ["variable", ["template-tag", "status"]], "value": "success"},
                ]
            },
        ),
        202,
    )
    assert chosen["data"]["rows"] == _independent(
        stack, "SELECT count(*) FROM runs WHERE duration_ms > 50 AND status = 'success'"
    )

    for query, words in [
        (
            {
                **by_tier,
                "query": {**by_tier["query"], "aggregation": [["median", ["field", user["tier"]["id"], None]]]},
            },
            "the aggregation 'median'",
        ),
        (
            {
                **by_tier,
                "query": {
                    **by_tier["query"],
                    "joins": [{"source-table": tables["jobs"]["id"], "alias": "J", "condition": ["=", 1, 1]}],
                },
            },
            ":joins",
        ),
    ]:
        failed = ok(admin.post("/api/dataset/", query), 202)
        assert failed["status"] == "failed" and words in failed["error"], failed["error"]
    no_value = ok(admin.post("/api/dataset/", native), 202)
    assert (no_value["status"], no_value["error"]) == (
        "failed",
        "You'll need to pick a value for 'Min' before this query can run.",
    )


def test_success_rate_with_share_and_a_custom_column_equals_independent_sql(stack, admin, cronicorn):
    """A success-rate question as the shipped dashboards need it: share of successful runs and the
    average of a custom column (duration in seconds), by month; equal to independent SQL."""
    db_id, runs = cronicorn["db_id"], cronicorn["fields"]["runs"]
    duration, status = (["field", runs[name]["id"], None] for name in ("duration_ms", "status"))
    query = {
        "database": db_id,
        "type": "query",
        "query": {
            "source-table": cronicorn["tables"]["runs"]["id"],
            "expressions": {"Seconds": ["/", duration, 1000]},
            "aggregation": [
                ["share", ["=", status, "success"]],
                ["avg", ["expression", "Seconds"]],
                ["count-where", ["=", status, "failed"]],
            ],
            "breakout": [["field", runs["started_at"]["id"], {"temporal-unit": "month"}]],
        },
    }
    result = ok(admin.post("/api/dataset/", query), 202)
    assert result["status"] == "completed", result.get("error")
    expected = _independent(
        stack,
        "SELECT date_trunc('month', started_at), avg(CASE WHEN status = 'success' THEN 1.0 ELSE 0 END),"
        " avg(duration_ms / 1000.0), count(*) FILTER (WHERE status = 'failed') FROM runs GROUP BY 1 ORDER BY 1",
    )
    assert len(expected) >= 3
    assert [[r[0], round(r[1], 9), round(r[2], 9), r[3]] for r in result["data"]["rows"]] == [
        [r[0].isoformat() + "Z", round(float(r[1]), 9), round(float(r[2]), 9), r[3]] for r in expected
    ]
    assert [c["name"] for c in result["data"]["cols"]] == ["started_at", "share", "avg", "count-where"]


# -- state, encryption, journal, logs ----------------------------------------------------------


def test_state_survives_restart_and_details_are_encrypted_at_rest(stack, reader_details):
    """behaviour.md §1: state lives in the app DB on PostgreSQL (MB_DB_*), so it survives a restart
    and a new container; connection details are encrypted with MB_ENCRYPTION_SECRET_KEY; with
    another key Metabase logs "Cannot decrypt encrypted string. Have you changed or forgot to set
    MB_ENCRYPTION_SECRET_KEY?" and cannot use them."""
    double = stack.start_double(stack.create_database("metabase_restart"))
    session_id = run_setup(double.api)
    api = double.api.session(session_id)
    key = ok(api.post("/api/api-key/", {"name": "restart", "group_id": 2}))["unmasked_key"]
    SECRETS.add(key)
    db = register(api, "Survivor", reader_details)
    wait_synced(api, db["id"])
    card = ok(
        api.post(
            "/api/card/",
            {
                "name": "Survivor card",
                "display": "table",
                "visualization_settings": {},
                "dataset_query": {"database": db["id"], "type": "native", "native": {"query": "SELECT 1 AS one"}},
            },
        )
    )
    (stored,) = stack.execute(double.app_db, "SELECT details FROM metabase_database WHERE id = %s", (db["id"],))[0]
    for plain in (READER_PASSWORD, READER, "warehouse", stack.pg.name):
        assert plain not in stored  # encrypted, not just the password left out
    assert not stored.lstrip().startswith("{")

    def snapshot(client: Api) -> tuple:
        return (
            ok(client.get("/api/user/current"))["email"],
            ok(client.get(f"/api/database/{db['id']}"))["details"],
            sorted(t["name"] for t in ok(client.get(f"/api/database/{db['id']}/metadata"))["tables"]),
            ok(client.get(f"/api/card/{card['id']}"))["name"],
        )

    before = snapshot(api)
    double.container.restart(timeout=10)
    double.wait_ready()
    assert snapshot(double.api.session(session_id)) == before
    assert ok(double.api.api_key(key).get("/api/api-key/count")) == 1

    double = stack.replace_double(double, MB_ENCRYPTION_SECRET_KEY="another-key-" + secrets.token_hex(8))
    lost = ok(double.api.session(session_id).get(f"/api/database/{db['id']}"))
    assert lost["details"] is None
    query = {"database": db["id"], "type": "native", "native": {"query": "SELECT 1"}}
    assert ok(double.api.session(session_id).post("/api/dataset/", query), 202)["status"] == "failed"
    assert (
        "Cannot decrypt encrypted string. Have you changed or forgot to set MB_ENCRYPTION_SECRET_KEY?" in double.logs()
    )

    double = stack.replace_double(double, MB_ENCRYPTION_SECRET_KEY=ENCRYPTION_KEY)
    assert snapshot(double.api.session(session_id)) == before
    assert ok(double.api.session(session_id).post("/api/dataset/", query), 202)["data"]["rows"] == [[1]]


def test_journal_holds_every_accepted_request_and_it_matches_the_openapi_spec(stack, double, admin, reader_details):
    """Issue 5 item 5: every request the double accepted (2xx) is in its journal, with secrets
    "<redacted>", and each is valid against shared/metabase/openapi.json; the check is real (an
    accepted request off the spec is reported); refused requests are not journaled."""
    contract = load_contract()
    # A flow through the endpoints the modules and runbooks use (so this test stands alone too).
    db = register(admin, "Journal " + uuid.uuid4().hex[:6], {**reader_details, "schema-filters-type": "all"})
    ok(admin.get(f"/api/database/{db['id']}?include=tables"))
    ok(admin.put(f"/api/database/{db['id']}", {"details": {"password": READER_PASSWORD}, "auto_run_queries": True}))
    ok(admin.post(f"/api/database/{db['id']}/sync_schema"))
    ok(admin.post("/api/dataset/", {"database": db["id"], "type": "native", "native": {"query": "SELECT 1"}}), 202)
    key = ok(admin.post("/api/api-key/", {"name": "journal-" + uuid.uuid4().hex[:6], "group_id": 2}))
    SECRETS.add(key["unmasked_key"])
    ok(admin.put(f"/api/api-key/{key['id']}/regenerate"))
    session_id = ok(double.api.post("/api/session/", {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))["id"]
    SECRETS.add(session_id)
    refused = admin.post("/api/database/", {"name": "refused-journal", "engine": "postgres", "details": {}})
    assert refused.status == 400

    entries = stack.journal(double.app_db)
    assert all(200 <= e["status"] < 300 for e in entries)
    assert not any(e["body"] and e["body"].get("name") == "refused-journal" for e in entries if e["has_body"])
    seen = {(e["method"], e["path"]) for e in entries}
    for expected in [
        ("POST", "/api/setup/"),
        ("POST", "/api/database/"),
        ("PUT", f"/api/database/{db['id']}"),
        ("POST", f"/api/database/{db['id']}/sync_schema"),
        ("POST", "/api/dataset/"),
        ("POST", "/api/api-key/"),
        ("POST", "/api/session/"),
    ]:
        assert expected in seen, expected
    assert not any(e["path"].startswith("/api/health") for e in entries)

    problems = []
    for entry in entries:
        body = entry["body"] if entry["has_body"] else NO_BODY
        found = contract.check(
            entry["method"], entry["path"], query=entry["query"], body=body, lenient_trailing_slash=True
        )
        problems.extend(f"{entry['method']} {entry['path']}: {p}" for p in found)
    assert problems == []

    dump = json.dumps(entries)
    for secret in SECRETS:
        assert secret not in dump
    put = next(e for e in entries if e["method"] == "PUT" and e["path"] == f"/api/database/{db['id']}")
    assert put["body"] == {"details": {"password": "<redacted>"}, "auto_run_queries": True}
    setup = next(e for e in entries if e["path"] == "/api/setup/")
    assert setup["body"]["token"] == "<redacted>" and setup["body"]["user"]["password"] == "<redacted>"

    # The check is real: the double accepts an unknown query parameter and a body where the spec
    # has none (as Metabase would), and the contract reports both.
    ok(admin.get("/api/database/?limit=1"))
    ok(admin("POST", f"/api/database/{db['id']}/rescan_values", {"all": True}))
    tail = stack.journal(double.app_db)[-2:]
    reported = [
        contract.check(e["method"], e["path"], query=e["query"], body=e["body"] if e["has_body"] else NO_BODY)
        for e in tail
    ]
    assert reported == [
        ["GET /api/database/: query parameter 'limit' is not in the spec"],
        ["POST /api/database/{id}/rescan_values: the spec defines no request body, but one was sent"],
    ]


def test_no_secret_in_the_logs(stack, double):
    """Secrets never appear in the doubles' logs (docker logs) of this module, whatever happened
    above: one line per request (method, path, status, duration), never bodies or headers."""
    logs = stack.all_logs()
    assert double.logs() in logs
    for text in logs:
        for secret in SECRETS:
            assert secret not in text
        for line in text.splitlines():
            assert "{" not in line or "metabase.server.middleware.log" not in line
    assert re.search(r"POST /api/setup 200 \d+\.\d ms", double.logs())
