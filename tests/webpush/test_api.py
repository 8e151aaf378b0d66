"""The push API: the public key, and a device's subscription sent as the browser's
`PushSubscription.toJSON()`; every bad input answers 400 (or 413) with a stable code."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.helpers import assert_error
from tests.webpush.receiver import BrowserKeys
from webpush.models import PushSubscription

pytestmark = pytest.mark.django_db

KEY_URL = "/api/v1/push/key"
URL = "/api/v1/push/subscriptions"
ENDPOINT = "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36"
)


def to_json(endpoint: str = ENDPOINT, keys: BrowserKeys | None = None) -> dict[str, Any]:
    """What a browser's PushSubscription.toJSON() gives."""
    keys = keys or BrowserKeys()
    return {
        "endpoint": endpoint,
        "expirationTime": None,
        "keys": {"p256dh": keys.p256dh, "auth": keys.auth},
    }


def test_the_key_is_the_servers_public_vapid_key(auth_client: APIClient, vapid: str) -> None:
    response = auth_client.get(KEY_URL)
    assert response.status_code == 200
    assert response.json() == {"public_key": vapid}


def test_without_a_key_the_api_says_push_is_off(auth_client: APIClient, settings: Any) -> None:
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    assert_error(auth_client.get(KEY_URL), 503, "push_unavailable")
    assert_error(auth_client.post(URL, to_json(), format="json"), 503, "push_unavailable")


def test_signed_out_clients_are_refused(api_client: APIClient) -> None:
    assert_error(api_client.get(KEY_URL), 401, "not_authenticated")
    assert_error(api_client.post(URL, to_json(), format="json"), 401, "not_authenticated")


def test_the_browsers_subscription_is_stored_once(auth_client: APIClient, user: User) -> None:
    body = to_json()

    first = auth_client.post(URL, body, format="json", HTTP_USER_AGENT=CHROME)
    second = auth_client.post(URL, body, format="json", HTTP_USER_AGENT=CHROME)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["endpoint"] == ENDPOINT
    assert first.json()["user_agent"] == "Chrome on Linux"
    row = PushSubscription.objects.get()
    assert (row.user, row.endpoint, row.p256dh) == (user, ENDPOINT, body["keys"]["p256dh"])


def test_delete_forgets_your_device_and_leaves_others(
    auth_client: APIClient, client_for: Callable[[User], APIClient], other_user: User
) -> None:
    auth_client.post(URL, to_json(), format="json")
    client_for(other_user).post(URL, to_json("https://fcm.googleapis.com/x/bob"), format="json")

    theirs = auth_client.delete(
        URL, {"endpoint": "https://fcm.googleapis.com/x/bob"}, format="json"
    )
    mine = auth_client.delete(URL, {"endpoint": ENDPOINT}, format="json")
    again = auth_client.delete(URL, {"endpoint": ENDPOINT}, format="json")

    assert (theirs.status_code, mine.status_code, again.status_code) == (204, 204, 204)
    assert list(PushSubscription.objects.values_list("user", flat=True)) == [other_user.pk]


def _with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = to_json()
    change(body)
    return body


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (_with(lambda b: b.update(endpoint=5)), "invalid", "endpoint"),
        (_with(lambda b: b.update(keys="k")), "invalid", "keys.non_field_errors"),
        (_with(lambda b: b.pop("keys")), "invalid", "keys"),
        (_with(lambda b: b["keys"].pop("auth")), "invalid", "keys.auth"),
        (_with(lambda b: b["keys"].update(p256dh=["x"])), "invalid", "keys.p256dh"),
        (_with(lambda b: b.update(expirationTime="soon")), "invalid", "expirationTime"),
        (_with(lambda b: b.update(extra=1)), "invalid", "extra"),
        (_with(lambda b: b["keys"].update(extra="1")), "invalid", "keys.extra"),
        (_with(lambda b: b.update(endpoint=ENDPOINT + "\x00")), "invalid", "endpoint"),
        (_with(lambda b: b["keys"].update(auth="ab\x00c")), "invalid", "keys.auth"),
        (_with(lambda b: b.update(endpoint=ENDPOINT + "a" * 3000)), "invalid", "endpoint"),
        (_with(lambda b: b["keys"].update(p256dh="x" * 500)), "invalid", "keys.p256dh"),
        (_with(lambda b: b["keys"].update(p256dh="%%%")), "invalid_key", "keys.p256dh"),
        (_with(lambda b: b["keys"].update(auth="AAAA")), "invalid_key", "keys.auth"),
        (
            _with(lambda b: b.update(endpoint="http://fcm.googleapis.com/x")),
            "invalid_endpoint",
            "endpoint",
        ),
        (
            _with(lambda b: b.update(endpoint="https://evil.example/x")),
            "endpoint_not_allowed",
            "endpoint",
        ),
    ],
)
def test_bad_input_is_a_400_with_a_stable_code(
    auth_client: APIClient, body: dict[str, Any], code: str, field: str
) -> None:
    error = assert_error(auth_client.post(URL, body, format="json"), 400, code)
    assert field in error["fields"], error
    assert not PushSubscription.objects.exists()


def test_a_body_that_is_not_json_is_malformed(auth_client: APIClient) -> None:
    response = auth_client.post(URL, "{", content_type="application/json")
    assert_error(response, 400, "malformed_request")


def test_a_huge_body_is_refused_whole(auth_client: APIClient) -> None:
    body = json.dumps({**to_json(), "endpoint": "https://fcm.googleapis.com/" + "a" * 400_000})
    assert_error(
        auth_client.post(URL, body, content_type="application/json"), 413, "request_too_large"
    )


def test_delete_needs_an_endpoint_string(auth_client: APIClient) -> None:
    assert_error(auth_client.delete(URL, {"endpoint": 1}, format="json"), 400, "invalid")
    assert_error(auth_client.delete(URL, {}, format="json"), 400, "invalid")


def test_the_schema_documents_the_push_api(api_client: APIClient) -> None:
    schema = api_client.get("/api/schema/?format=json").json()
    found = {
        (url, method): operation["operationId"]
        for url, item in schema["paths"].items()
        for method, operation in item.items()
        if url.startswith("/api/v1/push/")
    }
    assert found == {
        ("/api/v1/push/key", "get"): "push_key_retrieve",
        ("/api/v1/push/subscriptions", "post"): "push_subscription_create",
        ("/api/v1/push/subscriptions", "delete"): "push_subscription_delete",
    }
    post = schema["paths"]["/api/v1/push/subscriptions"]["post"]
    assert {"200", "201", "400", "503"} <= set(post["responses"])
