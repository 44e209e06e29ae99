"""The double's query processor: a simple MBQL 5 question compiled to PostgreSQL, and native SQL
with its template tags. Pure functions; warehouse.run_sql runs the result for real.

**MBQL subset** (anything else is refused with a message naming it): one stage on a
``source-table``; aggregations ``count``, ``sum``, ``avg``, ``distinct``, ``min``, ``max``,
``count-where``, ``sum-where``, ``share``; custom columns (``expressions``) of fields, numbers and
``+ - * /`` (division as floating point, NULL when dividing by zero);
breakouts on field refs with an optional ``temporal-unit``; filters ``=``, ``!=``, ``<``, ``>``,
``<=``, ``>=``, ``between``, ``is-null``, ``not-null``, ``contains``, ``does-not-contain``,
``starts-with``, ``ends-with``, ``time-interval``, ``and``, ``or``, ``not``; ``order-by`` asc/desc on
fields and aggregations; ``fields``; ``limit``. Identifiers are quoted, values are bound parameters.

What follows Metabase (sql query processor, ``driver/postgres.clj``):

* breakout columns keep the field's ``name``; aggregation columns are named ``count``, ``sum``,
  ``avg``, ``count`` (distinct), ``min``, ``max``, de-duplicated with ``_2``, ``_3`` [names
  confirmed: ``lib/aggregation.cljc`` ``column-name-method``; suffixes inferred];
* without an ``order-by`` on them, breakouts are sorted ascending after the explicit order
  [``add-implicit-breakout-order-by``; inferred from the middleware's name and docs];
* ``!=`` and ``does-not-contain`` also match NULL (``correct-null-behaviour``) [inferred];
* ``week`` starts on Sunday (the default ``start-of-week``), ``day-of-week`` 1 = Sunday [inferred];
* ``contains`` & co. are case-sensitive unless ``case-sensitive: false`` [confirmed option; the
  escaping of ``%`` and ``_`` in the value is the double's choice];
* ``time-interval`` n < 0: the previous n whole units, not the current one (``include-current``
  adds it); ``current``; n > 0 the next n units [inferred from the UI's relative date filters].

**Native template tags**: ``{{name}}`` of type ``text``, ``number``, ``date`` is bound as a parameter;
a ``dimension`` (field filter) tag becomes ``"table"."column" = value`` (or ``IN``) with a value
and ``1 = 1`` without one, as Metabase does; ``[[ ... ]]`` optional clauses are kept only when all
their tags have values; a tag without a value outside one fails with Metabase's "You'll need to
pick a value for 'X' before this query can run." [message from Metabase's parameters code, not
re-checked for v0.58]. Values come from the request's ``parameters`` (``target`` ``["variable" |
"dimension", ["template-tag", name]]``), else the card's parameter ``default``, else the tag's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Unsupported(ValueError):
    """The query is valid MBQL but outside what the double runs; the message names what."""


class QueryError(ValueError):
    """The query cannot run (Metabase would fail it too); Metabase's message."""


@dataclass
class Metadata:
    """The synced tables and fields of one database (databases.tables(..., with_fields=True))."""

    tables: dict[int, dict]
    fields: dict[int, dict] = field(default_factory=dict)

    @classmethod
    def from_tables(cls, tables: list[dict]) -> Metadata:
        fields = {f["id"]: f for t in tables for f in t.get("fields", [])}
        return cls({t["id"]: t for t in tables}, fields)

    def field_types(self, field_id: int) -> tuple[str, str] | None:
        found = self.fields.get(field_id)
        return (found["base_type"], found.get("effective_type") or found["base_type"]) if found else None


@dataclass
class Compiled:
    sql: str
    params: list
    cols: list[dict]


def ident(*names: str) -> str:
    return ".".join('"' + n.replace('"', '""') + '"' for n in names)


TRUNCATE = {"minute", "hour", "day", "week", "month", "quarter", "year"}
EXTRACT = {
    "minute-of-hour": "minute",
    "hour-of-day": "hour",
    "day-of-week": "dow",
    "day-of-month": "day",
    "day-of-year": "doy",
    "week-of-year": "week",
    "month-of-year": "month",
    "quarter-of-year": "quarter",
}
AGGREGATIONS = {"count": "count", "sum": "sum", "avg": "avg", "distinct": "count", "min": "min", "max": "max"}
AGGREGATION_LABELS = {
    "sum": "Sum of {}",
    "avg": "Average of {}",
    "distinct": "Distinct values of {}",
    "min": "Min of {}",
    "max": "Max of {}",
    "count": "Count of {}",
}
# Names and labels from content-facts §10 (lib/aggregation.cljc column-name-method).
CONDITIONAL_AGGREGATIONS = ("count-where", "sum-where", "share")
COMPARISONS = {"<": "<", ">": ">", "<=": "<=", ">=": ">="}
UNIT_LABELS = {unit: unit.replace("-", " ").title().replace(" Of ", " of ") for unit in TRUNCATE | set(EXTRACT)}


def _like(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _Compiler:
    def __init__(self, metadata: Metadata, stage: Mapping) -> None:
        self.meta = metadata
        self.stage = stage
        self.params: list = []
        table_id = stage.get("source-table")
        if not isinstance(table_id, int) or table_id not in metadata.tables:
            raise QueryError(f"Table {table_id} does not exist or is not synced.")
        self.table = metadata.tables[table_id]
        self.expressions = {
            clause[1].get("lib/expression-name"): clause
            for clause in stage.get("expressions") or []
            if isinstance(clause, list) and len(clause) >= 2 and isinstance(clause[1], dict)
        }
        self._expanding: set[str] = set()

    def field(self, ref: Any) -> tuple[dict, dict]:
        if not (isinstance(ref, list) and len(ref) == 3 and ref[0] == "field" and isinstance(ref[1], dict)):
            what = ref[0] if isinstance(ref, list) and ref else ref
            raise Unsupported(f"The Metabase API double cannot run {what!r} here: only field references are supported.")
        options, ident_ = ref[1], ref[2]
        for unsupported in ("join-alias", "source-field", "binning"):
            if options.get(unsupported):
                raise Unsupported(f"The Metabase API double does not support :{unsupported} in field references.")
        if isinstance(ident_, str):
            found = next((f for f in self.table["fields"] if f["name"] == ident_), None)
        else:
            found = self.meta.fields.get(ident_)
        if found is None or found["table_id"] != self.table["id"]:
            raise QueryError(f"Field {ident_} does not exist in table {self.table['name']!r} or is not synced.")
        return found, options

    def expression(self, clause: Any) -> str:
        """SQL of a custom-column expression: fields, other expressions, numbers (inlined), + - * /."""
        if isinstance(clause, bool) or clause is None:
            raise Unsupported("The Metabase API double supports numbers, fields and + - * / in expressions.")
        if isinstance(clause, int | float):
            return repr(clause)
        if not (isinstance(clause, list) and len(clause) >= 2 and isinstance(clause[1], dict)):
            raise Unsupported(f"The Metabase API double cannot run the expression {clause!r}.")
        tag, args = clause[0], clause[2:]
        if tag in ("field", "expression"):
            return self.column(clause)[0]
        if tag == "value" and args:
            return self.expression(args[0])
        if tag in ("+", "-", "*") and len(args) >= 2:
            return "(" + f" {tag} ".join(self.expression(a) for a in args) + ")"
        if tag == "/" and len(args) >= 2:
            # Metabase divides as floating point and answers NULL for a division by zero [inferred].
            text = f"CAST({self.expression(args[0])} AS double precision)"
            for divisor in args[1:]:
                text = f"({text} / NULLIF({self.expression(divisor)}, 0))"
            return text
        raise Unsupported(f"The Metabase API double does not support {tag!r} in expressions.")

    def column(self, ref: Any) -> tuple[str, dict, str | None]:
        """(SQL, the field, temporal unit) of a field or expression ref."""
        if isinstance(ref, list) and len(ref) == 3 and ref[0] == "expression" and isinstance(ref[1], dict):
            name = ref[2]
            if name not in self.expressions or name in self._expanding:
                raise QueryError(f"No expression named {name!r}.")
            self._expanding.add(name)
            try:
                sql = self.expression(self.expressions[name])
            finally:
                self._expanding.discard(name)
            kind = "type/Float" if self.expressions[name][0] == "/" else "type/Number"
            return sql, {"id": None, "table_id": None, "name": name, "display_name": name, "base_type": kind}, None
        found, options = self.field(ref)
        sql = ident(self.table["schema"], self.table["name"], found["name"])
        unit = options.get("temporal-unit")
        if unit in (None, "default"):
            return sql, found, None
        if unit in TRUNCATE:
            if unit == "week":
                sql = f"(date_trunc('week', ({sql} + INTERVAL '1 day')) - INTERVAL '1 day')"
            else:
                sql = f"date_trunc('{unit}', {sql})"
            if found["base_type"] == "type/Date":
                sql = f"CAST({sql} AS date)"
            return sql, found, unit
        if unit in EXTRACT:
            sql = f"CAST(extract({EXTRACT[unit]} FROM {sql}) AS integer)"
            return (f"({sql} + 1)" if unit == "day-of-week" else sql), found, unit
        raise Unsupported(f"The Metabase API double does not support the temporal unit {unit!r}.")

    def conditional(self, tag: str, args: list) -> tuple[str, dict | None, str, str, str]:
        """(SQL, field, display name, column name, base type) of count-where, sum-where, share
        (Metabase compiles them as sums of CASE WHEN; share = count-where / count)."""
        if tag == "sum-where":
            column, found, _unit = self.column(args[0])
            condition = self.condition(args[1])
            sql = f"sum(CASE WHEN {condition} THEN {column} ELSE 0 END)"
            return sql, found, f"Sum of {found['display_name']} matching condition", f"sum_where_{found['name']}", (
                found["base_type"])  # fmt: skip
        condition = self.condition(args[0])
        hits = f"sum(CASE WHEN {condition} THEN 1 ELSE 0 END)"
        if tag == "count-where":
            return hits, None, "Count of rows matching condition", "count-where", "type/Integer"
        return (
            f"(CAST({hits} AS double precision) / NULLIF(count(*), 0))",
            None,
            "Share of rows matching condition",
            "share",
            "type/Float",
        )

    def value(self, value: Any) -> str:
        if isinstance(value, list) and value and value[0] == "value" and len(value) == 3:
            value = value[2]
        if isinstance(value, list | dict):
            raise Unsupported("The Metabase API double only compares fields with literal values.")
        self.params.append(value)
        return "%s"

    def condition(self, clause: Any) -> str:  # noqa: PLR0911, PLR0912 - one branch per filter
        if not (isinstance(clause, list) and len(clause) >= 2 and isinstance(clause[1], dict)):
            raise Unsupported(f"The Metabase API double cannot run the filter {clause!r}.")
        tag, options, args = clause[0], clause[1], clause[2:]
        if tag in ("and", "or"):
            return "(" + f" {tag.upper()} ".join(self.condition(a) for a in args) + ")"
        if tag == "not":
            return f"(NOT {self.condition(args[0])})"
        if tag in ("is-null", "not-null"):
            column = self.column(args[0])[0]
            return f"({column} IS {'NOT ' if tag == 'not-null' else ''}NULL)"
        if tag in ("=", "!="):
            column = self.column(args[0])[0]
            values = args[1:]
            if any(v is None for v in values):
                raise Unsupported("The Metabase API double does not compare with null: use is-null or not-null.")
            placeholders = ", ".join(self.value(v) for v in values)
            if tag == "=":
                return f"({column} = {placeholders})" if len(values) == 1 else f"({column} IN ({placeholders}))"
            test = f"{column} <> {placeholders}" if len(values) == 1 else f"{column} NOT IN ({placeholders})"
            return f"(({test}) OR {column} IS NULL)"
        if tag in COMPARISONS:
            return f"({self.column(args[0])[0]} {COMPARISONS[tag]} {self.value(args[1])})"
        if tag == "between":
            column = self.column(args[0])[0]
            return f"({column} BETWEEN {self.value(args[1])} AND {self.value(args[2])})"
        if tag in ("contains", "does-not-contain", "starts-with", "ends-with"):
            column = self.column(args[0])[0]
            if len(args) != 2:
                raise Unsupported(f"The Metabase API double supports {tag} with one value only.")
            text = _like(args[1][2] if isinstance(args[1], list) else args[1])
            pattern = {"starts-with": f"{text}%", "ends-with": f"%{text}"}.get(tag, f"%{text}%")
            self.params.append(pattern)
            if options.get("case-sensitive", True) is False:
                test = f"lower({column}) LIKE lower(%s)"
            else:
                test = f"{column} LIKE %s"
            return f"((NOT {test}) OR {column} IS NULL)" if tag == "does-not-contain" else f"({test})"
        if tag == "time-interval":
            return self.time_interval(options, *args)
        raise Unsupported(f"The Metabase API double does not support the filter {tag!r}.")

    def time_interval(self, options: dict, ref: Any, amount: Any, unit: Any) -> str:
        column = self.column(["field", {k: v for k, v in ref[1].items() if k != "temporal-unit"}, ref[2]])[0]
        if unit not in TRUNCATE:
            raise Unsupported(f"The Metabase API double does not support time-interval unit {unit!r}.")
        start = f"date_trunc('{unit}', now())"
        step = f"INTERVAL '1 {unit}'" if unit != "quarter" else "INTERVAL '3 month'"
        if amount == "current":
            low, high = start, f"({start} + {step})"
        elif isinstance(amount, int) and not isinstance(amount, bool) and amount != 0:
            current = 1 if options.get("include-current") else 0
            if amount < 0:
                low, high = f"({start} + {amount} * {step})", f"({start} + {current} * {step})"
            else:
                low, high = f"({start} + {1 - current} * {step})", f"({start} + {amount + 1} * {step})"
        else:
            raise Unsupported(f"The Metabase API double does not support time-interval {amount!r}.")
        return f"({column} >= {low} AND {column} < {high})"

    def compile(self) -> Compiled:  # noqa: PLR0912, PLR0915 - the clauses of one stage, in order
        stage = self.stage
        for key in stage:
            if key in ("joins", "page") and stage[key]:
                raise Unsupported(f"The Metabase API double does not support :{key} in questions.")
        select: list[str] = []
        cols: list[dict] = []
        group: list[str] = []
        breakout_positions: dict[str, int] = {}
        for ref in stage.get("breakout") or []:
            sql, found, unit = self.column(ref)
            select.append(sql)
            group.append(sql)
            breakout_positions[sql] = len(select)
            kind = "type/Integer" if unit in EXTRACT else found["base_type"]
            cols.append(
                {
                    "name": found["name"],
                    "display_name": found["display_name"] + (f": {UNIT_LABELS[unit]}" if unit else ""),
                    "base_type": kind,
                    "effective_type": kind,
                    "semantic_type": found.get("semantic_type") if not unit else None,
                    "source": "breakout",
                    "id": found["id"],
                    "table_id": found["table_id"],
                    "field_ref": ["field", found["id"], {"temporal-unit": unit} if unit else None]
                    if found["id"] is not None
                    else ["expression", found["name"]],
                    **({"unit": unit} if unit else {}),
                }
            )
        aggregation_positions: dict[str, int] = {}
        for index, clause in enumerate(stage.get("aggregation") or []):
            if not (isinstance(clause, list) and len(clause) >= 2 and isinstance(clause[1], dict)):
                raise Unsupported(f"The Metabase API double cannot run the aggregation {clause!r}.")
            tag, options, args = clause[0], clause[1], clause[2:]
            if tag not in AGGREGATIONS and tag not in CONDITIONAL_AGGREGATIONS:
                raise Unsupported(f"The Metabase API double does not support the aggregation {tag!r}.")
            if tag in CONDITIONAL_AGGREGATIONS:
                sql, found, label, name, kind = self.conditional(tag, args)
                select.append(sql)
                aggregation_positions[options.get("lib/uuid")] = len(select)
                cols.append(
                    {
                        "name": name,
                        "display_name": options.get("display-name") or label,
                        "base_type": kind,
                        "effective_type": kind,
                        "semantic_type": None,
                        "source": "aggregation",
                        "field_ref": ["aggregation", index],
                        "aggregation_index": index,
                    }
                )
                continue
            if args:
                column, found, _unit = self.column(args[0])
                distinct = "DISTINCT " if tag == "distinct" else ""
                sql = f"{AGGREGATIONS[tag]}({distinct}{column})"
                label = AGGREGATION_LABELS[tag].format(found["display_name"])
            elif tag == "count":
                sql, found, label = "count(*)", None, "Count"
            else:
                raise QueryError(f"Aggregation {tag} needs a column.")
            if tag in ("count", "distinct"):
                kind = "type/BigInteger"
            elif tag == "avg":
                kind = "type/Float"
            else:
                kind = found["base_type"] if found else "type/Number"
            select.append(sql)
            aggregation_positions[options.get("lib/uuid")] = len(select)
            cols.append(
                {
                    "name": "count" if tag == "distinct" else tag,
                    "display_name": options.get("display-name") or label,
                    "base_type": kind,
                    "effective_type": kind,
                    "semantic_type": "type/Quantity" if tag == "count" else None,
                    "source": "aggregation",
                    "field_ref": ["aggregation", index],
                    "aggregation_index": index,
                }
            )
        if not select:
            refs = stage.get("fields") or [
                ["field", {}, f["id"]] for f in sorted(self.table["fields"], key=lambda f: f["position"])
            ] + [["expression", {}, name] for name in self.expressions]
            for ref in refs:
                sql, found, unit = self.column(ref)
                select.append(sql)
                cols.append(
                    {
                        "name": found["name"],
                        "display_name": found["display_name"],
                        "base_type": found["base_type"],
                        "effective_type": found.get("effective_type") or found["base_type"],
                        "semantic_type": found.get("semantic_type"),
                        "source": "fields",
                        "id": found["id"],
                        "table_id": found["table_id"],
                        "field_ref": ["field", found["id"], {"temporal-unit": unit} if unit else None]
                        if found["id"] is not None
                        else ["expression", found["name"]],
                    }
                )
        where = [self.condition(c) for c in stage.get("filters") or []]
        order: list[str] = []
        ordered: set[int] = set()
        for clause in stage.get("order-by") or []:
            if not (isinstance(clause, list) and len(clause) == 3 and clause[0] in ("asc", "desc")):
                raise Unsupported(f"The Metabase API double cannot order by {clause!r}.")
            direction, ref = clause[0].upper(), clause[2]
            if isinstance(ref, list) and ref and ref[0] == "aggregation":
                position = aggregation_positions.get(ref[2])
                if position is None:
                    raise QueryError(f"No aggregation with uuid {ref[2]!r}.")
                order.append(f"{position} {direction}")
                ordered.add(position)
                continue
            sql = self.column(ref)[0]
            position = breakout_positions.get(sql)
            order.append(f"{position} {direction}" if position else f"{sql} {direction}")
            if position:
                ordered.add(position)
        order.extend(f"{p} ASC" for p in breakout_positions.values() if p not in ordered)
        # Output aliases are positional (c0, c1, ...) so two columns of the same name cannot clash;
        # the names Metabase gives them are in cols.
        text = "SELECT " + ", ".join(f"{s} AS {ident('c' + str(i))}" for i, s in enumerate(select))
        text += f" FROM {ident(self.table['schema'], self.table['name'])}"
        if where:
            text += " WHERE " + " AND ".join(where)
        if group:
            text += " GROUP BY " + ", ".join(group)
        if order:
            text += " ORDER BY " + ", ".join(order)
        limit = stage.get("limit")
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                raise QueryError(f"Invalid limit: {limit!r}")
            text += f" LIMIT {limit}"
        _dedupe(cols)
        return Compiled(text, self.params, cols)


def _dedupe(cols: list[dict]) -> None:
    seen: dict[str, int] = {}
    for col in cols:
        count = seen.get(col["name"], 0) + 1
        seen[col["name"]] = count
        if count > 1:
            col["name"] = f"{col['name']}_{count}"


def compile_mbql(query: Mapping, metadata: Metadata) -> Compiled:
    """Compile an MBQL 5 query of the supported subset (raises Unsupported or QueryError)."""
    stages = query.get("stages") or []
    if len(stages) != 1:
        raise Unsupported("The Metabase API double runs questions of one stage only (no nested queries).")
    stage = stages[0]
    if stage.get("lib/type") != "mbql.stage/mbql":
        raise Unsupported("The Metabase API double cannot run this stage type.")
    if "source-card" in stage:
        raise Unsupported("The Metabase API double does not run questions based on other questions (:source-card).")
    return _Compiler(metadata, stage).compile()


# -- native queries with template tags ---------------------------------------------------------

_TAG = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
_OPTIONAL = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)


def _tag_target(parameter: Mapping) -> str | None:
    target = parameter.get("target")
    if (
        isinstance(target, list)
        and len(target) == 2
        and target[0] in ("variable", "dimension")
        and isinstance(target[1], list)
        and len(target[1]) == 2
        and target[1][0] == "template-tag"
    ):
        return target[1][1]
    return None


def tag_values(tags: Mapping, request_parameters: list, card_parameters: list) -> dict[str, Any]:
    """The value of each tag: the request's, else the card parameter's default, else the tag's default."""
    values: dict[str, Any] = {}
    for source in (card_parameters or [], request_parameters or []):
        for parameter in source:
            if not isinstance(parameter, dict):
                continue
            name = _tag_target(parameter)
            if name is None:
                continue
            value = parameter.get("value", parameter.get("default")) if source is request_parameters else (
                parameter.get("default"))  # fmt: skip
            if value is not None:
                values[name] = value
    for name, tag in tags.items():
        if name not in values and isinstance(tag, dict) and tag.get("default") is not None:
            values[name] = tag["default"]
    return values


def _scalar(tag: Mapping, value: Any) -> Any:
    if isinstance(value, list):
        if len(value) != 1:
            raise Unsupported("The Metabase API double supports one value per variable.")
        value = value[0]
    if tag.get("type") == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        try:
            number = float(str(value))
        except ValueError:
            raise QueryError(f"Invalid value for number parameter {tag.get('name')}: {value!r}") from None
        return int(number) if number.is_integer() and "." not in str(value) else number
    return str(value)


def substitute(sql: str, tags: Mapping, values: Mapping[str, Any], metadata: Metadata | None) -> tuple[str, list]:
    """``sql`` with its ``{{tags}}`` replaced by bound parameters (``%s``; other ``%`` doubled)."""
    params: list = []

    def render(text: str) -> str:
        out, last = [], 0
        for match in _TAG.finditer(text):
            out.append(text[last : match.start()].replace("%", "%%"))
            out.append(replace(match.group(1)))
            last = match.end()
        out.append(text[last:].replace("%", "%%"))
        return "".join(out)

    def replace(name: str) -> str:
        tag = tags.get(name)
        if not isinstance(tag, dict):
            raise QueryError(f"Unknown template tag {name!r}: the query's template-tags do not define it.")
        kind = tag.get("type")
        if kind == "dimension":
            return dimension(tag, values.get(name))
        if kind not in ("text", "number", "date"):
            raise Unsupported(f"The Metabase API double does not support {kind!r} template tags.")
        if values.get(name) is None:
            label = tag.get("display-name") or name
            raise QueryError(f"You'll need to pick a value for '{label}' before this query can run.")
        params.append(_scalar(tag, values[name]))
        return "%s"

    def dimension(tag: Mapping, value: Any) -> str:
        if value is None:
            return "1 = 1"
        ref = tag.get("dimension")
        field_id = ref[2] if isinstance(ref, list) and len(ref) == 3 and isinstance(ref[1], dict) else (
            ref[1] if isinstance(ref, list) and len(ref) >= 2 else None)  # fmt: skip
        found = metadata.fields.get(field_id) if metadata else None
        if found is None:
            raise QueryError(f"Field {field_id} of template tag {tag.get('name')!r} is not synced.")
        table = metadata.tables[found["table_id"]]
        column = ident(table["schema"], table["name"], found["name"])
        widget = tag.get("widget-type") or "category"
        if widget not in ("category", "id", "string/=", "number/="):
            raise Unsupported(f"The Metabase API double does not support field filters of widget type {widget!r}.")
        items = value if isinstance(value, list) else [value]
        params.extend(items)
        return f"{column} IN ({', '.join(['%s'] * len(items))})" if len(items) > 1 else f"{column} = %s"

    def optional(match: re.Match) -> str:
        names = _TAG.findall(match.group(1))
        if all(values.get(n) is not None for n in names):
            return match.group(1)
        return ""

    pieces, last = [], 0
    for match in _OPTIONAL.finditer(sql):
        pieces.append(render(sql[last : match.start()]))
        pieces.append(render(optional(match)))
        last = match.end()
    pieces.append(render(sql[last:]))
    return "".join(pieces), params
