"""POST /api/setup/: first-run setup, once only (behaviour.md §2).

The body is checked first, as Metabase's schema does, errors nested like the body: a token other
than the setup token -> 400 ``{"errors":{"token":"Token does not match the setup token."}}``; a weak
or common password -> 400 ``{"errors":{"user":{"password":"password is too common."}}}``; then,
when a user already exists,
403 ``The /api/setup route can only be used to create the first user, however a user currently
exists.`` (plain text). Success creates the superuser (All Users and Administrators), stores
``site-name``, ``site-locale``, ``admin-email`` and ``anon-tracking-enabled``, and answers 200
``{"id": <session>}``. The setup token stays published afterwards, as on v0.58.
"""

from __future__ import annotations

import hmac
import re

from double import appdb, auth, settings
from double.validation import EMAIL, NON_BLANK, error_response, optional, problems
from double.web import HTTPError, Request, Response, Router

TOKEN_MISMATCH = "Token does not match the setup token."  # noqa: S105 - an error message
USER_EXISTS = "The /api/setup route can only be used to create the first user, however a user currently exists."
LOCALE = "String must be a valid two-letter ISO language or language-country code e.g. 'en' or 'en_US'."
_SETUP_LOCK = 5_805_806


def register(router: Router) -> None:
    router.route("POST", "/api/setup")(setup)


def setup(request: Request) -> Response:
    app = request.app
    body = request.json()
    body = body if isinstance(body, dict) else {}
    user = body.get("user") if isinstance(body.get("user"), dict) else {}
    prefs = body.get("prefs") if isinstance(body.get("prefs"), dict) else {}
    with app.db.transaction() as cur:
        expected = settings.get(cur, app.config.env, "setup-token")
    token = body.get("token")
    errors: dict = {}
    if not (isinstance(token, str) and token and expected and hmac.compare_digest(token, expected)):
        errors["token"] = TOKEN_MISMATCH
    # The body schema nests user and prefs, and so do the errors (v0.58: {"user": {"password": ...}}).
    user_errors = problems(user, {"email": EMAIL, "first_name": optional(NON_BLANK), "last_name": optional(NON_BLANK)})
    if not auth.password_ok(user.get("password"), app.config.env):
        user_errors["password"] = auth.TOO_COMMON
    prefs_errors = problems(prefs, {"site_name": NON_BLANK})
    locale = prefs.get("site_locale")
    if locale is not None and not (isinstance(locale, str) and re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", locale)):
        prefs_errors["site_locale"] = LOCALE
    if user_errors:
        errors["user"] = user_errors
    if prefs_errors:
        errors["prefs"] = prefs_errors
    if errors:
        raise HTTPError(error_response(errors))

    with app.db.transaction() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
        if appdb.has_user(cur):
            return Response.text(USER_EXISTS, 403)
        created = auth.create_user(
            cur,
            email=user["email"].strip(),
            password=user["password"],
            first_name=user.get("first_name"),
            last_name=user.get("last_name"),
            superuser=True,
            installer=True,
        )
        settings.put(cur, "site-name", prefs["site_name"].strip())
        if locale:
            settings.put(cur, "site-locale", locale)
        settings.put(cur, "admin-email", created["email"])
        settings.put(cur, "anon-tracking-enabled", "true")
        session_id = auth.create_session(cur, created["id"])
    response = Response.json({"id": session_id})
    response.headers.update(auth.session_cookie(session_id))
    return response
