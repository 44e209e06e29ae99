"""Metabase as the scenarios' verify tests see it: JSON calls, the registered Cronicorn database, the sync,
native questions, and the request journal of the double checked against Metabase's OpenAPI description.
Shared by molecule/dev and molecule/production (through molecule/conftest.py)."""

from __future__ import annotations

import json
import pathlib
import ssl
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "contract"))
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "cronicorn"))
from contract import VIEWS  # noqa: E402
from openapi_contract import NO_BODY, load_contract  # noqa: E402


class MetabaseAPI:
    """JSON calls to one Metabase base URL (http, or https checked against ``context``)."""

    def __init__(self, base_url: str, context: ssl.SSLContext | None = None) -> None:
        self.base_url = base_url
        self.context = context

    def call(self, method: str, path: str, body=None, session: str | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if session:
            request.add_header("X-Metabase-Session", session)
        with urllib.request.urlopen(request, timeout=30, context=self.context) as response:
            payload = response.read()
        return json.loads(payload) if payload else None  # 204 No Content: None

    def login(self, username: str, password: str) -> str:
        return self.call("POST", "/api/session/", {"username": username, "password": password})["id"]

    def database(self, session: str, name: str = "Cronicorn") -> dict:
        """The one registered database called ``name``."""
        databases = self.call("GET", "/api/database/", session=session)["data"]
        matches = [d for d in databases if d["name"] == name]
        assert len(matches) == 1, [d["name"] for d in databases]
        return matches[0]

    def synced_tables(self, session: str, database_id: int, timeout: float = 60) -> set[str]:
        """The table names of the database's metadata, once the ten views are in it (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while True:
            metadata = self.call("GET", f"/api/database/{database_id}/metadata", session=session)
            names = {t["name"] for t in metadata["tables"]}
            if set(VIEWS) <= names or time.monotonic() > deadline:
                return names
            time.sleep(1)

    def native(self, session: str, database_id: int, query: str) -> dict:
        body = {"database": database_id, "type": "native", "native": {"query": query}}
        return self.call("POST", "/api/dataset/", body, session=session)


def journal_problems(journal) -> list[tuple]:
    """(method, path, problem) for each journaled request that Metabase's OpenAPI description does not allow.

    ``journal``: rows (method, path, query, has_body, body) of the double's double_request_journal."""
    contract = load_contract()
    return [
        (method, path, problem)
        for method, path, query, has_body, body in journal
        for problem in contract.check(method, path, query=query, body=body if has_body else NO_BODY)
    ]
