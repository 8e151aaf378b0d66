"""How each listener hears a live Space: real time over WebRTC, or live HLS from a CDN.

A WebRTC listener costs a media worker CPU for every packet (bench/RESULTS.md); an HLS listener
costs us nothing, since a static server or CDN serves the segments the origin writes anyway
(media/live.py). So a Space seats at most `SPACES_WEBRTC_LISTENERS_MAX` real-time listeners;
whoever joins past that hears it over HLS, a few seconds behind. A listener may also choose the
delay ("Listen with a delay, use less data"), and switch back while there is room.

The choice is made under the Space lock that every join takes, so the limit is exact however many
join at once. It is stored on the participant (`listen_mode`, and the listener's own choice in
`listen_delay`), so it survives reconnects and shows in the snapshot and in every participant
shape. The stage is always real time: a listener brought on stage speaks over WebRTC, and when
they step down they hear the Space as they did before. The media bridge refuses a WebRTC offer
from an HLS listener and closes the connection of one who moves to HLS (spaces/audio/bridge.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from media.live import PLAYLIST, SEGMENT_TICKS
from spaces import events
from spaces.access import access_space
from spaces.models import ListenMode, Participant, Space, live_prefix
from spaces.permissions import check_listen_mode, ensure
from spaces_project import storage
from spaces_project.errors import Conflict, ValidationFailed

SEGMENT_SECONDS = SEGMENT_TICKS * 0.02
# Players still fetching the last seconds after `space.ended` find them for this long.
LIVE_KEEP_AFTER_END_SECONDS = 60
_FOLDER = re.compile(r"^(\d{1,18})-[0-9a-f]+$")


@dataclass(frozen=True)
class HlsInfo:
    url: str
    """The live playlist: relative to the site, or absolute (a CDN)."""
    segment_seconds: float = SEGMENT_SECONDS


def hls_enabled() -> bool:
    return bool(settings.SPACES_HLS_ENABLED)


def hls_url(space_id: int) -> str:
    """Where players fetch the Space's live playlist: `SPACES_HLS_URL` in front of the folder
    the origin writes (`live_prefix`, which already starts with `live/`)."""
    base = str(settings.SPACES_HLS_URL).rstrip("/")
    folder = live_prefix(space_id).removeprefix("live/")
    return f"{base}/{folder}/{PLAYLIST}"


def hls_info(space: Space, me: Participant | None) -> HlsInfo | None:
    """The live playlist, for someone present in a live Space that has one: the URL is a
    capability (a CDN checks no tickets), so it goes only to those who were let in."""
    if not hls_enabled() or not space.is_live or me is None or not me.is_present:
        return None
    return HlsInfo(hls_url(space.pk))


def _webrtc_room(space: Space, *, excluding: Participant | None = None) -> bool:
    """Whether one more real-time listener fits (under the Space lock)."""
    taken = Participant.objects.filter(
        space=space,
        role=Participant.Role.LISTENER,
        state=Participant.State.PRESENT,
        listen_mode=ListenMode.WEBRTC,
    )
    if excluding is not None and excluding.pk is not None:
        taken = taken.exclude(pk=excluding.pk)
    return taken.count() < settings.SPACES_WEBRTC_LISTENERS_MAX


def assign_on_join(space: Space, participant: Participant) -> None:
    """Set a (re)joining listener's mode, before the row is saved, under the Space lock: their
    own choice of a delay, else real time while there is room, else HLS."""
    if not hls_enabled():
        participant.listen_mode = ListenMode.WEBRTC
    elif participant.listen_delay or not _webrtc_room(space, excluding=participant):
        participant.listen_mode = ListenMode.HLS
    else:
        participant.listen_mode = ListenMode.WEBRTC


def listen_mode_set(*, actor: User, space_id: int, mode: str) -> Participant:
    """A listener chooses how to hear the Space: `hls` (a delay, less data) or `webrtc` (real
    time, while the Space has room: else 409 `webrtc_full` and nothing changes). Choosing the
    mode you have changes nothing and publishes nothing (a double click)."""
    if mode not in ListenMode.values:
        raise ValidationFailed(
            gettext("One of: hls, webrtc."), fields={"mode": [gettext("One of: hls, webrtc.")]}
        )
    with transaction.atomic():
        space, me = access_space(user=actor, space_id=space_id, lock=True)
        ensure(check_listen_mode(space, me, hls=hls_enabled()))
        assert me is not None  # the check refuses a missing participant
        delay = mode == ListenMode.HLS
        if me.listen_mode == mode and me.listen_delay == delay:
            return me
        if mode == ListenMode.WEBRTC and me.listen_mode != mode and not _webrtc_room(space):
            raise Conflict(
                gettext(
                    "Real-time listening is full in this Space: you hear it with a short delay."
                ),
                code="webrtc_full",
            )
        changed = me.listen_mode != mode
        me.listen_mode, me.listen_delay = mode, delay
        me.save(update_fields=["listen_mode", "listen_delay"])
        if changed:
            events.publish(space, events.LISTEN_MODE_CHANGED, participant=events.participant(me))
    return me


def live_sweep(*, now: datetime | None = None) -> int:
    """Delete the live HLS folders of Spaces that are no longer live (a minute after the end,
    or at once for a folder no Space owns): the writer deletes old segments as it goes, this
    removes what is left once nobody writes. Returns the number of folders deleted."""
    store = storage.live()
    try:
        folders, _ = store.listdir("live")
    except FileNotFoundError:
        return 0
    owners = {f: int(m.group(1)) for f in folders if (m := _FOLDER.match(f))}
    cutoff = (now or timezone.now()) - timedelta(seconds=LIVE_KEEP_AFTER_END_SECONDS)
    keep = set(
        Space.objects.filter(pk__in=set(owners.values()), state=Space.State.LIVE).values_list(
            "pk", flat=True
        )
    ) | set(
        Space.objects.filter(pk__in=set(owners.values()), ended_at__gt=cutoff).values_list(
            "pk", flat=True
        )
    )
    deleted = 0
    for folder in folders:
        owner = owners.get(folder)
        if owner in keep and f"live/{folder}" == live_prefix(owner):
            continue
        storage.delete_tree(store, f"live/{folder}")
        deleted += 1
    return deleted
