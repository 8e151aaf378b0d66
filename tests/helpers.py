"""Checks and readers that tests of every app share."""

from __future__ import annotations

from typing import Any


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the API's error shape with this status and code; returns the error."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"], body
    # `retry_after` (seconds) is there only when rate-limited.
    shape = {"code", "message", "fields"}
    allowed = shape | {"retry_after"} if status == 429 else shape
    assert shape <= set(body["error"]) <= allowed, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], body
    assert isinstance(body["error"]["fields"], dict), body
    return body["error"]


def event_types(published: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The types of the events the `published` fixture saw, in order."""
    return [event["type"] for _, event in published]
