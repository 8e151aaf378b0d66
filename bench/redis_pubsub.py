"""Redis pub/sub benchmark: messages per second and Redis CPU per PUBLISH and per delivery.

    python -m bench.redis_pubsub --subscribers 0,1,8,32 --payloads 104,400 --json

What the capacity figures (docs/capacity.md) need from Redis: how many PUBLISHes a second one
Redis core carries when each reaches S subscriber connections (room events reach one connection
per web process, a Space's encoded mix one per edge worker). Redis runs a command on one thread,
so its CPU per PUBLISH (``a + b * S``) is the limit; the clients here only have to keep up.

- Redis: a private ``redis-server`` on a free loopback port, nothing saved (``--redis-url`` to
  use another; pub/sub ignores the database number, the channel name has this run's pid).
- Subscribers: one process (pinned to core 1 where there are two) holding S raw sockets, each
  SUBSCRIBEd to one channel; it counts messages in the RESP stream (no parsing per message).
- Publisher: this process (core 0), PUBLISH pipelined in batches of ``--batch`` (as many
  publishing processes would present them), until ``--messages`` or ``--seconds``.
- Figures per (S, payload): ``publish_per_s`` (this one client), ``deliveries_per_s``,
  ``delivered_ratio`` (counted by the subscribers / due), ``subscribers_disconnected`` (by
  Redis, for falling behind its pub/sub output buffer limit), and ``redis_us_per_publish``: Redis
  server CPU (INFO cpu, user + system, main thread) over the window / PUBLISHes. Then a
  least-squares fit over S: ``redis_us_per_publish = a + b * S`` per payload, and the PUBLISHes
  a second one Redis core would carry at S = 1, 8, 32, 100.

Everything on 127.0.0.1; every loop bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

MESSAGE = b"$7\r\nmessage\r\n"
PUBLISHER_CORE = 0
SUBSCRIBER_CORE = 1


def pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        os.sched_setaffinity(0, {core})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("needs redis-server (apt-get install redis-server) or --redis-url")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if redis.Redis.from_url(url).ping():
                return proc, url
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def subscriber_main(url: str, channel: str, count: int, pipe: Connection) -> None:
    """S raw sockets subscribed to ``channel``; counts messages until told to stop."""
    import selectors

    pin(SUBSCRIBER_CORE)
    info = redis.connection.parse_url(url)
    host, port = info.get("host", "127.0.0.1"), int(info.get("port", 6379))
    command = f"*2\r\n$9\r\nSUBSCRIBE\r\n${len(channel)}\r\n{channel}\r\n".encode()
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(count):
        sock = socket.create_connection((host, port))
        sock.sendall(command)
        socks.append(sock)
    for sock in socks:  # the subscribe confirmations, before the publisher starts
        sock.settimeout(10)
        got = b""
        while b":1\r\n" not in got:
            got += sock.recv(4096)
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, [b""])
    pipe.send("ready")
    received = closed = 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if pipe.poll():
            pipe.recv()
            pipe.send((received, closed))
            continue
        for key, _ in sel.select(timeout=0.05):
            try:
                data = key.fileobj.recv(1 << 20)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            if not data:  # Redis dropped a subscriber that fell behind its output limit
                sel.unregister(key.fileobj)
                closed += 1
                continue
            # The marker may straddle two reads: keep the last bytes of the previous one.
            tail = key.data[0]
            chunk = tail + data
            received += chunk.count(MESSAGE)
            key.data[0] = chunk[-(len(MESSAGE) - 1) :]
            if tail:
                received -= tail.count(MESSAGE)


def redis_cpu(client: redis.Redis) -> float:
    cpu = client.info("cpu")
    # The main thread: the one that runs commands (the totals add the background threads).
    if "used_cpu_user_main_thread" in cpu:
        return float(cpu["used_cpu_user_main_thread"]) + float(cpu["used_cpu_sys_main_thread"])
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def run_one(
    url: str, subscribers: int, payload: int, messages: int, seconds: float, batch: int
) -> dict[str, Any]:
    channel = f"bench:pubsub:{os.getpid()}:{subscribers}:{payload}"
    client = redis.Redis.from_url(url)
    proc = None
    ours, theirs = multiprocessing.Pipe()
    if subscribers:
        proc = multiprocessing.get_context("fork").Process(
            target=subscriber_main, args=(url, channel, subscribers, theirs), daemon=True
        )
        proc.start()
        if not ours.poll(30) or ours.recv() != "ready":
            raise RuntimeError("subscribers did not start")
    body = b"x" * payload
    pipe = client.pipeline(transaction=False)
    cpu0 = redis_cpu(client)
    started = time.perf_counter()
    sent = 0
    while sent < messages and time.perf_counter() - started < seconds:
        for _ in range(batch):
            pipe.publish(channel, body)
        pipe.execute()
        sent += batch
    elapsed = time.perf_counter() - started
    # Deliveries still in flight: wait (bounded) until the subscribers have them all.
    received = dropped = 0
    if proc is not None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ours.send("count")
            if not ours.poll(10):
                break
            received, dropped = ours.recv()
            if received >= sent * subscribers or dropped:
                break
            time.sleep(0.1)
        proc.terminate()
        proc.join(5)
    cpu = redis_cpu(client) - cpu0
    client.close()
    return {
        "subscribers": subscribers,
        "payload_bytes": payload,
        "published": sent,
        "seconds": round(elapsed, 3),
        "publish_per_s": round(sent / elapsed),
        "deliveries_per_s": round(sent * subscribers / elapsed),
        "delivered_ratio": round(received / (sent * subscribers), 5) if subscribers else None,
        # Subscribers Redis disconnected for falling behind (client-output-buffer-limit pubsub:
        # 32 MB at once, or 8 MB for 60 s, by default): they lose every message after that.
        "subscribers_disconnected": dropped,
        "redis_cpu_s": round(cpu, 3),
        "redis_us_per_publish": round(cpu / sent * 1e6, 3),
        "redis_cpu_share": round(cpu / elapsed, 3),
    }


def fit(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Least squares ``redis_us_per_publish = a + b * subscribers``."""
    xs = [float(r["subscribers"]) for r in rows]
    ys = [float(r["redis_us_per_publish"]) for r in rows]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    a = my - b * mx
    capacity = {str(s): round(1e6 / (a + b * s)) for s in (1, 8, 32, 100) if a + b * s > 0}
    return {
        "a_us_per_publish": round(a, 3),
        "b_us_per_delivery": round(b, 3),
        "publishes_per_redis_core": capacity,  # type: ignore[dict-item]
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--subscribers", default="0,1,8,32", help="comma-separated S")
    parser.add_argument("--payloads", default="104,400", help="bytes: a mix packet, an event")
    parser.add_argument("--messages", type=int, default=100_000, help="at most, per run")
    parser.add_argument("--seconds", type=float, default=5.0, help="at most, per run")
    parser.add_argument("--batch", type=int, default=50, help="PUBLISHes per pipeline")
    parser.add_argument("--redis-url", default="", help="default: a private redis-server")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    pin(PUBLISHER_CORE)
    server = None
    url = args.redis_url
    if not url:
        server, url = start_redis()
    try:
        results = []
        for payload in [int(p) for p in args.payloads.split(",")]:
            for subscribers in [int(s) for s in args.subscribers.split(",")]:
                row = run_one(url, subscribers, payload, args.messages, args.seconds, args.batch)
                results.append(row)
                if not args.json:
                    print(row, flush=True)
        fits = {
            str(payload): fit([r for r in results if r["payload_bytes"] == payload])
            for payload in sorted({r["payload_bytes"] for r in results})
        }
        version = redis.Redis.from_url(url).info("server").get("redis_version")
    finally:
        if server is not None:
            server.kill()
            server.wait(5)
    document = {
        "benchmark": "redis_pubsub",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "redis": version,
            "loadavg": os.getloadavg(),
        },
        "batch": args.batch,
        "results": results,
        "fit": fits,
    }
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(json.dumps(fits, indent=2))


if __name__ == "__main__":
    main()
