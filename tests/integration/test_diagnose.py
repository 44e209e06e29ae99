"""playbooks/diagnose.yml (issue #16, part 3) against a real dev stack with a proxy (runbook_stack).

The stack gets Cronicorn's schema and some seed data, then playbooks/database.yml (the read-only role's grants
and the views). Proved here, in this order (the tests share the stack; each fault is undone at its end):
  * healthy: rc 0, "Diagnosis: all healthy", replication "not configured", nothing changed; the same with
    --check;
  * the Metabase container stopped: rc != 0, the broken part is "metabase container", the fix is the start
    runbook, Metabase's health is reported as following from it;
  * the read-only role's password changed in PostgreSQL behind the inventory's and Metabase's back: the broken
    part is "read-only role", the fix the rotation runbook, Metabase's failing connection follows from it;
  * a view dropped: the broken part is "analytics views", named, the fix database.yml --tags analytics_views;
  * the proxy's certificate about to expire: the broken part is "proxy certificate", the fix site.yml --tags
    proxy;
  * no password of the stack in any output.
The standby fault of the issue's acceptance waits for the standby itself (part 1); without one the report says
"not configured", which the healthy test checks.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Iterator

import psycopg2
import pytest
from ansible_runs import REPO, Run
from runbook_stack import ADMIN_PASSWORD, DEV_VARS, PG_PASSWORD, READONLY_USER, Stack, deployed_stack

sys.path.insert(0, str(REPO / "tests" / "fixtures" / "cronicorn"))
import seed  # tests/fixtures/cronicorn is no package: found through sys.path

VIEWS_SCHEMA = "cronicorn_monitoring"


@pytest.fixture(scope="module")
def stack(docker_client, tmp_path_factory) -> Iterator[Stack]:
    with deployed_stack(docker_client, tmp_path_factory.mktemp("diagnose"), "dg") as deployed:
        conn = deployed.pg()
        try:
            seed.load_schema(conn)
            seed.seed_database(conn, runs=300, seed=16, analyze=False)
            conn.commit()
        finally:
            conn.close()
        database = deployed.play("playbooks/database.yml")
        assert database.rc == 0, database.output[-6000:]
        yield deployed


class Report(str):
    """The run's output with whitespace folded (the callback wraps long lines); shows the report when an
    assertion about it fails."""

    def __repr__(self) -> str:
        start = self.find("Diagnosis:")
        return self[start : start + 6000] if start >= 0 else self[-6000:]


def diagnose(stack: Stack, *options: str) -> tuple[Run, Report]:
    run = stack.play("playbooks/diagnose.yml", *options)
    return run, Report(" ".join(run.output.split()))


def assert_healthy(stack: Stack, *options: str) -> str:
    run, text = diagnose(stack, *options)
    assert run.rc == 0, repr(text)
    assert "Diagnosis: all healthy" in text, repr(text)
    assert run.changed == 0, run.changed_tasks()
    return text


def assert_broken(stack: Stack, parts: str) -> str:
    """The run fails, the summary names exactly ``parts``, and the report is printed."""
    run, text = diagnose(stack)
    assert run.rc != 0, run.output[-8000:]
    assert f"Diagnosis: broken: {parts}." in text, repr(text)
    assert f"BROKEN {parts.split(', ', maxsplit=1)[0]} (localhost)" in text, repr(text)
    return text


def test_healthy_stack(stack):
    text = assert_healthy(stack)
    for line in (
        "OK metabase container (localhost):",
        "OK postgres container (localhost):",
        "OK proxy container (localhost):",
        "OK metabase port (localhost): 127.0.0.1:",
        "OK proxy port (localhost):",
        "OK metabase (localhost): healthy, version v0.58.5",
        "OK metabase connection (localhost): Metabase connects to Cronicorn (database id",
        "OK read-only role (localhost): metabase_readonly can log in, read only",
        "OK read-only role (localhost): metabase_readonly logs in with the password of the inventory",
        "OK analytics views (localhost): all 10 present",
        "OK analytics views (localhost): 10 answer as metabase_readonly",
        "INFO analytics views (localhost): slowest: admin_",
        "INFO replication (localhost): not configured",
        "OK proxy certificate (localhost): valid until",
        "OK backup disk (localhost):",
    ):
        assert line in text, repr(text)


def test_check_mode_is_the_same(stack):
    assert_healthy(stack, "--check")


def fix(stack: Stack, playbook: str, *options: str) -> None:
    """Run the fix the report gave (the faults are undone with the runbooks the report names)."""
    run = stack.play(playbook, *options)
    assert run.rc == 0, run.output[-6000:]


def test_metabase_stopped(stack):
    stack.container(stack.metabase).stop()
    try:
        text = assert_broken(stack, "metabase container")
        assert f"{stack.metabase} is exited" in text
        assert "fix: ansible-playbook playbooks/start.yml -i " in text
        assert "then metabase (localhost): Metabase does not answer healthy" in text
        assert "metabase port (localhost)" not in text  # a stopped container publishes nothing to try
    finally:
        fix(stack, "playbooks/start.yml")
    assert_healthy(stack)


def test_readonly_password_changed_behind_metabases_back(stack):
    stack.sql(f"ALTER ROLE {READONLY_USER} PASSWORD 'Changed-behind-its-back-1'")
    try:
        text = assert_broken(stack, "read-only role")
        assert "PostgreSQL refuses the password of the inventory for metabase_readonly" in text
        assert "fix: ansible-playbook playbooks/rotate_readonly_password.yml -i " in text
        assert "then metabase connection (localhost): Metabase cannot connect to Cronicorn" in text
    finally:
        fix(stack, "playbooks/rotate_readonly_password.yml")
    assert_healthy(stack)


def test_view_dropped(stack):
    stack.sql(f"DROP VIEW {VIEWS_SCHEMA}.admin_top_jobs")
    try:
        text = assert_broken(stack, "analytics views")
        assert "missing: admin_top_jobs" in text
        assert "fix: ansible-playbook playbooks/database.yml -i " in text and "--tags analytics_views" in text
    finally:
        fix(stack, "playbooks/database.yml", "--tags", "analytics_views")
    assert_healthy(stack)


def expiring_certificate(days: int) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=300))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def test_certificate_about_to_expire(stack):
    path = stack.proxy_tls_dir / "proxy.crt"
    path.write_bytes(expiring_certificate(days=5))
    try:
        text = assert_broken(stack, "proxy certificate")
        assert "expires within 30 days" in text
        assert "fix: ansible-playbook site.yml -i " in text and "--tags proxy" in text
    finally:
        fix(stack, "site.yml", "--tags", "proxy")  # the proxy role renews a self-signed certificate
    assert_healthy(stack)


def test_no_secret_in_any_output(stack):
    secrets = {PG_PASSWORD, DEV_VARS["metabase_appdb_password"], ADMIN_PASSWORD, stack.readonly_password}
    secrets.add(DEV_VARS["metabase_encryption_secret_key"])
    text = "\n".join(stack.outputs)
    assert "Diagnosis:" in text
    for secret in secrets:
        assert secret not in text
    with pytest.raises(psycopg2.OperationalError):  # the injected password is gone again
        stack.pg(user=READONLY_USER, password="Changed-behind-its-back-1").close()
