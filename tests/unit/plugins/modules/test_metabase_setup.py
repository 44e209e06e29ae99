"""metabase_setup against the fake Metabase: setup needed, done, wrong credentials, weak password,
check mode, readiness, and that no secret ever shows."""

from __future__ import annotations

import pytest
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_setup as module
from fake_metabase import ADMIN_EMAIL, ADMIN_PASSWORD, API_KEY, SETUP_TOKEN

URL = "http://metabase.test:3000"
SETUP = {
    "url": URL,
    "username": ADMIN_EMAIL,
    "password": ADMIN_PASSWORD,
    "site_name": "Cronicorn monitoring",
    "site_locale": "en",
    "first_name": "Ada",
    "last_name": "Admin",
}


def test_setup_needed_posts_the_setup(fake_factory, run_module):
    fake = fake_factory(setup_done=False)
    outcome = run_module(module, SETUP, diff=True)
    assert not outcome.failed, outcome.msg
    assert outcome.changed is True
    assert outcome.result["setup_performed"] is True
    assert outcome.result["metabase_version"] == "v0.56.3"
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/session/properties"),
        ("POST", "/api/session/password-check"),
        ("POST", "/api/setup/"),
        ("DELETE", "/api/session/"),  # setup logged the new admin in: that session is ended
    ]
    assert fake.requests[1].body == {"password": ADMIN_PASSWORD}
    assert fake.requests[2].body == {
        "token": SETUP_TOKEN,
        "user": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "first_name": "Ada", "last_name": "Admin"},
        "prefs": {"site_name": "Cronicorn monitoring", "site_locale": "en"},
    }
    assert fake.users[ADMIN_EMAIL]["is_superuser"] is True
    assert outcome.result["diff"] == {
        "before": {"setup_done": False},
        "after": {"setup_done": True, "admin_email": ADMIN_EMAIL, "site_name": "Cronicorn monitoring"},
    }


def test_minimal_setup_payload(fake_factory, run_module):
    fake = fake_factory(setup_done=False)
    outcome = run_module(module, {"url": URL, "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "site_name": "M"})
    assert outcome.changed is True
    assert fake.requests[-2].body == {
        "token": SETUP_TOKEN,
        "user": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        "prefs": {"site_name": "M"},
    }


def test_setup_done_changes_nothing_and_verifies_the_login(fake, run_module):
    outcome = run_module(module, SETUP, diff=True)
    assert not outcome.failed, outcome.msg
    assert outcome.changed is False
    assert outcome.result["setup_performed"] is False
    assert outcome.result["user"] == {
        "id": fake.users[ADMIN_EMAIL]["id"],
        "email": ADMIN_EMAIL,
        "first_name": "Ada",
        "last_name": "Admin",
        "is_superuser": True,
    }
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/session/properties"),
        ("POST", "/api/session/"),
        ("GET", "/api/user/current"),
        ("DELETE", "/api/session/"),
    ]
    assert fake.sessions == {}
    # The diff reads Metabase's state: its site name (not the requested one, which setup alone sets)
    # and the admin who logged in. Nothing changes, so after is before.
    state = {"setup_done": True, "admin_email": ADMIN_EMAIL, "site_name": fake.site_name}
    assert outcome.result["diff"] == {"before": state, "after": state}


def test_setup_done_the_diff_shows_metabases_site_name_and_changes_nothing(fake, run_module):
    fake.site_name = "Renamed in the UI"
    outcome = run_module(module, SETUP, diff=True)
    assert not outcome.failed, outcome.msg
    assert outcome.changed is False
    assert outcome.result["diff"]["before"]["site_name"] == "Renamed in the UI"
    assert outcome.result["diff"]["after"] == outcome.result["diff"]["before"]
    assert fake.count("POST", "/api/setup/") == 0


def test_setup_then_rerun(fake_factory, run_module):
    fake = fake_factory(setup_done=False)
    assert run_module(module, SETUP).changed is True
    second = run_module(module, SETUP)
    assert not second.failed, second.msg
    assert second.changed is False
    assert fake.count("POST", "/api/setup/") == 1


def test_check_mode_then_setup_then_check(fake_factory, run_module):
    fake = fake_factory(setup_done=False)
    checked = run_module(module, SETUP, check_mode=True)
    assert checked.changed is True
    assert checked.result["setup_performed"] is True
    assert fake.count("POST", "/api/setup/") == 0
    assert not fake.has_user_setup

    assert run_module(module, SETUP).changed is True
    again = run_module(module, SETUP, check_mode=True)
    assert again.changed is False
    assert fake.count("POST", "/api/setup/") == 1


def test_setup_done_with_wrong_credentials(fake, run_module):
    outcome = run_module(module, dict(SETUP, password="Not-the-pw-1"))
    assert outcome.failed
    assert outcome.msg == (
        "POST /api/session/ failed: HTTP 401: password: did not match stored password. Hint: Metabase setup is "
        "already done, and these admin credentials do not log in; use the credentials of the existing "
        "administrator (this module never changes a password); do not retry in a loop: Metabase locks a "
        "username out after 10 failed logins within an hour."
    )
    assert outcome.result["status"] == 401
    assert outcome.result["changed"] is False
    assert "Not-the-pw-1" not in outcome.text()


def test_repeated_wrong_passwords_lead_to_a_lockout_message(fake, run_module, clock):
    outcomes = [run_module(module, dict(SETUP, password="Not-the-pw-1")) for _attempt in range(10)]
    assert all("do not retry in a loop" in outcome.msg for outcome in outcomes)
    locked = run_module(module, SETUP)  # the right password, now refused
    assert locked.failed
    assert "Too many attempts!" in locked.msg
    assert "locked this username out" in locked.msg
    assert "setup is already done" not in locked.msg
    assert fake.count("POST", "/api/session/") == 11  # never retried within a run


def test_setup_done_with_a_user_who_is_not_admin(fake, run_module):
    fake.add_user("analyst@example.com", "Analyst-pw-1")
    outcome = run_module(module, dict(SETUP, username="analyst@example.com", password="Analyst-pw-1"))
    assert outcome.failed
    assert outcome.msg == (
        "Metabase setup is done and analyst@example.com logs in, but is not a Metabase administrator. "
        "Hint: use the credentials of an administrator."
    )


PASSWORD_REFUSED = (
    "Metabase refuses this admin password (password is too common.), so setup would fail; nothing was set up. "
    "Hint: Metabase refuses the passwords on its list of about 12,000 common passwords"
)


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_refused_password_fails_before_setup(fake_factory, run_module, check_mode):
    fake = fake_factory(setup_done=False)
    outcome = run_module(module, dict(SETUP, password="password1"), check_mode=check_mode)
    assert outcome.failed
    assert outcome.msg.startswith(PASSWORD_REFUSED)
    assert "MB_PASSWORD_COMPLEXITY" in outcome.msg
    assert "password1" not in outcome.msg
    assert outcome.result["changed"] is False
    assert outcome.result["setup_performed"] is False
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/session/properties"),
        ("POST", "/api/session/password-check"),
    ]
    assert not fake.has_user_setup


def test_without_the_password_check_setup_itself_refuses(fake_factory, run_module):
    """A Metabase without /api/session/password-check (404): setup's own 400, nested like its body."""
    fake = fake_factory(setup_done=False)
    fake.fail_next(404, "API endpoint does not exist.", path="/api/session/password-check")
    outcome = run_module(module, dict(SETUP, password="password1"))
    assert outcome.failed
    assert outcome.msg.startswith("POST /api/setup/ failed: HTTP 400: user.password: password is too common. Hint: ")
    assert outcome.result["setup_performed"] is False
    assert not fake.has_user_setup


def test_setup_race_403(fake_factory, run_module):
    fake = fake_factory(setup_done=False)
    fake.fail_next(
        403,
        "The /api/setup route can only be used to create the first user, however a user currently exists.",
        path="/api/setup/",
    )
    outcome = run_module(module, SETUP)
    assert outcome.failed
    assert outcome.msg.startswith("POST /api/setup/ failed: HTTP 403: The /api/setup route can only be used")
    assert "run the task again" in outcome.msg


def test_setup_needed_without_a_token(fake_factory, run_module):
    fake = fake_factory(setup_done=False)
    fake.setup_token = None
    outcome = run_module(module, SETUP)
    assert outcome.failed
    assert "publishes no setup token" in outcome.msg
    assert fake.count("POST", "/api/setup/") == 0


def test_not_ready_then_ready(fake_factory, run_module, clock):
    fake = fake_factory(setup_done=False)
    fake.initializing = 2
    fake.refuse_next(1)
    outcome = run_module(module, SETUP)
    assert not outcome.failed, outcome.msg
    assert outcome.changed is True
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/session/properties"),  # refused
        ("GET", "/api/health"),  # 503
        ("GET", "/api/health"),  # 503
        ("GET", "/api/health"),  # ok
        ("GET", "/api/session/properties"),
        ("POST", "/api/session/password-check"),
        ("POST", "/api/setup/"),
        ("DELETE", "/api/session/"),
    ]


def test_api_key_from_module_defaults_is_ignored(fake, run_module):
    outcome = run_module(module, dict(SETUP, api_key=API_KEY))
    assert outcome.changed is False
    assert fake.count("POST", "/api/session/") == 1
    assert all("x-api-key" not in r.headers for r in fake.requests)


# -- sessions: every run ends the sessions it opened -------------------------------------------------


def test_setup_ends_the_session_it_opened(fake_factory, run_module):
    fake = fake_factory(setup_done=False)
    outcome = run_module(module, SETUP)
    assert not outcome.failed, outcome.msg
    (session_id,) = fake.opened_sessions
    assert fake.sessions == {}
    assert fake.requests[-1].headers["x-metabase-session"] == session_id


@pytest.mark.parametrize(
    ("check_mode", "user", "failed"),
    [
        (False, (ADMIN_EMAIL, ADMIN_PASSWORD), False),
        (True, (ADMIN_EMAIL, ADMIN_PASSWORD), False),
        (False, ("analyst@example.com", "Analyst-pw-1"), True),  # logs in, then fails: not an admin
    ],
)
def test_verification_ends_its_login_session(fake, run_module, check_mode, user, failed):
    fake.add_user("analyst@example.com", "Analyst-pw-1")
    outcome = run_module(module, dict(SETUP, username=user[0], password=user[1]), check_mode=check_mode)
    assert outcome.failed is failed, outcome.msg
    assert len(fake.opened_sessions) == 1
    assert fake.sessions == {}
    assert (fake.requests[-1].method, fake.requests[-1].path) == ("DELETE", "/api/session/")


def test_a_failed_logout_is_a_warning_not_a_failure(fake, run_module, clock):
    fake.fail_next(500, {"message": "boom"}, count=5, method="DELETE")
    outcome = run_module(module, SETUP)
    assert not outcome.failed, outcome.msg
    assert outcome.changed is False
    (warning,) = outcome.warnings
    assert warning.startswith("Could not end the Metabase session this module opened (DELETE /api/session/ failed")
    for secret in fake.secrets():
        assert secret not in warning


@pytest.mark.parametrize("fault", ["refused", "initializing", "proxy"])
def test_check_mode_without_a_running_metabase_says_at_once_what_would_happen(fake_factory, run_module, clock, fault):
    """site.yml --check on a new host: no Metabase yet. The dry run must not wait wait_timeout."""
    fake = fake_factory(setup_done=False)
    if fault == "refused":
        fake.refuse_next(10_000)
    elif fault == "initializing":
        fake.initializing = 10_000
    else:
        fake.fail_next(502, "<html><title>502 Bad Gateway</title></html>", count=10_000)
    outcome = run_module(module, dict(SETUP, wait_timeout=600), check_mode=True)
    assert not outcome.failed, outcome.msg
    assert outcome.changed is True
    assert outcome.result["setup_performed"] is True
    (warning,) = outcome.warnings
    assert warning.startswith("Check mode: Metabase is not running at http://metabase.test:3000")
    assert "setup would be done for admin@example.com" in warning
    assert clock.sleeps == []  # no readiness wait, no retry
    assert fake.count() == 1


def test_outside_check_mode_a_missing_metabase_still_fails_after_waiting(fake_factory, run_module, clock):
    fake = fake_factory(setup_done=False)
    fake.refuse_next(10_000)
    outcome = run_module(module, dict(SETUP, wait_timeout=30))
    assert outcome.failed
    assert "was not ready within 30 seconds" in outcome.msg
    assert sum(clock.sleeps) >= 30


def test_setup_helpers():
    assert module.setup_needed({"has-user-setup": False, "setup-token": "t"}) is True
    assert module.setup_needed({"has-user-setup": True, "setup-token": "t"}) is False  # token kept after setup
    assert module.setup_needed({"setup-token": "t"}) is True
    assert module.setup_needed({}) is False
    assert module.version_tag({"version": {"tag": "v0.50.1"}}) == "v0.50.1"
    assert module.version_tag({"version": "x"}) is None


def test_no_secret_in_any_result_diff_or_failure(fake_factory, run_module, clock):
    fake = fake_factory(setup_done=False)
    outcomes = [
        run_module(module, SETUP, check_mode=True, diff=True),
        run_module(module, dict(SETUP, password="password1"), diff=True),
        run_module(module, SETUP, diff=True),
        run_module(module, SETUP, diff=True),
        run_module(module, dict(SETUP, password="Wrong-pw-77", api_key=API_KEY), diff=True),
    ]
    secrets = fake.secrets() | {"password1", "Wrong-pw-77"}
    assert fake.opened_sessions
    for outcome in outcomes:
        text = outcome.text()
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {text}"
    # The setup token and the session ids reach Ansible's no_log masking as well.
    assert SETUP_TOKEN in outcomes[2].no_log_values
    assert set(fake.opened_sessions) & outcomes[3].no_log_values
