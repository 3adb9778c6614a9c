"""The OpenAPI schema says what the API answers (the live check is tests/test_api_contract.py;
these pin the corrections that check found, quickly and without a server)."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

LIST_FILTERS = {"status", "priority", "assignee", "team", "search", "sla"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def component(schema, name):
    return schema["components"]["schemas"][name]


def ok_schema(schema, path, method="get"):
    return schema["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]


def query_parameters(schema, path, method="get"):
    return {p["name"] for p in schema["paths"][path][method].get("parameters", []) if p["in"] == "query"}


@pytest.mark.parametrize(
    ("name", "fields"),
    [("Problem", ["category", "team", "owner"]), ("TriageResult", ["decided_by", "decided_at", "correct"])],
)
def test_fields_that_can_be_null_are_nullable(schema, name, fields):
    properties = component(schema, name)["properties"]
    for field in fields:
        assert properties[field].get("nullable") is True, field


def test_relations_are_a_plain_array_and_the_audit_trail_is_paged(schema):
    assert ok_schema(schema, "/api/tickets/{id}/relations/")["type"] == "array"
    assert query_parameters(schema, "/api/tickets/{id}/relations/") == set()
    audit = ok_schema(schema, "/api/tickets/{id}/audit/")
    audit = component(schema, audit["$ref"].rsplit("/", 1)[-1]) if "$ref" in audit else audit
    assert audit["properties"]["results"]["type"] == "array"
    assert query_parameters(schema, "/api/tickets/{id}/audit/") == {"page", "page_size"}


def test_filters_are_documented_where_they_apply_only(schema):
    assert query_parameters(schema, "/api/tickets/") >= LIST_FILTERS
    assert query_parameters(schema, "/api/tickets/stats/") >= LIST_FILTERS
    assert query_parameters(schema, "/api/tickets/{id}/comments/") == {"page", "page_size"}
    assert "status" in query_parameters(schema, "/api/problems/")


def test_conflicts_describe_both_bodies(schema):
    refused = component(schema, "TransitionRefused")
    assert refused["required"] == ["detail"]
    assert {"current", "allowed", "version"} <= set(refused["properties"])
    for path in ("/api/tickets/{id}/transition/", "/api/tickets/{id}/assign/", "/api/tickets/{id}/priority/"):
        body = schema["paths"][path]["post"]["responses"]["409"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/TransitionRefused"}
    problem = schema["paths"]["/api/problems/{id}/"]["patch"]["responses"]["409"]
    assert problem["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ProblemRefused"}


def test_a_refused_bulk_action_and_field_errors_are_both_described(schema):
    body = schema["paths"]["/api/tickets/bulk/"]["post"]["responses"]["400"]["content"]["application/json"]
    refused, field_errors = body["schema"]["anyOf"]
    assert refused["required"] == ["detail", "ids", "errors"]
    assert field_errors["additionalProperties"]["type"] == "array"
