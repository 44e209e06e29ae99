"""The Metabase double's MBQL 4 <-> MBQL 5 conversion and its query compiler, without Docker.

The shapes are Metabase's (src/metabase/lib/convert.cljc, lib/query.cljc add-types-to-fields,
lib_be/models/transforms.clj normalize-query; shared/metabase/content-facts.md §1.2, §10); the
integration tests (tests/integration/test_metabase_double_api.py) run the same through the image.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "images" / "metabase"))

from double import mbql, qp

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TYPES = {12: ("type/DateTime", "type/DateTime"), 13: ("type/Integer", "type/Integer"), 14: ("type/Text", "type/Text")}
ADDED = {mbql.ADDED_BASE_TYPE: True}


def field_types(field_id: int):
    return TYPES.get(field_id)


def strip_uuids(value):
    """The query with every lib/uuid replaced by "U" (and aggregation refs' target uuid by "AGG")."""
    if isinstance(value, dict):
        return {k: ("U" if k == "lib/uuid" else strip_uuids(v)) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) == 3 and value[0] == "aggregation" and isinstance(value[2], str):
            return ["aggregation", strip_uuids(value[1]), "AGG"]
        return [strip_uuids(v) for v in value]
    return value


def uuids(value) -> list[str]:
    if isinstance(value, dict):
        own = [value["lib/uuid"]] if "lib/uuid" in value else []
        return own + [u for v in value.values() for u in uuids(v)]
    if isinstance(value, list):
        return [u for v in value for u in uuids(v)]
    return []


QUESTION = {
    "database": 2,
    "type": "query",
    "query": {
        "source-table": 5,
        "aggregation": [["count"], ["sum", ["field", 13, None]]],
        "breakout": [["field", 12, {"temporal-unit": "month"}]],
        "filter": [
            "and",
            [">", ["field", 13, None], 100],
            ["contains", ["field", 14, None], "x", {"case-sensitive": False}],
        ],
        "order-by": [["desc", ["aggregation", 0]], ["asc", ["field", 12, {"temporal-unit": "month"}]]],
        "limit": 10,
    },
}


def test_a_legacy_question_is_stored_as_metabase_mbql5():
    """content-facts §1.2 (b): clauses [tag, {lib/uuid...}, args], filters as a list (the and split),
    aggregation refs by uuid, options of contains moved first, types added with the marker."""
    stored = mbql.normalize_for_save(QUESTION, field_types)
    typed = {"base-type": "type/Integer", "effective-type": "type/Integer", **ADDED}
    month = {"temporal-unit": "month", "base-type": "type/DateTime", "effective-type": "type/DateTime", **ADDED}
    assert strip_uuids(stored) == {
        "lib/type": "mbql/query",
        "database": 2,
        "stages": [
            {
                "lib/type": "mbql.stage/mbql",
                "source-table": 5,
                "aggregation": [
                    ["count", {"lib/uuid": "U"}],
                    ["sum", {"lib/uuid": "U"}, ["field", {"lib/uuid": "U", **typed}, 13]],
                ],
                "breakout": [["field", {"lib/uuid": "U", **month}, 12]],
                "filters": [
                    [">", {"lib/uuid": "U"}, ["field", {"lib/uuid": "U", **typed}, 13], 100],
                    [
                        "contains",
                        {"case-sensitive": False, "lib/uuid": "U"},
                        [
                            "field",
                            {"lib/uuid": "U", "base-type": "type/Text", "effective-type": "type/Text", **ADDED},
                            14,
                        ],
                        "x",
                    ],
                ],
                "order-by": [
                    ["desc", {"lib/uuid": "U"}, ["aggregation", {"lib/uuid": "U"}, "AGG"]],
                    ["asc", {"lib/uuid": "U"}, ["field", {"lib/uuid": "U", **month}, 12]],
                ],
                "limit": 10,
            }
        ],
    }
    stage = stored["stages"][0]
    assert stage["order-by"][0][2][2] == stage["aggregation"][0][1]["lib/uuid"]  # the ref names aggregation 0
    found = uuids(stored)
    assert all(UUID.match(u) for u in found) and len(found) == len(set(found)) == 12


def test_every_conversion_mints_new_uuids_and_mbql5_is_kept_as_sent():
    """content-facts traps 1 and 2: a legacy query gets new uuids on every save; an MBQL 5 one is stored as is."""
    first, second = (mbql.normalize_for_save(QUESTION, field_types) for _save in range(2))
    assert strip_uuids(first) == strip_uuids(second)
    assert not set(uuids(first)) & set(uuids(second))
    assert mbql.normalize_for_save(first, field_types) == first
    bare = {
        "lib/type": "mbql/query",
        "database": 1,
        "stages": [
            {
                "lib/type": "mbql.stage/mbql",
                "source-table": 3,
                "aggregation": [["count", {}]],
                "breakout": [["field", {"temporal-unit": "day"}, 12]],
            }
        ],
    }
    filled = mbql.normalize_for_save(bare, field_types)
    assert strip_uuids(filled)["stages"][0]["breakout"] == [["field", {"temporal-unit": "day", "lib/uuid": "U"}, 12]]
    assert len(set(uuids(filled))) == 2


@pytest.mark.parametrize(
    "query",
    [
        QUESTION,
        {"database": 1, "type": "query", "query": {"source-table": 3}},
        {"database": 1, "type": "query", "query": {"source-table": 3, "filter": ["=", ["field", 14, None], "a", "b"]}},
        {
            "database": 1,
            "type": "query",
            "query": {
                "source-table": 3,
                "aggregation": [
                    ["distinct", ["field", 14, None]],
                    ["avg", ["field", 13, None]],
                    ["max", ["field", 13, None]],
                ],
                "filter": ["or", ["is-null", ["field", 14, None]], ["not", ["between", ["field", 13, None], 1, 5]]],
                "order-by": [["asc", ["aggregation", 1]]],
                "fields": [["field", 13, {"base-type": "type/Integer"}]],
            },
        },
        {
            "database": 1,
            "type": "query",
            "query": {
                "source-table": 3,
                "filter": ["time-interval", ["field", 12, None], -30, "day", {"include-current": True}],
            },
        },
        {
            "database": 1,
            "type": "query",
            "query": {
                "source-table": 3,
                "expressions": {"double": ["*", ["field", 13, None], 2]},
                "fields": [["expression", "double"]],
            },
        },
        {"database": 1, "type": "query", "query": {"source-table": "card__7"}},
        {"database": 1, "type": "native", "native": {"query": "SELECT 1"}},
        {
            "database": 1,
            "type": "native",
            "native": {
                "query": "SELECT * FROM t WHERE {{tier}} AND n > {{n}}",
                "template-tags": {
                    "tier": {
                        "id": "a",
                        "name": "tier",
                        "display-name": "Tier",
                        "type": "dimension",
                        "dimension": ["field", 14, None],
                        "widget-type": "string/=",
                    },
                    "n": {"id": "b", "name": "n", "display-name": "N", "type": "number", "default": "3"},
                },
            },
        },
    ],
)
def test_legacy_mbql_true_gives_back_what_was_sent(query):
    """GET ?legacy-mbql=true (lib/->legacy-MBQL) of what was stored equals the legacy query sent."""
    assert mbql.mbql5_to_legacy(mbql.normalize_for_save(query, field_types)) == query


def test_native_queries_become_one_native_stage():
    query = {
        "database": 1,
        "type": "native",
        "native": {
            "query": "SELECT {{n}}",
            "template-tags": {"n": {"name": "n", "display-name": "N", "type": "number"}},
        },
    }
    assert mbql.normalize_for_save(query, field_types) == {
        "lib/type": "mbql/query",
        "database": 1,
        "stages": [
            {
                "lib/type": "mbql.stage/native",
                "native": "SELECT {{n}}",
                "template-tags": query["native"]["template-tags"],
            }
        ],
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"type": "native", "native": {"query": "SELECT 1"}}, "Query must include :database"),
        ({"database": 1}, "Query must include :lib/type or :type"),
        (
            {"lib/type": "mbql/query", "type": "query", "database": 1},
            "MBQL 4 keys like :type, :query, or :native are not allowed",
        ),
        ({"type": "query", "stages": [], "database": 1}, "MBQL 5 :stages is not allowed in an MBQL 4 query with :type"),
        (
            {
                "lib/type": "mbql/query",
                "database": 1,
                "stages": [
                    {"lib/type": "mbql.stage/mbql", "source-table": 1, "filter": [">", {"lib/uuid": "x"}, 1, 2]}
                ],
            },
            ":filter is not allowed in an MBQL 5 stage, use :filters instead",
        ),
        (
            {
                "lib/type": "mbql/query",
                "database": 1,
                "stages": [{"lib/type": "mbql.stage/mbql", "source-table": 1, "filters": []}],
            },
            "filters must have at least 1 item",
        ),
        (
            {
                "lib/type": "mbql/query",
                "database": 1,
                "stages": [{"lib/type": "mbql.stage/native", "native": "SELECT 1", "query": "x"}],
            },
            ":query is not allowed in a native query stage, you probably meant to use :native instead.",
        ),
        (
            {
                "lib/type": "mbql/query",
                "database": 1,
                "stages": [
                    {
                        "lib/type": "mbql.stage/mbql",
                        "source-table": 1,
                        "aggregation": [["count", {"lib/uuid": "u"}], ["count", {"lib/uuid": "u"}]],
                    }
                ],
            },
            "Duplicate :lib/uuid u",
        ),
    ],
)
def test_queries_metabase_refuses(query, message):
    with pytest.raises(mbql.InvalidQuery, match=re.escape(message)):
        mbql.normalize_for_save(query, field_types)


# -- the compiler --------------------------------------------------------------------------------

META = qp.Metadata.from_tables(
    [
        {
            "id": 5,
            "schema": "public",
            "name": "runs",
            "fields": [
                {
                    "id": 12,
                    "table_id": 5,
                    "name": "started_at",
                    "display_name": "Started At",
                    "base_type": "type/DateTime",
                    "position": 0,
                },
                {
                    "id": 13,
                    "table_id": 5,
                    "name": "duration_ms",
                    "display_name": "Duration Ms",
                    "base_type": "type/Integer",
                    "position": 1,
                },
                {
                    "id": 14,
                    "table_id": 5,
                    "name": "status",
                    "display_name": "Status",
                    "base_type": "type/Text",
                    "position": 2,
                },
            ],
        }
    ]
)


def test_a_simple_question_compiles_to_quoted_sql_with_bound_values():
    compiled = qp.compile_mbql(mbql.to_mbql5({**QUESTION, "query": {**QUESTION["query"], "source-table": 5}}), META)
    assert compiled.sql == (
        'SELECT date_trunc(\'month\', "public"."runs"."started_at") AS "c0", count(*) AS "c1",'
        ' sum("public"."runs"."duration_ms") AS "c2" FROM "public"."runs"'
        ' WHERE ("public"."runs"."duration_ms" > %s) AND (lower("public"."runs"."status") LIKE lower(%s))'
        ' GROUP BY date_trunc(\'month\', "public"."runs"."started_at") ORDER BY 2 DESC, 1 ASC LIMIT 10'
    )
    assert compiled.params == [100, "%x%"]
    assert [(c["name"], c["display_name"], c["source"]) for c in compiled.cols] == [
        ("started_at", "Started At: Month", "breakout"),
        ("count", "Count", "aggregation"),
        ("sum", "Sum of Duration Ms", "aggregation"),
    ]


def test_breakouts_are_sorted_implicitly_and_names_deduplicated():
    query = {
        "database": 1,
        "type": "query",
        "query": {
            "source-table": 5,
            "breakout": [["field", 14, None]],
            "aggregation": [["count"], ["count"], ["distinct", ["field", 13, None]]],
        },
    }
    compiled = qp.compile_mbql(mbql.to_mbql5(query), META)
    assert compiled.sql.endswith('GROUP BY "public"."runs"."status" ORDER BY 1 ASC')
    assert [c["name"] for c in compiled.cols] == ["status", "count", "count_2", "count_3"]


@pytest.mark.parametrize(
    ("clause", "unsupported"),
    [
        (["median", ["field", 13, None]], "the aggregation 'median'"),
        (["cum-count"], "the aggregation 'cum-count'"),
    ],
)
def test_aggregations_outside_the_subset_are_refused_by_name(clause, unsupported):
    query = {"database": 1, "type": "query", "query": {"source-table": 5, "aggregation": [clause]}}
    with pytest.raises(qp.Unsupported, match=re.escape(unsupported)):
        qp.compile_mbql(mbql.to_mbql5(query), META)


def test_other_unsupported_parts_are_named():
    for inner, words in [
        ({"source-table": 5, "joins": [{"alias": "x"}]}, ":joins"),
        ({"source-table": 5, "filter": ["segment", 1]}, "'segment'"),
        ({"source-query": {"source-table": 5}}, "one stage only"),
        ({"source-table": "card__3"}, "source-card"),
    ]:
        with pytest.raises(qp.Unsupported, match=re.escape(words)):
            qp.compile_mbql(mbql.to_mbql5({"database": 1, "type": "query", "query": inner}), META)


def test_template_tags_are_bound_and_optional_clauses_dropped():
    tags = {
        "n": {"name": "n", "display-name": "N", "type": "number"},
        "s": {"name": "s", "display-name": "Status", "type": "text"},
        "f": {
            "name": "f",
            "display-name": "F",
            "type": "dimension",
            "dimension": ["field", {"lib/uuid": "u"}, 14],
            "widget-type": "string/=",
        },
    }
    sql = "SELECT 100 % 7 FROM runs WHERE duration_ms > {{n}} [[AND status = {{s}}]] AND {{f}}"
    values = qp.tag_values(
        tags, [{"type": "number/=", "target": ["variable", ["template-tag", "n"]], "value": "5"}], []
    )
    assert qp.substitute(sql, tags, values, META) == (
        "SELECT 100 %% 7 FROM runs WHERE duration_ms > %s  AND 1 = 1",
        [5],
    )
    values = qp.tag_values(
        tags,
        [{"target": ["dimension", ["template-tag", "f"]], "value": ["ok", "failed"]}],
        [{"id": "p", "type": "text", "target": ["variable", ["template-tag", "s"]], "default": "ok"}],
    )
    with pytest.raises(
        qp.QueryError, match=re.escape("You'll need to pick a value for 'N' before this query can run.")
    ):
        qp.substitute(sql, tags, values, META)
    values["n"] = 1
    assert qp.substitute(sql, tags, values, META) == (
        'SELECT 100 %% 7 FROM runs WHERE duration_ms > %s AND status = %s AND "public"."runs"."status" IN (%s, %s)',
        [1, "ok", "ok", "failed"],
    )


def test_custom_columns_and_conditional_aggregations_compile():
    """Expressions (+ - * /, float division, NULL on zero) usable in fields, breakouts, filters and
    aggregations; count-where, sum-where and share as Metabase names them (content-facts §10)."""
    seconds = ["/", ["field", 13, None], 1000]
    query = {
        "database": 1,
        "type": "query",
        "query": {
            "source-table": 5,
            "expressions": {"seconds": seconds},
            "aggregation": [
                ["share", ["=", ["field", 14, None], "success"]],
                ["count-where", [">", ["expression", "seconds"], 2]],
                ["sum-where", ["field", 13, None], ["!=", ["field", 14, None], "success"]],
                ["avg", ["expression", "seconds"]],
            ],
            "breakout": [["field", 14, None]],
        },
    }
    compiled = qp.compile_mbql(mbql.to_mbql5(query), META)
    duration, status = '"public"."runs"."duration_ms"', '"public"."runs"."status"'
    secs = f"(CAST({duration} AS double precision) / NULLIF(1000, 0))"
    expected = (
        f'SELECT {status} AS "c0",'  # noqa: S608 - expected text, not run
        f' (CAST(sum(CASE WHEN ({status} = %s) THEN 1 ELSE 0 END) AS double precision) / NULLIF(count(*), 0)) AS "c1",'
        f' sum(CASE WHEN ({secs} > %s) THEN 1 ELSE 0 END) AS "c2",'
        f' sum(CASE WHEN (({status} <> %s) OR {status} IS NULL) THEN {duration} ELSE 0 END) AS "c3",'
        f' avg({secs}) AS "c4"'
        f' FROM "public"."runs" GROUP BY {status} ORDER BY 1 ASC'
    )
    assert compiled.sql == expected
    assert compiled.params == ["success", 2, "success"]
    assert [c["name"] for c in compiled.cols] == ["status", "share", "count-where", "sum_where_duration_ms", "avg"]
    plain = qp.compile_mbql(
        mbql.to_mbql5(
            {"database": 1, "type": "query", "query": {"source-table": 5, "expressions": {"seconds": seconds}}}
        ),
        META,
    )
    assert plain.sql.endswith(f'{secs} AS "c3" FROM "public"."runs"')
    assert plain.cols[-1]["field_ref"] == ["expression", "seconds"]
    with pytest.raises(qp.Unsupported, match="'concat' in expressions"):
        qp.compile_mbql(
            mbql.to_mbql5(
                {
                    "database": 1,
                    "type": "query",
                    "query": {"source-table": 5, "expressions": {"x": ["concat", "a", "b"]}},
                }
            ),
            META,
        )
