"""Web Push in Chromium: the service worker registers at the site root, the Settings switch
subscribes through pushManager and POSTs the subscription, a push sent by the product reaches
the device's endpoint encrypted for it, and switching off unsubscribes and DELETEs it.

Headless Chromium has no reachable push service (its pushManager.subscribe() would ask
Google's FCM, off limits here), so an init script replaces `PushManager.prototype.subscribe`
and `getSubscription` with ones that return a subscription whose endpoint is the test's
loopback push service (tests/webpush/receiver.py) and whose keys the test made, as a browser
makes them. Everything else is real: the worker's registration, the permission, the page's
script and its API calls, the server's checks, and the encryption and VAPID signature of the
push, which the loopback service verifies and decrypts with those keys.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import User
from tests.e2e.conftest import DESKTOP, PHONE, screenshot, site_server, wait_for_js
from tests.factories import UserFactory
from tests.webpush.conftest import new_vapid_private_key
from tests.webpush.receiver import BrowserKeys, PushReceiver
from webpush.keys import vapid_keys
from webpush.models import PushSubscription
from webpush.services import PushResult, push_send_to_users

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

VAPID_PRIVATE_KEY = new_vapid_private_key()
SHOTS = Path("/tmp/shots/webpush")

FAKE_PUSH_MANAGER = """
(() => {
  const fake = FAKE_SUBSCRIPTION;
  let current = null;
  const b64url = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  PushManager.prototype.subscribe = async function (options) {
    window.__push = {
      userVisibleOnly: options.userVisibleOnly,
      applicationServerKey: b64url(options.applicationServerKey),
    };
    current = {
      endpoint: fake.endpoint,
      expirationTime: null,
      options,
      toJSON: () => ({ endpoint: fake.endpoint, expirationTime: null, keys: fake.keys }),
      unsubscribe: async () => { current = null; return true; },
    };
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""


@pytest.fixture(scope="module")
def base_url(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The site as `make run` serves it, with the test's VAPID key, taking loopback
    endpoints (the test's push service)."""
    with site_server(
        tmp_path_factory,
        name="push",
        WEBPUSH_VAPID_PRIVATE_KEY=VAPID_PRIVATE_KEY,
        WEBPUSH_ALLOW_LOOPBACK="1",
    ) as url:
        yield url


@pytest.fixture
def receiver(settings: Any) -> Iterator[PushReceiver]:
    settings.WEBPUSH_VAPID_PRIVATE_KEY = VAPID_PRIVATE_KEY
    settings.WEBPUSH_VAPID_PUBLIC_KEY = ""
    settings.WEBPUSH_ALLOW_LOOPBACK = True
    with PushReceiver(vapid_public_key=vapid_keys().public_key) as push_service:
        yield push_service


def note(page: Any) -> str:
    return str(page.locator("#push-device-note").text_content() or "")


def test_the_switch_subscribes_this_device_and_a_push_reaches_it(
    new_page: Any, console: Any, receiver: PushReceiver, base_url: str
) -> None:
    user: User = UserFactory(username="pushfan")
    keys = BrowserKeys()
    endpoint = receiver.endpoint(keys)
    page = new_page("pushfan", user, permissions=["notifications"])
    fake = {"endpoint": endpoint, "keys": {"p256dh": keys.p256dh, "auth": keys.auth}}
    page.context.add_init_script(FAKE_PUSH_MANAGER.replace("FAKE_SUBSCRIPTION", json.dumps(fake)))

    page.goto(reverse("settings_profile"))
    wait_for_js(page, "document.getElementById('push-device').dataset.ready === 'true'")

    scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == base_url + "/"
    toggle = page.locator("#push-toggle")
    assert toggle.is_visible()
    assert not toggle.is_checked()

    toggle.check()
    wait_for_js(
        page,
        "document.getElementById('push-device-note').textContent"
        " === document.getElementById('push-device').dataset.msgOn",
    )
    assert page.evaluate("window.__push") == {
        "userVisibleOnly": True,
        "applicationServerKey": vapid_keys().public_key,
    }
    row = PushSubscription.objects.get(user=user)
    assert (row.endpoint, row.p256dh, row.auth) == (endpoint, keys.p256dh, keys.auth)
    assert row.user_agent.startswith("Chrome")

    result = push_send_to_users(
        user_ids=[user.id], payload={"title": "Ada is live", "url": "/spaces/1/", "tag": "s1"}
    )
    assert result == PushResult(sent=1)
    [got] = receiver.received
    assert got.error == ""
    assert got.payload is not None
    assert (got.payload["title"], got.payload["url"]) == ("Ada is live", "/spaces/1/")

    for phone in (False, True):
        page.set_viewport_size(PHONE if phone else DESKTOP)
        page.locator("#push-device").scroll_into_view_if_needed()
        shot = screenshot(page, "push-settings-on", phone=phone)
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SHOTS / shot.name)

    toggle.uncheck()
    wait_for_js(
        page,
        "document.getElementById('push-device-note').textContent"
        " === document.getElementById('push-device').dataset.msgOff",
    )
    assert not PushSubscription.objects.filter(user=user).exists()
    assert console.errors == []


def test_without_javascript_the_switch_stays_hidden_and_the_note_explains(
    new_page: Any, console: Any
) -> None:
    user: User = UserFactory(username="nojsfan")
    page = new_page("nojsfan", user, java_script_enabled=False)

    page.goto(reverse("settings_profile"))

    assert not page.locator("#push-toggle").is_visible()
    assert "needs JavaScript" in note(page)
    for phone in (False, True):
        page.set_viewport_size(PHONE if phone else DESKTOP)
        page.locator("#push-device").scroll_into_view_if_needed()
        shot = screenshot(page, "push-settings-nojs", phone=phone)
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SHOTS / shot.name)


def test_a_browser_without_push_says_so(new_page: Any, console: Any) -> None:
    user: User = UserFactory(username="nopushfan")
    page = new_page("nopushfan", user)
    page.context.add_init_script("delete window.PushManager;")

    page.goto(reverse("settings_profile"))
    wait_for_js(page, "document.getElementById('push-device-note').textContent.includes('Home')")

    assert not page.locator("#push-toggle").is_visible()
    assert console.errors == []
