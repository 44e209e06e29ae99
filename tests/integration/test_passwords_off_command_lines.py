"""Passwords never appear on a command line, where every user of the machine sees them (ps,
/proc/PID/cmdline): `make seed` passes the dev password in PGPASSWORD, Molecule's prepare hands it to
seed.py on standard input, and seed.py refuses a DSN that carries one.

A watcher reads the command line of every process of the machine every few milliseconds while the
command runs; it must see seed.py itself (proof that it was looking at the right moment) and never the
password.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2
import pytest
from ansible_runs import REPO, recaps
from psycopg2 import sql

MAKE_ENV_DROP = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")


class CommandLines:
    """Every distinct command line seen in /proc while the block runs."""

    def __init__(self):
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self):
        while not self._stop.is_set():
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit():
                    try:
                        raw = (proc / "cmdline").read_bytes()
                    except OSError:
                        continue
                    if raw:
                        self.seen.add(raw.replace(b"\0", b" ").decode(errors="replace"))
            time.sleep(0.002)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)

    def containing(self, text: str) -> list[str]:
        return sorted(line for line in self.seen if text in line)


@pytest.fixture
def app_database(pg_server):
    """An empty database owned by a role of its own, with a random password."""
    suffix = secrets.token_hex(4)
    name, role, password = f"seed_{suffix}", f"seed_owner_{suffix}", secrets.token_urlsafe(18)
    admin = psycopg2.connect(pg_server.dsn(), connect_timeout=10)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role)), (password,))
        cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))
    try:
        yield {"host": pg_server.host, "port": pg_server.port, "dbname": name, "user": role, "password": password}
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        admin.close()


def runs_in(db: dict) -> int:
    conn = psycopg2.connect(connect_timeout=10, **db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM runs")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_the_watcher_sees_a_password_on_a_command_line():
    """The control: a password given as an argument is caught."""
    secret = secrets.token_urlsafe(18)
    with CommandLines() as lines:
        subprocess.run([sys.executable, "-c", "import time; time.sleep(0.3)", secret], check=True)
    assert lines.containing(secret)


def test_make_seed_keeps_the_password_off_command_lines(app_database):
    db = app_database
    env = {key: value for key, value in os.environ.items() if key not in MAKE_ENV_DROP}
    env |= {
        "SEED_DSN": f"host={db['host']} port={db['port']} dbname={db['dbname']} user={db['user']}",
        "SEED_PASSWORD": db["password"],
        "RUNS": "400",
    }
    with CommandLines() as lines:
        run = subprocess.run(["make", "seed"], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert runs_in(db) == 400
    assert lines.containing("cronicorn/seed.py --load-schema"), "the watcher never saw seed.py run"
    assert lines.containing(db["password"]) == []
    assert db["password"] not in run.stdout + run.stderr


def test_molecule_prepare_keeps_the_password_off_command_lines(app_database, tmp_path):
    """The dev scenario's prepare.yml, its seeding play on this database (no host in monitoring_postgres)."""
    db = app_database
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  children:\n    monitoring_postgres: {hosts: {}}\n    monitoring_database:\n"
        "      hosts:\n        localhost:\n          ansible_connection: local\n"
        '          ansible_python_interpreter: "{{ ansible_playbook_python }}"\n'
    )
    variables = tmp_path / "vars.json"
    variables.write_text(
        json.dumps(
            {
                "monitoring_db_host": db["host"],
                "monitoring_db_port": db["port"],
                "monitoring_db_name": db["dbname"],
                "monitoring_db_login_user": db["user"],
                "monitoring_db_login_password": db["password"],
            }
        )
    )
    variables.chmod(0o600)
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env |= {
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "MOLECULE_PROJECT_DIRECTORY": str(REPO),
        "MOLECULE_SCENARIO_DIRECTORY": str(REPO / "molecule" / "dev"),  # molecule/isolate.yml reads both
    }
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        str(inventory),
        "-e",
        f"@{variables}",
        "molecule/dev/prepare.yml",
    ]
    with CommandLines() as lines:
        run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-4000:]
    assert recaps(run.stdout)["localhost"]["changed"] == 1, run.stdout[-4000:]
    assert runs_in(db) == 3000
    assert lines.containing("cronicorn/seed.py --load-schema"), "the watcher never saw seed.py run"
    assert lines.containing(db["password"]) == []
    assert db["password"] not in run.stdout + run.stderr


def test_seed_refuses_a_password_in_the_dsn(app_database):
    db = app_database
    dsn = f"host={db['host']} port={db['port']} dbname={db['dbname']} user={db['user']} password={db['password']}"
    run = subprocess.run(
        [sys.executable, str(REPO / "tests/fixtures/cronicorn/seed.py"), "--dsn", dsn],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert "use PGPASSWORD or --password-stdin" in run.stderr
    assert db["password"] not in run.stderr
