"""The dev stack the runbook tests deploy and play against (shared by test_runbooks.py and test_diagnose.py).

site.yml on inventory/dev with the offline images, and localhost in monitoring_proxy through a second
inventory source so that the proxy is deployed too; every container, volume and network name prefixed
(conftest.resource_name) and every port a free one of 127.0.0.1. The overrides go in the 0600 extra-vars file
of ansible_runs.run_playbook. ``deployed_stack`` removes everything it made by its exact name, also after a
failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import psycopg2
import pytest
import yaml
from ansible_runs import REPO, Run, run_playbook
from conftest import resource_name
from ports import free_port
from test_metabase_double_api import Api, ok

POSTGRES_IMAGE = "cronicorn-offline/postgres:15"
METABASE_IMAGE = "cronicorn-offline/metabase:v0.58.5"
NGINX_IMAGE = "cronicorn-offline/nginx:1.22"
DEV_VARS = yaml.safe_load((REPO / "inventory/dev/group_vars/all/main.yml").read_text())
ADMIN_EMAIL = DEV_VARS["monitoring_metabase_admin_email"]
ADMIN_PASSWORD = DEV_VARS["monitoring_metabase_admin_password"]
PG_USER = DEV_VARS["postgres_user"]
PG_PASSWORD = DEV_VARS["postgres_password"]
READONLY_USER = DEV_VARS["monitoring_readonly_user"]
READONLY_PASSWORD = DEV_VARS["monitoring_readonly_password"]
MANAGED = {"org.cronicorn.monitoring.managed": "true"}
PLAY_TIMEOUT = 600


@dataclasses.dataclass
class Stack:
    client: docker.DockerClient
    workdir: Path
    prefix: str
    pg_port: int = dataclasses.field(default_factory=free_port)
    mb_port: int = dataclasses.field(default_factory=free_port)
    https_port: int = dataclasses.field(default_factory=free_port)
    http_port: int = dataclasses.field(default_factory=free_port)
    readonly_password: str = READONLY_PASSWORD
    shape: dict = dataclasses.field(default_factory=dict)  # further extra vars (the production shape)
    images: list[str] = dataclasses.field(default_factory=list)
    outputs: list[str] = dataclasses.field(default_factory=list)

    # names

    @property
    def postgres(self) -> str:
        return self.shape.get("postgres_container_name", f"{self.prefix}-postgres")

    @property
    def metabase(self) -> str:
        return f"{self.prefix}-metabase"

    @property
    def proxy(self) -> str:
        return f"{self.prefix}-proxy"

    @property
    def volume(self) -> str:
        return f"{self.prefix}-pgdata"

    @property
    def network(self) -> str:
        return f"{self.prefix}-net"

    @property
    def backup_dir(self) -> Path:
        return self.workdir / "backups"

    @property
    def proxy_config_dir(self) -> Path:
        return self.workdir / "proxy-conf"

    @property
    def proxy_tls_dir(self) -> Path:
        return self.workdir / "proxy-tls"

    def inventory(self) -> list[str]:
        """inventory/dev, plus localhost in monitoring_proxy (the dev inventory has no proxy)."""
        extra = self.workdir / "proxy-group.yml"
        extra.write_text("all:\n  children:\n    monitoring_proxy:\n      hosts:\n        localhost:\n")
        return ["-i", str(REPO / "inventory/dev"), "-i", str(extra)]

    def extra_vars(self) -> dict:
        return {
            "postgres_container_name": self.postgres,
            "postgres_volume": self.volume,
            "postgres_network": self.network,
            "postgres_published_port": self.pg_port,
            "metabase_container_name": self.metabase,
            "metabase_network": self.network,
            "metabase_published_port": self.mb_port,
            "metabase_site_url": f"http://localhost:{self.mb_port}",
            "metabase_appdb_host": self.postgres,
            "metabase_wait_timeout": 120,
            "monitoring_metabase_url": f"http://127.0.0.1:{self.mb_port}",
            "monitoring_metabase_db_host": self.postgres,
            "monitoring_metabase_wait_timeout": 120,
            "monitoring_readonly_password": self.readonly_password,
            "proxy_container_name": self.proxy,
            "proxy_network": self.network,
            "proxy_upstream": f"http://{self.metabase}:3000",
            "proxy_https_port": self.https_port,
            "proxy_http_port": self.http_port,
            "proxy_config_dir": str(self.proxy_config_dir),
            "proxy_tls_dir": str(self.proxy_tls_dir),
            "metabase_backup_dir": str(self.backup_dir),
            **self.shape,
        }

    def play(self, playbook: str, *options: str, **overrides) -> Run:
        """Run a playbook of the repository on inventory/dev with the offline images and this stack's names."""
        wrapper = f"- name: {playbook}\n  ansible.builtin.import_playbook: {REPO / playbook}\n"
        run = run_playbook(
            self.workdir,
            "runbook.yml",
            wrapper,
            {**self.extra_vars(), **overrides},
            *self.inventory(),
            "-e",
            f"@{REPO / 'playbooks/vars/images-offline.yml'}",
            *options,
            timeout=PLAY_TIMEOUT,
        )
        self.outputs.append(run.output)
        return run

    def deploy(self, *options: str) -> Run:
        wrapper = f"- name: The stack\n  ansible.builtin.import_playbook: {REPO / 'site.yml'}\n"
        run = run_playbook(
            self.workdir,
            "deploy.yml",
            wrapper,
            self.extra_vars(),
            *self.inventory(),
            "-e",
            f"@{REPO / 'playbooks/vars/images-offline.yml'}",
            *options,
            timeout=PLAY_TIMEOUT,
        )
        self.outputs.append(run.output)
        return run

    # access

    def container(self, name: str):
        return self.client.containers.get(name)

    def exists(self, kind: str, name: str) -> bool:
        collection = {
            "container": self.client.containers,
            "volume": self.client.volumes,
            "network": self.client.networks,
        }
        try:
            collection[kind].get(name)
            return True
        except docker.errors.NotFound:
            return False

    def pg(self, dbname: str = "db", user: str = PG_USER, password: str = PG_PASSWORD):
        return psycopg2.connect(
            host="127.0.0.1", port=self.pg_port, dbname=dbname, user=user, password=password, connect_timeout=5
        )

    def sql(self, statement: str, dbname: str = "db", params=None) -> list[tuple]:
        conn = self.pg(dbname)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def admin(self) -> Api:
        api = Api(self.mb_port)
        session = ok(api.post("/api/session/", {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        return api.session(session["id"])

    def cronicorn_db_id(self, admin: Api) -> int:
        databases = ok(admin.get("/api/database/"))["data"]
        return next(db["id"] for db in databases if db["name"] == "Cronicorn")

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = Api(self.mb_port).get("/api/health")
            if answer.status == 200 and answer.json.get("status") == "ok":
                return
            time.sleep(0.5)
        raise AssertionError(f"Metabase on port {self.mb_port} not healthy within {timeout} s")

    def dumps(self) -> list[Path]:
        return sorted(self.backup_dir.glob("metabase-*.dump"))

    def build_image(self, tag: str, dockerfile: str) -> str:
        """Build a test image FROM a local image (never pulling); removed at the end."""
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as archive:
            data = dockerfile.encode()
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        context.seek(0)
        self.client.images.build(fileobj=context, custom_context=True, tag=tag, pull=False, rm=True)
        self.images.append(tag)
        return tag

    def cleanup(self) -> None:
        for name in (self.metabase, self.proxy, self.postgres, f"{self.metabase}-appdb-client"):
            with contextlib.suppress(docker.errors.NotFound):
                self.client.containers.get(name).remove(force=True, v=True)
        with contextlib.suppress(docker.errors.NotFound):
            self.client.volumes.get(self.volume).remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            self.client.networks.get(self.network).remove()
        for tag in self.images:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.images.remove(tag, force=True)


@contextlib.contextmanager
def deployed_stack(client, workdir: Path, kind: str) -> Iterator[Stack]:
    """A stack deployed with site.yml (offline images required), removed afterwards."""
    for image in (POSTGRES_IMAGE, METABASE_IMAGE, NGINX_IMAGE):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.fail(f"Docker image {image} is missing: run `make images` first.", pytrace=False)
    stack = Stack(client, workdir, resource_name(kind))
    try:
        deployed = stack.deploy()
        assert deployed.rc == 0, deployed.output[-6000:]
        stack.wait_healthy()
        yield stack
    finally:
        stack.cleanup()
