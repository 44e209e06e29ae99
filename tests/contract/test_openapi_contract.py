"""The contract validator: it accepts what Metabase's OpenAPI description allows and catches what
it does not. The spec must be present: a missing file fails these tests, it never skips them."""

from __future__ import annotations

import json

import pytest
from openapi_contract import (
    NO_BODY,
    REPO_ROOT,
    ContractViolation,
    OpenApiContract,
    load_contract,
    spec_path,
)

CREATE = {"name": "Cronicorn", "engine": "postgres", "details": {"host": "postgres", "port": 5432}}
SETUP = {
    "token": "7a1c1f58-0d4f-4c1e-9d0e-5c3e0b7f0a11",
    "user": {"email": "admin@example.com", "password": "Adm1n-Secret-pw"},
    "prefs": {"site_name": "Cronicorn"},
}


@pytest.fixture(scope="module")
def contract():
    return load_contract()


def test_the_spec_is_there_and_is_metabase_openapi_3_1(contract):
    assert spec_path().is_file(), "METABASE_OPENAPI or ../shared/metabase/openapi.json must exist"
    assert contract.spec["openapi"] == "3.1.0"
    assert contract.spec["info"]["title"] == "Metabase API"
    assert len(contract.spec["paths"]) > 400


def test_a_missing_spec_fails_instead_of_skipping(monkeypatch, tmp_path):
    monkeypatch.setenv("METABASE_OPENAPI", str(tmp_path / "nowhere.json"))
    with pytest.raises(FileNotFoundError, match="Metabase OpenAPI spec not found"):
        load_contract()


def test_a_relative_env_path_is_resolved_from_the_repository_root(monkeypatch):
    monkeypatch.setenv("METABASE_OPENAPI", "some/dir/openapi.json")
    assert spec_path() == REPO_ROOT / "some/dir/openapi.json"
    monkeypatch.delenv("METABASE_OPENAPI")
    assert spec_path() == REPO_ROOT / "../shared/metabase/openapi.json"


# -- what the modules send is accepted ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/session/properties", NO_BODY),
        ("POST", "/api/setup/", SETUP),
        ("POST", "/api/setup/", dict(SETUP, user=dict(SETUP["user"], first_name="Ada", last_name=None))),
        ("POST", "/api/session/", {"username": "admin@example.com", "password": "x"}),
        ("GET", "/api/user/current", NO_BODY),
        ("GET", "/api/database/", NO_BODY),
        ("POST", "/api/database/", CREATE),
        ("POST", "/api/database/", dict(CREATE, auto_run_queries=False)),
        ("PUT", "/api/database/12", {"details": {"host": "replica"}}),
        ("PUT", "/api/database/12", {"auto_run_queries": True, "details": {"password": "x", "ssl": False}}),
        ("DELETE", "/api/database/12", NO_BODY),
        ("POST", "/api/database/12/sync_schema", NO_BODY),
        ("GET", "/api/health", NO_BODY),
    ],
)
def test_requests_the_modules_send_are_valid(contract, method, path, body):
    assert contract.check(method, path, body=body) == []


def test_required_keys_with_a_default_are_optional(contract):
    raw = json.loads(spec_path().read_text(encoding="utf-8"))
    schema = raw["paths"]["/api/database/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"is_full_sync", "is_on_demand", "connection_source"} <= set(schema["required"])  # the generator quirk
    assert contract.check("POST", "/api/database/", body=CREATE) == []
    raw_params = {p["name"]: p for p in raw["paths"]["/api/database/"]["get"]["parameters"]}
    assert raw_params["include_analytics"]["required"] is True
    assert contract.check("GET", "/api/database/") == []


def test_query_parameters_are_decoded_and_checked(contract):
    assert contract.check("GET", "/api/database/?include=tables&saved=true") == []
    assert contract.check("GET", "/api/database/", query={"include_analytics": "false"}) == []
    assert contract.check("GET", "/api/database/12?include=tables.fields") == []


# -- what breaks the spec is caught ---------------------------------------------------------------


def test_wrong_path(contract):
    assert contract.check("GET", "/api/databases/") == ["no path of the spec matches /api/databases/"]


def test_trailing_slash_of_collection_roots_is_strict_unless_asked(contract):
    assert contract.check("GET", "/api/database") == [
        "no path of the spec matches /api/database (the spec's path key is spelled /api/database/)"
    ]
    assert contract.check("GET", "/api/database", lenient_trailing_slash=True) == []
    assert contract.check("POST", "/api/session", body={"username": "a", "password": "b"}) != []


def test_wrong_method(contract):
    assert contract.check("PATCH", "/api/database/12", body={"name": "x"}) == [
        "PATCH /api/database/12: method not in the spec for /api/database/{id} (it has DELETE, GET, PUT)"
    ]
    assert contract.check("PUT", "/api/database/", body=CREATE) != []


def test_missing_required_body_field(contract):
    body = {key: value for key, value in CREATE.items() if key != "engine"}
    assert contract.check("POST", "/api/database/", body=body) == [
        "POST /api/database/: body (root): 'engine' is a required property"
    ]
    setup = dict(SETUP, user={"email": "admin@example.com"})
    assert contract.check("POST", "/api/setup/", body=setup) == [
        "POST /api/setup/: body user: 'password' is a required property"
    ]
    assert contract.check("POST", "/api/session/", body={"username": "a"}) == [
        "POST /api/session/: body (root): 'password' is a required property"
    ]


def test_missing_body(contract):
    assert contract.check("POST", "/api/session/") == ["POST /api/session/: a request body is required"]


def test_wrongly_typed_field(contract):
    assert contract.check("POST", "/api/database/", body=dict(CREATE, auto_run_queries="yes")) == [
        "POST /api/database/: body auto_run_queries: 'yes' is not of type 'boolean'"
    ]
    assert contract.check("POST", "/api/database/", body=dict(CREATE, name=123)) == [
        "POST /api/database/: body name: 123 is not of type 'string'"
    ]
    assert contract.check("POST", "/api/database/", body=dict(CREATE, details="host=postgres")) == [
        "POST /api/database/: body details: 'host=postgres' is not of type 'object'"
    ]
    assert contract.check("PUT", "/api/database/12", body={"cache_ttl": 0}) == [
        "PUT /api/database/{id}: body cache_ttl: 0 is less than the minimum of 1"
    ]


def test_refs_into_components_are_resolved(contract):
    body = {"schedules": {"metadata_sync": {"schedule_type": "never"}}}
    assert contract.check("PUT", "/api/database/12", body=body) == [
        "PUT /api/database/{id}: body schedules/metadata_sync/schedule_type: 'never' is not one of "
        "['hourly', 'daily', 'weekly', 'monthly']"
    ]
    good = {"schedules": {"metadata_sync": {"schedule_type": "daily", "schedule_hour": 3}}}
    assert contract.check("PUT", "/api/database/12", body=good) == []


def test_wrong_path_parameter(contract):
    assert contract.check("PUT", "/api/database/abc", body={}) == [
        "PUT /api/database/{id}: path parameter 'id'='abc': (root): 'abc' is not of type 'integer'"
    ]
    assert contract.check("DELETE", "/api/database/0") == [
        "DELETE /api/database/{id}: path parameter 'id'='0': (root): 0 is less than the minimum of 1"
    ]


def test_wrong_query_parameters(contract):
    assert contract.check("GET", "/api/database/?include=everything") == [
        "GET /api/database/: query parameter 'include'='everything': (root): 'tables' was expected"
    ]
    assert contract.check("GET", "/api/database/?limit=5") == [
        "GET /api/database/: query parameter 'limit' is not in the spec"
    ]


def test_body_where_the_spec_has_none(contract):
    assert contract.check("DELETE", "/api/database/12", body={}) == [
        "DELETE /api/database/{id}: the spec defines no request body, but one was sent"
    ]
    assert contract.check("GET", "/api/health", body={}) == ["GET /api/health takes no body"]
    assert contract.check("POST", "/api/health") != []


def test_assert_valid_raises_with_every_problem(contract):
    contract.assert_valid("GET", "/api/database/")
    with pytest.raises(ContractViolation) as caught:
        contract.assert_valid("POST", "/api/database/", body={"name": "", "engine": "postgres"})
    text = str(caught.value)
    assert "'details' is a required property" in text
    assert "name: '' should be non-empty" in text


def test_check_many_prefixes_each_problem():
    contract = load_contract()
    problems = contract.check_many(
        [
            ("GET", "/api/database/", None, NO_BODY),
            {"method": "GET", "path": "/api/nope"},
        ]
    )
    assert problems == ["GET /api/nope: no path of the spec matches /api/nope"]


def test_a_minimal_spec_works_on_its_own():
    spec = {
        "openapi": "3.1.0",
        "paths": {
            "/api/thing/{id}": {
                "put": {
                    "parameters": [{"in": "path", "name": "id", "required": True, "schema": {"type": "integer"}}],
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/T"}}}},
                }
            }
        },
        "components": {
            "schemas": {
                "T": {
                    "type": "object",
                    "required": ["a", "b"],
                    "properties": {"a": {"type": "string"}, "b": {"type": "integer", "default": 1}},
                }
            }
        },
    }
    contract = OpenApiContract(spec)
    assert contract.check("PUT", "/api/thing/3", body={"a": "x"}) == []
    assert contract.check("PUT", "/api/thing/3", body={"b": 2}) == [
        "PUT /api/thing/{id}: body (root): 'a' is a required property"
    ]


# -- the content modules' requests ------------------------------------------------------------------

DASHCARD = {"id": -1, "card_id": 4, "row": 0, "col": 0, "size_x": 6, "size_y": 4, "series": []}


@pytest.mark.parametrize(
    "target",
    [
        ["variable", ["template-tag", "tier"]],
        ["dimension", ["template-tag", "tier"]],
        ["dimension", ["field", 12, None]],
    ],
)
def test_mapping_targets_metabase_takes_are_valid(contract, target):
    """The spec's target is oneOf an empty "dimension" schema and others: read strictly, every target
    is "valid under each of" two branches. Metabase (malli :multi) takes them; so does the check."""
    mapping = {"parameter_id": "a1b2c3d4", "card_id": 4, "target": target}
    body = {"tabs": [], "dashcards": [dict(DASHCARD, parameter_mappings=[mapping])]}
    assert contract.check("PUT", "/api/dashboard/7", body=body) == []


def test_other_one_of_schemas_still_reject_what_no_branch_takes(contract):
    assert contract.check("POST", "/api/collection/", body={"name": "A", "parent_id": 0}) == [
        "POST /api/collection/: body parent_id: 0 is less than the minimum of 1"
    ]
    assert contract.check("PUT", "/api/collection/3", body={"archived": "yes"}) != []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/collection/", NO_BODY),
        ("POST", "/api/collection/", {"name": "Cronicorn Admin", "parent_id": None}),
        ("PUT", "/api/collection/3", {"archived": False, "description": None}),
        ("PUT", "/api/collection/3", {"archived": True}),
        ("GET", "/api/collection/root/items", NO_BODY),
        ("GET", "/api/collection/3/items", NO_BODY),
        ("GET", "/api/card/4", NO_BODY),
        ("GET", "/api/card/4?legacy-mbql=true", NO_BODY),
        (
            "POST",
            "/api/card/",
            {
                "name": "Total Users",
                "type": "question",
                "collection_id": 3,
                "dataset_query": {"database": 2, "type": "query", "query": {"source-table": 5}},
                "display": "scalar",
                "visualization_settings": {},
            },
        ),
        ("PUT", "/api/card/4", {"archived": True}),
        ("PUT", "/api/card/4", {"description": None, "display": "bar"}),
        ("GET", "/api/dashboard/7", NO_BODY),
        (
            "POST",
            "/api/dashboard/",
            {"name": "Ops", "collection_id": None, "parameters": [{"id": "ab", "type": "string/="}]},
        ),
        ("PUT", "/api/dashboard/7", {"tabs": [{"id": -1, "name": "Main"}], "dashcards": [DASHCARD]}),
        ("PUT", "/api/dashboard/7", {"archived": True}),
        ("GET", "/api/database/2/metadata?include_hidden=true", NO_BODY),
        ("DELETE", "/api/session/", NO_BODY),
    ],
)
def test_requests_the_content_modules_send_are_valid(contract, method, path, body):
    assert contract.check(method, path, body=body) == []


def test_dashcards_without_their_place_are_caught(contract):
    assert contract.check("PUT", "/api/dashboard/7", body={"dashcards": [{"id": -1, "card_id": 4}]}) != []


def test_one_of_with_an_unrendered_branch_accepts_what_metabase_dispatches(contract):
    """The generator renders some Malli schemas as ``{}`` (``metabase.lib.schema.parameter.dimension``);
    inside a ``oneOf`` that empty branch matches everything, so a dashcard mapping to a native variable
    (``["variable", ["template-tag", "min"]]``, content-facts.md §3) matched two branches and was refused
    although Metabase's ``:multi`` schema dispatches it to one. Such a ``oneOf`` is read as ``anyOf``;
    the mapping itself is still checked."""
    body = {
        "dashcards": [
            {
                "id": -1,
                "card_id": 3,
                "row": 0,
                "col": 0,
                "size_x": 6,
                "size_y": 4,
                "parameter_mappings": [
                    {"parameter_id": "a1b2", "card_id": 3, "target": ["variable", ["template-tag", "min"]]},
                    {"parameter_id": "c3d4", "card_id": 3, "target": ["dimension", ["field", 12, None]]},
                ],
            }
        ]
    }
    assert contract.check("PUT", "/api/dashboard/7", body=body) == []
    del body["dashcards"][0]["parameter_mappings"][0]["target"]
    assert contract.check("PUT", "/api/dashboard/7", body=body) != []
