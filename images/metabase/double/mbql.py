"""MBQL 4 (legacy) <-> MBQL 5, as Metabase v0.57+ stores and answers ``dataset_query``.

Pure functions (no database, no HTTP), read from Metabase's ``src/metabase/lib/convert.cljc``
(``->pMBQL``, ``->legacy-MBQL``), ``lib/query.cljc`` (``add-types-to-fields``) and
``lib_be/models/transforms.clj`` (``normalize-query``: what POST/PUT /api/card store):

* every clause is ``[tag, options, *args]`` with a fresh ``lib/uuid`` in ``options`` [confirmed:
  ``lib.options/ensure-uuid`` in ``->pMBQL``]; a legacy field ref ``["field", 12, {opts}]`` becomes
  ``["field", {opts, "lib/uuid"}, 12]`` [confirmed];
* the legacy ``filter`` becomes the list ``filters`` (a top-level ``and`` split into its arguments)
  [confirmed: ``lib.util/pipeline``]; back to legacy one filter stays itself, several become ``and``;
* ``["aggregation", 0]`` becomes ``["aggregation", {...}, "<lib/uuid of aggregation 0>"]`` [confirmed];
* ``contains``/``starts-with``/``ends-with``/``does-not-contain`` move their trailing options map
  to the front [confirmed]; ``time-interval`` likewise [confirmed];
* expressions become a list whose options carry ``lib/expression-name`` [confirmed];
* ``source-table: "card__N"`` becomes ``source-card: N`` [confirmed]; back to legacy it is written
  ``card__N`` again [inferred];
* a native query becomes one ``mbql.stage/native`` stage: ``native`` is the SQL string and the
  other keys of the legacy ``native`` map (``template-tags``) move into the stage [confirmed];
* converting a *legacy* query (not an MBQL 5 one) adds ``base-type`` and ``effective-type`` from the
  synced metadata to every field ref that lacks them, with the marker
  ``metabase.lib.query/transformation-added-base-type: true`` when ``base-type`` was absent, so that
  ``legacy-mbql=true`` gives the sent query back [confirmed in ``add-types-to-fields``; whether
  v0.58 keeps the marker in what it serializes, and its exact key in v0.58, are not confirmed].

Back to legacy (``?legacy-mbql=true``): ``lib/*`` and ``metabase.lib.*`` keys are removed, a
``base-type`` added by the conversion is removed, ``effective-type`` is removed when it equals
``base-type`` (or there is none), a field ref with no options left is ``["field", 12, null]`` and
other clauses without options lose their options map [confirmed: ``options->legacy-MBQL``].
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

ADDED_BASE_TYPE = "metabase.lib.query/transformation-added-base-type"
STRING_COMPARISONS = frozenset({"contains", "starts-with", "ends-with", "does-not-contain"})
STAGE_LIST_KEYS = ("aggregation", "breakout", "fields", "filters", "order-by", "expressions", "joins")
NATIVE_STAGE_KEYS = frozenset({"lib/type", "native", "template-tags", "params", "collection"})


class InvalidQuery(ValueError):
    """A query Metabase refuses to save or run; the message is Metabase's."""


def new_uuid() -> str:
    return str(uuid.uuid4())


def is_mbql5(query: Any) -> bool:
    return isinstance(query, dict) and "lib/type" in query


def _is_clause(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], str)


def _tag(value: str) -> str:
    """Legacy clause names are normalized like Metabase's keywords (``STARTS_WITH`` -> ``starts-with``)."""
    return value.lower().replace("_", "-")


# -- legacy -> MBQL 5 --------------------------------------------------------------------------


def _options(value: Any) -> dict:
    return dict(value) if isinstance(value, dict) else {}


def clause_to_mbql5(clause: Any, aggregations: Mapping[int, str] | None = None) -> Any:  # noqa: PLR0911 - one case per clause shape
    """One legacy clause (or a literal) as MBQL 5; ``aggregations`` maps aggregation index -> uuid."""
    if not _is_clause(clause):
        return clause
    aggregations = aggregations or {}
    tag, args = _tag(clause[0]), list(clause[1:])
    if args and isinstance(args[0], dict):  # already MBQL 5: keep, make sure of the uuid
        options = {**args[0]}
        options.setdefault("lib/uuid", new_uuid())
        return [tag, options, *(clause_to_mbql5(a, aggregations) for a in args[1:])]
    if tag == "field":
        ident = args[0] if args else None
        return ["field", {**_options(args[1] if len(args) > 1 else None), "lib/uuid": new_uuid()}, ident]
    if tag == "aggregation":
        index = args[0] if args else None
        if index not in aggregations:
            raise InvalidQuery(f"Error converting :aggregation reference: no aggregation at index {index}")
        return ["aggregation", {**_options(args[1] if len(args) > 1 else None), "lib/uuid": new_uuid()},
                aggregations[index]]  # fmt: skip
    if tag == "expression":
        return ["expression", {**_options(args[1] if len(args) > 1 else None), "lib/uuid": new_uuid()}, args[0]]
    if tag == "aggregation-options":
        inner = clause_to_mbql5(args[0], aggregations)
        inner[1] = {**inner[1], **_options(args[1] if len(args) > 1 else None)}
        return inner
    if tag in STRING_COMPARISONS and len(args) <= 3:
        options = _options(args[2] if len(args) > 2 else None)
        return [tag, {**options, "lib/uuid": new_uuid()}, *(clause_to_mbql5(a, aggregations) for a in args[:2])]
    if tag == "time-interval":
        options = _options(args[3] if len(args) > 3 else None)
        return [tag, {**options, "lib/uuid": new_uuid()}, clause_to_mbql5(args[0], aggregations), *args[1:3]]
    if tag == "relative-datetime":
        return [tag, {"lib/uuid": new_uuid()}, *args]
    if tag == "value":
        options = _options(args[1] if len(args) > 1 else None)
        return ["value", {**options, "lib/uuid": new_uuid()}, args[0] if args else None]
    return [tag, {"lib/uuid": new_uuid()}, *(clause_to_mbql5(a, aggregations) for a in args)]


def _split_and(clause: Any) -> list:
    if _is_clause(clause) and _tag(clause[0]) == "and" and not (len(clause) > 1 and isinstance(clause[1], dict)):
        return [c for part in clause[1:] for c in _split_and(part)]
    return [clause]


def _stage_to_mbql5(inner: Mapping) -> list[dict]:
    """The stages of a legacy inner query (``source-query`` chains become earlier stages)."""
    stages = _stage_to_mbql5(inner["source-query"]) if isinstance(inner.get("source-query"), dict) else []
    stage: dict[str, Any] = {"lib/type": "mbql.stage/mbql"}
    source = inner.get("source-table")
    if isinstance(source, str) and source.startswith("card__") and source[6:].isdigit():
        stage["source-card"] = int(source[6:])
    elif source is not None:
        stage["source-table"] = source
    aggregations: dict[int, str] = {}
    if inner.get("aggregation"):
        converted = []
        for index, aggregation in enumerate(inner["aggregation"]):
            clause = clause_to_mbql5(aggregation, aggregations)
            aggregations[index] = clause[1]["lib/uuid"]
            converted.append(clause)
        stage["aggregation"] = converted
    if isinstance(inner.get("expressions"), dict) and inner["expressions"]:
        expressions = []
        for name, expression in inner["expressions"].items():
            clause = clause_to_mbql5(expression, aggregations)
            if not _is_clause(clause):
                clause = ["value", {"lib/uuid": new_uuid()}, clause]
            clause[1] = {**clause[1], "lib/expression-name": name}
            expressions.append(clause)
        stage["expressions"] = expressions
    if inner.get("filter"):
        stage["filters"] = [clause_to_mbql5(c, aggregations) for c in _split_and(inner["filter"])]
    for key in ("breakout", "fields", "order-by", "joins"):
        if inner.get(key):
            stage[key] = [clause_to_mbql5(c, aggregations) for c in inner[key]]
    for key, value in inner.items():
        if key not in stage and key not in ("source-query", "source-table", "aggregation", "expressions", "filter",
                                            "breakout", "fields", "order-by", "joins", "source-metadata"):  # fmt: skip
            stage[key] = value
    return [*stages, stage]


def _map_dimensions(tags: Mapping, convert: Callable[[Any], Any]) -> dict:
    """Template tags with the field ref of each ``dimension`` tag converted."""
    return {
        name: {**tag, "dimension": convert(tag["dimension"])} if isinstance(tag, dict) and "dimension" in tag else tag
        for name, tag in tags.items()
    }


def _native_stage(native: Mapping) -> dict:
    stage = {"lib/type": "mbql.stage/native", "native": native.get("query")}
    for key, value in native.items():
        if key != "query":
            stage[key] = value
    if isinstance(stage.get("template-tags"), dict):
        stage["template-tags"] = _map_dimensions(stage["template-tags"], clause_to_mbql5)
    return stage


def legacy_to_mbql5(query: Mapping) -> dict:
    """A legacy (MBQL 4) query as MBQL 5, with fresh uuids."""
    result: dict[str, Any] = {"lib/type": "mbql/query", "database": query.get("database")}
    if query.get("type") == "native":
        native = query.get("native") if isinstance(query.get("native"), dict) else {}
        result["stages"] = [_native_stage(native)]
    else:
        inner = query.get("query") if isinstance(query.get("query"), dict) else {}
        result["stages"] = _stage_to_mbql5(inner)
    return result


def check_query(query: Any) -> None:  # noqa: PLR0912 - one check per Metabase rule
    """Metabase's checks when a query is saved (``lib-be.models.transforms/normalize-query``) and the
    MBQL 5 stage rules of ``lib/schema.cljc``; raises InvalidQuery with Metabase's message."""
    if not isinstance(query, dict):
        raise InvalidQuery("Query must be a map")
    if "lib/type" in query and any(k in query for k in ("type", "query", "native")):
        raise InvalidQuery(
            "MBQL 4 keys like :type, :query, or :native are not allowed in MBQL 5 queries with :lib/type"
        )
    if "type" in query and "stages" in query:
        raise InvalidQuery("MBQL 5 :stages is not allowed in an MBQL 4 query with :type")
    if "lib/type" not in query and "type" not in query:
        raise InvalidQuery("Query must include :lib/type or :type")
    if query.get("database") is None:
        raise InvalidQuery("Query must include :database")
    if "lib/type" not in query:
        if query["type"] not in ("query", "native"):
            raise InvalidQuery(f"Invalid query type: {query['type']}")
        return
    stages = query.get("stages")
    if not isinstance(stages, list) or not stages or not all(isinstance(s, dict) for s in stages):
        raise InvalidQuery("Invalid query: :stages must be a non-empty sequence of stages")
    for number, stage in enumerate(stages):
        kind = stage.get("lib/type")
        if kind == "mbql.stage/native":
            for key in ("query", "source-table", "filter", "filters", "limit", "aggregation", "breakout"):
                if key in stage:
                    hint = ", you probably meant to use :native instead" if key == "query" else ""
                    raise InvalidQuery(f":{key} is not allowed in a native query stage{hint}.")
            if not isinstance(stage.get("native"), str):
                raise InvalidQuery("Invalid native stage: :native must be a string")
            tags = stage.get("template-tags") or {}
            for name, tag in tags.items() if isinstance(tags, dict) else ():
                if not isinstance(tag, dict) or tag.get("name") != name:
                    raise InvalidQuery("keys in template tag map must match the :name of their values")
        elif kind == "mbql.stage/mbql":
            if "filter" in stage:
                raise InvalidQuery(":filter is not allowed in an MBQL 5 stage, use :filters instead")
            if "query" in stage or "native" in stage:
                raise InvalidQuery(":query and :native are not allowed in an MBQL 5 stage")
            sources = [k for k in ("source-table", "source-card") if k in stage]
            if number == 0 and len(sources) != 1:
                raise InvalidQuery("An initial MBQL stage must have exactly one of :source-table or :source-card")
            for key in STAGE_LIST_KEYS:
                if key in stage and (not isinstance(stage[key], list) or not stage[key]):
                    raise InvalidQuery(f"Invalid stage: {key} must have at least 1 item when present")
        else:
            raise InvalidQuery(f"Invalid stage :lib/type {kind!r}")
    seen: set[str] = set()
    for found in _uuids(query):
        if found in seen:
            raise InvalidQuery(f"Duplicate :lib/uuid {found}")
        seen.add(found)


def _uuids(value: Any) -> list[str]:
    found = []
    if isinstance(value, dict):
        if isinstance(value.get("lib/uuid"), str):
            found.append(value["lib/uuid"])
        for item in value.values():
            found.extend(_uuids(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_uuids(item))
    return found


def ensure_uuids(value: Any) -> Any:
    """An MBQL 5 query with a ``lib/uuid`` added to every clause options map that lacks one; the ones
    sent are kept [inferred: lib/normalize fills in missing uuids; not confirmed for v0.58]."""
    if isinstance(value, dict):
        return {key: ensure_uuids(item) for key, item in value.items()}
    if not isinstance(value, list):
        return value
    items = [ensure_uuids(item) for item in value]
    if _is_clause(items) and len(items) > 1 and isinstance(items[1], dict) and "lib/uuid" not in items[1]:
        items[1] = {**items[1], "lib/uuid": new_uuid()}
    return items


def add_types_to_fields(value: Any, field_types: Callable[[int], tuple[str, str] | None]) -> Any:
    """``add-types-to-fields``: ``base-type``/``effective-type`` from metadata on every MBQL 5 field ref
    by id that lacks one of them (unless it already names another base type)."""
    if isinstance(value, dict):
        return {key: add_types_to_fields(item, field_types) for key, item in value.items()}
    if not isinstance(value, list):
        return value
    if (
        len(value) == 3
        and value[0] == "field"
        and isinstance(value[1], dict)
        and isinstance(value[2], int)
        and not isinstance(value[2], bool)
        and not ("base-type" in value[1] and "effective-type" in value[1])
    ):
        options = value[1]
        types = field_types(value[2])
        if types is None or ("base-type" in options and options["base-type"] != types[0]):
            return value
        added = {} if "base-type" in options else {ADDED_BASE_TYPE: True}
        return ["field", {**options, **added, "base-type": types[0], "effective-type": types[1]}, value[2]]
    return [add_types_to_fields(item, field_types) for item in value]


def normalize_for_save(query: Mapping, field_types: Callable[[int], tuple[str, str] | None]) -> dict:
    """What POST/PUT /api/card store for ``dataset_query``: MBQL 5 as sent, or a legacy query converted
    (fresh uuids, types added). Raises InvalidQuery."""
    check_query(query)
    if is_mbql5(query):
        return ensure_uuids(query)
    converted = add_types_to_fields(legacy_to_mbql5(query), field_types)
    check_query(converted)
    return converted


# -- MBQL 5 -> legacy --------------------------------------------------------------------------


def _is_lib_key(key: str) -> bool:
    namespace = key.split("/", 1)[0] if "/" in key else None
    return namespace is not None and (namespace in ("lib", "lib.columns") or namespace.startswith("metabase.lib."))


def options_to_legacy(options: Any) -> dict | None:
    if not isinstance(options, dict):
        return None
    result = dict(options)
    if result.get(ADDED_BASE_TYPE):
        result.pop("base-type", None)
    if result.get("base-type") is None or result.get("effective-type") == result.get("base-type"):
        result.pop("effective-type", None)
    result.pop("ident", None)
    result = {k: v for k, v in result.items() if not _is_lib_key(k)}
    return result or None


def clause_to_legacy(clause: Any, aggregations: Mapping[str, int] | None = None) -> Any:
    """One MBQL 5 clause (or literal) as legacy; ``aggregations`` maps aggregation uuid -> index."""
    if not _is_clause(clause) or len(clause) < 2 or not (clause[1] is None or isinstance(clause[1], dict)):
        return clause
    aggregations = aggregations or {}
    tag, options, args = clause[0], options_to_legacy(clause[1]), clause[2:]
    legacy_args = [clause_to_legacy(a, aggregations) for a in args]
    if tag == "field":
        return ["field", args[0] if args else None, options]
    if tag == "aggregation":
        return ["aggregation", aggregations.get(args[0], args[0]), *([options] if options else [])]
    if tag in ("expression", "value"):
        return [tag, *legacy_args, *([options] if options else [])]
    if (tag in STRING_COMPARISONS and len(args) <= 2) or tag == "time-interval":
        return [tag, *legacy_args, *([options] if options else [])]
    return [tag, *legacy_args]


def aggregation_to_legacy(clause: Any, aggregations: Mapping[str, int]) -> Any:
    if not _is_clause(clause) or len(clause) < 2 or not isinstance(clause[1], dict):
        return clause
    options = options_to_legacy(clause[1])
    inner = [clause[0], *(clause_to_legacy(a, aggregations) for a in clause[2:])]
    return ["aggregation-options", inner, options] if options else inner


def _stage_to_legacy(stage: Mapping) -> dict:
    result: dict[str, Any] = {}
    aggregations: dict[str, int] = {}
    for key, value in stage.items():
        if _is_lib_key(key):
            continue
        if key == "aggregation":
            aggregations = {
                c[1].get("lib/uuid"): i for i, c in enumerate(value) if _is_clause(c) and isinstance(c[1], dict)
            }
    for key, value in stage.items():
        if _is_lib_key(key):
            continue
        if key == "source-card":
            result["source-table"] = f"card__{value}"
        elif key == "aggregation":
            result["aggregation"] = [aggregation_to_legacy(c, aggregations) for c in value]
        elif key == "filters":
            filters = [clause_to_legacy(c, aggregations) for c in value]
            if filters:
                result["filter"] = filters[0] if len(filters) == 1 else ["and", *filters]
        elif key == "expressions":
            result["expressions"] = {
                c[1].get("lib/expression-name"): aggregation_to_legacy(c, aggregations)
                if c[0] not in ("value",) else c[2]
                for c in value
                if _is_clause(c) and isinstance(c[1], dict)
            }  # fmt: skip
        elif key in STAGE_LIST_KEYS:
            result[key] = [clause_to_legacy(c, aggregations) for c in value]
        else:
            result[key] = value
    return result


def mbql5_to_legacy(query: Mapping) -> dict:
    """``lib/->legacy-MBQL``: an MBQL 5 query as legacy (``GET /api/card/:id?legacy-mbql=true``)."""
    if not is_mbql5(query):
        return dict(query)
    stages = query.get("stages") or []
    top = {k: v for k, v in query.items() if k not in ("stages",) and not _is_lib_key(k)}
    if stages and stages[-1].get("lib/type") == "mbql.stage/native":
        stage = stages[-1]
        native = {"query": stage.get("native")}
        for key, value in stage.items():
            if key in ("native",) or _is_lib_key(key):
                continue
            native[key] = value
        if isinstance(native.get("template-tags"), dict):
            native["template-tags"] = _map_dimensions(native["template-tags"], clause_to_legacy)
        return {**top, "type": "native", "native": native}
    inner: dict | None = None
    for stage in stages:
        legacy = _stage_to_legacy(stage)
        if inner is not None:
            legacy["source-query"] = inner
        inner = legacy
    return {**top, "type": "query", "query": inner or {}}


def to_mbql5(query: Any, field_types: Callable[[int], tuple[str, str] | None] | None = None) -> Any:
    """Any query as MBQL 5 (for running it); legacy ones converted, MBQL 5 ones unchanged."""
    if not isinstance(query, dict) or is_mbql5(query):
        return query
    converted = legacy_to_mbql5(query)
    return add_types_to_fields(converted, field_types) if field_types else converted
