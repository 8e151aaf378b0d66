"""Prometheus metrics of the media worker, and its small HTTP endpoint. prometheus_client only.

Nothing here runs per packet. The origin reports once per 20 ms tick (``tick_done``: one
histogram observation and a few counter increments, a few microseconds against a tick of
hundreds), an edge once per relayed packet of the mix (the same, once per tick of the origin),
a join once per offer (``timed_join``). Gauges (Spaces, listeners, stage members) are read from
the workers when scraped (``MediaCollector``), so they cost nothing between scrapes.

Every metric lives in prometheus_client's default registry: in the embedded shape the web
process's ``/metrics`` carries them; a ``manage.py media_worker`` process serves them itself on
``MEDIA_METRICS_PORT`` with ``/healthz`` and ``/readyz`` (``serve``). Names, labels and meaning:
docs/operations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# No `*_created` series beside each counter and histogram: a process's start time is in
# `process_start_time_seconds` already, and they double the series to store.
disable_created_metrics()

ORIGIN = "origin"
EDGE = "edge"

TICK_SECONDS = Histogram(
    "spaces_media_tick_seconds",
    "Work time of one 20 ms mix tick (origin: mix, encodes, fan-out; edge: the fan-out of one "
    "relayed packet), from the tick's start to its last send.",
    ["kind"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25),
)
SKIPPED_TICKS = Counter(
    "spaces_media_skipped_ticks",
    "Mix ticks skipped (origin: the loop fell max_late_ticks behind; edge: a relayed packet "
    "arrived late or out of order): a 20 ms gap for every listener of that Space.",
    ["kind"],
)
PACKETS_SENT = Counter(
    "spaces_media_packets_sent",
    "RTP packets written to peers' sockets (to: listener, or stage for mix-minus packets).",
    ["kind", "to"],
)
PACKETS_DROPPED = Counter(
    "spaces_media_packets_dropped",
    "RTP packets a peer missed because its socket would block or failed (never queued).",
    ["kind"],
)
JOINS = Counter(
    "spaces_media_joins",
    "Offers answered by MediaWorker.join, by role, route and result (ok; refused: a "
    "MediaError; aborted: removed while joining; error: anything else).",
    ["role", "route", "result"],
)
JOIN_SECONDS = Histogram(
    "spaces_media_join_seconds",
    "Time from an offer reaching MediaWorker.join to its SDP answer (ICE gathering, DTLS set "
    "up), successful joins only.",
    ["role", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# Children bound once: ``labels()`` costs a dictionary lookup under a lock, kept off each tick.
_TICK = {k: TICK_SECONDS.labels(k) for k in (ORIGIN, EDGE)}
_SKIPPED = {k: SKIPPED_TICKS.labels(k) for k in (ORIGIN, EDGE)}
_SENT_LISTENER = {k: PACKETS_SENT.labels(k, "listener") for k in (ORIGIN, EDGE)}
_SENT_STAGE = PACKETS_SENT.labels(ORIGIN, "stage")
_DROPPED = {k: PACKETS_DROPPED.labels(k) for k in (ORIGIN, EDGE)}
# Joins at zero from the start, so that a rate over them exists before the first one.
for _role in ("speaker", "listener"):
    for _route in (ORIGIN, EDGE):
        JOIN_SECONDS.labels(_role, _route)
        for _result in ("ok", "refused", "aborted", "error"):
            JOINS.labels(_role, _route, _result)


class OriginStats(Protocol):
    """media.origin.OriginStats as seen here (origin and worker import this module)."""

    listener_packets: int
    stage_packets: int
    dropped: int


def counts(stats: OriginStats) -> tuple[int, int, int]:
    """The counters ``tick_done`` turns into increments: taken at the start of a tick."""
    return stats.listener_packets, stats.stage_packets, stats.dropped


def tick_done(seconds: float, stats: OriginStats, before: tuple[int, int, int]) -> None:
    """An origin tick ended: its work time, and what it sent and dropped (from its stats)."""
    _TICK[ORIGIN].observe(seconds)
    listener, stage, dropped = before
    if n := stats.listener_packets - listener:
        _SENT_LISTENER[ORIGIN].inc(n)
    if n := stats.stage_packets - stage:
        _SENT_STAGE.inc(n)
    if n := stats.dropped - dropped:
        _DROPPED[ORIGIN].inc(n)


def relayed(seconds: float, sent: int, dropped: int) -> None:
    """An edge fanned out one packet of the origin's mix."""
    _TICK[EDGE].observe(seconds)
    if sent:
        _SENT_LISTENER[EDGE].inc(sent)
    if dropped:
        _DROPPED[EDGE].inc(dropped)


def skipped(kind: str, ticks: int = 1) -> None:
    _SKIPPED[kind].inc(ticks)


# -- joins ---------------------------------------------------------------------------------------

J = TypeVar("J", bound=Callable[..., Awaitable[str]])


def _join_result(exc: BaseException) -> str:
    # By name: media.worker imports this module, so its exception classes cannot be imported.
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "JoinAborted" in names:
        return "aborted"
    if "MediaError" in names:
        return "refused"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "error"


def timed_join(join: J) -> J:
    """Count ``MediaWorker.join`` by outcome and time the successful ones (offer to answer)."""

    @functools.wraps(join)
    async def timed(
        self: Any, space_id: Any, user_id: Any, role: str, offer_sdp: str, **kwargs: Any
    ) -> str:
        started = time.perf_counter()
        labels = (
            role if role in ("speaker", "listener") else "invalid",
            EDGE if kwargs.get("edge") else ORIGIN,
        )
        try:
            answer = await join(self, space_id, user_id, role, offer_sdp, **kwargs)
        except BaseException as exc:
            JOINS.labels(*labels, _join_result(exc)).inc()
            raise
        JOIN_SECONDS.labels(*labels).observe(time.perf_counter() - started)
        JOINS.labels(*labels, "ok").inc()
        return answer

    return timed  # type: ignore[return-value]


# -- gauges, read when scraped -------------------------------------------------------------------


_workers: weakref.WeakSet[Any] = weakref.WeakSet()
"""The live media.worker.MediaWorker instances of this process."""


def watch(worker: Any) -> None:
    """Report this worker's Spaces and connections (held weakly: a closed worker goes away)."""
    _workers.add(worker)


def worker_gauges(worker: Any) -> dict[str, dict[str, int]]:
    """Spaces, listener connections (joins in progress included) and stage members, by kind.

    Read from another thread while the loop runs (the web process's scrape): the structures
    are copied first and a change mid-copy is read again."""
    for _ in range(3):
        try:
            origins = list(worker._origins.values())
            out = {
                "spaces": {ORIGIN: 0, EDGE: 0},
                "listeners": {ORIGIN: 0, EDGE: 0},
                "stage": {ORIGIN: 0},
            }
            for origin in origins:
                kind = EDGE if origin.relay else ORIGIN
                members = list(origin.members.values())
                out["spaces"][kind] += 1
                out["listeners"][kind] += len(origin.pending) + sum(
                    1 for m in members if m.role == "listener"
                )
                if kind == ORIGIN:
                    out["stage"][ORIGIN] += sum(1 for m in members if m.role != "listener")
            return out
        except RuntimeError:  # changed size during iteration: read again
            continue
    return {}


class MediaCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        spaces = GaugeMetricFamily(
            "spaces_media_spaces",
            "Spaces with a connection on this worker: mixed here (origin) or relayed (edge).",
            labels=["kind"],
        )
        listeners = GaugeMetricFamily(
            "spaces_media_listeners",
            "WebRTC listener connections on this worker, joins in progress included (HLS "
            "listeners cost the worker nothing: spaces_listeners{mode='hls'}).",
            labels=["kind"],
        )
        stage = GaugeMetricFamily(
            "spaces_media_stage_members",
            "Stage members (host, co-hosts, speakers) connected to the origins on this worker.",
            labels=["kind"],
        )
        totals: dict[str, dict[str, int]] = {
            "spaces": {ORIGIN: 0, EDGE: 0},
            "listeners": {ORIGIN: 0, EDGE: 0},
            "stage": {ORIGIN: 0},
        }
        for worker in list(_workers):
            for name, by_kind in worker_gauges(worker).items():
                for kind, value in by_kind.items():
                    totals[name][kind] += value
        for family, name in ((spaces, "spaces"), (listeners, "listeners"), (stage, "stage")):
            for kind, value in totals[name].items():
                family.add_metric([kind], value)
        yield spaces
        yield listeners
        yield stage


REGISTRY.register(MediaCollector())


# -- the worker's HTTP endpoint ------------------------------------------------------------------

ReadyCheck = Callable[[], Awaitable[Mapping[str, Any]]]
"""Each check's name and its result: True, or a string saying what failed."""

REQUEST_LIMIT = 8192
READ_SECONDS = 5.0


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _json(status: str, payload: Mapping[str, Any]) -> bytes:
    return _response(status, "application/json", json.dumps(payload).encode())


async def readiness(ready: ReadyCheck) -> tuple[bool, dict[str, Any]]:
    try:
        results = dict(await ready())
    except Exception as exc:
        results = {"ready": f"{type(exc).__name__}: {exc}"}
    checks = {
        name: {"ok": True} if value is True else {"ok": False, "error": str(value)}
        for name, value in results.items()
    }
    ok = bool(checks) and all(c["ok"] for c in checks.values())
    return ok, {"status": "ok" if ok else "fail", "checks": checks}


async def _handle(
    ready: ReadyCheck, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_SECONDS)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            return
        parts = head.split(b"\r\n", 1)[0].split()
        method, path = (parts[0], parts[1].split(b"?", 1)[0]) if len(parts) >= 2 else (b"", b"")
        if method not in (b"GET", b"HEAD"):
            out = _response("405 Method Not Allowed", "text/plain", b"GET only\n")
        elif path == b"/metrics":
            # Served on the media loop: a scrape costs the loop about a millisecond.
            out = _response("200 OK", CONTENT_TYPE_LATEST, generate_latest(REGISTRY))
        elif path == b"/healthz":
            # Answered by the media loop itself: a stalled loop fails this probe.
            out = _json("200 OK", {"status": "ok", "pid": os.getpid()})
        elif path == b"/readyz":
            ok, payload = await readiness(ready)
            out = _json("200 OK" if ok else "503 Service Unavailable", payload)
        else:
            out = _response("404 Not Found", "text/plain", b"/metrics, /healthz or /readyz\n")
        if method == b"HEAD":
            out = out.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        writer.write(out)
        await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def serve(host: str, port: int, ready: ReadyCheck) -> asyncio.Server:
    """``/metrics``, ``/healthz`` (the loop answers) and ``/readyz`` (``ready``) on host:port."""
    return await asyncio.start_server(
        functools.partial(_handle, ready), host, port, limit=REQUEST_LIMIT
    )
