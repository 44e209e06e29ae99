"""Unit tests of cronicorn.monitoring.postgresql_views: the pure planning functions, and main() with the
database faked at the catalog boundary (read_state / resolve_types) and a recording connection."""

from __future__ import annotations

import copy
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.cronicorn.monitoring.plugins.modules import postgresql_views as pv

SCHEMA, OWNER = "mon", "mon_owner"
TYPES = {
    "integer": "integer",
    "int": "integer",
    "text": "text",
    "bigint": "bigint",
    "timestamp": "timestamp without time zone",
    "timestamp without time zone": "timestamp without time zone",
}
DEFINER = {"search_path": "pg_catalog, pg_temp"}


def params(**overrides):
    base = {
        "schema": SCHEMA,
        "owner": OWNER,
        "functions": [
            {
                "name": "_day",
                "arguments": "ts timestamp",
                "returns": "integer",
                "columns": None,
                "language": "sql",
                "volatility": "immutable",
                "parallel": "safe",
                "security_definer": False,
                "settings": {},
                "body": "SELECT ts::date - DATE '1970-01-01'",
            },
            {
                "name": "_stats_rows",
                "arguments": "",
                "returns": None,
                "columns": [["status", "text"], ["runs", "bigint"]],
                "language": "plpgsql",
                "volatility": "stable",
                "parallel": "restricted",
                "security_definer": True,
                "settings": dict(DEFINER),
                "body": "BEGIN RETURN QUERY SELECT 'x'::text, 1::bigint; END",
            },
        ],
        "views": [{"name": "stats", "function": "_stats_rows", "comment": "Runs per status."}],
        "readers": ["reader"],
        "column_privileges": {"public.runs": ["status", "started_at"]},
        "source_schemas": ["public"],
        "prune": True,
    }
    base.update(overrides)
    return base


def empty_state(**overrides):
    state = {
        "functions": {},
        "views": {},
        "schema_acl": {},
        "columns": {"public.runs": {"table_select": False, "columns": set()}},
        "readers": ["reader"],
        "missing_readers": [],
        "source_usage": {"public": False},
        "schema_exists": True,
        "owner_exists": True,
    }
    state.update(overrides)
    return state


def converged_state():
    """The catalog as it is after a successful run with params()."""
    return empty_state(
        functions={
            ("_day", "ts timestamp without time zone"): {
                "oid": 101,
                "identity_args_sql": "timestamp without time zone",
                "columns": None,
                "returns": "integer",
                "language": "sql",
                "volatility": "i",
                "parallel": "s",
                "security_definer": False,
                "strict": False,
                "settings": {},
                "body": "SELECT ts::date - DATE '1970-01-01'",
                "owner": OWNER,
                "acl": {OWNER: {"EXECUTE"}},
                "definition": "CREATE FUNCTION mon._day ...",
            },
            ("_stats_rows", ""): {
                "oid": 102,
                "identity_args_sql": "",
                "columns": [("status", "text"), ("runs", "bigint")],
                "returns": None,
                "language": "plpgsql",
                "volatility": "s",
                "parallel": "r",
                "security_definer": True,
                "strict": False,
                "settings": {"search_path": "pg_catalog, pg_temp"},
                "body": "BEGIN RETURN QUERY SELECT 'x'::text, 1::bigint; END",
                "owner": OWNER,
                "acl": {OWNER: {"EXECUTE"}, "reader": {"EXECUTE"}},
                "definition": "CREATE FUNCTION mon._stats_rows() ... LIMIT 100;",
            },
        },
        views={
            "stats": {
                "oid": 201,
                "owner": OWNER,
                "definition": " SELECT _stats_rows.status,\n    _stats_rows.runs\n"
                "   FROM mon._stats_rows() _stats_rows(status, runs);",
                "comment": "Runs per status.",
                "columns": [("status", "text"), ("runs", "bigint")],
                "depends_on": [102],
                "acl": {OWNER: {"SELECT", "INSERT", "UPDATE", "DELETE"}, "reader": {"SELECT"}},
            }
        },
        schema_acl={OWNER: {"USAGE", "CREATE"}, "reader": {"USAGE"}},
        columns={"public.runs": {"table_select": False, "columns": {"status", "started_at"}}},
        source_usage={"public": True},
    )


# -- pure helpers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("ts timestamp", [("ts", "timestamp")]),
        (" a integer ,b timestamp with time zone ", [("a", "integer"), ("b", "timestamp with time zone")]),
    ],
)
def test_split_arguments(text, expected):
    assert pv.split_arguments(text) == expected


def test_split_arguments_refuses_a_bare_type():
    with pytest.raises(ValueError, match="name type"):
        pv.split_arguments("integer")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("pg_catalog, pg_temp", "pg_catalog, pg_temp"),
        ("pg_catalog,pg_temp", "pg_catalog, pg_temp"),
        ("'64MB'", "64MB"),
        ("off", "off"),
    ],
)
def test_normalize_setting_matches_proconfig(value, stored):
    assert pv.normalize_setting(value) == stored


def test_parse_proconfig():
    assert pv.parse_proconfig(["search_path=pg_catalog, pg_temp", "work_mem=64MB"]) == {
        "search_path": "pg_catalog, pg_temp",
        "work_mem": "64MB",
    }
    assert pv.parse_proconfig(None) == {}


@pytest.mark.parametrize(
    ("value", "sql"),
    [("pg_catalog, pg_temp", "pg_catalog, pg_temp"), ("32MB", "'32MB'"), ("off", "off"), ("it's", "'it''s'")],
)
def test_setting_sql(value, sql):
    assert pv.setting_sql(value) == sql


def test_dollar_quote_avoids_the_body_text():
    assert pv.dollar_quote("SELECT 1") == "$body$SELECT 1$body$"
    assert pv.dollar_quote("x $body$ y") == "$body1$x $body$ y$body1$"


def test_function_sql_golden():
    fn = pv.desired_function(params()["functions"][1], TYPES)
    assert pv.function_sql(SCHEMA, fn) == (
        'CREATE OR REPLACE FUNCTION "mon"."_stats_rows"()\n'
        ' RETURNS TABLE("status" text, "runs" bigint)\n'
        " LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED\n"
        " SET search_path = pg_catalog, pg_temp\n"
        "AS $body$BEGIN RETURN QUERY SELECT 'x'::text, 1::bigint; END$body$"
    )


def test_view_query_matches():
    definition = converged_state()["views"]["stats"]["definition"]
    assert pv.view_query_matches(definition, SCHEMA, "_stats_rows", ["status", "runs"])
    assert not pv.view_query_matches(
        definition.replace(";", " WHERE false;"), SCHEMA, "_stats_rows", ["status", "runs"]
    )
    assert not pv.view_query_matches(definition, SCHEMA, "_stats_rows", ["runs", "status"])
    assert not pv.view_query_matches(definition, "other", "_stats_rows", ["status", "runs"])
    assert not pv.view_query_matches(
        definition.replace("_stats_rows.runs", "_stats_rows.runs + 1"), SCHEMA, "_stats_rows", ["status", "runs"]
    )


def test_exact_grants():
    grants, revokes = pv.exact_grants({"PUBLIC": {"EXECUTE"}, "a": {"SELECT"}}, {"a": {"SELECT"}, "b": {"SELECT"}})
    assert grants == [("b", "SELECT")]
    assert revokes == [("PUBLIC", "EXECUTE")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"owner": "reader"}, "cannot also be a reader"),
        ({"views": [{"name": "v", "function": "f"}, {"name": "v", "function": "f"}]}, "listed twice"),
    ],
)
def test_validate(change, message):
    assert message in pv.validate(params(**change))


def test_validate_needs_exactly_one_result_form():
    p = params()
    p["functions"][0]["columns"] = [["a", "text"]]
    assert "exactly one of returns and columns" in pv.validate(p)


# -- planning ------------------------------------------------------------------------------------------


def test_plan_on_an_empty_schema_creates_everything():
    plan = pv.plan_changes(empty_state(), params(), TYPES)
    actions = "\n".join(plan.actions)
    assert plan.changed
    assert "create function mon._day(ts timestamp without time zone) (new)" in actions
    assert "create view mon.stats" in actions
    assert "revoke EXECUTE on function mon._stats_rows() from PUBLIC" in actions
    assert "grant EXECUTE on function mon._stats_rows() to reader" in actions
    assert "grant SELECT on view mon.stats to reader" in actions
    assert "grant USAGE on schema mon to reader" in actions
    assert "grant USAGE on schema public to mon_owner" in actions
    assert 'GRANT SELECT ("started_at", "status") ON TABLE "public"."runs" TO "mon_owner"' in plan.statements
    # helpers are created before the functions that use them, views after their functions
    assert actions.index("_day") < actions.index("_stats_rows") < actions.index("create view")


def test_plan_on_a_converged_schema_is_empty():
    plan = pv.plan_changes(converged_state(), params(), TYPES)
    assert plan.statements == []
    assert not plan.changed


def test_body_change_replaces_the_function_only():
    p = params()
    p["functions"][1]["body"] = "BEGIN RETURN QUERY SELECT 'y'::text, 2::bigint; END"
    plan = pv.plan_changes(converged_state(), p, TYPES)
    assert plan.actions == ["replace function mon._stats_rows() (body)"]
    assert plan.statements[0].startswith('CREATE OR REPLACE FUNCTION "mon"."_stats_rows"()')
    assert "SELECT 'y'" in "".join(plan.after) and "LIMIT 100" in "".join(plan.before)


def test_result_change_drops_and_recreates_view_and_function_in_order():
    p = params()
    p["functions"][1]["columns"] = [["status", "text"], ["runs", "integer"]]
    plan = pv.plan_changes(converged_state(), p, TYPES)
    kinds = [a.split(" (")[0] for a in plan.actions]
    assert kinds[:5] == [
        "drop view mon.stats",
        "drop function mon._stats_rows()",
        "recreate function mon._stats_rows()",
        "set owner of function mon._stats_rows() to mon_owner",
        "create view mon.stats",
    ]
    # a recreated view or function starts over with default privileges: the reader is granted again
    assert "grant EXECUTE on function mon._stats_rows() to reader" in plan.actions
    assert "grant SELECT on view mon.stats to reader" in plan.actions


def test_owner_and_privilege_drift_is_repaired():
    state = converged_state()
    state["functions"][("_day", "ts timestamp without time zone")]["owner"] = "someone"
    state["views"]["stats"]["acl"]["PUBLIC"] = {"SELECT"}
    state["functions"][("_stats_rows", "")]["acl"]["PUBLIC"] = {"EXECUTE"}
    plan = pv.plan_changes(state, params(), TYPES)
    assert plan.actions == [
        "set owner of function mon._day(ts timestamp without time zone) to mon_owner",
        "revoke EXECUTE on function mon._stats_rows() from PUBLIC",
        "revoke SELECT on view mon.stats from PUBLIC",
    ]


def test_view_with_a_changed_query_is_replaced_in_place():
    state = converged_state()
    state["views"]["stats"]["definition"] = state["views"]["stats"]["definition"].replace(";", " WHERE false;")
    plan = pv.plan_changes(state, params(), TYPES)
    assert plan.statements == ['CREATE OR REPLACE VIEW "mon"."stats" AS SELECT * FROM "mon"."_stats_rows"()']


def test_prune_drops_only_unlisted_objects_of_the_owner():
    state = converged_state()
    state["functions"][("old_fn", "")] = dict(state["functions"][("_day", "ts timestamp without time zone")], oid=103)
    state["views"]["old_view"] = dict(state["views"]["stats"], oid=202, depends_on=[103])
    state["views"]["theirs"] = dict(state["views"]["stats"], oid=203, owner="someone", depends_on=[])
    plan = pv.plan_changes(state, params(), TYPES)
    assert plan.actions == ["drop view mon.old_view", "drop function mon.old_fn()"]
    assert not pv.plan_changes(state, params(prune=False), TYPES).statements


def test_table_level_select_is_narrowed_to_columns():
    state = converged_state()
    state["columns"]["public.runs"] = {"table_select": True, "columns": {"status", "error_details"}}
    plan = pv.plan_changes(state, params(), TYPES)
    assert plan.statements == [
        'REVOKE SELECT ON TABLE "public"."runs" FROM "mon_owner"',
        'GRANT SELECT ("started_at", "status") ON TABLE "public"."runs" TO "mon_owner"',
        'REVOKE SELECT ("error_details") ON TABLE "public"."runs" FROM "mon_owner"',
    ]


def test_a_view_over_an_unknown_function_is_refused():
    p = params(views=[{"name": "v", "function": "nope", "comment": None}])
    with pytest.raises(ValueError, match="must be listed in functions"):
        pv.plan_changes(empty_state(), p, TYPES)


# -- main() with a recording connection ------------------------------------------------------------------


class RecordingCursor:
    def __init__(self, conn):
        self.conn = conn

    def execute(self, statement, params=None):
        if self.conn.fail_on and self.conn.fail_on in statement:
            raise pv.psycopg2.errors.InsufficientPrivilege("permission denied for table runs")
        self.conn.executed.append(statement)


class RecordingConnection:
    def __init__(self, fail_on=None):
        self.executed = []
        self.commits = self.rollbacks = 0
        self.autocommit = True
        self.fail_on = fail_on

    def cursor(self):
        return RecordingCursor(self)

    def commit(self):
        self.commits += 1

    def rollback(self):
        self.rollbacks += 1

    def close(self):
        pass


SECRET = "S3cr3t-pa55"


def run_main(monkeypatch, capsys, state, *, check_mode=False, diff=False, conn=None, after=None, **overrides):
    conn = conn or RecordingConnection()
    # first read: the given state; after the changes are applied: the converged catalog
    states = [copy.deepcopy(state)]
    monkeypatch.setattr(pv, "_connect", lambda p: conn)
    monkeypatch.setattr(pv, "read_state", lambda cursor, p: states.pop(0) if states else after or converged_state())
    monkeypatch.setattr(pv, "resolve_types", lambda cursor, texts: {t: TYPES[t] for t in texts})
    args = dict(params(), login_db="db", login_password=SECRET, **overrides)
    args["_ansible_check_mode"] = check_mode
    args["_ansible_diff"] = diff
    with patch_module_args(args), pytest.raises(SystemExit):
        pv.main()
    out = capsys.readouterr().out
    return json.loads(out), conn, out


def writes(conn):
    return [s for s in conn.executed if not s.startswith("SELECT")]


def test_main_check_mode_writes_nothing(monkeypatch, capsys):
    result, conn, _out = run_main(monkeypatch, capsys, empty_state(), check_mode=True, diff=True)
    assert result["changed"] is True
    assert writes(conn) == [] and conn.commits == 0
    assert "CREATE OR REPLACE FUNCTION" in result["diff"]["after"]


def test_main_applies_in_one_transaction(monkeypatch, capsys):
    result, conn, _out = run_main(monkeypatch, capsys, empty_state())
    assert result["changed"] is True
    assert conn.autocommit is False and conn.commits == 1
    assert writes(conn) == result["queries"]


def test_main_unchanged_runs_only_reads(monkeypatch, capsys):
    result, conn, _out = run_main(monkeypatch, capsys, converged_state())
    assert result["changed"] is False and result["queries"] == []
    assert writes(conn) == [] and conn.commits == 0


def test_main_reports_missing_readers(monkeypatch, capsys):
    state = converged_state()
    state.update(readers=[], missing_readers=["reader"])
    result, _conn, out = run_main(monkeypatch, capsys, state)
    assert result["skipped_readers"] == ["reader"]
    assert "reader role reader does not exist" in out
    failed, _conn, _out = run_main(monkeypatch, capsys, state, missing_readers="fail")
    assert failed["failed"] is True and "reader roles do not exist: reader" in failed["msg"]


def test_main_error_names_the_statement_and_rolls_back(monkeypatch, capsys):
    conn = RecordingConnection(fail_on='GRANT SELECT ("started_at"')
    result, conn, out = run_main(monkeypatch, capsys, empty_state(), conn=conn)
    assert result["failed"] is True
    assert result["msg"].startswith('GRANT SELECT ("started_at", "status") ON TABLE "public"."runs"')
    assert "permission denied" in result["msg"]
    assert conn.commits == 0 and conn.rollbacks == 1
    assert SECRET not in out


def test_main_refuses_to_write_without_schema_or_owner(monkeypatch, capsys):
    result, conn, _out = run_main(monkeypatch, capsys, empty_state(schema_exists=False))
    assert result["failed"] is True and "must exist" in result["msg"]
    assert writes(conn) == []


def test_password_never_in_any_output(monkeypatch, capsys):
    for state, kwargs in (
        (empty_state(), {"diff": True}),
        (converged_state(), {}),
        (empty_state(), {"check_mode": True}),
    ):
        _result, _conn, out = run_main(monkeypatch, capsys, state, **kwargs)
        assert SECRET not in out


def test_connection_error_message_has_no_password(monkeypatch, capsys):
    def refuse(p):
        raise pv.psycopg2.OperationalError('connection to server at "127.0.0.1", port 1 failed: Connection refused')

    monkeypatch.setattr(pv, "_connect", refuse)
    with patch_module_args(dict(params(), login_db="db", login_password=SECRET)), pytest.raises(SystemExit):
        pv.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    assert result["failed"] is True and result["msg"].startswith("cannot connect to PostgreSQL:")
    assert SECRET not in out


def test_main_removes_privileges_that_default_privileges_added(monkeypatch, capsys):
    """Objects just created may get privileges from ALTER DEFAULT PRIVILEGES: the same run revokes them."""
    after = converged_state()
    after["views"]["stats"]["acl"]["someone"] = {"SELECT"}
    result, _conn, _out = run_main(monkeypatch, capsys, empty_state(), after=after)
    # the fake catalog keeps returning `after`, so the module revokes, re-reads, and gives up after 3 rounds
    assert result["failed"] is True and "revoke SELECT on view mon.stats from someone" in result["msg"]
    reads = [empty_state(), after, converged_state()]
    monkeypatch.setattr(pv, "read_state", lambda cursor, p: reads.pop(0))
    with patch_module_args(dict(params(), login_db="db", login_password=SECRET)), pytest.raises(SystemExit):
        pv.main()
    result = json.loads(capsys.readouterr().out)
    assert result["changed"] is True and "failed" not in result
    assert result["actions"][-1] == "revoke SELECT on view mon.stats from someone"
    assert result["queries"][-1] == 'REVOKE SELECT ON TABLE "mon"."stats" FROM "someone"'


def test_main_fails_when_definitions_do_not_converge(monkeypatch, capsys):
    result, conn, _out = run_main(monkeypatch, capsys, empty_state(), after=empty_state())
    assert result["failed"] is True and "do not converge" in result["msg"]
    assert conn.commits == 0 and conn.rollbacks == 1


# -- waits, TLS and argument names ------------------------------------------------------------------------


def test_timeouts_are_set_before_the_advisory_lock(monkeypatch, capsys):
    _result, conn, _out = run_main(monkeypatch, capsys, converged_state(), lock_timeout="3s", statement_timeout="1min")
    assert conn.executed[0].startswith("SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout'")
    assert "pg_advisory_xact_lock" in conn.executed[1]


class BusyCursor(RecordingCursor):
    def execute(self, statement, params=None):
        if "pg_advisory_xact_lock" in statement:
            raise pv.psycopg2.errors.LockNotAvailable("canceling statement due to lock timeout")
        super().execute(statement, params)


class BusyConnection(RecordingConnection):
    def cursor(self):
        return BusyCursor(self)


def test_a_held_advisory_lock_fails_the_run_with_a_clear_message(monkeypatch, capsys):
    result, conn, out = run_main(monkeypatch, capsys, empty_state(), conn=BusyConnection(), lock_timeout="2s")
    assert result["failed"] is True
    assert result["msg"].startswith("another run is deploying schema mon in database db")
    assert "lock_timeout=2s" in result["msg"]
    assert writes(conn) == [] and conn.commits == 0 and conn.rollbacks == 1
    assert SECRET not in out


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_verifying_ssl_modes_need_ca_cert(monkeypatch, capsys, mode):
    connected = []
    monkeypatch.setattr(pv, "_connect", lambda p: connected.append(p) or RecordingConnection())
    with patch_module_args(dict(params(), login_db="db", ssl_mode=mode)), pytest.raises(SystemExit):
        pv.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True and result["msg"].startswith(f"ssl_mode={mode} needs ca_cert")
    assert connected == []


def test_ca_cert_is_libpq_sslrootcert(monkeypatch):
    seen = {}
    monkeypatch.setattr(pv.psycopg2, "connect", lambda **kwargs: seen.update(kwargs))
    base = dict(
        login_host="db",
        login_port=5432,
        login_user="u",
        login_db="d",
        login_password=None,
        ssl_mode="verify-full",
        connect_timeout=5,
    )
    pv._connect(dict(base, ca_cert="/etc/ssl/ca.pem"))
    assert seen["sslrootcert"] == "/etc/ssl/ca.pem" and seen["sslmode"] == "verify-full"
    seen.clear()
    pv._connect(dict(base, ca_cert=None))
    assert "sslrootcert" not in seen


class CatalogCursor:
    """Answers read_state's queries with one function whose arguments are named like keywords."""

    def __init__(self):
        self.rows = []

    def execute(self, statement, params=None):
        if statement.startswith("SELECT rolname"):
            self.rows = [(OWNER,), ("reader",)]
        elif "FROM pg_namespace n WHERE" in statement:
            self.rows = [(OWNER, [])]
        elif statement == pv.FUNCTIONS_SQL:
            names_types = [["from", "timestamp without time zone"], ["user", "text"], ["limit", "integer"]]
            row = (1, "_window", names_types, "sql", "i", "u", False, False, None, "SELECT 1", OWNER, False)
            self.rows = [
                (*row, "integer", None, [], "CREATE FUNCTION ...", "timestamp without time zone, text, integer")
            ]
        else:
            self.rows = []

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None


def test_arguments_named_like_keywords_have_the_same_key_on_both_sides():
    spec = dict(params()["functions"][0], name="_window", arguments="from timestamp, user text, limit int")
    state = pv.read_state(CatalogCursor(), params(functions=[spec], views=[], source_schemas=[], column_privileges={}))
    wanted = pv.desired_function(spec, TYPES)
    assert list(state["functions"]) == [("_window", wanted["identity"])]
    assert wanted["identity"] == "from timestamp without time zone, user text, limit integer"
