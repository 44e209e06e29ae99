"""Check Metabase API requests against Metabase's own OpenAPI description.

The spec (``shared/metabase/openapi.json``, OpenAPI 3.1, JSON Schema 2020-12) pins the requests:
paths, methods, path and query parameters and request bodies. This module validates one request
at a time against it, so that every request the modules send (unit tests, through the fake
Metabase) and every request the Metabase double accepts (its tests, Molecule verify) can be checked
the same way.

Usage::

    from openapi_contract import load_contract

    contract = load_contract()                 # METABASE_OPENAPI, or ../shared/metabase/openapi.json
    problems = contract.check("PUT", "/api/database/3", body={"details": {"host": "db"}})
    contract.assert_valid("GET", "/api/database/?include=tables")   # raises ContractViolation

Rules, from ``shared/metabase/SOURCE.md`` and ``api-facts.md`` §0:

* the path must match a path key of the spec (templates such as ``/api/database/{id}``; collection
  roots carry a trailing slash in the spec, and the check is strict about it unless
  ``lenient_trailing_slash=True``), and that path key must have the method;
* path and query parameters are decoded from their URL text and must satisfy their schemas;
  query parameters the operation does not define are violations;
* the JSON body must satisfy the ``requestBody`` schema, ``$ref``s resolved against the spec's
  ``components.schemas``; keys (and query parameters) marked required that carry a ``default`` are
  treated as optional, as Metabase fills them in; an operation without ``requestBody`` takes no body;
* ``GET /api/health`` is served outside the API router and is absent from the spec; it is accepted
  as documented in ``behaviour.md`` §1 (no parameters, no body).

A missing spec file is an error (:class:`FileNotFoundError`), never a skip.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = "../shared/metabase/openapi.json"
SPEC_URI = "urn:metabase:openapi"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

#: Endpoints Metabase serves that the spec leaves out, with where their behaviour is recorded.
OUT_OF_SPEC = {
    ("GET", "/api/health"): "behaviour.md §1: served outside the API router, no auth, no parameters",
}

#: Stands for "no request body" (a JSON ``null`` body is something else).
NO_BODY = object()


class ContractViolation(AssertionError):
    """A request that Metabase's OpenAPI description does not allow."""


def spec_path() -> Path:
    """The spec file: ``$METABASE_OPENAPI`` or ``../shared/metabase/openapi.json``, relative to the repo root."""
    path = Path(os.environ.get("METABASE_OPENAPI") or DEFAULT_SPEC)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def _optional_defaults(node):
    """Drop from every ``required`` list the keys whose property schema has a ``default``."""
    if isinstance(node, dict):
        properties = node.get("properties")
        required = node.get("required")
        if isinstance(properties, dict) and isinstance(required, list):
            node["required"] = [
                key for key in required if not (isinstance(properties.get(key), dict) and "default" in properties[key])
            ]
        for value in node.values():
            _optional_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _optional_defaults(value)


def _unrendered_one_of(node, components=None):
    """Read as ``anyOf`` every ``oneOf`` that has an empty ``{}`` branch (inline or behind a ``$ref``).

    The generator writes ``{}`` for Malli schemas it cannot render (e.g.
    ``metabase.lib.schema.parameter.dimension``); such a branch matches every value, so under
    ``oneOf`` any value another branch also matches counted as ambiguous and was refused, although
    Metabase's ``:multi`` schema dispatches it to one branch (a dashcard mapping to a native
    variable, ``["variable", ["template-tag", "x"]]``). What the branches accept is unchanged."""
    if components is None:
        components = node.get("components", {}).get("schemas", {}) if isinstance(node, dict) else {}
    prefix = "#/components/schemas/"

    def unconstrained(schema) -> bool:
        # {} or only a description: what the generator writes for a schema it cannot render
        # (``{"description": "value must be a valid field semantic or relation type ..."}``).
        return isinstance(schema, dict) and set(schema) <= {"description", "title"}

    def empty(branch) -> bool:
        ref = branch.get("$ref", "") if isinstance(branch, dict) else ""
        return unconstrained(branch) or (ref.startswith(prefix) and unconstrained(components.get(ref[len(prefix) :])))

    def by_edition(branches) -> bool:
        # A :multi dispatched on the edition (``cache-strategy.ee`` / ``.oss``): Metabase checks one
        # branch, the one of the running edition, so a value both accept is not ambiguous.
        refs = sorted(b.get("$ref", "") for b in branches if isinstance(b, dict))
        return len(refs) == len(branches) == 2 and refs[0].endswith(".ee") and refs[1] == refs[0][:-3] + ".oss"

    if isinstance(node, dict):
        branches = node.get("oneOf")
        if isinstance(branches, list) and (any(empty(branch) for branch in branches) or by_edition(branches)):
            node["anyOf"] = node.pop("oneOf")
        for value in node.values():
            _unrendered_one_of(value, components)
    elif isinstance(node, list):
        for value in node:
            _unrendered_one_of(value, components)


def _template_regex(template: str):
    parts = re.split(r"(\{[^}/]+\})", template)
    pattern = "".join(f"(?P<p{i}>[^/]+)" if part.startswith("{") else re.escape(part) for i, part in enumerate(parts))
    names = {f"p{i}": part[1:-1] for i, part in enumerate(parts) if part.startswith("{")}
    literal = sum(len(part) for part in parts if not part.startswith("{"))
    return re.compile("^" + pattern + "$"), names, literal


def _candidates(text: str):
    """The JSON values a URL parameter text can stand for, most specific first."""
    values = []
    if re.fullmatch(r"-?\d+", text):
        values.append(int(text))
    elif re.fullmatch(r"-?\d+\.\d*", text):
        values.append(float(text))
    if text in ("true", "false"):
        values.append(text == "true")
    values.append(text)
    return values


def _query_items(*sources) -> dict:
    """Merge query strings and mappings into ``{name: [text, ...]}``."""
    items: dict = {}
    for source in sources:
        if not source:
            continue
        parsed = parse_qs(source, keep_blank_values=True) if isinstance(source, str) else source
        for key, value in parsed.items():
            items.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return items


class OpenApiContract:
    """Validator for requests against one OpenAPI document."""

    def __init__(self, spec: dict, source: str = "<spec>"):
        self.source = source
        self.spec = copy.deepcopy(spec)
        _optional_defaults(self.spec)
        _unrendered_one_of(self.spec)
        for item in self.spec.get("paths", {}).values():
            for operation in item.values():
                if isinstance(operation, dict):
                    for parameter in operation.get("parameters", []):
                        if parameter.get("required") and "default" in parameter.get("schema", {}):
                            parameter["required"] = False
        self.registry = Registry().with_resource(SPEC_URI, Resource(contents=self.spec, specification=DRAFT202012))
        self.templates = []
        for template, item in self.spec.get("paths", {}).items():
            regex, names, literal = _template_regex(template)
            self.templates.append((template, item, regex, names, literal))
        self._validators = {}

    @classmethod
    def from_file(cls, path) -> OpenApiContract:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"Metabase OpenAPI spec not found at {path} (set METABASE_OPENAPI to its path; it lives in "
                "shared/metabase/openapi.json). The contract tests cannot run without it."
            )
        with path.open(encoding="utf-8") as handle:
            return cls(json.load(handle), source=str(path))

    # -- helpers -----------------------------------------------------------------------------

    def _validator(self, pointer: str) -> Draft202012Validator:
        if pointer not in self._validators:
            schema = {"$ref": SPEC_URI + "#" + pointer}
            self._validators[pointer] = Draft202012Validator(schema, registry=self.registry)
        return self._validators[pointer]

    @staticmethod
    def _pointer(*parts) -> str:
        return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)

    def _errors(self, pointer: str, value) -> list[str]:
        messages = []
        found = self._validator(pointer).iter_errors(value)
        for error in sorted(found, key=lambda e: [str(p) for p in e.absolute_path]):
            shown = error
            if error.context:  # oneOf/anyOf: report the closest branch other than "or null"
                branches = [e for e in error.context if not (e.validator == "type" and e.validator_value == "null")]
                shown = best_match(branches or error.context)
            where = "/".join(str(part) for part in shown.absolute_path) or "(root)"
            messages.append(f"{where}: {shown.message}")
        return messages

    def match(self, method: str, path: str, lenient_trailing_slash: bool = False):
        """``(template, path_params, problems)`` for a concrete path and method."""
        method = method.lower()
        paths = [path]
        if lenient_trailing_slash:
            paths.append(path[:-1] if path.endswith("/") else path + "/")
        matches = []
        for candidate in paths:
            for template, item, regex, names, literal in self.templates:
                found = regex.match(candidate)
                if found:
                    params = {names[key]: value for key, value in found.groupdict().items()}
                    matches.append((literal, template, item, params))
        if not matches:
            problem = f"no path of the spec matches {path}"
            other = path[:-1] if path.endswith("/") else path + "/"
            if any(entry[2].match(other) for entry in self.templates):
                problem += f" (the spec's path key is spelled {other})"
            return None, {}, [problem]
        with_method = [m for m in matches if method in m[2]]
        if not with_method:
            allowed = sorted({verb.upper() for m in matches for verb in m[2] if verb in METHODS})
            problem = (
                f"{method.upper()} {path}: method not in the spec for {matches[0][1]} (it has {', '.join(allowed)})"
            )
            return None, {}, [problem]
        with_method.sort(key=lambda m: -m[0])
        template, params = with_method[0][1], with_method[0][3]
        return template, params, []

    def _check_parameter(self, pointer, parameter, value, where) -> list[str]:
        name = parameter["name"]
        texts = value if isinstance(value, list) else [value]
        schema = parameter.get("schema", {})
        tries = []
        if len(texts) == 1:
            tries.extend(_candidates(str(texts[0])))
        tries.append([_candidates(str(text))[0] for text in texts])
        tries.append([str(text) for text in texts])
        if not schema:
            return []
        for attempt in tries:
            if not self._validator(pointer).is_valid(attempt):
                continue
            return []
        errors = self._errors(pointer, tries[0])
        return [f"{where} parameter {name!r}={value!r}: {'; '.join(errors) or 'invalid'}"]

    # -- API ---------------------------------------------------------------------------------

    def check(self, method: str, path: str, query=None, body=NO_BODY, lenient_trailing_slash: bool = False):
        """All the ways the request breaks the spec (a list of texts); empty when it complies.

        ``path`` may carry a query string; ``query`` is a mapping of name to text (or list of
        texts) or a query string. ``body`` is the decoded JSON body, or ``NO_BODY``.
        """
        method = method.upper()
        split = urlsplit(path)
        path = split.path
        query_items = _query_items(split.query, query)
        if (method, path) in OUT_OF_SPEC:
            problems = []
            if query_items:
                problems.append(f"{method} {path} takes no query parameters")
            if body is not NO_BODY:
                problems.append(f"{method} {path} takes no body")
            return problems
        template, path_params, problems = self.match(method, path, lenient_trailing_slash)
        if problems:
            return problems
        return self._check_parameters(method, template, path_params, query_items) + self._check_body(
            method, template, body
        )

    def _check_parameters(self, method, template, path_params, query_items) -> list[str]:
        label = f"{method} {template}"
        problems = []
        parameters = self.spec["paths"][template][method.lower()].get("parameters", [])
        for index, parameter in enumerate(parameters):
            pointer = self._pointer("paths", template, method.lower(), "parameters", index, "schema")
            location, name = parameter.get("in"), parameter["name"]
            values = path_params if location == "path" else query_items if location == "query" else {}
            if name in values:
                value = values[name]
                if isinstance(value, list) and len(value) == 1:
                    value = value[0]
                problems.extend(self._check_parameter(pointer, parameter, value, f"{label}: {location}"))
            elif location in ("path", "query") and parameter.get("required"):
                problems.append(f"{label}: required {location} parameter {name!r} missing")
        known = {p["name"] for p in parameters if p.get("in") == "query"}
        problems.extend(
            f"{label}: query parameter {name!r} is not in the spec" for name in sorted(set(query_items) - known)
        )
        return problems

    def _check_body(self, method, template, body) -> list[str]:
        label = f"{method} {template}"
        request_body = self.spec["paths"][template][method.lower()].get("requestBody")
        if request_body is None:
            return [f"{label}: the spec defines no request body, but one was sent"] if body is not NO_BODY else []
        content = request_body.get("content", {})
        if "application/json" not in content:
            return [f"{label}: the spec takes {', '.join(sorted(content))}, not JSON"]
        if body is NO_BODY:
            if request_body.get("required") or content["application/json"].get("schema", {}).get("required"):
                return [f"{label}: a request body is required"]
            return []
        pointer = self._pointer(
            "paths", template, method.lower(), "requestBody", "content", "application/json", "schema"
        )
        return [f"{label}: body {error}" for error in self._errors(pointer, body)]

    def check_many(self, requests) -> list[str]:
        """Check recorded requests; each is ``(method, path, query, body)`` or a mapping with those keys
        (``body`` missing or ``NO_BODY`` for none). Returns the problems, each prefixed by its request."""
        problems = []
        for request in requests:
            if isinstance(request, dict):
                method, path = request["method"], request["path"]
                query, body = request.get("query"), request.get("body", NO_BODY)
            else:
                method, path, query, body = request
            found = self.check(method, path, query=query, body=body)
            problems.extend(f"{method} {path}: {problem}" for problem in found)
        return problems

    def assert_valid(self, method: str, path: str, query=None, body=NO_BODY, lenient_trailing_slash: bool = False):
        problems = self.check(method, path, query=query, body=body, lenient_trailing_slash=lenient_trailing_slash)
        if problems:
            listing = "\n  ".join(problems)
            raise ContractViolation(f"{method} {path} breaks {self.source}:\n  {listing}")


@functools.lru_cache(maxsize=4)
def _load(path: str) -> OpenApiContract:
    return OpenApiContract.from_file(path)


def load_contract(path=None) -> OpenApiContract:
    """The contract for ``path`` (default :func:`spec_path`), parsed once per process."""
    return _load(str(Path(path) if path else spec_path()))
