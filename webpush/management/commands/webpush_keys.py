"""Print a new VAPID key pair as the settings take it: `manage.py webpush_keys >> .env`.

One pair for the whole deployment (every web and worker host): a browser's subscription is
tied to the public key it subscribed with, so a new pair silences every device until it
subscribes again (the Settings page does that on its next visit)."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management.base import BaseCommand

from webpush.keys import b64url, public_key_of


class Command(BaseCommand):
    help = "Print a new VAPID key pair as WEBPUSH_VAPID_PRIVATE_KEY / WEBPUSH_VAPID_PUBLIC_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        private = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
        public = public_key_of(key)
        self.stdout.write(f"WEBPUSH_VAPID_PRIVATE_KEY={private}")
        self.stdout.write(f"WEBPUSH_VAPID_PUBLIC_KEY={public}")
