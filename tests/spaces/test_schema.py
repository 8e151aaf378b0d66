"""Every Spaces operation is in the OpenAPI schema with its errors in the one error shape."""

from __future__ import annotations

import re
from pathlib import Path

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
    # + listen-mode, comments (4), speaking-policy, stage lock, mute-all, guests,
    # noise-suppression
    assert len(list(operations(schema))) == 49


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
        ("/api/v1/spaces/{space_id}/join", "post", "403", "ticket_required"),
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
        ("/api/v1/spaces/{space_id}/recording/consent", "post", "409", "recording_off"),
        ("/api/v1/spaces/{space_id}/recording/consent", "post", "409", "not_on_stage"),
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


# --- docs/realtime.md and the schema agree on each error code's status ------------------------

REALTIME_DOC = Path(__file__).resolve().parents[2] / "docs" / "realtime.md"
ERROR_TABLE_HEADER = "| Code | In the API | When |"


def doc_error_statuses() -> dict[str, set[int]]:
    """The error-code table of docs/realtime.md: code -> the API statuses it states (empty for
    a code only the socket answers)."""
    lines = REALTIME_DOC.read_text().splitlines()
    start = lines.index(ERROR_TABLE_HEADER) + 2  # after the |---| row
    stated: dict[str, set[int]] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        codes, statuses, _ = (cell.strip() for cell in line.strip("|").split("|", 2))
        found = {int(s) for s in re.findall(r"\b[1-5]\d\d\b", statuses)}
        assert found or statuses == "socket only", line
        for code in re.findall(r"`([a-z0-9_]+)`", codes):
            assert code not in stated, f"{code} is in two rows"
            stated[code] = found
    return stated


def schema_error_statuses(schema: dict) -> dict[str, set[int]]:
    """code -> every status under which some operation of the schema documents it."""
    documented: dict[str, set[int]] = {}
    for _, _, operation in operations(schema):
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            for code in re.findall(r"`([a-z0-9_]+)`", response.get("description", "")):
                documented.setdefault(code, set()).add(int(status))
    return documented


@pytest.fixture(scope="module")
def project_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_socket_docs_state_the_api_status_the_schema_documents_for_each_error_code(
    project_schema,
):
    stated = doc_error_statuses()
    documented = schema_error_statuses(project_schema)

    assert {"not_on_stage", "ticket_required"} <= set(stated)
    for code, statuses in stated.items():
        assert documented.get(code, set()) == statuses, (
            f"`{code}`: docs/realtime.md says {sorted(statuses) or 'socket only'}, "
            f"the schema documents {sorted(documented.get(code, set()))}"
        )


def test_every_refusal_a_space_operation_documents_is_in_the_socket_docs(schema):
    """The codes of the Spaces operations' 403, 404 and 409 answers: the socket's actions call
    the same services, so an app meets them there too and the table must explain them."""
    stated = doc_error_statuses()
    not_socket_actions = {"spaces_start", "spaces_reports_create"}
    refusals = {
        code
        for _, _, operation in operations(schema)
        if operation["operationId"] not in not_socket_actions
        for status in ("403", "404", "409")
        for code in re.findall(
            r"`([a-z0-9_]+)`", operation["responses"].get(status, {}).get("description", "")
        )
    } - {"forbidden"}  # the site session without its CSRF token: HTTP only
    assert refusals - set(stated) == set()


def assert_carries_a_ticket_badge_or_null(item: dict) -> None:
    ticket = item["properties"]["ticket"]
    assert ticket["allOf"] == [{"$ref": "#/components/schemas/SpaceTicketBadge"}]
    assert ticket["nullable"] is True
    assert "ticket" in item["required"]


def list_item_schema(schema: dict, url: str) -> dict:
    """The schema of one item of the paginated list `GET url` answers."""
    components = schema["components"]["schemas"]
    page = schema["paths"][url]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    ref = components[page["$ref"].rsplit("/", 1)[-1]]["properties"]["results"]["items"]["$ref"]
    return components[ref.rsplit("/", 1)[-1]]


def test_a_bubble_carries_its_ticket_badge_or_null(schema):
    bubble = schema["components"]["schemas"]["SpaceInBubble"]
    assert_carries_a_ticket_badge_or_null(bubble)
    assert list_item_schema(schema, "/api/v1/spaces/following") == bubble
    badge = schema["components"]["schemas"]["SpaceTicketBadge"]
    assert set(badge["required"]) == {
        "price",
        "currency",
        "price_display",
        "capacity",
        "seats_left",
        "seats_display",
        "action",
        "url",
    }


def test_a_live_list_row_is_a_space_with_its_ticket_badge_or_null(schema):
    row = list_item_schema(schema, "/api/v1/spaces")
    assert_carries_a_ticket_badge_or_null(row)
    space = schema["components"]["schemas"]["Space"]
    assert set(row["properties"]) == set(space["properties"]) | {"ticket"}
    # Only the list reads badges: one Space (detail, start, bubble, ended) has no `ticket`.
    assert "ticket" not in space["properties"]


@pytest.mark.parametrize(
    "url",
    ["/api/v1/spaces/scheduled", "/api/v1/spaces/upcoming", "/api/v1/users/{username}/upcoming"],
)
def test_every_scheduled_space_list_carries_its_ticket_badge_or_null(project_schema, url):
    assert_carries_a_ticket_badge_or_null(list_item_schema(project_schema, url))


def test_one_scheduled_space_carries_its_ticket_badge_or_null(project_schema):
    answer = project_schema["paths"]["/api/v1/spaces/scheduled/{space_id}"]["get"]["responses"]
    ref = answer["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/ScheduledSpace"
    assert_carries_a_ticket_badge_or_null(project_schema["components"]["schemas"]["ScheduledSpace"])
