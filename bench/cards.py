"""Link-preview cards: what drawing one costs, against serving one from the cache.

    .venv/bin/python bench/cards.py --json [--rounds 40] [--redis-url redis://127.0.0.1:6379/13]

Draws `--rounds` different cards (each a new key, so none comes from the cache) of four kinds:
a live Space with a plain title, a long title that wraps and is cut, a right-to-left title with
emoji, a profile with a bio; then asks `spaces_project.previews.card_png` for each again (the
cache hit a crawler's second request costs). Without `--redis-url` the cache is the in-process
one (locmem), with it Django's Redis cache as deployed (`spaces_project/cache.py`).

Reported: render (wall and CPU) and cache-hit milliseconds, p50 and p95 per kind, the PNG
sizes, and the machine's load average (wall figures on a busy box are CPU time plus waiting).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _setup(redis_url: str) -> None:
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    import django

    django.setup()


def _cards(kind: str, n: int) -> Any:
    from spaces_project.cards import Card

    if kind == "live":
        return Card(
            tone="live",
            title=f"Friday night synths #{n}",
            badge="LIVE",
            name="Ada Lovelace",
            handle="ada",
            count="1.2K listening",
        )
    if kind == "long":
        return Card(
            tone="live",
            title=f"{n} " + "modular patches, live jams and your questions " * 6,
            badge="LIVE",
            name="Ada Lovelace",
            handle="ada",
            count="34K listening",
        )
    if kind == "rtl_emoji":
        return Card(
            tone="scheduled",
            title=f"שלום עולם {n}: שיחה על מוזיקה 🎶 ועל החיים 👩‍👩‍👧 🇫🇷",
            badge="Scheduled · Tue 8 Dec, 18:00 CET",
            name="דנה",
            handle="dana",
        )
    return Card(
        tone="profile",
        title=f"Ada Lovelace {n}",
        badge="Profile",
        handle="ada",
        count="1.2K followers",
        body="Mathematician. Writes the first programs. Hosts weekly Spaces about engines 🛠️",
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    _setup(args.redis_url)

    from django.conf import settings
    from django.core.cache import cache

    from spaces_project import previews
    from spaces_project.cards import render_card

    render_card(_cards("live", -1))  # fonts, the background: once per process
    report: dict[str, Any] = {
        "rounds": args.rounds,
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        # Figures scale with what else the machine runs: the 1-minute load average before.
        "load_1min": round(os.getloadavg()[0], 2),
        "kinds": {},
    }
    for kind in ("live", "long", "rtl_emoji", "profile"):
        cards = [_cards(kind, n) for n in range(args.rounds)]
        for card in cards:
            cache.delete(previews.CACHE_PREFIX + card.key())
        draws, cpu, hits, sizes = [], [], [], []
        for card in cards:
            start, start_cpu = time.perf_counter(), time.process_time()
            data, hit = previews.card_png(card)
            draws.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            assert not hit
            sizes.append(len(data))
        for card in cards:
            start = time.perf_counter()
            _, hit = previews.card_png(card)
            hits.append((time.perf_counter() - start) * 1000)
            assert hit
        for card in cards:
            cache.delete(previews.CACHE_PREFIX + card.key())
        report["kinds"][kind] = {
            "render_ms_p50": round(statistics.median(draws), 2),
            "render_ms_p95": round(_pct(draws, 0.95), 2),
            # CPU time of the drawing: what wall time would be on an idle core.
            "render_cpu_ms_p50": round(statistics.median(cpu), 2),
            "render_cpu_ms_p95": round(_pct(cpu, 0.95), 2),
            "hit_ms_p50": round(statistics.median(hits), 3),
            "hit_ms_p95": round(_pct(hits, 0.95), 3),
            "png_kb_p50": round(statistics.median(sizes) / 1024, 1),
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for kind, row in report["kinds"].items():
        print(
            f"{kind:10} render p50 {row['render_ms_p50']:7.2f} ms"
            f"  p95 {row['render_ms_p95']:7.2f} ms"
            f"  hit p50 {row['hit_ms_p50']:6.3f} ms  p95 {row['hit_ms_p95']:6.3f} ms"
            f"  {row['png_kb_p50']} KB"
        )


if __name__ == "__main__":
    main()
