"""The Space page's actions: one POST each, calling the one service the API and the socket call
too. A refusal (ApplicationError) becomes a message on the page the form came from. The same
URLs answer JSON when asked for it (`Accept: application/json`, as static/js/space.js does):
`{"ok": true, "message", "state"}`, where `state` is the `space.state` snapshot the socket sends
(docs/realtime.md), or `{"ok": false, "error": {"code", "message", "fields"}}` with the
service's status.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from accounts.models import User
from spaces import services
from spaces.forms import ReportForm, ShareForm
from spaces.models import Invitation, Participant, Reaction, Space
from spaces.serializers import space_snapshot
from spaces_project.errors import ApplicationError, NotFound, RateLimited, ValidationFailed
from spaces_project.site import back, error_json, form_refusal, signed_in, wants_json

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

Role = Participant.Role


def _act(
    request: HttpRequest,
    space_id: int,
    run: Callable[[User], str | None],
    *,
    with_state: bool = True,
    anchor: str = "",
) -> HttpResponse:
    """Run one action for the signed-in user and answer: a redirect back with a message, or JSON.

    `run` calls one service and returns the success message (None: nothing to say). `anchor`:
    the part of the page to go back to (the comments)."""
    user = signed_in(request)
    page = reverse("space_detail", args=[space_id]) + (f"#{anchor}" if anchor else "")
    try:
        text = run(user)
    except ApplicationError as error:
        if wants_json(request):
            return error_json(error)
        messages.error(request, error.message)
        return back(request, page)
    if wants_json(request):
        state = None
        if with_state:
            try:
                state = space_snapshot(viewer=user, space_id=space_id).state
            except ApplicationError:
                state = None
        return JsonResponse({"ok": True, "message": text, "state": state})
    if text:
        messages.success(request, text)
    return back(request, page)


def _int(value: str | None, name: str) -> int:
    try:
        number = int(value or "")
    except ValueError:
        number = 0
    # Bounded like the API's ids: a larger number made SQLite raise OverflowError (a 500).
    if not 0 < number <= 2**53 - 1:
        raise ValidationFailed(
            gettext("Missing %(name)s.") % {"name": name},
            fields={name: [gettext("A positive integer.")]},
        )
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
        raise NotFound(
            gettext("There is no account @%(name)s.") % {"name": name}, code="user_not_found"
        )
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
        raise NotFound(
            gettext("No account with the username %(listed)s.") % {"listed": listed},
            code="user_not_found",
        )
    return [pk for pk, _ in rows]


@require_POST
@login_required
def space_join(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.space_join(user=user, space_id=space_id)
        return gettext("You joined the Space.")

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
                return gettext("You left and handed the Space to %(name)s.") % {
                    "name": new_host.host.name
                }
        return gettext("You left the Space.")

    return _act(request, space_id, run)


@require_POST
@login_required
def space_end(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.space_end(actor=user, space_id=space_id)
        return gettext("You ended the Space.")

    return _act(request, space_id, run)


@require_POST
@login_required
def hand_raise(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.speaker_request_create(user=user, space_id=space_id)
        return gettext("You asked to speak. The host will see your hand.")

    return _act(request, space_id, run)


@require_POST
@login_required
def hand_withdraw(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.speaker_request_withdraw(user=user, space_id=space_id)
        return gettext("You lowered your hand.")

    return _act(request, space_id, run)


@require_POST
@login_required
def request_approve(request: HttpRequest, space_id: int, request_id: int) -> HttpResponse:
    def run(user: User) -> str:
        p = services.speaker_request_approve(actor=user, space_id=space_id, request_id=request_id)
        return gettext("%(name)s is now a speaker.") % {"name": p.user.name}

    return _act(request, space_id, run)


@require_POST
@login_required
def request_deny(request: HttpRequest, space_id: int, request_id: int) -> HttpResponse:
    def run(user: User) -> str:
        r = services.speaker_request_deny(actor=user, space_id=space_id, request_id=request_id)
        return gettext("You declined the request of %(name)s.") % {"name": r.user.name}

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
        if kind == Invitation.Kind.COHOST:
            return gettext("You invited %(name)s to co-host.") % {"name": invitation.invitee.name}
        return gettext("You invited %(name)s to speak.") % {"name": invitation.invitee.name}

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
            return gettext("You are now a co-host.")
        return gettext("You are on stage. Your mic is off until you turn it on.")

    return _act(request, space_id, run)


@require_POST
@login_required
def invitation_decline(request: HttpRequest, space_id: int, invitation_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.invitation_decline(user=user, space_id=space_id, invitation_id=invitation_id)
        return gettext("You declined the invitation.")

    return _act(request, space_id, run)


@require_POST
@login_required
def invitation_cancel(request: HttpRequest, space_id: int, invitation_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.invitation_cancel(actor=user, space_id=space_id, invitation_id=invitation_id)
        return gettext("You took the invitation back.")

    return _act(request, space_id, run)


_ON_PARTICIPANT: dict[str, tuple[Callable[..., Participant], StrPromise]] = {
    "demote": (services.participant_demote, gettext_lazy("%(name)s moved to the audience.")),
    "mute": (services.participant_mute, gettext_lazy("You muted %(name)s.")),
    "remove": (services.participant_remove, gettext_lazy("%(name)s was removed from the Space.")),
    "block": (services.participant_block, gettext_lazy("%(name)s was removed and blocked.")),
    "cohost-revoke": (services.cohost_revoke, gettext_lazy("%(name)s is no longer a co-host.")),
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
        return message % {"name": p.user.name}

    return _act(request, space_id, run)


@require_POST
@login_required
def me_mute(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.participant_mute_self(user=user, space_id=space_id)
        return gettext("Your mic is off.")

    return _act(request, space_id, run)


@require_POST
@login_required
def me_unmute(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.participant_unmute(actor=user, space_id=space_id, user_id=user.pk)
        return gettext("Your mic is on.")

    return _act(request, space_id, run)


@require_POST
@login_required
def me_step_down(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.participant_step_down(user=user, space_id=space_id)
        return gettext("You are back in the audience.")

    return _act(request, space_id, run)


@require_POST
@login_required
def me_recording(request: HttpRequest, space_id: int) -> HttpResponse:
    """A stage member's "Don't record my voice" (`recorded=0`), or back (`recorded=1`)."""
    recorded = request.POST.get("recorded") in ("1", "true", "on")

    def run(user: User) -> str:
        services.recording_consent_set(actor=user, space_id=space_id, recorded=recorded)
        if recorded:
            return gettext("Your voice is recorded again.")
        return gettext("Your voice is kept out of the recording. Listeners still hear you.")

    return _act(request, space_id, run)


@require_POST
@login_required
def react(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str | None:
        emoji = request.POST.get("emoji", "").strip()
        code = services.reaction_send(user=user, space_id=space_id, emoji=emoji)
        return (
            None
            if wants_json(request)
            else gettext("You reacted %(reaction)s") % {"reaction": Reaction(code).label}
        )

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
        return gettext("Pinned to the Space.")

    return _act(request, space_id, run)


@require_POST
@login_required
def pin_remove(request: HttpRequest, space_id: int, pin_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.pin_remove(user=user, space_id=space_id, pin_id=pin_id)
        return gettext("Unpinned.")

    return _act(request, space_id, run)


@require_POST
@login_required
def captions_toggle(request: HttpRequest, space_id: int) -> HttpResponse:
    enabled = request.POST.get("enabled") in ("1", "true", "on")

    def run(user: User) -> str:
        services.captions_toggle(actor=user, space_id=space_id, enabled=enabled)
        return gettext("Captions are on.") if enabled else gettext("Captions are off.")

    return _act(request, space_id, run)


@require_POST
@login_required
def space_share(request: HttpRequest, space_id: int) -> HttpResponse:
    form = ShareForm(request.POST)

    def run(user: User) -> str:
        if not form.is_valid():
            raise form_refusal(form)
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
            parts.append(
                ngettext("sent to %(count)s person", "sent to %(count)s people", n) % {"count": n}
            )
        if form.cleaned_data["to_followers"]:
            n = result.notifications_sent
            parts.append(
                ngettext("shared with %(count)s follower", "shared with %(count)s followers", n)
                % {"count": n}
            )
        if result.skipped_user_ids:
            n = len(result.skipped_user_ids)
            parts.append(
                ngettext("%(count)s could not receive it", "%(count)s could not receive it", n)
                % {"count": n}
            )
        text = "; ".join(parts) or gettext("nobody could receive it")
        return text[0].upper() + text[1:] + "."

    return _act(request, space_id, run, with_state=False)


@require_POST
@login_required
def space_report(request: HttpRequest, space_id: int) -> HttpResponse:
    form = ReportForm(request.POST)

    def run(user: User) -> str:
        if not form.is_valid():
            reason_wrong = "reason" in form.errors
            raise form_refusal(
                form, gettext("Choose a reason for the report.") if reason_wrong else None
            )
        services.report_create(
            reporter=user,
            space_id=space_id,
            reason=form.cleaned_data["reason"],
            details=form.cleaned_data["details"],
            target_user_id=form.cleaned_data["target"],
            comment_id=form.cleaned_data["comment_id"],
        )
        return gettext("Thanks. Your report was sent to our moderators.")

    return _act(request, space_id, run, with_state=False)


# --- Comments and live controls ----------------------------------------------------------------
# The room's text comments and the host's live controls as plain forms, for pages without
# JavaScript (the page's script sends the same over the socket). Every rule is the service's.


def _seconds(value: int) -> str:
    """30 seconds, a minute, 5 minutes."""
    if value % 60 == 0:
        minutes = value // 60
        if minutes == 1:
            return gettext("a minute")
        return ngettext("%(count)s minute", "%(count)s minutes", minutes) % {"count": minutes}
    return ngettext("%(count)s second", "%(count)s seconds", value) % {"count": value}


def _every(value: int) -> str:
    """every 30 seconds, every minute, every 5 minutes."""
    if value == 60:
        return gettext("every minute")
    return gettext("every %(duration)s") % {"duration": _seconds(value)}


@require_POST
@login_required
def comment_post(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str | None:
        # A double submit is one comment: the service answers the second with the first.
        try:
            services.comment_post(user=user, space_id=space_id, text=request.POST.get("text", ""))
        except RateLimited as error:
            if error.code == "slow_mode" and error.retry_after is not None:
                wait = max(1, math.ceil(error.retry_after))
                raise RateLimited(
                    gettext("%(message)s Try again in %(duration)s.")
                    % {"message": error.message, "duration": _seconds(wait)},
                    code=error.code,
                    retry_after=error.retry_after,
                ) from error
            raise
        return None if wants_json(request) else gettext("Your comment is posted.")

    return _act(request, space_id, run, anchor="comments")


@require_POST
@login_required
def comment_delete(request: HttpRequest, space_id: int, comment_id: int) -> HttpResponse:
    def run(user: User) -> str:
        services.comment_delete(actor=user, space_id=space_id, comment_id=comment_id)
        return gettext("The comment is deleted.")

    return _act(request, space_id, run, anchor="comments")


def _flag(value: str | None, name: str) -> bool | None:
    """A form's on/off field: None when the form leaves it out."""
    if value is None or value == "":
        return None
    if value in ("1", "true", "on"):
        return True
    if value in ("0", "false", "off"):
        return False
    raise ValidationFailed(
        gettext("Not a valid %(name)s.") % {"name": name}, fields={name: [gettext("1 or 0.")]}
    )


@require_POST
@login_required
def comments_settings(request: HttpRequest, space_id: int) -> HttpResponse:
    """Comments on or off (`enabled`), and slow mode (`slow_mode_seconds`, 0: off)."""

    def run(user: User) -> str:
        enabled = _flag(request.POST.get("enabled"), "enabled")
        raw = request.POST.get("slow_mode_seconds", "").strip()
        slow: int | None = None
        if raw:
            if not raw.isdigit() or len(raw) > 6:
                raise ValidationFailed(
                    gettext("Choose how slow."),
                    fields={"slow_mode_seconds": [gettext("A number of seconds.")]},
                )
            slow = int(raw)
        space = services.comments_configure(
            actor=user, space_id=space_id, enabled=enabled, slow_mode_seconds=slow
        )
        if slow is None:
            return (
                gettext("Comments are on.")
                if space.comments_enabled
                else gettext("Comments are off.")
            )
        if not space.comment_slow_mode_seconds:
            return gettext("Slow mode is off.")
        return gettext("Slow mode: one comment %(every)s.") % {
            "every": _every(space.comment_slow_mode_seconds)
        }

    return _act(request, space_id, run)


SPEAKING_POLICY_SAID = {
    Space.SpeakingPolicy.EVERYONE: gettext_lazy("Anyone listening can ask to speak."),
    Space.SpeakingPolicy.FOLLOWED_BY_HOST: gettext_lazy(
        "Only people the host follows can ask to speak."
    ),
    Space.SpeakingPolicy.INVITED_ONLY: gettext_lazy(
        "Nobody can ask to speak: speakers come by invitation."
    ),
}


@require_POST
@login_required
def speaking_policy(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        space = services.speaking_policy_set(
            actor=user, space_id=space_id, policy=request.POST.get("speaking_policy", "")
        )
        return str(SPEAKING_POLICY_SAID[Space.SpeakingPolicy(space.speaking_policy)])

    return _act(request, space_id, run)


@require_POST
@login_required
def stage_lock(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        locked = _flag(request.POST.get("locked"), "locked")
        if locked is None:
            raise ValidationFailed(
                gettext("Say lock or unlock."), fields={"locked": [gettext("1 or 0.")]}
            )
        space = services.stage_lock_set(actor=user, space_id=space_id, locked=locked)
        if space.stage_locked:
            return gettext(
                "The stage is locked: no new requests to speak. You can still invite people."
            )
        return gettext("The stage is open to requests again.")

    return _act(request, space_id, run)


@require_POST
@login_required
def mute_all(request: HttpRequest, space_id: int) -> HttpResponse:
    def run(user: User) -> str:
        muted = services.mute_all(actor=user, space_id=space_id)
        if not muted:
            return gettext("Nobody else on stage had their mic on.")
        n = len(muted)
        return ngettext(
            "You muted %(count)s person on stage.", "You muted %(count)s people on stage.", n
        ) % {"count": n}

    return _act(request, space_id, run)


@require_POST
@login_required
def guests(request: HttpRequest, space_id: int) -> HttpResponse:
    """The host's switch: people without an account may listen, or not (issue 20)."""

    def run(user: User) -> str:
        allowed = _flag(request.POST.get("allowed"), "allowed")
        if allowed is None:
            raise ValidationFailed(
                gettext("Say on or off."), fields={"allowed": [gettext("1 or 0.")]}
            )
        space = services.guests_allowed_set(actor=user, space_id=space_id, allowed=allowed)
        if space.guests_allowed:
            return gettext("People without an account can listen now.")
        return gettext("Only people with an account can listen now.")

    return _act(request, space_id, run)


@require_POST
@login_required
def noise_suppression(request: HttpRequest, space_id: int) -> HttpResponse:
    """The host's switch: suppress background noise in every speaker's audio (issue 23)."""

    def run(user: User) -> str:
        enabled = _flag(request.POST.get("enabled"), "enabled")
        if enabled is None:
            raise ValidationFailed(
                gettext("Say on or off."), fields={"enabled": [gettext("1 or 0.")]}
            )
        space = services.noise_suppression_set(actor=user, space_id=space_id, enabled=enabled)
        if space.noise_suppression:
            return gettext("Noise suppression is on for everyone on stage.")
        return gettext("Noise suppression is off.")

    return _act(request, space_id, run)
