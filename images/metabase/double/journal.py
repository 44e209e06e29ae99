"""The request journal: every /api request the double accepted (2xx), kept in the app DB.

Table ``public.double_request_journal`` (see images/README.md): method, the path as sent (trailing
slash kept, no query string), the query as ``{name: [value, ...]}``, whether there was a body and
the JSON body. Tests and Molecule's verify read it to check every accepted request against
Metabase's OpenAPI description (tests/contract/openapi_contract.py).

Secrets never reach it: the value of every key that names a secret (``password``, ``token``,
``key``, ``unmasked_key``, ``db_password``, ``details.password`` and the other sensitive
connection details...) becomes the string ``"<redacted>"`` wherever it appears in the body or the
query, so the entry keeps the shape and types that the contract checks. Numbers under such keys
become 0; booleans and nulls stay.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from psycopg2.extras import Json

from double.databases import SENSITIVE_FIELDS
from double.web import NO_BODY

log = logging.getLogger("metabase.double.journal")

REDACTED = "<redacted>"

#: Keys whose values are secrets, wherever they appear (compared case-insensitively): Metabase's sensitive
#: connection details, plus the credentials of the API itself.
SECRET_KEYS = SENSITIVE_FIELDS | frozenset(
    {
        "token",
        "key",
        "unmasked_key",
        "api_key",
        "api-key",
        "db_password",
        "session",
        "session_id",
        "setup-token",
        "secret",
    }
)


def _secret(key: object) -> bool:
    return isinstance(key, str) and key.lower() in SECRET_KEYS


def _mask(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return REDACTED
    if isinstance(value, int | float):
        return 0
    return redact(value)  # a secret-named map or list: redact inside it, keep its shape


def redact(value: Any) -> Any:
    """``value`` with every secret replaced (see the module docstring)."""
    if isinstance(value, dict):
        return {key: (_mask(item) if _secret(key) else redact(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def redact_query(query: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {name: ([REDACTED] * len(values) if _secret(name) else list(values)) for name, values in query.items()}


def record(cur, method: str, path: str, *, query: Mapping[str, list[str]], body: Any, status: int) -> None:
    """Append one accepted request (``body`` is NO_BODY when there was none)."""
    has_body = body is not NO_BODY
    cur.execute(
        "INSERT INTO double_request_journal (method, path, query, has_body, body, status)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (
            method,
            path,
            Json(redact_query(query)),
            has_body,
            Json(redact(body)) if has_body else None,
            status,
        ),
    )
