"""Web Push use cases against a real (loopback) push service: what it receives is decrypted
with the subscription's own keys and its VAPID signature checked (tests/webpush/receiver.py).
Only the push service is ours; the encryption, signing and HTTP are the product's."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from accounts.models import User
from spaces_project.errors import ApplicationError
from tests.factories import UserFactory
from tests.webpush.receiver import BrowserKeys, PushReceiver, b64url
from webpush import services
from webpush.keys import PushUnavailable, vapid_keys
from webpush.models import PushSubscription
from webpush.services import PushResult, push_send_to_users, push_subscribe, push_unsubscribe

pytestmark = pytest.mark.django_db

PAYLOAD = {"title": "Ada is live", "body": "Talking compilers", "url": "/spaces/7/", "tag": "s7"}


def subscribe(user: User, receiver: PushReceiver, *, status: int = 201) -> BrowserKeys:
    keys = BrowserKeys()
    push_subscribe(
        user=user,
        endpoint=receiver.endpoint(keys, status=status),
        p256dh=keys.p256dh,
        auth=keys.auth,
        user_agent="Chrome on Linux",
    )
    return keys


def refusal(call: Any, **kwargs: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call(**kwargs)
    return caught.value


# --- Sending --------------------------------------------------------------------------------


def test_a_push_reaches_the_device_encrypted_for_it_and_signed_with_our_key(
    user: User, receiver: PushReceiver
) -> None:
    subscribe(user, receiver)

    result = push_send_to_users(user_ids=[user.id], payload=PAYLOAD, ttl=600, topic="space-7")

    [got] = receiver.received
    assert got.error == ""
    assert result == PushResult(sent=1, dropped=0, failed=0)
    assert got.payload == {**PAYLOAD, "icon": "/static/img/favicon.svg"}
    assert got.headers["ttl"] == "600"
    assert got.headers["topic"] == "space-7"
    row = PushSubscription.objects.get()
    assert row.last_success_at is not None
    assert row.failure_count == 0


def test_every_device_of_every_named_user_gets_it_and_nobody_else(
    user: User, other_user: User, receiver: PushReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "USERS_PER_BATCH", 2)  # several batches
    people = [UserFactory(username=f"fan{i}") for i in range(5)]
    for person in people:
        subscribe(person, receiver)
    subscribe(people[0], receiver)  # a second device
    subscribe(other_user, receiver)

    result = push_send_to_users(user_ids=[p.id for p in people] + [people[1].id], payload=PAYLOAD)

    assert result.sent == 6
    assert len(receiver.received) == 6
    assert all(
        item.payload and item.payload["title"] == PAYLOAD["title"] for item in receiver.received
    )
    other_path = PushSubscription.objects.get(user=other_user).endpoint.removeprefix(
        receiver.origin
    )
    assert other_path not in {item.path for item in receiver.received}


@pytest.mark.parametrize("status", [404, 410])
def test_a_subscription_the_push_service_calls_gone_is_dropped(
    user: User, receiver: PushReceiver, status: int
) -> None:
    subscribe(user, receiver, status=status)
    subscribe(user, receiver)

    result = push_send_to_users(user_ids=[user.id], payload=PAYLOAD)

    assert result == PushResult(sent=1, dropped=1, failed=0)
    assert PushSubscription.objects.filter(user=user).count() == 1


def test_a_push_service_error_counts_a_failure_and_keeps_the_subscription(
    user: User, receiver: PushReceiver
) -> None:
    subscribe(user, receiver, status=500)

    first = push_send_to_users(user_ids=[user.id], payload=PAYLOAD)
    second = push_send_to_users(user_ids=[user.id], payload=PAYLOAD)

    assert first == second == PushResult(sent=0, dropped=0, failed=1)
    row = PushSubscription.objects.get()
    assert row.failure_count == 2
    assert row.last_success_at is None


def test_a_success_clears_the_failure_count(user: User, receiver: PushReceiver) -> None:
    subscribe(user, receiver)
    PushSubscription.objects.update(failure_count=3)

    push_send_to_users(user_ids=[user.id], payload=PAYLOAD)

    assert PushSubscription.objects.get().failure_count == 0


def test_an_unreachable_push_service_is_a_failure_not_an_exception(user: User) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    keys = BrowserKeys()
    push_subscribe(
        user=user, endpoint=f"http://127.0.0.1:{port}/x", p256dh=keys.p256dh, auth=keys.auth
    )

    assert push_send_to_users(user_ids=[user.id], payload=PAYLOAD) == PushResult(failed=1)
    assert PushSubscription.objects.get().failure_count == 1


def test_a_deactivated_user_gets_no_push(user: User, receiver: PushReceiver) -> None:
    subscribe(user, receiver)
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert push_send_to_users(user_ids=[user.id], payload=PAYLOAD) == PushResult()
    assert receiver.received == []


def test_a_topic_outside_the_header_alphabet_is_sent_as_a_digest(
    user: User, receiver: PushReceiver
) -> None:
    subscribe(user, receiver)

    push_send_to_users(user_ids=[user.id], payload=PAYLOAD, topic="space 7 went live: a long one")

    topic = receiver.received[0].headers["topic"]
    assert len(topic) == 32
    assert set(topic) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"body": "no title"}, "invalid_payload"),
        ({"title": "x", "url": "https://evil.example/"}, "invalid_payload"),
        ({"title": "x", "url": "//evil.example/"}, "invalid_payload"),
        ({"title": "x", "body": 5}, "invalid_payload"),
        ({"title": "x", "body": "é" * 2000}, "payload_too_large"),
    ],
)
def test_a_payload_that_cannot_be_a_notification_is_refused_before_sending(
    user: User, receiver: PushReceiver, payload: dict[str, Any], code: str
) -> None:
    subscribe(user, receiver)

    error = refusal(push_send_to_users, user_ids=[user.id], payload=payload)

    assert error.code == code
    assert receiver.received == []


def test_the_largest_payload_a_push_carries_is_delivered(
    user: User, receiver: PushReceiver
) -> None:
    subscribe(user, receiver)
    base = {**PAYLOAD, "icon": "/i.png", "body": ""}
    room = services.PAYLOAD_MAX_BYTES - len(json.dumps(base, separators=(",", ":")))
    payload = {**base, "body": "x" * room}

    assert push_send_to_users(user_ids=[user.id], payload=payload).sent == 1
    assert receiver.received[0].payload == payload


def test_with_push_off_nothing_is_sent_and_subscribing_says_so(user: User, settings: Any) -> None:
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    keys = BrowserKeys()

    assert push_send_to_users(user_ids=[user.id], payload=PAYLOAD) == PushResult()
    error = refusal(
        push_subscribe,
        user=user,
        endpoint="https://fcm.googleapis.com/fcm/send/abc",
        p256dh=keys.p256dh,
        auth=keys.auth,
    )
    assert isinstance(error, PushUnavailable)
    assert (error.status, error.code) == (503, "push_unavailable")


# --- Subscribing ----------------------------------------------------------------------------


def test_subscribing_twice_is_one_row_with_the_newest_keys(user: User) -> None:
    endpoint = "https://fcm.googleapis.com/fcm/send/abc:def"
    first, second = BrowserKeys(), BrowserKeys()

    _, created = push_subscribe(user=user, endpoint=endpoint, p256dh=first.p256dh, auth=first.auth)
    row, again = push_subscribe(
        user=user, endpoint=endpoint, p256dh=second.p256dh, auth=second.auth
    )

    assert (created, again) == (True, False)
    assert PushSubscription.objects.count() == 1
    assert (row.p256dh, row.auth) == (second.p256dh, second.auth)


def test_an_endpoint_subscribed_by_another_user_moves_to_them(user: User, other_user: User) -> None:
    endpoint = "https://updates.push.services.mozilla.com/wpush/v2/gAAAA"
    keys = BrowserKeys()
    push_subscribe(user=user, endpoint=endpoint, p256dh=keys.p256dh, auth=keys.auth)

    push_subscribe(user=other_user, endpoint=endpoint, p256dh=keys.p256dh, auth=keys.auth)

    assert PushSubscription.objects.get().user == other_user


def test_past_the_limit_a_users_oldest_device_goes(user: User, settings: Any) -> None:
    settings.WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER = 2
    keys = BrowserKeys()
    for n in range(3):
        push_subscribe(
            user=user,
            endpoint=f"https://fcm.googleapis.com/x/{n}",
            p256dh=keys.p256dh,
            auth=keys.auth,
        )

    endpoints = set(PushSubscription.objects.values_list("endpoint", flat=True))
    assert endpoints == {"https://fcm.googleapis.com/x/1", "https://fcm.googleapis.com/x/2"}


def test_unsubscribing_removes_only_your_own(user: User, other_user: User) -> None:
    keys = BrowserKeys()
    endpoint = "https://fcm.googleapis.com/fcm/send/mine"
    push_subscribe(user=user, endpoint=endpoint, p256dh=keys.p256dh, auth=keys.auth)

    assert push_unsubscribe(user=other_user, endpoint=endpoint) is False
    assert PushSubscription.objects.count() == 1
    assert push_unsubscribe(user=user, endpoint=endpoint) is True
    assert PushSubscription.objects.count() == 0


@pytest.mark.parametrize(
    ("endpoint", "code"),
    [
        ("http://fcm.googleapis.com/fcm/send/x", "invalid_endpoint"),
        ("ftp://fcm.googleapis.com/x", "invalid_endpoint"),
        ("not a url", "invalid_endpoint"),
        ("https://fcm.googleapis.com/x\x00y", "invalid_endpoint"),
        ("https://user:pw@fcm.googleapis.com/x", "invalid_endpoint"),
        ("https://fcm.googleapis.com/" + "a" * 2048, "invalid_endpoint"),
        ("http://127.0.0.2:8000/x", "invalid_endpoint"),
        ("http://localhost:8000/x", "invalid_endpoint"),
        ("https://evil.example/push", "endpoint_not_allowed"),
        ("https://10.0.0.1/push", "endpoint_not_allowed"),
        ("https://fcm.googleapis.com.evil.example/x", "endpoint_not_allowed"),
        ("https://fcm.googleapis.com:8443/x", "endpoint_not_allowed"),
    ],
)
def test_an_endpoint_the_server_must_not_post_to_is_refused(
    user: User, endpoint: str, code: str
) -> None:
    keys = BrowserKeys()
    error = refusal(
        push_subscribe, user=user, endpoint=endpoint, p256dh=keys.p256dh, auth=keys.auth
    )
    assert error.code == code
    assert list(error.fields) == ["endpoint"]


def test_loopback_endpoints_need_the_setting(user: User, settings: Any) -> None:
    settings.WEBPUSH_ALLOW_LOOPBACK = False
    keys = BrowserKeys()
    error = refusal(
        push_subscribe,
        user=user,
        endpoint="http://127.0.0.1:9/x",
        p256dh=keys.p256dh,
        auth=keys.auth,
    )
    assert error.code == "invalid_endpoint"


def test_push_service_subdomains_match_a_dotted_entry(user: User) -> None:
    keys = BrowserKeys()
    for endpoint in (
        "https://web.push.apple.com/QGuK",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAA",
    ):
        push_subscribe(user=user, endpoint=endpoint, p256dh=keys.p256dh, auth=keys.auth)
    assert PushSubscription.objects.count() == 2


def _not_on_the_curve() -> str:
    raw = bytearray(
        ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers().x.to_bytes(32, "big")
    )
    return b64url(b"\x04" + bytes(raw) + bytes(32))


@pytest.mark.parametrize(
    ("p256dh", "auth", "field"),
    [
        ("not base64!", None, "keys.p256dh"),
        (b64url(os.urandom(64)), None, "keys.p256dh"),
        (_not_on_the_curve(), None, "keys.p256dh"),
        (None, "", "keys.auth"),
        (None, b64url(os.urandom(15)), "keys.auth"),
        (None, "a+b/" * 5 + "ab", "keys.auth"),
    ],
)
def test_keys_that_are_not_a_browsers_are_refused(
    user: User, p256dh: str | None, auth: str | None, field: str
) -> None:
    keys = BrowserKeys()
    error = refusal(
        push_subscribe,
        user=user,
        endpoint="https://fcm.googleapis.com/fcm/send/k",
        p256dh=keys.p256dh if p256dh is None else p256dh,
        auth=keys.auth if auth is None else auth,
    )
    assert error.code == "invalid_key"
    assert list(error.fields) == [field]
    assert not PushSubscription.objects.exists()


def test_padded_base64_keys_are_stored_unpadded(user: User) -> None:
    keys = BrowserKeys()
    row, _ = push_subscribe(
        user=user,
        endpoint="https://fcm.googleapis.com/fcm/send/p",
        p256dh=keys.p256dh + "=",
        auth=keys.auth + "==",
    )
    assert (row.p256dh, row.auth) == (keys.p256dh, keys.auth)


@pytest.mark.parametrize(
    ("header", "label"),
    [
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/18.1 Safari/605.1.15",
            "Safari on macOS",
        ),
        ("", ""),
    ],
)
def test_the_device_label_names_browser_and_system(header: str, label: str) -> None:
    assert services.user_agent_label(header) == label


# --- Keys -----------------------------------------------------------------------------------


def test_without_a_key_setting_a_key_file_is_made_once_and_kept(
    settings: Any, tmp_path: Path
) -> None:
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    settings.WEBPUSH_VAPID_KEY_FILE = str(tmp_path / "db.sqlite3-vapid.pem")

    first = vapid_keys().public_key
    path = Path(settings.WEBPUSH_VAPID_KEY_FILE)
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    from webpush import keys as keys_module

    keys_module._load.cache_clear()  # as a new process would
    assert vapid_keys().public_key == first


def test_a_public_key_that_is_not_the_private_keys_pair_is_an_error(settings: Any) -> None:
    from webpush.checks import vapid_key_usable

    settings.WEBPUSH_VAPID_PUBLIC_KEY = BrowserKeys().p256dh
    [error] = vapid_key_usable()
    assert error.id == "webpush.E001"


def test_an_unreadable_private_key_is_an_error(settings: Any) -> None:
    from webpush.checks import vapid_key_usable

    settings.WEBPUSH_VAPID_PRIVATE_KEY = "not-a-key"
    assert [e.id for e in vapid_key_usable()] == ["webpush.E001"]


def test_the_matching_public_key_is_accepted(settings: Any, vapid: str) -> None:
    from webpush.checks import vapid_key_usable

    settings.WEBPUSH_VAPID_PUBLIC_KEY = vapid
    assert vapid_key_usable() == []


def test_deploy_check_warns_without_a_key_or_with_the_default_subject(settings: Any) -> None:
    from webpush.checks import vapid_key_set

    assert vapid_key_set() == []
    settings.WEBPUSH_VAPID_PRIVATE_KEY = ""
    settings.WEBPUSH_VAPID_SUBJECT = "mailto:admin@localhost"
    assert [w.id for w in vapid_key_set()] == ["webpush.W001", "webpush.W002"]


def test_the_key_command_prints_a_pair_the_settings_take(settings: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("webpush_keys", stdout=out)
    values = dict(line.split("=", 1) for line in out.getvalue().split())
    settings.WEBPUSH_VAPID_PRIVATE_KEY = values["WEBPUSH_VAPID_PRIVATE_KEY"]
    settings.WEBPUSH_VAPID_PUBLIC_KEY = values["WEBPUSH_VAPID_PUBLIC_KEY"]

    assert vapid_keys().public_key == values["WEBPUSH_VAPID_PUBLIC_KEY"]


def test_a_pem_private_key_is_taken_too(settings: Any) -> None:
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP256R1())
    settings.WEBPUSH_VAPID_PRIVATE_KEY = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()

    assert vapid_keys().public_key == BrowserKeys(private_key=key).p256dh


def test_pushes_reuse_pooled_connections_from_one_call_to_the_next(
    user: User, receiver: PushReceiver, settings: Any
) -> None:
    settings.WEBPUSH_SEND_CONCURRENCY = 1
    for _ in range(4):
        subscribe(user, receiver)

    push_send_to_users(user_ids=[user.id], payload=PAYLOAD)
    push_send_to_users(user_ids=[user.id], payload=PAYLOAD)

    assert len(receiver.received) == 8
    assert receiver.connections == 1


def test_a_push_sent_before_collectstatic_still_names_the_icon(settings, tmp_path) -> None:
    """The demo's seed sends go-live pushes before `collectstatic` wrote the manifest: the
    icon falls back to its unhashed path instead of failing the whole push."""
    settings.STATIC_ROOT = str(tmp_path)  # no staticfiles.json there
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    # (Django's setting_changed handler makes `static()` use the new storage.)
    data = json.loads(services._payload_bytes({"title": "Ada is live"}))
    assert data["icon"] == f"{settings.STATIC_URL}img/favicon.svg"
    assert data["title"] == "Ada is live"
