"""The runbooks on the production shape, where Metabase's application database and the Cronicorn database
publish no port: a verified backup, a password rotation applied to PostgreSQL and Metabase in one run (and
back), and a teardown that refuses without confirmation."""

from __future__ import annotations

import secrets
import stat

import pytest
from production import (
    ALL_VARS,
    APPDB_CONTAINER,
    METABASE,
    METABASE_CONTAINER,
    PROXY_CONTAINER,
    STACK,
    VAULT_PASSWORD_FILE,
    admin_session,
    call,
    docker_client,
    vault_secrets,
)
from site_run import playbook, recaps

PRODUCTION = {"inventory": "inventory/production", "vault_password_file": str(VAULT_PASSWORD_FILE)}
DEPLOYMENT = [APPDB_CONTAINER, METABASE_CONTAINER, PROXY_CONTAINER, "cronicorn-app-db"]
VOLUMES = [STACK["postgres_volume"], "cronicorn-app-db-data"]


def readonly_login(password: str) -> tuple[int, str]:
    """Log in to the Cronicorn database as the read-only role from the database access host."""
    result = (
        docker_client()
        .containers.get("cronicorn-db-access")
        .exec_run(
            ["psql", "-X", "-A", "-t", "-c", "SELECT current_user"],
            environment={
                "PGHOST": ALL_VARS["monitoring_db_host"],
                "PGDATABASE": ALL_VARS["monitoring_db_name"],
                "PGUSER": ALL_VARS["monitoring_readonly_user"],
                "PGPASSWORD": password,
                "PGCONNECT_TIMEOUT": "10",
            },
        )
    )
    return result.exit_code, result.output.decode()


@pytest.fixture(scope="module")
def session() -> str:
    return admin_session()


def native_query(session: str, query: str) -> dict:
    return METABASE.native(session, METABASE.database(session)["id"], query)


def test_backup_of_the_application_database_without_a_published_port(tmp_path):
    backups = tmp_path / "backups"
    run = playbook("playbooks/backup.yml", "-e", f"metabase_backup_dir={backups}", **PRODUCTION)
    assert run.returncode == 0, run.stdout[-3000:]
    dumps = sorted(backups.glob("metabase-*.dump"))
    assert len(dumps) == 1, dumps
    assert dumps[0].stat().st_size > 0
    assert stat.S_IMODE(dumps[0].stat().st_mode) == 0o600
    assert dumps[0].read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format


def test_rotation_reaches_postgres_and_metabase_in_one_run(tmp_path, session):
    old = vault_secrets()["vault_monitoring_readonly_password"]
    new = secrets.token_urlsafe(24)
    new_vars = tmp_path / "new-readonly-password.yml"
    new_vars.write_text(f'monitoring_readonly_password: "{new}"\n', encoding="utf-8")
    new_vars.chmod(0o600)
    try:
        run = playbook("playbooks/rotate_readonly_password.yml", "-e", f"@{new_vars}", **PRODUCTION)
        assert run.returncode == 0, run.stdout[-3000:]
        assert new not in run.stdout + run.stderr
        assert readonly_login(old)[0] != 0
        assert readonly_login(new) == (0, "metabase_readonly\n")
        result = native_query(session, "SELECT count(*) FROM admin_daily_metrics")
        assert result["status"] == "completed", result.get("error")
    finally:
        # Back to the vault's password, as the operator's next run with the vault would leave it.
        back = playbook("playbooks/rotate_readonly_password.yml", **PRODUCTION)
    assert back.returncode == 0, back.stdout[-3000:]
    assert readonly_login(old) == (0, "metabase_readonly\n")
    assert native_query(session, "SELECT current_user")["status"] == "completed"


def test_teardown_without_confirmation_removes_nothing():
    client = docker_client()
    before = {name: client.containers.get(name).id for name in DEPLOYMENT}
    run = playbook("playbooks/teardown.yml", **PRODUCTION)
    assert run.returncode != 0
    assert "confirm_data_loss=yes" in run.stdout
    counts = recaps(run.stdout)
    assert counts, run.stdout[-3000:]
    assert all(host["changed"] == 0 for host in counts.values()), run.stdout[-3000:]
    assert {name: client.containers.get(name).id for name in DEPLOYMENT} == before
    assert all(client.volumes.get(name) for name in VOLUMES)
    assert call("GET", "/api/health") == {"status": "ok"}
