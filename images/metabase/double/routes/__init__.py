"""API routes, one module per area of Metabase's API.

Each module defines ``register(router)``. To add an area: write ``routes/<area>.py`` with a
``register`` function and list the module in ``MODULES``.
"""

from __future__ import annotations

from double.routes import health, session
from double.web import Router

MODULES = (health, session)


def build_router() -> Router:
    router = Router()
    for module in MODULES:
        module.register(router)
    return router
