"""Reaction taps made durable: group commit against a statement per tap, in one run.

    .venv/bin/python bench/reactions.py --threads 8 --taps 300 --rounds 3 --json \
        --database-url postgres://postgres@127.0.0.1:5432/spaces_bench \
        --redis-url redis://127.0.0.1:6379/13

`--threads` threads (the sockets' database threads of one server process: 8 on PostgreSQL)
each record `--taps` taps on one Space, as fast as they can, three ways, interleaved per round:

- `group_commit`: the product (`spaces.reactions.ledger.record`): a tap returns once committed;
  taps in flight together share one upsert;
- `statement_per_tap`: the same upsert, one per tap (the baseline a durable tap would cost
  without group commit);
- `cache_incr` (with `--redis-url`): the former design, a Redis INCR per tap, which a Redis
  restart lost; shown for the price of durability, not as an alternative.

Reported per variant: taps per second (median over rounds) and statements per tap; and whether
the database holds exactly the taps recorded (it must).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _setup(database_url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def _hammer(threads: int, taps: int, tap: Callable[[int], None]) -> float:
    """Seconds for `threads` threads to make `taps` taps each."""
    from django.db import connection

    start = threading.Barrier(threads + 1)

    def run(i: int) -> None:
        start.wait()
        try:
            for _ in range(taps):
                tap(i)
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--taps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/spaces_bench")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    _setup(args.database_url, args.redis_url)

    from django.conf import settings
    from django.core.cache import cache
    from django.utils import timezone

    from accounts.models import User
    from spaces import reactions
    from spaces.models import ReactionCount, Space

    host, _ = User.objects.get_or_create(username="bench-reactions-host")
    space = Space.objects.create(
        host=host,
        title="Reactions bench",
        state=Space.State.LIVE,
        started_at=timezone.now(),
        max_speakers=settings.SPACES_MAX_SPEAKERS,
        max_cohosts=settings.SPACES_MAX_COHOSTS,
    )
    statements = 0
    lock = threading.Lock()
    upsert = reactions.upsert_counts

    def counted(counts: Any) -> None:
        nonlocal statements
        with lock:
            statements += 1
        upsert(counts)

    reactions.upsert_counts = counted  # type: ignore[assignment]
    ledger = reactions.TapLedger()
    variants: dict[str, Callable[[int], None]] = {
        "group_commit": lambda i: ledger.record(space.pk, "clap"),
        "statement_per_tap": lambda i: counted({(space.pk, "fire"): 1}),
    }
    if args.redis_url:
        variants["cache_incr"] = lambda i: cache.incr(f"bench:rx:{space.pk}")
        cache.set(f"bench:rx:{space.pk}", 0, timeout=3600)
    rates: dict[str, list[float]] = {name: [] for name in variants}
    per_tap: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, tap in variants.items():
            statements = 0
            seconds = _hammer(args.threads, args.taps, tap)
            total = args.threads * args.taps
            rates[name].append(total / seconds)
            per_tap[name].append(statements / total)
    recorded = args.threads * args.taps * args.rounds
    rows = dict(ReactionCount.objects.filter(space=space).values_list("code", "count"))
    result: dict[str, Any] = {
        "threads": args.threads,
        "taps_per_thread": args.taps,
        "rounds": args.rounds,
        "database": "postgresql" if args.database_url.startswith("postgres") else "sqlite",
        "variants": {
            name: {
                "taps_per_second": round(statistics.median(rates[name])),
                "taps_per_second_rounds": [round(r) for r in rates[name]],
                "statements_per_tap": round(statistics.mean(per_tap[name]), 3)
                if name != "cache_incr"
                else None,
            }
            for name in variants
        },
        "database_holds_every_tap": rows.get("clap") == recorded and rows.get("fire") == recorded,
    }
    space.delete()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, figures in result["variants"].items():
            print(f"{name:18} {figures}")
        print("database holds every tap:", result["database_holds_every_tap"])
    return result


if __name__ == "__main__":
    main()
