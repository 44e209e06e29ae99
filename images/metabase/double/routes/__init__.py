"""API routes, one module per area of Metabase's API.

Each module defines ``register(router)``. To add an area: write ``routes/<area>.py`` with a
``register`` function and list the module in ``MODULES``. Order matters where paths overlap:
a module's fixed paths (``/api/collection/root``) are registered before its templates.
"""

from __future__ import annotations

from double.routes import (
    access_guard,
    api_key,
    cache,
    card,
    collection,
    dashboard,
    database,
    dataset,
    health,
    metadata_edit,
    people,
    permissions,
    session,
    setting,
    setup,
    table,
    user,
)
from double.web import Router

# access_guard first: its permission checks stand in front of the content and query routes.
MODULES = (
    health,
    session,
    setup,
    access_guard,
    user,
    people,
    api_key,
    permissions,
    setting,
    cache,
    database,
    table,
    metadata_edit,
    dataset,
    collection,
    card,
    dashboard,
)


def build_router() -> Router:
    router = Router()
    for module in MODULES:
        module.register(router)
    return router
