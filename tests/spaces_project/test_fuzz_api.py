"""Property-based fuzzing of the whole API from its OpenAPI schema (schemathesis, in-process).

Every operation gets a bounded number of generated requests, schema-valid and not, sent as a
signed-in host through the real WSGI stack (X-Session-Token, throttling, parsers, the error
handler). Each answer must be below 500, match the schema (status, content type, body), and
every 4xx must carry the project's error shape. Path `space_id`s point at the host's live
Space so the fuzzer reaches the rules, not just 404s; huge and unknown ids are tested by hand
(tests/spaces/test_bad_input.py).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from spaces.models import Space
from spaces_project.wsgi import application
from tests.factories import SpaceFactory, join, make_cohost
from tests.realtime.conftest import session_key_for
from tests.webpush.conftest import new_vapid_private_key

MAX_EXAMPLES = 3  # per operation: ~70 operations, about a minute on a busy 2-core box

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Any:
    """What Django's test Client does around each request: the WSGI handler would otherwise
    close the test's connection when a request ends (with PostgreSQL's pool, mid-transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _push_configured(request: pytest.FixtureRequest) -> None:
    """Web Push as a deployment has it: with a VAPID key. Without one (the distributed shape has
    no default key file) its endpoints answer 503 `push_unavailable`, which is not bad input."""
    django_settings = request.getfixturevalue("settings")
    django_settings.WEBPUSH_VAPID_PRIVATE_KEY = new_vapid_private_key()
    django_settings.WEBPUSH_VAPID_PUBLIC_KEY = ""


@pytest.fixture
def room(db: None) -> dict[str, Any]:
    space: Space = SpaceFactory()
    make_cohost(space)
    join(space)
    return {"space": space, "token": session_key_for(space.host)}


def assert_error_shape(response: Any) -> None:
    if not 400 <= response.status_code < 500 or response.request.method == "HEAD":
        return
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str)
    assert body["error"]["code"]
    assert isinstance(body["error"]["message"], str)
    assert isinstance(body["error"]["fields"], dict)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_bad_input_with_a_4xx_in_the_error_shape(case, room):
    if "space_id" in (case.path_parameters or {}):
        case.path_parameters["space_id"] = room["space"].pk
    response = case.call(headers={"X-Session-Token": room["token"]})
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
    assert_error_shape(response)
