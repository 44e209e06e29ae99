"""Fixtures for integration tests that need a real PostgreSQL server (and Docker).

Public fixtures:

``pg_server`` (session)
    A PostgreSQL 15 server reachable on 127.0.0.1, with a superuser. Attributes ``host``, ``port``,
    ``user``, ``password`` and ``dsn(dbname="postgres", user=None, password=None)``, which returns a
    libpq keyword string. When ``MONITORING_TEST_PG_URL`` is set
    (``postgresql://user:password@127.0.0.1:port``) that server is used; otherwise a throwaway
    container of ``cronicorn-offline/postgres:15`` (``make images`` builds it) is started with a
    random password, published on an ephemeral port of 127.0.0.1, and removed with its volume at the
    end of the session.

``fresh_database`` (function)
    A factory ``fresh_database(owner=None) -> str``: creates a database with a unique name (owned by
    ``owner`` when given) and drops it ``WITH (FORCE)`` after the test.

``docker_client`` (session), ``docker_resources`` (function)
    The Docker SDK client, and a ``DockerResources`` that starts throwaway containers (PostgreSQL
    stand-ins and others), networks and volumes, and removes them (with anonymous volumes) after the
    test; used by the image tests.

``double_scenario`` (module)
    A Metabase double with a ``warehouse`` database to register, for the playbook tests of the modules
    (``double_playbooks.DoubleScenario``: ``play``, ``journal``, ``login``, ``admin``); its app DB is named
    after the test module.

Environment: ``MONITORING_TEST_RESOURCE_PREFIX`` (default ``monitoring-test-``) prefixes the names
of containers, networks and volumes the fixtures create.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping
from urllib.parse import unquote, urlsplit

import psycopg2
import psycopg2.extensions
import pytest
from psycopg2 import sql

POSTGRES_IMAGE = "cronicorn-offline/postgres:15"
READY_TIMEOUT = 60.0
RESOURCE_PREFIX = os.environ.get("MONITORING_TEST_RESOURCE_PREFIX", "monitoring-test-")


@dataclasses.dataclass(frozen=True)
class PgServer:
    """Where the test PostgreSQL server listens, and its superuser."""

    host: str
    port: int
    user: str
    password: str = dataclasses.field(repr=False)
    container: str | None = None  # name of the fixture's own container; None for MONITORING_TEST_PG_URL

    def dsn(self, dbname: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        """A libpq keyword string. Without ``user`` it logs in as the superuser with its password;
        with another ``user``, only the ``password`` given here is used."""
        if user is None:
            user = self.user
            if password is None:
                password = self.password
        params = {"host": self.host, "port": self.port, "dbname": dbname, "user": user}
        if password is not None:
            params["password"] = password
        return psycopg2.extensions.make_dsn(**params)


def resource_name(kind: str) -> str:
    """A unique, prefixed name for a container, network or volume made by the tests."""
    return f"{RESOURCE_PREFIX}{kind}-{uuid.uuid4().hex[:10]}"


def container_log_tail(container, lines: int = 25) -> str:
    try:
        return container.logs(tail=lines).decode("utf-8", "replace").rstrip()
    except Exception as exc:  # the container may already be gone
        return f"(no logs: {exc})"


def wait_for_login(dsn: str, container=None, timeout: float = READY_TIMEOUT, what: str = "PostgreSQL server") -> None:
    """Wait until a login with ``dsn`` succeeds; fail with the reason (and the container's logs)."""
    deadline = time.monotonic() + timeout
    last_error = "no attempt made"
    while time.monotonic() < deadline:
        if container is not None:
            container.reload()
            if container.status in ("exited", "dead"):
                pytest.fail(
                    f"{what}: container {container.name} exited with code "
                    f"{container.attrs['State']['ExitCode']} before accepting logins. "
                    f"Last lines of `docker logs {container.name}`:\n{container_log_tail(container)}",
                    pytrace=False,
                )
        try:
            psycopg2.connect(dsn, connect_timeout=3).close()
            return
        except psycopg2.OperationalError as exc:
            last_error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        time.sleep(0.3)
    hint = ""
    if container is not None:
        hint = f" Last lines of `docker logs {container.name}`:\n{container_log_tail(container)}"
    pytest.fail(f"{what} did not accept logins within {timeout:.0f} s (last error: {last_error}).{hint}", pytrace=False)


@pytest.fixture(scope="session")
def docker_client():
    """The Docker SDK client; fails (never skips) when no engine answers."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        pytest.fail(
            f"No Docker engine answers ({exc}). Start one, e.g. `bash scripts/ensure-docker.sh`.", pytrace=False
        )
    yield client
    client.close()


class DockerResources:
    """Throwaway containers, networks and volumes for one test; ``cleanup`` removes them all."""

    def __init__(self, client) -> None:
        self.client = client
        self._containers: list = []
        self._networks: list = []
        self._volumes: list = []

    # names, images, ports, logs

    name = staticmethod(resource_name)

    def require_image(self, image: str) -> None:
        import docker.errors

        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.fail(f"Docker image {image} is missing: run `make images` first.", pytrace=False)

    @staticmethod
    def published_port(container, container_port: str) -> int:
        """The host port of ``container_port``, which must be published on 127.0.0.1 only."""
        container.reload()
        bindings = container.attrs["NetworkSettings"]["Ports"].get(container_port) or []
        ports = {int(b["HostPort"]) for b in bindings if b.get("HostIp") == "127.0.0.1"}
        assert len(ports) == 1 and len(bindings) == 1, f"{container.name}: {container_port} -> {bindings}"
        return ports.pop()

    log_tail = staticmethod(container_log_tail)

    @staticmethod
    def wait_for_exit(container, timeout: float = 60.0) -> int:
        """Wait until ``container`` stops; its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            container.reload()
            if container.status in ("exited", "dead"):
                return container.attrs["State"]["ExitCode"]
            time.sleep(0.2)
        raise AssertionError(f"{container.name} still runs after {timeout:.0f} s:\n{container_log_tail(container)}")

    wait_for_login = staticmethod(wait_for_login)

    # resources

    def network(self):
        network = self.client.networks.create(self.name("net"), driver="bridge")
        self._networks.append(network)
        return network

    def volume(self):
        volume = self.client.volumes.create(self.name("vol"))
        self._volumes.append(volume)
        return volume

    def run(self, image: str, *, files_at: str | None = None, files: Mapping | None = None, **kwargs):
        """Create (with ``files`` copied to ``files_at``) and start a container of ``image``."""
        self.require_image(image)
        kwargs.setdefault("name", self.name("ctr"))
        container = self.client.containers.create(image, detach=True, **kwargs)
        self._containers.append(container)
        if files:
            container.put_archive(files_at, _tar(files))
        container.start()
        container.reload()
        return container

    def start_postgres(
        self,
        environment: Mapping[str, str] | None = None,
        *,
        command: list[str] | None = None,
        volume: str | None = None,
        network: str | None = None,
        files: Mapping[str, tuple[bytes, int]] | None = None,
        publish: bool = True,
        name: str | None = None,
    ):
        """A container of the PostgreSQL stand-in. ``files`` maps a name in /docker-entrypoint-initdb.d
        to ``(content, mode)``; ``volume`` is a named volume mounted at PGDATA; ``publish`` publishes
        5432 on an ephemeral port of 127.0.0.1."""
        kwargs: dict = {"name": name or self.name("pg"), "environment": dict(environment or {})}
        if command is not None:
            kwargs["command"] = command
        if publish:
            kwargs["ports"] = {"5432/tcp": ("127.0.0.1", None)}
        if volume:
            kwargs["volumes"] = {volume: {"bind": "/var/lib/postgresql/data", "mode": "rw"}}
        if network:
            kwargs["network"] = network
        return self.run(POSTGRES_IMAGE, files_at="/docker-entrypoint-initdb.d", files=files, **kwargs)

    def pg_server(self, container, user: str = "postgres", password: str = "") -> PgServer:
        """How the host reaches the PostgreSQL server in ``container``."""
        return PgServer("127.0.0.1", self.published_port(container, "5432/tcp"), user, password, container.name)

    def remove(self, container) -> None:
        _remove_container(container)
        if container in self._containers:
            self._containers.remove(container)

    def cleanup(self) -> None:
        import docker.errors

        for container in reversed(self._containers):
            _remove_container(container)
        self._containers.clear()
        for resource in [*reversed(self._networks), *reversed(self._volumes)]:
            try:
                resource.remove()
            except docker.errors.NotFound:
                pass
        self._networks.clear()
        self._volumes.clear()


def _remove_container(container) -> None:
    import docker.errors

    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass


def _tar(files: Mapping[str, tuple[bytes, int]]) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, (content, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = mode
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture
def docker_resources(docker_client) -> Iterator[DockerResources]:
    resources = DockerResources(docker_client)
    try:
        yield resources
    finally:
        resources.cleanup()


def _server_from_url(url: str) -> PgServer:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise pytest.UsageError(
            "MONITORING_TEST_PG_URL must look like postgresql://user:password@127.0.0.1:5432 "
            f"(got scheme {parts.scheme!r})"
        )
    return PgServer(
        host=parts.hostname,
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
    )


@pytest.fixture(scope="session")
def pg_server(request) -> Iterator[PgServer]:
    url = os.environ.get("MONITORING_TEST_PG_URL")
    if url:
        server = _server_from_url(url)
        wait_for_login(server.dsn(), what="The server of MONITORING_TEST_PG_URL")
        yield server
        return

    resources = DockerResources(request.getfixturevalue("docker_client"))
    try:
        password = secrets.token_urlsafe(24)
        container = resources.start_postgres({"POSTGRES_PASSWORD": password})
        server = resources.pg_server(container, "postgres", password)
        wait_for_login(server.dsn(), container, what=f"PostgreSQL test container {container.name}")
        yield server
    finally:
        resources.cleanup()


def _autocommit(server: PgServer):
    conn = psycopg2.connect(server.dsn(), connect_timeout=10)
    conn.autocommit = True
    return conn


class FreshDatabases:
    """``fresh_database(owner=None) -> str``; ``drop_all()`` runs at teardown."""

    def __init__(self, server: PgServer) -> None:
        self.server = server
        self.created: list[str] = []

    def __call__(self, owner: str | None = None) -> str:
        name = f"test_{uuid.uuid4().hex[:16]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if owner is not None:
            statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
        conn = _autocommit(self.server)
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()
        self.created.append(name)
        return name

    def drop_all(self) -> None:
        """Drop every database made here, even with sessions still connected (WITH (FORCE))."""
        if not self.created:
            return
        conn = _autocommit(self.server)
        try:
            with conn.cursor() as cur:
                while self.created:
                    name = self.created.pop()
                    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        finally:
            conn.close()


@pytest.fixture
def fresh_database(pg_server: PgServer) -> Iterator[FreshDatabases]:
    databases = FreshDatabases(pg_server)
    try:
        yield databases
    finally:
        databases.drop_all()


@pytest.fixture(scope="module")
def double_scenario(docker_client, tmp_path_factory, request):
    """A Metabase double with a warehouse database to register, for the playbook tests of the modules
    (double_playbooks.py); one per test module, its app DB named after the module."""
    from double_playbooks import double_scenario as start  # here, not at the top: it imports this conftest

    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    with start(docker_client, tmp_path_factory.mktemp(name), name) as scenario:
        yield scenario
