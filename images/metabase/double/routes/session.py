"""GET /api/session/properties: the public settings, readable without a session."""

from __future__ import annotations

from double import METABASE_VERSION, appdb, settings
from double.web import Request, Response, Router


def register(router: Router) -> None:
    router.route("GET", "/api/session/properties")(properties)


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
            "password-complexity": {"total": 6, "digit": 1},
        }
    )
