"""The schema fixture (tests/fixtures/cronicorn/schema.sql) is the application's schema after migration 0017.

Loads the fixture into a fresh database and compares the catalog with the application's own Drizzle
snapshot (a copy of shared/cronicorn/schema-snapshot-0017.json kept in tests/fixtures/cronicorn/):
tables, columns (type, nullability, defaults), primary keys, unique constraints, foreign keys (with
ON DELETE), indexes, and the enum.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import psycopg2
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "cronicorn"))

import seed

# A copy of the application's snapshot (shared/cronicorn/schema-snapshot-0017.json), kept with the fixture.
SNAPSHOT = Path(__file__).resolve().parents[1] / "fixtures" / "cronicorn" / "schema-snapshot-0017.json"
TYPES = {
    "text": "text",
    "timestamp": "timestamp without time zone",
    "integer": "integer",
    "jsonb": "jsonb",
    "boolean": "boolean",
    "job_status": "job_status",
}


@pytest.fixture(scope="module")
def catalog(pg_server):
    admin = psycopg2.connect(pg_server.dsn(), connect_timeout=10)
    admin.autocommit = True
    name = "views_schema_fixture_" + os.urandom(4).hex()
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = psycopg2.connect(pg_server.dsn(dbname=name), connect_timeout=10)
        try:
            seed.load_schema(conn)
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def _snapshot():
    return json.loads(SNAPSHOT.read_text())


def test_tables_and_columns(catalog):
    snapshot = _snapshot()
    catalog.execute(
        """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(d.adbin, d.adrelid)
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
           WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname, a.attnum"""
    )
    actual = {(t, c): (typ, notnull, default) for t, c, typ, notnull, default in catalog.fetchall()}
    expected = {}
    for table in snapshot["tables"].values():
        for column in table["columns"].values():
            default = column.get("default")
            if isinstance(default, bool):  # Drizzle writes boolean and number defaults as JSON values
                default = str(default).lower()
            elif isinstance(default, int):
                default = str(default)
            elif default is not None:
                default = {"'active'": "'active'::job_status"}.get(default, default)
                if default.startswith("'") and column["type"] == "text":
                    default += "::text"
            expected[(table["name"], column["name"])] = (TYPES[column["type"]], column["notNull"], default)
    assert actual == expected


def test_keys_constraints_and_indexes(catalog):
    snapshot = _snapshot()
    catalog.execute(
        """SELECT t.relname, con.conname, con.contype, pg_get_constraintdef(con.oid)
           FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public'"""
    )
    constraints = catalog.fetchall()
    foreign = {(t, name): d for t, name, kind, d in constraints if kind == "f"}
    unique = {(t, name) for t, name, kind, _d in constraints if kind == "u"}
    primary = {t: d for t, _n, kind, d in constraints if kind == "p"}
    catalog.execute(
        """SELECT t.relname, i.relname, pg_get_indexdef(i.oid) FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           WHERE n.nspname = 'public' AND NOT x.indisprimary AND NOT x.indisunique"""
    )
    indexes = {(t, name): d for t, name, d in catalog.fetchall()}
    expected_fk, expected_unique, expected_indexes = {}, set(), {}
    for table in snapshot["tables"].values():
        name = table["name"]
        pk = [c["name"] for c in table["columns"].values() if c["primaryKey"]]
        assert primary[name] == f"PRIMARY KEY ({', '.join(pk)})"
        for fk in table["foreignKeys"].values():
            target = '"user"' if fk["tableTo"] == "user" else fk["tableTo"]
            expected_fk[(name, fk["name"])] = (
                f"FOREIGN KEY ({', '.join(fk['columnsFrom'])}) REFERENCES {target}({', '.join(fk['columnsTo'])})"
                f" ON DELETE {fk['onDelete'].upper()}"
            )
        expected_unique |= {(name, u["name"]) for u in table["uniqueConstraints"].values()}
        for index in table["indexes"].values():
            columns = ", ".join(c["expression"] for c in index["columns"])
            expected_indexes[(name, index["name"])] = (
                f"CREATE INDEX {index['name']} ON public.{name} USING {index['method']} ({columns})"
            )
    assert foreign == expected_fk
    assert unique == expected_unique
    assert indexes == expected_indexes


def test_enum(catalog):
    catalog.execute("SELECT enum_range(NULL::public.job_status)::text[]")
    assert catalog.fetchone()[0] == _snapshot()["enums"]["public.job_status"]["values"]
