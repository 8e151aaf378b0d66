"""Web Push tests: a VAPID key of the test's own, loopback endpoints allowed, and a loopback
push service (tests/webpush/receiver.py) that decrypts what it gets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.webpush.receiver import PushReceiver, b64url
from webpush.keys import vapid_keys


def new_vapid_private_key() -> str:
    """A VAPID private key as WEBPUSH_VAPID_PRIVATE_KEY takes it: the raw 32 bytes, base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


@pytest.fixture(autouse=True)
def vapid(settings: Any) -> str:
    """Every test signs with a fresh key; returns the public key browsers subscribe with."""
    settings.WEBPUSH_VAPID_PRIVATE_KEY = new_vapid_private_key()
    settings.WEBPUSH_VAPID_PUBLIC_KEY = ""
    settings.WEBPUSH_VAPID_KEY_FILE = ""
    settings.WEBPUSH_VAPID_SUBJECT = "mailto:push-tests@example.com"
    settings.WEBPUSH_ALLOW_LOOPBACK = True
    return vapid_keys().public_key


@pytest.fixture
def receiver(vapid: str) -> Iterator[PushReceiver]:
    with PushReceiver(vapid_public_key=vapid) as push_service:
        yield push_service
