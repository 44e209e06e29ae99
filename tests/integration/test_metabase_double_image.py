"""cronicorn-offline/metabase:v0.58.5, the Metabase API double, starts and answers like Metabase.

Each stack is a user-defined network with a PostgreSQL stand-in (the app DB, reached by container
name) and the double, whose port 3000 is published on an ephemeral port of 127.0.0.1 only.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
import uuid

import pytest

IMAGE = "cronicorn-offline/metabase:v0.58.5"
STILL_INITIALIZING = "Metabase is still initializing. Please sit tight..."


def _get(port: int, path: str) -> tuple[int, str, str]:
    """(status, content type, body) of GET http://127.0.0.1:<port><path>."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - fixed http URL
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def _wait_for_health(resources, container, port: int, timeout: float = 60.0) -> list[tuple[int, str, str]]:
    """Poll /api/health (and another route) until 200; every answer seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = _get(port, "/api/health")
        except (ConnectionError, urllib.error.URLError):
            answer = None  # docker-proxy accepted, the double is not listening yet
        if answer is not None:
            seen.append(answer)
            if answer[0] == 200:
                return seen
            seen.append(_get(port, "/api/session/properties"))
        container.reload()
        assert container.status == "running", resources.log_tail(container)
        time.sleep(0.2)
    raise AssertionError(f"no healthy answer within {timeout:.0f} s:\n{resources.log_tail(container)}")


class Stack:
    """An app DB and a double on their own network."""

    def __init__(self, resources, **double_env: str) -> None:
        self.resources = resources
        self.network = resources.network()
        self.db_password = secrets.token_urlsafe(16)
        self.pg = resources.start_postgres(
            {"POSTGRES_USER": "metabase", "POSTGRES_PASSWORD": self.db_password, "POSTGRES_DB": "metabase"},
            network=self.network.name,
            publish=False,
        )
        self.env = {
            "MB_DB_TYPE": "postgres",
            "MB_DB_HOST": self.pg.name,
            "MB_DB_PORT": "5432",
            "MB_DB_DBNAME": "metabase",
            "MB_DB_USER": "metabase",
            "MB_DB_PASS": self.db_password,
            "MB_DB_CONNECTION_TIMEOUT_MS": "60000",
            "MB_ENCRYPTION_SECRET_KEY": secrets.token_urlsafe(24),
            **double_env,
        }
        self.double = None
        self.port = 0

    def start_double(self, files: dict | None = None):
        env = dict(self.env)
        if files:  # the password from a file (Docker secrets) instead of MB_DB_PASS
            env.pop("MB_DB_PASS")
            env["MB_DB_PASS_FILE"] = "/tmp/mb_db_pass"  # noqa: S108 - a path inside the container
        self.double = self.resources.run(
            IMAGE,
            environment=env,
            network=self.network.name,
            ports={"3000/tcp": ("127.0.0.1", None)},
            files_at="/tmp",  # noqa: S108
            files=files,
        )
        self.port = self.resources.published_port(self.double, "3000/tcp")
        return self.double

    def wait_ready(self):
        return _wait_for_health(self.resources, self.double, self.port)


def test_health_reports_initializing_then_ok_and_the_api_answers_like_metabase(docker_resources):
    stack = Stack(docker_resources, MB_DOUBLE_INIT_SECONDS="3")
    stack.start_double()
    seen = stack.wait_ready()

    health_while_init = [
        json.loads(body) for status, ctype, body in seen if status == 503 and ctype.startswith("application/json")
    ]
    assert health_while_init, f"never saw the initializing state: {seen}"
    assert {h["status"] for h in health_while_init} == {"initializing"}
    assert all(0 <= h["progress"] < 1 for h in health_while_init)
    others_while_init = [(status, body) for status, ctype, body in seen if ctype.startswith("text/plain")]
    assert others_while_init and set(others_while_init) == {(503, STILL_INITIALIZING)}
    assert seen[-1][0] == 200 and json.loads(seen[-1][2]) == {"status": "ok"}

    status, ctype, body = _get(stack.port, "/api/session/properties?probe=query-secret")
    assert (status, ctype.split(";")[0]) == (200, "application/json")
    properties = json.loads(body)
    assert str(uuid.UUID(properties["setup-token"])) == properties["setup-token"]
    assert properties["has-user-setup"] is False
    assert properties["version"]["tag"] == "v0.58.5"
    assert properties["site-name"] == "Metabase"
    assert properties["site-url"] == f"http://127.0.0.1:{stack.port}"  # set from the first API request

    assert _get(stack.port, "/api/no-such-endpoint") == (
        404,
        "text/plain;charset=utf-8",
        "API endpoint does not exist.",
    )
    assert _get(stack.port, "/api/health/")[0] == 200  # Metabase serves both spellings

    logs = stack.double.logs().decode()
    assert "Metabase Initialization COMPLETE" in logs
    assert "GET /api/health 503" in logs and "GET /api/session/properties 200" in logs
    assert "GET /api/no-such-endpoint 404" in logs
    assert "query-secret" not in logs  # no query strings in the request log
    assert stack.db_password not in logs


def test_setup_token_lives_in_the_app_db_and_survives_restart_and_replacement(docker_resources):
    stack = Stack(docker_resources, MB_DOUBLE_INIT_SECONDS="0.5")
    stack.start_double(files={"mb_db_pass": (stack.db_password.encode() + b"\n", 0o644)})
    stack.wait_ready()
    token = json.loads(_get(stack.port, "/api/session/properties")[2])["setup-token"]

    stack.double.restart(timeout=10)
    stack.port = docker_resources.published_port(stack.double, "3000/tcp")
    stack.wait_ready()
    assert json.loads(_get(stack.port, "/api/session/properties")[2])["setup-token"] == token

    docker_resources.remove(stack.double)
    stack.start_double()
    stack.wait_ready()
    assert json.loads(_get(stack.port, "/api/session/properties")[2])["setup-token"] == token


def test_health_reports_a_lost_app_db_and_recovers(docker_resources):
    stack = Stack(docker_resources, MB_DOUBLE_INIT_SECONDS="0.5")
    stack.start_double()
    stack.wait_ready()

    stack.pg.stop(timeout=10)
    status, _ctype, body = _get(stack.port, "/api/health")
    assert (status, json.loads(body)) == (503, {"status": "Unable to get app-db connection"})

    stack.pg.start()
    deadline = time.monotonic() + 60
    while _get(stack.port, "/api/health")[0] != 200:
        assert time.monotonic() < deadline, docker_resources.log_tail(stack.double)
        time.sleep(0.3)
    assert stack.double.attrs["State"]["Running"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"MB_DB_TYPE": "h2"}, "MB_DB_TYPE='h2' is not supported", id="h2-app-db"),
        pytest.param(
            {"MB_ENCRYPTION_SECRET_KEY": "too-short"},
            "MB_ENCRYPTION_SECRET_KEY must be at least 16 characters.",
            id="short-encryption-key",
        ),
        pytest.param(
            {"MB_DB_CONNECTION_TIMEOUT_MS": "1500"}, "cannot connect to the application database", id="no-app-db"
        ),
    ],
)
def test_failed_init_exits_1(docker_resources, env, message):
    # No network at all: 127.0.0.1:5432 inside the container refuses at once.
    environment = {
        "MB_DB_TYPE": "postgres",
        "MB_DB_HOST": "127.0.0.1",
        "MB_DB_DBNAME": "metabase",
        "MB_DB_USER": "metabase",
        "MB_DB_PASS": "not-logged-" + secrets.token_hex(8),
        "MB_DOUBLE_INIT_SECONDS": "0",
        **env,
    }
    container = docker_resources.run(IMAGE, environment=environment, network_mode="none")
    assert docker_resources.wait_for_exit(container, timeout=30) == 1
    logs = container.logs().decode()
    assert message in logs
    assert "Metabase Initialization FAILED" in logs
    assert environment["MB_DB_PASS"] not in logs


def test_image_has_no_healthcheck_and_listens_on_3000(docker_resources):
    docker_resources.require_image(IMAGE)
    config = docker_resources.client.images.get(IMAGE).attrs["Config"]
    assert not config.get("Healthcheck")  # real Metabase ships none; the role defines one
    assert "3000/tcp" in config["ExposedPorts"]
