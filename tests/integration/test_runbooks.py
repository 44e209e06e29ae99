"""The runbook playbooks (issue #7) against a real dev stack.

One stack per module: site.yml on inventory/dev with the offline images (and localhost in monitoring_proxy
through a second inventory source, so that the proxy is deployed and torn down too), every
container, volume and network name prefixed (MONITORING_TEST_RESOURCE_PREFIX, see conftest.resource_name)
and every port a free one of 127.0.0.1, so that it never meets the default names Molecule uses. The
overrides go in the 0600 extra-vars file of ansible_runs.run_playbook. Everything the module created is
removed at the end by its exact name, also after a failure.

Proved here, in this order (the tests share the stack and build on each other):
  * backup / restore: a question and a dashboard made through the API survive the loss of the Metabase
    container and of its application database (same ids); retention keeps the newest N; the dump is
    custom-format and readable; a damaged dump is refused before Metabase is stopped;
  * rotation: after rotate_readonly_password.yml the old password is refused by PostgreSQL, the new one
    works and a native query through Metabase (POST /api/dataset/) succeeds; a second run changes nothing;
  * after_app_release: a new ordinary table becomes readable, a new credential table stays hidden, the
    report names both, Metabase's sync shows the new table; a second run changes nothing;
  * stop / start: Metabase stops with its data kept and starts again healthy; repeats change nothing;
  * upgrade: to a retagged image it succeeds and keeps the data; to an image that never becomes healthy
    it rolls back by itself (previous image, data from the backup) and the run fails saying so;
  * teardown: without confirm_data_loss=yes it fails, says why and removes nothing; with it, it removes
    the stack's containers, volume, network and proxy files and nothing else (a stand-in application
    container and volume, even with the collection's label, stay); a repeat changes nothing;
  * check mode: --check runs of backup, restore, stop, upgrade, rotate and teardown succeed and touch nothing.

A second, smaller stack has the production shape (Metabase's app DB in its own container, superuser
metabase, no published port, metabase_appdb_manage false): its app DB container and volume are lost and
come back through restore.yml, contents and all.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from ansible_runs import Run, recaps
from conftest import resource_name
from runbook_stack import (
    ADMIN_PASSWORD,
    DEV_VARS,
    MANAGED,
    METABASE_IMAGE,
    PG_PASSWORD,
    POSTGRES_IMAGE,
    READONLY_USER,
    Stack,
    deployed_stack,
)
from test_metabase_double_api import Api, ok


@pytest.fixture(scope="module")
def stack(docker_client, tmp_path_factory) -> Iterator[Stack]:
    with deployed_stack(docker_client, tmp_path_factory.mktemp("runbooks"), "rb") as deployed:
        yield deployed


def assert_ok(run: Run) -> None:
    assert run.rc == 0, run.output[-6000:]


# -- backup and restore ------------------------------------------------------------------------


def make_content(admin: Api, db_id: int) -> tuple[dict, dict]:
    query = {"database": db_id, "type": "native", "native": {"query": "SELECT 1 AS one"}}
    card = ok(
        admin.post(
            "/api/card/",
            {"name": "Runbook question", "display": "table", "dataset_query": query, "visualization_settings": {}},
        )
    )
    dashboard = ok(admin.post("/api/dashboard/", {"name": "Runbook dashboard"}))
    ok(
        admin.put(
            f"/api/dashboard/{dashboard['id']}",
            {"dashcards": [{"id": -1, "card_id": card["id"], "row": 0, "col": 0, "size_x": 6, "size_y": 4}]},
        )
    )
    return card, dashboard


def test_backup_and_restore_round_trip(stack):
    """A question and a dashboard survive the loss of the Metabase container and its app DB."""
    admin = stack.admin()
    card, dashboard = make_content(admin, stack.cronicorn_db_id(admin))

    # Retention: two old dumps in the directory, keep 2 -> only the newest old one and the new one stay.
    stack.backup_dir.mkdir(mode=0o700, exist_ok=True)
    old = [stack.backup_dir / "metabase-20000101T000000Z.dump", stack.backup_dir / "metabase-20000102T000000Z.dump"]
    for age, path in enumerate(old):
        path.write_bytes(b"old")
        stamp = time.time() - 86400 * (10 - age)
        os.utime(path, (stamp, stamp))
    unrelated = stack.backup_dir / "notes.txt"
    unrelated.write_text("not a dump")

    volumes_before = {volume.name for volume in stack.client.volumes.list()}
    backup = stack.play("playbooks/backup.yml", metabase_backup_keep=2)
    assert_ok(backup)
    # The short-lived pg_dump/pg_restore containers (of the server's image, which declares a VOLUME for
    # PGDATA) take their anonymous volume with them: daily backups must not pile up dangling volumes.
    left_behind = {volume.name for volume in stack.client.volumes.list()} - volumes_before
    assert not left_behind, f"the backup left Docker volumes behind: {sorted(left_behind)}"
    dumps = stack.dumps()
    assert len(dumps) == 2 and dumps[0] == old[1], dumps
    new_dump = dumps[1]
    assert re.fullmatch(r"metabase-\d{8}T\d{6}Z\.dump", new_dump.name)
    assert new_dump.read_bytes()[:5] == b"PGDMP"  # custom format
    assert (new_dump.stat().st_mode & 0o777) == 0o600 and (stack.backup_dir.stat().st_mode & 0o777) == 0o700
    assert unrelated.exists()
    assert "(verified: " in backup.output
    old[1].unlink()

    # A damaged dump is refused before anything is stopped.
    damaged = stack.backup_dir / "metabase-damaged.dump"
    damaged.write_bytes(b"PGDMP this is not a dump")
    refused = stack.play("playbooks/restore.yml", metabase_backup_restore_file=damaged.name)
    assert refused.rc != 0
    assert "pg_restore --list" in refused.output
    assert stack.container(stack.metabase).status == "running"
    damaged.unlink()

    # Lose Metabase and its application database.
    stack.container(stack.metabase).remove(force=True)
    stack.sql("DROP DATABASE metabase WITH (FORCE)", dbname="postgres")
    stack.sql("DROP ROLE metabase", dbname="postgres")

    restore = stack.play("playbooks/restore.yml", metabase_backup_restore_file=new_dump.name)
    assert_ok(restore)
    stack.wait_healthy()
    admin = stack.admin()
    assert ok(admin.get(f"/api/card/{card['id']}"))["name"] == "Runbook question"
    restored = ok(admin.get(f"/api/dashboard/{dashboard['id']}"))
    assert restored["name"] == "Runbook dashboard"
    assert [d["card_id"] for d in restored["dashcards"]] == [card["id"]]
    # The app DB is owned by its role again, and Metabase's password still works.
    owner = stack.sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'metabase'", dbname="postgres")
    assert owner == [("metabase",)]

    # Restoring the same dump again over a live database is fine too (latest = that dump).
    again = stack.play("playbooks/restore.yml", metabase_backup_restore_file="latest")
    assert_ok(again)
    stack.wait_healthy()
    assert ok(stack.admin().get(f"/api/card/{card['id']}"))["id"] == card["id"]


# -- rotation ----------------------------------------------------------------------------------


def native_query(stack: Stack) -> dict:
    admin = stack.admin()
    return ok(
        admin.post(
            "/api/dataset/",
            {"database": stack.cronicorn_db_id(admin), "type": "native", "native": {"query": "SELECT current_user"}},
        ),
        202,
    )


def test_rotate_readonly_password(stack):
    assert native_query(stack)["status"] == "completed"
    old = stack.readonly_password
    new = "Rotated-" + uuid.uuid4().hex
    stack.readonly_password = new
    rotated = stack.play("playbooks/rotate_readonly_password.yml")
    assert_ok(rotated)
    assert rotated.changed >= 2, rotated.changed_tasks()
    assert new not in "\n".join(stack.outputs)

    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        stack.pg(user=READONLY_USER, password=old).close()
    stack.pg(user=READONLY_USER, password=new).close()
    answer = native_query(stack)
    assert answer["status"] == "completed", answer
    assert answer["data"]["rows"] == [[READONLY_USER]]

    again = stack.play("playbooks/rotate_readonly_password.yml")
    assert_ok(again)
    assert again.changed == 0, again.changed_tasks()


# -- after an application release --------------------------------------------------------------


def test_after_app_release(stack):
    first = stack.play("playbooks/after_app_release.yml")
    assert_ok(first)
    # The application's migrator adds an ordinary table and a credential table.
    stack.sql(
        "CREATE TABLE widgets (id bigint PRIMARY KEY, label text);"
        "CREATE TABLE webhook_secrets (id bigint PRIMARY KEY, secret text);"
        "INSERT INTO widgets VALUES (1, 'one'), (2, 'two');"
    )
    run = stack.play("playbooks/after_app_release.yml")
    assert_ok(run)
    assert run.changed >= 1
    report = " ".join(run.output.split())
    assert "now_readable: - public.widgets (table, 2 of 2 columns readable) readable_columns_changed" in report, (
        run.output[-8000:]
    )
    assert "now_hidden: []" in report
    assert re.search(r"hidden_relations: (- \S+ )*- public\.webhook_secrets", report), run.output[-8000:]
    assert "Triggered a schema sync" in report

    ro = stack.pg(user=READONLY_USER, password=stack.readonly_password)
    try:
        with ro.cursor() as cur:
            cur.execute("SELECT count(*) FROM widgets")
            assert cur.fetchone() == (2,)
        with ro.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SELECT * FROM webhook_secrets")
    finally:
        ro.close()

    admin = stack.admin()
    db_id = stack.cronicorn_db_id(admin)
    deadline = time.monotonic() + 60
    names: set[str] = set()
    while time.monotonic() < deadline:
        names = {t["name"] for t in ok(admin.get(f"/api/database/{db_id}/metadata"))["tables"]}
        if "widgets" in names:
            break
        time.sleep(1)
    assert "widgets" in names and "webhook_secrets" not in names, names

    again = stack.play("playbooks/after_app_release.yml")
    assert_ok(again)
    assert again.changed == 0, again.changed_tasks()
    check = stack.play("playbooks/after_app_release.yml", "--check")
    assert_ok(check)
    assert check.changed == 0, check.changed_tasks()


# -- stop and start ----------------------------------------------------------------------------


def test_stop_and_start(stack):
    card_count = len(ok(stack.admin().get("/api/card/")))
    stop = stack.play("playbooks/stop.yml")
    assert_ok(stop)
    assert stop.changed == 1
    assert stack.container(stack.metabase).status == "exited"
    assert stack.container(stack.postgres).status == "running"
    assert_ok(again := stack.play("playbooks/stop.yml"))
    assert again.changed == 0

    start = stack.play("playbooks/start.yml")
    assert_ok(start)
    assert start.changed == 1
    stack.wait_healthy()
    assert len(ok(stack.admin().get("/api/card/"))) == card_count
    assert_ok(again := stack.play("playbooks/start.yml"))
    assert again.changed == 0
    assert_ok(check := stack.play("playbooks/start.yml", "--check"))
    assert check.changed == 0


# -- upgrade -----------------------------------------------------------------------------------


def test_upgrade_and_automatic_rollback(stack):
    admin = stack.admin()
    make_content(admin, stack.cronicorn_db_id(admin))
    cards = sorted(c["id"] for c in ok(admin.get("/api/card/")))
    dashboards = sorted(d["id"] for d in ok(admin.get("/api/dashboard/")))
    assert cards and dashboards

    suffix = uuid.uuid4().hex[:8]
    new = stack.build_image(f"{stack.prefix}-metabase:v0.58.6-{suffix}", f"FROM {METABASE_IMAGE}\n")
    upgraded = stack.play("playbooks/upgrade_metabase.yml", metabase_upgrade_image=new)
    assert_ok(upgraded)
    assert stack.container(stack.metabase).attrs["Config"]["Image"] == new
    assert f"set metabase_image: {new} in the inventory" in " ".join(upgraded.output.split())
    stack.wait_healthy()
    admin = stack.admin()
    assert sorted(c["id"] for c in ok(admin.get("/api/card/"))) == cards
    assert sorted(d["id"] for d in ok(admin.get("/api/dashboard/"))) == dashboards
    again = stack.play("playbooks/upgrade_metabase.yml", metabase_upgrade_image=new)
    assert_ok(again)
    assert again.changed == 0, again.changed_tasks()

    # A question made right before the failed upgrade must survive its rollback.
    admin = stack.admin()
    late = make_content(admin, stack.cronicorn_db_id(admin))[0]
    broken = stack.build_image(
        f"{stack.prefix}-metabase:v0.59.0-broken-{suffix}",
        f"FROM {METABASE_IMAGE}\nENV MB_DOUBLE_INIT_SECONDS=100000\n",
    )
    dumps_before = set(stack.dumps())
    failed = stack.play(
        "playbooks/upgrade_metabase.yml", metabase_upgrade_image=broken, metabase_upgrade_wait_timeout=20
    )
    assert failed.rc != 0
    assert "ROLLED BACK" in failed.output, failed.output[-6000:]
    assert stack.container(stack.metabase).attrs["Config"]["Image"] == new
    assert len(set(stack.dumps()) - dumps_before) == 1
    stack.wait_healthy()
    admin = stack.admin()
    assert sorted(c["id"] for c in ok(admin.get("/api/card/"))) == sorted([*cards, late["id"]])
    assert ok(admin.get(f"/api/card/{late['id']}"))["name"] == "Runbook question"


# -- check mode --------------------------------------------------------------------------------


def test_check_mode_touches_nothing(stack):
    """--check runs of the runbooks that would change something succeed and change nothing."""
    container = stack.container(stack.metabase)
    image, started = container.attrs["Config"]["Image"], container.attrs["State"]["StartedAt"]
    dumps = stack.dumps()
    suffix = uuid.uuid4().hex[:8]
    other = stack.build_image(f"{stack.prefix}-metabase:v0.58.7-{suffix}", f"FROM {METABASE_IMAGE}\n")
    runs = {
        "backup": stack.play("playbooks/backup.yml", "--check"),
        "restore": stack.play("playbooks/restore.yml", "--check", metabase_backup_restore_file="latest"),
        "stop": stack.play("playbooks/stop.yml", "--check"),
        "upgrade": stack.play("playbooks/upgrade_metabase.yml", "--check", metabase_upgrade_image=other),
        "rotate": stack.play(
            "playbooks/rotate_readonly_password.yml", "--check", monitoring_readonly_password="Check-" + suffix * 2
        ),
        "teardown": stack.play("playbooks/teardown.yml", "--check", confirm_data_loss="yes"),
    }
    for name, run in runs.items():
        assert run.rc == 0, f"{name}: {run.output[-6000:]}"
    assert runs["stop"].changed == 1 and runs["teardown"].changed > 0
    container = stack.container(stack.metabase)
    assert (container.status, container.attrs["Config"]["Image"], container.attrs["State"]["StartedAt"]) == (
        "running",
        image,
        started,
    )
    assert stack.dumps() == dumps
    assert stack.exists("volume", stack.volume) and stack.exists("container", stack.postgres)
    stack.pg(user=READONLY_USER, password=stack.readonly_password).close()
    assert native_query(stack)["status"] == "completed"


# -- teardown ----------------------------------------------------------------------------------


def test_teardown(stack):
    # A stand-in for the application: its own container and volume, even labelled like the collection's.
    app_volume = stack.client.volumes.create(f"{stack.prefix}-app-data", labels=MANAGED)
    app = stack.client.containers.run(
        POSTGRES_IMAGE,
        name=f"{stack.prefix}-app",
        environment={"POSTGRES_PASSWORD": "x" * 16},
        volumes={app_volume.name: {"bind": "/var/lib/postgresql/data", "mode": "rw"}},
        labels=MANAGED,
        detach=True,
    )
    try:
        ours = [("container", stack.metabase), ("container", stack.postgres), ("container", stack.proxy)]
        ours += [("volume", stack.volume), ("network", stack.network)]
        assert all(stack.exists(kind, name) for kind, name in ours)
        assert (stack.proxy_config_dir / "cronicorn-proxy.conf").exists()

        refused = stack.play("playbooks/teardown.yml")
        assert refused.rc != 0
        assert "REFUSED, nothing was removed" in refused.output and "confirm_data_loss=yes" in refused.output
        assert sum(host["changed"] for host in recaps(refused.output).values()) == 0
        assert all(stack.exists(kind, name) for kind, name in ours)
        assert (stack.proxy_config_dir / "cronicorn-proxy.conf").exists()
        wrong = stack.play("playbooks/teardown.yml", confirm_data_loss="true")
        assert wrong.rc != 0 and all(stack.exists(kind, name) for kind, name in ours)

        dumps = stack.dumps()
        done = stack.play("playbooks/teardown.yml", confirm_data_loss="yes")
        assert_ok(done)
        assert not any(stack.exists(kind, name) for kind, name in ours), [n for k, n in ours if stack.exists(k, n)]
        assert not stack.proxy_config_dir.exists() and not stack.proxy_tls_dir.exists()
        assert stack.dumps() == dumps and dumps  # the backups stay
        report = " ".join(done.output.split())
        for kind, name in ours:
            assert f"{kind} {name}" in report, done.output[-4000:]
        assert f"{len(dumps)} dump(s) in {stack.backup_dir} (kept" in report
        app.reload()
        assert app.status == "running"
        assert stack.exists("volume", app_volume.name)

        again = stack.play("playbooks/teardown.yml", confirm_data_loss="yes")
        assert_ok(again)
        assert again.changed == 0, again.changed_tasks()
    finally:
        app.remove(force=True, v=True)
        app_volume.remove(force=True)


def test_no_secret_in_any_output(stack):
    """Passwords given to the runbooks never show in what ansible-playbook printed."""
    secrets = {PG_PASSWORD, DEV_VARS["metabase_appdb_password"], ADMIN_PASSWORD, stack.readonly_password}
    secrets.add(DEV_VARS["metabase_encryption_secret_key"])
    text = "\n".join(stack.outputs)
    assert text
    for secret in secrets:
        assert secret not in text


# -- the production shape ----------------------------------------------------------------------

APPDB_PASSWORD = "appdb-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def production_shape(docker_client, tmp_path_factory) -> Iterator[Stack]:
    """Metabase's app DB in a container of its own (the postgres role as inventory/production runs it:
    superuser metabase, database metabase, no published port) and metabase_appdb_manage false."""
    prefix = resource_name("rbprod")
    stack = Stack(docker_client, tmp_path_factory.mktemp("runbooks-production"), prefix)
    stack.shape = {
        "postgres_container_name": f"{prefix}-metabase-db",
        "postgres_user": "metabase",
        "postgres_password": APPDB_PASSWORD,
        "postgres_db": "metabase",
        "postgres_published_port": None,
        "metabase_appdb_manage": False,
        "metabase_appdb_host": f"{prefix}-metabase-db",
        "metabase_appdb_password": APPDB_PASSWORD,
        # Only there for the argument specs of the stages this shape skips (the dev inventory derives them
        # from postgres_published_port, which is null here).
        "monitoring_db_port": 5432,
        "metabase_appdb_login_port": 5432,
    }
    try:
        deployed = stack.deploy("--tags", "postgres,metabase")
        assert deployed.rc == 0, deployed.output[-6000:]
        stack.wait_healthy()
        yield stack
    finally:
        stack.cleanup()


def appdb_sql(stack: Stack, statement: str) -> str:
    """psql inside the app DB container (it publishes no port)."""
    code, output = stack.container(stack.postgres).exec_run(
        ["psql", "-U", "metabase", "-d", "metabase", "-AtX", "-v", "ON_ERROR_STOP=1", "-c", statement]
    )
    assert code == 0, output.decode()
    return output.decode().strip()


def test_backup_and_restore_with_the_app_db_in_its_own_unpublished_container(production_shape):
    """The production shape: no published port anywhere on the app DB, metabase_appdb_manage false; the
    app DB container and its volume are lost and come back (postgres role, then the dump)."""
    stack = production_shape
    assert not stack.container(stack.postgres).attrs["HostConfig"]["PortBindings"]
    appdb_sql(stack, "CREATE TABLE runbook_marker AS SELECT md5(random()::text) AS value")
    marker = appdb_sql(stack, "SELECT value FROM runbook_marker")
    tables_before = appdb_sql(
        stack, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"
    )
    settings_before = appdb_sql(stack, "SELECT count(*) FROM setting")

    backup = stack.play("playbooks/backup.yml")
    assert_ok(backup)
    assert len(stack.dumps()) == 1

    stack.container(stack.metabase).remove(force=True)
    stack.container(stack.postgres).remove(force=True, v=True)
    stack.client.volumes.get(stack.volume).remove(force=True)

    restore = stack.play("playbooks/restore.yml", metabase_backup_restore_file="latest")
    assert_ok(restore)
    stack.wait_healthy()
    assert appdb_sql(stack, "SELECT value FROM runbook_marker") == marker
    assert (
        appdb_sql(
            stack, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"
        )
        == tables_before
    )
    assert appdb_sql(stack, "SELECT count(*) FROM setting") == settings_before
