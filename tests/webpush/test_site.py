"""The site's side of Web Push: the service worker at the root, the Settings switch, the admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory
from tests.webpush.receiver import BrowserKeys
from webpush.services import push_subscribe

pytestmark = pytest.mark.django_db


def test_the_service_worker_is_served_at_the_root_for_the_whole_site(client: Client) -> None:
    response = client.get("/sw.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert response["Cache-Control"] == "no-cache"
    source = response.content.decode()
    for handler in ('addEventListener("push"', 'addEventListener("notificationclick"'):
        assert handler in source
    assert "showNotification" in source


def test_the_policy_lets_the_site_run_its_own_worker(client: Client) -> None:
    policy = client.get("/sw.js")["Content-Security-Policy"]
    assert "worker-src 'self'" in policy


def test_the_service_worker_is_only_read(client: Client) -> None:
    assert client.post("/sw.js").status_code == 405


def test_settings_show_the_device_switch_hidden_until_the_script_runs(
    client: Client, user: User
) -> None:
    client.force_login(user)
    html = client.get(reverse("settings_profile")).content.decode()

    assert 'id="push-device"' in html
    assert 'data-key-url="/api/v1/push/key"' in html
    assert 'data-subscriptions-url="/api/v1/push/subscriptions"' in html
    assert 'data-worker-url="/sw.js"' in html
    assert "Notifications on this device" in html
    # Without JavaScript the switch stays hidden and the note says what it needs.
    assert 'id="push-toggle" aria-labelledby="push-device-title"' in html
    assert 'aria-describedby="push-device-help" hidden>' in html
    assert "needs JavaScript and a browser that can show notifications" in html
    assert "js/push" in html


def test_staff_see_each_users_devices_and_failures(client: Client, user: User) -> None:
    staff = UserFactory(username="staffer", is_staff=True, is_superuser=True)
    keys = BrowserKeys()
    row, _ = push_subscribe(
        user=user,
        endpoint="https://fcm.googleapis.com/fcm/send/abc",
        p256dh=keys.p256dh,
        auth=keys.auth,
        user_agent="Firefox on Linux",
    )
    type(row).objects.filter(pk=row.pk).update(failure_count=4)
    client.force_login(staff)

    listing = client.get(reverse("admin:webpush_pushsubscription_changelist"), {"q": "alice"})
    page: Any = listing.content.decode()

    assert listing.status_code == 200
    assert "fcm.googleapis.com" in page
    assert "Firefox on Linux" in page
    assert ">4<" in page
    detail = client.get(reverse("admin:webpush_pushsubscription_change", args=[row.pk]))
    assert detail.status_code == 200
    assert client.get(reverse("admin:webpush_pushsubscription_add")).status_code == 403
