"""Web Push use cases: a browser subscribes and unsubscribes, and a push goes to everyone a
caller names (`push_send_to_users`, which other apps call from their tasks).

A push is encrypted here (RFC 8291, aes128gcm, by pywebpush and http_ece), signed with our
VAPID key (RFC 8292) and POSTed to the push service the browser chose; the push service is the
edge of the world. An answer of 404 or 410 means the subscription is gone: its row is deleted.
Any other failure counts on the row and keeps it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies

import requests
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F
from django.templatetags.static import static
from django.utils import timezone
from django.utils.translation import gettext
from pywebpush import WebPusher
from requests.adapters import HTTPAdapter

from accounts.models import User
from spaces_project.errors import ValidationFailed
from webpush.keys import VapidKeys, vapid_keys, vapid_keys_or_none
from webpush.models import PushSubscription

logger = logging.getLogger(__name__)

ENDPOINT_MAX_LENGTH = 2048
USER_AGENT_MAX_LENGTH = 200
# aes128gcm in one record of 4096 bytes: the header (86 bytes with our 65-byte key), the
# padding delimiter and the 16-byte tag leave 3993 bytes of JSON. Push services refuse more.
PAYLOAD_MAX_BYTES = 3993
# Users read per query: with at most WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER rows each, one batch
# of rows in memory stays bounded whatever the number of user ids a caller passes.
USERS_PER_BATCH = 200
# Connect and read timeouts, seconds: one slow push service must not hold a task for long.
TIMEOUT = (3.05, 10.0)
# RFC 8030 Topic: at most 32 characters of the URL-safe base64 alphabet.
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass
class PushResult:
    sent: int = 0
    dropped: int = 0  # the push service answered 404 or 410: the row is deleted
    failed: int = 0  # any other refusal, a timeout or a broken connection: the row is kept


class _Outcome(Enum):
    SENT = "sent"
    GONE = "gone"
    FAILED = "failed"


# --- Input ----------------------------------------------------------------------------------


def _refuse(code: str, field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={field: [message]})


def _host_allowed(host: str) -> bool:
    for entry in settings.WEBPUSH_ENDPOINT_HOSTS:
        entry = entry.strip().lower()
        if entry == "*" or host == entry or (entry.startswith(".") and host.endswith(entry)):
            return True
    return False


def clean_endpoint(endpoint: str) -> str:
    """The endpoint a browser gave, if the server may POST to it: https to a known push
    service (WEBPUSH_ENDPOINT_HOSTS), or http://127.0.0.1 with WEBPUSH_ALLOW_LOOPBACK (tests,
    DEBUG). Anything else would let a subscription aim the server at a host of its choosing."""
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > ENDPOINT_MAX_LENGTH:
        raise _refuse(
            "invalid_endpoint", "endpoint", gettext("The endpoint is not a push service URL.")
        )
    if _CONTROL.search(endpoint) or " " in endpoint:
        raise _refuse(
            "invalid_endpoint", "endpoint", gettext("The endpoint is not a push service URL.")
        )
    try:
        URLValidator(schemes=["http", "https"])(endpoint)
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        port = parts.port
    except (DjangoValidationError, ValueError):
        raise _refuse(
            "invalid_endpoint", "endpoint", gettext("The endpoint is not a push service URL.")
        ) from None
    if parts.username is not None or parts.password is not None:
        raise _refuse(
            "invalid_endpoint", "endpoint", gettext("The endpoint is not a push service URL.")
        )
    loopback = parts.scheme == "http" and host == "127.0.0.1" and settings.WEBPUSH_ALLOW_LOOPBACK
    if parts.scheme != "https" and not loopback:
        raise _refuse("invalid_endpoint", "endpoint", gettext("The endpoint must be an https URL."))
    if not loopback and (port not in (None, 443) or not _host_allowed(host)):
        raise _refuse(
            "endpoint_not_allowed",
            "endpoint",
            gettext("The endpoint is not on a push service this server sends to."),
        )
    return endpoint


def _b64url_bytes(value: str, *, field: str, size: int) -> bytes:
    message = gettext("Expected %(count)s bytes in URL-safe base64.") % {"count": size}
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", value):
        raise _refuse("invalid_key", field, message)
    stripped = value.rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise _refuse("invalid_key", field, message) from None
    if len(raw) != size:
        raise _refuse("invalid_key", field, message)
    return raw


def clean_keys(*, p256dh: str, auth: str) -> tuple[str, str]:
    """The browser's P-256 public key (an uncompressed point on the curve) and its 16-byte
    auth secret, both as unpadded base64url."""
    raw = _b64url_bytes(p256dh, field="keys.p256dh", size=65)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise _refuse("invalid_key", "keys.p256dh", gettext("Not a P-256 public key.")) from None
    _b64url_bytes(auth, field="keys.auth", size=16)
    return p256dh.rstrip("="), auth.rstrip("=")


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"))
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def user_agent_label(user_agent: str) -> str:
    """A label such as "Chrome on Android" from a User-Agent header: enough for a person (or
    staff) to tell their devices apart, without keeping the whole fingerprint."""
    ua = user_agent if isinstance(user_agent, str) else ""
    browser = next((name for token, name in _BROWSERS if token in ua), "")
    if not browser and "Safari/" in ua:
        browser = "Safari"
    system = next((name for token, name in _SYSTEMS if token in ua), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or _CONTROL.sub("", ua)[:40]


def _clean_user_agent(value: str) -> str:
    return _CONTROL.sub("", value if isinstance(value, str) else "")[:USER_AGENT_MAX_LENGTH]


# --- Subscribe, unsubscribe -----------------------------------------------------------------


def push_subscribe(
    *, user: User, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> tuple[PushSubscription, bool]:
    """Store this device's subscription for `user`; True when the endpoint was new.
    Idempotent on the endpoint: the same endpoint again updates its keys; an endpoint another
    user had (the device changed hands) becomes this user's. Past
    WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER the user's oldest go."""
    vapid_keys()  # push off on this server: say so now, not at the first push
    endpoint = clean_endpoint(endpoint)
    p256dh, auth = clean_keys(p256dh=p256dh, auth=auth)
    with transaction.atomic():
        subscription, created = PushSubscription.objects.select_for_update().update_or_create(
            endpoint=endpoint,
            defaults={
                "user": user,
                "p256dh": p256dh,
                "auth": auth,
                "user_agent": _clean_user_agent(user_agent),
                "failure_count": 0,
            },
        )
        keep = settings.WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER
        stale = list(
            PushSubscription.objects.filter(user=user)
            .order_by("-created_at", "-pk")
            .values_list("pk", flat=True)[keep:]
        )
        if stale:
            PushSubscription.objects.filter(pk__in=stale).exclude(pk=subscription.pk).delete()
    return subscription, created


def push_unsubscribe(*, user: User, endpoint: str) -> bool:
    """Forget this device's subscription. Only the user's own: another user's endpoint is
    left alone, and the answer is the same (whether it existed is nobody else's business)."""
    if not isinstance(endpoint, str) or len(endpoint) > ENDPOINT_MAX_LENGTH:
        raise _refuse(
            "invalid_endpoint", "endpoint", gettext("The endpoint is not a push service URL.")
        )
    with transaction.atomic():
        deleted, _ = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return deleted > 0


# --- Send -----------------------------------------------------------------------------------


def _default_icon() -> str:
    """The site's icon. A worker can send before `collectstatic` has written the manifest (the
    demo's seed does); the push then goes with the unhashed path rather than failing."""
    try:
        return static("img/favicon.svg")
    except ValueError:
        return f"{settings.STATIC_URL}img/favicon.svg"


def _payload_bytes(payload: Mapping[str, Any]) -> bytes:
    """The notification as compact JSON: `title` (required), `body`, `url` and `icon` (paths
    on this site: the service worker opens the url), `tag` (a later push with the same tag
    replaces the notification), and whatever else the caller adds."""
    if not isinstance(payload, Mapping):
        raise ValidationFailed(
            gettext("The payload must be a JSON object."), code="invalid_payload"
        )
    data = dict(payload)
    if not isinstance(data.get("title"), str) or not data["title"]:
        raise _refuse("invalid_payload", "title", gettext("A notification needs a title."))
    for name in ("body", "tag"):
        if not isinstance(data.get(name, ""), str):
            raise _refuse("invalid_payload", name, gettext("Must be a string."))
    data.setdefault("icon", _default_icon())
    data.setdefault("url", "/")
    for name in ("url", "icon"):
        value = data[name]
        if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
            raise _refuse("invalid_payload", name, gettext("Must be a path on this site."))
    try:
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError):
        raise ValidationFailed(
            gettext("The payload is not JSON."), code="invalid_payload"
        ) from None
    if len(body) > PAYLOAD_MAX_BYTES:
        raise ValidationFailed(
            gettext("The payload is %(size)s bytes of JSON; a push carries at most %(count)s.")
            % {"size": len(body), "count": PAYLOAD_MAX_BYTES},
            code="payload_too_large",
        )
    return body


def _topic_header(topic: str) -> str:
    """RFC 8030's Topic as given when it fits the header's alphabet and length, else a digest
    of it: a renotify with the same topic replaces a push still waiting at the push service."""
    if _TOPIC.match(topic):
        return topic
    return base64.urlsafe_b64encode(hashlib.sha256(topic.encode()).digest()).decode()[:32]


class _Signer:
    """VAPID headers per push service origin (the JWT's `aud`), signed once per send run."""

    def __init__(self, keys: VapidKeys) -> None:
        self.keys = keys
        self.expires = int(time.time()) + 12 * 3600
        self.by_audience: dict[str, dict[str, str]] = {}

    def headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        found = self.by_audience.get(audience)
        if found is None:
            claims = {"aud": audience, "exp": self.expires, "sub": settings.WEBPUSH_VAPID_SUBJECT}
            found = dict(self.keys.signer.sign(claims))
            self.by_audience[audience] = found
        return found


def _session(concurrency: int) -> requests.Session:
    session = requests.Session()
    # requests re-reads the proxy variables and ~/.netrc on every request (a tenth of a push's
    # CPU here): read the proxies once per run instead.
    session.trust_env = False
    session.proxies = {
        scheme: url for scheme, url in getproxies().items() if scheme in ("http", "https")
    }
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=concurrency, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


_sessions: dict[tuple[int, int], requests.Session] = {}
_sessions_lock = threading.Lock()


def _shared_session(concurrency: int) -> requests.Session:
    """One session per process (and pool size): its connections to the push services, TLS
    done, stay open from one call to the next, as a go-live fan-out calls once per batch.
    Keyed by pid too, so a forked worker never shares its parent's sockets."""
    key = (os.getpid(), concurrency)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = _session(concurrency)
    return session


def _send_one(
    session: requests.Session,
    row: tuple[int, str, str, str],
    headers: dict[str, str],
    data: bytes,
    ttl: int,
) -> _Outcome:
    _, endpoint, p256dh, auth = row
    info = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
    try:
        response = WebPusher(info, requests_session=session).send(
            data, headers, ttl=ttl, timeout=TIMEOUT, content_encoding="aes128gcm"
        )
    except requests.RequestException as error:
        logger.info("push to %s failed: %s", urlsplit(endpoint).netloc, type(error).__name__)
        return _Outcome.FAILED
    except Exception:  # a stored key pywebpush cannot use: count it, keep sending the rest
        logger.exception("push to %s could not be encrypted", urlsplit(endpoint).netloc)
        return _Outcome.FAILED
    status = getattr(response, "status_code", 0)
    if status in (200, 201, 202):
        return _Outcome.SENT
    if status in (404, 410):
        return _Outcome.GONE
    logger.info("push to %s refused: %s", urlsplit(endpoint).netloc, status)
    return _Outcome.FAILED


def _batches(user_ids: Sequence[int]) -> Iterator[list[tuple[int, str, str, str]]]:
    ids = sorted({int(i) for i in user_ids})
    for start in range(0, len(ids), USERS_PER_BATCH):
        rows = list(
            PushSubscription.objects.filter(
                user_id__in=ids[start : start + USERS_PER_BATCH], user__is_active=True
            )
            .order_by("pk")
            .values_list("pk", "endpoint", "p256dh", "auth")
        )
        if rows:
            yield rows


def _record(rows: list[tuple[int, str, str, str]], outcomes: list[_Outcome]) -> None:
    by_outcome: dict[_Outcome, list[int]] = {outcome: [] for outcome in _Outcome}
    for row, outcome in zip(rows, outcomes, strict=True):
        by_outcome[outcome].append(row[0])
    with transaction.atomic():
        if by_outcome[_Outcome.SENT]:
            PushSubscription.objects.filter(pk__in=by_outcome[_Outcome.SENT]).update(
                last_success_at=timezone.now(), failure_count=0
            )
        if by_outcome[_Outcome.GONE]:
            PushSubscription.objects.filter(pk__in=by_outcome[_Outcome.GONE]).delete()
        if by_outcome[_Outcome.FAILED]:
            PushSubscription.objects.filter(pk__in=by_outcome[_Outcome.FAILED]).update(
                failure_count=F("failure_count") + 1
            )


def push_send_to_users(
    *, user_ids: Sequence[int], payload: dict[str, Any], ttl: int = 3600, topic: str = ""
) -> PushResult:
    """Push `payload` (see `_payload_bytes`) to every device of these users. Reads their
    subscriptions a bounded batch at a time, sends each batch over pooled connections with
    WEBPUSH_SEND_CONCURRENCY in flight, then records the batch's outcomes in one transaction
    (never holding one open across the network). `ttl`: seconds a push service keeps it for
    a device that is offline. Push off on this server: nothing is sent, and the log says so."""
    data = _payload_bytes(payload)
    result = PushResult()
    keys = vapid_keys_or_none()
    if keys is None:
        logger.warning("push not sent: no VAPID key (WEBPUSH_VAPID_PRIVATE_KEY)")
        return result
    signer = _Signer(keys)
    extra: dict[str, str] = {"Topic": _topic_header(topic)} if topic else {}
    concurrency = max(1, settings.WEBPUSH_SEND_CONCURRENCY)
    session = _shared_session(concurrency)
    with ThreadPoolExecutor(concurrency, thread_name_prefix="webpush") as pool:
        for rows in _batches(user_ids):
            headers = [{**signer.headers(row[1]), **extra} for row in rows]
            outcomes = list(
                pool.map(
                    lambda row, h: _send_one(session, row, h, data, max(0, int(ttl))),
                    rows,
                    headers,
                )
            )
            _record(rows, outcomes)
            result.sent += outcomes.count(_Outcome.SENT)
            result.dropped += outcomes.count(_Outcome.GONE)
            result.failed += outcomes.count(_Outcome.FAILED)
    if result.sent or result.dropped or result.failed:
        logger.info(
            "push: %d sent, %d dropped, %d failed", result.sent, result.dropped, result.failed
        )
    return result
