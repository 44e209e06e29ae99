"""cronicorn-offline/postgres:15 honours the contract of the official postgres image.

Every container here is throwaway (fixture ``docker_resources``), published only on 127.0.0.1, and
removed with its volumes after the test.
"""

from __future__ import annotations

import gzip
import secrets

import psycopg2
import pytest

IMAGE = "cronicorn-offline/postgres:15"


def _query(dsn: str, statement: str, *params):
    conn = psycopg2.connect(dsn, connect_timeout=10)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_image_metadata_matches_the_official_image(docker_resources):
    docker_resources.require_image(IMAGE)
    config = docker_resources.client.images.get(IMAGE).attrs["Config"]
    assert config["StopSignal"] == "SIGINT"
    assert "5432/tcp" in config["ExposedPorts"]
    assert "/var/lib/postgresql/data" in config["Volumes"]
    assert "PGDATA=/var/lib/postgresql/data" in config["Env"]
    assert config["Cmd"] == ["postgres"]
    assert config["Entrypoint"] == ["docker-entrypoint.sh"]


def test_default_superuser_and_database(pg_server):
    """The session server: POSTGRES_USER defaults to postgres, POSTGRES_DB to the user."""
    rows = _query(
        pg_server.dsn(), "SELECT current_user, current_database(), rolsuper FROM pg_roles WHERE rolname = current_user"
    )
    assert rows == [("postgres", "postgres", True)]


def test_user_password_database_initdb_args_and_extra_server_args(docker_resources):
    password = secrets.token_urlsafe(16)
    container = docker_resources.start_postgres(
        {
            "POSTGRES_USER": "appowner",
            "POSTGRES_PASSWORD": password,
            "POSTGRES_DB": "appdb",
            "POSTGRES_INITDB_ARGS": "--data-checksums",
        },
        command=["postgres", "-c", "max_connections=42"],
    )
    server = docker_resources.pg_server(container, "appowner", password)
    docker_resources.wait_for_login(server.dsn("appdb"), container)

    rows = _query(
        server.dsn("appdb"),
        "SELECT current_user, current_database(), r.rolsuper, left(a.rolpassword, 14),"
        " current_setting('password_encryption'), current_setting('listen_addresses'),"
        " current_setting('data_checksums'), current_setting('max_connections')"
        " FROM pg_roles r JOIN pg_authid a USING (oid) WHERE r.rolname = current_user",
    )
    assert rows == [("appowner", "appdb", True, "SCRAM-SHA-256$", "scram-sha-256", "*", "on", "42")]


def test_network_logins_use_scram_and_refuse_a_wrong_password(docker_resources):
    password = secrets.token_urlsafe(16)
    container = docker_resources.start_postgres({"POSTGRES_PASSWORD": password})
    server = docker_resources.pg_server(container, "postgres", password)
    docker_resources.wait_for_login(server.dsn(), container)

    # libpq's require_auth makes the client refuse any other method the server might ask for.
    psycopg2.connect(server.dsn() + " require_auth=scram-sha-256", connect_timeout=10).close()
    with pytest.raises(psycopg2.OperationalError, match="server requested SASL authentication"):
        psycopg2.connect(server.dsn() + " require_auth=md5", connect_timeout=10)
    with pytest.raises(psycopg2.OperationalError, match='password authentication failed for user "postgres"'):
        psycopg2.connect(server.dsn(password="wrong-" + password), connect_timeout=10)
    rules = _query(
        server.dsn(),
        "SELECT type, database, user_name, address, auth_method FROM pg_hba_file_rules WHERE type = 'host'",
    )
    assert ("host", ["all"], ["all"], "all", "scram-sha-256") in rules


def test_initdb_scripts_run_once_and_data_survives_a_restart(docker_resources):
    password = secrets.token_urlsafe(16)
    files = {
        "01-schema.sql": (b"CREATE TABLE init_log (source text NOT NULL);\n", 0o644),
        "02-sourced.sh": (
            b'psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB"'
            b" -c \"INSERT INTO init_log VALUES ('sourced sh')\"\n",
            0o644,
        ),
        "03-executed.sh": (
            b"#!/bin/bash\nset -e\n"
            b'psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB"'
            b" -c \"INSERT INTO init_log VALUES ('executed sh')\"\n",
            0o755,
        ),
        "04-data.sql.gz": (gzip.compress(b"INSERT INTO init_log VALUES ('sql.gz');\n"), 0o644),
        "05-ignored.txt": (b"not a script\n", 0o644),
    }
    container = docker_resources.start_postgres({"POSTGRES_PASSWORD": password, "POSTGRES_DB": "initdb"}, files=files)
    server = docker_resources.pg_server(container, "postgres", password)
    docker_resources.wait_for_login(server.dsn("initdb"), container)
    expected = [("executed sh",), ("sourced sh",), ("sql.gz",)]
    assert _query(server.dsn("initdb"), "SELECT source FROM init_log ORDER BY source") == expected

    container.restart(timeout=30)
    server = docker_resources.pg_server(container, "postgres", password)
    docker_resources.wait_for_login(server.dsn("initdb"), container)
    assert _query(server.dsn("initdb"), "SELECT source FROM init_log ORDER BY source") == expected
    logs = container.logs().decode()
    assert logs.count("running /docker-entrypoint-initdb.d/01-schema.sql") == 1
    assert "ignoring /docker-entrypoint-initdb.d/05-ignored.txt" in logs
    assert "Skipping initialization" in logs


def test_existing_pgdata_is_reused_by_a_new_container(docker_resources):
    volume = docker_resources.volume()
    password = secrets.token_urlsafe(16)
    first = docker_resources.start_postgres({"POSTGRES_PASSWORD": password, "POSTGRES_DB": "keep"}, volume=volume.name)
    server = docker_resources.pg_server(first, "postgres", password)
    docker_resources.wait_for_login(server.dsn("keep"), first)
    conn = psycopg2.connect(server.dsn("keep"), connect_timeout=10)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept AS SELECT 'still here'::text AS note")
    conn.close()
    docker_resources.remove(first)

    # Another password and database in the environment change nothing: PGDATA is not re-initialised.
    second = docker_resources.start_postgres(
        {"POSTGRES_PASSWORD": "ignored-" + password, "POSTGRES_DB": "other"}, volume=volume.name
    )
    server = docker_resources.pg_server(second, "postgres", password)
    docker_resources.wait_for_login(server.dsn("keep"), second)
    assert _query(server.dsn("keep"), "SELECT note FROM kept") == [("still here",)]
    assert _query(server.dsn(), "SELECT count(*) FROM pg_database WHERE datname = 'other'") == [(0,)]
    assert "Skipping initialization" in second.logs().decode()


def test_pg_isready_inside_and_server_runs_as_postgres(pg_server, docker_resources):
    if pg_server.container is None:  # MONITORING_TEST_PG_URL: use a container of our own
        password = secrets.token_urlsafe(16)
        container = docker_resources.start_postgres({"POSTGRES_PASSWORD": password})
        docker_resources.wait_for_login(docker_resources.pg_server(container, password=password).dsn(), container)
    else:
        container = docker_resources.client.containers.get(pg_server.container)
    code, output = container.exec_run(["pg_isready"])
    assert code == 0, output
    assert b"accepting connections" in output
    code, output = container.exec_run(["sh", "-c", "cat /proc/1/comm; stat -c %U /proc/1"])
    assert (code, output.decode().split()) == (0, ["postgres", "postgres"])


def test_missing_password_stops_the_container_with_a_clear_message(docker_resources):
    container = docker_resources.start_postgres({}, publish=False)
    assert docker_resources.wait_for_exit(container) == 1
    logs = container.logs().decode()
    assert "Database is uninitialized and superuser password is not specified" in logs
    assert "POSTGRES_PASSWORD" in logs


def test_trust_auth_needs_no_password(docker_resources):
    container = docker_resources.start_postgres({"POSTGRES_HOST_AUTH_METHOD": "trust"})
    dsn = docker_resources.pg_server(container).dsn(user="postgres")
    docker_resources.wait_for_login(dsn, container)
    assert _query(dsn, "SELECT current_user") == [("postgres",)]


def test_fresh_database_makes_owned_databases_and_drops_them_by_force(pg_server, fresh_database):
    role = f"test_owner_{secrets.token_hex(6)}"
    admin = psycopg2.connect(pg_server.dsn(), connect_timeout=10)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE ROLE "{role}" LOGIN')
        owned, plain = fresh_database(owner=role), fresh_database()
        assert owned != plain
        owners = dict(
            _query(
                pg_server.dsn(),
                "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname IN (%s, %s)",
                owned,
                plain,
            )
        )
        assert owners == {owned: role, plain: "postgres"}

        lingering = psycopg2.connect(pg_server.dsn(owned), connect_timeout=10)  # FORCE must end it
        fresh_database.drop_all()
        lingering.close()
        left = _query(pg_server.dsn(), "SELECT count(*) FROM pg_database WHERE datname IN (%s, %s)", owned, plain)
        assert left == [(0,)]
    finally:
        fresh_database.drop_all()  # before the role, which cannot go while it owns a database
        with admin.cursor() as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()
