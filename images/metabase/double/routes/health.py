"""GET /api/health, as Metabase answers it (no auth, served during init).

Metabase serves it outside its API router (behaviour.md §1) and it is absent from the OpenAPI
description; container healthchecks poll it every few seconds, so it stays out of the request
journal.
"""

from __future__ import annotations

from double.web import Request, Response, Router


def register(router: Router) -> None:
    router.route("GET", "/api/health", during_init=True, journal=False)(health)


def health(request: Request) -> Response:
    app = request.app
    if not app.lifecycle.ready:
        return Response.json({"status": "initializing", "progress": app.lifecycle.progress}, 503)
    if not app.db.ping():
        return Response.json({"status": "Unable to get app-db connection"}, 503)
    return Response.json({"status": "ok"})
