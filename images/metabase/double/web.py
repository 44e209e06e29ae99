"""The tiny web framework the routes are written in: Request, Response, Router.

A route is a function ``handler(request, **path_params) -> Response`` registered with
``@router.route("GET", "/api/thing/{id:int}")``. Paths are matched without a trailing slash
(Metabase serves ``/api/database`` and ``/api/database/`` alike).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
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
        return cls(status, json.dumps(data, separators=(",", ":")).encode("utf-8"), JSON)

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode("utf-8"), TEXT)

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode("utf-8"), HTML)

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status, b"", TEXT)


# Metabase's fixed answers.
NOT_FOUND = "API endpoint does not exist."
STILL_INITIALIZING = "Metabase is still initializing. Please sit tight..."
UNAUTHENTICATED = "Unauthenticated"


@dataclasses.dataclass
class Request:
    method: str
    path: str  # without query string, without trailing slash
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # http.client.HTTPMessage: case-insensitive .get()
    body: bytes
    app: Any  # server.App; typed loosely to keep web.py free of imports from the server

    def json(self) -> Any:
        """The JSON body; a malformed body answers 400 like Metabase's JSON middleware."""
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise HTTPError(Response.json({"message": "Malformed JSON in request body."}, 400)) from None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


Handler = Callable[..., Response]

_PARAM = re.compile(r"\{(\w+)(?::(int))?\}")


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    converters: dict[str, Callable[[str], Any]]
    handler: Handler
    during_init: bool


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def route(self, method: str, template: str, *, during_init: bool = False) -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``method`` and ``template`` (``{name}`` or ``{name:int}``).

        ``during_init=True`` serves the route while Metabase is still initialising (only
        /api/health does that in Metabase); every other route answers 503 until init completes.
        """
        converters: dict[str, Callable[[str], Any]] = {}

        def replace(match: re.Match) -> str:
            name, kind = match.group(1), match.group(2)
            converters[name] = int if kind == "int" else str
            return rf"(?P<{name}>\d+)" if kind == "int" else rf"(?P<{name}>[^/]+)"

        regex = re.compile("^" + _PARAM.sub(replace, template.rstrip("/")) + "$")

        def register(handler: Handler) -> Handler:
            self._routes.append(Route(method.upper(), regex, converters, handler, during_init))
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
