"""The Space page (and its snapshot as JSON for the page's script) and its transcript pages.

Which buttons the page shows comes from the detail's `can` map and, per person, its
`seat_actions` (both spaces.permissions), so a button is there exactly when the server would
accept it; the page's script reads the same from the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.models import User
from spaces import selectors
from spaces.audio import captions
from spaces.forms import PinForm, ReportForm, ShareForm
from spaces.models import CaptionLine, Comment, Participant, Reaction, Space
from spaces.previews import space_page_preview, space_preview
from spaces.serializers import SpaceSnapshot, guest_snapshot, space_snapshot
from spaces_project.errors import ApplicationError, Forbidden, NotFound
from spaces_project.previews import preview_page
from spaces_project.site import error_json, hls_script_url, signed_in, wants_json

Role = Participant.Role
CAPTION_LINES_ON_PAGE = 40
MODERATION_LOG_ON_PAGE = 30

# The icons static/js/space.js draws with, rendered once into <template> elements.
JS_ICONS = (
    {name: f"icons/{name}.html" for name in ("mic", "hand", "info")}
    | {
        name: f"spaces/icons/{name}.html"
        for name in ("mic-off", "arrow-down", "leave", "power", "smile", "plus", "link", "lock")
    }
    | {name: f"replays/icons/{name}.html" for name in ("scissors", "rec", "rec-off")}
)

# The host's slow mode choices (seconds, label); the service takes any value up to an hour.
SLOW_MODE_CHOICES = [
    (0, "Off"),
    (5, "5 s"),
    (10, "10 s"),
    (30, "30 s"),
    (60, "1 min"),
    (300, "5 min"),
]

# By the participant's `role` value; anyone else is a listener.
ROLE_LABELS: dict[str, str] = {Role.HOST: "Host", Role.COHOST: "Co-host", Role.SPEAKER: "Speaker"}


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


def _seats(room: SpaceSnapshot, viewer: User | None) -> tuple[list[Seat], list[Seat]]:
    detail = room.detail

    def seat(p: Participant) -> Seat:
        return Seat(
            participant=p,
            is_me=viewer is not None and p.user_id == viewer.pk,
            label=ROLE_LABELS.get(p.role, "Listener"),
            actions=set(detail.seat_actions.get(p.user_id, ())),
        )

    return [seat(p) for p in detail.stage], [seat(p) for p in detail.listeners_sample]


@dataclass
class CommentRow:
    """A comment on the page (spaces/_comment.html): its text as runs to draw, and what the
    viewer may do with it, by the same rules as the page's script (static/js/comments.js)."""

    comment: Comment
    runs: list[dict[str, str]]
    is_mine: bool
    can_delete: bool
    can_invite: bool
    can_report: bool

    @property
    def has_actions(self) -> bool:
        return self.can_delete or self.can_invite or self.can_report

    @property
    def acts(self) -> str:
        """What the viewer may do, as the script writes it (it redraws a row when they differ)."""
        names = ("delete", "invite", "report")
        flags = (self.can_delete, self.can_invite, self.can_report)
        return " ".join(n for n, on in zip(names, flags, strict=True) if on)


def _runs(parts: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The stored `parts` as runs: `href` only on a mention (the profile of the name it says)
    and on an http(s) link; anything else is text."""
    runs = []
    for part in parts:
        text = str(part.get("text", ""))
        url = part.get("url")
        if part.get("mention") and text.startswith("@") and len(text) > 1:
            runs.append(
                {"text": text, "href": reverse("profile", args=[text[1:]]), "kind": "mention"}
            )
        elif isinstance(url, str) and url.lower().startswith(("http://", "https://")):
            runs.append({"text": text, "href": url, "kind": "url"})
        else:
            runs.append({"text": text, "href": "", "kind": ""})
    return runs


def _comment_rows(room: SpaceSnapshot, viewer: User | None) -> list[CommentRow]:
    """Delete: the author (in the Space) and moderators. Invite to speak: as the author's seat
    says (a listener outside the sample: the `role_actions` of a listener). Report: others'."""
    detail = room.detail
    can = detail.can
    on_stage = {p.user_id for p in detail.stage}
    rows = []
    for comment in detail.comments:
        mine = viewer is not None and comment.author_id == viewer.pk
        if comment.author_id in detail.seat_actions:
            acts = set(detail.seat_actions[comment.author_id])
        elif comment.author_id in on_stage or mine:
            acts = set()
        else:
            acts = set(detail.role_actions.get(Role.LISTENER, ()))
        rows.append(
            CommentRow(
                comment=comment,
                runs=_runs(comment.parts),
                is_mine=mine,
                can_delete=can["moderate"] or (mine and detail.me is not None),
                can_invite="invite" in acts,
                can_report=can["report"] and not mine,
            )
        )
    return rows


def _slow_mode_choices(current: int) -> list[tuple[int, str]]:
    """The choices, with the current value among them when it was set otherwise (the API)."""
    if any(value == current for value, _ in SLOW_MODE_CHOICES):
        return SLOW_MODE_CHOICES
    return sorted([*SLOW_MODE_CHOICES, (current, f"{current} s")])


def _slow_mode_label(seconds: int) -> str:
    return dict(SLOW_MODE_CHOICES).get(seconds) or f"{seconds} s"


def _duration(space: Space) -> timedelta | None:
    if space.started_at and space.ended_at:
        return space.ended_at - space.started_at
    return None


def _caption_lines(viewer: User, space: Space, *, limit: int) -> list[Any]:
    lines = selectors.caption_transcript(viewer=viewer, space_id=space.pk).order_by(
        "-created_at", "-id"
    )[:limit]
    return list(reversed(list(lines)))


def space_detail(request: HttpRequest, space_id: int) -> HttpResponse:
    """The Space page. Signed out, a live public Space is shown to a guest (issue 20): the
    room, read-only, with a Listen button (live HLS) and sign-in prompts where the actions
    would be; any other Space sends to the sign-in page as before."""
    if not request.user.is_authenticated:
        return _guest_page(request, space_id)
    viewer = signed_in(request)
    try:
        room = space_snapshot(viewer=viewer, space_id=space_id)
    except ApplicationError as error:
        if wants_json(request):
            return error_json(error)
        if isinstance(error, NotFound):
            raise Http404(error.message) from error
        return render(request, "spaces/blocked.html", {"message": error.message}, status=403)
    if wants_json(request):
        return JsonResponse(room.state)
    detail = room.detail
    space = detail.space
    # Not started (or called off): the schedule page is where it is shown (a reminder, the
    # time, the host's edits). Asked after access above, so a refusal is never a redirect.
    page_url = selectors.space_page_url(space)
    if page_url != reverse("space_detail", args=[space.pk]):
        return redirect(page_url)
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
    comments = _comment_rows(room, viewer) if live else []
    # "Report" on a comment without JavaScript: the report form, about that comment.
    wanted = request.GET.get("report_comment", "")
    report_comment = next(
        (r for r in comments if r.can_report and str(r.comment.pk) == wanted), None
    )
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
            "report_open": bool(report) or report_comment is not None,
            "report_comment": report_comment,
            "comments": comments,
            "slow_mode_choices": _slow_mode_choices(space.comment_slow_mode_seconds),
            "slow_mode_label": _slow_mode_label(space.comment_slow_mode_seconds),
            # The comment form's one-time key: a double submit is one comment (views.actions).
            "speaking_policies": Space.SpeakingPolicy.choices,
            "report_target": int(report) if report.isdigit() else None,
            "pin_form": PinForm(),
            # Fetched by the page only if this listener goes to live HLS.
            "hls_script_url": hls_script_url(),
            "duration": _duration(space),
            "reaction_total": sum(detail.reaction_counts.values()),
            "state": room.state,
            "urls": _url_templates(space.pk),
            "reaction_choices": [{"code": c, "emoji": e} for c, e in Reaction.choices],
            "js_icons": JS_ICONS,
            "preview": space_preview(request, space),
        },
    )


def _guest_page(request: HttpRequest, space_id: int) -> HttpResponse:
    try:
        room = guest_snapshot(space_id=space_id)
    except ApplicationError as error:
        if wants_json(request):
            return error_json(error)
        if isinstance(error, NotFound):
            raise Http404(error.message) from error
        if request.method in ("GET", "HEAD"):
            # Not open to guests (ended, ticketed...): its link preview and a sign-in button,
            # so a shared link still unfurls (spaces/previews.py).
            return preview_page(request, space_page_preview(request, space_id))
        return redirect_to_login(request.get_full_path())
    if wants_json(request):
        return JsonResponse(room.state)
    detail = room.detail
    space = detail.space
    stage, listeners = _seats(room, None)
    captions: list[Any] = []
    if space.captions_enabled:
        captions = list(
            reversed(
                CaptionLine.objects.filter(space=space)
                .select_related("speaker")
                .order_by("-created_at", "-id")[:CAPTION_LINES_ON_PAGE]
            )
        )
    return render(
        request,
        "spaces/detail.html",
        {
            "guest": True,
            "sign_in_url": f"{reverse('account_login')}?{urlencode({'next': request.path})}",
            "room": room,
            "space": space,
            "detail": detail,
            "can": detail.can,
            "me": None,
            "present": False,
            "removed": False,
            "live": True,
            "stage": stage,
            "listeners": listeners,
            "more_listeners": max(0, space.listener_count - len(listeners)),
            "requests": None,
            "stage_full": space.speaker_count >= space.max_speakers,
            "cohosts_full": space.cohost_count >= space.max_cohosts,
            "captions": captions,
            "moderation_log": [],
            "reactions": Reaction.choices,
            "share_form": ShareForm(),
            "report_form": ReportForm(),
            "report_targets": [],
            "report_open": False,
            "report_comment": None,
            "comments": _comment_rows(room, None),
            "slow_mode_choices": _slow_mode_choices(space.comment_slow_mode_seconds),
            "slow_mode_label": _slow_mode_label(space.comment_slow_mode_seconds),
            "speaking_policies": Space.SpeakingPolicy.choices,
            "report_target": None,
            "pin_form": PinForm(),
            "hls_script_url": hls_script_url(),
            "duration": None,
            "reaction_total": sum(detail.reaction_counts.values()),
            "state": room.state,
            "urls": _url_templates(space.pk),
            "reaction_choices": [{"code": c, "emoji": e} for c, e in Reaction.choices],
            "js_icons": JS_ICONS,
            "preview": space_preview(request, space),
        },
    )


def _url_templates(space_id: int) -> dict[str, str]:
    """The action URLs with placeholders, for the page's script to build its forms."""
    base = reverse("space_detail", args=[space_id])
    return {"base": base, "api": f"/api/v1/spaces/{space_id}", "ws": f"/ws/spaces/{space_id}/"}


@login_required
def space_transcript(request: HttpRequest, space_id: int) -> HttpResponse:
    viewer = signed_in(request)
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
        space, lines = selectors.caption_transcript_download(
            viewer=signed_in(request), space_id=space_id
        )
    except NotFound as error:
        raise Http404(error.message) from error
    except Forbidden as error:
        return render(request, "spaces/blocked.html", {"message": error.message}, status=403)
    return captions.transcript_response(space, lines, fmt)
