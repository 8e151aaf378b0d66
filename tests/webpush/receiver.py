"""A Web Push service on loopback, standing in for FCM or Mozilla's autopush: the edge of the
world. It takes pywebpush's POST as a push service would, checks the VAPID Authorization
(an ES256 JWT signed by the server's key, `aud` the endpoint's origin, `exp` ahead, a `sub`)
and decrypts the aes128gcm body with the subscription's private key and auth secret, as the
browser would. The keys are made here, as a browser makes them when it subscribes.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BrowserKeys:
    """What a browser makes when it subscribes: an ECDH P-256 pair and a 16-byte secret."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    payload: dict[str, Any] | None  # None: refused before decrypting
    error: str = ""


def verify_vapid(authorization: str, *, public_key: str, audience: str) -> dict[str, Any]:
    """The claims of a valid `vapid t=<jwt>,k=<key>` header, else AssertionError."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", f"scheme {scheme!r}"
    parts = dict(p.split("=", 1) for p in params.split(","))
    assert parts["k"] == public_key, "signed with another key than the server's"
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    header = json.loads(unb64url(header_b64))
    assert header == {"typ": "JWT", "alg": "ES256"}, header
    signature = unb64url(signature_b64)
    assert len(signature) == 64
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as error:
        raise AssertionError("bad VAPID signature") from error
    claims: dict[str, Any] = json.loads(unb64url(claims_b64))
    assert claims["aud"] == audience, claims
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600, claims
    assert claims["sub"].startswith(("mailto:", "https:")), claims
    return claims


class PushReceiver:
    """`endpoint(keys, status=201)` registers a subscription's path and answer; every POST
    is kept in `received`. Runs on a thread of the test process, on 127.0.0.1."""

    def __init__(self, *, vapid_public_key: str, decrypt: bool = True) -> None:
        self.vapid_public_key = vapid_public_key
        self.decrypt = decrypt
        self.received: list[Received] = []
        self.subscriptions: dict[str, tuple[BrowserKeys, int]] = {}
        self._lock = threading.Lock()
        self._count = 0
        self.connections = 0  # TCP connections accepted: pooled senders open few
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real push service

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver.connections += 1

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = receiver.take(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PushReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def endpoint(self, keys: BrowserKeys, *, status: int = 201) -> str:
        with self._lock:
            self._count += 1
            path = f"/push/{self._count}-{b64url(os.urandom(12))}"
            self.subscriptions[path] = (keys, status)
        return self.origin + path

    def take(self, path: str, headers: dict[str, str], body: bytes) -> int:
        found = self.subscriptions.get(path)
        if found is None:
            self._keep(Received(path, headers, None, "unknown endpoint"))
            return 404
        keys, status = found
        try:
            verify_vapid(
                headers.get("authorization", ""),
                public_key=self.vapid_public_key,
                audience=self.origin,
            )
            assert headers.get("content-encoding") == "aes128gcm", headers
            payload = None
            if self.decrypt:
                plain = http_ece.decrypt(
                    body,
                    private_key=keys.private_key,
                    auth_secret=keys.auth_secret,
                    version="aes128gcm",
                )
                payload = json.loads(plain)
        except Exception as error:  # recorded for the test to assert on, answered 400
            self._keep(Received(path, headers, None, f"{type(error).__name__}: {error}"))
            return 400
        self._keep(Received(path, headers, payload))
        return status

    def _keep(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)
