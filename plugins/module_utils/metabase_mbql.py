# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Card queries by name: the option form of the card modules, MBQL 4 to write, and one reader for
what Metabase returns (MBQL 4 with ``?legacy-mbql=true`` or before v0.57, MBQL 5 since v0.57).

The *option form* is what a playbook writes and what ``metabase_info`` exports, with names, never
ids::

    query:                                  native:
      source_table: public.orders             query: SELECT ... WHERE {{status}}
      fields: [email, total]                  template_tags:
      aggregations: [count, {sum: total}]       status: {type: text, display_name: Status}
      breakouts: [tier, {column: created_at, unit: week}]
      filters: [{column: total, operator: ">", value: 100}]
      order_by: [{column: tier, direction: desc}, {aggregation: 0}]
      limit: 10

:func:`canonical_query` / :func:`canonical_native` bring a wanted definition to its one canonical
shape; :func:`read_dataset_query` brings a stored ``dataset_query`` (either MBQL version, every
``lib/uuid`` and server-added option ignored) to the same shape. Two definitions are the same
question exactly when their canonical shapes are equal. :func:`compile_query` and
:func:`compile_native` write MBQL 4, which every Metabase since v0.41 accepts (v0.57+ converts it).
"""

from __future__ import annotations

import hashlib
import re
import uuid

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (
    ResourceError,
    unknown_name_error,
)

AGGREGATIONS = ("count", "sum", "avg", "distinct", "min", "max")
#: Aggregations that take no column (count may take one).
AGGREGATIONS_WITHOUT_COLUMN = ("count",)

TEMPORAL_UNITS = (
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "quarter",
    "year",
    "minute-of-hour",
    "hour-of-day",
    "day-of-week",
    "day-of-month",
    "day-of-year",
    "week-of-year",
    "month-of-year",
    "quarter-of-year",
)

#: Filter operators -> how many values they take (None: one or more).
FILTER_OPERATORS = {
    "=": None,
    "!=": None,
    "<": 1,
    "<=": 1,
    ">": 1,
    ">=": 1,
    "between": 2,
    "is-null": 0,
    "not-null": 0,
    "contains": 1,
    "does-not-contain": 1,
    "starts-with": 1,
    "ends-with": 1,
    "time-interval": 2,
}

DIRECTIONS = ("asc", "desc")
TEMPLATE_TAG_TYPES = ("text", "number", "date", "boolean", "dimension")
QUERY_KEYS = ("source_table", "fields", "aggregations", "breakouts", "filters", "order_by", "limit")
TAG_REF = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

#: Namespace of the template-tag ids this collection writes (stable per tag name).
TAG_NAMESPACE = uuid.UUID("5f0b8a39-2d3c-4d7a-9a55-6d1c1e6f2b10")


class Unsupported(ResourceError):
    """A stored query that the option form cannot express (joins, expressions, several stages...)."""


# -- metadata ------------------------------------------------------------------------------------


class DatabaseMetadata:
    """Tables and fields of one database, from ``GET /api/database/{id}/metadata``."""

    def __init__(self, answer, database_name=None):
        self.database_name = database_name
        self.tables = [t for t in (answer or {}).get("tables") or [] if isinstance(t, dict)]
        self._fields = {}
        for table in self.tables:
            for field in table.get("fields") or []:
                if isinstance(field, dict) and isinstance(field.get("id"), int):
                    self._fields[field["id"]] = (table, field)

    @staticmethod
    def table_ref(table):
        """``schema.table`` (``table`` when the database has no schemas)."""
        return "%s.%s" % (table["schema"], table["name"]) if table.get("schema") else table["name"]

    def _where(self):
        return " in database %r" % self.database_name if self.database_name else ""

    def table(self, ref):
        """The table named ``schema.table`` or ``table`` (unique among schemas)."""
        ref = str(ref)
        exact = [t for t in self.tables if self.table_ref(t) == ref]
        if not exact:
            exact = [t for t in self.tables if t.get("name") == ref]
        if len(exact) > 1:
            raise ResourceError(
                "Table %r is ambiguous%s: %s. Hint: give it as schema.table."
                % (ref, self._where(), ", ".join(sorted(self.table_ref(t) for t in exact)))
            )
        if not exact:
            candidates = [self.table_ref(t) for t in self.tables] + [t.get("name") for t in self.tables]
            raise unknown_name_error("table", ref, candidates, self._where())
        return exact[0]

    def table_by_id(self, table_id):
        for table in self.tables:
            if table.get("id") == table_id:
                return table
        return None

    def field(self, table, column):
        """The field named ``column`` of ``table``."""
        for field in table.get("fields") or []:
            if field.get("name") == column:
                return field
        names = [f.get("name") for f in table.get("fields") or []]
        raise unknown_name_error("column", column, names, " in table %r%s" % (self.table_ref(table), self._where()))

    def column_field(self, ref, default_table=None):
        """A field from ``column`` (of ``default_table``) or ``schema.table.column``."""
        ref = str(ref)
        if default_table is not None and "." not in ref:
            return self.field(default_table, ref)
        if "." not in ref:
            raise ResourceError("Column %r needs its table: give it as schema.table.column." % ref)
        table_ref, column = ref.rsplit(".", 1)
        return self.field(self.table(table_ref), column)

    def field_by_id(self, field_id):
        """``(table, field)`` or ``(None, None)``."""
        return self._fields.get(field_id, (None, None))

    def column_name(self, field_id, default_table=None):
        """The option-form name of a field id: ``column``, or ``schema.table.column`` elsewhere."""
        table, field = self.field_by_id(field_id)
        if field is None:
            raise Unsupported("field id %s is not in the metadata of the database" % field_id)
        if default_table is not None and table.get("id") == default_table.get("id"):
            return field["name"]
        return "%s.%s" % (self.table_ref(table), field["name"])


class MetadataCache:
    """``GET /api/database/{id}/metadata``, read at most once per database and run."""

    def __init__(self, client, lookup):
        self.client = client
        self.lookup = lookup
        self._by_id = {}

    def get(self, database_id):
        if database_id not in self._by_id:
            answer = self.client.request(
                "GET", "/api/database/%d/metadata" % database_id, query={"include_hidden": True}
            )
            if not isinstance(answer, dict):
                raise ResourceError("GET /api/database/{id}/metadata answered something other than an object.")
            self._by_id[database_id] = DatabaseMetadata(answer, self.lookup.database_name(database_id))
        return self._by_id[database_id]


# -- the option form, canonical --------------------------------------------------------------------


def _fail(where, text):
    raise ResourceError("%s: %s" % (where, text))


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def canonical_aggregation(item, where="query.aggregations"):
    """``count`` | ``{sum: col}`` ... -> ``"count"`` or ``{"<op>": "<column>"}``."""
    if isinstance(item, str):
        if item not in AGGREGATIONS_WITHOUT_COLUMN:
            _fail(where, "%r needs a column, for example {%s: amount}" % (item, item))
        return item
    if isinstance(item, dict) and len(item) == 1:
        op, column = next(iter(item.items()))
        if op not in AGGREGATIONS:
            _fail(where, "unknown aggregation %r; known: %s" % (op, ", ".join(AGGREGATIONS)))
        if column in (None, ""):
            if op in AGGREGATIONS_WITHOUT_COLUMN:
                return op
            _fail(where, "%r needs a column" % op)
        return {op: str(column)}
    _fail(where, "each aggregation is a name (count) or a one-key mapping ({sum: column}), not %r" % (item,))
    return None


def canonical_breakout(item, where="query.breakouts"):
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and item.get("column"):
        unknown = set(item) - {"column", "unit"}
        if unknown:
            _fail(where, "unknown keys %s (known: column, unit)" % ", ".join(sorted(unknown)))
        unit = item.get("unit")
        if unit is None:
            return str(item["column"])
        if unit not in TEMPORAL_UNITS:
            _fail(where, "unknown temporal unit %r; known: %s" % (unit, ", ".join(TEMPORAL_UNITS)))
        return {"column": str(item["column"]), "unit": unit}
    _fail(where, "each breakout is a column name or {column: ..., unit: ...}, not %r" % (item,))
    return None


def canonical_filter(item, where="query.filters"):
    if not isinstance(item, dict) or not item.get("column") or not item.get("operator"):
        _fail(where, "each filter is {column: ..., operator: ..., value: ...}, not %r" % (item,))
    unknown = set(item) - {"column", "operator", "value"}
    if unknown:
        _fail(where, "unknown keys %s (known: column, operator, value)" % ", ".join(sorted(unknown)))
    op = item["operator"]
    if op not in FILTER_OPERATORS:
        _fail(where, "unknown operator %r; known: %s" % (op, ", ".join(FILTER_OPERATORS)))
    arity = FILTER_OPERATORS[op]
    values = _as_list(item.get("value"))
    result = {"column": str(item["column"]), "operator": op}
    if arity == 0:
        if values:
            _fail(where, "operator %r takes no value" % op)
        return result
    if arity is None:
        if not values:
            _fail(where, "operator %r needs a value (or a list of values)" % op)
        result["value"] = values[0] if len(values) == 1 else values
        return result
    if len(values) != arity:
        _fail(where, "operator %r takes %d value%s" % (op, arity, "s" if arity > 1 else ""))
    if op == "time-interval" and values[1] not in (*TEMPORAL_UNITS, "current"):
        _fail(where, "time-interval takes [amount, unit], for example [-30, day]")
    result["value"] = values[0] if arity == 1 else values
    return result


def canonical_order_by(item, where="query.order_by"):
    if isinstance(item, str):
        return {"column": item, "direction": "asc"}
    if isinstance(item, dict) and ("column" in item) != ("aggregation" in item):
        unknown = set(item) - {"column", "aggregation", "direction"}
        if unknown:
            _fail(where, "unknown keys %s (known: column or aggregation, direction)" % ", ".join(sorted(unknown)))
        direction = item.get("direction") or "asc"
        if direction not in DIRECTIONS:
            _fail(where, "direction is asc or desc, not %r" % direction)
        if "column" in item:
            return {"column": str(item["column"]), "direction": direction}
        index = item["aggregation"]
        if not isinstance(index, int) or isinstance(index, bool):
            _fail(where, "aggregation is the position (from 0) of an aggregation of the question")
        return {"aggregation": index, "direction": direction}
    _fail(where, "each order_by is a column name, {column: ..., direction: ...} or {aggregation: N, direction: ...}")
    return None


def canonical_query(query, where="query"):
    """The canonical option form of a wanted simple question (no metadata needed)."""
    if not isinstance(query, dict):
        _fail(where, "must be a mapping")
    unknown = set(query) - set(QUERY_KEYS)
    if unknown:
        _fail(where, "unknown keys %s (known: %s)" % (", ".join(sorted(unknown)), ", ".join(QUERY_KEYS)))
    if not query.get("source_table"):
        _fail(where, "source_table is required")
    result = {"source_table": str(query["source_table"])}
    if query.get("fields"):
        result["fields"] = [str(f) for f in _as_list(query["fields"])]
    if query.get("aggregations"):
        result["aggregations"] = [
            canonical_aggregation(a, where + ".aggregations") for a in _as_list(query["aggregations"])
        ]
    if query.get("breakouts"):
        result["breakouts"] = [canonical_breakout(b, where + ".breakouts") for b in _as_list(query["breakouts"])]
    if query.get("filters"):
        result["filters"] = [canonical_filter(f, where + ".filters") for f in _as_list(query["filters"])]
    if query.get("order_by"):
        result["order_by"] = [canonical_order_by(o, where + ".order_by") for o in _as_list(query["order_by"])]
        count = len(result.get("aggregations", []))
        wrong = [o["aggregation"] for o in result["order_by"] if not 0 <= o.get("aggregation", 0) < max(count, 1)]
        if wrong or (count == 0 and any("aggregation" in o for o in result["order_by"])):
            _fail(where + ".order_by", "aggregation %s does not exist" % (wrong or [0])[0])
    if query.get("limit") is not None:
        result["limit"] = canonical_limit(query["limit"], where)
    return result


def canonical_limit(limit, where):
    if isinstance(limit, bool):
        limit = 0
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        limit = 0
    if limit < 1:
        _fail(where, "limit is a positive integer")
    return limit


def default_display_name(name):
    return name.replace("_", " ").strip().capitalize() or name


def canonical_native(native, where="native"):
    """The canonical option form of a wanted native question."""
    if not isinstance(native, dict) or not isinstance(native.get("query"), str) or not native["query"].strip():
        _fail(where, "query (the SQL text) is required")
    unknown = set(native) - {"query", "template_tags"}
    if unknown:
        _fail(where, "unknown keys %s (known: query, template_tags)" % ", ".join(sorted(unknown)))
    result = {"query": native["query"].rstrip()}
    tags = native.get("template_tags") or {}
    if not isinstance(tags, dict):
        _fail(where, "template_tags maps each tag name to its definition")
    canonical = {}
    for name in sorted(tags):
        canonical[str(name)] = canonical_tag(str(name), tags[name] or {}, "%s.template_tags.%s" % (where, name))
    used = set(TAG_REF.findall(result["query"]))
    missing = sorted(used - set(canonical))
    if missing:
        _fail(where, "the SQL uses {{%s}} but template_tags does not declare it" % "}}, {{".join(missing))
    if canonical:
        result["template_tags"] = canonical
    return result


def canonical_tag(name, tag, where):
    known = {"type", "display_name", "required", "default", "dimension", "widget_type"}
    unknown = set(tag) - known
    if unknown:
        _fail(where, "unknown keys %s (known: %s)" % (", ".join(sorted(unknown)), ", ".join(sorted(known))))
    tag_type = tag.get("type") or "text"
    if tag_type not in TEMPLATE_TAG_TYPES:
        _fail(where, "type is one of %s, not %r" % (", ".join(TEMPLATE_TAG_TYPES), tag_type))
    result = {"type": tag_type, "display_name": tag.get("display_name") or default_display_name(name)}
    if tag.get("required"):
        result["required"] = True
    if tag.get("default") is not None:
        result["default"] = tag["default"]
    if tag_type == "dimension":
        if not tag.get("dimension"):
            _fail(where, "a dimension (field filter) tag needs dimension: schema.table.column")
        result["dimension"] = str(tag["dimension"])
        result["widget_type"] = tag.get("widget_type") or "category"
    elif tag.get("dimension"):
        _fail(where, "dimension is only for type dimension")
    elif tag.get("widget_type"):
        result["widget_type"] = tag["widget_type"]
    return result


def resolve_query(query, metadata):
    """Check every name of a canonical query against the metadata; table given as ``schema.table``.

    Returns the canonical query with ``source_table`` spelled canonically (``schema.table``) and
    with the tables of ``schema.table.column`` references spelled canonically too.
    """
    table = metadata.table(query["source_table"])
    resolved = dict(query, source_table=metadata.table_ref(table))

    def column(ref):
        field = metadata.column_field(ref, table)
        return metadata.column_name(field["id"], table)

    if "fields" in query:
        resolved["fields"] = [column(f) for f in query["fields"]]
    if "aggregations" in query:
        resolved["aggregations"] = [
            a if isinstance(a, str) else dict((op, column(col)) for op, col in a.items()) for a in query["aggregations"]
        ]
    if "breakouts" in query:
        resolved["breakouts"] = [
            column(b) if isinstance(b, str) else dict(b, column=column(b["column"])) for b in query["breakouts"]
        ]
    if "filters" in query:
        resolved["filters"] = [dict(f, column=column(f["column"])) for f in query["filters"]]
    if "order_by" in query:
        resolved["order_by"] = [dict(o, column=column(o["column"])) if "column" in o else o for o in query["order_by"]]
    return resolved


def resolve_native(native, metadata_for_dimension):
    """Check dimension tags against the metadata (loaded only when a tag needs it)."""
    tags = native.get("template_tags") or {}
    if not any(t["type"] == "dimension" for t in tags.values()):
        return native
    metadata = metadata_for_dimension()
    resolved = {}
    for name, tag in tags.items():
        resolved[name] = tag
        if tag["type"] == "dimension":
            field = metadata.column_field(tag["dimension"])
            resolved[name] = dict(tag, dimension=metadata.column_name(field["id"]))
    return dict(native, template_tags=resolved)


# -- writing MBQL 4 --------------------------------------------------------------------------------


def _field_ref(metadata, table, ref, unit=None):
    field = metadata.column_field(ref, table)
    return ["field", field["id"], {"temporal-unit": unit} if unit else None]


def compile_query(query, database_id, metadata):
    """A resolved canonical query as a legacy (MBQL 4) ``dataset_query``."""
    table = metadata.table(query["source_table"])
    inner = {"source-table": table["id"]}
    if query.get("fields"):
        inner["fields"] = [_field_ref(metadata, table, f) for f in query["fields"]]
    if query.get("aggregations"):
        inner["aggregation"] = [
            [a] if isinstance(a, str) else [op, _field_ref(metadata, table, col)]
            for a in query["aggregations"]
            for op, col in ([(a, None)] if isinstance(a, str) else a.items())
        ]
    if query.get("breakouts"):
        inner["breakout"] = [
            _field_ref(metadata, table, b)
            if isinstance(b, str)
            else _field_ref(metadata, table, b["column"], b["unit"])
            for b in query["breakouts"]
        ]
    if query.get("filters"):
        clauses = [
            [item["operator"], _field_ref(metadata, table, item["column"]), *_as_list(item.get("value"))]
            for item in query["filters"]
        ]
        inner["filter"] = clauses[0] if len(clauses) == 1 else ["and", *clauses]
    if query.get("order_by"):
        inner["order-by"] = [
            [o["direction"], ["aggregation", o["aggregation"]]]
            if "aggregation" in o
            else [o["direction"], _field_ref(metadata, table, o["column"])]
            for o in query["order_by"]
        ]
    if query.get("limit") is not None:
        inner["limit"] = query["limit"]
    return {"database": database_id, "type": "query", "query": inner}


def tag_id(name):
    """A stable id for a template tag (Metabase's UI makes a random one; any string is valid)."""
    return str(uuid.uuid5(TAG_NAMESPACE, name))


def compile_native(native, database_id, metadata_for_dimension=None):
    tags = {}
    for name, tag in (native.get("template_tags") or {}).items():
        body = {"id": tag_id(name), "name": name, "display-name": tag["display_name"], "type": tag["type"]}
        if tag.get("required"):
            body["required"] = True
        if tag.get("default") is not None:
            body["default"] = tag["default"]
        if tag["type"] == "dimension":
            field = metadata_for_dimension().column_field(tag["dimension"])
            body["dimension"] = ["field", field["id"], None]
        if tag.get("widget_type"):
            body["widget-type"] = tag["widget_type"]
        tags[name] = body
    return {"database": database_id, "type": "native", "native": {"query": native["query"], "template-tags": tags}}


# -- reading what Metabase stores (MBQL 4 or MBQL 5) -------------------------------------------------


def is_mbql5(dataset_query):
    return isinstance(dataset_query, dict) and "lib/type" in dataset_query


def query_kind(dataset_query):
    """``native`` or ``query`` for a stored dataset_query of either version."""
    if is_mbql5(dataset_query):
        stages = dataset_query.get("stages") or [{}]
        return "native" if stages[0].get("lib/type") == "mbql.stage/native" else "query"
    return "native" if (dataset_query or {}).get("type") == "native" else "query"


def query_database(dataset_query):
    return (dataset_query or {}).get("database")


def _parts(clause, mbql5):
    """``(tag, options, args)`` of a clause in either version."""
    if not isinstance(clause, list) or not clause or not isinstance(clause[0], str):
        raise Unsupported("unexpected clause %r" % (clause,))
    tag = clause[0]
    if mbql5:
        options = clause[1] if len(clause) > 1 and isinstance(clause[1], dict) else {}
        args = clause[2:] if len(clause) > 1 and isinstance(clause[1], dict) else clause[1:]
        return tag, options, list(args)
    args = list(clause[1:])
    if tag == "field":
        return tag, (args[1] if len(args) > 1 and isinstance(args[1], dict) else {}), args[:1]
    if args and isinstance(args[-1], dict):
        return tag, args[-1], args[:-1]
    return tag, {}, args


def _read_field(clause, mbql5, metadata, table):
    """``(column name, temporal unit)`` of a field ref."""
    tag, options, args = _parts(clause, mbql5)
    if tag != "field" or len(args) != 1:
        raise Unsupported("only plain column references are supported, found %r" % tag)
    if options.get("join-alias") or options.get("source-field"):
        raise Unsupported("columns of joined or linked tables are not supported")
    target = args[0]
    if isinstance(target, int):
        name = metadata.column_name(target, table)
    else:
        name = str(target)
    return name, options.get("temporal-unit")


def read_query(stage, mbql5, metadata):
    """The canonical option form of a stored MBQL stage (MBQL 5) or inner query (MBQL 4)."""
    unsupported = set(stage) & {"joins", "expressions", "source-card", "source-query", "page"}
    if isinstance(stage.get("source-table"), str):
        unsupported.add("source-table (a saved question)")
    if unsupported:
        raise Unsupported("the question uses %s" % ", ".join(sorted(unsupported)))
    table = metadata.table_by_id(stage.get("source-table"))
    if table is None:
        raise Unsupported("source table %s is not in the metadata of the database" % stage.get("source-table"))
    result = {"source_table": metadata.table_ref(table)}
    if stage.get("fields"):
        result["fields"] = [_read_field(f, mbql5, metadata, table)[0] for f in stage["fields"]]
    aggregation_uuids = []
    if stage.get("aggregation"):
        result["aggregations"] = _read_aggregations(stage["aggregation"], mbql5, metadata, table, aggregation_uuids)
    if stage.get("breakout"):
        breakouts = []
        for clause in stage["breakout"]:
            name, unit = _read_field(clause, mbql5, metadata, table)
            breakouts.append({"column": name, "unit": unit} if unit else name)
        result["breakouts"] = breakouts
    filters = stage.get("filters") if mbql5 else stage.get("filter")
    if filters:
        if not mbql5:
            filters = filters[1:] if filters[0] == "and" else [filters]
        result["filters"] = [_read_filter(f, mbql5, metadata, table) for f in filters]
    if stage.get("order-by"):
        result["order_by"] = [_read_order(c, mbql5, metadata, table, aggregation_uuids) for c in stage["order-by"]]
    if stage.get("limit") is not None:
        result["limit"] = stage["limit"]
    return result


def _read_aggregations(clauses, mbql5, metadata, table, uuids):
    aggregations = []
    for clause in clauses:
        tag, options, args = _parts(clause, mbql5)
        uuids.append(options.get("lib/uuid"))
        if tag not in AGGREGATIONS or len(args) > 1:
            raise Unsupported("aggregation %r is not supported" % tag)
        if options.get("name") or options.get("display-name"):
            raise Unsupported("named aggregations are not supported")
        if args:
            aggregations.append({tag: _read_field(args[0], mbql5, metadata, table)[0]})
        else:
            aggregations.append(tag)
    return aggregations


def _read_order(clause, mbql5, metadata, table, aggregation_uuids):
    direction, _options, args = _parts(clause, mbql5)
    if direction not in DIRECTIONS or len(args) != 1:
        raise Unsupported("order-by %r is not supported" % (clause,))
    target_tag, _target_options, target_args = _parts(args[0], mbql5)
    if target_tag == "aggregation":
        ref = target_args[0] if target_args else None
        index = aggregation_uuids.index(ref) if mbql5 and ref in aggregation_uuids else ref
        if not isinstance(index, int) or isinstance(index, bool):
            raise Unsupported("order-by an unknown aggregation")
        return {"aggregation": index, "direction": direction}
    name, unit = _read_field(args[0], mbql5, metadata, table)
    if unit:
        raise Unsupported("order-by with a temporal unit is not supported")
    return {"column": name, "direction": direction}


#: Newer MBQL spells a several-value ``=`` / ``!=`` as ``in`` / ``not-in``; they read the same.
FILTER_ALIASES = {"in": "=", "not-in": "!="}


def _read_filter(clause, mbql5, metadata, table):
    op, options, args = _parts(clause, mbql5)
    op = FILTER_ALIASES.get(op, op)
    if op not in FILTER_OPERATORS or not args:
        raise Unsupported("filter %r is not supported" % op)
    # Options the server may add (lib/uuid, types) change nothing; these two change the meaning.
    if options.get("include-current") or options.get("case-sensitive") is False:
        raise Unsupported("filter options include-current and case-sensitive are not supported")
    name, unit = _read_field(args[0], mbql5, metadata, table)
    if unit:
        raise Unsupported("filters on a temporal unit are not supported")
    values = list(args[1:])
    item = {"column": name, "operator": op}
    arity = FILTER_OPERATORS[op]
    if arity == 0:
        return item
    if arity is None:
        item["value"] = values[0] if len(values) == 1 else values
    else:
        item["value"] = values[0] if arity == 1 else values
    return item


def _read_tags(tags, mbql5, metadata_for_dimension):
    result = {}
    for name in sorted(tags or {}):
        tag = tags[name] or {}
        item = {"type": tag.get("type") or "text", "display_name": tag.get("display-name") or name}
        if tag.get("required"):
            item["required"] = True
        if tag.get("default") is not None:
            item["default"] = tag["default"]
        if item["type"] == "dimension":
            ref = tag.get("dimension")
            _tag, _options, args = _parts(ref, mbql5)
            if not args or not isinstance(args[0], int):
                raise Unsupported("field filter %r does not point at a column" % name)
            item["dimension"] = metadata_for_dimension().column_name(args[0])
        if tag.get("widget-type"):
            item["widget_type"] = tag["widget-type"]
        elif item["type"] == "dimension":
            item["widget_type"] = "category"
        if item["type"] not in TEMPLATE_TAG_TYPES:
            raise Unsupported("template tag type %r is not supported" % item["type"])
        result[name] = item
    return result


def read_native(dataset_query, metadata_for_dimension):
    if is_mbql5(dataset_query):
        stages = dataset_query.get("stages") or []
        if len(stages) != 1:
            raise Unsupported("a native question with %d stages" % len(stages))
        sql, tags, mbql5 = stages[0].get("native"), stages[0].get("template-tags"), True
    else:
        native = dataset_query.get("native") or {}
        sql, tags, mbql5 = native.get("query"), native.get("template-tags"), False
    if not isinstance(sql, str):
        raise Unsupported("the native query is not SQL text")
    result = {"query": sql.rstrip()}
    tags = _read_tags(tags, mbql5, metadata_for_dimension)
    if tags:
        result["template_tags"] = tags
    return result


def read_dataset_query(dataset_query, metadata_for):
    """``("native"|"query", canonical option form)`` of a stored dataset_query (MBQL 4 or 5).

    ``metadata_for(database_id)`` gives the :class:`DatabaseMetadata`, loaded only when needed.
    Raises :class:`Unsupported` for what the option form cannot express.
    """
    if not isinstance(dataset_query, dict):
        raise Unsupported("the card has no query")
    database_id = query_database(dataset_query)
    if query_kind(dataset_query) == "native":
        return "native", read_native(dataset_query, lambda: metadata_for(database_id))
    if is_mbql5(dataset_query):
        stages = dataset_query.get("stages") or []
        if len(stages) != 1:
            raise Unsupported("a question with %d stages" % len(stages))
        return "query", read_query(stages[0], True, metadata_for(database_id))
    return "query", read_query(dataset_query.get("query") or {}, False, metadata_for(database_id))


def short_hash(text, length=8):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]
