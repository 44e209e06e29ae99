"""Sessions: public properties, login and logout (behaviour.md §2, §3).

* ``GET /api/session/properties`` (no auth): the public settings, ``setup-token`` and
  ``has-user-setup`` among them.
* ``POST /api/session/`` ``{"username", "password"}``: 200 ``{"id": <session>}`` (and the
  ``metabase.SESSION`` cookie); 401 ``{"errors":{"password":"did not match stored password"}}`` for
  a wrong password or an unknown user; 400 for a missing field; 401 ``errors._error`` for a
  deactivated user; 401 ``errors.username`` "Too many attempts! ..." when throttled (10 failures
  for a username or 50 from a source address within an hour; refusals count as failures).
* ``DELETE /api/session/``: 204, the session of the request ends; 404 ``Not found.`` without a
  session header or cookie, or for an unknown one (an API key ends nothing).
* ``POST /api/session/password-check`` ``{"password"}`` (no auth): 200 ``{"valid": true}`` when the
  password passes ``ms/ValidPassword`` (the rules setup applies), else 400 ``errors.password``
  "password is too common.".
"""

from __future__ import annotations

from double import METABASE_VERSION, appdb, auth, settings
from double.validation import NON_BLANK, error_response, validate
from double.web import HTTPError, Request, Response, Router, not_found

DID_NOT_MATCH = "did not match stored password"
DISABLED = "Your account is disabled."
# Compared against when the username is unknown, so both failures take as long.
_DUMMY_HASH = auth.hash_password("not-a-real-password-0")


def register(router: Router) -> None:
    router.route("GET", "/api/session/properties")(properties)
    router.route("POST", "/api/session")(login)
    router.route("DELETE", "/api/session")(logout)
    router.route("POST", "/api/session/password-check")(password_check)


def properties(request: Request) -> Response:
    env = request.app.config.env
    with request.app.db.transaction() as cur:
        values = {key: settings.get(cur, env, key) for key in ("site-name", "site-url", "site-locale", "setup-token")}
        has_user_setup = appdb.has_user(cur)
        anon_tracking = settings.get(cur, env, "anon-tracking-enabled")
    return Response.json(
        {
            **values,
            "has-user-setup": has_user_setup,
            "version": dict(METABASE_VERSION),
            "anon-tracking-enabled": anon_tracking == "true",
            "enable-password-login": True,
            "password-complexity": auth.password_complexity(env),
        }
    )


def login(request: Request) -> Response:
    body = validate(request.json(), username=NON_BLANK, password=NON_BLANK)
    username, password = body["username"].strip(), body["password"]
    app = request.app
    address = auth.source_address(request)
    refused = app.throttle.refusal(address, body["username"])
    if refused:
        return Response.json({"errors": {"username": refused}}, 401)
    with app.db.transaction() as cur:
        user = auth.find_user_by_email(cur, username)
        if user is not None and user["type"] != "personal":
            user = None  # API-key users have no password and cannot log in
        matched = auth.verify_password(password, user["password_hash"] if user else _DUMMY_HASH)
        if user is None or not matched:
            app.throttle.failed(address, body["username"])
            return Response.json({"errors": {"password": DID_NOT_MATCH}}, 401)
        if not user["is_active"]:
            app.throttle.failed(address, body["username"])
            return Response.json({"errors": {"_error": DISABLED}}, 401)
        session_id = auth.create_session(cur, user["id"])
    response = Response.json({"id": session_id})
    response.headers.update(auth.session_cookie(session_id))
    return response


def logout(request: Request) -> Response:
    """session/api.clj: 404 without a session key or when no session has it, else 204."""
    session_id = (request.header(auth.SESSION_HEADER) or request.cookie(auth.SESSION_COOKIE) or "").strip()
    if not session_id:
        raise not_found()
    with request.app.db.transaction() as cur:
        if not auth.delete_session(cur, session_id):
            raise not_found()
    return Response.empty(204)


def password_check(request: Request) -> Response:
    body = request.json()
    password = body.get("password") if isinstance(body, dict) else None
    if not auth.password_ok(password, request.app.config.env):
        raise HTTPError(error_response({"password": auth.TOO_COMMON}))
    return Response.json({"valid": True})
