"""API routes, one module per area of Metabase's API.

Each module defines ``register(router)``. To add an area: write ``routes/<area>.py`` with a
``register`` function and list the module in ``MODULES``. Order matters where paths overlap:
a module's fixed paths (``/api/collection/root``) are registered before its templates.
"""

from __future__ import annotations

from double.routes import api_key, card, collection, dashboard, database, dataset, health, session, setup, table, user
from double.web import Router

MODULES = (health, session, setup, user, api_key, database, table, dataset, collection, card, dashboard)


def build_router() -> Router:
    router = Router()
    for module in MODULES:
        module.register(router)
    return router
