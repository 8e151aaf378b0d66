"""The output shapes that the API, the Space socket and the home feed share, and the one
`space.state` snapshot that the Space page and the socket send.

A serializer here renders what a selector read; it decides nothing. `ref_name`s are the schema's
component names: clients generate code from them, so they do not change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_args

from rest_framework import serializers

from accounts.models import User
from spaces import hooks, selectors
from spaces.hooks import TICKET_BADGE_ATTR, TicketAction
from spaces.models import (
    Invitation,
    ListenMode,
    ModerationAction,
    Participant,
    Space,
    SpeakerRequest,
)
from spaces.permissions import CAN_KEYS
from spaces_project import bus

# The raised hands a snapshot carries at most: a crowd of hands must not make every moderator's
# snapshot (and the page) unbounded. The API lists them all, paginated.
MAX_PENDING_REQUESTS_IN_SNAPSHOT = 100


class SpaceUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()

    class Meta:
        ref_name = "SpaceUser"


class SpaceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    topics = serializers.ListField(child=serializers.CharField())
    state = serializers.ChoiceField(choices=Space.State.choices)
    speaking_policy = serializers.ChoiceField(choices=Space.SpeakingPolicy.choices)
    captions_enabled = serializers.BooleanField()
    recording_enabled = serializers.BooleanField(
        help_text="The host records this Space (each stage member may keep their voice out)."
    )
    clips_enabled = serializers.BooleanField(help_text="People who hear it may clip it.")
    comments_enabled = serializers.BooleanField(help_text="Text comments are on.")
    comment_slow_mode_seconds = serializers.IntegerField(
        help_text="Slow mode: one comment per this many seconds per person (0: off)."
    )
    stage_locked = serializers.BooleanField(
        help_text="The host locked the stage: no new raised hands (invitations still work)."
    )
    is_ticketed = serializers.BooleanField()
    host = SpaceUserSerializer()
    listener_count = serializers.IntegerField(
        help_text="Listeners present now, guests (no account) included."
    )
    guest_count = serializers.IntegerField(
        help_text="Of `listener_count`, how many listen without an account (guests)."
    )
    guests_allowed = serializers.BooleanField(
        help_text="People without an account may listen (a public, non-ticketed live Space, "
        "unless the host turned it off)."
    )
    noise_suppression = serializers.BooleanField(
        help_text="The media server suppresses background noise in every speaker's audio "
        "before the mix (the host's switch; off by default)."
    )
    speaker_count = serializers.IntegerField(help_text="Speakers on stage (not host, co-hosts).")
    cohost_count = serializers.IntegerField()
    max_speakers = serializers.IntegerField()
    max_cohosts = serializers.IntegerField()
    peak_listener_count = serializers.IntegerField()
    total_joined_count = serializers.IntegerField()
    scheduled_for = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "Space"


class ParticipantSerializer(serializers.Serializer):
    user = SpaceUserSerializer()
    role = serializers.ChoiceField(choices=Participant.Role.choices)
    state = serializers.ChoiceField(choices=Participant.State.choices)
    is_muted = serializers.BooleanField()
    muted_by_host = serializers.BooleanField(help_text="Muted by the host or a co-host.")
    voice_recorded = serializers.BooleanField(
        help_text="False: this stage member keeps their voice out of the recording."
    )
    listen_mode = serializers.ChoiceField(
        source="effective_listen_mode",
        choices=ListenMode.choices,
        help_text="`webrtc`: hears the Space in real time (always, on stage); `hls`: a few "
        "seconds behind, over live HLS.",
    )
    joined_at = serializers.DateTimeField()
    role_since = serializers.DateTimeField()
    cohost_since = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "SpaceParticipant"


class TicketBadgeSerializer(serializers.Serializer):
    """A ticketed Space's tickets as you stand: what its card's badge shows."""

    price = serializers.IntegerField(help_text="Minor units (cents) of `currency`.")
    currency = serializers.CharField(help_text="ISO 4217, lower case.")
    price_display = serializers.CharField(help_text='The price for people: "$5.00".')
    capacity = serializers.IntegerField()
    seats_left = serializers.IntegerField()
    seats_display = serializers.CharField(
        allow_blank=True,
        help_text='"3 of 10 seats left" while on sale; empty when not shown (live, sold out).',
    )
    action = serializers.ChoiceField(
        choices=list(get_args(TicketAction)),
        help_text=(
            "What you can do: `sales` (you host it: see the sales), `held` (you have a ticket), "
            "`finish_paying` (your reservation awaits payment), `buy`, `sold_out`, "
            "`holders_only` (sales are over: only ticket holders enter)."
        ),
    )
    url = serializers.CharField(
        allow_blank=True, help_text="The page `action` leads to on the site; empty for none."
    )

    class Meta:
        ref_name = "SpaceTicketBadge"


# `ticket` reads the badge that `hooks.ticket_badges_attach` set (one read per list):
# `bubbles_data` does both.
class BubbleSpaceSerializer(serializers.Serializer):
    space = SpaceSerializer(source="*")
    followed_on_stage_count = serializers.IntegerField(
        help_text="How many people you follow are on stage."
    )
    followed_on_stage = ParticipantSerializer(
        many=True, help_text="The people you follow on stage, host first."
    )
    ticket = TicketBadgeSerializer(
        source=TICKET_BADGE_ATTR,
        allow_null=True,
        help_text="The Space's tickets as you stand; null for a free Space.",
    )

    class Meta:
        ref_name = "SpaceInBubble"


def bubbles_data(spaces: Sequence[Space], viewer: User) -> Any:
    """The bubbles of `spaces` as `viewer` sees them (the API's following list, the feed's
    `bubbles`): their ticket badges read in one go for the list, then serialized."""
    hooks.ticket_badges_attach(viewer=viewer, spaces=spaces)
    return BubbleSpaceSerializer(spaces, many=True).data


class LiveSpaceSerializer(SpaceSerializer):
    """A live Space in the live list: the fields of `Space` and its tickets as you stand."""

    # Its own name: `ticket` is read only for a list (`live_spaces_data`), so the `Space` of the
    # detail, the start answer and the bubbles does not carry a field they would leave null.
    ticket = TicketBadgeSerializer(
        source=TICKET_BADGE_ATTR,
        allow_null=True,
        help_text="The Space's tickets as you stand; null for a free Space.",
    )

    class Meta:
        ref_name = "LiveSpace"


def live_spaces_data(spaces: Sequence[Space], viewer: User) -> Any:
    """The live list's rows as `viewer` sees them: ticket badges read in one go, then
    serialized."""
    hooks.ticket_badges_attach(viewer=viewer, spaces=spaces)
    return LiveSpaceSerializer(spaces, many=True).data


class SpeakerRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    user = SpaceUserSerializer()
    state = serializers.ChoiceField(choices=SpeakerRequest.State.choices)
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "SpeakerRequest"


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Invitation.Kind.choices)
    state = serializers.ChoiceField(choices=Invitation.State.choices)
    inviter = SpaceUserSerializer(allow_null=True)
    invitee = SpaceUserSerializer()
    created_at = serializers.DateTimeField()
    responded_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "SpaceInvitation"


class PinSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    url = serializers.CharField(allow_blank=True)
    author = SpaceUserSerializer()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "SpacePin"


CanSerializer = type(
    "CanSerializer",
    (serializers.Serializer,),
    {
        **{key: serializers.BooleanField() for key in CAN_KEYS},
        "Meta": type("Meta", (), {"ref_name": "SpaceCan"}),
        "__doc__": (
            "For each action, whether the server would accept it from you now (and it would "
            "change something). `moderate`: approve/deny, invite speakers, demote, mute, "
            "remove, unpin others' pins; `manage_cohosts`: invite and revoke co-hosts."
        ),
    },
)


class RecordingStateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["recording", "ready", "deleted"],
        help_text="`recording` while live (the REC badge), `ready` once it is a replay.",
    )
    started_at = serializers.DateTimeField()

    class Meta:
        ref_name = "SpaceRecordingState"


class CommentPartSerializer(serializers.Serializer):
    text = serializers.CharField()
    url = serializers.CharField(required=False, help_text="An http(s) link: draw `text` as it.")
    mention = serializers.IntegerField(
        required=False, help_text="The user id `text` (@name) mentions: link to their profile."
    )

    class Meta:
        ref_name = "SpaceCommentPart"


class CommentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    author = SpaceUserSerializer()
    text = serializers.CharField()
    parts = CommentPartSerializer(
        many=True, help_text="The text as runs to draw in order: plain, links and mentions."
    )
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "SpaceComment"


class HlsInfoSerializer(serializers.Serializer):
    url = serializers.CharField(
        help_text="The live HLS playlist (relative to the site, or absolute on a CDN)."
    )
    segment_seconds = serializers.FloatField()

    class Meta:
        ref_name = "SpaceLiveHls"


class SpaceDetailSerializer(serializers.Serializer):
    space = SpaceSerializer()
    recording = RecordingStateSerializer(
        allow_null=True, help_text="The Space's recording once its first seconds are stored."
    )
    stage = ParticipantSerializer(
        many=True, help_text="Host, then co-hosts by seniority, then speakers, with mute flags."
    )
    listeners_sample = ParticipantSerializer(many=True, help_text="Latest listeners to join.")
    pins = PinSerializer(many=True)
    comments = CommentSerializer(
        many=True,
        help_text="The latest comments (at most 50), oldest first; none of people you blocked.",
    )
    reaction_counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="Reactions so far by code."
    )
    me = ParticipantSerializer(allow_null=True, help_text="Your place in the Space, if any.")
    pending_request_id = serializers.IntegerField(
        allow_null=True, help_text="Your raised hand, if any."
    )
    invitations = InvitationSerializer(many=True, help_text="Your open invitations.")
    can = CanSerializer()
    listen_mode = serializers.ChoiceField(
        choices=ListenMode.choices,
        allow_null=True,
        help_text="How you hear the Space (`me.listen_mode`); null when you are not in it.",
    )
    hls = HlsInfoSerializer(
        allow_null=True,
        help_text="The live playlist, for someone in a live Space with live HLS (else null).",
    )

    class Meta:
        ref_name = "SpaceDetail"


class ModerationActionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.ChoiceField(choices=ModerationAction.Action.choices)
    actor = SpaceUserSerializer(allow_null=True)
    target = SpaceUserSerializer(allow_null=True)
    details = serializers.JSONField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "ModerationAction"


class CaptionLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    speaker = SpaceUserSerializer(allow_null=True)
    text = serializers.CharField()
    started_at = serializers.DateTimeField()

    class Meta:
        ref_name = "CaptionLine"


# --- The `space.state` snapshot -----------------------------------------------------------------


@dataclass(frozen=True)
class SpaceSnapshot:
    """A Space as `viewer` sees it now: the detail, the open raised hands (host and co-hosts
    only, else None) and `state`, the `space.state` message (docs/realtime.md)."""

    detail: selectors.SpaceDetail
    requests: list[SpeakerRequest] | None
    state: dict[str, Any]


def last_host_change(space_id: int) -> dict[str, Any] | None:
    """The latest handover, from the moderation log: a client that learns of it only from a
    snapshot (a new host whose refresh overtook `host.changed`, anyone who reconnects) still
    knows why the host changed and from whom. None when the host never changed."""
    row = (
        ModerationAction.objects.filter(
            space_id=space_id, action=ModerationAction.Action.HOST_CHANGED
        )
        .order_by("-pk")
        .values("details", "target_id", "created_at")
        .first()
    )
    if row is None:
        return None
    return {
        "reason": row["details"].get("reason"),
        "previous_host_id": row["details"].get("previous_host_id"),
        "new_host_id": row["target_id"],
        "at": row["created_at"],
    }


def space_snapshot(*, viewer: User, space_id: int) -> SpaceSnapshot:
    """Everything a client needs to draw the Space for `viewer`, with the current `seq`.

    The seq is read before the database (spaces_project/bus.py): every event numbered at or
    below it is already reflected here. `state` is the REST detail (GET /api/v1/spaces/<id>),
    what the viewer may do to others (`seat_actions`, `role_actions`, `successors`) and the
    oldest `MAX_PENDING_REQUESTS_IN_SNAPSHOT` raised hands for the host and co-hosts (else
    null), as plain JSON values.
    """
    seq = bus.current_seq(space_id)
    detail = selectors.space_detail(viewer=viewer, space_id=space_id)
    requests = None
    if detail.can["moderate"]:
        pending = selectors.speaker_requests_pending(viewer=viewer, space_id=space_id)
        requests = list(pending[:MAX_PENDING_REQUESTS_IN_SNAPSHOT])
    state: dict[str, Any] = {"type": "space.state", "space_id": space_id, "seq": seq}
    state.update(SpaceDetailSerializer(detail).data)
    state.update(selectors.space_state_extras(detail))
    state["requests"] = (
        None if requests is None else SpeakerRequestSerializer(requests, many=True).data
    )
    state["last_host_change"] = last_host_change(space_id)
    return SpaceSnapshot(detail, requests, json.loads(json.dumps(state, default=str)))


def guest_snapshot(*, space_id: int) -> SpaceSnapshot:
    """The `space.state` of a guest (no account, issue 20): the room as anyone sees it, the live
    playlist, `can` all false, no `me`, and `guest: true`. Refused (ApplicationError) when
    the Space does not take guests (selectors.space_for_guest). The seq is read first, as in
    `space_snapshot`."""
    seq = bus.current_seq(space_id)
    detail = selectors.space_detail_for_guest(space_id=space_id)
    state: dict[str, Any] = {"type": "space.state", "space_id": space_id, "seq": seq}
    state.update(SpaceDetailSerializer(detail).data)
    state.update(selectors.space_state_extras(detail))
    state["requests"] = None
    state["last_host_change"] = last_host_change(space_id)
    state["guest"] = True
    return SpaceSnapshot(detail, None, json.loads(json.dumps(state, default=str)))
