"""metabase_metadata against the fake Metabase: many tables and columns of one database in one run,
with one metadata read and one PUT per item that differs; no-op, check mode, diff, missing items
(fail or ignore), results equal to the single modules', requests within the OpenAPI contract."""

from __future__ import annotations

import pytest
from ansible_collections.cronicorn.monitoring.plugins.modules import metabase_field, metabase_metadata, metabase_table
from content_helpers import KEY_AUTH, SESSION_AUTH, secrets_absent, seed, writes

TABLES = [
    {"table": "public.admin_daily_metrics", "visibility": "hidden"},
    {"table": "admin_user_stats", "description": "One row per user"},
]
FIELDS = [
    {"table": "admin_user_stats", "field": "email", "visibility": "sensitive", "semantic_type": "type/Email"},
    {"table": "public.admin_user_stats", "field": "tier", "description": "The plan"},
    {"table": "admin_user_stats", "field": "user_id", "visibility": "normal"},  # already normal: no PUT
    {"table": "admin_daily_metrics", "field": "errors", "display_name": "Failed runs"},
]


def ok(outcome):
    assert not outcome.failed, outcome.msg
    return outcome


def table(fake, name):
    return next(t for tables in fake.tables.values() for t in tables if t["name"] == name)


def field(fake, table_name, name):
    return next(f for f in table(fake, table_name)["fields"] if f["name"] == name)


def run_many(run_module, check_mode=False, diff=False, auth=None, **kwargs):
    args = dict(auth or SESSION_AUTH, database="Cronicorn", tables=TABLES, fields=FIELDS)
    args.update(kwargs)
    return run_module(metabase_metadata, args, check_mode=check_mode, diff=diff)


def metadata_reads(fake):
    return [r for r in fake.requests if r.method == "GET" and r.path.endswith("/metadata")]


def expected_puts(fake):
    """The PUTs the TABLES and FIELDS above need on a freshly seeded fake, in their order."""
    return [
        ("PUT", f"/api/table/{table(fake, 'admin_daily_metrics')['id']}", {"visibility_type": "hidden"}),
        ("PUT", f"/api/table/{table(fake, 'admin_user_stats')['id']}", {"description": "One row per user"}),
        (
            "PUT",
            f"/api/field/{field(fake, 'admin_user_stats', 'email')['id']}",
            {"visibility_type": "sensitive", "semantic_type": "type/Email"},
        ),
        ("PUT", f"/api/field/{field(fake, 'admin_user_stats', 'tier')['id']}", {"description": "The plan"}),
        ("PUT", f"/api/field/{field(fake, 'admin_daily_metrics', 'errors')['id']}", {"display_name": "Failed runs"}),
    ]


def test_several_items_in_one_run_one_metadata_read_one_put_per_differing_item(fake, run_module):
    seed(fake)
    outcome = ok(run_many(run_module))
    assert outcome.changed is True
    assert len(metadata_reads(fake)) == 1
    assert [(r.method, r.path, r.body) for r in fake.writes()] == expected_puts(fake)
    assert table(fake, "admin_daily_metrics")["visibility_type"] == "hidden"
    assert table(fake, "admin_user_stats")["description"] == "One row per user"
    email = field(fake, "admin_user_stats", "email")
    assert (email["visibility_type"], email["semantic_type"]) == ("sensitive", "type/Email")
    assert field(fake, "admin_daily_metrics", "errors")["display_name"] == "Failed runs"
    assert outcome.result["tables"] == [
        {
            "id": table(fake, "admin_daily_metrics")["id"],
            "schema": "public",
            "name": "admin_daily_metrics",
            "visibility": "hidden",
        },
        {
            "id": table(fake, "admin_user_stats")["id"],
            "schema": "public",
            "name": "admin_user_stats",
            "description": "One row per user",
        },
    ]
    assert [(f["table"], f["name"]) for f in outcome.result["fields"]] == [
        ("public.admin_user_stats", "email"),
        ("public.admin_user_stats", "tier"),
        ("public.admin_user_stats", "user_id"),
        ("public.admin_daily_metrics", "errors"),
    ]
    assert outcome.result["missing"] == {"tables": [], "fields": []}
    secrets_absent(fake, outcome)


def test_the_items_are_returned_as_the_single_modules_return_them(fake, run_module):
    seed(fake)
    many = ok(run_many(run_module))
    for spec, shown in zip(TABLES, many.result["tables"], strict=True):
        single = ok(run_module(metabase_table, dict(SESSION_AUTH, database="Cronicorn", **spec)))
        assert single.changed is False
        assert single.result["table"] == shown
    for spec, shown in zip(FIELDS, many.result["fields"], strict=True):
        single = ok(run_module(metabase_field, dict(SESSION_AUTH, database="Cronicorn", **spec)))
        assert single.changed is False
        assert single.result["field"] == shown


def test_a_second_run_writes_nothing(fake, run_module):
    seed(fake)
    first = ok(run_many(run_module))
    fake.requests.clear()
    second = ok(run_many(run_module, auth=KEY_AUTH))
    assert second.changed is False
    assert writes(fake) == []
    assert len(metadata_reads(fake)) == 1
    assert (second.result["tables"], second.result["fields"]) == (first.result["tables"], first.result["fields"])


def test_check_mode_writes_nothing_and_predicts_the_result(fake, run_module):
    seed(fake)
    predicted = ok(run_many(run_module, check_mode=True))
    assert predicted.changed is True
    assert writes(fake) == []
    assert table(fake, "admin_daily_metrics")["visibility_type"] is None
    real = ok(run_many(run_module))
    assert real.changed is True
    assert (predicted.result["tables"], predicted.result["fields"]) == (real.result["tables"], real.result["fields"])
    fake.requests.clear()
    assert ok(run_many(run_module, check_mode=True)).changed is False
    assert writes(fake) == []


def test_one_diff_names_every_changed_item_and_only_those(fake, run_module):
    seed(fake)
    diff = ok(run_many(run_module, diff=True)).result["diff"]
    changed = [
        "table public.admin_daily_metrics",
        "table public.admin_user_stats",
        "field public.admin_user_stats.email",
        "field public.admin_user_stats.tier",
        "field public.admin_daily_metrics.errors",
    ]
    assert list(diff["before"]) == changed
    assert list(diff["after"]) == changed
    assert diff["before_header"] == diff["after_header"] == "metadata of database Cronicorn: " + ", ".join(changed)
    assert diff["before"]["field public.admin_user_stats.email"] == {"visibility": "normal", "semantic_type": ""}
    assert diff["after"]["field public.admin_user_stats.email"] == {
        "visibility": "sensitive",
        "semantic_type": "type/Email",
    }
    assert diff["before"]["table public.admin_daily_metrics"] == {"visibility": "visible"}
    assert diff["after"]["table public.admin_daily_metrics"] == {"visibility": "hidden"}
    again = ok(run_many(run_module, diff=True)).result["diff"]
    assert again == {
        "before": {},
        "after": {},
        "before_header": "metadata of database Cronicorn",
        "after_header": "metadata of database Cronicorn",
    }


def test_missing_items_fail_before_anything_is_written_naming_each_with_close_matches(fake, run_module):
    seed(fake)
    outcome = run_many(
        run_module,
        tables=[*TABLES, {"table": "public.admin_user_stat", "visibility": "hidden"}],
        fields=[*FIELDS, {"table": "admin_user_stats", "field": "emial", "visibility": "sensitive"}],
    )
    assert outcome.failed
    assert "Unknown table 'public.admin_user_stat' in 'Cronicorn'. Close matches: 'admin_user_stats'." in outcome.msg
    assert "Unknown column 'emial' in 'admin_user_stats'. Close matches: 'email'." in outcome.msg
    assert writes(fake) == []
    assert outcome.changed is False


def test_a_column_of_a_missing_table_fails_as_metabase_field_does(fake, run_module):
    seed(fake)
    outcome = run_many(run_module, tables=[], fields=[{"table": "public.no_such_table", "field": "x"}])
    args = dict(SESSION_AUTH, database="Cronicorn", table="public.no_such_table", field="x")
    single = run_module(metabase_field, args)
    assert outcome.failed and single.failed
    assert outcome.msg == single.msg
    assert outcome.msg.startswith("Unknown table 'public.no_such_table'"), outcome.msg


def test_missing_items_are_ignored_and_listed_the_others_set(fake, run_module):
    """A withheld column is not synced at all: hiding it is then nothing to do."""
    seed(fake)
    outcome = ok(
        run_many(
            run_module,
            missing="ignore",
            tables=[{"table": "public.api_keys", "visibility": "hidden"}, TABLES[0]],
            fields=[
                {"table": "user", "field": "stripe_customer_id", "visibility": "sensitive"},
                {"table": "admin_user_stats", "field": "stripe_customer_id", "visibility": "sensitive"},
                FIELDS[0],
            ],
        )
    )
    assert outcome.changed is True
    assert outcome.result["missing"] == {
        "tables": ["public.api_keys"],
        "fields": [
            {"table": "user", "field": "stripe_customer_id"},
            {"table": "admin_user_stats", "field": "stripe_customer_id"},
        ],
    }
    assert [t["name"] for t in outcome.result["tables"]] == ["admin_daily_metrics"]
    assert [f["name"] for f in outcome.result["fields"]] == ["email"]
    hidden, email = table(fake, "admin_daily_metrics"), field(fake, "admin_user_stats", "email")
    assert [r.path for r in fake.writes()] == [f"/api/table/{hidden['id']}", f"/api/field/{email['id']}"]


def test_only_missing_items_ignored_is_no_change(fake, run_module):
    seed(fake)
    outcome = ok(
        run_many(
            run_module,
            missing="ignore",
            tables=[{"table": "public.api_keys", "visibility": "hidden"}],
            fields=[{"table": "user", "field": "stripe_customer_id", "visibility": "sensitive"}],
        )
    )
    assert outcome.changed is False
    assert (outcome.result["tables"], outcome.result["fields"]) == ([], [])
    assert writes(fake) == []


@pytest.mark.parametrize(
    ("tables", "fields", "named"),
    [
        ([{"table": "admin_daily_metrics"}, {"table": "public.admin_daily_metrics"}], [], "table"),
        ([], [FIELDS[0], dict(FIELDS[0], table="public.admin_user_stats")], "field"),
    ],
    ids=["table", "field"],
)
def test_an_item_given_twice_fails_before_anything_is_written(fake, run_module, tables, fields, named):
    """Both entries would be compared with the metadata read before either write."""
    seed(fake)
    outcome = run_many(run_module, tables=[*tables, TABLES[1]], fields=fields)
    assert outcome.failed
    assert outcome.msg.startswith(f"The {named} public.admin_"), outcome.msg
    assert "is given twice" in outcome.msg
    assert writes(fake) == []


def test_nothing_given_reads_no_metadata(fake, run_module):
    seed(fake)
    outcome = ok(run_many(run_module, tables=[], fields=[]))
    assert outcome.changed is False
    assert metadata_reads(fake) == []
    assert writes(fake) == []


def test_an_unknown_database_fails(fake, run_module):
    seed(fake)
    outcome = run_many(run_module, database="Cronicorm")
    assert outcome.failed and "Cronicorm" in outcome.msg
    assert writes(fake) == []


@pytest.mark.parametrize("check_mode", [False, True])
def test_the_requests_match_metabase_openapi(fake, run_module, contract, check_mode):
    """Every request of a run (metadata read, table and field PUTs, clearing with null) is one the spec
    allows; the fixture checks again at teardown."""
    seed(fake)
    ok(run_many(run_module, check_mode=check_mode))
    cleared = [dict(spec, visibility="visible") for spec in TABLES[:1]]
    ok(run_many(run_module, check_mode=check_mode, tables=cleared, fields=[dict(FIELDS[0], semantic_type="")]))
    assert len(fake.requests) > 2
    assert contract.check_many(fake.recorded()) == []
    puts = [r.path.rsplit("/", 1)[0] for r in fake.requests if r.method == "PUT"]
    assert puts == ([] if check_mode else ["/api/table"] * 2 + ["/api/field"] * 3 + ["/api/table", "/api/field"])
