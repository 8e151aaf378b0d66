"""Every Spaces operation is in the OpenAPI schema with its errors in the one error shape."""

from __future__ import annotations

import pytest
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict:
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/", include("spaces.urls"))])
    with GENERATOR_STATS.silence():
        result = generator.get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache, list(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, list(GENERATOR_STATS._error_cache)
    return result


def operations(schema):
    for url, item in schema["paths"].items():
        for method, operation in item.items():
            yield url, method, operation


def test_the_spaces_schema_is_valid_and_generates_without_warnings(schema):
    validate_schema(schema)
    assert len(list(operations(schema))) == 38  # + transcript.vtt and .txt


def test_every_spaces_operation_has_an_id_a_summary_and_documents_401(schema):
    for url, method, operation in operations(schema):
        assert operation["operationId"].startswith("spaces_"), (url, method)
        assert operation.get("summary"), (url, method)
        body = operation["responses"]["401"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/Error"}, (url, method)


def test_every_write_documents_the_common_errors(schema):
    for url, method, operation in operations(schema):
        if method == "get":
            continue
        expected = {"400", "401", "413", "415", "429"}
        if url != "/api/v1/spaces":  # starting a Space names no existing one
            expected.add("404")
        assert expected <= set(operation["responses"]), (url, method)


@pytest.mark.parametrize(
    ("url", "method", "status", "code"),
    [
        ("/api/v1/spaces/{space_id}/requests/{request_id}/approve", "post", "409", "stage_full"),
        ("/api/v1/spaces/{space_id}/requests/{request_id}/approve", "post", "403", "not_moderator"),
        (
            "/api/v1/spaces/{space_id}/requests/{request_id}/approve",
            "post",
            "404",
            "request_not_found",
        ),
        ("/api/v1/spaces", "post", "409", "already_live"),
        ("/api/v1/spaces/{space_id}/join", "post", "403", "removed"),
        ("/api/v1/spaces/{space_id}/join", "post", "409", "space_ended"),
        ("/api/v1/spaces/{space_id}/reactions", "post", "429", "rate_limited"),
        ("/api/v1/spaces/{space_id}/pins", "post", "409", "too_many_pins"),
        (
            "/api/v1/spaces/{space_id}/participants/{user_id}/unmute",
            "post",
            "403",
            "only_self_unmute",
        ),
        ("/api/v1/spaces/{space_id}/invitations", "post", "403", "host_only"),
        ("/api/v1/spaces/{space_id}/end", "post", "403", "host_only"),
    ],
)
def test_the_documented_error_codes_are_the_ones_the_services_raise(
    schema, url, method, status, code
):
    assert code in schema["paths"][url][method]["responses"][status]["description"]


def test_lists_are_paginated_in_the_schema(schema):
    for url in (
        "/api/v1/spaces",
        "/api/v1/spaces/following",
        "/api/v1/spaces/{space_id}/moderation-log",
    ):
        ref = schema["paths"][url]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ]["$ref"]
        page = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        assert "results" in page["properties"], url


def test_the_whole_project_schema_still_generates(api_client):
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert "/api/v1/spaces/{space_id}" in response.json()["paths"]
