"""cronicorn.monitoring.postgresql_views against a real PostgreSQL, through ansible-playbook.

Proved here:
  * arguments named like reserved words (``from``, ``user``, ``limit``) are found in the catalog: the second
    run changes nothing, and the function is neither dropped nor created again;
  * a run that meets another deployment of the same schema (its advisory lock held) gives up after
    lock_timeout with a message that says so, instead of waiting for ever;
  * ``ssl_mode: verify-full`` with ``ca_cert`` connects to a server whose certificate that CA signed, and
    without ``ca_cert`` fails before connecting, naming the option.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import time
from pathlib import Path

import psycopg2
import pytest
from ansible_runs import Run, run_playbook
from conftest import PgServer

SCHEMA = "mon_views"
OWNER = "postgres"  # the fixture's superuser owns the objects: no role to create

PLAYBOOK = """
- name: postgresql_views
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Keep the functions and views
      cronicorn.monitoring.postgresql_views:
        login_host: "{{ pg_host }}"
        login_port: "{{ pg_port }}"
        login_user: "{{ pg_user }}"
        login_password: "{{ pg_password }}"
        login_db: "{{ pg_db }}"
        ssl_mode: "{{ pg_ssl_mode | default('prefer') }}"
        ca_cert: "{{ pg_ca_cert | default(omit) }}"
        lock_timeout: "{{ pg_lock_timeout | default('10s') }}"
        schema: mon_views
        owner: "{{ pg_user }}"
        functions:
          - name: _window
            arguments: "from timestamptz, user text, limit integer"
            returns: integer
            language: sql
            volatility: immutable
            body: SELECT $3
          - name: _rows
            columns:
              - [n, integer]
            language: sql
            volatility: stable
            body: SELECT mon_views._window(now(), 'x', 1)
        views:
          - name: rows
            function: _rows
      register: views_result

    - name: Show the result
      ansible.builtin.debug:
        msg: "ACTIONS={{ views_result.actions | length }}"
"""


def run(workdir: Path, server: PgServer, db: str, *options: str, timeout: int = 120, **extra) -> Run:
    extra_vars = {
        "pg_host": server.host,
        "pg_port": server.port,
        "pg_user": server.user,
        "pg_password": server.password,
        "pg_db": db,
        **extra,
    }
    return run_playbook(workdir, "views.yml", PLAYBOOK, extra_vars, *options, timeout=timeout)


def actions_of(run_: Run) -> int:
    """How many actions the module reported (the debug task's ACTIONS=<n>)."""
    found = re.findall(r"ACTIONS=(\d+)", run_.output)
    assert found, f"no result in the output:\n{run_.output[-3000:]}"
    return int(found[-1])


def _create_schema(server: PgServer, db: str) -> None:
    conn = psycopg2.connect(server.dsn(db))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {SCHEMA}")
    finally:
        conn.close()


def _function_oids(server: PgServer, db: str) -> list[int]:
    conn = psycopg2.connect(server.dsn(db))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = %s AND p.proname = '_window'",
                (SCHEMA,),
            )
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def test_arguments_named_like_reserved_words_match_the_catalog(pg_server, fresh_database, tmp_path):
    db = fresh_database()
    _create_schema(pg_server, db)
    first = run(tmp_path, pg_server, db)
    assert first.rc == 0 and first.changed == 1, first.output[-3000:]
    oids = _function_oids(pg_server, db)
    assert len(oids) == 1

    second = run(tmp_path, pg_server, db)
    assert second.rc == 0, second.output[-3000:]
    assert actions_of(second) == 0, second.output[-3000:]
    assert second.changed == 0
    assert _function_oids(pg_server, db) == oids  # not dropped and created again


def test_a_concurrent_deployment_makes_the_run_fail_after_lock_timeout(pg_server, fresh_database, tmp_path):
    db = fresh_database()
    _create_schema(pg_server, db)
    holder = psycopg2.connect(pg_server.dsn(db))
    try:
        with holder.cursor() as cur:  # what a concurrent run holds for its whole transaction
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"cronicorn.monitoring:{SCHEMA}",))
        started = time.monotonic()
        blocked = run(tmp_path, pg_server, db, timeout=90, pg_lock_timeout="2s")
        elapsed = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert blocked.rc != 0, blocked.output[-3000:]
    assert "another run is deploying schema mon_views" in blocked.output, blocked.output[-3000:]
    assert "lock_timeout" in blocked.output
    assert elapsed < 60

    after = run(tmp_path, pg_server, db)  # the lock is free again: the run goes through
    assert after.rc == 0 and after.changed == 1, after.output[-3000:]


# -- TLS ------------------------------------------------------------------------------------------------


def _certificates() -> dict[str, bytes]:
    """A CA, and a server certificate for 127.0.0.1 signed by it (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return {
        "ca.crt": ca.public_bytes(pem),
        "server.crt": cert.public_bytes(pem),
        "server.key": key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
    }


# Runs as postgres during initialisation: the key must belong to the server's user, mode 0600.
ENABLE_SSL = b"""\
install -m 0644 /docker-entrypoint-initdb.d/server.crt "$PGDATA/server.crt"
install -m 0600 /docker-entrypoint-initdb.d/server.key "$PGDATA/server.key"
echo "ssl = on" >> "$PGDATA/postgresql.conf"
"""


@pytest.fixture
def tls_server(docker_resources):
    certs = _certificates()
    password = "tls-test-password"
    files = {name: (content, 0o644) for name, content in certs.items() if name != "ca.crt"}
    files["zz-enable-ssl.sh"] = (ENABLE_SSL, 0o755)
    container = docker_resources.start_postgres({"POSTGRES_PASSWORD": password}, files=files)
    server = docker_resources.pg_server(container, "postgres", password)
    docker_resources.wait_for_login(server.dsn() + " sslmode=require", container, what="PostgreSQL with TLS")
    return server, certs["ca.crt"]


def test_verify_full_uses_ca_cert(tls_server, tmp_path):
    server, ca = tls_server
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca)
    conn = psycopg2.connect(server.dsn())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {SCHEMA}")
    conn.close()

    without = run(tmp_path, server, "postgres", pg_ssl_mode="verify-full")
    assert without.rc != 0
    assert "ssl_mode=verify-full needs ca_cert" in without.output, without.output[-3000:]

    verified = run(tmp_path, server, "postgres", pg_ssl_mode="verify-full", pg_ca_cert=str(ca_file))
    assert verified.rc == 0 and verified.changed == 1, verified.output[-3000:]
    # and the connection really was verified TLS
    conn = psycopg2.connect(server.dsn() + f" sslmode=verify-full sslrootcert={ca_file}")
    with conn.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone()[0] is True
    conn.close()
