"""The Metabase client: URLs, auth, readiness, retries and error messages, against the fake Metabase."""

from __future__ import annotations

import socket
import ssl
from urllib.error import HTTPError, URLError

import pytest
import yaml
from ansible_collections.cronicorn.monitoring.plugins.doc_fragments.metabase import ModuleDocFragment
from ansible_collections.cronicorn.monitoring.plugins.module_utils import metabase as mb
from fake_metabase import ADMIN_EMAIL, ADMIN_PASSWORD, API_KEY, RO_PASSWORD

URL = "http://metabase.test:3000"


def session_client(**kwargs):
    return mb.MetabaseClient(URL, username=ADMIN_EMAIL, password=ADMIN_PASSWORD, **kwargs)


def key_client(**kwargs):
    return mb.MetabaseClient(URL, api_key=API_KEY, **kwargs)


# -- URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("base", [URL, URL + "/", URL + "//"])
def test_url_join_keeps_the_spec_path_keys(base):
    client = mb.MetabaseClient(base, api_key=API_KEY)
    assert client.url_for("/api/database/") == URL + "/api/database/"
    assert client.url_for("/api/database/7") == URL + "/api/database/7"
    assert client.url_for("api/setup/") == URL + "/api/setup/"


def test_url_join_under_a_path_prefix_and_query_encoding():
    client = mb.MetabaseClient("https://example.com/metabase/", api_key=API_KEY)
    url = client.url_for("/api/database/", {"include": "tables", "saved": True, "skip": None})
    assert url == "https://example.com/metabase/api/database/?include=tables&saved=true"


def test_argument_spec_matches_the_doc_fragment():
    spec = mb.metabase_argument_spec()
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(spec) == set(options)
    for name, option in options.items():
        assert spec[name]["type"] == option["type"], name
        assert spec[name].get("default") == option.get("default"), name
        assert bool(spec[name].get("required")) == bool(option.get("required")), name
    assert spec["password"]["no_log"] is True
    assert spec["api_key"]["no_log"] is True
    assert spec["wait_timeout"]["default"] == 120


# -- auth -----------------------------------------------------------------------------------------


def test_api_key_is_sent_as_x_api_key_and_no_login_happens(fake):
    databases = key_client().list_databases()
    assert [db["name"] for db in databases] == ["Sample Database"]
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/api/database/")]
    assert fake.requests[0].headers["x-api-key"] == API_KEY
    assert "x-metabase-session" not in fake.requests[0].headers


def test_session_login_is_lazy_and_happens_once(fake):
    client = session_client()
    assert fake.requests == []
    client.list_databases()
    client.current_user()
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/api/session/"),
        ("GET", "/api/database/"),
        ("GET", "/api/user/current"),
    ]
    assert fake.requests[0].body == {"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    session_id = fake.requests[1].headers["x-metabase-session"]
    assert session_id in fake.sessions
    assert fake.requests[2].headers["x-metabase-session"] == session_id


def test_wrong_password_fails_with_metabase_words_and_a_hint(fake):
    client = mb.MetabaseClient(URL, username=ADMIN_EMAIL, password="Wrong-pw-1")
    with pytest.raises(mb.MetabaseError) as caught:
        client.list_databases()
    message = str(caught.value)
    assert message.startswith("POST /api/session/ failed: HTTP 401: password: did not match stored password. Hint: ")
    assert "Wrong-pw-1" not in message
    assert caught.value.status == 401
    assert caught.value.errors == {"password": "did not match stored password"}
    assert fake.count() == 1  # 4xx: never retried


def test_a_wrong_password_is_never_sent_again_and_warns_of_the_lockout(fake, clock):
    client = mb.MetabaseClient(URL, username=ADMIN_EMAIL, password="Wrong-pw-1")
    with pytest.raises(mb.MetabaseError) as caught:
        client.list_databases()
    assert "do not retry in a loop: Metabase locks a username out after 10 failed logins" in str(caught.value)
    assert fake.count("POST", "/api/session/") == 1
    assert clock.sleeps == []


def test_a_locked_out_login_names_the_lockout(fake, clock):
    for _attempt in range(10):
        with pytest.raises(mb.MetabaseError):
            mb.MetabaseClient(URL, username=ADMIN_EMAIL, password="Wrong-pw-1").list_databases()
    client = session_client()  # the right password, refused all the same
    with pytest.raises(mb.MetabaseError) as caught:
        client.list_databases()
    message = str(caught.value)
    assert message.startswith(
        "POST /api/session/ failed: HTTP 401: username: Too many attempts! You must wait 15 seconds before "
        "trying again. Hint: Metabase's login throttle locked this username out"
    )
    assert "Stop retrying" in message
    assert ADMIN_PASSWORD not in message
    assert mb.is_login_throttled(caught.value)
    assert fake.count("POST", "/api/session/") == 11  # one request per attempt, none repeated
    assert clock.sleeps == []


def test_is_login_throttled_reads_only_the_throttle_text():
    def error(status, errors):
        return mb.MetabaseError("POST", "/api/session/", "x", status=status, errors=errors)

    assert mb.is_login_throttled(error(401, {"username": "Too many attempts! Please try again later."}))
    assert mb.is_login_throttled(
        error(400, {"email": "Too many attempts! You must wait 3 seconds before trying again."})
    )
    assert not mb.is_login_throttled(error(401, {"password": "did not match stored password"}))
    assert not mb.is_login_throttled(error(500, {"username": "Too many attempts!"}))


def test_wrong_api_key_fails_with_unauthenticated(fake):
    client = mb.MetabaseClient(URL, api_key="mb_not-a-valid-key")
    with pytest.raises(mb.MetabaseError) as caught:
        client.list_databases()
    assert str(caught.value) == (
        "GET /api/database/ failed: HTTP 401: Unauthenticated. Hint: check the credentials: api_key, or username "
        "and password of a Metabase user."
    )
    assert "mb_not-a-valid-key" not in str(caught.value)


def test_no_credentials_is_a_clear_error(fake):
    with pytest.raises(mb.MetabaseError, match="no credentials to log in with"):
        mb.MetabaseClient(URL).list_databases()
    assert fake.requests == []


# -- logout ---------------------------------------------------------------------------------------


def test_logout_ends_the_session_the_client_opened(fake):
    client = session_client()
    client.list_databases()
    (session_id,) = fake.sessions
    assert client.logout() == []
    assert fake.sessions == {}
    delete = fake.requests[-1]
    assert (delete.method, delete.path) == ("DELETE", "/api/session/")
    assert delete.headers["x-metabase-session"] == session_id
    assert "x-api-key" not in delete.headers
    # A second logout has nothing left to end; a later request logs in again.
    count = fake.count()
    assert client.logout() == []
    assert fake.count() == count
    client.list_databases()
    assert [(r.method, r.path) for r in fake.requests[count:]] == [
        ("POST", "/api/session/"),
        ("GET", "/api/database/"),
    ]


@pytest.mark.parametrize("use", ["api_key", "never_logged_in", "only_public_requests"])
def test_logout_is_a_no_op_without_a_session(fake, use):
    if use == "api_key":
        client = key_client()
        client.list_databases()
    else:
        client = session_client()
        if use == "only_public_requests":
            client.session_properties()
    count = fake.count()
    assert client.logout() == []
    assert fake.count() == count
    assert fake.count("DELETE") == 0


def test_logout_ends_an_adopted_setup_session(fake_factory):
    fake = fake_factory(setup_done=False)
    client = session_client()
    answer = client.request(
        "POST",
        "/api/setup/",
        body={
            "token": fake.setup_token,
            "user": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            "prefs": {"site_name": "M"},
        },
        auth=False,
        idempotent=False,
    )
    client.adopt_session(answer["id"])
    assert client.current_user()["email"] == ADMIN_EMAIL
    assert fake.count("POST", "/api/session/") == 0  # the setup session is used, no extra login
    assert client.logout() == []
    assert fake.sessions == {}


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("refused", "DELETE /api/session/ failed: connection error: [Errno 111] Connection refused"),
        ("timeout", "DELETE /api/session/ failed: timed out waiting for an answer"),
        ("500", "DELETE /api/session/ failed: HTTP 500: boom"),
        ("503", "DELETE /api/session/ failed: HTTP 503: Metabase is still initializing"),
    ],
)
def test_logout_never_raises_and_never_waits(fake, clock, fault, expected):
    client = session_client()
    client.list_databases()
    (session_id,) = fake.sessions
    if fault == "refused":
        fake.refuse_next(5, method="DELETE")
    elif fault == "timeout":
        fake.timeout_next(5, method="DELETE")
    elif fault == "500":
        fake.fail_next(500, {"message": "boom " + session_id}, count=5, method="DELETE")
    else:
        fake.fail_next(503, "Metabase is still initializing. Please sit tight...", count=5, method="DELETE")
    warnings = client.logout()
    assert len(warnings) == 1
    assert expected in warnings[0]
    assert "expires it on its own" in warnings[0]
    assert session_id not in warnings[0]
    assert fake.count("DELETE") == 1  # one attempt, no retry
    assert fake.count("GET", "/api/health") == 0  # no readiness wait
    assert clock.sleeps == []


def test_logout_of_a_session_metabase_already_ended_is_quiet(fake):
    client = session_client()
    client.list_databases()
    fake.sessions.clear()  # expired or deleted meanwhile: Metabase answers 404
    assert client.logout() == []
    assert fake.count("DELETE", "/api/session/") == 1


def test_logout_survives_an_unexpected_transport_exception():
    def transport(method, url, **kwargs):
        if method == "DELETE":
            raise ValueError("something odd")
        return 200, b'{"id": "5b1e0e52-1111-4222-8333-944455556666"}'

    client = mb.MetabaseClient(URL, username=ADMIN_EMAIL, password=ADMIN_PASSWORD, transport=transport)
    client.login()
    (warning,) = client.logout()
    assert "DELETE /api/session/ failed: ValueError" in warning


# -- error messages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"message": "Looks like your Password is incorrect.", "errors": {"password": "check your password"}},
            "Looks like your Password is incorrect. (password: check your password)",
        ),
        ({"errors": {"password": "did not match stored password"}}, "password: did not match stored password"),
        ({"errors": {"_error": "Your account is disabled."}}, "Your account is disabled."),
        ({"errors": {"b": "second", "a": "first"}}, "a: first; b: second"),
        ({"message": "Nope", "stacktrace": ["secret frame"], "data": {"password": "x"}}, "Nope"),
        ({"status": "initializing", "progress": 0.3}, "status initializing"),
        ({"via": [{"type": "clojure.lang.ExceptionInfo"}]}, "(no error message in Metabase's answer)"),
        ("Unauthenticated", "Unauthenticated"),
        ("  API endpoint\n does not exist.  ", "API endpoint does not exist."),
        (None, "(empty answer)"),
    ],
)
def test_error_text_uses_only_message_and_errors(payload, expected):
    assert mb.error_text(payload)[0] == expected


def test_error_text_truncates_long_text():
    text = mb.error_text("x" * 2000)[0]
    assert len(text) == mb.MAX_ERROR_TEXT + 3


def test_database_refusal_message(fake):
    fake.fail_next(
        400,
        {"message": "Looks like your Password is incorrect.", "errors": {"password": "check your password"}},
        method="POST",
        path="/api/database/",
    )
    client = key_client()
    with pytest.raises(mb.MetabaseError) as caught:
        client.request(
            "POST",
            "/api/database/",
            body={"name": "X", "engine": "postgres", "details": {"password": RO_PASSWORD}},
            idempotent=False,
            hints={400: "Metabase refused the connection"},
        )
    assert str(caught.value) == (
        "POST /api/database/ failed: HTTP 400: Looks like your Password is incorrect. (password: check your "
        "password). Hint: Metabase refused the connection."
    )
    assert RO_PASSWORD not in str(caught.value)


def test_secrets_echoed_by_metabase_are_scrubbed(fake):
    fake.fail_next(400, {"message": "bad value {} and {}".format(API_KEY, "Extra-Secret-9")}, path="/api/database/")
    client = key_client()
    client.add_secret("Extra-Secret-9")
    with pytest.raises(mb.MetabaseError) as caught:
        client.list_databases()
    assert API_KEY not in str(caught.value)
    assert "Extra-Secret-9" not in str(caught.value)
    assert "bad value ******** and ********" in str(caught.value)


def test_session_id_is_reported_as_a_secret(fake):
    learned = []
    client = session_client(on_secret=learned.append)
    client.current_user()
    (session_id,) = fake.sessions
    assert session_id in learned
    assert ADMIN_PASSWORD in learned


# -- readiness ------------------------------------------------------------------------------------


def test_not_ready_then_ready(fake, clock):
    fake.initializing = 3
    databases = key_client().list_databases()
    assert databases
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/database/"),  # 503 "still initializing"
        ("GET", "/api/health"),  # 503 initializing
        ("GET", "/api/health"),
        ("GET", "/api/health"),
        ("GET", "/api/health"),  # 200 ok
        ("GET", "/api/database/"),
    ]
    assert clock.sleeps == [mb.HEALTH_POLL_INTERVAL] * 3


def test_connection_refused_then_ready(fake, clock):
    fake.refuse_next(2)
    key_client().list_databases()
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/database/"),  # refused
        ("GET", "/api/health"),  # refused
        ("GET", "/api/health"),  # ok
        ("GET", "/api/database/"),
    ]
    assert clock.sleeps == [mb.HEALTH_POLL_INTERVAL]


def test_readiness_wait_is_bounded(fake, clock):
    fake.initializing = 10_000
    with pytest.raises(mb.MetabaseError) as caught:
        key_client(wait_timeout=7).list_databases()
    message = str(caught.value)
    assert message.startswith(
        "GET /api/health failed: Metabase at http://metabase.test:3000 was not ready within 7 seconds"
    )
    assert "last answer: HTTP 503: status initializing" in message
    assert sum(clock.sleeps) == pytest.approx(7)
    assert fake.count("GET", "/api/health") == 5  # t=0, 2, 4, 6, 7


def test_wait_until_ready_directly(fake, clock):
    fake.initializing = 1
    assert key_client().wait_until_ready() == {"status": "ok"}
    assert fake.count("GET", "/api/health") == 2


def test_health_4xx_fails_fast(fake, clock):
    fake.fail_next(404, "Not found", path="/api/health", count=5)
    with pytest.raises(mb.MetabaseError) as caught:
        key_client().wait_until_ready()
    assert str(caught.value) == (
        "GET /api/health failed: HTTP 404: Not found. Hint: url does not look like the base URL of Metabase."
    )
    assert clock.sleeps == []


def test_wait_timeout_zero_does_not_poll_health(fake, clock):
    fake.initializing = 100
    with pytest.raises(mb.MetabaseError, match=r"HTTP 503: Metabase is still initializing"):
        key_client(wait_timeout=0).list_databases()
    assert fake.count("GET", "/api/health") == 0
    assert fake.count("GET", "/api/database/") == 1 + mb.DEFAULT_MAX_RETRIES


# -- readiness behind a proxy (nginx answers for a Metabase that is down) ---------------------------

NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
NGINX_503 = NGINX_502.replace("502 Bad Gateway", "503 Service Temporarily Unavailable")
NGINX_504 = NGINX_502.replace("502 Bad Gateway", "504 Gateway Time-out")
METABASE_INITIALIZING = "Metabase is still initializing. Please sit tight..."


@pytest.mark.parametrize(("status", "page"), [(502, NGINX_502), (504, NGINX_504), (503, NGINX_503)])
def test_a_proxy_error_means_not_ready_and_is_waited_out(fake, clock, status, page):
    """Metabase restarting behind nginx: every request, health included, gets the proxy's page for a while,
    longer than the backoff retries would cover."""
    fake.fail_next(status, page, count=10)
    assert key_client().list_databases()
    assert fake.count("GET", "/api/database/") == 2  # the first answer, then once ready
    assert fake.count("GET", "/api/health") == 10  # 9 proxy pages, then ok
    assert clock.sleeps == [mb.HEALTH_POLL_INTERVAL] * 9


def test_the_readiness_wait_behind_a_proxy_is_bounded_and_says_what_it_saw(fake, clock):
    fake.fail_next(502, NGINX_502, count=10_000)
    with pytest.raises(mb.MetabaseError) as caught:
        key_client(wait_timeout=6).list_databases()
    message = str(caught.value)
    assert "was not ready within 6 seconds (last answer: HTTP 502: 502 Bad Gateway)" in message
    assert "<html>" not in message
    assert sum(clock.sleeps) == pytest.approx(6)


@pytest.mark.parametrize(("status", "page"), [(502, NGINX_502), (504, NGINX_504), (503, NGINX_503)])
def test_a_create_is_not_resent_after_a_proxy_error(fake, clock, status, page):
    """nginx's 502/504 (and its own 503) do not say whether Metabase got the request: a 504 is often a
    slow connection test that goes on to save the database. Only Metabase's own 503 is safe to resend."""
    fake.fail_next(status, page, count=1, method="POST")
    body = {"name": "X", "engine": "h2", "details": {"db": "mem:x"}}
    with pytest.raises(mb.MetabaseError) as caught:
        key_client().request("POST", "/api/database/", body=body, idempotent=False)
    message = str(caught.value)
    assert message.startswith(
        f"POST /api/database/ failed: HTTP {status}: {page.split('<title>')[1].split('<')[0]}. Hint: Metabase is down"
    )
    assert "may have carried out the request" in message
    assert fake.count("POST", "/api/database/") == 1


def test_a_create_is_resent_after_metabase_s_own_initializing_answer(fake, clock):
    fake.fail_next(503, METABASE_INITIALIZING, count=1, method="POST")
    fake.initializing = 2  # health: 503 initializing twice, then ok
    body = {"name": "X", "engine": "h2", "details": {"db": "mem:x"}}
    created = key_client().request("POST", "/api/database/", body=body, idempotent=False)
    assert created["name"] == "X"
    assert fake.count("POST", "/api/database/") == 2
    assert fake.count("GET", "/api/health") == 3
    assert len([db for db in fake.databases.values() if db["name"] == "X"]) == 1


def test_html_error_pages_are_reduced_to_their_title():
    assert mb.error_text(NGINX_504)[0] == "504 Gateway Time-out"
    assert mb.error_text("<p>no title</p>")[0] == "<p>no title</p>"


# -- retries --------------------------------------------------------------------------------------


def test_5xx_is_retried_with_exponential_backoff(fake, clock):
    fake.fail_next(500, {"message": "boom"}, count=2, path="/api/database/")
    assert key_client().list_databases()
    assert fake.count("GET", "/api/database/") == 3
    assert clock.sleeps == [1.0, 2.0]


def test_5xx_retries_are_bounded(fake, clock):
    fake.fail_next(500, {"message": "boom"}, count=100, path="/api/database/")
    with pytest.raises(mb.MetabaseError) as caught:
        key_client().list_databases()
    assert str(caught.value) == (
        "GET /api/database/ failed: HTTP 500: boom. Hint: Metabase reported a server error; see the Metabase logs."
    )
    assert fake.count("GET", "/api/database/") == 1 + mb.DEFAULT_MAX_RETRIES
    assert clock.sleeps == [1.0, 2.0, 4.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_4xx_is_never_retried(fake, clock, status):
    fake.fail_next(status, {"message": "no"}, count=5, path="/api/database/")
    with pytest.raises(mb.MetabaseError):
        key_client().list_databases()
    assert fake.count("GET", "/api/database/") == 1
    assert clock.sleeps == []


def test_a_create_is_not_repeated_after_a_5xx(fake, clock):
    """POST /api/database/ is not idempotent (duplicates are allowed): a 500 may have saved it."""
    fake.fail_next(500, {"message": "boom"}, count=5, method="POST")
    body = {"name": "X", "engine": "h2", "details": {"db": "mem:x"}}
    with pytest.raises(mb.MetabaseError, match="HTTP 500: boom"):
        key_client().request("POST", "/api/database/", body=body, idempotent=False)
    assert fake.count("POST", "/api/database/") == 1


def test_a_create_is_repeated_when_it_never_reached_metabase(fake, clock):
    fake.refuse_next(1, method="POST")
    fake.fail_next(503, "Metabase is still initializing. Please sit tight...", count=1, method="POST")
    body = {"name": "X", "engine": "h2", "details": {"db": "mem:x"}}
    created = key_client(wait_timeout=0).request("POST", "/api/database/", body=body, idempotent=False)
    assert created["name"] == "X"
    assert fake.count("POST", "/api/database/") == 3
    assert len([db for db in fake.databases.values() if db["name"] == "X"]) == 1


def test_timeouts_are_retried_only_when_idempotent(fake, clock):
    fake.timeout_next(1, method="GET")
    assert key_client().list_databases()
    assert fake.count("GET", "/api/database/") == 2
    fake.timeout_next(1, method="POST")
    with pytest.raises(
        mb.MetabaseError, match=r"POST /api/database/ failed: timed out waiting for an answer\. Hint: Metabase may"
    ):
        key_client().request(
            "POST", "/api/database/", body={"name": "Y", "engine": "h2", "details": {}}, idempotent=False
        )
    assert fake.count("POST", "/api/database/") == 1


def test_connection_errors_retries_are_bounded(fake, clock):
    fake.refuse_next(100)
    with pytest.raises(mb.MetabaseError) as caught:
        key_client(wait_timeout=0).list_databases()
    assert str(caught.value).startswith(
        "GET /api/database/ failed: connection error: [Errno 111] Connection refused. Hint: check that url is right"
    )
    assert fake.count("GET", "/api/database/") == 1 + mb.DEFAULT_MAX_RETRIES


def test_tls_validation_errors_are_not_retried(clock):
    calls = []

    def transport(method, url, **kwargs):
        calls.append(url)
        raise mb.TransportError(
            "TLS certificate validation failed (SSLValidationError)", request_sent=False, retryable=False
        )

    client = mb.MetabaseClient("https://metabase.test", api_key=API_KEY, transport=transport)
    with pytest.raises(mb.MetabaseError, match="TLS certificate validation failed"):
        client.list_databases()
    assert len(calls) == 1


# -- list shapes ----------------------------------------------------------------------------------


def test_list_databases_accepts_a_bare_list(fake_factory):
    fake_factory(list_shape="bare")
    assert [db["name"] for db in key_client().list_databases()] == ["Sample Database"]


def test_list_databases_rejects_other_answers(fake):
    fake.fail_next(200, {"something": "else"}, path="/api/database/")
    with pytest.raises(mb.MetabaseError, match="unexpected answer"):
        key_client().list_databases()


# -- the urls transport (open_url replaced: no sockets) -------------------------------------------


class _Response:
    def __init__(self, status, body):
        self.status, self.body, self.closed = status, body, False

    def getcode(self):
        return self.status

    def read(self):
        return self.body

    def close(self):
        self.closed = True


def test_urls_transport_success(monkeypatch):
    seen = {}

    def open_url(url, **kwargs):
        seen.update(kwargs, url=url)
        return _Response(200, b'{"status": "ok"}')

    monkeypatch.setattr(mb, "open_url", open_url)
    status, body = mb.urls_transport(
        "GET",
        URL + "/api/health",
        headers={"X-API-Key": API_KEY},
        data=None,
        timeout=5,
        validate_certs=False,
        ca_path="/etc/ssl/proxy.pem",
    )
    assert (status, body) == (200, b'{"status": "ok"}')
    assert seen["method"] == "GET"
    assert seen["timeout"] == 5
    assert seen["validate_certs"] is False
    assert seen["ca_path"] == "/etc/ssl/proxy.pem"
    assert seen["follow_redirects"] == "safe"
    assert set(seen["unredirected_headers"]) == {"X-API-Key", "X-Metabase-Session"}


def test_urls_transport_returns_http_errors_as_answers(monkeypatch):
    class FakeFp:
        def read(self):
            return b"Unauthenticated"

        def close(self):
            pass

    def open_url(url, **kwargs):
        raise HTTPError(url, 401, "Unauthorized", {}, FakeFp())

    monkeypatch.setattr(mb, "open_url", open_url)
    assert mb.urls_transport("GET", URL + "/api/user/current") == (401, b"Unauthenticated")


@pytest.mark.parametrize(
    ("error", "sent", "retryable"),
    [
        (URLError(ConnectionRefusedError(111, "Connection refused")), False, True),
        (URLError(socket.gaierror(-2, "Name or service not known")), False, True),
        (URLError(TimeoutError("timed out")), True, True),
        (TimeoutError("timed out"), True, True),
        (ConnectionResetError(104, "Connection reset by peer"), True, True),
        (mb.SSLValidationError("certificate verify failed"), False, False),
        (URLError(ssl.SSLCertVerificationError(1, "certificate verify failed")), False, False),  # ansible-core 2.19
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), False, False),
        (ssl.SSLError("bad handshake"), True, True),
    ],
)
def test_urls_transport_maps_connection_errors(monkeypatch, error, sent, retryable):
    def open_url(url, **kwargs):
        raise error

    monkeypatch.setattr(mb, "open_url", open_url)
    with pytest.raises(mb.TransportError) as caught:
        mb.urls_transport("GET", "http://user:pw@metabase.test/api/health")
    assert caught.value.request_sent is sent
    assert caught.value.retryable is retryable
    assert "user:pw" not in caught.value.reason
    assert "metabase.test" not in caught.value.reason


def test_strip_userinfo():
    assert mb.strip_userinfo("http://u:p@host:3000/x") == "http://host:3000/x"
    assert mb.strip_userinfo("http://host:3000") == "http://host:3000"


def test_client_hands_ca_path_to_every_request():
    seen = []

    def transport(method, url, **kwargs):
        seen.append(kwargs["ca_path"])
        return 200, b'{"status": "ok"}'

    client = mb.MetabaseClient(URL, api_key=API_KEY, ca_path="/etc/ssl/proxy.pem", transport=transport)
    client.request("GET", "/api/health", auth=False)
    assert seen == ["/etc/ssl/proxy.pem"]
