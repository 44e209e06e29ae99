"""The resource layer on its own: plan, Change, Resource.ensure (create, no-op, update only what
differs, archive, check mode, secrets masked in the diff), Lookup by natural key, close matches,
and the MBQL reader and writer as pure functions."""

from __future__ import annotations

import json
import re

import pytest
from ansible_collections.cronicorn.monitoring.plugins.module_utils import metabase_mbql as mbql
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase import MASK, MetabaseClient
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (
    Lookup,
    Resource,
    ResourceError,
    close_matches,
    plan,
    split_path,
)
from fake_metabase import API_KEY

SECRET = "s3cr3t-token-value"


class Note(Resource):
    """A made-up resource with a secret key, served by a tiny in-memory client."""

    kind = "note"
    api = "/api/note/"
    keys = ("text", "token")
    secret_keys = ("token",)

    def normalize(self, obj):
        return {"text": obj.get("text") or "", "token": obj.get("token")}

    def create_body(self, wanted):
        return {"name": wanted["name"], "text": wanted["text"], "token": wanted["token"]}


class RecordingClient:
    def __init__(self):
        self.sent = []
        self.objects = {}

    def request(self, method, path, body=None, **_kwargs):
        self.sent.append((method, path, body))
        if method == "POST":
            obj = dict(body, id=len(self.objects) + 1)
            self.objects[obj["id"]] = obj
            return obj
        obj = self.objects[int(path.rsplit("/", 1)[1])]
        obj.update(body)
        return obj


@pytest.fixture
def client():
    return RecordingClient()


def note(client, check_mode=False):
    return Note(client, lookup=None, check_mode=check_mode)


def test_plan_compares_only_managed_keys_in_order():
    assert plan({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 5, "c": None}, ("c", "b", "a")) == ["b"]
    assert plan({}, {"a": [], "b": ""}, ("a", "b")) == ["a", "b"]
    assert plan({"a": [], "b": ""}, {"a": [], "b": ""}, ("a", "b")) == []


def test_create_then_noop_then_update_only_the_difference(client):
    change = note(client).ensure(None, {"name": "n", "text": "hello", "token": SECRET})
    assert change.action == "create"
    assert change.after == {"text": "hello", "token": MASK}
    current = client.objects[1]
    same = note(client).ensure(current, {"text": "hello", "token": SECRET})
    assert same.action == "none"
    assert same.changed is False
    assert len(client.sent) == 1
    updated = note(client).ensure(current, {"text": "bye", "token": SECRET})
    assert updated.action == "update"
    assert updated.differing == ["text"]
    assert client.sent[-1] == ("PUT", "/api/note/1", {"text": "bye"})
    assert updated.diff == {"before": {"text": "hello", "token": MASK}, "after": {"text": "bye", "token": MASK}}


def test_a_changed_secret_is_sent_but_never_shown(client):
    note(client).ensure(None, {"name": "n", "text": "t", "token": "old-" + SECRET})
    change = note(client).ensure(client.objects[1], {"text": "t", "token": SECRET})
    assert change.differing == ["token"]
    assert client.sent[-1][2] == {"token": SECRET}
    assert SECRET not in json.dumps(change.diff)
    assert change.diff["after"]["token"] == MASK


def test_check_mode_writes_nothing_and_predicts(client):
    change = note(client, check_mode=True).ensure(None, {"name": "n", "text": "t", "token": SECRET})
    assert change.action == "create"
    assert change.obj["id"] < 0
    assert client.sent == []
    client.objects[7] = {"id": 7, "name": "n", "text": "t", "token": SECRET}
    update = note(client, check_mode=True).ensure(client.objects[7], {"text": "u", "token": SECRET})
    assert update.action == "update"
    assert update.obj["text"] == "u"
    assert client.objects[7]["text"] == "t"
    archive = note(client, check_mode=True).ensure(client.objects[7], {}, state="absent")
    assert archive.action == "archive"
    assert client.sent == []


def test_archive_puts_archived_and_absent_is_a_noop(client):
    client.objects[3] = {"id": 3, "name": "n", "text": "t", "token": SECRET}
    change = note(client).ensure(client.objects[3], {}, state="absent")
    assert change.action == "archive"
    assert client.sent == [("PUT", "/api/note/3", {"archived": True})]
    assert change.after == {}
    assert change.before["token"] == MASK
    assert note(client).ensure(None, {}, state="absent").changed is False


def test_a_create_answer_without_id_fails():
    class Broken(RecordingClient):
        def request(self, method, path, body=None, **_kwargs):
            return {"ok": True}

    with pytest.raises(ResourceError, match="POST /api/note/ succeeded but the answer carries no note id"):
        note(Broken()).ensure(None, {"name": "n", "text": "t", "token": "x"})


def test_close_matches():
    assert close_matches("teir", ["tier", "tiers", "email"]) == ["tier", "tiers"]
    assert close_matches("admin_user", ["public.admin_user_stats", "public.other"]) == ["public.admin_user_stats"]
    assert close_matches("zzz", ["a", "b"]) == []


@pytest.mark.parametrize(
    ("path", "parts"),
    [(None, []), ("", []), ("/", []), ("A", ["A"]), ("A/B", ["A", "B"]), (" A / B/", ["A", "B"])],
)
def test_split_path(path, parts):
    assert split_path(path) == parts


def test_split_path_refuses_empty_parts():
    with pytest.raises(ResourceError, match="empty part"):
        split_path("A//B")


def test_lookup_reads_each_list_once(fake):
    client = MetabaseClient("http://metabase.test", api_key=API_KEY)
    lookup = Lookup(client)
    assert lookup.find_collection("A/B") == ({"id": None, "name": "Our analytics", "path": ""}, ["A", "B"])
    lookup.items(None)
    lookup.items(None)
    lookup.databases()
    lookup.database("Sample Database")
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/api/collection/"),
        ("GET", "/api/collection/root/items"),
        ("GET", "/api/database/"),
    ]
    with pytest.raises(
        ResourceError, match=re.escape("Unknown database 'Sample Datbase'. Close matches: 'Sample Database'")
    ):
        lookup.database("Sample Datbase")


# -- the MBQL option form, pure ----------------------------------------------------------------------

METADATA = mbql.DatabaseMetadata(
    {
        "tables": [
            {
                "id": 5,
                "schema": "public",
                "name": "orders",
                "fields": [{"id": 12, "name": "category"}, {"id": 13, "name": "total"}, {"id": 14, "name": "at"}],
            },
            {"id": 6, "schema": "audit", "name": "orders", "fields": [{"id": 20, "name": "category"}]},
        ]
    },
    "Shop",
)


def test_ambiguous_table_needs_its_schema():
    with pytest.raises(
        ResourceError, match=re.escape("Table 'orders' is ambiguous in database 'Shop': audit.orders, public.orders")
    ):
        METADATA.table("orders")
    assert METADATA.table("audit.orders")["id"] == 6


def test_compile_and_read_back_both_versions():
    query = mbql.resolve_query(
        mbql.canonical_query(
            {
                "source_table": "public.orders",
                "aggregations": ["count", {"sum": "total"}],
                "breakouts": [{"column": "at", "unit": "month"}, "category"],
                "filters": [{"column": "total", "operator": ">", "value": [100]}],
                "order_by": ["category", {"aggregation": 1, "direction": "desc"}],
                "limit": "10",
            }
        ),
        METADATA,
    )
    assert query["filters"] == [{"column": "total", "operator": ">", "value": 100}]
    assert query["limit"] == 10
    legacy = mbql.compile_query(query, 2, METADATA)
    assert legacy == {
        "database": 2,
        "type": "query",
        "query": {
            "source-table": 5,
            "aggregation": [["count"], ["sum", ["field", 13, None]]],
            "breakout": [["field", 14, {"temporal-unit": "month"}], ["field", 12, None]],
            "filter": [">", ["field", 13, None], 100],
            "order-by": [["asc", ["field", 12, None]], ["desc", ["aggregation", 1]]],
            "limit": 10,
        },
    }
    assert mbql.read_dataset_query(legacy, lambda _db: METADATA) == ("query", query)
    modern = {
        "lib/type": "mbql/query",
        "database": 2,
        "stages": [
            {
                "lib/type": "mbql.stage/mbql",
                "source-table": 5,
                "aggregation": [
                    ["count", {"lib/uuid": "u1"}],
                    ["sum", {"lib/uuid": "u2"}, ["field", {"lib/uuid": "u3"}, 13]],
                ],
                "breakout": [
                    ["field", {"lib/uuid": "u4", "base-type": "type/DateTime", "temporal-unit": "month"}, 14],
                    ["field", {"lib/uuid": "u5", "base-type": "type/Text", "effective-type": "type/Text"}, 12],
                ],
                "filters": [[">", {"lib/uuid": "u6"}, ["field", {"lib/uuid": "u7"}, 13], 100]],
                "order-by": [
                    ["asc", {"lib/uuid": "u8"}, ["field", {"lib/uuid": "u9"}, 12]],
                    ["desc", {"lib/uuid": "u10"}, ["aggregation", {"lib/uuid": "u11"}, "u2"]],
                ],
                "limit": 10,
            }
        ],
    }
    assert mbql.read_dataset_query(modern, lambda _db: METADATA) == ("query", query)


@pytest.mark.parametrize(
    ("stage", "reason"),
    [
        ({"source-table": 5, "joins": []}, "the question uses joins"),
        ({"source-table": 5, "expressions": {}}, "the question uses expressions"),
        ({"source-table": "card__3"}, "source-table (a saved question)"),
        ({"source-table": 99}, "source table 99 is not in the metadata"),
        (
            {"source-table": 5, "aggregation": [["cum-sum", ["field", 13, None]]]},
            "aggregation 'cum-sum' is not supported",
        ),
    ],
)
def test_what_the_option_form_cannot_express_is_named(stage, reason):
    with pytest.raises(mbql.Unsupported, match=re.escape(reason)):
        mbql.read_dataset_query({"database": 2, "type": "query", "query": stage}, lambda _db: METADATA)


def test_in_and_not_in_read_as_several_value_equality():
    stage = {
        "lib/type": "mbql.stage/mbql",
        "source-table": 5,
        "filters": [
            ["in", {"lib/uuid": "a"}, ["field", {"lib/uuid": "b"}, 12], "x", "y"],
            ["not-in", {"lib/uuid": "c"}, ["field", {"lib/uuid": "d"}, 12], "z"],
        ],
    }
    query = {"lib/type": "mbql/query", "database": 2, "stages": [stage]}
    assert mbql.read_dataset_query(query, lambda _db: METADATA)[1]["filters"] == [
        {"column": "category", "operator": "=", "value": ["x", "y"]},
        {"column": "category", "operator": "!=", "value": "z"},
    ]
