"""Site pages for live Spaces: the lists, Start a Space, the Space page and its actions.

Thin, like accounts/views.py: reads go through spaces.selectors, every action is a POST form that
calls the one service the API and the socket call too, and a refusal (ApplicationError) becomes a
message on the page the form came from. The same action URLs answer JSON when asked for it
(`Accept: application/json`, as static/js/space.js does): `{"ok": true, "message", "state"}`,
where `state` is the `space.state` snapshot the socket sends (docs/realtime.md), or
`{"ok": false, "error": {"code", "message", "fields"}}` with the service's status.

Which buttons a page shows comes from the detail's `can` map and, per person, its
`seat_actions` (both spaces.permissions), so a button is there exactly when the server would
accept it; the page's script reads the same from the snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import reduce
from operator import or_
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.selectors import user_get_active, user_me
from spaces import selectors, services
from spaces.audio import captions
from spaces.forms import SPEAKING_HELP, PinForm, ReportForm, ShareForm, SpaceStartForm
from spaces.models import Invitation, Participant, Reaction, Space
from spaces_project import bus
from spaces_project.errors import ApplicationError, Forbidden, NotFound, ValidationFailed

Role = Participant.Role
PAGE_SIZE = 20
CAPTION_LINES_ON_PAGE = 40
MODERATION_LOG_ON_PAGE = 30

# The icons static/js/space.js draws with, rendered once into <template> elements.
JS_ICONS = {
    name: f"icons/{name}.html" for name in ("mic", "hand", "block", "info", "user", "share")
} | {
    name: f"spaces/icons/{name}.html"
    for name in (
        *("mic-off", "x", "star", "arrow-down", "flag", "leave"),
        *("power", "smile", "plus", "pin", "link", "captions"),
    )
}

ROLE_LABELS = {Role.HOST: "Host", Role.COHOST: "Co-host", Role.SPEAKER: "Speaker"}


# --- Small shared pieces ----------------------------------------------------------------------


def _me(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _detail_url(space_id: int) -> str:
    return reverse("space_detail", args=[space_id])


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = fallback
    return redirect(target)


def _snapshot(detail: selectors.SpaceDetail, requests: list[Any] | None, seq: int) -> dict:
    """The `space.state` shape of the socket: the REST detail, the open raised hands for the
    host and co-hosts (else null), and the seq read before the database."""
    from spaces.apis import SpaceDetailSerializer, SpeakerRequestSerializer

    state: dict[str, Any] = {"type": "space.state", "space_id": detail.space.pk, "seq": seq}
    state.update(SpaceDetailSerializer(detail).data)
    state.update(selectors.space_state_extras(detail))
    state["requests"] = (
        None if requests is None else SpeakerRequestSerializer(requests, many=True).data
    )
    return state


@dataclass
class Room:
    """What the Space page and the action answers read: the detail, the raised hands (host and
    co-hosts only) and the snapshot for the page's script."""

    detail: selectors.SpaceDetail
    requests: list[Any] | None
    state: dict[str, Any]


def _room(viewer: User, space_id: int) -> Room:
    seq = bus.current_seq(space_id)  # before the database: see spaces_project/bus.py
    detail = selectors.space_detail(viewer=viewer, space_id=space_id)
    requests = None
    if detail.can["moderate"]:
        requests = list(selectors.speaker_requests_pending(viewer=viewer, space_id=space_id))
    return Room(detail, requests, _snapshot(detail, requests, seq))


def _error_json(error: ApplicationError) -> JsonResponse:
    body: dict[str, Any] = {"code": error.code, "message": error.message, "fields": error.fields}
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        body["retry_after"] = round(retry_after, 3)
    return JsonResponse({"ok": False, "error": body}, status=error.status)


def _act(
    request: HttpRequest,
    space_id: int,
    run: Callable[[User], str | None],
    *,
    with_state: bool = True,
) -> HttpResponse:
    """Run one action for the signed-in user and answer: a redirect back with a message, or JSON.

    `run` calls one service and returns the success message (None: nothing to say)."""
    user = _me(request)
    try:
        text = run(user)
    except ApplicationError as error:
        if _wants_json(request):
            return _error_json(error)
        messages.error(request, error.message)
        return _back(request, _detail_url(space_id))
    if _wants_json(request):
        state = None
        if with_state:
            try:
                state = _room(user, space_id).state
            except ApplicationError:
                state = None
        return JsonResponse({"ok": True, "message": text, "state": state})
    if text:
        messages.success(request, text)
    return _back(request, _detail_url(space_id))


def _int(value: str | None, name: str) -> int:
    try:
        number = int(value or "")
    except ValueError:
        number = 0
    # Bounded like the API's ids: a larger number made SQLite raise OverflowError (a 500).
    if not 0 < number <= 2**53 - 1:
        raise ValidationFailed(f"Missing {name}.", fields={name: ["A positive integer."]})
    return number


def _user_id_by_username(username: str) -> int:
    """The id of an active user by username (case-insensitive), or a clear refusal."""
    name = username.strip().lstrip("@")
    found = (
        User.objects.filter(is_active=True, username__iexact=name).values_list("pk", flat=True)
        if name
        else []
    )
    if not found:
        raise NotFound(f"There is no account @{name}.", code="user_not_found")
    return found[0]


def _user_ids_by_usernames(names: list[str]) -> list[int]:
    """Ids for usernames (case-insensitive), refusing the whole list if any name is unknown."""
    if not names:
        return []
    query = reduce(or_, (Q(username__iexact=n) for n in names))
    rows = list(User.objects.filter(query, is_active=True).values_list("pk", "username"))
    known = {u.casefold() for _, u in rows}
    missing = [n for n in names if n.casefold() not in known]
    if missing:
        listed = ", ".join(f"@{n}" for n in missing)
        raise NotFound(f"No account with the username {listed}.", code="user_not_found")
    return [pk for pk, _ in rows]


# --- Home: the live region (spaces/templatetags/spaces_site.py renders it) --------------------


def live_now(*, viewer: User, limit: int = PAGE_SIZE) -> dict[str, Any]:
    """The bubbles of followed people, then all live Spaces: two queries, three with bubbles."""
    bubbles = list(selectors.space_list_following(viewer=viewer)[:limit])
    live = list(selectors.space_list_live(viewer=viewer)[: limit + 1])
    return {
        "bubbles": [_bubble(space) for space in bubbles],
        "live_spaces": live[:limit],
        "more_live": len(live) > limit,
    }


@dataclass
class Bubble:
    space: Space
    face: User  # the followed person the bubble shows: the host when followed, else the first
    others: int  # more followed people on stage


def _bubble(space: Space) -> Bubble:
    on_stage = getattr(space, "followed_on_stage", [])
    face = on_stage[0].user if on_stage else space.host
    return Bubble(space=space, face=face, others=max(0, len(on_stage) - 1))


# --- Lists ------------------------------------------------------------------------------------


@login_required
def space_list(request: HttpRequest) -> HttpResponse:
    viewer = _me(request)
    query = (request.GET.get("q") or "").strip()[:100]
    spaces = selectors.space_list_live(viewer=viewer, query=query or None)
    page = Paginator(spaces, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "spaces/list.html",
        {"page_obj": page, "spaces": page.object_list, "query": query},
    )


@login_required
def space_ended_list(request: HttpRequest) -> HttpResponse:
    viewer = _me(request)
    host = None
    if request.GET.get("host"):
        host = user_get_active(username=request.GET["host"])
    spaces = selectors.space_list_ended(viewer=viewer, host_id=host.pk if host else None)
    page = Paginator(spaces, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "spaces/ended_list.html",
        {"page_obj": page, "spaces": page.object_list, "host": host},
    )


# --- Start a Space ----------------------------------------------------------------------------


@login_required
def space_new(request: HttpRequest) -> HttpResponse:
    me = user_me(user=_me(request))
    needed = settings.SPACES_HOST_MIN_FOLLOWERS
    live = Space.objects.filter(host=me, state=Space.State.LIVE).only("pk", "title").first()
    form = SpaceStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            space = services.space_start(host=me, **form.cleaned_data)
        except ApplicationError as error:
            for name, errors in error.fields.items():
                form.add_error(name if name in form.fields else None, errors)
            if not error.fields:
                form.add_error(None, error.message)
        else:
            messages.success(request, "Your Space is live. Invite people to listen!")
            return redirect("space_detail", space_id=space.pk)
    return render(
        request,
        "spaces/new.html",
        {
            "form": form,
            "me": me,
            "can_host": me.can_host,
            "host_min_followers": needed,
            "host_progress": min(100, round(100 * me.follower_count / needed)) if needed else 100,
            "live_space": live,
            "max_speakers": settings.SPACES_MAX_SPEAKERS,
            "speaking_help": SPEAKING_HELP,
        },
    )


# --- The Space page ---------------------------------------------------------------------------


@dataclass
class Seat:
    """A person on the page, with what the viewer may do to them (the detail's `seat_actions`)."""

    participant: Participant
    is_me: bool
    label: str
    actions: set[str] = field(default_factory=set)

    @property
    def user(self) -> User:
        return self.participant.user


def _seats(room: Room, viewer: User) -> tuple[list[Seat], list[Seat]]:
    detail = room.detail

    def seat(p: Participant) -> Seat:
        return Seat(
            participant=p,
            is_me=p.user_id == viewer.pk,
            label=ROLE_LABELS.get(p.role, "Listener"),
            actions=set(detail.seat_actions.get(p.user_id, ())),
        )

    return [seat(p) for p in detail.stage], [seat(p) for p in detail.listeners_sample]


def _duration(space: Space) -> timedelta | None:
    if space.started_at and space.ended_at:
        return space.ended_at - space.started_at
    return None


def _caption_lines(viewer: User, space: Space, *, limit: int) -> list[Any]:
    lines = selectors.caption_transcript(viewer=viewer, space_id=space.pk).order_by(
        "-created_at", "-id"
    )[:limit]
    return list(reversed(list(lines)))


@login_required
def space_detail(request: HttpRequest, space_id: int) -> HttpResponse:
    viewer = _me(request)
    try:
        room = _room(viewer, space_id)
    except ApplicationError as error:
        if _wants_json(request):
            return _error_json(error)
        if isinstance(error, NotFound):
            raise Http404(error.message) from error
        return render(request, "spaces/blocked.html", {"message": error.message}, status=403)
    if _wants_json(request):
        return JsonResponse(room.state)
    detail = room.detail
    space = detail.space
    can = detail.can
    stage, listeners = _seats(room, viewer)
    live = space.state == Space.State.LIVE
    captions = []
    if live and space.captions_enabled:
        captions = _caption_lines(viewer, space, limit=CAPTION_LINES_ON_PAGE)
    log = []
    if can["view_moderation_log"]:
        log = list(
            selectors.moderation_log_for(viewer=viewer, space_id=space.pk).order_by(
                "-created_at", "-id"
            )[:MODERATION_LOG_ON_PAGE]
        )
    me = detail.me
    present = me is not None and me.state == Participant.State.PRESENT
    report_targets = [s for s in stage + listeners if "report" in s.actions]
    report = request.GET.get("report", "")
    return render(
        request,
        "spaces/detail.html",
        {
            "room": room,
            "space": space,
            "detail": detail,
            "can": can,
            "me": me,
            "present": present,
            "removed": me is not None and me.state == Participant.State.REMOVED,
            "live": live,
            "stage": stage,
            "listeners": listeners,
            "more_listeners": max(0, space.listener_count - len(listeners)),
            "requests": room.requests,
            "stage_full": space.speaker_count >= space.max_speakers,
            "cohosts_full": space.cohost_count >= space.max_cohosts,
            "captions": captions,
            "moderation_log": log,
            "reactions": Reaction.choices,
            "share_form": ShareForm(),
            "report_form": ReportForm(),
            "report_targets": report_targets,
            "report_open": bool(report),
            "report_target": int(report) if report.isdigit() else None,
            "pin_form": PinForm(),
            "duration": _duration(space),
            "reaction_total": sum(detail.reaction_counts.values()),
            "state": room.state,
            "urls": _url_templates(space.pk),
            "reaction_choices": [{"code": c, "emoji": e} for c, e in Reaction.choices],
            "js_icons": JS_ICONS,
        },
    )


def _url_templates(space_id: int) -> dict[str, str]:
    """The action URLs with placeholders, for the page's script to build its forms."""
    base = _detail_url(space_id)
    return {"base": base, "api": f"/api/v1/spaces/{space_id}", "ws": f"/ws/spaces/{space_id}/"}


@login_required
def space_transcript(request: HttpRequest, space_id: int) -> HttpResponse:
    viewer = _me(request)
    try:
        lines = list(
            selectors.caption_transcript(viewer=viewer, space_id=space_id).order_by(
                "created_at", "id"
            )
        )
    except NotFound as error:
        raise Http404(error.message) from error
    except Forbidden as error:
        return render(request, "spaces/blocked.html", {"message": error.message}, status=403)
    space = Space.objects.select_related("host").get(pk=space_id)
    can_download = selectors.transcript_download_allowed(viewer=viewer, space=space)
    return render(
        request,
        "spaces/transcript.html",
        {"space": space, "lines": lines, "can_download": can_download},
    )


@login_required
def space_transcript_download(request: HttpRequest, space_id: int, fmt: str) -> HttpResponse:
    """The transcript file (WebVTT or plain text): the API's rule and rendering."""
    if fmt not in captions.TRANSCRIPT_FORMATS:
        raise Http404("No such transcript format.")
    try:
        space, lines = selectors.caption_transcript_download(viewer=_me(request), space_id=space_id)
    except NotFound as error:
        raise Http404(error.message) from error
    except Forbidden as error:
        return render(request, "spaces/blocked.html", {"message": error.message}, status=403)
    return captions.transcript_response(space, lines, fmt)


# --- Actions: one POST each, one service each -------------------------------------------------


@require_POST
@login_required
def space_join(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.space_join(user=user, space_id=space_id)
        return "You joined the Space."

    return _act(request, space_id, run)


@require_POST
@login_required
def space_leave(request: HttpRequest, space_id: int) -> HttpResponse:
    """Leave; the host hands the Space over, to the co-host in `successor_id` if the form
    names one (else the Space picks the longest-serving connected co-host)."""

    def run(user: User) -> str:
        raw = request.POST.get("successor_id", "").strip()
        successor_id = _int(raw, "successor_id") if raw else None
        hosted = Space.objects.filter(pk=space_id, host=user).exists()
        services.space_leave(user=user, space_id=space_id, successor_id=successor_id)
        if hosted:
            new_host = Space.objects.filter(pk=space_id).select_related("host").first()
            if new_host is not None and new_host.host_id != user.pk:
                return f"You left and handed the Space to {new_host.host.name}."
        return "You left the Space."

    return _act(request, space_id, run)


@require_POST
@login_required
def space_end(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.space_end(actor=user, space_id=space_id)
        return "You ended the Space."

    return _act(request, space_id, run)


@require_POST
@login_required
def hand_raise(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.speaker_request_create(user=user, space_id=space_id)
        return "You asked to speak. The host will see your hand."

    return _act(request, space_id, run)


@require_POST
@login_required
def hand_withdraw(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.speaker_request_withdraw(user=user, space_id=space_id)
        return "You lowered your hand."

    return _act(request, space_id, run)


@require_POST
@login_required
def request_approve(request: HttpRequest, space_id: int, request_id: int) -> HttpResponse:
    def run(user: User) -> str:
        p = services.speaker_request_approve(actor=user, space_id=space_id, request_id=request_id)
        return f"{p.user.name} is now a speaker."

    return _act(request, space_id, run)


@require_POST
@login_required
def request_deny(request: HttpRequest, space_id: int, request_id: int) -> HttpResponse:
    def run(user: User) -> str:
        r = services.speaker_request_deny(actor=user, space_id=space_id, request_id=request_id)
        return f"You declined the request of {r.user.name}."

    return _act(request, space_id, run)


def _invite(request: HttpRequest, space_id: int, kind: str) -> HttpResponse:
    def run(user: User) -> str:
        if request.POST.get("username"):
            invitee_id = _user_id_by_username(request.POST["username"])
        else:
            invitee_id = _int(request.POST.get("user_id"), "user_id")
        invitation, _ = services.invitation_create(
            actor=user, space_id=space_id, invitee_id=invitee_id, kind=kind
        )
        what = "to co-host" if kind == Invitation.Kind.COHOST else "to speak"
        return f"You invited {invitation.invitee.name} {what}."

    return _act(request, space_id, run)


@require_POST
@login_required
def speaker_invite(request: HttpRequest, space_id: int) -> HttpResponse:
    return _invite(request, space_id, Invitation.Kind.SPEAKER)


@require_POST
@login_required
def cohost_invite(request: HttpRequest, space_id: int) -> HttpResponse:
    return _invite(request, space_id, Invitation.Kind.COHOST)


@require_POST
@login_required
def invitation_accept(request: HttpRequest, space_id: int, invitation_id: int) -> HttpResponse:
    def run(user: User) -> str:
        p = services.invitation_accept(user=user, space_id=space_id, invitation_id=invitation_id)
        if p.role == Role.COHOST:
            return "You are now a co-host."
        return "You are on stage. Your mic is off until you turn it on."

    return _act(request, space_id, run)


@require_POST
@login_required
def invitation_decline(request: HttpRequest, space_id: int, invitation_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.invitation_decline(user=user, space_id=space_id, invitation_id=invitation_id)
        return "You declined the invitation."

    return _act(request, space_id, run)


@require_POST
@login_required
def invitation_cancel(request: HttpRequest, space_id: int, invitation_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.invitation_cancel(actor=user, space_id=space_id, invitation_id=invitation_id)
        return "You took the invitation back."

    return _act(request, space_id, run)


_ON_PARTICIPANT: dict[str, tuple[Callable[..., Participant], str]] = {
    "demote": (services.participant_demote, "{name} moved to the audience."),
    "mute": (services.participant_mute, "You muted {name}."),
    "remove": (services.participant_remove, "{name} was removed from the Space."),
    "block": (services.participant_block, "{name} was removed and blocked."),
    "cohost-revoke": (services.cohost_revoke, "{name} is no longer a co-host."),
}


@require_POST
@login_required
def participant_action(
    request: HttpRequest, space_id: int, user_id: int, action: str
) -> HttpResponse:
    if action not in _ON_PARTICIPANT:
        raise Http404("No such action.")
    service, message = _ON_PARTICIPANT[action]

    def run(user: User) -> str:
        p = service(actor=user, space_id=space_id, user_id=user_id)
        return message.format(name=p.user.name)

    return _act(request, space_id, run)


@require_POST
@login_required
def me_mute(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.participant_mute_self(user=user, space_id=space_id)
        return "Your mic is off."

    return _act(request, space_id, run)


@require_POST
@login_required
def me_unmute(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.participant_unmute(actor=user, space_id=space_id, user_id=user.pk)
        return "Your mic is on."

    return _act(request, space_id, run)


@require_POST
@login_required
def me_step_down(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.participant_step_down(user=user, space_id=space_id)
        return "You are back in the audience."

    return _act(request, space_id, run)


@require_POST
@login_required
def react(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str | None:
        emoji = request.POST.get("emoji", "").strip()
        code = services.reaction_send(user=user, space_id=space_id, emoji=emoji)
        return None if _wants_json(request) else f"You reacted {Reaction(code).label}"

    return _act(request, space_id, run, with_state=False)


@require_POST
@login_required
def pin_create(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.pin_create(
            user=user,
            space_id=space_id,
            text=request.POST.get("text", ""),
            url=request.POST.get("url", ""),
        )
        return "Pinned to the Space."

    return _act(request, space_id, run)


@require_POST
@login_required
def pin_remove(request: HttpRequest, space_id: int, pin_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.pin_remove(user=user, space_id=space_id, pin_id=pin_id)
        return "Unpinned."

    return _act(request, space_id, run)


@require_POST
@login_required
def captions_toggle(request: HttpRequest, space_id: int) -> HttpResponse:
    enabled = request.POST.get("enabled") in ("1", "true", "on")

    def run(user: User) -> str:
        services.captions_toggle(actor=user, space_id=space_id, enabled=enabled)
        return "Captions are on." if enabled else "Captions are off."

    return _act(request, space_id, run)


@require_POST
@login_required
def space_share(request: HttpRequest, space_id: int) -> HttpResponse:
    form = ShareForm(request.POST)

    def run(user: User) -> str:
        if not form.is_valid():
            errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
            first = next(iter(errors.values()))[0]
            raise ValidationFailed(first, fields=errors)
        ids = _user_ids_by_usernames(form.cleaned_data["usernames"])
        result = services.space_share(
            user=user,
            space_id=space_id,
            user_ids=ids,
            to_followers=form.cleaned_data["to_followers"],
            message=form.cleaned_data["message"],
        )
        parts = []
        if result.messages_sent:
            n = result.messages_sent
            parts.append(f"Sent to {n} {'person' if n == 1 else 'people'}")
        if form.cleaned_data["to_followers"]:
            n = result.notifications_sent
            parts.append(f"shared with {n} follower{'' if n == 1 else 's'}")
        if result.skipped_user_ids:
            n = len(result.skipped_user_ids)
            parts.append(f"{n} could not receive it")
        text = "; ".join(parts) or "Nobody could receive it"
        return text[0].upper() + text[1:] + "."

    return _act(request, space_id, run, with_state=False)


@require_POST
@login_required
def space_report(request: HttpRequest, space_id: int) -> HttpResponse:
    form = ReportForm(request.POST)

    def run(user: User) -> str:
        if not form.is_valid():
            errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
            raise ValidationFailed("Choose a reason for the report.", fields=errors)
        services.report_create(
            reporter=user,
            space_id=space_id,
            reason=form.cleaned_data["reason"],
            details=form.cleaned_data["details"],
            target_user_id=form.cleaned_data["target"],
        )
        return "Thanks. Your report was sent to our moderators."

    return _act(request, space_id, run, with_state=False)
