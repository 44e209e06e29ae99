"""GET /api/user/current: who the credentials belong to (any authenticated user)."""

from __future__ import annotations

from double import auth
from double.web import Request, Response, Router


def register(router: Router) -> None:
    router.route("GET", "/api/user/current")(current)


def current(request: Request) -> Response:
    user = auth.authenticate(request)
    with request.app.db.transaction() as cur:
        return Response.json(auth.user_json(cur, user))
