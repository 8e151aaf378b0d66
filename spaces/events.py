"""Room events: every type a Space sends, and the payload helpers, in one place.

Services call `publish(space, TYPE, **payload)`; the event leaves after the transaction commits
(spaces_project.bus.publish) to the Space's group, `space.<id>`. Every event carries `type`
and `space_id`; events that change who is where also carry `counts`. The realtime issue adds a
per-Space `seq` here, in `publish`, and documents each type in docs/realtime.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spaces_project import bus

if TYPE_CHECKING:
    from accounts.models import User
    from spaces.models import (
        CaptionLine,
        Comment,
        Invitation,
        Participant,
        Pin,
        Space,
        SpeakerRequest,
    )

SPACE_STARTED = "space.started"
SPACE_ENDED = "space.ended"
PARTICIPANT_JOINED = "participant.joined"
PARTICIPANT_LEFT = "participant.left"
PARTICIPANT_REMOVED = "participant.removed"
PARTICIPANT_MUTED = "participant.muted"
PARTICIPANT_UNMUTED = "participant.unmuted"
ROLE_CHANGED = "role.changed"
HAND_RAISED = "hand.raised"
HAND_WITHDRAWN = "hand.withdrawn"
REQUEST_APPROVED = "request.approved"
REQUEST_DENIED = "request.denied"
SPEAKER_INVITED = "speaker.invited"
COHOST_INVITED = "cohost.invited"
INVITATION_DECLINED = "invitation.declined"
INVITATION_CANCELLED = "invitation.cancelled"
COHOST_ADDED = "cohost.added"
COHOST_REMOVED = "cohost.removed"
REACTION_SENT = "reaction.sent"
PIN_ADDED = "pin.added"
PIN_REMOVED = "pin.removed"
CAPTION_ADDED = "caption.added"
CAPTIONS_TOGGLED = "captions.toggled"
# The host role passed to someone else (issue 9). Always after the role events that made it so
# (the old host's `participant.left` or `role.changed`, then the new host's), so a client that
# applies events in `seq` order never sees two hosts.
HOST_CHANGED = "host.changed"
# Recording (issue 18): the first segment is stored; a stage member keeps their voice out of
# the recording or lets it back in; someone clipped the Space.
RECORDING_STARTED = "recording.started"
RECORDING_CONSENT_CHANGED = "recording.consent_changed"
CLIP_CREATED = "clip.created"
# A listener switched between real time (WebRTC) and live HLS (issue 19).
LISTEN_MODE_CHANGED = "listen_mode.changed"
# Comments and the host's live controls (issue 21).
COMMENT_ADDED = "comment.added"
COMMENT_DELETED = "comment.deleted"
COMMENTS_CHANGED = "comments.changed"
SPEAKING_POLICY_CHANGED = "speaking_policy.changed"
STAGE_LOCK_CHANGED = "stage.lock_changed"
# Logged-out listening (issue 20): the host let guests in or stopped them (open guest sockets
# close), and the number of guests listening changed (`counts` carries it, among listeners).
GUESTS_CHANGED = "guests.changed"
GUESTS_COUNTED = "guests.counted"
# The host turned server-side noise suppression of the speakers on or off (issue 23).
NOISE_SUPPRESSION_CHANGED = "noise_suppression.changed"

# Why the host changed (`reason` of `host.changed`, and of the moderation-log entry).
HOST_LEFT = "left"
HOST_TIMEOUT = "timeout"
HOST_RETURNED = "returned"

ALL_TYPES = (
    SPACE_STARTED,
    SPACE_ENDED,
    PARTICIPANT_JOINED,
    PARTICIPANT_LEFT,
    PARTICIPANT_REMOVED,
    PARTICIPANT_MUTED,
    PARTICIPANT_UNMUTED,
    ROLE_CHANGED,
    HAND_RAISED,
    HAND_WITHDRAWN,
    REQUEST_APPROVED,
    REQUEST_DENIED,
    SPEAKER_INVITED,
    COHOST_INVITED,
    INVITATION_DECLINED,
    INVITATION_CANCELLED,
    COHOST_ADDED,
    COHOST_REMOVED,
    REACTION_SENT,
    PIN_ADDED,
    PIN_REMOVED,
    CAPTION_ADDED,
    CAPTIONS_TOGGLED,
    HOST_CHANGED,
    RECORDING_STARTED,
    RECORDING_CONSENT_CHANGED,
    CLIP_CREATED,
    LISTEN_MODE_CHANGED,
    COMMENT_ADDED,
    COMMENT_DELETED,
    COMMENTS_CHANGED,
    SPEAKING_POLICY_CHANGED,
    STAGE_LOCK_CHANGED,
    GUESTS_CHANGED,
    GUESTS_COUNTED,
    NOISE_SUPPRESSION_CHANGED,
)


def user_brief(user: User) -> dict[str, Any]:
    return {"id": user.pk, "username": user.username, "name": user.name}


def counts(space: Space) -> dict[str, int]:
    return {
        "listeners": space.listener_count,
        "speakers": space.speaker_count,
        "cohosts": space.cohost_count,
        "peak_listeners": space.peak_listener_count,
        "total_joined": space.total_joined_count,
        "guests": space.guest_count,
    }


def participant(p: Participant) -> dict[str, Any]:
    return {
        "user": user_brief(p.user),
        "role": p.role,
        "state": p.state,
        "is_muted": p.is_muted,
        "muted_by_host": p.muted_by_host,
        "voice_recorded": p.voice_recorded,
        "listen_mode": p.effective_listen_mode,
    }


def comment(c: Comment) -> dict[str, Any]:
    return {
        "id": c.pk,
        "author": user_brief(c.author),
        "text": c.text,
        "parts": c.parts,
        "created_at": c.created_at.isoformat(),
    }


def speaker_request(r: SpeakerRequest) -> dict[str, Any]:
    return {"id": r.pk, "user": user_brief(r.user), "state": r.state}


def invitation(i: Invitation) -> dict[str, Any]:
    return {"id": i.pk, "kind": i.kind, "invitee": user_brief(i.invitee), "state": i.state}


def pin(p: Pin) -> dict[str, Any]:
    return {
        "id": p.pk,
        "text": p.text,
        "url": p.url,
        "author": user_brief(p.author),
        "created_at": p.created_at.isoformat(),
    }


def caption(line: CaptionLine) -> dict[str, Any]:
    return {
        "id": line.pk,
        "speaker_id": line.speaker_id,
        "text": line.text,
        "started_at": line.started_at.isoformat(),
    }


def publish(space: Space, type_: str, **payload: Any) -> None:
    """Send an event to everyone in the Space once the current transaction commits."""
    assert type_ in ALL_TYPES, type_
    bus.publish(bus.space_group(space.pk), {"type": type_, "space_id": space.pk, **payload})


def publish_role_changed(space: Space, p: Participant, previous_role: str) -> None:
    """`role.changed` for `p`, with the Space's counts (a role change moves them)."""
    publish(
        space,
        ROLE_CHANGED,
        participant=participant(p),
        previous_role=previous_role,
        counts=counts(space),
    )


def publish_to_user(user_id: int, space: Space, type_: str, **payload: Any) -> None:
    """The same event to one user's own sockets (e.g. the removed user, who is no longer in
    the Space's group once their socket learns of it)."""
    assert type_ in ALL_TYPES, type_
    bus.publish(bus.user_group(user_id), {"type": type_, "space_id": space.pk, **payload})
