# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one Metabase REST client of cronicorn.monitoring.

Every Metabase HTTP request of the collection goes through :class:`MetabaseClient`. It is built on
``ansible.module_utils.urls.open_url`` (no third-party HTTP library on the target) and knows:

* the base URL join (paths are the spec's path keys, collection roots keep their trailing slash);
* authentication: ``X-API-Key`` when an API key is given, otherwise a session from
  ``POST /api/session/`` sent back as ``X-Metabase-Session`` (logged in lazily, once), ended with
  ``DELETE /api/session/`` by :meth:`MetabaseClient.logout` (a module built with
  :meth:`MetabaseClient.from_module` logs out before it exits, success or failure);
* readiness: when Metabase refuses the connection or answers 503 (still initializing), it polls
  ``GET /api/health`` until ready, bounded by ``wait_timeout``;
* bounded retries with exponential backoff on connection errors and 5xx answers, never on 4xx;
  a request that is not idempotent (``POST /api/database/`` creates a duplicate when repeated) is only
  repeated when it certainly did not reach Metabase's handler (connection refused, 503);
* error messages ``METHOD /path failed: HTTP 400: <Metabase's message or errors>`` plus a hint, built
  only from Metabase's ``message``/``errors`` text and scrubbed of every secret the client knows.

The transport is injectable (``transport=`` argument, or the module attribute ``DEFAULT_TRANSPORT``)
so unit tests fake Metabase at this boundary without sockets.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit, urlunsplit

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

#: What Metabase puts in place of every secret it returns (``details.password`` etc.).
REDACTED = "**MetabasePass**"

#: How this collection shows a secret in results and diffs.
MASK = "********"

#: ``details`` keys that Metabase treats as secrets and never returns in clear
#: (driver/util.clj ``default-sensitive-fields`` plus the usual driver secret properties).
SENSITIVE_DETAIL_KEYS = frozenset(
    [
        "password",
        "pass",
        "tunnel-pass",
        "tunnel-private-key",
        "tunnel-private-key-passphrase",
        "access-token",
        "refresh-token",
        "service-account-json",
        "ssl-key-password-value",
        "ssl-key-value",
        "ssl-keystore-password-value",
        "ssl-truststore-password-value",
        "client-secret",
    ]
)

#: Headers that carry credentials; never forwarded on a redirect.
AUTH_HEADERS = ("X-API-Key", "X-Metabase-Session")

USER_AGENT = "cronicorn.monitoring"

DEFAULT_TIMEOUT = 30
DEFAULT_WAIT_TIMEOUT = 120
DEFAULT_MAX_RETRIES = 3
DEFAULT_BACKOFF = 1.0
BACKOFF_CAP = 8.0
HEALTH_POLL_INTERVAL = 2.0
MAX_ERROR_TEXT = 500

IDEMPOTENT_METHODS = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")

#: The plain-text body of Metabase's 503 to every ``/api/*`` route but ``/api/health`` while it
#: initializes (server/routes.clj): the request reached no handler, so it is safe to send again.
INITIALIZING_TEXT = "Metabase is still initializing"

#: Answers that mean "Metabase is not there (yet)": its own 503 while initializing, and what a reverse
#: proxy in front of it answers while it is down or slow (502 Bad Gateway, 503, 504 Gateway Timeout).
NOT_READY_STATUSES = (502, 503, 504)

#: How Metabase's login throttle (metabase/throttle) starts its refusals, under ``errors.username``.
THROTTLED_TEXT = "Too many attempts"

LOGIN_HINTS = {
    401: "check username and password of the Metabase user; do not retry in a loop: Metabase locks a "
    "username out after 10 failed logins within an hour",
    400: "username and password must not be empty",
}

LOCKOUT_HINT = (
    "Metabase's login throttle locked this username out (10 failed logins within an hour, or 50 from "
    "the same source address), most likely after earlier runs with a wrong password; every refused "
    "attempt counts as another failure, the right password included. Stop retrying, check the password, "
    "and run again an hour after the last attempt (restarting Metabase also clears the counters)"
)

MAYBE_DONE = "Metabase may have carried out the request anyway; run again to see what exists"
PROXY_MAYBE_DONE = (
    "Metabase is down, restarting or too slow for the proxy in front of it; it may have carried out the "
    "request anyway; run again to see what exists"
)

DEFAULT_HINTS = {
    401: "check the credentials: api_key, or username and password of a Metabase user",
    403: "the Metabase account needs administrator (superuser) rights for this",
    404: "check that url is the base URL of Metabase (without /api) and that the object exists",
    "5xx": "Metabase reported a server error; see the Metabase logs",
    "transport": "check that url is right and Metabase is running and reachable from where the module runs",
    "tls": "the TLS certificate of url does not validate: give the CA that signed it in ca_path (for a "
    "self-signed certificate, the certificate itself), or set validate_certs to false for an instance you control",
}


def metabase_argument_spec():
    """Options shared by every module of the ``metabase`` action group.

    Documented by the ``cronicorn.monitoring.metabase`` doc fragment; keep both in step.
    """
    return dict(
        url=dict(type="str", required=True),
        api_key=dict(type="str", no_log=True),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        timeout=dict(type="int", default=DEFAULT_TIMEOUT),
        wait_timeout=dict(type="int", default=DEFAULT_WAIT_TIMEOUT),
    )


class MetabaseError(Exception):
    """A failed Metabase request. ``str()`` is safe to show: no headers, no bodies, no secrets."""

    def __init__(self, method, path, detail, *, status=None, hint=None, errors=None, not_running=False):
        #: True when Metabase did not answer because it is not there (yet): connection refused, not
        #: ready within wait_timeout, or a proxy's 502/503/504. Check mode reads it as "nothing yet".
        self.not_running = not_running
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        self.hint = hint
        #: Metabase's ``errors`` map (field -> text) when it sent one; already scrubbed.
        self.errors = errors or {}
        if status is None:
            text = "%s %s failed: %s" % (method, path, detail)
        else:
            text = "%s %s failed: HTTP %d: %s" % (method, path, status, detail)
        if hint:
            if text[-1:] not in ".!?":
                text += "."
            text += " Hint: %s." % hint.rstrip(".")
        super().__init__(text)
        self.msg = text


class TransportError(Exception):
    """The request got no HTTP answer.

    ``reason`` is a short text without the URL or any header; ``request_sent`` is False when the
    request certainly never reached Metabase (connection refused, name resolution), so it is safe
    to repeat even when it is not idempotent; ``retryable`` is False for errors that a retry cannot
    fix (TLS certificate validation).
    """

    def __init__(self, reason, request_sent=True, retryable=True, hint=None):
        super().__init__(reason)
        self.reason = reason
        self.request_sent = request_sent
        self.retryable = retryable
        #: The hint of the error message, when the cause calls for a specific one.
        self.hint = hint


def _certificate_failure(exc):
    """The ``ssl.SSLCertVerificationError`` behind ``exc`` (itself, a ``URLError`` reason, or a cause), or None.

    ansible-core 2.19's ``open_url`` lets urllib's ``URLError(reason=SSLCertVerificationError)`` through;
    older versions raised their own ``SSLValidationError``, handled separately.
    """
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return exc
        exc = exc.reason if isinstance(exc, URLError) else (exc.__cause__ or exc.__context__)
        seen += 1
    return None


def _tls_failure(detail):
    """A certificate that does not validate: the handshake failed, so no HTTP request was sent,
    and sending again cannot help."""
    reason = "TLS certificate validation failed"
    if detail:
        reason += " (%s)" % detail
    return TransportError(reason, request_sent=False, retryable=False, hint=DEFAULT_HINTS["tls"])


def _is_refused(reason):
    if isinstance(reason, (ConnectionRefusedError, socket.gaierror)):
        return True
    return isinstance(reason, OSError) and getattr(reason, "errno", None) in (111, 61, 10061)


def urls_transport(method, url, *, headers=None, data=None, timeout=DEFAULT_TIMEOUT, validate_certs=True, ca_path=None):
    """Send one request with ``ansible.module_utils.urls.open_url``.

    Returns ``(status, body_bytes)`` for every HTTP answer, 4xx and 5xx included, and raises
    :class:`TransportError` when there is no HTTP answer.
    """
    try:
        response = open_url(
            url,
            data=data,
            headers=headers,
            method=method,
            timeout=timeout,
            validate_certs=validate_certs,
            ca_path=ca_path,
            http_agent=USER_AGENT,
            follow_redirects="safe",
            unredirected_headers=list(AUTH_HEADERS),
            use_netrc=False,
        )
        try:
            return response.getcode(), response.read()
        finally:
            response.close()
    except HTTPError as exc:
        try:
            body = exc.read() if exc.fp is not None else b""
        except Exception:  # pylint: disable=broad-except
            body = b""
        return exc.code, body
    except SSLValidationError as exc:
        raise _tls_failure(type(exc).__name__) from None
    except URLError as exc:
        certificate = _certificate_failure(exc)
        if certificate is not None:
            raise _tls_failure(to_text(getattr(certificate, "verify_message", None) or "")) from None
        reason = exc.reason
        raise TransportError("connection error: %s" % to_text(reason), request_sent=not _is_refused(reason)) from None
    except UrlsConnectionError as exc:
        raise TransportError("connection error: %s" % to_text(exc), request_sent=False) from None
    except (socket.timeout, TimeoutError):
        raise TransportError("timed out waiting for an answer") from None
    except ssl.SSLCertVerificationError as exc:
        raise _tls_failure(to_text(getattr(exc, "verify_message", None) or "")) from None
    except (HTTPException, OSError) as exc:
        raise TransportError("connection error: %s" % to_text(exc), request_sent=not _is_refused(exc)) from None


#: The transport, sleep and clock new clients use unless given; unit tests replace them.
DEFAULT_TRANSPORT = urls_transport
DEFAULT_SLEEP = time.sleep
DEFAULT_CLOCK = time.monotonic


def is_initializing(status, raw):
    """Whether an answer is Metabase's own 503 "still initializing" (not a proxy's 503)."""
    if status != 503:
        return False
    return to_text(raw or b"", errors="surrogate_or_replace").strip().startswith(INITIALIZING_TEXT)


_HTML_TITLE = re.compile(r"<title>\s*(.*?)\s*</title>", re.IGNORECASE | re.DOTALL)


def decode_body(raw):
    """Decode a response body: JSON when it parses, else text; ``None`` for an empty body."""
    if raw is None:
        return None
    text = to_text(raw, errors="surrogate_or_replace").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _scalar_text(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return to_text(value)


def _flat_errors(errors, prefix=""):
    """Metabase's ``errors`` map, nested like the request body (``{"user": {"password": ...}}``), as
    ``[(dotted key, text)]`` sorted by key."""
    items = []
    for key in sorted(errors, key=str):
        name = "%s.%s" % (prefix, key) if prefix else to_text(key)
        value = errors[key]
        if isinstance(value, dict) and value:
            items.extend(_flat_errors(value, name))
        else:
            items.append((name, _scalar_text(value)))
    return items


def _errors_text(errors):
    """``errors`` of a Metabase answer as text, and as a flat dotted-key -> text map."""
    if isinstance(errors, str):
        return errors.strip(), {}
    if not isinstance(errors, dict):
        return "", {}
    error_map, items = {}, []
    for key, value in _flat_errors(errors):
        error_map[key] = value
        items.append(value if key == "_error" else "%s: %s" % (key, value))
    return "; ".join(items), error_map


def error_text(payload):
    """Metabase's own words from an error body: ``message`` and the ``errors`` map, or the text.

    Returns ``(text, errors_map)``. Metabase error bodies are JSON with ``message`` and/or
    ``errors`` (field -> text), or plain text such as ``Unauthenticated``. Other JSON fields (stack
    traces, ``data``) are never used: they may echo what was sent.
    """
    if payload is None:
        return "(empty answer)", {}
    if isinstance(payload, list):
        return "(no error message in Metabase's answer)", {}
    if not isinstance(payload, dict):
        text = to_text(payload)
        title = _HTML_TITLE.search(text) if text.lstrip()[:1] == "<" else None
        if title:  # a proxy's error page: its title says it (502 Bad Gateway)
            text = title.group(1)
        text = " ".join(text.split())
        if len(text) > MAX_ERROR_TEXT:
            text = text[:MAX_ERROR_TEXT] + "..."
        return text, {}
    message = payload.get("message")
    message = message.strip() if isinstance(message, str) else ""
    errors, error_map = _errors_text(payload.get("errors"))
    if message and errors:
        text = "%s (%s)" % (message, errors)
    elif isinstance(payload.get("status"), str) and not (message or errors):
        text = "status %s" % payload["status"]
    else:
        text = message or errors or "(no error message in Metabase's answer)"
    return text, error_map


def is_login_throttled(exc):
    """Whether a :class:`MetabaseError` is Metabase's "Too many attempts!" refusal of a login."""
    if exc.status not in (400, 401):  # 401 for logins; 400 is the throttle library's own default
        return False
    return any(value.startswith(THROTTLED_TEXT) for value in exc.errors.values()) or THROTTLED_TEXT in exc.detail


def dry_run_exit(module, exc, would, result, changed=True):
    """In check mode, when Metabase is not running (a dry run before it exists, such as
    ``site.yml --check`` on a new host), warn what would happen and exit at once. Returns otherwise."""
    if not (module.check_mode and getattr(exc, "not_running", False)):
        return
    module.warn(
        "Check mode: Metabase is not running at %s (%s); once it runs, %s."
        % (strip_userinfo(module.params["url"]), exc.msg, would)
    )
    result["changed"] = changed
    module.exit_json(**result)


def strip_userinfo(url):
    """The URL without ``user:password@``, for messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[1], parts.path, parts.query, parts.fragment))


class MetabaseClient:
    """Small Metabase REST client. See the module docstring."""

    def __init__(
        self,
        url,
        *,
        api_key=None,
        username=None,
        password=None,
        validate_certs=True,
        ca_path=None,
        timeout=DEFAULT_TIMEOUT,
        wait_timeout=DEFAULT_WAIT_TIMEOUT,
        transport=None,
        sleep=None,
        clock=None,
        max_retries=DEFAULT_MAX_RETRIES,
        backoff=DEFAULT_BACKOFF,
        on_secret=None,
    ):
        if not url:
            raise ValueError("url is required")
        self.base_url = url.rstrip("/")
        self.api_key = api_key or None
        self.username = username or None
        self.password = password
        self.validate_certs = validate_certs
        self.ca_path = ca_path or None
        self.timeout = timeout
        self.wait_timeout = max(0, wait_timeout or 0)
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self._transport = transport or DEFAULT_TRANSPORT
        self._sleep = sleep or DEFAULT_SLEEP
        self._clock = clock or DEFAULT_CLOCK
        self._on_secret = on_secret
        self._secrets = set()
        self._session_id = None
        #: Every session id this client opened (login, setup), ended by :meth:`logout`.
        self._opened_sessions = []
        self._waited = False
        #: Number of HTTP requests sent (health polls included); useful for tests and debugging.
        self.request_count = 0
        for secret in (api_key, password):
            self.add_secret(secret)

    @classmethod
    def from_module(cls, module, use_api_key=True, logout_on_exit=True, **kwargs):
        """Build a client from the shared options of an AnsibleModule.

        ``use_api_key=False`` makes the client log in with username and password even when an API
        key is set (the key is still scrubbed from messages). In check mode the client neither waits
        for readiness nor retries: a dry run says at once what it sees (see :func:`dry_run_exit`).
        Every secret the client learns at run time (session id, tokens) is added to the module's
        ``no_log_values`` so that Ansible masks it anywhere in the module's output. With
        ``logout_on_exit`` (the default), the module's ``exit_json`` and ``fail_json`` first end the
        sessions the client opened (see :meth:`end_sessions_on_exit`), so no module run leaves a session
        behind.
        """
        params = module.params
        client = cls(
            url=params["url"],
            api_key=params.get("api_key") if use_api_key else None,
            username=params.get("username"),
            password=params.get("password"),
            validate_certs=params.get("validate_certs", True),
            ca_path=params.get("ca_path"),
            timeout=params.get("timeout") or DEFAULT_TIMEOUT,
            wait_timeout=0 if module.check_mode else params.get("wait_timeout"),
            on_secret=module.no_log_values.add,
            **dict(dict(max_retries=0) if module.check_mode else {}, **kwargs),
        )
        client.add_secret(params.get("api_key"))
        if logout_on_exit:
            client.end_sessions_on_exit(module)
        return client

    def end_sessions_on_exit(self, module):
        """Make ``module.exit_json`` and ``module.fail_json`` call :meth:`logout` first.

        Modules leave from many places (check mode, nothing to do, errors); hooking the two exits
        ends the sessions on every path. A logout that fails becomes a warning of the module, never
        a failure: the work is done, and Metabase expires sessions on its own (``MAX_SESSION_AGE``).
        """
        original_exit, original_fail = module.exit_json, module.fail_json

        def warn_logout():
            for warning in self.logout():
                module.warn(warning)

        def exit_json(**kwargs):
            warn_logout()
            original_exit(**kwargs)

        def fail_json(msg, **kwargs):
            warn_logout()
            original_fail(msg, **kwargs)

        module.exit_json = exit_json
        module.fail_json = fail_json

    # -- secrets -------------------------------------------------------------------------------

    def add_secret(self, value):
        """Remember a secret so that it is scrubbed from every error message of this client."""
        if value is None:
            return
        value = to_text(value)
        if not value or value == REDACTED:
            return
        self._secrets.add(value)
        if self._on_secret is not None:
            self._on_secret(value)

    def redact(self, text):
        text = to_text(text)
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    # -- URLs and auth -------------------------------------------------------------------------

    def url_for(self, path, query=None):
        """``base URL`` + the spec's path key (``/api/database/``) + an optional query string."""
        if not path.startswith("/"):
            path = "/" + path
        url = self.base_url + path
        if query:
            items = []
            for key in sorted(query):
                value = query[key]
                if value is None:
                    continue
                if isinstance(value, bool):
                    value = "true" if value else "false"
                items.append((key, value))
            if items:
                url += "?" + urlencode(items)
        return url

    def _auth_headers(self):
        if self.api_key:
            return {"X-API-Key": self.api_key}
        if self._session_id is None:
            self.login()
        return {"X-Metabase-Session": self._session_id}

    def login(self):
        """``POST /api/session/``; keeps the session id for later requests (never returns it)."""
        username, password = self.username, self.password
        if not username or not password:
            raise MetabaseError(
                "POST", "/api/session/", "no credentials to log in with", hint="set api_key, or username and password"
            )
        try:
            # 4xx answers are never sent again: each failed login counts towards Metabase's lockout.
            answer = self.request(
                "POST",
                "/api/session/",
                body={"username": username, "password": password},
                auth=False,
                idempotent=True,
                hints=LOGIN_HINTS,
            )
        except MetabaseError as exc:
            if not is_login_throttled(exc):
                raise
            raise MetabaseError(
                exc.method, exc.path, exc.detail, status=exc.status, hint=LOCKOUT_HINT, errors=exc.errors
            ) from None
        session_id = answer.get("id") if isinstance(answer, dict) else None
        if not session_id:
            raise MetabaseError(
                "POST", "/api/session/", "the answer carried no session id", hint="is url really a Metabase instance?"
            )
        self.adopt_session(session_id)

    def adopt_session(self, session_id):
        """Use ``session_id`` (from ``POST /api/session/`` or ``POST /api/setup/``, which logs the new
        admin in) for later requests when no API key is set, and end it in :meth:`logout`."""
        session_id = to_text(session_id)
        self.add_secret(session_id)
        if session_id not in self._opened_sessions:
            self._opened_sessions.append(session_id)
        if not self.api_key:
            self._session_id = session_id

    def logout(self):
        """End every session this client opened: ``DELETE /api/session/`` with its session header.

        Never raises: returns the warnings to show (empty when all went well, or when there was
        nothing to end: API key, or no login yet). Metabase answers 204, or 404 when the session is
        already gone (expired, deleted), which is not a problem. One attempt per session, without
        readiness wait or retry: a session that outlives a failed logout expires in Metabase.
        """
        warnings = []
        sessions, self._opened_sessions = self._opened_sessions, []
        self._session_id = None
        path = "/api/session/"
        for session_id in sessions:
            headers = {"Accept": "application/json", "X-Metabase-Session": session_id}
            try:
                status, raw = self._send("DELETE", self.url_for(path), headers, None)
            except TransportError as exc:
                warnings.append(
                    "Could not end the Metabase session this module opened (DELETE %s failed: %s); "
                    "Metabase expires it on its own." % (path, self.redact(exc.reason))
                )
                continue
            except Exception as exc:  # pylint: disable=broad-except
                warnings.append(
                    "Could not end the Metabase session this module opened (DELETE %s failed: %s); "
                    "Metabase expires it on its own." % (path, self.redact(type(exc).__name__))
                )
                continue
            if 200 <= status < 300 or status == 404:
                continue
            warnings.append(
                "Could not end the Metabase session this module opened (DELETE %s failed: HTTP %d: %s); "
                "Metabase expires it on its own." % (path, status, self.redact(error_text(decode_body(raw))[0]))
            )
        return warnings

    # -- requests ------------------------------------------------------------------------------

    def _backoff_delay(self, attempt):
        return min(BACKOFF_CAP, self.backoff * (2**attempt))

    def _send(self, method, url, headers, data):
        self.request_count += 1
        return self._transport(
            method,
            url,
            headers=headers,
            data=data,
            timeout=self.timeout,
            validate_certs=self.validate_certs,
            ca_path=self.ca_path,
        )

    def _http_error(self, method, path, status, raw, hints):
        detail, errors = error_text(decode_body(raw))
        hints = hints or {}
        hint = hints.get(status)
        if hint is None:
            if status >= 500:
                hint = hints.get("5xx", DEFAULT_HINTS["5xx"])
            else:
                hint = DEFAULT_HINTS.get(status)
        errors = dict((key, self.redact(value)) for key, value in errors.items())
        return MetabaseError(
            method, path, self.redact(detail), status=status, hint=self.redact(hint) if hint else None, errors=errors
        )

    def request(self, method, path, *, body=None, query=None, auth=True, idempotent=None, hints=None):
        """Send a request and return the decoded answer (JSON, text, or ``None`` when empty).

        Raises :class:`MetabaseError` for any non-2xx answer (after the bounded retries) and when
        no answer comes. ``hints`` maps a status (or ``"5xx"``) to the hint of the error message.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if auth:
            headers.update(self._auth_headers())
        url = self.url_for(path, query)
        retries = 0
        while True:
            try:
                status, raw = self._send(method, url, headers, data)
            except TransportError as exc:
                step = self._step_after_transport_error(method, path, exc, idempotent, retries)
            else:
                if 200 <= status < 300:
                    return decode_body(raw)
                step = self._step_after_answer(
                    method, path, (status, raw), idempotent=idempotent, retries=retries, hints=hints
                )
            if step == "wait":
                self.wait_until_ready()
            else:
                self._sleep(self._backoff_delay(retries))
                retries += 1

    def _step_after_transport_error(self, method, path, exc, idempotent, retries):
        """``"wait"`` or ``"retry"`` after no answer came, or raise :class:`MetabaseError`."""
        if not exc.retryable:
            raise MetabaseError(method, path, self.redact(exc.reason), hint=exc.hint or DEFAULT_HINTS["transport"])
        # Not listening (yet) means not ready, and nothing was sent: safe to send again.
        step = self._next_step(not exc.request_sent, idempotent or not exc.request_sent, retries)
        if step is None:
            hint = MAYBE_DONE if exc.request_sent and not idempotent else DEFAULT_HINTS["transport"]
            raise MetabaseError(method, path, self.redact(exc.reason), hint=hint, not_running=not exc.request_sent)
        return step

    def _step_after_answer(self, method, path, answer, *, idempotent, retries, hints):
        """``"wait"`` or ``"retry"`` after a non-2xx answer, or raise :class:`MetabaseError`."""
        status, raw = answer
        # Metabase's own 503 while it initializes reached no handler: safe to send again. A proxy's
        # 502/503/504 means Metabase is down or slow, not whether it got the request.
        initializing = is_initializing(status, raw)
        step = self._next_step(status in NOT_READY_STATUSES, initializing or (idempotent and status >= 500), retries)
        if step is None:
            if status in NOT_READY_STATUSES and not idempotent and not initializing:
                hints = dict(hints or {})
                hints[status] = PROXY_MAYBE_DONE
            error = self._http_error(method, path, status, raw, hints)
            error.not_running = status in NOT_READY_STATUSES
            raise error
        return step

    def _next_step(self, not_ready, resendable, retries):
        """After a failed attempt: ``"wait"`` (poll the health until ready, once per client, then send
        again), ``"retry"`` (back off, then send again) or ``None`` (give up)."""
        if not resendable:
            return None
        if not_ready and not self._waited and self.wait_timeout > 0:
            return "wait"
        if retries < self.max_retries:
            return "retry"
        return None

    def wait_until_ready(self):
        """Poll ``GET /api/health`` until Metabase answers ``{"status": "ok"}``, within ``wait_timeout``.

        Connection errors and 5xx answers (503 ``initializing``, a proxy's 502/503/504 while Metabase
        is down) mean "not ready yet"; a 4xx answer means ``url`` does not point at Metabase and fails
        at once. Returns the health answer.
        """
        self._waited = True
        path = "/api/health"
        url = self.url_for(path)
        deadline = self._clock() + self.wait_timeout
        last = "no answer"
        while True:
            try:
                status, raw = self._send("GET", url, {"Accept": "application/json"}, None)
            except TransportError as exc:
                if not exc.retryable:
                    raise MetabaseError(
                        "GET", path, self.redact(exc.reason), hint=exc.hint or DEFAULT_HINTS["transport"]
                    ) from None
                last = exc.reason
            else:
                payload = decode_body(raw)
                if 200 <= status < 300:
                    return payload
                if 400 <= status < 500:
                    raise self._http_error(
                        "GET", path, status, raw, {status: "url does not look like the base URL of Metabase"}
                    )
                last = "HTTP %d: %s" % (status, error_text(payload)[0])
            if self._clock() >= deadline:
                raise MetabaseError(
                    "GET",
                    path,
                    "Metabase at %s was not ready within %d seconds (last answer: %s)"
                    % (strip_userinfo(self.base_url), self.wait_timeout, self.redact(last)),
                    hint="a first start migrates the application database and can take minutes; "
                    "raise wait_timeout or check the Metabase container and its logs",
                    not_running=True,
                )
            remaining = deadline - self._clock()
            self._sleep(max(0.0, min(HEALTH_POLL_INTERVAL, remaining)))

    # -- endpoints shared by the modules -------------------------------------------------------

    def session_properties(self):
        """``GET /api/session/properties`` without auth (public settings: setup state, version)."""
        answer = self.request("GET", "/api/session/properties", auth=False)
        if not isinstance(answer, dict):
            raise MetabaseError(
                "GET",
                "/api/session/properties",
                "unexpected answer (not a JSON object)",
                hint="is url really a Metabase instance?",
            )
        return answer

    def current_user(self):
        """``GET /api/user/current`` with the client's credentials."""
        return self.request("GET", "/api/user/current")

    def list_databases(self):
        """``GET /api/database/``: the list, from ``{"data": [...]}`` (0.40+) or a bare list (older)."""
        answer = self.request("GET", "/api/database/")
        if isinstance(answer, dict) and isinstance(answer.get("data"), list):
            return answer["data"]
        if isinstance(answer, list):
            return answer
        raise MetabaseError(
            "GET",
            "/api/database/",
            'unexpected answer (neither a list nor {"data": [...]})',
            hint="is url really a Metabase instance?",
        )
