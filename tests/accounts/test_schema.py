"""The OpenAPI schema documents every accounts endpoint, and the docs page needs no CDN."""

from __future__ import annotations

import pytest
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

ACCOUNTS_OPERATIONS = {
    ("/api/v1/me", "get"): "me_retrieve",
    ("/api/v1/me", "patch"): "me_update",
    ("/api/v1/users/{username}", "get"): "user_retrieve",
    ("/api/v1/users/{username}/follow", "post"): "user_follow",
    ("/api/v1/users/{username}/follow", "delete"): "user_unfollow",
    ("/api/v1/users/{username}/followers", "get"): "user_followers_list",
    ("/api/v1/users/{username}/following", "get"): "user_following_list",
    ("/api/v1/users/{username}/block", "post"): "user_block",
    ("/api/v1/users/{username}/block", "delete"): "user_unblock",
    ("/api/v1/notifications", "get"): "notification_list",
    ("/api/v1/notifications/read", "post"): "notification_mark_read",
    ("/api/v1/notifications/unread-count", "get"): "notification_unread_count",
}


@pytest.fixture
def schema(api_client) -> dict:
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_openapi_3_with_every_accounts_operation(schema):
    assert schema["openapi"].startswith("3.")
    found = {
        (url, method): operation["operationId"]
        for url, item in schema["paths"].items()
        for method, operation in item.items()
        if (url, method) in ACCOUNTS_OPERATIONS
    }
    assert found == ACCOUNTS_OPERATIONS


def test_every_accounts_operation_documents_401_in_the_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["properties"]) == {"code", "message", "fields"}

    for url, method in ACCOUNTS_OPERATIONS:
        responses = schema["paths"][url][method]["responses"]
        body = responses["401"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/Error"}, (url, method)


def test_the_schema_documents_the_follow_outcomes_and_refusals(schema):
    follow = schema["paths"]["/api/v1/users/{username}/follow"]["post"]["responses"]

    assert {"200", "201", "400", "401", "403", "404", "429"} <= set(follow)
    assert "cannot_follow_self" in follow["400"]["description"]
    assert "blocked" in follow["403"]["description"]


def test_the_schema_documents_pagination_and_the_unread_filter(schema):
    listing = schema["paths"]["/api/v1/notifications"]["get"]
    params = {p["name"] for p in listing["parameters"]}
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page_schema = schema["components"]["schemas"][page.rsplit("/", 1)[-1]]

    assert {"cursor", "page_size", "unread"} <= params
    assert {"next", "previous", "results", "unread_count"} <= set(page_schema["properties"])


def test_the_schema_documents_the_session_token_header(schema):
    scheme = schema["components"]["securitySchemes"]["sessionToken"]

    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Session-Token")
    assert {"sessionToken": []} in schema["paths"]["/api/v1/me"]["get"]["security"]


def test_the_accounts_schema_is_valid_and_generates_without_warnings():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/", include("accounts.urls"))])
    with GENERATOR_STATS.silence():
        accounts_schema = generator.get_schema(request=None, public=True)

    assert not GENERATOR_STATS._warn_cache, list(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, list(GENERATOR_STATS._error_cache)
    validate_schema(accounts_schema)


def test_the_docs_page_serves_swagger_ui_from_our_own_static_files(api_client):
    response = api_client.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn." not in page
    assert "unpkg" not in page
