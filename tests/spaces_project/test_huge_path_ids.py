"""A row id in any path is at most 18 digits (spaces_project/converters.py): a longer number
names no row, and on SQLite comparing a key with it raised OverflowError (a 500)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HUGE = 2**70

API_PATHS = [
    ("get", f"/api/v1/spaces/{HUGE}/tickets"),
    ("post", f"/api/v1/spaces/{HUGE}/tickets/checkout"),
    ("get", f"/api/v1/spaces/{HUGE}/tickets/report"),
    ("get", f"/api/v1/spaces/1/tickets/guests/{HUGE}"),
    ("get", f"/api/v1/orders/{HUGE}"),
    ("post", f"/api/v1/orders/{HUGE}/offline"),
    ("get", f"/api/v1/spaces/scheduled/{HUGE}"),
    ("post", f"/api/v1/spaces/scheduled/{HUGE}/start"),
    ("get", f"/api/v1/spaces/{HUGE}/reminder"),
]
SITE_PATHS = [
    f"/spaces/{HUGE}/tickets/",
    f"/spaces/{HUGE}/tickets/report/",
    f"/tickets/checkout/{HUGE}/",
    f"/spaces/scheduled/{HUGE}/",
]


@pytest.mark.parametrize(("method", "path"), API_PATHS)
def test_a_huge_id_in_an_api_path_is_a_json_404(client_for, method, path):
    client = client_for(UserFactory())
    response = getattr(client, method)(path, {}, format="json")
    assert response.status_code == 404, (path, response.content)
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", SITE_PATHS)
def test_a_huge_id_in_a_site_path_is_a_404(path):
    browser = Client()
    browser.force_login(UserFactory())
    assert browser.get(path).status_code == 404
