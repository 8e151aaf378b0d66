"""Site pages for accounts. Thin: reads go through selectors, writes through services, and a
refusal from a service (ApplicationError) becomes a message on the page the user came from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from accounts.forms import ProfileForm
from accounts.models import Notification, User
from accounts.selectors import (
    followers_of,
    following_of,
    notification_list,
    user_get_active,
    user_get_for_follow_lists,
    user_get_profile,
    user_me,
    users_to_follow,
)
from accounts.services import (
    block_create,
    block_delete,
    follow_create,
    follow_delete,
    notifications_mark_read,
    user_update_profile,
)
from spaces_project.errors import ApplicationError
from spaces_project.site import back, form_add_refusal, signed_in

PAGE_SIZE = 50
WHO_TO_FOLLOW = 5


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages without a <link rel=icon> (e.g. some errors)."""
    return redirect(static("img/favicon.svg"), permanent=True)


def _viewer(request: HttpRequest) -> User | None:
    return request.user if request.user.is_authenticated else None


def hosting_progress(me: User) -> dict[str, int]:
    """The "hosting unlocks at N followers" card: `host_min_followers` and `host_progress`
    (percent). `me` comes from `user_me`, which annotates `follower_count`."""
    needed = settings.SPACES_HOST_MIN_FOLLOWERS
    followers: int = getattr(me, "follower_count", 0)
    return {
        "host_min_followers": needed,
        "host_progress": min(100, round(100 * followers / needed)) if needed else 100,
    }


# --- Home -----------------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    viewer = _viewer(request)
    if viewer is None:
        return render(request, "landing.html")
    account = user_me(user=viewer)
    return render(
        request,
        "home.html",
        {
            "me": account,
            **hosting_progress(account),
            "who_to_follow": users_to_follow(viewer=viewer, limit=WHO_TO_FOLLOW),
        },
    )


# --- Profiles and the follow graph ----------------------------------------------------------


def profile(request: HttpRequest, username: str) -> HttpResponse:
    viewer = _viewer(request)
    person = user_get_profile(username=username, viewer=viewer)
    is_self = viewer is not None and viewer.pk == person.pk
    blocked_you = bool(getattr(person, "blocks_you", False)) and not is_self
    return render(
        request,
        "accounts/profile.html",
        {"person": person, "is_self": is_self, "blocked_you": blocked_you},
    )


def _follow_list(request: HttpRequest, username: str, *, tab: str) -> HttpResponse:
    viewer = _viewer(request)
    try:
        person = user_get_for_follow_lists(username=username, viewer=viewer)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("profile", username=username)
    if tab == "followers":
        rows, side = followers_of(user=person, viewer=viewer), "follower"
    else:
        rows, side = following_of(user=person, viewer=viewer), "followee"
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/follow_list.html",
        {
            "person": person,
            "tab": tab,
            "page_obj": page,
            "people": [getattr(follow, side) for follow in page.object_list],
        },
    )


def profile_followers(request: HttpRequest, username: str) -> HttpResponse:
    return _follow_list(request, username, tab="followers")


def profile_following(request: HttpRequest, username: str) -> HttpResponse:
    return _follow_list(request, username, tab="following")


def _graph_action(
    request: HttpRequest,
    username: str,
    action: Callable[[User, User], str | None],
) -> HttpResponseRedirect:
    target = user_get_active(username=username)
    try:
        text = action(signed_in(request), target)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        if text:
            messages.success(request, text)
    return back(request, reverse("profile", args=[target.username]))


def _follow(viewer: User, target: User) -> str | None:
    _, created = follow_create(follower=viewer, followee=target)
    return f"You now follow {target.name}." if created else None


def _unfollow(viewer: User, target: User) -> str | None:
    removed = follow_delete(follower=viewer, followee=target)
    return f"You no longer follow {target.name}." if removed else None


def _block(viewer: User, target: User) -> str | None:
    _, created = block_create(blocker=viewer, blocked=target)
    if not created:
        return None
    return f"You blocked @{target.username}. They can no longer follow you or join your Spaces."


def _unblock(viewer: User, target: User) -> str | None:
    removed = block_delete(blocker=viewer, blocked=target)
    return f"You unblocked @{target.username}." if removed else None


@require_POST
@login_required
def profile_follow(request: HttpRequest, username: str) -> HttpResponse:
    return _graph_action(request, username, _follow)


@require_POST
@login_required
def profile_unfollow(request: HttpRequest, username: str) -> HttpResponse:
    return _graph_action(request, username, _unfollow)


@require_POST
@login_required
def profile_block(request: HttpRequest, username: str) -> HttpResponse:
    return _graph_action(request, username, _block)


@require_POST
@login_required
def profile_unblock(request: HttpRequest, username: str) -> HttpResponse:
    return _graph_action(request, username, _unblock)


# --- Settings -------------------------------------------------------------------------------


@login_required
def settings_profile(request: HttpRequest) -> HttpResponse:
    user: User = signed_in(request)
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                user_update_profile(user=user, **form.cleaned_data)
            except ApplicationError as error:
                # The service mutates `user` before validating; the page must show what is saved.
                user.refresh_from_db()
                form_add_refusal(form, error)
            else:
                messages.success(request, "Your profile is saved.")
                return redirect("profile", username=user.username)
    else:
        form = ProfileForm(
            initial={
                "display_name": user.display_name,
                "bio": user.bio,
                "email_notifications": user.email_notifications,
            }
        )
    return render(request, "accounts/settings_profile.html", {"form": form})


# --- Notifications --------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationLine:
    """A notification as one readable sentence: `actor` (a username, linked) then `text`."""

    notification: Notification
    icon: str
    text: str
    actor: str | None = None
    actor_name: str | None = None
    url: str | None = None


def _space_url(payload: dict[str, Any]) -> str | None:
    url = payload.get("url")
    if isinstance(url, str) and url.startswith("/") and not url.startswith("//"):
        return url
    space_id = payload.get("space_id")
    if space_id is None:
        return None
    # The Space page lands with a later issue; until then there is nothing to link to.
    for name in ("spaces:detail", "space_detail"):
        try:
            return reverse(name, args=[space_id])
        except NoReverseMatch:
            continue
    return None


def _title(payload: dict[str, Any]) -> str:
    title = payload.get("title")
    return f"\u201c{title}\u201d" if title else "a Space"


def _actor(payload: dict[str, Any], *keys: str) -> tuple[str | None, str | None]:
    """The first username found under `keys`, and its display name (`<key>_name` or `name`)."""
    for key in keys:
        username = payload.get(key)
        if isinstance(username, str) and username:
            return username, str(payload.get(f"{key}_name") or payload.get("name") or username)
    return None, None


def _profile_url(username: str | None) -> str | None:
    return reverse("profile", args=[username]) if username else None


# What each kind says. Payload keys understood: user/from/host (+ `<key>_name` or `name`),
# title, space_id or url, role ("cohost" or "speaker"), message. Later issues that write
# notifications use these keys; an unknown kind falls back to its label.
def _line(n: Notification) -> NotificationLine:
    p: dict[str, Any] = n.payload if isinstance(n.payload, dict) else {}
    kind = Notification.Kind
    space = _space_url(p)
    if n.kind == kind.FOLLOW:
        actor, name = _actor(p, "user")
        return NotificationLine(n, "user-plus", "followed you.", actor, name, _profile_url(actor))
    if n.kind == kind.SPACE_LIVE:
        actor, name = _actor(p, "host", "user")
        return NotificationLine(n, "mic", f"is live now: {_title(p)}.", actor, name, space)
    if n.kind == kind.SPACE_SHARED:
        actor, name = _actor(p, "from", "user")
        return NotificationLine(n, "share", f"shared {_title(p)} with you.", actor, name, space)
    if n.kind == kind.SPACE_INVITE:
        actor, name = _actor(p, "from", "host", "user")
        role = "co-host" if p.get("role") in ("cohost", "co_host", "co-host") else "speak"
        text = f"invited you to {role} in {_title(p)}."
        return NotificationLine(n, "hand", text, actor, name, space)
    if n.kind == kind.MESSAGE:
        actor, name = _actor(p, "from", "sender")
        if p.get("space_id"):
            text = "shared a Space with you in a message."
        else:
            text = "sent you a message."
        return NotificationLine(n, "mail", text, actor, name, space or _profile_url(actor))
    scheduled = f"The scheduled Space {_title(p)}" if p.get("title") else "A scheduled Space"
    yours = f"your Space {_title(p)}" if p.get("title") else "your scheduled Space"
    # The sender's own sentence wins (e.g. "starts in 30 minutes" vs "time to start"); the
    # defaults cover payloads that carry only a title.
    message = p.get("message")
    texts: dict[str, tuple[str, str]] = {
        kind.SPACE_REMINDER: ("calendar", message or f"Reminder: {_title(p)} is starting."),
        kind.SPACE_CHANGED: ("calendar", message or f"{scheduled} was rescheduled or changed."),
        kind.SPACE_CANCELLED: ("calendar", message or f"{scheduled} was cancelled."),
        kind.HOST_REMINDER: ("mic", message or f"Time to start {yours}."),
        kind.TICKET: ("ticket", message or f"Your ticket for {_title(p)} changed."),
    }
    icon, text = texts.get(n.kind, ("bell", str(p.get("message") or n.get_kind_display())))
    return NotificationLine(n, icon, text, url=space)


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    user: User = signed_in(request)
    page = Paginator(notification_list(user=user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/notifications.html",
        {"page_obj": page, "lines": _with_current_names([_line(n) for n in page.object_list])},
    )


def _with_current_names(lines: list[NotificationLine]) -> list[NotificationLine]:
    """Payloads that carry only a username get the person's display name: one query a page."""
    bare = {line.actor for line in lines if line.actor and line.actor_name == line.actor}
    if not bare:
        return lines
    names = dict(
        User.objects.filter(username__in=bare)
        .exclude(display_name="")
        .values_list("username", "display_name")
    )
    return [
        replace(line, actor_name=names[line.actor])
        if line.actor in names and line.actor_name == line.actor
        else line
        for line in lines
    ]


@require_POST
@login_required
def notifications_mark_all_read(request: HttpRequest) -> HttpResponse:
    count = notifications_mark_read(user=signed_in(request))
    if count:
        messages.success(request, "All caught up: every notification is marked read.")
    return back(request, reverse("notifications"))
