"""Reads of Spaces. Each list is a fixed number of queries whatever its length (pinned in
tests/spaces/test_selectors.py): the live list and the ended list one per page, the bubble two,
the detail seven.

Lists hide Spaces whose host blocked the viewer or whom the viewer blocked.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext

from accounts.hooks import SharedSpace
from accounts.models import Follow, User
from accounts.selectors import blocked_ids, blocker_ids, blocks, is_blocked
from spaces.access import access_space
from spaces.hooks import entry_admits
from spaces.models import (
    CaptionLine,
    Comment,
    Invitation,
    ListenMode,
    ModerationAction,
    Participant,
    Pin,
    Reaction,
    ReactionCount,
    Recording,
    Space,
    SpeakerRequest,
)
from spaces.permissions import (
    CAN_KEYS,
    STAGE,
    ViewerFacts,
    check_guest_listen,
    check_moderate,
    check_view,
    check_view_moderation_log,
    connected_cutoff,
    ensure,
    participant_actions,
    role_action_key,
    role_actions_for,
    space_permissions_for,
)
from spaces.services.listening import HlsInfo, hls_enabled, hls_info, hls_url
from spaces_project.errors import Forbidden, NotFound

Role = Participant.Role
LISTENER_SAMPLE_SIZE = 12
SNAPSHOT_COMMENTS = 50


def spaces_visible_to(qs: QuerySet[Space], viewer: User) -> QuerySet[Space]:
    """Without Spaces of hosts who blocked the viewer or whom the viewer blocked."""
    return qs.exclude(host__in=blocker_ids(blocked=viewer)).exclude(
        host__in=blocked_ids(blocker=viewer)
    )


def space_list_live(*, viewer: User, query: str | None = None) -> QuerySet[Space]:
    """All live Spaces, most listeners first; `query` matches the title or a topic."""
    live = Space.objects.filter(state=Space.State.LIVE)
    qs = spaces_visible_to(live, viewer).select_related("host")
    query = (query or "").strip()
    if query:
        qs = qs.annotate(topics_text=Cast("topics", TextField())).filter(
            Q(title__icontains=query) | Q(topics_text__icontains=query)
        )
    return qs.order_by("-listener_count", "-started_at", "-id")


def space_list_following(*, viewer: User) -> QuerySet[Space]:
    """The bubble: live Spaces hosted, co-hosted or spoken in by people the viewer follows.

    Most relevant first: how many people the viewer follows are on stage, then listeners.
    Each Space carries `followed_on_stage_count` and, prefetched, `followed_on_stage` (the
    participants the viewer follows, host first). Two queries.
    """
    followed = Follow.objects.filter(follower=viewer).values("followee_id")
    on_stage = Participant.objects.filter(role__in=STAGE, user_id__in=followed)
    count = (
        on_stage.filter(space=OuterRef("pk"))
        .order_by()
        .values("space")
        .annotate(n=Count("*"))
        .values("n")
    )
    qs = (
        spaces_visible_to(Space.objects.filter(state=Space.State.LIVE), viewer)
        .annotate(followed_on_stage_count=Subquery(count, output_field=IntegerField()))
        .filter(followed_on_stage_count__gt=0)
        .select_related("host")
        .prefetch_related(
            Prefetch(
                "participants",
                queryset=on_stage.select_related("user").order_by(_stage_rank(), "role_since"),
                to_attr="followed_on_stage",
            )
        )
    )
    return qs.order_by("-followed_on_stage_count", "-listener_count", "-started_at", "-id")


def space_list_ended(*, viewer: User, host_id: int | None = None) -> QuerySet[Space]:
    """Ended Spaces, most recently ended first; of one host when `host_id` is given."""
    qs = spaces_visible_to(Space.objects.filter(state=Space.State.ENDED), viewer)
    if host_id is not None:
        qs = qs.filter(host_id=host_id)
    replay = Recording.objects.filter(space=OuterRef("pk")).values("status")[:1]
    return (
        qs.select_related("host")
        .annotate(replay_status=Subquery(replay))
        .order_by("-ended_at", "-id")
    )


def _stage_rank() -> Case:
    return Case(
        When(role=Role.HOST, then=Value(0)),
        When(role=Role.COHOST, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def reaction_counts_for(*, space_id: int) -> dict[str, int]:
    """Reactions per code (every acknowledged tap is in ReactionCount). One query."""
    totals = dict.fromkeys(Reaction.values, 0)
    for code, n in ReactionCount.objects.filter(space_id=space_id).values_list("code", "count"):
        totals[code] += n
    return totals


@dataclass
class SpaceDetail:
    space: Space
    me: Participant | None
    pending_request_id: int | None
    invitations: list[Invitation]
    stage: list[Participant]
    listeners_sample: list[Participant]
    pins: list[Pin]
    reaction_counts: dict[str, int]
    can: dict[str, bool]
    # What the viewer may do to each person drawn (stage and listener sample), by user id, and
    # the same rule by role for anyone else (permissions.participant_actions).
    seat_actions: dict[int, list[str]]
    role_actions: dict[str, list[str]]
    # For the host: the co-hosts who could take over now, the default (longest-serving) first.
    successors: list[Participant]
    recording: RecordingState | None = None
    # How the viewer hears the Space (None when not in it), and the live playlist if they may.
    listen_mode: str | None = None
    hls: HlsInfo | None = None
    comments: list[Comment] = field(default_factory=list)


@dataclass(frozen=True)
class RecordingState:
    status: str
    started_at: datetime


def space_detail(*, viewer: User, space_id: int) -> SpaceDetail:
    """Everything a client needs to draw a Space for `viewer`, in seven queries.

    404 for an unknown Space; 403 `blocked` when the host blocked the viewer.
    """
    my_request = SpeakerRequest.objects.filter(
        space=OuterRef("pk"), user=viewer, state=SpeakerRequest.State.PENDING
    ).values("pk")[:1]
    recording = Recording.objects.filter(space=OuterRef("pk"))
    space = (
        Space.objects.filter(pk=space_id)
        .select_related("host")
        .annotate(
            viewer_blocked=Exists(blocks(blocker=OuterRef("host"), blocked=viewer)),
            host_follows_viewer=Exists(
                Follow.objects.filter(follower=OuterRef("host"), followee=viewer)
            ),
            my_pending_request_id=Subquery(my_request, output_field=IntegerField()),
            recording_status=Subquery(recording.values("status")[:1]),
            recording_started_at=Subquery(recording.values("started_at")[:1]),
        )
        .first()
    )
    if space is None:
        raise NotFound(gettext("No such Space."), code="space_not_found")
    blocked = bool(space.viewer_blocked) and space.host_id != viewer.pk
    ensure(check_view(space, blocked_by_host=blocked))
    me = Participant.objects.filter(space=space, user=viewer).select_related("user").first()
    invitations = list(
        Invitation.objects.filter(
            space=space, invitee=viewer, state=Invitation.State.PENDING
        ).select_related("inviter", "invitee")
    )
    stage = list(
        Participant.objects.filter(space=space, role__in=STAGE)
        .select_related("user")
        .order_by(_stage_rank(), "role_since", "id")
    )
    listeners = list(
        Participant.objects.filter(space=space, role=Role.LISTENER, state=Participant.State.PRESENT)
        .select_related("user")
        .order_by("-joined_at", "-id")[:LISTENER_SAMPLE_SIZE]
    )
    pins = list(
        Pin.objects.filter(space=space, unpinned_at__isnull=True)
        .select_related("author")
        .order_by("created_at", "id")
    )
    successors = _successors(me, stage)
    facts = ViewerFacts(
        blocked_by_host=blocked,
        host_follows_viewer=bool(space.host_follows_viewer),
        has_pending_request=space.my_pending_request_id is not None,
        # Costs queries only for a ticketed Space the viewer is not already in.
        lacks_ticket=space.is_ticketed
        and not (me is not None and me.is_present)
        and not entry_admits(user=viewer, space=space, participant=me),
        handover_possible=bool(successors),
        recording_started=space.recording_status == Recording.Status.RECORDING,
    )
    can = space_permissions_for(viewer=viewer, space=space, participant=me, facts=facts)
    stage_room = space.speaker_count < space.max_speakers
    cohost_room = space.cohost_count < space.max_cohosts
    return SpaceDetail(
        space=space,
        me=me,
        pending_request_id=space.my_pending_request_id,
        invitations=invitations,
        stage=stage,
        listeners_sample=listeners,
        pins=pins,
        reaction_counts=reaction_counts_for(space_id=space.pk),
        can=can,
        seat_actions={
            p.user_id: participant_actions(
                me, p, can=can, stage_room=stage_room, cohost_room=cohost_room
            )
            for p in [*stage, *listeners]
        },
        role_actions=role_actions_for(me, can=can, stage_room=stage_room, cohost_room=cohost_room),
        successors=successors,
        recording=RecordingState(space.recording_status, space.recording_started_at)
        if space.recording_status
        else None,
        listen_mode=me.effective_listen_mode if me is not None and me.is_present else None,
        hls=hls_info(space, me),
        comments=latest_comments(space_id=space.pk, viewer=viewer),
    )


def latest_comments(
    *, space_id: int, viewer: User | None, limit: int = SNAPSHOT_COMMENTS
) -> list[Comment]:
    """The latest comments not deleted, oldest first, without those of people `viewer`
    blocked (they see none of theirs, live or here). A guest (None) blocked nobody."""
    rows = Comment.objects.filter(space_id=space_id, deleted_at__isnull=True)
    if viewer is not None:
        rows = rows.exclude(author_id__in=blocked_ids(blocker=viewer))
    rows = rows.select_related("author").order_by("-created_at", "-id")[:limit]
    return list(reversed(rows))


def space_for_guest(*, space_id: int) -> Space:
    """The Space a guest (no account) may hear: 404 for an unknown Space; 409 when it is not
    live; 401 `sign_in_required` for a ticketed one, `guests_off` when the host refuses
    guests (spaces.permissions.check_guest_listen). One query."""
    space = Space.objects.filter(pk=space_id).select_related("host").first()
    if space is None:
        raise NotFound(gettext("No such Space."), code="space_not_found")
    ensure(check_guest_listen(space))
    return space


def space_detail_for_guest(*, space_id: int) -> SpaceDetail:
    """The Space as a guest sees it: the room (stage, a sample of listeners, pins, comments,
    reactions, the recording badge) and the live playlist, with nothing of their own: no
    participant, `can` all false (every action wants an account), no actions on anyone.
    Refused as `space_for_guest` refuses."""
    space = space_for_guest(space_id=space_id)
    recording = Recording.objects.filter(space=space).values("status", "started_at").first()
    stage = list(
        Participant.objects.filter(space=space, role__in=STAGE)
        .select_related("user")
        .order_by(_stage_rank(), "role_since", "id")
    )
    listeners = list(
        Participant.objects.filter(space=space, role=Role.LISTENER, state=Participant.State.PRESENT)
        .select_related("user")
        .order_by("-joined_at", "-id")[:LISTENER_SAMPLE_SIZE]
    )
    pins = list(
        Pin.objects.filter(space=space, unpinned_at__isnull=True)
        .select_related("author")
        .order_by("created_at", "id")
    )
    return SpaceDetail(
        space=space,
        me=None,
        pending_request_id=None,
        invitations=[],
        stage=stage,
        listeners_sample=listeners,
        pins=pins,
        reaction_counts=reaction_counts_for(space_id=space.pk),
        can=dict.fromkeys(CAN_KEYS, False),
        seat_actions={p.user_id: [] for p in [*stage, *listeners]},
        role_actions={
            role_action_key(role, muted=muted): []
            for role in Role.values
            for muted in (False, True)
        },
        successors=[],
        recording=RecordingState(recording["status"], recording["started_at"])
        if recording
        else None,
        listen_mode=ListenMode.HLS if hls_enabled() else None,
        hls=HlsInfo(hls_url(space.pk)) if hls_enabled() else None,
        comments=latest_comments(space_id=space.pk, viewer=None),
    )


def space_state_extras(detail: SpaceDetail) -> dict[str, Any]:
    """The parts of the `space.state` snapshot beyond the REST detail that say what the viewer
    may do to others (docs/realtime.md): `seat_actions` keyed by user id (a JSON object key
    is a string), `role_actions`, and `successors` for the host."""
    return {
        "seat_actions": {str(uid): acts for uid, acts in detail.seat_actions.items()},
        "role_actions": detail.role_actions,
        "successors": [p.user_id for p in detail.successors],
    }


def _successors(me: Participant | None, stage: list[Participant]) -> list[Participant]:
    """For the host: the connected co-hosts who could take over if they left now, longest
    co-host first (the service's default choice). Read from the stage already loaded (no
    query); the service also skips a co-host who hosts a live Space of their own, which this
    does not see."""
    if me is None or me.role != Role.HOST or not me.is_present:
        return []
    cutoff = connected_cutoff(timezone.now())
    cohosts = [
        p for p in stage if p.role == Role.COHOST and p.is_present and p.last_seen_at >= cutoff
    ]
    return sorted(cohosts, key=lambda p: (p.cohost_since or p.role_since, p.pk))


def _viewable(viewer: User, space_id: int) -> Space:
    space, _ = access_space(user=None, space_id=space_id)
    blocked = is_blocked(blocker_id=space.host_id, blocked_id=viewer.pk)
    ensure(check_view(space, blocked_by_host=blocked))
    return space


def space_participants(
    *, viewer: User, space_id: int, role: str | None = None
) -> QuerySet[Participant]:
    """Who is in the Space now, newest first; of one role when given."""
    space = _viewable(viewer, space_id)
    qs = Participant.objects.filter(space=space, state=Participant.State.PRESENT)
    if role:
        qs = qs.filter(role=role)
    return qs.select_related("user")


def speaker_requests_pending(*, viewer: User, space_id: int) -> QuerySet[SpeakerRequest]:
    """The raised hands, oldest first: for the host and co-hosts."""
    space, me = access_space(user=viewer, space_id=space_id)
    ensure(check_moderate(space, me))
    return (
        SpeakerRequest.objects.filter(space=space, state=SpeakerRequest.State.PENDING)
        .select_related("user")
        .order_by("created_at", "id")
    )


def moderation_log_for(*, viewer: User, space_id: int) -> QuerySet[ModerationAction]:
    """The Space's moderation log: for its host and co-hosts, and staff."""
    space, me = access_space(user=viewer, space_id=space_id)
    ensure(check_view_moderation_log(space, me, user=viewer))
    return ModerationAction.objects.filter(space=space).select_related("actor", "target")


def caption_transcript(*, viewer: User, space_id: int) -> QuerySet[CaptionLine]:
    """The captions so far, in the order they were spoken, for anyone who can see the Space."""
    space = _viewable(viewer, space_id)
    return CaptionLine.objects.filter(space=space).select_related("speaker")


def space_comments(*, viewer: User, space_id: int) -> QuerySet[Comment]:
    """The comments of a Space (live or ended) for anyone who can see it, without deleted ones
    and those of people `viewer` blocked."""
    space = _viewable(viewer, space_id)
    return (
        Comment.objects.filter(space=space, deleted_at__isnull=True)
        .exclude(author_id__in=blocked_ids(blocker=viewer))
        .select_related("author")
    )


def transcript_download_allowed(*, viewer: User, space: Space) -> bool:
    """Whether `viewer` may download the Space's transcript as a file: staff, its host, and
    whoever co-ran it (co-host now, or ever made co-host or host of it while it was live).

    Past co-hosts count because ending a Space moves everyone to the audience, so "co-host"
    after the end can only be read from the moderation log.
    """
    if viewer.is_staff or space.host_id == viewer.pk:
        return True
    if Participant.objects.filter(
        space=space, user=viewer, role__in=(Role.HOST, Role.COHOST)
    ).exists():
        return True
    ran = Q(
        action__in=(ModerationAction.Action.COHOST_ADDED, ModerationAction.Action.HOST_CHANGED),
        target=viewer,
    )
    ran |= Q(action=ModerationAction.Action.HOST_CHANGED, details__previous_host_id=viewer.pk)
    return ModerationAction.objects.filter(ran, space=space).exists()


def caption_transcript_download(*, viewer: User, space_id: int) -> tuple[Space, list[CaptionLine]]:
    """The whole transcript, in spoken order, for the transcript files (see
    `transcript_download_allowed`): 404 for an unknown Space, 403 `blocked` as for every read,
    403 `not_moderator` for anyone else. While the Space is live it is the transcript so far."""
    space = _viewable(viewer, space_id)
    if not transcript_download_allowed(viewer=viewer, space=space):
        raise Forbidden(
            gettext("Only the host or a co-host can download the transcript."), code="not_moderator"
        )
    lines = list(
        CaptionLine.objects.filter(space=space)
        .select_related("speaker")
        .order_by("started_at", "id")
    )
    return space, lines


def space_page_url(space: Space) -> str:
    """Where a Space is shown: a scheduled (or cancelled) Space leads to its schedule page, which
    scheduling serves and which sends on to the room once it is live; reached by name, so Spaces
    imports nothing of scheduling, and without scheduling installed the room's own page is the
    fallback. The room page sends there too, and a shared Space's card links there."""
    if space.state in (Space.State.SCHEDULED, Space.State.CANCELLED):
        try:
            return reverse("scheduled_detail", args=[space.pk])
        except NoReverseMatch:
            pass
    return reverse("space_detail", args=[space.pk])


def spaces_shared_in_messages(viewer: User, space_ids: Collection[int]) -> dict[int, SharedSpace]:
    """The Spaces that direct messages shared, as cards for `viewer`, by id: one query.

    Registered on accounts' `shared_spaces` hook. A Space whose host blocked the viewer (or
    whom the viewer blocked) is left out, as in every list, and so shows as unavailable."""
    if not space_ids:
        return {}
    qs = spaces_visible_to(Space.objects.filter(pk__in=list(space_ids)), viewer)
    cards: dict[int, SharedSpace] = {}
    for space in qs.select_related("host"):
        when: dict[str, datetime | None] = {
            Space.State.SCHEDULED: space.scheduled_for,
            Space.State.LIVE: space.started_at,
            Space.State.ENDED: space.ended_at,
        }
        cards[space.pk] = SharedSpace(
            url=space_page_url(space),
            title=space.title,
            state=space.state,
            host_name=space.host.name,
            host_username=space.host.username,
            listeners=space.listener_count,
            when=when.get(space.state, space.ended_at or space.scheduled_for),
        )
    return cards
