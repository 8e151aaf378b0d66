"""Go-live alerts: a host with N followers goes live; how long until every inbox row is written.

    .venv/bin/python -m bench.golive --followers 10000 100000 --json \
        --database-url postgres://postgres@127.0.0.1:5432/spaces_bench \
        --redis-url redis://127.0.0.1:6379/14

For each N: the followers (a pool of plain users, written once with INSERT ... SELECT over
generate_series and kept between runs) follow a fresh host; fresh Celery workers start
(`--workers` processes of `--concurrency` prefork children, Redis as broker and cache, as in the
distributed shape); a warm-up go-live of a 10-follower host runs through them first; then the
host starts a Space through the product's own service (`spaces.services.space_start`), which
commits, runs the `space_live` hook and queues the fan-out; this process polls the database
every 5 ms.

One row per N, with exactly these keys:
- `followers`: N;
- `inbox_written_s`: from just before `space_start` to when this process first sees the alert
  `done` (its last chunk, with the last inbox rows, committed), seconds;
- `push_queued_s`: from the same moment to when no chunk's push is still `pending` or `sending`
  (every follower handed to webpush.services.push_send_to_users); the followers have no push
  subscriptions here, so this is our pipeline, not the push services (bench/webpush_send.py);
- `peak_rss_mb`: the highest peak resident set (VmHWM) of any one worker process (the main
  process or a pool child), MiB, read from /proc after the run: flat as N grows means the
  fan-out never holds the followers in memory;
- `db_rows_per_s`: inbox rows divided by the time the chunks' transactions spent writing them
  (each chunk's `write_ms`: the INSERT ... SELECT and the cursor move).

Only 127.0.0.1 is used; every wait is bounded (`--timeout`); the workers are ended in `finally`.
`--compare-writes N` instead times three ways of writing N inbox rows in this process (the
product's INSERT ... SELECT, COPY, bulk_create in batches of 5000) and prints their rows/s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
FAN_PREFIX = "golive-bench-fan-"
WARMUP_FOLLOWERS = 10


def _setup(database_url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["CELERY_BROKER_URL"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def _fans(count: int) -> None:
    """The first `count` pool users exist (ids in username order; written once, kept)."""
    from django.db import connection

    from accounts.models import User

    have = User.objects.filter(username__startswith=FAN_PREFIX).count()
    if have >= count:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO accounts_user
                (password, is_superuser, username, first_name, last_name, email, is_staff,
                 is_active, date_joined, display_name, bio, email_notifications, time_zone,
                 language, live_alerts, live_alert_emails)
            SELECT '!', false, %s || lpad(n::text, 7, '0'), '', '', '', false, true, now(),
                   '', '', true, '', '', true, false
            FROM generate_series(%s, %s) AS n
            ON CONFLICT (username) DO NOTHING
            """,
            [FAN_PREFIX, have + 1, count],
        )


def _host(followers: int, tag: str) -> Any:
    """A fresh host followed by the first `followers` pool users."""
    from django.db import connection

    from accounts.models import User

    host = User.objects.create(username=f"golive-bench-host-{tag}", display_name=f"Host {tag}")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO accounts_follow (follower_id, followee_id, created_at, alerts)
            SELECT u.id, %s, now(), 'all' FROM accounts_user u
            WHERE u.username >= %s AND u.username <= %s
            """,
            [host.pk, FAN_PREFIX + "0000001", f"{FAN_PREFIX}{followers:07d}"],
        )
        cursor.execute("ANALYZE accounts_follow")
    return host


def _descendants(pid: int) -> list[int]:
    found = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in children:
        found += _descendants(int(child))
    return found


def _hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Workers:
    def __init__(self, count: int, concurrency: int, env: dict[str, str], logdir: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        for n in range(count):
            log = logdir / f"worker{n}.log"
            with open(log, "wb") as out:
                self.procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "celery",
                            "-A",
                            "spaces_project",
                            "worker",
                            "-n",
                            f"golive{n}@%h",
                            f"--concurrency={concurrency}",
                            "--pool=prefork",
                            "--without-mingle",
                            "--without-gossip",
                            "--loglevel=INFO",
                        ],
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            self.logs.append(log)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for proc, log in zip(self.procs, self.logs, strict=True):
            while " ready." not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)

    def peak_rss_mb(self) -> float:
        return max(
            (_hwm_mb(pid) for proc in self.procs for pid in _descendants(proc.pid)), default=0.0
        )

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def _go_live(host: Any, timeout: float) -> tuple[float, float, Any]:
    """Start a Space for `host`; seconds to the alert done and to every push handed over."""
    from alerts.models import GoLiveAlert, GoLiveChunk
    from spaces import services as spaces_services

    began = time.perf_counter()
    space = spaces_services.space_start(host=host, title="Bench show")
    deadline = began + timeout
    inbox_s = push_s = None
    alert = None
    while time.perf_counter() < deadline:
        alert = GoLiveAlert.objects.filter(space=space).first()
        if inbox_s is None and alert is not None and alert.status != GoLiveAlert.Status.RUNNING:
            inbox_s = time.perf_counter() - began
        if inbox_s is not None and not (
            GoLiveChunk.objects.filter(alert=alert, push_state__in=["pending", "sending"]).exists()
        ):
            push_s = time.perf_counter() - began
            break
        time.sleep(0.005)
    if inbox_s is None or push_s is None or alert is None:
        raise RuntimeError(f"the fan-out did not finish within {timeout:.0f}s")
    return inbox_s, push_s, alert


def measure(followers: int, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    from django.db.models import Sum

    from alerts.models import GoLiveAlert

    tag = f"{followers}-{int(time.time() * 1000)}"
    warm = _host(WARMUP_FOLLOWERS, f"warm-{tag}")
    host = _host(followers, tag)
    logdir = Path(tempfile.mkdtemp(prefix="golive-bench-"))
    workers = Workers(args.workers, args.concurrency, env, logdir)
    try:
        workers.wait_ready(60)
        _go_live(warm, args.timeout)
        inbox_s, push_s, alert = _go_live(host, args.timeout)
        peak = workers.peak_rss_mb()
    except Exception:
        print(f"worker logs kept in {logdir}", file=sys.stderr)
        raise
    finally:
        workers.stop()
    shutil.rmtree(logdir, ignore_errors=True)
    alert = GoLiveAlert.objects.get(pk=alert.pk)
    if alert.status != GoLiveAlert.Status.DONE or alert.inbox_count != followers:
        raise RuntimeError(f"alert {alert.pk}: {alert.status}, {alert.inbox_count} rows")
    write_ms = alert.chunk_set.aggregate(total=Sum("write_ms"))["total"] or 0.0
    return {
        "followers": followers,
        "inbox_written_s": round(inbox_s, 3),
        "push_queued_s": round(push_s, 3),
        "peak_rss_mb": round(peak, 1),
        "db_rows_per_s": round(alert.inbox_count / (write_ms / 1000), 0) if write_ms else None,
    }


def compare_writes(count: int) -> list[dict[str, Any]]:
    """Three ways to write `count` inbox rows, each rolled back after it is timed."""
    import io

    from django.db import connection, transaction

    from accounts.models import Follow, Notification

    host = _host(count, f"compare-{count}-{int(time.time() * 1000)}")
    payload = json.dumps({"host": host.username, "title": "Bench", "space_id": 1})
    ids = list(Follow.objects.filter(followee=host).values_list("follower_id", flat=True))

    class Rollback(Exception):
        pass

    def timed(write: Any) -> float:
        began = time.perf_counter()
        try:
            with transaction.atomic():
                write()
                raise Rollback
        except Rollback:
            pass
        return time.perf_counter() - began

    def insert_select() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO accounts_notification (recipient_id, kind, payload, is_read, "
                "created_at) SELECT follower_id, 'followed_live', CAST(%s AS jsonb), false, "
                "now() FROM accounts_follow WHERE followee_id = %s",
                [payload, host.pk],
            )

    def copy() -> None:
        buffer = io.StringIO()
        for uid in ids:
            buffer.write(f"{uid}\tfollowed_live\t{payload}\tf\t2026-01-01 00:00:00+00\n")
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(
                "COPY accounts_notification (recipient_id, kind, payload, is_read, created_at) "
                "FROM STDIN"
            ) as out:
                out.write(buffer.getvalue())

    def bulk() -> None:
        data = json.loads(payload)
        Notification.objects.bulk_create(
            (Notification(recipient_id=uid, kind="followed_live", payload=data) for uid in ids),
            batch_size=5000,
        )

    rows = []
    for name, write in (("insert_select", insert_select), ("copy", copy), ("bulk_create", bulk)):
        seconds = min(timed(write) for _ in range(3))
        rows.append({"method": name, "rows": count, "rows_per_s": round(count / seconds)})
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--followers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/spaces_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--compare-writes", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)

    _setup(args.database_url, args.redis_url)
    import redis

    redis.Redis.from_url(args.redis_url).delete("celery", "unacked", "unacked_index")
    _fans(max([*args.followers, args.compare_writes, WARMUP_FOLLOWERS]))
    if args.compare_writes:
        rows = compare_writes(args.compare_writes)
    else:
        env = {
            **os.environ,
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "CELERY_BROKER_URL": args.redis_url,
            "DJANGO_SETTINGS_MODULE": "spaces_project.settings",
            "DJANGO_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            # Per-host limits do not apply to a bench's fresh hosts, but be explicit.
            "SPACES_GOLIVE_ALERTS_PER_HOUR": "1000",
            "SPACES_HOST_MIN_FOLLOWERS": "1",
        }
        from django.conf import settings

        settings.SPACES_HOST_MIN_FOLLOWERS = 1
        rows = [measure(n, args, env) for n in args.followers]
    for row in rows:
        print(json.dumps(row) if args.json else "  ".join(f"{k}={v}" for k, v in row.items()))
    return rows


if __name__ == "__main__":
    main()
