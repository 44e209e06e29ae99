"""Request body checks that answer like Metabase's schema validation.

Metabase validates a body against the endpoint's schema and answers **400** with
``{"errors": {<key>: <message>}, "specific-errors": {<key>: [<message>]}}`` (behaviour.md §2, §4),
the messages being the schema's descriptions: "value must be a non-blank string.", "nullable value
must be ..." for optional keys, and so on.

Usage::

    body = request.json()
    validate(body, name=NON_BLANK, engine=NON_BLANK, details=MAP, auto_run_queries=optional(BOOLEAN))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from double.web import HTTPError, Response


class Rule(NamedTuple):
    message: str
    test: Callable[[Any], bool]
    required: bool = True


def _non_blank(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

NON_BLANK = Rule("value must be a non-blank string.", _non_blank)
POSITIVE_INT = Rule("value must be an integer greater than zero.", _positive_int)
NON_NEGATIVE_INT = Rule("value must be an integer greater than or equal to zero.", _non_negative_int)
INTEGER = Rule("value must be an integer.", lambda v: isinstance(v, int) and not isinstance(v, bool))
MAP = Rule("value must be a map.", lambda v: isinstance(v, dict))
BOOLEAN = Rule("value must be a boolean.", lambda v: isinstance(v, bool))
STRING = Rule("value must be a string.", lambda v: isinstance(v, str))
SEQUENCE = Rule("value must be an array.", lambda v: isinstance(v, list))
EMAIL = Rule("value must be a valid email address.", lambda v: isinstance(v, str) and bool(_EMAIL.match(v)))


def optional(rule: Rule) -> Rule:
    """The rule for an optional, nullable key (absent and null pass)."""
    return Rule("nullable " + rule.message, rule.test, required=False)


def one_of(*choices: str, required: bool = True) -> Rule:
    shown = ", ".join(choices)
    prefix = "" if required else "nullable "
    return Rule(f"{prefix}value must be one of: {shown}.", lambda v: v in choices, required)


def problems(body: Any, rules: Mapping[str, Rule]) -> dict[str, str]:
    """``{key: message}`` for every key of ``body`` that breaks its rule."""
    if not isinstance(body, dict):
        body = {}
    found = {}
    for key, rule in rules.items():
        value = body.get(key)
        if value is None and not rule.required:
            continue
        if value is None or not rule.test(value):
            found[key] = rule.message
    return found


def _specific(errors: Mapping[str, Any]) -> dict:
    return {key: _specific(value) if isinstance(value, Mapping) else [value] for key, value in errors.items()}


def error_response(errors: Mapping[str, Any]) -> Response:
    """Metabase's 400 for a body that breaks its schema. The errors nest like the body
    (api/macros.clj assoc-in at the failing path): ``{"user": {"password": "..."}}``."""
    return Response.json({"errors": dict(errors), "specific-errors": _specific(errors)}, 400)


def validate(body: Any, **rules: Rule) -> dict:
    """Raise Metabase's 400 when ``body`` breaks ``rules``; the body as a dict otherwise.

    Keys with a dash (``schema-filters-type``) can be passed with ``**{"key-name": rule}``.
    """
    found = problems(body, rules)
    if found:
        raise HTTPError(error_response(found))
    return body if isinstance(body, dict) else {}
