"""metabase_database against the fake Metabase: create, no-op, updates, passwords, absent, check
mode, diff, failures, and that no secret ever shows."""

from __future__ import annotations

import json

import pytest
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase import MASK, REDACTED
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_database as module
from fake_metabase import ADMIN_EMAIL, ADMIN_PASSWORD, API_KEY, RO_PASSWORD, RO_PASSWORD_2, PgServer

URL = "http://metabase.test:3000"
SESSION_AUTH = {"url": URL, "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
KEY_AUTH = {"url": URL, "api_key": API_KEY}
CRONICORN = {
    "name": "Cronicorn",
    "host": "postgres",
    "port": 5432,
    "dbname": "cronicorn",
    "db_user": "metabase_readonly",
    "db_password": RO_PASSWORD,
}


def args(auth=None, **overrides):
    result = dict(auth or SESSION_AUTH)
    result.update(CRONICORN)
    result.update(overrides)
    return {key: value for key, value in result.items() if value is not None}


def cronicorn(fake):
    found = [db for db in fake.databases.values() if db["name"] == "Cronicorn"]
    assert len(found) <= 1
    return found[0] if found else None


def register(fake, run_module, **overrides):
    outcome = run_module(module, args(**overrides))
    assert not outcome.failed, outcome.msg
    fake.requests.clear()
    return outcome


# -- create ---------------------------------------------------------------------------------------


def test_create_sends_exactly_the_wanted_payload(fake, run_module):
    outcome = run_module(module, args(details={"schema-filters-type": "all"}))
    assert not outcome.failed, outcome.msg
    assert outcome.changed is True
    posts = [r for r in fake.requests if r.method == "POST" and r.path == "/api/database/"]
    assert [r.body for r in posts] == [
        {
            "name": "Cronicorn",
            "engine": "postgres",
            "details": {
                "host": "postgres",
                "port": 5432,
                "dbname": "cronicorn",
                "user": "metabase_readonly",
                "password": RO_PASSWORD,
                "schema-filters-type": "all",
            },
        }
    ]
    stored = cronicorn(fake)
    assert stored["details"]["user"] == "metabase_readonly"
    assert outcome.result["id"] == stored["id"]
    assert outcome.result["database"]["id"] == stored["id"]
    assert outcome.result["database"]["details"] == {
        "host": "postgres",
        "port": 5432,
        "dbname": "cronicorn",
        "user": "metabase_readonly",
        "schema-filters-type": "all",
    }
    assert stored["details"]["password"] == RO_PASSWORD
    assert outcome.result["sync_triggered"] is False
    assert fake.syncs == []


def test_create_with_sync_triggers_a_schema_sync(fake, run_module):
    outcome = run_module(module, args(sync=True))
    assert outcome.changed is True
    assert outcome.result["sync_triggered"] is True
    assert fake.syncs == [outcome.result["id"]]
    sync, logout = fake.requests[-2:]
    assert (sync.method, sync.path) == ("POST", f"/api/database/{outcome.result['id']}/sync_schema")
    assert (logout.method, logout.path) == ("DELETE", "/api/session/")


def test_force_sync_triggers_a_sync_when_the_connection_did_not_change(fake, run_module):
    """The views changed, the connection did not: Metabase must sync now, not at its next hourly sync."""
    register(fake, run_module)
    stored_id = cronicorn(fake)["id"]
    plain = run_module(module, args(sync=True))
    assert plain.changed is False and fake.syncs == []
    checked = run_module(module, args(sync=True, force_sync=True), check_mode=True)
    assert checked.changed is True and checked.result["sync_triggered"] is False
    assert fake.syncs == []
    forced = run_module(module, args(sync=True, force_sync=True))
    assert not forced.failed, forced.msg
    assert forced.changed is True
    assert forced.result["sync_triggered"] is True
    assert fake.syncs == [stored_id]
    assert [(r.method, r.path) for r in fake.writes()] == [("POST", f"/api/database/{stored_id}/sync_schema")]


def test_healthcheck_returns_metabase_s_answer(fake, run_module, clock):
    register(fake, run_module)
    outcome = run_module(module, args(healthcheck=True))
    assert not outcome.failed, outcome.msg
    assert outcome.changed is False
    assert outcome.result["healthcheck"] == {"status": "ok"}
    # PostgreSQL's password changed: Metabase's stored one no longer works.
    fake.pg_servers[("postgres", 5432)].users["metabase_readonly"] = RO_PASSWORD_2
    broken = run_module(module, args(healthcheck=True, healthcheck_timeout=10))
    assert not broken.failed, broken.msg
    assert broken.result["healthcheck"] == {"status": "error", "message": "Looks like your Password is incorrect."}
    assert clock.sleeps and sum(clock.sleeps) >= 10  # asked again while not ok, within the timeout
    checks = fake.healthchecks
    rotated = run_module(module, args(db_password=RO_PASSWORD_2, update_password="always", healthcheck=True))
    assert rotated.changed is True
    assert rotated.result["healthcheck"] == {"status": "ok"}
    assert fake.healthchecks == checks + 1


def test_healthcheck_in_check_mode_asks_once_and_never_for_a_missing_connection(fake, run_module, clock):
    missing = run_module(module, args(healthcheck=True, healthcheck_timeout=30), check_mode=True)
    assert "healthcheck" not in missing.result and fake.healthchecks == 0
    register(fake, run_module)
    fake.pg_servers[("postgres", 5432)].users["metabase_readonly"] = RO_PASSWORD_2
    checked = run_module(module, args(healthcheck=True, healthcheck_timeout=30), check_mode=True)
    assert checked.result["healthcheck"]["status"] == "error"
    assert fake.healthchecks == 1 and clock.sleeps == []


def test_create_with_auto_run_queries(fake, run_module):
    outcome = run_module(module, args(auto_run_queries=False))
    assert outcome.changed is True
    assert cronicorn(fake)["auto_run_queries"] is False
    assert fake.requests[-2].body["auto_run_queries"] is False


def test_any_engine_through_details(fake, run_module):
    outcome = run_module(
        module, {**KEY_AUTH, "name": "Scratch", "engine": "h2", "details": {"db": "mem:scratch", "unset": None}}
    )
    assert outcome.changed is True
    assert fake.requests[-1].body == {"name": "Scratch", "engine": "h2", "details": {"db": "mem:scratch"}}
    again = run_module(module, {**KEY_AUTH, "name": "Scratch", "engine": "h2", "details": {"db": "mem:scratch"}})
    assert again.changed is False


# -- no-op ----------------------------------------------------------------------------------------


def test_noop_with_a_session_is_login_list_and_logout(fake, run_module):
    register(fake, run_module, sync=True)
    outcome = run_module(module, args(sync=True))
    assert outcome.changed is False
    assert outcome.result["sync_triggered"] is False
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/api/session/"),
        ("GET", "/api/database/"),
        ("DELETE", "/api/session/"),
    ]
    assert fake.sessions == {}


def test_noop_with_an_api_key_is_one_request(fake, run_module):
    register(fake, run_module)
    outcome = run_module(module, args(auth=KEY_AUTH))
    assert outcome.changed is False
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/api/database/")]
    assert outcome.result["database"]["details"]["user"] == "metabase_readonly"


def test_noop_tolerates_templated_strings(fake, run_module):
    register(fake, run_module)
    outcome = run_module(module, args(auth=KEY_AUTH, port=None, details={"port": "5432"}))
    assert outcome.changed is False


def test_opportunistic_ssl_does_not_flap(fake, run_module):
    """Metabase stores ssl: true when SSL worked although ssl: false was sent (behaviour.md §4)."""
    fake.pg_servers[("postgres", 5432)].ssl = True
    created = run_module(module, args(ssl=False))
    assert created.changed is True
    assert cronicorn(fake)["details"]["ssl"] is True
    fake.requests.clear()
    assert run_module(module, args(ssl=False)).changed is False
    assert run_module(module, args()).changed is False
    assert fake.writes() == []


# -- updates --------------------------------------------------------------------------------------


def _prepare_other_servers(fake):
    fake.pg_servers[("replica", 5432)] = PgServer()
    fake.pg_servers[("postgres", 6432)] = PgServer()
    fake.pg_servers[("postgres", 5432)].databases.add("cronicorn_archive")


@pytest.mark.parametrize(
    ("overrides", "expected_put"),
    [
        ({"host": "replica"}, {"details": {"host": "replica"}}),
        ({"port": 6432}, {"details": {"port": 6432}}),
        ({"dbname": "cronicorn_archive"}, {"details": {"dbname": "cronicorn_archive"}}),
        ({"ssl": True}, {"details": {"ssl": True}}),
        ({"details": {"schema-filters-type": "inclusion"}}, {"details": {"schema-filters-type": "inclusion"}}),
        ({"auto_run_queries": False}, {"auto_run_queries": False}),
    ],
    ids=["host", "port", "dbname", "ssl", "details-key", "auto_run_queries"],
)
def test_update_sends_only_what_differs(fake, run_module, overrides, expected_put):
    _prepare_other_servers(fake)
    register(fake, run_module, ssl=False, details={"schema-filters-type": "all"})
    stored_id = cronicorn(fake)["id"]
    assert cronicorn(fake)["details"]["ssl"] is False
    wanted = dict(ssl=False, details={"schema-filters-type": "all"})
    if "details" in overrides:
        wanted["details"] = dict(wanted["details"], **overrides["details"])
    wanted.update({key: value for key, value in overrides.items() if key != "details"})
    fake.pg_servers[("postgres", 5432)].ssl = True  # for the ssl case: the server learnt SSL since
    outcome = run_module(module, args(**wanted))
    assert not outcome.failed, outcome.msg
    assert outcome.changed is True
    puts = [r for r in fake.requests if r.method == "PUT"]
    assert [(r.path, r.body) for r in puts] == [(f"/api/database/{stored_id}", expected_put)]
    assert outcome.result["id"] == stored_id
    fake.requests.clear()
    again = run_module(module, args(**wanted))
    assert again.changed is False
    assert fake.writes() == []


def test_a_change_also_sends_the_wanted_ssl_after_an_opportunistic_upgrade(fake, run_module):
    fake.pg_servers[("postgres", 5432)].ssl = True
    fake.pg_servers[("replica", 5432)] = PgServer(ssl=False)
    register(fake, run_module, ssl=False)
    assert cronicorn(fake)["details"]["ssl"] is True
    outcome = run_module(module, args(ssl=False, host="replica"))
    assert not outcome.failed, outcome.msg
    assert [r.body for r in fake.requests if r.method == "PUT"] == [{"details": {"host": "replica", "ssl": False}}]
    fake.requests.clear()
    assert run_module(module, args(ssl=False, host="replica")).changed is False


def test_switching_the_user_needs_its_password(fake, run_module):
    """The manual "switch to the read-only user" step: new user and password in one PUT."""
    register(fake, run_module, db_user="cronicorn", db_password="Owner-pw-1")
    outcome = run_module(module, args(update_password="always"))
    assert outcome.changed is True
    assert [r.body for r in fake.requests if r.method == "PUT"] == [
        {"details": {"user": "metabase_readonly", "password": RO_PASSWORD}}
    ]
    assert cronicorn(fake)["details"]["user"] == "metabase_readonly"


def test_update_refused_by_metabase_changes_nothing(fake, run_module):
    register(fake, run_module)
    before = json.dumps(cronicorn(fake), sort_keys=True)
    outcome = run_module(module, args(db_user="cronicorn", db_password="not-the-password", update_password="always"))
    assert outcome.failed
    assert outcome.msg == (
        f"PUT /api/database/{cronicorn(fake)['id']} failed: HTTP 400: Looks like your Password is incorrect. "
        "(password: check your password). Hint: Metabase tested the connection with the new details and refused "
        "it; nothing was changed."
    )
    assert json.dumps(cronicorn(fake), sort_keys=True) == before


# -- passwords ------------------------------------------------------------------------------------


def test_update_password_on_create_never_sends_the_password_again(fake, run_module):
    register(fake, run_module)
    outcome = run_module(module, args(db_password=RO_PASSWORD_2), diff=True)
    assert outcome.changed is False
    assert fake.writes() == []
    assert "password" not in outcome.result["diff"]["before"]["details"]
    assert "password" not in outcome.result["diff"]["after"]["details"]
    assert cronicorn(fake)["details"]["password"] == RO_PASSWORD


def test_update_password_always_sends_it_and_reports_changed_every_run(fake, run_module):
    register(fake, run_module)
    fake.pg_servers[("postgres", 5432)].users["metabase_readonly"] = RO_PASSWORD_2  # rotated in PostgreSQL
    for _run in range(2):
        outcome = run_module(module, args(db_password=RO_PASSWORD_2, update_password="always"), diff=True)
        assert not outcome.failed, outcome.msg
        assert outcome.changed is True
        assert outcome.result["diff"]["before"]["details"]["password"] == MASK
        assert outcome.result["diff"]["after"]["details"]["password"] == MASK + " (sent again)"
    puts = [r.body for r in fake.requests if r.method == "PUT"]
    assert puts == [{"details": {"password": RO_PASSWORD_2}}] * 2
    assert cronicorn(fake)["details"]["password"] == RO_PASSWORD_2


def test_secret_details_follow_update_password(fake, run_module):
    register(fake, run_module, secret_details={"tunnel-pass": "Tunnel-Secret-7"})
    assert cronicorn(fake)["details"]["tunnel-pass"] == "Tunnel-Secret-7"
    outcome = run_module(module, args(secret_details={"tunnel-pass": "Tunnel-Secret-8"}), diff=True)
    assert outcome.changed is False
    assert "Tunnel-Secret" not in outcome.text()
    outcome = run_module(
        module, args(secret_details={"tunnel-pass": "Tunnel-Secret-8"}, update_password="always"), diff=True
    )
    assert outcome.changed is True
    assert "Tunnel-Secret" not in outcome.text()
    assert "Tunnel-Secret-8" in outcome.no_log_values
    assert cronicorn(fake)["details"]["tunnel-pass"] == "Tunnel-Secret-8"


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"tunnel-pass": "Tunnel-Secret-7"}, "details holds the secret key tunnel-pass, but details is not no_log"),
        (
            {"password": "Pw-Secret-7", "access-token": "Tok-Secret-7", "ssl-mode": "require"},
            "details holds the secret keys access-token, password, but details is not no_log",
        ),
    ],
)
def test_known_secret_keys_in_details_are_refused(fake, run_module, details, message):
    outcome = run_module(module, args(db_password=None, details=details))
    assert outcome.failed
    assert outcome.msg.startswith(message)
    assert "secret_details" in outcome.msg and "db_password" in outcome.msg
    assert fake.writes() == []
    for value in details.values():
        if "Secret" in value:
            assert value not in outcome.text()
            assert value in outcome.no_log_values


def test_a_secret_under_a_key_metabase_does_not_redact_stays_out_of_diff_and_result(fake, run_module):
    """secret_details is for any driver's secrets: a key the module and Metabase do not know as secret
    is masked in the diff and left out of the result, though Metabase stores and returns it in clear."""
    outcome = run_module(module, args(secret_details={"client-key-value": "Client-Secret-7"}), diff=True)
    assert not outcome.failed, outcome.msg
    assert outcome.result["diff"]["after"]["details"]["client-key-value"] == MASK
    assert "client-key-value" not in outcome.result["database"]["details"]
    assert cronicorn(fake)["details"]["client-key-value"] == "Client-Secret-7"  # sent, and Metabase shows it
    assert "Client-Secret-7" not in outcome.text()
    again = run_module(module, args(secret_details={"client-key-value": "Client-Secret-7"}), diff=True)
    assert again.changed is False
    assert "client-key-value" not in again.result["database"]["details"]
    assert "Client-Secret-7" not in again.text()


def test_a_key_given_twice_is_refused(fake, run_module):
    outcome = run_module(module, args(details={"tunnel-host": "b"}, secret_details={"tunnel-host": "c"}))
    assert outcome.failed
    assert outcome.msg == "details.tunnel-host is given in both details and secret_details; use only one of them"
    outcome = run_module(module, args(secret_details={"password": "x"}))
    assert outcome.msg.startswith("secret_details.password and the option db_password both set the same")


def test_no_secret_reaches_the_system_log_at_module_start(fake, monkeypatch):
    """AnsibleModule logs its invocation to the target's syslog when it starts; details is not
    no_log, so a secret there must never get that far (and secret_details is no_log)."""
    from ansible.module_utils.basic import AnsibleModule
    from ansible.module_utils.testing import patch_module_args

    logged = []
    monkeypatch.setattr(AnsibleModule, "log", lambda self, msg, log_args=None: logged.append((msg, log_args)))
    for arguments in (
        args(details={"tunnel-pass": "Tunnel-Secret-7"}),
        args(secret_details={"tunnel-pass": "Tunnel-Secret-8"}),
    ):
        with patch_module_args(arguments), pytest.raises(SystemExit):
            module.main()
    text = json.dumps(logged, default=str)
    assert "Tunnel-Secret-7" not in text
    assert "Tunnel-Secret-8" not in text
    assert any("secret_details" in (log_args or {}) for _msg, log_args in logged), "the second run logs"


# -- absent ---------------------------------------------------------------------------------------


def test_absent_deletes_it(fake, run_module):
    register(fake, run_module)
    stored_id = cronicorn(fake)["id"]
    outcome = run_module(module, {**SESSION_AUTH, "name": "Cronicorn", "state": "absent"}, diff=True)
    assert outcome.changed is True
    assert outcome.result["id"] == stored_id
    assert outcome.result["diff"] == {"before": {"name": "Cronicorn", "engine": "postgres"}, "after": {}}
    assert [(r.method, r.path) for r in fake.writes()] == [("DELETE", f"/api/database/{stored_id}")]
    assert cronicorn(fake) is None


def test_absent_when_already_absent(fake, run_module):
    outcome = run_module(module, {**KEY_AUTH, "name": "Cronicorn", "state": "absent"})
    assert outcome.changed is False
    assert outcome.result["id"] is None
    assert fake.writes() == []


def test_absent_in_check_mode_deletes_nothing(fake, run_module):
    register(fake, run_module)
    outcome = run_module(module, {**KEY_AUTH, "name": "Cronicorn", "state": "absent"}, check_mode=True)
    assert outcome.changed is True
    assert fake.writes() == []
    assert cronicorn(fake) is not None


def test_absent_leaves_another_engine_alone_and_warns(fake, run_module):
    fake.add_database("Cronicorn", engine="h2", db="mem:x")
    outcome = run_module(module, {**KEY_AUTH, "name": "Cronicorn", "state": "absent"})
    assert outcome.changed is False
    assert fake.writes() == []
    assert outcome.warnings == [
        "A database connection named 'Cronicorn' exists with engine h2, not postgres; it was left alone."
    ]


# -- check mode -----------------------------------------------------------------------------------


def test_check_mode_create_then_create_then_check(fake, run_module):
    checked = run_module(module, args(), check_mode=True, diff=True)
    assert checked.changed is True
    assert checked.result["id"] is None
    assert checked.result["database"]["name"] == "Cronicorn"
    assert fake.writes() == []
    assert cronicorn(fake) is None

    created = run_module(module, args(sync=True))
    assert created.changed is True
    assert cronicorn(fake) is not None

    fake.requests.clear()
    again = run_module(module, args(sync=True), check_mode=True)
    assert again.changed is False
    assert again.result["sync_triggered"] is False
    assert fake.writes() == []


def test_check_mode_update_writes_nothing_and_predicts(fake, run_module):
    register(fake, run_module)
    outcome = run_module(module, args(details={"schema-filters-type": "all"}, sync=True), check_mode=True, diff=True)
    assert outcome.changed is True
    assert outcome.result["database"]["details"]["schema-filters-type"] == "all"
    assert outcome.result["sync_triggered"] is False
    assert fake.writes() == []
    assert "schema-filters-type" not in cronicorn(fake)["details"]


# -- diff -----------------------------------------------------------------------------------------


def test_diff_on_create_masks_the_password(fake, run_module):
    outcome = run_module(module, args(), diff=True)
    assert outcome.result["diff"] == {
        "before": {},
        "after": {
            "name": "Cronicorn",
            "engine": "postgres",
            "details": {
                "host": "postgres",
                "port": 5432,
                "dbname": "cronicorn",
                "user": "metabase_readonly",
                "password": MASK,
            },
        },
    }


def test_diff_on_update_shows_only_compared_keys(fake, run_module):
    register(fake, run_module)
    outcome = run_module(module, args(host="replica", auto_run_queries=False), check_mode=True, diff=True)
    assert outcome.result["diff"] == {
        "before": {
            "name": "Cronicorn",
            "engine": "postgres",
            "details": {"dbname": "cronicorn", "host": "postgres", "port": 5432, "user": "metabase_readonly"},
            "auto_run_queries": True,
        },
        "after": {
            "name": "Cronicorn",
            "engine": "postgres",
            "details": {"dbname": "cronicorn", "host": "replica", "port": 5432, "user": "metabase_readonly"},
            "auto_run_queries": False,
        },
    }


# -- failures -------------------------------------------------------------------------------------


def test_metabase_refusing_the_connection_registers_nothing(fake, run_module):
    outcome = run_module(module, args(db_password="wrong-password-1"))
    assert outcome.failed
    assert outcome.msg == (
        "POST /api/database/ failed: HTTP 400: Looks like your Password is incorrect. (password: check your "
        "password). Hint: Metabase tested the connection with these details and refused it, or refused the "
        "details; nothing was registered."
    )
    assert outcome.result["status"] == 400
    assert outcome.result["changed"] is False
    assert cronicorn(fake) is None
    assert fake.count("POST", "/api/database/") == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"db_user": "nobody"}, "Looks like your Username is incorrect."),
        ({"dbname": "nope"}, "Looks like the Database name is incorrect."),
        ({"host": "unknown-host"}, "Hmm, we couldn't connect to the database."),
    ],
)
def test_other_refusals(fake, run_module, overrides, message):
    outcome = run_module(module, args(**overrides))
    assert outcome.failed
    assert message in outcome.msg
    assert cronicorn(fake) is None


def test_wrong_admin_password(fake, run_module):
    outcome = run_module(module, args(password="Wrong-admin-pw-1"))
    assert outcome.failed
    assert outcome.msg.startswith("POST /api/session/ failed: HTTP 401: password: did not match stored password.")
    assert outcome.result["status"] == 401
    assert fake.count() == 1


def test_a_locked_out_admin_is_named_as_the_likely_cause(fake, run_module, clock):
    for _attempt in range(10):
        assert run_module(module, args(password="Wrong-admin-pw-1")).failed
    outcome = run_module(module, args())
    assert outcome.failed
    assert outcome.msg.startswith("POST /api/session/ failed: HTTP 401: username: Too many attempts!")
    assert "locked this username out" in outcome.msg
    assert fake.count("POST", "/api/session/") == 11
    assert fake.count("POST", "/api/database/") == 0


def test_wrong_api_key(fake, run_module):
    outcome = run_module(module, args(auth={"url": URL, "api_key": "mb_wrong"}))
    assert outcome.failed
    assert outcome.msg.startswith("GET /api/database/ failed: HTTP 401: Unauthenticated.")
    assert "mb_wrong" not in outcome.text()


def test_non_admin_user(fake, run_module):
    fake.add_user("analyst@example.com", "Analyst-pw-1")
    outcome = run_module(module, args(auth={"url": URL, "username": "analyst@example.com", "password": "Analyst-pw-1"}))
    assert outcome.failed
    assert outcome.msg == (
        "GET /api/database/ failed: HTTP 403: You don't have permissions to do that. Hint: the Metabase account "
        "needs administrator (superuser) rights for this."
    )


def test_duplicates_fail_clearly_and_write_nothing(fake, run_module):
    first = fake.add_database("Cronicorn", host="postgres")
    second = fake.add_database("Cronicorn", host="postgres")
    outcome = run_module(module, args())
    assert outcome.failed
    assert outcome.msg.startswith(
        f"Metabase has 2 database connections named 'Cronicorn' with engine postgres (ids {first['id']}, "
        f"{second['id']})"
    )
    assert fake.writes() == []


def test_same_name_other_engine_fails_on_present(fake, run_module):
    fake.add_database("Cronicorn", engine="h2", db="mem:x")
    outcome = run_module(module, args())
    assert outcome.failed
    assert "already exists with engine h2" in outcome.msg
    assert fake.writes() == []


def test_option_and_details_key_conflict(fake, run_module):
    outcome = run_module(module, args(details={"host": "elsewhere"}))
    assert outcome.failed
    assert outcome.msg == ("details.host and the option host both set the same connection detail; use only one of them")
    assert fake.requests == []


def test_missing_credentials_fail_before_any_request(fake, run_module):
    outcome = run_module(module, {"url": URL, "name": "Cronicorn"})
    assert outcome.failed
    assert "one of the following is required: api_key, username" in outcome.msg
    assert fake.requests == []


def test_not_ready_then_ready(fake, run_module, clock):
    fake.initializing = 3
    outcome = run_module(module, args(auth=KEY_AUTH))
    assert not outcome.failed, outcome.msg
    assert outcome.changed is True
    assert fake.count("GET", "/api/health") == 4


def test_5xx_on_the_list_is_retried(fake, run_module, clock):
    fake.fail_next(500, {"message": "boom"}, count=2, path="/api/database/", method="GET")
    outcome = run_module(module, args(auth=KEY_AUTH))
    assert outcome.changed is True
    assert fake.count("GET", "/api/database/") == 3
    assert clock.sleeps == [1.0, 2.0]


def test_5xx_on_create_is_not_retried(fake, run_module, clock):
    fake.fail_next(500, {"message": "boom"}, count=3, path="/api/database/", method="POST")
    outcome = run_module(module, args(auth=KEY_AUTH))
    assert outcome.failed
    assert fake.count("POST", "/api/database/") == 1


def test_bare_list_answer(fake_factory, run_module):
    fake = fake_factory(list_shape="bare")
    register(fake, run_module)
    assert run_module(module, args()).changed is False


def test_sync_failure_after_save_is_reported_with_the_id(fake, run_module, clock):
    register(fake, run_module)
    stored_id = cronicorn(fake)["id"]
    fake.fail_next(422, {"message": "Connection refused"}, count=10, method="POST")
    outcome = run_module(module, args(auth=KEY_AUTH, details={"schema-filters-type": "all"}, sync=True))
    assert outcome.failed
    assert outcome.result["changed"] is True
    assert outcome.result["id"] == stored_id
    assert outcome.msg == (
        f"The database connection was saved (id {stored_id}), but the schema sync could not be started: POST "
        f"/api/database/{stored_id}/sync_schema failed: HTTP 422: Connection refused"
    )
    assert cronicorn(fake)["details"]["schema-filters-type"] == "all"


def test_details_missing_from_the_list_are_read_from_the_item(fake, run_module, monkeypatch):
    register(fake, run_module)
    original = fake.public

    def list_without_details(_req):
        entries = []
        for database in fake.databases.values():
            entry = original(database)
            entry.pop("details")
            entries.append(entry)
        return 200, json.dumps({"data": entries, "total": len(entries)}).encode()

    monkeypatch.setattr(fake, "_list", list_without_details)
    outcome = run_module(module, args(auth=KEY_AUTH))
    assert not outcome.failed, outcome.msg
    assert outcome.changed is False
    stored_id = cronicorn(fake)["id"]
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/database/"),
        ("GET", f"/api/database/{stored_id}"),
    ]


def test_no_details_for_this_user(fake, run_module):
    register(fake, run_module)
    original = fake.public

    def without_details(database):
        result = original(database)
        result.pop("details")
        return result

    fake.public = without_details
    outcome = run_module(module, args(auth=KEY_AUTH))
    assert outcome.failed
    assert "does not show the connection details" in outcome.msg


# -- sessions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "check_mode", "failed"),
    [
        ({}, False, False),  # create
        ({"sync": True}, False, False),  # create and sync
        ({}, True, False),  # check mode
        ({"state": "absent"}, False, False),
        ({"db_password": "Wrong-ro-pw-1"}, False, True),  # Metabase refuses the connection
        ({"host": "nowhere"}, False, True),
    ],
)
def test_every_run_ends_the_session_it_opened(fake, run_module, overrides, check_mode, failed):
    outcome = run_module(module, args(**overrides), check_mode=check_mode)
    assert outcome.failed is failed, outcome.msg
    assert len(fake.opened_sessions) == 1
    assert fake.sessions == {}
    last = fake.requests[-1]
    assert (last.method, last.path) == ("DELETE", "/api/session/")
    assert last.headers["x-metabase-session"] == fake.opened_sessions[0]


def test_an_api_key_run_logs_nothing_out(fake, run_module):
    outcome = run_module(module, args(auth=KEY_AUTH))
    assert not outcome.failed, outcome.msg
    assert fake.count("DELETE", "/api/session/") == 0
    assert fake.opened_sessions == []


def test_a_failed_logout_is_a_warning(fake, run_module, clock):
    fake.refuse_next(5, method="DELETE")
    outcome = run_module(module, args())
    assert not outcome.failed, outcome.msg
    assert outcome.changed is True
    (warning,) = outcome.warnings
    assert "Could not end the Metabase session" in warning
    assert "Connection refused" in warning


@pytest.mark.parametrize(("state", "changed"), [("present", True), ("absent", False)])
def test_check_mode_without_a_running_metabase_says_at_once_what_would_happen(fake, run_module, clock, state, changed):
    fake.refuse_next(10_000)
    outcome = run_module(module, args(state=state, wait_timeout=600), check_mode=True)
    assert not outcome.failed, outcome.msg
    assert outcome.changed is changed
    (warning,) = outcome.warnings
    assert warning.startswith("Check mode: Metabase is not running at http://metabase.test:3000")
    assert ("would be registered" if state == "present" else "looked for and removed") in warning
    assert clock.sleeps == []
    assert fake.count() == 1


def test_check_mode_with_a_running_metabase_still_fails_on_real_errors(fake, run_module, clock):
    outcome = run_module(module, args(password="Wrong-admin-pw-1"), check_mode=True)
    assert outcome.failed
    assert "HTTP 401" in outcome.msg


# -- secrets --------------------------------------------------------------------------------------


def test_no_secret_in_any_result_diff_warning_or_failure(fake, run_module, clock):
    outcomes = [
        run_module(module, args(), check_mode=True, diff=True),
        run_module(module, args(sync=True), diff=True),
        run_module(module, args(), diff=True),
        run_module(module, args(auth=KEY_AUTH, update_password="always"), diff=True),
        run_module(module, args(db_password="Wrong-ro-pw-9", update_password="always"), diff=True),
        run_module(module, args(password="Wrong-admin-pw-9")),
        run_module(module, args(auth={"url": URL, "api_key": API_KEY + "x"})),
        run_module(module, {**KEY_AUTH, "name": "Cronicorn", "engine": "h2", "state": "absent"}),
        run_module(module, {**KEY_AUTH, "name": "Cronicorn", "state": "absent"}, diff=True),
    ]
    secrets = fake.secrets() | {"Wrong-ro-pw-9", "Wrong-admin-pw-9", API_KEY + "x", REDACTED}
    assert fake.opened_sessions, "the scenarios should have created sessions"
    for outcome in outcomes:
        text = outcome.text()
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {text}"
    session_runs = [o for o in outcomes if not o.failed and o.no_log_values & set(fake.opened_sessions)]
    assert session_runs, "session ids must be registered as no_log values"


def test_real_module_output_masks_secrets(fake, capsys, monkeypatch):
    """Without the test doubles for exit_json: what Ansible would print."""
    from ansible.module_utils.testing import patch_module_args

    with (
        patch_module_args(args(sync=True, secret_details={"tunnel-pass": "Tunnel-Secret-1"})),
        pytest.raises(SystemExit),
    ):
        module.main()
    output = capsys.readouterr().out
    result = json.loads(output)
    assert result["changed"] is True
    for secret in fake.secrets() | {"Tunnel-Secret-1"}:
        assert secret not in output
    assert result["invocation"]["module_args"]["db_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
