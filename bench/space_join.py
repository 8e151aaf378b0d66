"""Joins into one Space per second: `services.space_join` on PostgreSQL, serial and concurrent.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/spaces_bench \\
        python -m bench.space_join --joins 400 --threads 1,8 --json

Every join of a Space takes that Space's row lock (`access_space(lock=True)`: the entry rules,
the WebRTC seat count, the counters), so one Space's joins are serial in the database whatever
the number of web processes. This measures how many a second that allows: a fresh live Space,
``--joins`` new users, each joined once through the real service (its transaction, its events
published after commit to the configured layer), by T threads at once (each its own
connection). Figures: joins/s over the run, and each join's own time p50/p99. The database must
be migrated (``manage.py migrate``); the users and Spaces it makes stay there (use a scratch
database). Bounded by ``--joins`` and ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--joins", type=int, default=400, help="per thread count")
    parser.add_argument("--threads", default="1,8", help="comma-separated T")
    parser.add_argument("--seconds", type=float, default=60.0, help="at most, per run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    os.environ.setdefault("SPACES_HOST_MIN_FOLLOWERS", "0")  # a host made for the run
    import django

    django.setup()
    from django.db import connection, connections

    from accounts.models import User
    from spaces import services

    if connection.vendor != "postgresql":
        raise SystemExit("set DATABASE_URL to a PostgreSQL database (the row lock is the point)")

    def run(threads: int) -> dict[str, Any]:
        tag = f"bench-join-{os.getpid()}-{threads}-{int(time.time())}"
        host = User.objects.create(username=f"{tag}-host"[:150], email="")
        space = services.space_start(host=host, title=tag[:100])
        users = User.objects.bulk_create(
            User(username=f"{tag}-{i}"[:150], email="") for i in range(args.joins)
        )
        times: list[float] = []
        lock = threading.Lock()
        queue = list(users)
        started = time.perf_counter()
        deadline = started + args.seconds

        def work() -> None:
            try:
                while time.perf_counter() < deadline:
                    with lock:
                        if not queue:
                            return
                        user = queue.pop()
                    t0 = time.perf_counter()
                    services.space_join(user=user, space_id=space.pk)
                    took = time.perf_counter() - t0
                    with lock:
                        times.append(took)
            finally:
                connections.close_all()

        pool = [threading.Thread(target=work) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        elapsed = time.perf_counter() - started
        times.sort()

        def pct(p: float) -> float:
            return round(times[min(len(times) - 1, int(p * len(times)))] * 1000, 2)

        row = {
            "threads": threads,
            "joins": len(times),
            "seconds": round(elapsed, 2),
            "joins_per_s": round(len(times) / elapsed, 1),
            "join_ms_p50": pct(0.5),
            "join_ms_p99": pct(0.99),
        }
        return row

    results: list[dict[str, Any]] = []
    for threads in [int(t) for t in args.threads.split(",")]:
        results.append(run(threads))
        if not args.json:
            print(results[-1], flush=True)
    document = {"benchmark": "space_join", "loadavg": os.getloadavg(), "results": results}
    print(json.dumps(document, indent=2) if args.json else "")


if __name__ == "__main__":
    main()
