"""Metabase API double: a small stand-in for Metabase's HTTP API, for tests and air-gapped dev.

It behaves like ``metabase/metabase`` where the collection and its runbooks rely on it (start-up,
/api/health, setup, sessions, API keys, databases with real connection tests, sync and native queries
through the registered connection, collections, cards, dashboards), reads the same environment
variables (MB_DB_*, MB_JETTY_*, MB_ENCRYPTION_SECRET_KEY, ...) and keeps all of its state in its
application database on PostgreSQL, so state survives restarts. Every accepted /api request is
journaled there, secrets redacted (journal.py). images/README.md documents the behaviour.

Layout:
    config.py     environment -> Config (validated once at start, like Metabase)
    appdb.py      the application database: connection pool, migrations, shared queries
    settings.py   Metabase settings: environment overrides, defaults, values stored in the app DB
    web.py        Request, Response and Router (the tiny framework the routes use)
    validation.py Metabase's 400 answers for bodies that break an endpoint's schema
    auth.py       passwords, sessions, API keys, login throttle, request authentication
    crypto.py     connection details encrypted with MB_ENCRYPTION_SECRET_KEY
    databases.py  registered databases and their synced metadata in the app DB
    warehouse.py  real connections to registered databases (tests, metadata, native SQL)
    sync.py       the background schema sync
    content.py    collections, cards, dashboards
    journal.py    the request journal
    routes/       one module per API area; each has ``register(router)``
    server.py     HTTP server, Jetty-like lifecycle (listen at once, initialise, serve), main()
"""

__version__ = "0.2.0"

# What GET /api/session/properties reports as "version", like Metabase v0.58.5 does.
METABASE_VERSION = {
    "tag": "v0.58.5",
    "date": "2025-12-01",
    "branch": "release-x.58.x",
    "hash": "double",
}
