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
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe

from accounts import hooks
from accounts.forms import MessageForm, ProfileForm
from accounts.models import DirectMessage, Notification, User
from accounts.previews import profile_card, profile_for_preview, profile_preview
from accounts.selectors import (
    conversation_list,
    conversations_for_page,
    followers_of,
    following_of,
    message_partner,
    notification_list,
    shared_space_cards,
    shared_space_id,
    thread_messages,
    user_get_active,
    user_get_for_follow_lists,
    user_get_profile,
    user_me,
    users_to_follow,
)
from accounts.services import (
    block_create,
    block_delete,
    direct_message_send,
    direct_messages_mark_read,
    follow_create,
    follow_delete,
    notifications_mark_read,
    user_time_zone_guess,
    user_update_profile,
)
from spaces_project.errors import ApplicationError, NotAuthenticated, NotFound
from spaces_project.previews import MAX_AGE_SETTLED, card_response
from spaces_project.site import back, error_json, form_add_refusal, signed_in
from spaces_project.timezones import zone_name

PAGE_SIZE = 50
WHO_TO_FOLLOW = 5


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages without a <link rel=icon> (e.g. some errors)."""
    return redirect(static("img/favicon.svg"), permanent=True)


def _viewer(request: HttpRequest) -> User | None:
    return request.user if request.user.is_authenticated else None


def hosting_progress(me: User) -> dict[str, int]:
    """The "hosting opens at N followers" card: `host_min_followers`, `host_progress`
    (percent) and `followers_to_go`. `me` comes from `user_me`, which annotates
    `follower_count`."""
    needed = settings.SPACES_HOST_MIN_FOLLOWERS
    followers: int = getattr(me, "follower_count", 0)
    return {
        "host_min_followers": needed,
        "host_progress": min(100, round(100 * followers / needed)) if needed else 100,
        "followers_to_go": max(0, needed - followers),
    }


# --- Home -----------------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    viewer = _viewer(request)
    if viewer is None:
        return render(
            request,
            "landing.html",
            {
                "host_min_followers": settings.SPACES_HOST_MIN_FOLLOWERS,
                "max_speakers": settings.SPACES_MAX_SPEAKERS,
                "max_cohosts": settings.SPACES_MAX_COHOSTS,
            },
        )
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
        {
            "person": person,
            "is_self": is_self,
            "blocked_you": blocked_you,
            # The link preview (accounts/previews.py); none for someone the person blocked.
            "preview": None if blocked_you else profile_preview(request, person),
        },
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
    return gettext("You now follow %(name)s.") % {"name": target.name} if created else None


def _unfollow(viewer: User, target: User) -> str | None:
    removed = follow_delete(follower=viewer, followee=target)
    return gettext("You no longer follow %(name)s.") % {"name": target.name} if removed else None


def _block(viewer: User, target: User) -> str | None:
    _, created = block_create(blocker=viewer, blocked=target)
    if not created:
        return None
    return gettext(
        "You blocked @%(username)s. They can no longer follow you or join your Spaces."
    ) % {"username": target.username}


def _unblock(viewer: User, target: User) -> str | None:
    removed = block_delete(blocker=viewer, blocked=target)
    return (
        gettext("You unblocked @%(username)s.") % {"username": target.username} if removed else None
    )


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
                messages.success(request, gettext("Your profile is saved."))
                return redirect("profile", username=user.username)
    else:
        form = ProfileForm(
            initial={
                "display_name": user.display_name,
                "bio": user.bio,
                "email_notifications": user.email_notifications,
                "time_zone": user.time_zone or zone_name(timezone.get_current_timezone()),
                "language": user.language,
            }
        )
    return render(request, "accounts/settings_profile.html", {"form": form})


@require_POST
def time_zone_guess(request: HttpRequest) -> HttpResponse:
    """The zone static/js/time.js read from the browser, sent once for a signed-in user who has
    none yet (the page carries the form only then). JSON for the script; a zone already set
    is kept and returned."""
    if not request.user.is_authenticated:
        return error_json(NotAuthenticated(gettext("Log in first.")))
    try:
        zone = user_time_zone_guess(
            user=signed_in(request), time_zone=request.POST.get("time_zone", "")
        )
    except ApplicationError as error:
        return error_json(error)
    return JsonResponse({"ok": True, "time_zone": zone})


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
    # The sender's own words, quoted under the sentence (a message, a share's note).
    quote: str | None = None


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
    return f"\u201c{title}\u201d" if title else gettext("a Space")


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
        return NotificationLine(
            n, "user-plus", gettext("followed you."), actor, name, _profile_url(actor)
        )
    if n.kind in (kind.SPACE_LIVE, kind.FOLLOWED_LIVE):
        actor, name = _actor(p, "host", "user")
        return NotificationLine(
            n, "mic", gettext("is live now: %(title)s.") % {"title": _title(p)}, actor, name, space
        )
    if n.kind == kind.SPACE_SHARED:
        actor, name = _actor(p, "from", "user")
        text = gettext("shared %(title)s with you.") % {"title": _title(p)}
        words = p.get("message") if isinstance(p.get("message"), str) else None
        return NotificationLine(n, "share", text, actor, name, space, quote=words or None)
    if n.kind == kind.SPACE_INVITE:
        actor, name = _actor(p, "from", "host", "user")
        if p.get("role") in ("cohost", "co_host", "co-host"):
            text = gettext("invited you to co-host in %(title)s.") % {"title": _title(p)}
        else:
            text = gettext("invited you to speak in %(title)s.") % {"title": _title(p)}
        return NotificationLine(n, "hand", text, actor, name, space)
    if n.kind == kind.MESSAGE:
        # Links to the conversation; the words are read from the message itself
        # (`_with_message_words`), so a page of notifications costs one query for them all.
        actor, name = _actor(p, "from", "sender")
        if p.get("space_id"):
            text = gettext("shared a Space with you in a message.")
        else:
            text = gettext("sent you a message.")
        url = _thread_url(actor, p.get("message_id")) or space or _profile_url(actor)
        return NotificationLine(n, "mail", text, actor, name, url)
    title = _title(p) if p.get("title") else ""
    # The sender's own sentence wins (e.g. "starts in 30 minutes" vs "time to start"); the
    # defaults cover payloads that carry only a title.
    message = p.get("message")
    texts: dict[str, tuple[str, str]] = {
        kind.SPACE_REMINDER: (
            "calendar",
            message or gettext("Reminder: %(title)s is starting.") % {"title": _title(p)},
        ),
        kind.SPACE_CHANGED: (
            "calendar",
            message
            or (
                gettext("The scheduled Space %(title)s was rescheduled or changed.")
                % {"title": title}
                if title
                else gettext("A scheduled Space was rescheduled or changed.")
            ),
        ),
        kind.SPACE_CANCELLED: (
            "calendar",
            message
            or (
                gettext("The scheduled Space %(title)s was cancelled.") % {"title": title}
                if title
                else gettext("A scheduled Space was cancelled.")
            ),
        ),
        kind.HOST_REMINDER: (
            "mic",
            message
            or (
                gettext("Time to start your Space %(title)s.") % {"title": title}
                if title
                else gettext("Time to start your scheduled Space.")
            ),
        ),
        kind.TICKET: (
            "ticket",
            message or gettext("Your ticket for %(title)s changed.") % {"title": _title(p)},
        ),
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
        {
            "page_obj": page,
            "lines": _with_message_words(
                _with_current_names([_line(n) for n in page.object_list]), user=user
            ),
        },
    )


def _thread_url(username: str | None, message_id: object = None) -> str | None:
    if not username:
        return None
    url = reverse("message_thread", args=[username])
    return f"{url}#m{message_id}" if isinstance(message_id, int) else url


def _with_message_words(lines: list[NotificationLine], *, user: User) -> list[NotificationLine]:
    """Message notifications quote the message (the user's own only): one query a page."""

    def message_id(line: NotificationLine) -> int | None:
        payload = line.notification.payload
        if line.notification.kind != Notification.Kind.MESSAGE or not isinstance(payload, dict):
            return None
        found = payload.get("message_id")
        return found if isinstance(found, int) else None

    ids = {i for i in map(message_id, lines) if i is not None}
    if not ids:
        return lines
    words: dict[int, str] = dict(
        DirectMessage.objects.filter(pk__in=ids, recipient=user).values_list("pk", "body")
    )
    return [
        replace(line, quote=words.get(i)) if (i := message_id(line)) is not None else line
        for line in lines
    ]


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
        messages.success(request, gettext("All caught up: every notification is marked read."))
    return back(request, reverse("notifications"))


# --- Direct messages ------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadItem:
    """A message as the thread draws it: whose side it sits on, and the Space it shares."""

    message: DirectMessage
    mine: bool
    shares_space: bool = False
    space: hooks.SharedSpace | None = None  # None when shared but not visible (or gone)


def _thread_items(viewer: User, page_messages: list[DirectMessage]) -> list[ThreadItem]:
    """Oldest first, each shared Space as the card Spaces draws (accounts.hooks): one query
    for the whole page, whatever the number of Spaces shared in it."""
    cards = shared_space_cards(viewer, map(shared_space_id, page_messages))
    items = []
    for message in page_messages:
        space_id = shared_space_id(message)
        items.append(
            ThreadItem(
                message=message,
                mine=message.sender_id == viewer.pk,
                shares_space=space_id is not None,
                space=cards.get(space_id) if space_id is not None else None,
            )
        )
    return items


@login_required
def messages_inbox(request: HttpRequest) -> HttpResponse:
    user: User = signed_in(request)
    to = (request.GET.get("to") or "").strip().lstrip("@")
    if to:
        # "New message": find the person, then their thread (which the user may not have yet).
        person = User.objects.filter(is_active=True, username__iexact=to).first()
        if person is None:
            messages.error(request, gettext("No one here is called @%(to)s.") % {"to": to})
        elif person.pk == user.pk:
            messages.error(request, gettext("Choose someone other than yourself."))
        else:
            return redirect("message_thread", username=person.username)
    page = Paginator(conversation_list(user=user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/messages.html",
        {"page_obj": page, "conversations": conversations_for_page(page.object_list), "to": to},
    )


@login_required
def message_thread(request: HttpRequest, username: str) -> HttpResponse:
    """One conversation: oldest to newest on a page (page 1 is the newest), a reply box, and
    the other person's messages marked read as the page opens. Only ever the viewer's own
    conversation: the URL names the other person, never a thread id."""
    user: User = signed_in(request)
    partner = message_partner(user=user, username=username)
    url = reverse("message_thread", args=[partner.username])
    form = MessageForm(request.POST if request.method == "POST" else None)
    # A refused reply comes back as the page with the reason beside the box (200, as every
    # form of the site does), the typed text still in it.
    if request.method == "POST" and form.is_valid():
        try:
            sent = direct_message_send(
                sender=user, recipient=partner, body=form.cleaned_data["body"]
            )
        except ApplicationError as error:
            form_add_refusal(form, error)
        else:
            return redirect(f"{url}#m{sent.pk}")
    direct_messages_mark_read(user=user, other=partner)
    page = Paginator(thread_messages(user=user, other=partner), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    blocked_you = bool(getattr(partner, "blocks_you", False))
    you_blocked = bool(getattr(partner, "is_blocked", False))
    return render(
        request,
        "accounts/thread.html",
        {
            "partner": partner,
            "page_obj": page,
            "items": _thread_items(user, list(reversed(page.object_list))),
            "form": form,
            "can_send": not blocked_you and not you_blocked,
            "blocked_you": blocked_you,
            "you_blocked": you_blocked,
        },
    )


@require_safe
def profile_card_image(request: HttpRequest, username: str) -> HttpResponse:
    """The profile's link-preview image: public, 404 for someone the person blocked."""
    try:
        person = profile_for_preview(username=username, viewer=_viewer(request))
    except NotFound as error:
        raise Http404(error.message) from error
    return card_response(request, profile_card(person), max_age=MAX_AGE_SETTLED)
