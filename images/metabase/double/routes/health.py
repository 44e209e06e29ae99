"""GET /api/health, as Metabase answers it (no auth, served during init)."""

from __future__ import annotations

from double.web import Request, Response, Router


def register(router: Router) -> None:
    router.route("GET", "/api/health", during_init=True)(health)


def health(request: Request) -> Response:
    app = request.app
    if not app.lifecycle.ready:
        return Response.json({"status": "initializing", "progress": app.lifecycle.progress}, 503)
    if not app.db.ping():
        return Response.json({"status": "Unable to get app-db connection"}, 503)
    return Response.json({"status": "ok"})
