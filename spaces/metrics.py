"""What Spaces adds to /metrics and /readyz (registered in spaces/apps.py).

- ``spaces_live``, ``spaces_listeners{mode}``, ``spaces_stage_members``: the deployment's live
  audience, read from the database when scraped (cached, spaces_project/metrics.py);
- ``spaces_hub_sockets``, ``spaces_hub_spaces``: this process's Space sockets, from its hub;
- readiness ``media``: at least one media worker registered in Redis, when media runs out of
  process (``MEDIA_EMBEDDED=0``): without one every offer is refused ``media_unavailable``.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Sum

from spaces.models import ListenMode, Participant, Space
from spaces.realtime import hub as hub_module
from spaces_project.health import Check
from spaces_project.metrics import Samples

STAGE = (Participant.Role.HOST, Participant.Role.COHOST, Participant.Role.SPEAKER)


def live_spaces() -> Samples:
    return {(): float(Space.objects.filter(state=Space.State.LIVE).count())}


def listeners_by_mode() -> Samples:
    """Present listeners of live Spaces: real time (webrtc), live HLS with an account (hls),
    and guests without one, who always hear HLS (hls_guest)."""
    rows = (
        Participant.objects.filter(
            space__state=Space.State.LIVE,
            state=Participant.State.PRESENT,
            role=Participant.Role.LISTENER,
        )
        .values("listen_mode")
        .annotate(n=Count("id"))
    )
    out: dict[tuple[str, ...], float] = {
        (ListenMode.WEBRTC.value,): 0.0,
        (ListenMode.HLS.value,): 0.0,
    }
    for row in rows:
        out[(str(row["listen_mode"]),)] = float(row["n"])
    guests = Space.objects.filter(state=Space.State.LIVE).aggregate(n=Sum("guest_count"))["n"]
    out[("hls_guest",)] = float(guests or 0)
    return out


def stage_members() -> Samples:
    n = Participant.objects.filter(
        space__state=Space.State.LIVE, state=Participant.State.PRESENT, role__in=STAGE
    ).count()
    return {(): float(n)}


def hub_sockets() -> Samples:
    """Space sockets held by this process's hub(s) (one hub per event loop)."""
    sockets = 0
    for found in list(hub_module._hubs.values()):
        for local in list(found.spaces.values()):
            sockets += len(local.members)
    return {(): float(sockets)}


def hub_spaces() -> Samples:
    return {(): float(sum(len(found.spaces) for found in list(hub_module._hubs.values())))}


def media_worker_registered() -> None:
    """At least one live media worker in the registry (spaces/audio/placement.py)."""
    from spaces.audio import placement

    if placement.live_worker_count() < 1:
        raise RuntimeError("no media worker is registered (manage.py media_worker)")


def readiness_checks() -> dict[str, Check]:
    if settings.MEDIA_EMBEDDED or not settings.REDIS_URL:
        return {}
    return {"media": media_worker_registered}
