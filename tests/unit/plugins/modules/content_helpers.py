"""Shared setup of the content module tests: a fake Metabase with the Cronicorn database, two
synced views, and helpers to run modules and read what the fake holds."""

from __future__ import annotations

import json

from fake_metabase import ADMIN_EMAIL, ADMIN_PASSWORD, API_KEY

URL = "http://metabase.test:3000"
SESSION_AUTH = {"url": URL, "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
KEY_AUTH = {"url": URL, "api_key": API_KEY}

USER_STATS = [
    ("user_id", "type/Integer"),
    ("email", "type/Text"),
    ("tier", "type/Text"),
    ("runs_last_24h", "type/Integer"),
    ("runs_last_7d", "type/Integer"),
    ("success_rate", "type/Float"),
    ("created_at", "type/DateTimeWithLocalTZ"),
]
DAILY = [("day", "type/Date"), ("runs", "type/Integer"), ("errors", "type/Integer"), ("status_code", "type/Integer")]


def seed(fake):
    """The Cronicorn database with two views, as Metabase sees them after a sync."""
    database = fake.add_database("Cronicorn", host="postgres", port=5432, dbname="cronicorn", user="metabase_readonly")
    fake.add_table(database["id"], "public", "admin_user_stats", USER_STATS)
    fake.add_table(database["id"], "public", "admin_daily_metrics", DAILY)
    return database


def secrets_absent(fake, outcome):
    text = outcome.text()
    leaked = [secret for secret in fake.secrets() if secret in text]
    assert not leaked, "secret in the module output"


def writes(fake):
    """(method, path) of the requests that change something (login and logout aside)."""
    return [(r.method, r.path) for r in fake.writes() if r.path not in ("/api/session/",)]


def dumps(value):
    return json.dumps(value, sort_keys=True)
