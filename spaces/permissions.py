"""Who may do what in a Space, in one place.

Each `check_*` returns the refusal the service raises (Forbidden 403 for a role that may not act,
Conflict 409 for a state that refuses it), or None when the action is allowed. Services raise it
(`ensure`); `space_permissions_for` turns the same checks into the `can` map of the Space detail,
so a button on the site or in an app is enabled exactly when the server would accept the action.

Order inside a check: the Space's state first (an ended Space refuses everything with 409), then
the actor's role (403), then the actor's own state (409).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils.translation import gettext as _

from accounts.models import User
from spaces.models import Participant, Space
from spaces_project.errors import (
    ApplicationError,
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
)

Refusal = ApplicationError | None

Role = Participant.Role
STAGE = (Role.HOST, Role.COHOST, Role.SPEAKER)
MODERATORS = (Role.HOST, Role.COHOST)


# --- Connected, and gone: the presence windows the host handover decides by -----------------


def _touch_seconds() -> float:
    return float(getattr(settings, "SPACES_PRESENCE_TOUCH_SECONDS", 15))


def connected_cutoff(now: datetime) -> datetime:
    """Present participants seen since then count as connected. An open socket refreshes
    `last_seen_at` every SPACES_PRESENCE_TOUCH_SECONDS (spaces/realtime/hub.py); twice that leaves
    room for a refresh that runs late."""
    return now - timedelta(seconds=2 * _touch_seconds())


def host_gone_cutoff(now: datetime) -> datetime:
    """A host last seen before this has been gone for at least SPACES_HOST_GRACE_SECONDS: their
    socket may have dropped up to one refresh interval after `last_seen_at`, so the interval is
    added to the grace (a host who is still connected is never handed over)."""
    return now - timedelta(seconds=settings.SPACES_HOST_GRACE_SECONDS + _touch_seconds())


def ensure(refusal: Refusal) -> None:
    if refusal is not None:
        raise refusal


def _present(participant: Participant | None) -> bool:
    return participant is not None and participant.state == Participant.State.PRESENT


def check_live(space: Space) -> Refusal:
    if space.state == Space.State.LIVE:
        return None
    if space.state == Space.State.ENDED:
        return Conflict(_("This Space has ended."), code="space_ended")
    if space.state == Space.State.CANCELLED:
        return Conflict(_("This Space was cancelled."), code="space_cancelled")
    return Conflict(_("This Space has not started yet."), code="space_not_started")


def _not_in_space() -> ApplicationError:
    return Forbidden(_("Join the Space first."), code="not_in_space")


def check_present(participant: Participant | None) -> Refusal:
    """In the Space now: joined and not gone (left, removed or timed out)."""
    return None if _present(participant) else _not_in_space()


def _not_moderator() -> ApplicationError:
    return Forbidden(_("Only the host or a co-host can do this."), code="not_moderator")


def check_view(space: Space, *, blocked_by_host: bool) -> Refusal:
    if blocked_by_host:
        return Forbidden(_("The host has blocked you."), code="blocked")
    return None


def check_join(
    space: Space,
    participant: Participant | None,
    *,
    blocked_by_host: bool,
    lacks_ticket: bool = False,
) -> Refusal:
    """Joining twice is allowed (and changes nothing). `lacks_ticket`: a ticketed Space and
    the user is none of host, co-host, speaker (invited or on stage) or ticket holder (the
    entry rule ticketing registers in spaces.hooks.entry_rules)."""
    if refusal := check_live(space):
        return refusal
    if participant is not None and participant.state == Participant.State.REMOVED:
        return Forbidden(_("You were removed from this Space."), code="removed")
    if blocked_by_host:
        return Forbidden(_("The host has blocked you."), code="blocked")
    if lacks_ticket:
        return Forbidden(_("This Space is ticketed: buy a ticket to join."), code="ticket_required")
    return None


def check_leave(
    space: Space, participant: Participant | None, *, successor_available: bool = False
) -> Refusal:
    """Leaving when not in the Space is allowed (and changes nothing). The host of a live Space
    leaves by handing it over, so only when a co-host can take over (`successor_available`:
    a present, connected co-host; services.space_leave)."""
    if (
        _present(participant)
        and participant.role == Role.HOST  # type: ignore[union-attr]
        and not (space.state == Space.State.LIVE and successor_available)
    ):
        return Conflict(
            _("The host cannot leave a live Space; end it instead."),
            code="host_cannot_leave",
        )
    return None


def check_raise_hand(
    space: Space, participant: Participant | None, *, host_follows_viewer: bool
) -> Refusal:
    if refusal := check_live(space):
        return refusal
    if not _present(participant):
        return _not_in_space()
    assert participant is not None
    if participant.role in STAGE:
        return Conflict(_("You are already on stage."), code="already_speaker")
    if space.stage_locked:
        return Conflict(
            _("The host locked the stage: no new requests for now."), code="stage_locked"
        )
    if space.speaking_policy == Space.SpeakingPolicy.INVITED_ONLY:
        return Forbidden(
            _("Only people the host invites can speak in this Space."), code="speaking_invite_only"
        )
    if space.speaking_policy == Space.SpeakingPolicy.FOLLOWED_BY_HOST and not host_follows_viewer:
        return Forbidden(
            _("Only people the host follows can ask to speak in this Space."),
            code="speaking_followed_only",
        )
    return None


def check_withdraw_hand(space: Space, participant: Participant | None) -> Refusal:
    if refusal := check_live(space):
        return refusal
    if not _present(participant):
        return _not_in_space()
    return None


def check_moderate(space: Space, participant: Participant | None) -> Refusal:
    """Approve or deny requests, invite speakers, move speakers to the audience, mute, remove,
    turn captions on or off, unpin anyone's pin: the host and co-hosts."""
    if refusal := check_live(space):
        return refusal
    if participant is None or participant.role not in MODERATORS:
        return _not_moderator()
    return None


def check_host_only(space: Space, participant: Participant | None, *, what: str) -> Refusal:
    """Manage co-hosts and block account-wide: the host only."""
    if refusal := check_live(space):
        return refusal
    if participant is None or participant.role != Role.HOST:
        return Forbidden(_("Only the host can %(what)s.") % {"what": what}, code="host_only")
    return None


def check_end(space: Space, participant: Participant | None, *, user: User) -> Refusal:
    if refusal := check_live(space):
        return refusal
    is_host = participant is not None and participant.role == Role.HOST
    if not is_host and not user.is_staff:
        return Forbidden(_("Only the host can end the Space."), code="host_only")
    return None


def check_act_on(actor: Participant, target: Participant | None) -> Refusal:
    """Whether moderator `actor` may act on `target` (demote, mute, remove, block)."""
    if target is None:
        return NotFound(_("This user is not in the Space."), code="participant_not_found")
    if target.user_id == actor.user_id:
        return ValidationFailed(_("You cannot do this to yourself."), code="cannot_target_self")
    if target.role == Role.HOST:
        return Forbidden(_("Nobody can do this to the host."), code="cannot_target_host")
    if target.role == Role.COHOST and actor.role != Role.HOST:
        return Forbidden(_("Only the host can do this to a co-host."), code="host_only")
    return None


def check_react(space: Space, participant: Participant | None) -> Refusal:
    if refusal := check_live(space):
        return refusal
    if not _present(participant):
        return _not_in_space()
    return None


def check_pin(space: Space, participant: Participant | None) -> Refusal:
    if refusal := check_live(space):
        return refusal
    if not _present(participant):
        return _not_in_space()
    assert participant is not None
    if participant.role not in STAGE:
        return Forbidden(_("Only the host, co-hosts and speakers can pin."), code="not_on_stage")
    return None


def check_unpin(space: Space, participant: Participant | None, *, author_id: int) -> Refusal:
    if refusal := check_live(space):
        return refusal
    if participant is not None and participant.role in MODERATORS:
        return None
    if _present(participant) and participant.user_id == author_id:  # type: ignore[union-attr]
        return None
    return Forbidden(
        _("Only the author, the host or a co-host can remove this pin."), code="not_pin_author"
    )


def check_comment(space: Space, participant: Participant | None) -> Refusal:
    """Post a text comment: anyone present in a live Space while the host has comments on."""
    if refusal := check_live(space):
        return refusal
    if not _present(participant):
        return _not_in_space()
    if not space.comments_enabled:
        return Conflict(_("The host turned comments off."), code="comments_off")
    return None


def check_delete_comment(
    space: Space, participant: Participant | None, *, author_id: int
) -> Refusal:
    """Delete a comment: its author (while present), the host and co-hosts; also after the
    end, so that a moderator can clean up what stays with the Space."""
    if space.state not in (Space.State.LIVE, Space.State.ENDED):
        return check_live(space)
    if participant is not None and participant.role in MODERATORS:
        return None
    if participant is not None and participant.user_id == author_id:
        return None
    return Forbidden(
        _("Only the author, the host or a co-host can delete this comment."),
        code="not_comment_author",
    )


def check_self_audio(space: Space, participant: Participant | None) -> Refusal:
    """Mute or unmute yourself: anyone on stage."""
    if refusal := check_live(space):
        return refusal
    if not _present(participant):
        return _not_in_space()
    assert participant is not None
    if participant.role not in STAGE:
        return Conflict(_("You are not on stage."), code="not_on_stage")
    return None


def check_step_down(space: Space, participant: Participant | None) -> Refusal:
    if refusal := check_live(space):
        return refusal
    if not _present(participant):
        return _not_in_space()
    assert participant is not None
    if participant.role == Role.HOST:
        return Conflict(
            _("The host cannot step down; end the Space instead."), code="host_cannot_step_down"
        )
    if participant.role not in STAGE:
        return Conflict(_("You are not on stage."), code="not_on_stage")
    return None


def check_share(space: Space, *, blocked_by_host: bool) -> Refusal:
    if space.state not in (Space.State.LIVE, Space.State.SCHEDULED):
        return check_live(space)
    if blocked_by_host:
        return Forbidden(_("The host has blocked you."), code="blocked")
    return None


def check_report(space: Space, participant: Participant | None) -> Refusal:
    """Anyone who was in the Space (also after leaving, being removed, or the end)."""
    if participant is None:
        return Forbidden(_("Only people in the Space can report it."), code="not_in_space")
    return None


def check_view_moderation_log(
    space: Space, participant: Participant | None, *, user: User
) -> Refusal:
    if user.is_staff or (participant is not None and participant.role in MODERATORS):
        return None
    return _not_moderator()


def check_toggle_captions(space: Space, participant: Participant | None) -> Refusal:
    return check_moderate(space, participant)


def check_recording_consent(space: Space, participant: Participant | None) -> Refusal:
    """ "Don't record my voice", or record it again: anyone on stage of a recorded live Space."""
    if refusal := check_live(space):
        return refusal
    if not space.recording_enabled:
        return Conflict(_("This Space is not recorded."), code="recording_off")
    if not _present(participant):
        return _not_in_space()
    assert participant is not None
    if participant.role not in STAGE:
        return Conflict(_("Only people on stage are recorded."), code="not_on_stage")
    return None


def check_listen_mode(space: Space, participant: Participant | None, *, hls: bool) -> Refusal:
    """Choose real time (WebRTC) or live HLS: a listener present in a live Space that has live
    HLS (`hls`). The stage is always real time."""
    if refusal := check_live(space):
        return refusal
    if not hls:
        return Conflict(_("This Space has no delayed listening."), code="hls_unavailable")
    if not _present(participant):
        return _not_in_space()
    assert participant is not None
    if participant.role != Role.LISTENER:
        return Conflict(_("On stage you always hear the Space in real time."), code="not_listener")
    return None


def check_guest_listen(space: Space) -> Refusal:
    """Hear the Space without an account (issue 20): a live, public, non-ticketed Space whose
    host lets guests in. A guest only listens, over live HLS; everything else wants an account
    (`sign_in_required`). 401: signing in is the way in (a ticket is bought signed in)."""
    if refusal := check_live(space):
        return refusal
    if space.is_ticketed:
        return NotAuthenticated(
            _("This Space is ticketed: sign in to get a ticket."), code="sign_in_required"
        )
    if not space.guests_allowed:
        return NotAuthenticated(
            _("The host lets only people with an account listen: sign in."), code="guests_off"
        )
    return None


def guest_refusal() -> ApplicationError:
    """What a guest gets for any action beyond listening."""
    return NotAuthenticated(
        _("Sign in to react, comment or raise your hand."), code="sign_in_required"
    )


def check_guests_allowed_set(space: Space, participant: Participant | None) -> Refusal:
    """Let guests listen or stop them: the host and co-hosts of a live Space that could have
    guests (a ticketed Space never has: 409 `ticketed`)."""
    if refusal := check_moderate(space, participant):
        return refusal
    if space.is_ticketed:
        return Conflict(_("A ticketed Space never has guests."), code="ticketed")
    return None


def check_real_time_audio(participant: Participant) -> Refusal:
    """A WebRTC connection to the Space's audio: refused to a listener who hears it over live
    HLS (the limit on real-time listeners holds only if the media worker says no too)."""
    if participant.hears_live_hls:
        return Conflict(
            _("You listen to this Space with a delay (HLS): switch to real time first."),
            code="listen_mode_hls",
        )
    return None


def check_clip_live(
    space: Space, participant: Participant | None, *, recording_started: bool
) -> Refusal:
    """Clip the last seconds of a live Space: anyone in it, once it is being recorded, unless
    the host turned clips off."""
    if refusal := check_live(space):
        return refusal
    if not space.recording_enabled:
        return Conflict(_("This Space is not recorded."), code="recording_off")
    if not space.clips_enabled:
        return Conflict(_("The host turned clips off."), code="clips_off")
    if not _present(participant):
        return _not_in_space()
    if not recording_started:
        return Conflict(_("The recording has not started yet."), code="recording_not_started")
    return None


@dataclass(frozen=True)
class ViewerFacts:
    """What the checks need to know about the viewer beyond their participant row."""

    blocked_by_host: bool = False
    host_follows_viewer: bool = False
    has_pending_request: bool = False
    # A ticketed Space and the viewer has no ticket or stage pass (ticketing.selectors).
    lacks_ticket: bool = False
    # A co-host could take over if the viewer, the host, left now (services.space_leave).
    handover_possible: bool = False
    # The Space's recording has stored its first segment (spaces.Recording exists).
    recording_started: bool = False


CAN_KEYS = (
    "join",
    "leave",
    "raise_hand",
    "withdraw_hand",
    "react",
    "pin",
    "moderate",
    "manage_cohosts",
    "block",
    "toggle_captions",
    "end",
    "mute_self",
    "unmute_self",
    "step_down",
    "share",
    "report",
    "view_moderation_log",
    "recording_consent",
    "clip",
    "listen_mode",
    "comment",
)


def space_permissions_for(
    *, viewer: User, space: Space, participant: Participant | None, facts: ViewerFacts
) -> dict[str, bool]:
    """The `can` map: for each action, whether the server would accept it now and it would
    change something (joining while present is accepted but is not offered, and so on).

    `moderate` covers approve/deny, inviting speakers, moving speakers to the audience, muting,
    removing and unpinning others' pins; `manage_cohosts` covers inviting and revoking
    co-hosts."""
    present = _present(participant)
    muted = participant is not None and participant.is_muted
    return {
        "join": check_join(
            space,
            participant,
            blocked_by_host=facts.blocked_by_host,
            lacks_ticket=facts.lacks_ticket,
        )
        is None
        and not present,
        "leave": check_leave(space, participant, successor_available=facts.handover_possible)
        is None
        and present,
        "raise_hand": check_raise_hand(
            space, participant, host_follows_viewer=facts.host_follows_viewer
        )
        is None
        and not facts.has_pending_request,
        "withdraw_hand": check_withdraw_hand(space, participant) is None
        and facts.has_pending_request,
        "react": check_react(space, participant) is None,
        "pin": check_pin(space, participant) is None,
        "moderate": check_moderate(space, participant) is None,
        "manage_cohosts": check_host_only(space, participant, what=_("manage co-hosts")) is None,
        "block": check_host_only(space, participant, what=_("block people")) is None,
        "toggle_captions": check_toggle_captions(space, participant) is None,
        "end": check_end(space, participant, user=viewer) is None,
        "mute_self": check_self_audio(space, participant) is None and not muted,
        "unmute_self": check_self_audio(space, participant) is None and muted,
        "step_down": check_step_down(space, participant) is None,
        "share": check_share(space, blocked_by_host=facts.blocked_by_host) is None,
        "report": check_report(space, participant) is None,
        "view_moderation_log": check_view_moderation_log(space, participant, user=viewer) is None,
        "recording_consent": check_recording_consent(space, participant) is None,
        "clip": check_clip_live(space, participant, recording_started=facts.recording_started)
        is None,
        "listen_mode": check_listen_mode(space, participant, hls=settings.SPACES_HLS_ENABLED)
        is None,
        "comment": check_comment(space, participant) is None,
    }


# --- What the viewer may do to each person in the room -----------------------------------------

# The per-target actions a page offers in a seat's menu; each names the service it stands for:
# report (report_create with a target), invite (invitation_create, speaker), cohost_invite
# (invitation_create, cohost), cohost_revoke, mute (participant_mute), demote, remove, block.
TARGET_ACTIONS = (
    "report",
    "invite",
    "cohost_invite",
    "cohost_revoke",
    "mute",
    "demote",
    "remove",
    "block",
)


def participant_actions(
    me: Participant | None,
    target: Participant,
    *,
    can: dict[str, bool],
    stage_room: bool,
    cohost_room: bool,
) -> list[str]:
    """What the viewer (`me`, with the `can` map of space_permissions_for) may do to `target`
    now, in TARGET_ACTIONS order: check_act_on plus the services' per-target checks (on stage
    or not, muted, a free speaker or co-host slot). Only what would change something: muting
    a muted speaker is accepted and is not offered."""
    if me is not None and me.user_id == target.user_id:
        return []
    actions: set[str] = set()
    if can["report"]:
        actions.add("report")
    acts_on = (
        me is not None
        and target.state == Participant.State.PRESENT
        and check_act_on(me, target) is None
    )
    if acts_on:
        on_stage = target.role in STAGE
        if can["moderate"]:
            actions.add("remove")
            if on_stage:
                actions.add("demote")
                if not target.is_muted:
                    actions.add("mute")
            elif stage_room:
                actions.add("invite")
        if can["block"]:
            actions.add("block")
        if can["manage_cohosts"]:
            if target.role == Role.COHOST:
                actions.add("cohost_revoke")
            elif cohost_room:
                actions.add("cohost_invite")
    return [a for a in TARGET_ACTIONS if a in actions]


def role_action_key(role: str, *, muted: bool) -> str:
    """The key of `role_actions_for`: the role, with ":muted" for a muted participant."""
    return f"{role}:muted" if muted else role


def role_actions_for(
    me: Participant | None, *, can: dict[str, bool], stage_room: bool, cohost_room: bool
) -> dict[str, list[str]]:
    """The same rule as `participant_actions` as a table, for any present participant other
    than the viewer: {"listener": [...], "speaker:muted": [...], ...}. It lets a client draw a
    listener it learnt of from an event (the snapshot lists actions only for the stage and the
    listener sample) without restating the rule. Computed on unsaved participants: no query."""
    table: dict[str, list[str]] = {}
    for role in Role.values:
        for muted in (False, True):
            probe = Participant(
                user_id=0, role=role, state=Participant.State.PRESENT, is_muted=muted
            )
            table[role_action_key(role, muted=muted)] = participant_actions(
                me, probe, can=can, stage_room=stage_room, cohost_room=cohost_room
            )
    return table
