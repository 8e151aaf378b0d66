"""Where reaction taps wait in the cache before `services.reaction_counts_flush` adds them to
ReactionCount. Shared by the services (which count and flush) and the selectors (which add the
pending taps to the flushed totals)."""

from __future__ import annotations

from django.core.cache import cache

from spaces.models import Reaction


def pending_key(space_id: int, code: str) -> str:
    return f"spaces:reactions:{space_id}:{code}"


def pending_keys(space_id: int) -> dict[str, str]:
    return {code: pending_key(space_id, code) for code in Reaction.values}


def pending_counts(space_id: int) -> dict[str, int]:
    """Taps counted in the cache and not yet flushed, by code (codes with none left out)."""
    keys = pending_keys(space_id)
    found = cache.get_many(list(keys.values()))
    return {code: int(found[key]) for code, key in keys.items() if found.get(key)}
