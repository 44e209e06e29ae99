"""cronicorn.monitoring.readonly_user against a real PostgreSQL holding Cronicorn's schema.

Each test gets a fresh database: Cronicorn's tables (tests/fixtures/cronicorn/schema.sql) owned by a
non-superuser application owner, a few rows and a sequence. The database is owned by the superuser and
PUBLIC may create objects in `public`, as before PostgreSQL 15: the application owner depends on PUBLIC's
privileges, which the role revokes, so the tests also prove that the owner keeps working.

Most tests run `playbooks/database.yml --tags readonly_user` against stand-ins for three analytics views
(the columns the example questions of views.md read), so that they test this role alone; one runs the whole
playbook with the real views of cronicorn.monitoring.analytics_views. Passwords go in an extra-vars file,
never on the command line; the tests read the recap's changed count.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import NamedTuple

import psycopg2
import psycopg2.errorcodes
import pytest
from ansible_runs import Run
from psycopg2 import sql

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "cronicorn"
SCHEMA_SQL = FIXTURES / "schema.sql"
sys.path.insert(0, str(FIXTURES))
from contract import CREDENTIAL_TABLES, EXAMPLE_QUESTIONS  # noqa: E402
from contract import VIEWS as VIEWS_OF_CONTRACT  # noqa: E402

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
VIEWS_SCHEMA = "cronicorn_monitoring"

# Cronicorn's tables and what the role must make of them with its defaults.
READABLE_TABLES = {  # table -> columns that must stay unreadable
    "user": ("stripe_customer_id", "stripe_subscription_id"),
    "jobs": (),
    "job_endpoints": ("url", "headers_json", "body_json"),
    "runs": ("response_body", "error_details"),
    "ai_analysis_sessions": ("tool_calls", "reasoning"),
}
APP_TABLES = (*READABLE_TABLES, *CREDENTIAL_TABLES)

DENIED = psycopg2.errorcodes.INSUFFICIENT_PRIVILEGE  # 42501
READ_ONLY = psycopg2.errorcodes.READ_ONLY_SQL_TRANSACTION  # 25006

SEED_SQL = """
INSERT INTO "user" (id, name, email, email_verified, created_at, updated_at, tier, stripe_customer_id,
                    subscription_status, subscription_ends_at)
VALUES ('u1', 'Ada', 'ada@example.test', true, now() - interval '40 days', now(), 'pro', 'cus_secret',
        'active', now() + interval '20 days');
INSERT INTO jobs (id, user_id, name, created_at, updated_at) VALUES ('j1', 'u1', 'nightly', now(), now());
INSERT INTO job_endpoints (id, job_id, tenant_id, name, next_run_at, url, headers_json)
VALUES ('e1', 'j1', 'u1', 'ping', now(), 'https://hooks.example.test/T0/B0/secretpath',
        '{"Authorization": "Bearer users-own-token"}');
INSERT INTO runs (id, endpoint_id, status, attempt, source, started_at, duration_ms, response_body)
VALUES ('r1', 'e1', 'success', 1, 'baseline-cron', now() - interval '1 hour', 120, '{"token": "x"}');
INSERT INTO ai_analysis_sessions (id, endpoint_id, analyzed_at, token_usage, reasoning)
VALUES ('a1', 'e1', now() - interval '2 days', 321, 'looks fine');
INSERT INTO account (id, account_id, provider_id, user_id, password, created_at, updated_at)
VALUES ('acc1', 'ada', 'credential', 'u1', 'hash-of-password', now(), now());
INSERT INTO session (id, expires_at, token, created_at, updated_at, user_id)
VALUES ('s1', now() + interval '1 day', 'session-token', now(), now(), 'u1');
INSERT INTO verification (id, identifier, value, expires_at) VALUES ('v1', 'ada', 'code', now());
INSERT INTO apikey (id, name, key, user_id) VALUES ('k1', 'ci', 'hashed-api-key', 'u1');
INSERT INTO device_codes (id, device_code, user_code, expires_at) VALUES ('d1', 'dc', 'uc', now());
INSERT INTO oauth_tokens (id, user_id, device_code_id, access_token) VALUES ('o1', 'u1', 'd1', 'at');
CREATE SEQUENCE public.run_number_seq;
"""

# Stand-ins for analytics views, owned by the application owner (the real ones come from
# cronicorn.monitoring.analytics_views); admin_apikey_stats reads a credential table's safe columns.
VIEWS_SQL = """
CREATE VIEW {schema}.admin_user_ai_stats AS
    SELECT u.id AS user_id, u.email, u.tier,
           (SELECT count(*) FROM public.ai_analysis_sessions AS s
              JOIN public.job_endpoints AS e ON e.id = s.endpoint_id JOIN public.jobs AS j ON j.id = e.job_id
             WHERE j.user_id = u.id AND s.analyzed_at >= now() - interval '30 days') AS ai_sessions_last_30d,
           (SELECT coalesce(sum(s.token_usage), 0) FROM public.ai_analysis_sessions AS s
              JOIN public.job_endpoints AS e ON e.id = s.endpoint_id JOIN public.jobs AS j ON j.id = e.job_id
             WHERE j.user_id = u.id AND s.analyzed_at >= now() - interval '30 days') AS tokens_last_30d
    FROM public."user" AS u;
CREATE VIEW {schema}.admin_user_stats AS SELECT id, email, name, tier FROM public."user";
CREATE VIEW {schema}.admin_apikey_stats AS SELECT id AS api_key_id, name AS api_key_name, user_id FROM public.apikey;
"""
VIEWS = ("admin_user_ai_stats", "admin_user_stats", "admin_apikey_stats")


PLAYBOOK = REPO / "playbooks" / "database.yml"

INVENTORY = """\
all:
  children:
    monitoring_database:
      hosts:
        testdb:
          ansible_connection: local
          ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""


@dataclasses.dataclass
class Deployment:
    """A test database with Cronicorn's schema, its owner, and the read-only role's settings."""

    server: object  # conftest.PgServer
    dbname: str
    owner: str
    owner_password: str = dataclasses.field(repr=False)
    readonly: str
    readonly_password: str = dataclasses.field(repr=False)
    views_owner: str
    workdir: Path

    def run(
        self,
        *,
        tags: str | None = "readonly_user",
        check: bool = False,
        verbosity: int = 0,
        pgoptions: str | None = None,
        **overrides,
    ) -> Run:
        """Run playbooks/database.yml, by default only its readonly_user part; ``overrides`` are extra
        variables (e.g. monitoring_readonly_password)."""
        extra = {
            "monitoring_db_host": self.server.host,
            "monitoring_db_port": self.server.port,
            "monitoring_db_name": self.dbname,
            "monitoring_db_login_user": self.server.user,
            "monitoring_db_login_password": self.server.password,
            "monitoring_db_app_owner": self.owner,
            "monitoring_readonly_user": self.readonly,
            "monitoring_readonly_password": self.readonly_password,
            # cluster-wide like every role: one per test, dropped afterwards
            "analytics_views_owner": self.views_owner,
            **overrides,
        }
        vars_file = self.workdir / "vars.json"
        vars_file.write_text(json.dumps(extra))
        vars_file.chmod(0o600)
        command = [str(ANSIBLE_PLAYBOOK), "-i", str(self.workdir / "inventory.yml"), "-e", f"@{vars_file}"]
        if tags:
            command += ["--tags", tags]
        if check:
            command.append("--check")
        if verbosity:
            command.append("-" + "v" * verbosity)
        command.append(str(PLAYBOOK))
        env = {k: v for k, v in os.environ.items() if k != "PGOPTIONS"}
        env |= {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
        if pgoptions is not None:
            env["PGOPTIONS"] = pgoptions
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
        return Run(done.returncode, done.stdout + done.stderr, host="testdb")

    def deploy(self, **kwargs) -> Run:
        result = self.run(**kwargs)
        assert result.rc == 0, f"ansible-playbook failed:\n{result.output[-5000:]}"
        return result

    def connect(self, user: str | None = None, password: str | None = None) -> closing:
        """An autocommit connection, closed at the end of the `with` block (psycopg2's own context
        manager would open a transaction instead)."""
        conn = psycopg2.connect(self.server.dsn(self.dbname, user=user, password=password), connect_timeout=10)
        conn.autocommit = True
        return closing(conn)

    def as_superuser(self):
        return self.connect()

    def as_owner(self):
        return self.connect(self.owner, self.owner_password)

    def as_readonly(self, password: str | None = None):
        return self.connect(self.readonly, password or self.readonly_password)

    def passwords(self) -> list[str]:
        return [self.readonly_password, self.server.password, self.owner_password]


def execute(conn, statement, params=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []


def sqlstate_of(conn, statement, copy_data: str | None = None, *, in_transaction: bool = True) -> str | None:
    """Run one statement in its own transaction (rolled back), or alone when ``in_transaction`` is false
    (CREATE DATABASE refuses transaction blocks); return the SQLSTATE it failed with, None if it worked."""
    conn.autocommit = not in_transaction
    try:
        with conn.cursor() as cur:
            if copy_data is None:
                cur.execute(statement)
            else:
                cur.copy_expert(statement, io.StringIO(copy_data))
        return None
    except psycopg2.Error as exc:
        return exc.pgcode
    finally:
        if in_transaction:
            conn.rollback()
        conn.autocommit = True


def ident(*names: str) -> sql.Identifier:
    return sql.Identifier(*names)


@contextmanager
def prepared_database(pg_server, fresh_database, workdir: Path, *, stand_in_views: bool) -> Iterator[Deployment]:
    suffix = uuid.uuid4().hex[:10]
    dep = Deployment(
        server=pg_server,
        dbname=fresh_database(),
        owner=f"app-owner-{suffix}",  # needs quoting everywhere, like Cronicorn's own owner "user"
        owner_password=secrets.token_urlsafe(18),
        readonly=f"metabase_ro_{suffix}",
        readonly_password=secrets.token_urlsafe(24),
        views_owner=f"views_owner_{suffix}",
        workdir=workdir,
    )
    (workdir / "inventory.yml").write_text(INVENTORY)
    with dep.as_superuser() as conn:
        execute(conn, sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(ident(dep.owner)), (dep.owner_password,))
        execute(conn, "GRANT CREATE ON SCHEMA public TO PUBLIC")  # the default before PostgreSQL 15
        if stand_in_views:
            execute(conn, sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(ident(VIEWS_SCHEMA), ident(dep.owner)))
    with dep.as_owner() as conn:
        execute(conn, SCHEMA_SQL.read_text())
        execute(conn, SEED_SQL)
        if stand_in_views:
            execute(conn, VIEWS_SQL.format(schema=VIEWS_SCHEMA))
    try:
        yield dep
    finally:
        with closing(psycopg2.connect(pg_server.dsn(), connect_timeout=10)) as conn:
            conn.autocommit = True
            execute(conn, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident(dep.dbname)))
            for role in (dep.readonly, dep.views_owner, dep.owner):
                execute(conn, sql.SQL("DROP ROLE IF EXISTS {}").format(ident(role)))


@pytest.fixture
def deployment(pg_server, fresh_database, tmp_path) -> Iterator[Deployment]:
    """Cronicorn's schema with stand-ins for three analytics views; tests run the readonly_user part."""
    with prepared_database(pg_server, fresh_database, tmp_path, stand_in_views=True) as dep:
        yield dep


@pytest.fixture
def bare_deployment(pg_server, fresh_database, tmp_path) -> Iterator[Deployment]:
    """Cronicorn's schema without a views schema, for the whole playbook."""
    with prepared_database(pg_server, fresh_database, tmp_path, stand_in_views=False) as dep:
        yield dep


def assert_no_secret(run: Run, dep: Deployment, *more: str) -> None:
    for secret in (*dep.passwords(), *more):
        assert secret not in run.output, "a password appears in the ansible-playbook output"


# --- deployment, check mode, idempotence ------------------------------------------------------------


def test_check_mode_deploy_and_repeat_runs(deployment: Deployment) -> None:
    dep = deployment

    dry = dep.run(check=True)
    assert dry.rc == 0, dry.output[-5000:]
    assert dry.changed > 0
    with dep.as_superuser() as conn:
        assert execute(conn, "SELECT 1 FROM pg_roles WHERE rolname = %s", (dep.readonly,)) == []
        assert execute(conn, "SELECT has_database_privilege('public', current_database(), 'TEMPORARY')") == [(True,)]

    first = dep.deploy(verbosity=3)
    assert first.changed > 0
    assert_no_secret(first, dep)

    second = dep.deploy()
    assert second.changed == 0, f"second run changed: {second.changed_tasks()}"
    # A run with nothing to change writes nothing: it succeeds with read-only transactions only.
    read_only = dep.deploy(pgoptions="-c default_transaction_read_only=on")
    assert read_only.changed == 0, f"read-only run changed: {read_only.changed_tasks()}"
    dry_again = dep.deploy(check=True)
    assert dry_again.changed == 0, f"check mode after deployment reports changes: {dry_again.changed_tasks()}"

    with dep.as_superuser() as conn:
        (role,) = execute(
            conn,
            """SELECT r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls,
                      r.rolinherit, r.rolconnlimit, a.rolpassword LIKE 'SCRAM-SHA-256$%%', r.rolconfig
               FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid WHERE r.rolname = %s""",
            (dep.readonly,),
        )
    assert role[:8] == (True, False, False, False, False, False, False, 15)
    assert role[8], "the password is not stored as a SCRAM-SHA-256 verifier"
    assert set(role[9]) == {
        "default_transaction_read_only=on",
        "statement_timeout=60000",
        "idle_in_transaction_session_timeout=60000",
        f"search_path={VIEWS_SCHEMA}, public",
    }
    with dep.as_readonly() as conn:
        assert execute(conn, "SHOW default_transaction_read_only") == [("on",)]
        assert execute(conn, "SHOW statement_timeout") == [("1min",)]


def test_read_only_run_fails_when_something_is_to_change(deployment: Deployment) -> None:
    """The PGOPTIONS proof above is only worth something if a write under it fails."""
    run = deployment.run(pgoptions="-c default_transaction_read_only=on")
    assert run.rc != 0
    assert "read-only transaction" in run.output
    assert_no_secret(run, deployment)


# --- the write-attempt matrix -----------------------------------------------------------------------


def write_attempts(dep: Deployment, schemas: list[str]) -> list[tuple[str, str | sql.Composable, str | None]]:
    """(label, statement, COPY data or None) for every write the read-only role must not manage."""
    attempts: list[tuple[str, str | sql.Composable, str | None]] = []
    for table in APP_TABLES:
        t = ident("public", table)
        attempts += [
            (f"{table}: INSERT", sql.SQL("INSERT INTO {} DEFAULT VALUES").format(t), None),
            (f"{table}: UPDATE", sql.SQL("UPDATE {} SET id = id").format(t), None),
            (f"{table}: DELETE", sql.SQL("DELETE FROM {}").format(t), None),
            (f"{table}: TRUNCATE", sql.SQL("TRUNCATE {}").format(t), None),
            (f"{table}: COPY FROM STDIN", sql.SQL("COPY {} FROM STDIN").format(t), ""),
            (f"{table}: ALTER TABLE", sql.SQL("ALTER TABLE {} ADD COLUMN x int").format(t), None),
            (f"{table}: DROP TABLE", sql.SQL("DROP TABLE {}").format(t), None),
        ]
    for schema in schemas:
        attempts += [
            (
                f"{schema}: CREATE TABLE",
                sql.SQL("CREATE TABLE {} (i int)").format(ident(schema, "ro_probe")),
                None,
            ),
            (
                f"{schema}: CREATE VIEW",
                sql.SQL("CREATE VIEW {} AS SELECT 1 AS one").format(ident(schema, "ro_probe")),
                None,
            ),
            (
                f"{schema}: CREATE FUNCTION",
                sql.SQL("CREATE FUNCTION {}() RETURNS int LANGUAGE sql AS 'SELECT 1'").format(
                    ident(schema, "ro_probe")
                ),
                None,
            ),
        ]
    for view in VIEWS:
        v = ident(VIEWS_SCHEMA, view)
        attempts += [
            (f"{view}: DROP VIEW", sql.SQL("DROP VIEW {}").format(v), None),
            (f"{view}: ALTER VIEW", sql.SQL("ALTER VIEW {} RENAME TO ro_probe").format(v), None),
            (
                f"{view}: CREATE OR REPLACE VIEW",
                sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT 1 AS one").format(v),
                None,
            ),
        ]
    attempts += [
        ("CREATE TEMP TABLE", "CREATE TEMP TABLE ro_probe (i int)", None),
        ("CREATE TEMP VIEW", "CREATE TEMP VIEW ro_probe AS SELECT 1", None),
        ("SELECT ... FOR UPDATE", "SELECT id FROM public.runs FOR UPDATE", None),
        ("nextval()", "SELECT nextval('public.run_number_seq')", None),
        ("setval()", "SELECT setval('public.run_number_seq', 42)", None),
        ("CREATE INDEX", "CREATE INDEX ro_probe ON public.runs (status)", None),
        ("COMMENT ON TABLE", "COMMENT ON TABLE public.runs IS 'probe'", None),
        ("CREATE SCHEMA", "CREATE SCHEMA ro_probe", None),
        ("CREATE ROLE", "CREATE ROLE ro_probe", None),
        ("CREATE DATABASE", "CREATE DATABASE ro_probe", None),
        ("lo_create()", "SELECT lo_create(0)", None),
        ("lo_from_bytea()", "SELECT lo_from_bytea(0, 'probe')", None),
        (f"SET ROLE {dep.owner}", sql.SQL("SET ROLE {}").format(ident(dep.owner)), None),
    ]
    return attempts


def database_state(dep: Deployment) -> dict:
    """Everything a write could change: table contents, objects, sequences, roles, large objects."""
    with dep.as_superuser() as conn:
        relations = execute(
            conn,
            """SELECT n.nspname, c.relname, c.relkind, c.relacl::text, c.relowner::regrole::text
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
               ORDER BY 1, 2""",
        )
        contents = {
            table: execute(
                conn,
                sql.SQL("SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} AS t").format(
                    ident("public", table)
                ),
            )
            for table in APP_TABLES
        }
        views = execute(
            conn,
            "SELECT viewname, definition FROM pg_views WHERE schemaname = %s ORDER BY 1",
            (VIEWS_SCHEMA,),
        )
        return {
            "relations": relations,
            "contents": contents,
            "views": views,
            "sequence": execute(conn, "SELECT last_value, is_called FROM public.run_number_seq"),
            "functions": execute(conn, "SELECT count(*) FROM pg_proc WHERE proname = 'ro_probe'"),
            "large_objects": execute(conn, "SELECT count(*) FROM pg_largeobject_metadata"),
            # Only roles and databases this test knows: the server may be shared with other tests.
            "roles": execute(
                conn,
                "SELECT rolname, rolconfig FROM pg_roles WHERE rolname IN (%s, %s, 'ro_probe') ORDER BY 1",
                (dep.readonly, dep.owner),
            ),
            "databases": execute(conn, "SELECT datname FROM pg_database WHERE datname = 'ro_probe'"),
            "schemas": execute(conn, "SELECT nspname FROM pg_namespace ORDER BY 1"),
        }


class Outcome(NamedTuple):
    mode: str
    label: str
    sqlstate: str | None
    denied: bool  # failed with an accepted SQLSTATE


def test_every_write_attempt_is_denied_and_changes_nothing(deployment: Deployment, capsys, record_property) -> None:
    dep = deployment
    dep.deploy()
    with dep.as_superuser() as conn:
        schemas = [
            name
            for (name,) in execute(
                conn, "SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_(toast_)?temp_' ORDER BY 1"
            )
        ]
    assert {"public", VIEWS_SCHEMA, "pg_catalog", "information_schema"} <= set(schemas)
    attempts = write_attempts(dep, schemas)
    before = database_state(dep)

    # Twice: in the role's default read-only transactions, where a read-only error is acceptable, and
    # after `SET default_transaction_read_only = off`, where only a permission error proves anything.
    outcomes = []
    for mode, accepted in (("read-only default", {DENIED, READ_ONLY}), ("read_only off", {DENIED})):
        with dep.as_readonly() as conn:
            if mode == "read_only off":
                execute(conn, "SET default_transaction_read_only = off")
            for label, statement, copy_data in attempts:
                state = sqlstate_of(conn, statement, copy_data, in_transaction=label != "CREATE DATABASE")
                outcomes.append(Outcome(mode, label, state, state in accepted))

    after = database_state(dep)
    denied = sum(outcome.denied for outcome in outcomes)
    figure = f"{denied}/{len(outcomes)} write attempts denied"
    record_property("readonly_write_attempts", figure)
    with capsys.disabled():
        print(f"\nmetabase_readonly: {figure}")
    failures = [f"{o.mode}: {o.label} -> {o.sqlstate or 'succeeded'}" for o in outcomes if not o.denied]
    assert not failures, f"{figure}; not denied as expected:\n" + "\n".join(failures)
    assert after == before, "a denied write attempt changed the database"


# --- what the role can read ---------------------------------------------------------------------------


def readable_columns(dep: Deployment, table: str) -> list[str]:
    with dep.as_superuser() as conn:
        return [
            name
            for (name,) in execute(
                conn,
                """SELECT attname FROM pg_attribute
                   WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum""",
                (sql.Identifier("public", table).as_string(conn),),
            )
            if name not in READABLE_TABLES[table]
        ]


def test_reads_allowed_and_denied(deployment: Deployment) -> None:
    dep = deployment
    dep.deploy()
    columns = {table: readable_columns(dep, table) for table in READABLE_TABLES}
    failures = []
    with dep.as_readonly() as conn:
        for table, cols in columns.items():
            statement = sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(map(sql.Identifier, cols)), ident("public", table)
            )
            if sqlstate_of(conn, statement) is not None:
                failures.append(f"cannot read the allowed columns of {table}")
        for view in VIEWS:
            if sqlstate_of(conn, sql.SQL("SELECT * FROM {}").format(ident(view))) is not None:
                failures.append(f"cannot read view {view} by its bare name")
        for number, question in enumerate(EXAMPLE_QUESTIONS, 1):
            if sqlstate_of(conn, question) is not None:
                failures.append(f"example question {number} fails")
        rows = execute(conn, EXAMPLE_QUESTIONS[0])
        assert rows == [("ada@example.test", "pro", 321, 1)], "the example question reads the wrong data"

        denied = [sql.SQL("SELECT key FROM public.apikey")]
        for table in CREDENTIAL_TABLES:
            t = ident("public", table)
            denied += [
                sql.SQL("SELECT * FROM {}").format(t),
                sql.SQL("SELECT count(*) FROM {}").format(t),
                sql.SQL("SELECT id FROM {}").format(t),
            ]
        for table, hidden in READABLE_TABLES.items():
            denied += [sql.SQL("SELECT {} FROM {}").format(ident(col), ident("public", table)) for col in hidden]
            if hidden:
                denied.append(sql.SQL("SELECT * FROM {}").format(ident("public", table)))
        for statement in denied:
            state = sqlstate_of(conn, statement)
            if state != DENIED:
                failures.append(f"{statement.as_string(conn)} -> {state or 'succeeded'}")
    assert not failures, "\n".join(failures)

    # Catalog view of the same facts, independent of the statements above.
    with dep.as_superuser() as conn:
        readable = execute(
            conn,
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND has_any_column_privilege(%s, c.oid, 'SELECT') ORDER BY 1""",
            (dep.readonly,),
        )
        table_level = execute(
            conn,
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND has_table_privilege(%s, c.oid, 'SELECT')""",
            (dep.readonly,),
        )
    assert {name for (name,) in readable} == set(READABLE_TABLES)
    assert table_level == [], "table-level SELECT would cover columns the application adds later"


# --- relations added after deployment --------------------------------------------------------------


NEW_TABLES_SQL = """
CREATE TABLE public.job_tags (id text PRIMARY KEY, job_id text, tag text);
INSERT INTO public.job_tags VALUES ('t1', 'j1', 'nightly');
CREATE TABLE public.signing_keys (id text PRIMARY KEY, algorithm text, created_at timestamp);
CREATE TABLE public.integrations (id text PRIMARY KEY, name text, client_secret text);
CREATE TABLE public."twoFactor" ("id" text PRIMARY KEY, "userId" text, "secret" text, "backupCodes" text);
CREATE TABLE public.webhook_deliveries (id text PRIMARY KEY, "signingToken" text, status int);
CREATE TABLE public.customer_payment_methods (id text PRIMARY KEY, brand text, last4 text);
ALTER TABLE public.runs ADD COLUMN region text;
"""
NEW_HIDDEN = ("signing_keys", "integrations", "twoFactor", "webhook_deliveries", "customer_payment_methods")


def test_relations_added_later(deployment: Deployment) -> None:
    dep = deployment
    dep.deploy()
    with dep.as_owner() as conn:  # the owner still creates tables and temporary tables
        execute(conn, NEW_TABLES_SQL)
        execute(conn, "CREATE TEMP TABLE owner_scratch (i int)")

    def readable(conn, table: str, column: str = "*") -> bool:
        target = sql.SQL("*") if column == "*" else ident(column)
        return sqlstate_of(conn, sql.SQL("SELECT {} FROM {}").format(target, ident("public", table))) is None

    with dep.as_readonly() as conn:  # nothing new is readable before the role has classified it
        assert not readable(conn, "job_tags")
        assert not readable(conn, "runs", "region")
        assert not any(readable(conn, table) for table in NEW_HIDDEN)

    run = dep.deploy()
    assert run.changed > 0
    # The run names each relation it hides by a pattern, for an operator to review.
    pending = run.output.split(f"Not readable by {dep.readonly} until reviewed:", 1)
    assert len(pending) == 2, "the run does not point out the relations pending review"
    for table in NEW_HIDDEN:
        assert table in pending[1].split("If a relation holds no secret", 1)[0], f"{table} is not pointed out"
    with dep.as_readonly() as conn:
        assert readable(conn, "job_tags"), "an ordinary table added later is not readable after the next run"
        assert execute(conn, "SELECT tag FROM job_tags") == [("nightly",)]
        assert readable(conn, "runs", "region"), "an ordinary column added later is not readable after the next run"
        hidden_now = [table for table in NEW_HIDDEN if readable(conn, table) or readable(conn, table, "id")]
        assert hidden_now == [], f"credential-like tables became readable: {hidden_now}"

    # A credential-like column in a table that was readable hides the whole table (fail closed).
    with dep.as_owner() as conn:
        execute(conn, "ALTER TABLE public.job_tags ADD COLUMN api_token text")
    dep.deploy()
    with dep.as_readonly() as conn:
        assert not readable(conn, "job_tags", "id")
        assert not readable(conn, "job_tags", "api_token")

    repeat = dep.deploy()
    assert repeat.changed == 0, f"repeat run changed: {repeat.changed_tasks()}"


def test_the_usual_recipe_is_undone(deployment: Deployment) -> None:
    """A role set up by hand with GRANT SELECT ON ALL TABLES and ALTER DEFAULT PRIVILEGES loses it all."""
    dep = deployment
    ro, owner = ident(dep.readonly), ident(dep.owner)
    with dep.as_superuser() as conn:
        for statement in (
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'an-old-password-1234'").format(ro),
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(ro),
            sql.SQL("GRANT INSERT, UPDATE ON public.runs TO {}").format(ro),
            sql.SQL("GRANT USAGE ON SEQUENCE public.run_number_seq TO {}").format(ro),
            sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(ro),
            sql.SQL("GRANT CREATE, TEMPORARY ON DATABASE {} TO {}").format(ident(dep.dbname), ro),
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT SELECT ON TABLES TO {}").format(
                owner, ro
            ),
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} GRANT ALL ON SEQUENCES TO {}").format(owner, ro),
            sql.SQL("GRANT {} TO {}").format(owner, ro),
            sql.SQL("ALTER ROLE {} IN DATABASE {} SET default_transaction_read_only = off").format(
                ro, ident(dep.dbname)
            ),
        ):
            execute(conn, statement)

    run = dep.deploy()
    assert run.changed > 0
    assert_no_secret(run, dep, "an-old-password-1234")
    with dep.as_superuser() as conn:
        leftovers = execute(
            conn,
            """SELECT 'default acl' FROM pg_default_acl d, aclexplode(d.defaclacl) a
                WHERE a.grantee = %(ro)s::regrole
               UNION ALL SELECT 'membership' FROM pg_auth_members WHERE member = %(ro)s::regrole
               UNION ALL SELECT 'db setting' FROM pg_db_role_setting WHERE setrole = %(ro)s::regrole
                                                                      AND setdatabase <> 0""",
            {"ro": ro.as_string(conn)},
        )
    assert leftovers == []
    with dep.as_owner() as conn:  # a credential table created after deployment: hidden at once
        execute(conn, "CREATE TABLE public.webhook_secrets (id text PRIMARY KEY, value text)")
    with dep.as_readonly() as conn:
        execute(conn, "SET default_transaction_read_only = off")
        for statement in (
            "SELECT * FROM account",
            "SELECT * FROM webhook_secrets",
            "INSERT INTO runs (id) VALUES ('x')",
            "SELECT nextval('run_number_seq')",
            "CREATE TABLE public.ro_probe (i int)",
            "CREATE TEMP TABLE ro_probe (i int)",
        ):
            assert sqlstate_of(conn, statement) == DENIED, statement
    assert dep.deploy().changed == 0


def test_public_grant_on_a_credential_table_fails_the_run(deployment: Deployment) -> None:
    """Privileges the role cannot own (here PUBLIC's) are checked after applying, and reported."""
    with deployment.as_superuser() as conn:
        execute(conn, "GRANT SELECT ON public.account TO PUBLIC")
    run = deployment.run()
    assert run.rc != 0
    assert "can read hidden relation public.account" in run.output
    assert_no_secret(run, deployment)


# --- the whole playbook, with the real views -----------------------------------------------------------


def test_database_playbook_applies_both_roles(bare_deployment: Deployment) -> None:
    dep = bare_deployment
    first = dep.deploy(tags=None)
    assert first.changed > 0
    assert_no_secret(first, dep)
    with dep.as_readonly() as conn:
        failures = [
            f"{view}: {state}"
            for view in VIEWS_OF_CONTRACT
            if (state := sqlstate_of(conn, sql.SQL("SELECT * FROM {}").format(ident(view)))) is not None
        ]
        failures += [
            f"example question {number}: {state}"
            for number, question in enumerate(EXAMPLE_QUESTIONS, 1)
            if (state := sqlstate_of(conn, question)) is not None
        ]
        assert not failures, "not readable by the read-only role:\n" + "\n".join(failures)
        assert sqlstate_of(conn, "SELECT key FROM apikey") == DENIED

    second = dep.deploy(tags=None)
    assert second.changed == 0, f"second run changed: {second.changed_tasks()}"
    read_only = dep.deploy(tags=None, pgoptions="-c default_transaction_read_only=on")
    assert read_only.changed == 0, f"read-only run changed: {read_only.changed_tasks()}"


# --- password rotation ------------------------------------------------------------------------------


def test_password_rotation(deployment: Deployment) -> None:
    dep = deployment
    old = dep.readonly_password
    first = dep.deploy(verbosity=3)
    with dep.as_readonly(old):
        pass

    new = secrets.token_urlsafe(24)
    rotated = dep.deploy(verbosity=3, monitoring_readonly_password=new)
    assert rotated.changed == 1, f"rotation changed: {rotated.changed_tasks()}"
    with pytest.raises(psycopg2.OperationalError) as refused:
        dep.as_readonly(old)
    assert "password authentication failed" in str(refused.value)
    with dep.as_readonly(new) as conn:
        assert execute(conn, "SELECT current_user") == [(dep.readonly,)]

    again = dep.deploy(monitoring_readonly_password=new)
    assert again.changed == 0, f"same password reported as changed: {again.changed_tasks()}"
    for run in (first, rotated, again):
        assert_no_secret(run, dep, new)


# -- other application roles, and check mode ------------------------------------------------------------


@contextmanager
def other_login_role(dep: Deployment) -> Iterator[tuple[str, str]]:
    """Another application role (a worker, say) that connects and uses temporary tables through PUBLIC."""
    name, password = f"app_worker_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(18)
    with dep.as_superuser() as conn:
        execute(conn, sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(ident(name)), (password,))
    try:
        yield name, password
    finally:
        with dep.as_superuser() as conn:
            execute(conn, sql.SQL("DROP OWNED BY {}").format(ident(name)))
            execute(conn, sql.SQL("DROP ROLE IF EXISTS {}").format(ident(name)))


def temp_table_sqlstate(dep: Deployment, user: str, password: str) -> str | None:
    """Whether ``user`` may create a temporary table (read-write transaction, so only privileges count)."""
    with dep.connect(user, password) as conn:
        execute(conn, "SET default_transaction_read_only = off")
        return sqlstate_of(conn, "CREATE TEMP TABLE t (x int)")


def test_other_application_roles_keep_their_temporary_tables(deployment: Deployment) -> None:
    dep = deployment
    with other_login_role(dep) as (worker, password):
        assert temp_table_sqlstate(dep, worker, password) is None
        first = dep.deploy()
        assert f"TEMPORARY on database {dep.dbname} to {worker}" in first.output, first.output[-5000:]
        assert temp_table_sqlstate(dep, worker, password) is None  # kept, granted explicitly
        assert temp_table_sqlstate(dep, dep.readonly, dep.readonly_password) == DENIED
        again = dep.deploy()
        assert again.changed == 0, again.changed_tasks()


def test_other_roles_fail_lists_them_and_changes_nothing(deployment: Deployment) -> None:
    dep = deployment
    with other_login_role(dep) as (worker, password):
        refused = dep.run(readonly_user_other_roles="fail")
        assert refused.rc != 0
        text = " ".join(refused.output.split())
        assert f"{worker}: TEMPORARY on database {dep.dbname}" in text, refused.output[-5000:]
        assert "readonly_user_other_roles decides" in text and "Nothing was changed" in text
        with dep.as_superuser() as conn:
            assert execute(conn, "SELECT 1 FROM pg_roles WHERE rolname = %s", (dep.readonly,)) == []
        assert temp_table_sqlstate(dep, worker, password) is None

        revoked = dep.deploy(readonly_user_other_roles="revoke")  # the operator's explicit choice
        assert revoked.changed > 0
        assert temp_table_sqlstate(dep, worker, password) == DENIED


def migration_in_progress(dep: Deployment, table: str = "public.runs"):
    """A session in the middle of a migration of ``table`` (ALTER TABLE, not committed): it holds ACCESS
    EXCLUSIVE on the table and its row of pg_class. Close it (rolled back) after."""
    holder = psycopg2.connect(dep.server.dsn(dep.dbname), connect_timeout=10)
    with holder.cursor() as cur:
        cur.execute(f"ALTER TABLE {table} ADD COLUMN migration_in_progress int")
    return closing(holder)


def test_check_mode_takes_no_lock_on_application_tables(deployment: Deployment) -> None:
    """A column the application added is to be granted (GRANT ... ON runs) while a migration of runs is in
    progress: a dry run answers at once, because it only reads the catalog (check mode used to execute the
    GRANT and roll it back, which waits for the migration); a real run has to wait (here it gives up after
    lock_timeout)."""
    dep = deployment
    dep.deploy()
    with dep.as_owner() as conn:
        execute(conn, "ALTER TABLE public.runs ADD COLUMN region text")
    with migration_in_progress(dep):
        dry = dep.run(check=True, pgoptions="-c lock_timeout=5s")
        assert dry.rc == 0, dry.output[-5000:]
        assert dry.changed > 0 and "region" in dry.output, dry.output[-5000:]
        real = dep.run(pgoptions="-c lock_timeout=5s")
        assert real.rc != 0 and "lock timeout" in real.output, real.output[-5000:]
    with dep.as_readonly() as conn:  # nothing was granted
        assert sqlstate_of(conn, "SELECT region FROM public.runs") == DENIED
    dep.deploy()
    with dep.as_readonly() as conn:
        assert sqlstate_of(conn, "SELECT region FROM public.runs") is None


def test_check_mode_writes_nothing_and_reports_the_plan(deployment: Deployment) -> None:
    """Every transaction of a dry run is read-only here: it succeeds (no CREATE ROLE, GRANT or REVOKE is
    executed and rolled back) and still says what a real run would do."""
    dep = deployment
    dry = dep.run(check=True, pgoptions="-c default_transaction_read_only=on")
    assert dry.rc == 0, dry.output[-5000:]
    assert dry.changed > 0
    text = " ".join(dry.output.split())
    assert f"create role {dep.readonly}" in text and "ON TABLE public.runs TO" in text, dry.output[-5000:]
    with dep.as_superuser() as conn:
        assert execute(conn, "SELECT 1 FROM pg_roles WHERE rolname = %s", (dep.readonly,)) == []

    dep.deploy()
    with dep.as_superuser() as conn:  # drift: a setting and a membership the next run must undo
        execute(conn, sql.SQL("ALTER ROLE {} CONNECTION LIMIT 3").format(ident(dep.readonly)))
        execute(conn, sql.SQL("GRANT {} TO {}").format(ident(dep.owner), ident(dep.readonly)))
    dry = dep.run(check=True, pgoptions="-c default_transaction_read_only=on")
    assert dry.rc == 0 and dry.changed > 0, dry.output[-5000:]
    text = " ".join(dry.output.split())
    assert f"role {dep.readonly}: CONNECTION LIMIT 15" in text and f"leave role {dep.owner}" in text
    new_password = secrets.token_urlsafe(24)
    dry = dep.run(check=True, monitoring_readonly_password=new_password)
    assert f"role {dep.readonly}: set the password" in " ".join(dry.output.split())
    assert new_password not in dry.output
    dep.deploy()
    assert dep.deploy(check=True).changed == 0
