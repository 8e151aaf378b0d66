"""The VAPID key pair that signs every push (RFC 8292).

From the settings: WEBPUSH_VAPID_PRIVATE_KEY (base64url, raw or DER), or else a PEM file at
WEBPUSH_VAPID_KEY_FILE, generated once when missing (the embedded shape's default, beside the
SQLite database). Neither: push is off, and every use says so with `push_unavailable`.
"""

from __future__ import annotations

import base64
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.utils.translation import gettext
from py_vapid import Vapid02

from spaces_project.errors import ApplicationError


class PushUnavailable(ApplicationError):
    status = 503
    default_code = "push_unavailable"


class VapidKeyError(ValueError):
    """The configured key cannot be read, or the public key does not match it."""


@dataclass(frozen=True)
class VapidKeys:
    signer: Vapid02
    public_key: str  # base64url of the uncompressed point: the browser's applicationServerKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_key_of(private: ec.EllipticCurvePrivateKey) -> str:
    """The applicationServerKey: base64url of the uncompressed P-256 point."""
    raw = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(raw)


def _from_setting(value: str) -> ec.EllipticCurvePrivateKey:
    try:
        if value.lstrip().startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(value.encode(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise VapidKeyError("the PEM key is not an elliptic-curve key")
            return key
        return Vapid02.from_string(value.strip()).private_key
    except VapidKeyError:
        raise
    except Exception as error:  # binascii, ValueError, TypeError from the parsers
        raise VapidKeyError(f"WEBPUSH_VAPID_PRIVATE_KEY cannot be read: {error}") from error


_file_lock = threading.Lock()


def _from_file(path: Path) -> ec.EllipticCurvePrivateKey:
    """Read the PEM at `path`, creating it first if it does not exist. O_EXCL makes two
    processes starting at once agree: the loser reads the winner's key."""
    with _file_lock:
        if not path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(pem)
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, path)  # fails if another process linked its key first
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise VapidKeyError(f"{path} does not hold an elliptic-curve key")
    return loaded


@lru_cache(maxsize=4)
def _load(private_setting: str, public_setting: str, key_file: str) -> VapidKeys | None:
    if private_setting:
        private = _from_setting(private_setting)
    elif key_file:
        private = _from_file(Path(key_file))
    else:
        return None
    public = public_key_of(private)
    if public_setting and public_setting.strip().rstrip("=") != public:
        raise VapidKeyError("WEBPUSH_VAPID_PUBLIC_KEY is not the public key of the private one")
    return VapidKeys(signer=Vapid02(private), public_key=public)


def vapid_keys_or_none() -> VapidKeys | None:
    """The key pair, or None when push is off (no key, no key file). Raises VapidKeyError for
    a key that is set but unusable."""
    return _load(
        settings.WEBPUSH_VAPID_PRIVATE_KEY,
        settings.WEBPUSH_VAPID_PUBLIC_KEY,
        settings.WEBPUSH_VAPID_KEY_FILE,
    )


def vapid_keys() -> VapidKeys:
    keys = vapid_keys_or_none()
    if keys is None:
        raise PushUnavailable(
            gettext("Push notifications are not set up on this server (no VAPID key)."),
        )
    return keys
