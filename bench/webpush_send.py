"""Web Push sends per second: `webpush.services.push_send_to_users` against a loopback push
service in another process, which checks each push's VAPID signature and decrypts it with the
subscription's keys (as tests/webpush/receiver.py does), optionally after a simulated network
round trip.

    .venv/bin/python bench/webpush_send.py --subscriptions 2000 --concurrency 1 4 16
    .venv/bin/python bench/webpush_send.py --latency-ms 30 --concurrency 1 16 32

Reported per concurrency (WEBPUSH_SEND_CONCURRENCY): seconds for the whole run, sends per
second, the sending process's CPU per send (the figure that holds on a busy machine), and
how many pushes the receiver decrypted (it must be all of them). The database is a
throwaway SQLite file unless --database-url says otherwise. Loopback only; at most 20,000
subscriptions.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _receiver(
    port_out: Any, ok: Any, bad: Any, private_pem: bytes, auth: bytes, vapid: str, latency: float
) -> None:
    """The push service: one process, a thread per connection (pooled, kept alive)."""
    import http_ece
    from cryptography.hazmat.primitives import serialization

    from tests.webpush.receiver import verify_vapid

    key = serialization.load_pem_private_key(private_pem, password=None)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                verify_vapid(
                    self.headers.get("Authorization", ""),
                    public_key=vapid,
                    audience=f"http://127.0.0.1:{self.server.server_address[1]}",
                )
                json.loads(http_ece.decrypt(body, private_key=key, auth_secret=auth))
                counter = ok
            except Exception:
                counter = bad
            with counter.get_lock():
                counter.value += 1
            if latency:
                time.sleep(latency)
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.send(server.server_address[1])
    server.serve_forever()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscriptions", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    count = max(1, min(args.subscriptions, 20_000))

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.webpush.conftest import new_vapid_private_key
    from tests.webpush.receiver import BrowserKeys

    tmp = tempfile.TemporaryDirectory(prefix="webpush-bench-")
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3"
    os.environ["WEBPUSH_VAPID_PRIVATE_KEY"] = new_vapid_private_key()
    os.environ["WEBPUSH_ALLOW_LOOPBACK"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    from accounts.models import User
    from webpush.keys import vapid_keys
    from webpush.models import PushSubscription
    from webpush.services import push_send_to_users

    keys = BrowserKeys()
    pem = keys.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert isinstance(keys.private_key, ec.EllipticCurvePrivateKey)
    ok, bad = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
    port_in, port_out = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.Process(
        target=_receiver,
        args=(
            port_out,
            ok,
            bad,
            pem,
            keys.auth_secret,
            vapid_keys().public_key,
            args.latency_ms / 1000,
        ),
        daemon=True,
    )
    child.start()
    port = port_in.recv()

    prefix = f"wpb{os.getpid()}_"
    User.objects.filter(username__startswith=prefix).delete()
    users = User.objects.bulk_create(
        [User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com") for i in range(count)]
    )
    PushSubscription.objects.bulk_create(
        PushSubscription(
            user=user,
            endpoint=f"http://127.0.0.1:{port}/push/{user.pk}",
            p256dh=keys.p256dh,
            auth=keys.auth,
        )
        for user in users
    )
    ids = [user.pk for user in users]
    runs = []
    try:
        for concurrency in args.concurrency:
            settings.WEBPUSH_SEND_CONCURRENCY = concurrency
            ok.value = bad.value = 0
            began, cpu = time.perf_counter(), time.process_time()
            result = push_send_to_users(
                user_ids=ids, payload={"title": "Ada is live", "body": "bench", "url": "/"}
            )
            seconds = time.perf_counter() - began
            cpu_us = (time.process_time() - cpu) / max(1, result.sent) * 1e6
            runs.append(
                {
                    "concurrency": concurrency,
                    "subscriptions": count,
                    "latency_ms": args.latency_ms,
                    "seconds": round(seconds, 2),
                    "sends_per_second": round(result.sent / seconds),
                    "sender_cpu_us_per_send": round(cpu_us),
                    "sent": result.sent,
                    "failed": result.failed,
                    "decrypted": ok.value,
                    "refused_by_receiver": bad.value,
                }
            )
    finally:
        child.kill()
        User.objects.filter(username__startswith=prefix).delete()
        tmp.cleanup()
    report = {"runs": runs, "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("load average {:.1f} {:.1f} {:.1f}".format(*report["load_average"]))
        for run in runs:
            print(
                f"concurrency {run['concurrency']:>3}  {run['subscriptions']} subscriptions  "
                f"latency {run['latency_ms']:g} ms  {run['seconds']:.2f} s  "
                f"{run['sends_per_second']}/s  sender CPU {run['sender_cpu_us_per_send']} µs/send  "
                f"decrypted {run['decrypted']}/{run['sent']}"
            )
    return report


if __name__ == "__main__":
    main()
