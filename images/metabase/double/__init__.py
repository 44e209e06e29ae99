"""Metabase API double: a small stand-in for Metabase's HTTP API, for tests and air-gapped dev.

It behaves like ``metabase/metabase`` where the collection relies on it (start-up, /api/health,
first-run setup state, ...), reads the same environment variables (MB_DB_*, MB_JETTY_*, ...) and
keeps all of its state in its application database on PostgreSQL, so state survives restarts.

Layout:
    config.py     environment -> Config (validated once at start, like Metabase)
    appdb.py      the application database: connection pool, migrations, settings, users
    settings.py   Metabase settings: environment overrides, defaults, values stored in the app DB
    web.py        Request, Response and Router (the tiny framework the routes use)
    routes/       one module per API area; each has ``register(router)``
    server.py     HTTP server, Jetty-like lifecycle (listen at once, initialise, serve), main()
"""

__version__ = "0.1.0"

# What GET /api/session/properties reports as "version", like Metabase v0.58.5 does.
METABASE_VERSION = {
    "tag": "v0.58.5",
    "date": "2025-12-01",
    "branch": "release-x.58.x",
    "hash": "double",
}
