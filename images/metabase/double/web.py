"""The tiny web framework the routes are written in: Request, Response, Router.

A route is a function ``handler(request, **path_params) -> Response`` registered with
``@router.route("GET", "/api/thing/{id:int}")``. Paths are matched without a trailing slash
(Metabase serves ``/api/database`` and ``/api/database/`` alike).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import re
import uuid
from collections.abc import Callable, Mapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

JSON = "application/json;charset=utf-8"
TEXT = "text/plain;charset=utf-8"
HTML = "text/html;charset=utf-8"


class HTTPError(Exception):
    """Raise from a handler to answer with ``response`` (e.g. a 400 with Metabase's errors map)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclasses.dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, dumps(data).encode("utf-8"), JSON)

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode("utf-8"), TEXT)

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode("utf-8"), HTML)

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status, b"", TEXT)


def timestamp(value: datetime.datetime | None) -> str | None:
    """Metabase's timestamps: ISO 8601 in UTC with a ``Z``."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def _default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return timestamp(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Python accepts them, Metabase's parser does not)."""
    raise ValueError(name)


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=_default)


# Metabase's fixed answers (plain text bodies).
NOT_FOUND = "API endpoint does not exist."
NOT_FOUND_ITEM = "Not found."
FORBIDDEN = "You don't have permissions to do that."
STILL_INITIALIZING = "Metabase is still initializing. Please sit tight..."
UNAUTHENTICATED = "Unauthenticated"
MALFORMED_JSON = "Malformed JSON in request body."

#: Stands for "the request had no body" (a JSON ``null`` body is something else).
NO_BODY: Any = type("NoBody", (), {"__repr__": lambda self: "NO_BODY", "__bool__": lambda self: False})()


def not_found() -> HTTPError:
    """Metabase's 404 for a missing object: plain text ``Not found.``."""
    return HTTPError(Response.text(NOT_FOUND_ITEM, 404))


def forbidden() -> HTTPError:
    """Metabase's 403: plain text ``You don't have permissions to do that.``."""
    return HTTPError(Response.text(FORBIDDEN, 403))


@dataclasses.dataclass
class Request:
    method: str
    path: str  # without query string, without trailing slash
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # http.client.HTTPMessage: case-insensitive .get()
    body: bytes
    app: Any  # server.App; typed loosely to keep web.py free of imports from the server
    raw_path: str = ""  # the path as sent (trailing slash kept), for the request journal
    user: Any = None  # set by auth.authenticate()
    session_key: str | None = None  # the session id the request authenticated with, if any
    remote_addr: str = ""  # the peer's address (auth.source_address() applies X-Forwarded-For)
    _parsed: Any = dataclasses.field(default=None, repr=False)

    def parse_body(self) -> Any:
        """The decoded JSON body, or NO_BODY when there is none. A body that is not JSON answers
        400 ``Malformed JSON in request body.`` (plain text), as Metabase's JSON middleware does."""
        if self._parsed is None:
            if not self.body.strip():
                self._parsed = NO_BODY
            else:
                try:
                    self._parsed = json.loads(self.body, parse_constant=_reject_constant)
                except ValueError:
                    raise HTTPError(Response.text(MALFORMED_JSON, 400)) from None
        return self._parsed

    def json(self) -> Any:
        """The JSON body as handlers read it: ``{}`` when there is no body."""
        body = self.parse_body()
        return {} if body is NO_BODY else body

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def cookie(self, name: str) -> str | None:
        raw = self.headers.get("Cookie")
        if not raw:
            return None
        try:
            jar = SimpleCookie(raw)
        except CookieError:
            return None
        return jar[name].value if name in jar else None

    def arg(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else None

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter (``true``/``false``)."""
        value = self.arg(name)
        if value is None or value == "":
            return default
        return value.strip().lower() == "true"


Handler = Callable[..., Response]

_PARAM = re.compile(r"\{(\w+)(?::(int))?\}")


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    converters: dict[str, Callable[[str], Any]]
    handler: Handler
    during_init: bool
    journal: bool
    #: A context root (``/api/card``: ``defendpoint "/"``; ``/api/health``), which Metabase serves with
    #: or without a trailing slash; every other path (``/api/card/{id}``, ``/api/user/current``) with
    #: a trailing slash matches no route there: 404.
    root: bool = False


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def route(
        self, method: str, template: str, *, during_init: bool = False, journal: bool = True
    ) -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``method`` and ``template`` (``{name}`` or ``{name:int}``).

        ``during_init=True`` serves the route while Metabase is still initialising (only
        /api/health does that in Metabase); every other route answers 503 until init completes.
        ``journal=False`` keeps the route's accepted requests out of the request journal.
        """
        converters: dict[str, Callable[[str], Any]] = {}

        def replace(match: re.Match) -> str:
            name, kind = match.group(1), match.group(2)
            converters[name] = int if kind == "int" else str
            return rf"(?P<{name}>\d+)" if kind == "int" else rf"(?P<{name}>[^/]+)"

        regex = re.compile("^" + _PARAM.sub(replace, template.rstrip("/")) + "$")

        segments = template.strip("/").split("/")
        root = len(segments) == 2 and segments[0] == "api" and "{" not in template

        def register(handler: Handler) -> Handler:
            self._routes.append(Route(method.upper(), regex, converters, handler, during_init, journal, root))
            return handler

        return register

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
        for route in self._routes:
            if route.method != method:
                continue
            match = route.pattern.match(path)
            if match:
                params = {k: route.converters[k](v) for k, v in match.groupdict().items()}
                return route, params
        return None
