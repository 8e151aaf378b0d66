"""Prometheus metrics of the Django processes (web, Celery) and what the apps register into them.

Three kinds of figures:

- counters and histograms kept by the code that does the work, in prometheus_client's default
  registry: requests and database queries (django-prometheus), the hub's event fan-out
  (``EVENT_FANOUT_SECONDS``), Celery tasks (``spaces_project.celery``), and in the embedded
  shape the media worker's own (``media.metrics``);
- **samplers**: gauges read when scraped, registered by the apps from their
  ``AppConfig.ready()`` (``register_sampler``), so this package names no app: live Spaces and
  listeners by mode (``spaces``), this process's sockets (``spaces``), and **backlogs**
  (``register_backlog``): work that is due and not done yet, with the age of its oldest item
  (reminders from ``scheduling``, go-live alerts from ``alerts``);
- nothing else: a figure that needs its own thread or timer does not belong here.

Samplers that read the database describe the whole deployment, not the process: every web and
Celery process reports the same value (aggregate them with ``max``, never ``sum``), read once per
``METRICS_SAMPLE_SECONDS`` by the whole deployment and shared through the cache, so a scrape
costs a handful of queries at most that often however many processes are scraped. They are
in ``registry()``, which the web view and the Celery endpoint serve, never in the default
registry: the media worker serves that one from its event loop, which must not query.

Names, types, labels: docs/operations.md.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from prometheus_client import REGISTRY, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

disable_created_metrics()  # as media/metrics.py: no `*_created` series

EVENT_FANOUT_SECONDS = Histogram(
    "spaces_event_fanout_seconds",
    "Time one room event takes to reach every socket of this process in its Space (the hub's "
    "fan-out: the frame built once, then written to each socket). Its count is the events "
    "fanned out.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)

Samples = Mapping[tuple[str, ...], float]
"""A gauge's values by their label values (``{(): 3.0}`` for a gauge without labels)."""


@dataclass(frozen=True)
class Sampler:
    name: str
    documentation: str
    labels: tuple[str, ...]
    read: Callable[[], Samples]
    cached: bool
    """Deployment-wide (read from the database): cached for METRICS_SAMPLE_SECONDS."""


@dataclass(frozen=True)
class Backlog:
    count: int
    """Items due and not done."""
    oldest_seconds: float
    """How long the oldest of them has been due (0 when none)."""


_samplers: dict[str, Sampler] = {}
_backlogs: dict[str, Callable[[], Backlog]] = {}
_cache: dict[str, tuple[float, Samples]] = {}
_cache_lock = threading.Lock()


def register_sampler(
    name: str,
    documentation: str,
    read: Callable[[], Samples],
    *,
    labels: Iterable[str] = (),
    cached: bool = False,
) -> None:
    """A gauge read when scraped. ``cached``: it reads the database (the deployment's state)."""
    _samplers[name] = Sampler(name, documentation, tuple(labels), read, cached)


def register_backlog(queue: str, read: Callable[[], Backlog]) -> None:
    """Work that is due and not done: ``spaces_backlog{queue}`` and its oldest item's age."""
    _backlogs[queue] = read


def _read_cached(key: str, read: Callable[[], Samples], cached: bool) -> Samples:
    """A deployment-wide gauge, read once per METRICS_SAMPLE_SECONDS by the whole deployment:
    the value is shared through the cache (Redis in the distributed shape), so 200 web
    processes scraped every 15 s still count a million-row table once per period, not 200
    times. The process keeps its own copy for the same period (a scrape touches the cache
    once), and reads the database itself when the cache fails."""
    if not cached:
        return read()
    ttl = float(getattr(settings, "METRICS_SAMPLE_SECONDS", 5.0))
    if ttl <= 0:
        return read()
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
    shared_key = f"metrics:sample:{key}"
    value: Samples | None = None
    try:
        found = cache.get(shared_key)
        if isinstance(found, list):
            value = {tuple(labels): float(v) for labels, v in found}
    except Exception:
        logger.warning("metrics: the cache did not answer for %s", key, exc_info=True)
    if value is None:
        value = read()
        try:
            cache.set(shared_key, [[list(k), v] for k, v in value.items()], ttl)
        except Exception:
            logger.warning("metrics: could not share %s through the cache", key, exc_info=True)
    with _cache_lock:
        _cache[key] = (now, value)
    return value


def _read_backlogs() -> Samples:
    out: dict[tuple[str, ...], float] = {}
    for queue, read in sorted(_backlogs.items()):
        try:
            backlog = read()
        except Exception:
            logger.warning("metrics: backlog %s could not be read", queue, exc_info=True)
            continue
        out[("count", queue)] = float(backlog.count)
        out[("oldest", queue)] = float(backlog.oldest_seconds)
    return out


class SamplerCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        for sampler in list(_samplers.values()):
            try:
                values = _read_cached(sampler.name, sampler.read, sampler.cached)
            except Exception:
                # A scrape still answers (the database may be what is down): this gauge is
                # missing from it, which an alert on absent() sees.
                logger.warning("metrics: %s could not be read", sampler.name, exc_info=True)
                continue
            family = GaugeMetricFamily(
                sampler.name, sampler.documentation, labels=list(sampler.labels)
            )
            for label_values, value in sorted(values.items()):
                family.add_metric(list(label_values), value)
            yield family
        if not _backlogs:
            return
        try:
            backlogs = _read_cached("spaces_backlog", _read_backlogs, True)
        except Exception:
            logger.warning("metrics: backlogs could not be read", exc_info=True)
            return
        count = GaugeMetricFamily(
            "spaces_backlog",
            "Items due and not done yet, by queue (reminders: notifications past their due "
            "time; golive_alerts: go-live fan-outs and sends still running).",
            labels=["queue"],
        )
        oldest = GaugeMetricFamily(
            "spaces_backlog_oldest_seconds",
            "How long the oldest item of the queue has been due (0 when the queue is empty).",
            labels=["queue"],
        )
        for (kind, queue), value in sorted(backlogs.items()):
            (count if kind == "count" else oldest).add_metric([queue], value)
        yield count
        yield oldest


class _Registry:
    """The default registry and the samplers, as one ``collect()`` for the exposition."""

    def __init__(self, *collectors: Any) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


_samplers_collector = SamplerCollector()


def registry(base: Any = None) -> _Registry:
    """What a Django process serves: ``base`` (the default registry, or a Celery prefork
    worker's multiprocess collector) and the samplers."""
    return _Registry(REGISTRY if base is None else base, _samplers_collector)


def reset_cache() -> None:
    with _cache_lock:
        _cache.clear()


# -- who may read /metrics -----------------------------------------------------------------------


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for raw in getattr(settings, "METRICS_ALLOWED_IPS", ()):
        try:
            nets.append(ipaddress.ip_network(str(raw).strip(), strict=False))
        except ValueError:
            logger.warning("METRICS_ALLOWED_IPS: %r is not an address or network", raw)
    return nets


def allowed(remote_addr: str | None, authorization: str | None) -> bool:
    """A scraper with the bearer token (``METRICS_BEARER_TOKEN``), or from an allowed address.

    The address is the one the server saw (``REMOTE_ADDR``; behind trusted proxies Daphne takes
    it from X-Forwarded-For): scrape each process directly, not through the public proxy."""
    token = str(getattr(settings, "METRICS_BEARER_TOKEN", "") or "")
    if token and authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return True
    if not remote_addr:
        return False
    try:
        address = ipaddress.ip_address(remote_addr.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in _networks())
