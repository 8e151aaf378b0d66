"""The replay and clip pages, the files their players read, and their forms. Thin: reads through
replays.selectors, writes through replays.services (the API's rules and refusals).

A refusal becomes a page that says what happened with the status a shared link should carry:
404 (no such thing, or the host blocked you), 403 (a ticketed Space: buy a ticket), 409 (the
replay is being made: the page refreshes itself), 410 (deleted on purpose). The files answer
the same statuses with a line of text: a player only needs the status.

The host's podcast (its settings page, its RSS feed at /u/<username>/podcast.xml, and the
single-file audio and chapters its episodes point to) is here too: the feed and those files
answer podcast apps, which have no account, when the host publishes the replay.

The replay plays over HLS: Safari natively, other browsers through hls.js when `make
node-tools` copied it to static/vendor/ (`hls_script_url`); without it the page says the
browser cannot play the replay instead of failing silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Sequence
from typing import IO, Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.models import User
from replays import feed, previews, selectors, services
from replays.forms import ClipForm, PodcastForm
from replays.models import Clip
from replays.previews import clip_page_preview, clip_preview, replay_page_preview, replay_preview
from replays.selectors import Replay
from spaces.models import Recording, Space
from spaces_project.errors import (
    ApplicationError,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
)
from spaces_project.previews import MAX_AGE_SETTLED, card_response, signed_out_preview
from spaces_project.site import (
    back,
    error_json,
    form_add_refusal,
    form_refusal,
    hls_script_url,
    signed_in,
    wants_json,
)

# While a replay is being made its page looks again this often (seconds).
PREPARING_REFRESH_SECONDS = 10
# Segments and init segments never change once stored; playlists are read fresh.
IMMUTABLE = "private, max-age=86400"
FRESH = "private, no-cache"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# A podcast app re-reads the feed on its own schedule; a minute keeps a burst cheap.
FEED_CACHE = "public, max-age=60"
PODCAST_COVER = "img/podcast-cover.jpg"
_CHUNK = 64 * 1024


# --- Pages -------------------------------------------------------------------------------------


# Signed out: the link preview and a sign-in button (replays/previews.py).
@signed_out_preview(replay_page_preview)
def replay_detail(request: HttpRequest, space_id: int) -> HttpResponse:
    viewer = signed_in(request)
    try:
        replay = selectors.replay_for(viewer=viewer, space_id=space_id)
    except ApplicationError as error:
        return _replay_refusal(request, error, space_id)
    duration = replay.recording.duration_ms
    bars = _reaction_bars(replay.reactions, duration)
    comments, comment_total = selectors.replay_comments_page(replay.recording, viewer)
    return render(
        request,
        "replays/detail.html",
        {
            "replay": replay,
            "space": replay.space,
            "recording": replay.recording,
            "chapters": _chapters(replay),
            "comments": comments,
            "comment_total": comment_total,
            "reaction_bars": bars,
            "reaction_total": sum(bar["total"] for bar in bars),
            "reaction_peak": max(bars, key=lambda bar: bar["total"], default=None),
            "clip_form": ClipForm(initial={"start": 0, "end": min(30, duration // 1000)}),
            "max_clip_seconds": services.MAX_CLIP_SECONDS,
            "playlist_url": reverse("replay_file", args=[space_id, services.REPLAY_PLAYLIST]),
            "hls_script_url": hls_script_url(),
            "preview": replay_preview(request, replay.recording),
        },
    )


def _chapters(replay: Replay) -> list[dict[str, Any]]:
    """Speaker turns, each lasting until the next (the last until the end)."""
    chapters = replay.chapters
    end = replay.recording.duration_ms
    return [
        {
            "start_ms": c.start_ms,
            "end_ms": chapters[n + 1].start_ms if n + 1 < len(chapters) else end,
            "speaker": c.speaker,
        }
        for n, c in enumerate(chapters)
    ]


def _reaction_bars(reactions: list[dict[str, Any]], duration_ms: int) -> list[dict[str, Any]]:
    """One bar per window with reactions: where it sits along the replay and how tall, as
    percentages (the page draws them with style attributes, no script needed)."""
    if not reactions or duration_ms <= 0:
        return []
    peak = max(int(r["total"]) for r in reactions) or 1
    return [
        {
            "at_ms": int(r["at_ms"]),
            "total": int(r["total"]),
            "counts": r["counts"],
            "left": round(min(100.0, 100 * int(r["at_ms"]) / duration_ms), 2),
            "height": max(12, round(100 * int(r["total"]) / peak)),
        }
        for r in reactions
    ]


def _status_page(
    request: HttpRequest,
    status: int,
    *,
    heading: str,
    message: str,
    space: Space | None = None,
    actions: Sequence[tuple[str, str]] = (),
    refresh: int | None = None,
    icon: str = "info",
) -> HttpResponse:
    return render(
        request,
        "replays/status.html",
        {
            "heading": heading,
            "message": message,
            "space": space,
            "actions": actions,
            "refresh": refresh,
            "icon": icon,
        },
        status=status,
    )


def _space(space_id: int) -> Space | None:
    return Space.objects.select_related("host").filter(pk=space_id).first()


def _replay_refusal(request: HttpRequest, error: ApplicationError, space_id: int) -> HttpResponse:
    if isinstance(error, NotFound):
        if error.code != "replay_not_found":
            raise Http404(error.message) from error
        # The Space exists (the selector says so before any access check): say no more than
        # that it has no replay; its own page decides what this viewer may see of it.
        return _status_page(
            request,
            404,
            heading=_("This Space has no replay"),
            message=_("It wasn't recorded, so there is nothing to play."),
            actions=[(_("Open the Space"), reverse("space_detail", args=[space_id]))],
        )
    if isinstance(error, Forbidden):
        return _forbidden_page(request, error, space_id)
    space = _space(space_id)
    if isinstance(error, Gone):
        return _status_page(
            request,
            410,
            heading=_("This replay was deleted"),
            message=_("Its recording and its clips are gone for good."),
            space=space,
            actions=[(_("Find live Spaces"), reverse("space_list"))],
            icon="block",
        )
    if isinstance(error, Conflict) and space is not None:
        if space.state == Space.State.LIVE:
            return _status_page(
                request,
                409,
                heading=_("This Space is still live"),
                message=_("Its replay is made when it ends. Join in to listen now."),
                space=space,
                actions=[(_("Join the Space"), reverse("space_detail", args=[space_id]))],
            )
        return _status_page(
            request,
            409,
            heading=_("Replay being prepared"),
            message=_("The recording is being put together. This page reloads by itself."),
            space=space,
            actions=[(_("Back to the Space"), reverse("space_detail", args=[space_id]))],
            refresh=PREPARING_REFRESH_SECONDS,
        )
    return _status_page(request, error.status, heading=_("Can't play this"), message=error.message)


def _forbidden_page(request: HttpRequest, error: ApplicationError, space_id: int) -> HttpResponse:
    actions: list[tuple[str, str]] = []
    if error.code == "ticket_required":
        with contextlib.suppress(NoReverseMatch):  # ticketing not routed: no link
            actions.append((_("Get a ticket"), reverse("ticket_buy", args=[space_id])))
    return _status_page(
        request,
        403,
        heading=_("For ticket holders") if error.code == "ticket_required" else _("Not available"),
        message=error.message,
        space=_space(space_id),
        actions=actions,
        icon="block",
    )


@signed_out_preview(clip_page_preview)
def clip_detail(request: HttpRequest, slug: str) -> HttpResponse:
    viewer = signed_in(request)
    try:
        view = selectors.clip_for(viewer=viewer, slug=slug)
    except NotFound as error:
        raise Http404(error.message) from error
    except Gone:
        return _status_page(
            request,
            410,
            heading=_("This clip was deleted"),
            message=_("Its author or the host took it down."),
            actions=[(_("Find live Spaces"), reverse("space_list"))],
            icon="block",
        )
    except Forbidden as error:
        clip = Clip.objects.only("space_id").get(slug=slug)
        return _forbidden_page(request, error, clip.space_id)
    clip = view.clip
    space = clip.space
    return render(
        request,
        "replays/clip.html",
        {
            "view": view,
            "clip": clip,
            "space": space,
            "replay_ready": Recording.objects.filter(
                pk=clip.recording_id, status=Recording.Status.READY
            ).exists(),
            "share_url": request.build_absolute_uri(reverse("clip_detail", args=[clip.slug])),
            "preview": clip_preview(request, clip),
        },
    )


# --- Files -------------------------------------------------------------------------------------


def _file_refusal(error: ApplicationError) -> HttpResponse:
    return HttpResponse(
        error.message, status=error.status, content_type="text/plain; charset=utf-8"
    )


class _Unsatisfiable(Exception):
    """The range asked for starts past the end of the file: 416."""


def _byte_range(request: HttpRequest, size: int) -> tuple[int, int] | None:
    """The one byte range asked for, as (first, last) inclusive; None for the whole file."""
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if not match or not (match[1] or match[2]):
        return None
    if match[1]:
        first = int(match[1])
        last = min(int(match[2]), size - 1) if match[2] else size - 1
    else:  # the last N bytes
        first, last = max(0, size - int(match[2])), size - 1
    if first >= size or last < first:
        raise _Unsatisfiable
    return first, last


def _unsatisfiable(size: int, cache: str) -> HttpResponse:
    response = HttpResponse(status=416)
    response["Content-Range"] = f"bytes */{size}"
    response["Cache-Control"] = cache
    return response


def _bytes(request: HttpRequest, data: bytes, content_type: str, cache: str) -> HttpResponse:
    """`data` whole, or the one byte range asked for (Safari plays media only from servers
    that answer ranges). Private: only people allowed to hear it may have it, so no shared
    cache may keep a copy."""
    size = len(data)
    status, body, headers = 200, data, {}
    try:
        wanted = _byte_range(request, size)
    except _Unsatisfiable:
        return _unsatisfiable(size, cache)
    if wanted is not None:
        first, last = wanted
        status, body = 206, data[first : last + 1]
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    response = HttpResponse(body, status=status, content_type=content_type)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = cache
    for name, value in headers.items():
        response[name] = value
    return response


@require_safe
@login_required
def replay_file(request: HttpRequest, space_id: int, name: str) -> HttpResponse:
    """A file of the replay's HLS: the playlist, a part's playlist, init segment or segment
    (replays.selectors names which; anything else is a 404 before storage is asked)."""
    try:
        data, content_type = selectors.replay_file(
            viewer=signed_in(request), space_id=space_id, name=name
        )
    except ApplicationError as error:
        return _file_refusal(error)
    return _bytes(request, data, content_type, FRESH if name.endswith(".m3u8") else IMMUTABLE)


def _vtt(text: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/vtt; charset=utf-8")
    response["Cache-Control"] = FRESH
    return response


@require_safe
@login_required
def replay_captions(request: HttpRequest, space_id: int) -> HttpResponse:
    try:
        return _vtt(selectors.replay_captions_vtt(viewer=signed_in(request), space_id=space_id))
    except ApplicationError as error:
        return _file_refusal(error)


@require_safe
@login_required
def replay_chapters(request: HttpRequest, space_id: int) -> HttpResponse:
    try:
        return _vtt(selectors.replay_chapters_vtt(viewer=signed_in(request), space_id=space_id))
    except ApplicationError as error:
        return _file_refusal(error)


@require_safe
@login_required
def clip_audio(request: HttpRequest, slug: str) -> HttpResponse:
    """The clip as one plain MP4 (Opus), which every current browser plays by itself."""
    try:
        data = selectors.clip_file(viewer=signed_in(request), slug=slug)
    except ApplicationError as error:
        return _file_refusal(error)
    return _bytes(request, data, "audio/mp4", IMMUTABLE)


def _viewer(request: HttpRequest) -> User | None:
    """The signed-in user, or None: the podcast's files also answer apps with no account."""
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


def _read(file: IO[bytes], first: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of ``file`` from ``first``, a chunk at a time; closes it at the end."""
    try:
        file.seek(first)
        while length > 0:
            chunk = file.read(min(_CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        file.close()


@require_safe
def replay_audio(request: HttpRequest, space_id: int) -> HttpResponseBase:
    """The whole replay as one M4A (Opus), the podcast episode's enclosure: byte ranges (players
    seek with them), an ETag, and `If-Range`. Streamed from storage, never read whole into
    memory. Built now if it is missing (services.replay_audio_open)."""
    try:
        audio, file = services.replay_audio_open(viewer=_viewer(request), space_id=space_id)
    except ApplicationError as error:
        return _file_refusal(error)
    size = audio.size_bytes
    etag = f'"{space_id}-{size}-{int(audio.built_at.timestamp())}"'
    conditional = get_conditional_response(request, etag=etag)
    wanted: tuple[int, int] | None = None
    try:
        wanted = _byte_range(request, size)
    except _Unsatisfiable:
        conditional = conditional or _unsatisfiable(size, IMMUTABLE)
    if request.headers.get("If-Range", etag) != etag:
        wanted = None  # changed since the client's first part: the whole file again
    if conditional is not None or request.method == "HEAD":
        file.close()
    if conditional is not None:
        return conditional
    first, last = wanted or (0, size - 1)
    length = last - first + 1
    if request.method == "HEAD":
        response: HttpResponseBase = HttpResponse(content_type=feed.AUDIO_TYPE)
    else:
        response = StreamingHttpResponse(_read(file, first, length), content_type=feed.AUDIO_TYPE)
    if wanted is not None:
        response.status_code = 206
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Last-Modified"] = http_date(audio.built_at.timestamp())
    response["Cache-Control"] = IMMUTABLE
    response["Content-Disposition"] = f'inline; filename="space-{space_id}.m4a"'
    return response


@require_safe
def replay_chapters_json(request: HttpRequest, space_id: int) -> HttpResponse:
    """The chapters as Podcasting 2.0 JSON, the `podcast:chapters` of the episode."""
    try:
        data = selectors.replay_chapters_json(viewer=_viewer(request), space_id=space_id)
    except ApplicationError as error:
        return _file_refusal(error)
    response = JsonResponse(data, content_type="application/json+chapters")
    response["Cache-Control"] = FRESH
    return response


# --- The podcast -------------------------------------------------------------------------------


@require_safe
def podcast_feed(request: HttpRequest, username: str) -> HttpResponseBase:
    """The host's podcast as RSS 2.0 (replays/feed.py); 404 until they turn it on. Conditional
    on its ETag only: a renamed host changes the feed without changing any date it holds, so
    `If-Modified-Since` alone is answered in full."""
    try:
        podcast = selectors.podcast_for(username=username, viewer=_viewer(request))
    except ApplicationError as error:
        raise Http404(error.message) from error
    host = podcast.host.username
    absolute = request.build_absolute_uri
    body = feed.render(
        podcast,
        feed.Urls(
            feed=absolute(reverse("podcast_feed", args=[host])),
            profile=absolute(reverse("profile", args=[host])),
            image=absolute(static(PODCAST_COVER)),
            replay=lambda pk: absolute(reverse("replay_detail", args=[pk])),
            audio=lambda pk: absolute(reverse("replay_audio", args=[pk])),
            chapters=lambda pk: absolute(reverse("replay_chapters_json", args=[pk])),
        ),
    )
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    response = get_conditional_response(request, etag=etag) or HttpResponse(
        body, content_type=feed.CONTENT_TYPE
    )
    response["ETag"] = etag
    response["Last-Modified"] = http_date(podcast.updated_at.timestamp())
    response["Cache-Control"] = FEED_CACHE
    return response


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def settings_podcast(request: HttpRequest) -> HttpResponse:
    """The host's podcast settings: on or off, its title, description, category; the feed's
    address to copy once it is on."""
    user = signed_in(request)
    status = selectors.podcast_status(user=user)
    if request.method == "POST":
        form = PodcastForm(request.POST)
        if form.is_valid():
            try:
                saved = services.podcast_feed_update(user=user, **form.cleaned_data)
            except ApplicationError as error:
                form_add_refusal(form, error)
            else:
                messages.success(
                    request,
                    _("Your podcast is on.") if saved.enabled else _("Your podcast is off."),
                )
                return redirect("settings_podcast")
    else:
        current = status.feed
        form = PodcastForm(
            initial={
                "enabled": current.enabled,
                "title": current.title,
                "description": current.description,
                "category": current.category,
                "explicit": current.explicit,
            }
        )
    # What the feed says when they are left blank.
    form.fields["title"].widget.attrs["placeholder"] = feed.default_title(user)
    form.fields["description"].widget.attrs["placeholder"] = feed.default_description(user)
    return render(
        request,
        "replays/settings_podcast.html",
        {
            "form": form,
            "status": status,
            "feed_url": request.build_absolute_uri(reverse("podcast_feed", args=[user.username])),
            "max_items": selectors.PODCAST_ITEMS,
        },
    )


# --- Actions -----------------------------------------------------------------------------------


@require_POST
@login_required
def replay_delete(request: HttpRequest, space_id: int) -> HttpResponse:
    try:
        services.replay_delete(actor=signed_in(request), space_id=space_id)
    except ApplicationError as error:
        messages.error(request, error.message)
        return back(request, reverse("replay_detail", args=[space_id]))
    messages.success(request, _("The replay and its clips are deleted."))
    return redirect("replay_detail", space_id=space_id)


@require_POST
@login_required
def clip_create(request: HttpRequest, space_id: int) -> HttpResponse:
    """Clip a Space: the last 30 seconds while it is live (no range posted), or a range of its
    replay. The page's script asks for JSON: `{"ok": true, "message", "clip": {slug, url,
    duration_ms, ...}}`; a form gets the clip's page."""
    user = signed_in(request)
    start_ms: int | None = None
    end_ms: int | None = None
    title = request.POST.get("title", "")
    try:
        if "start" in request.POST or "end" in request.POST:
            form = ClipForm(request.POST)
            if not form.is_valid():
                raise form_refusal(form)
            start_ms, end_ms = form.range_ms()
            title = form.cleaned_data["title"]
        clip = services.clip_create(
            actor=user, space_id=space_id, start_ms=start_ms, end_ms=end_ms, title=title
        )
    except ApplicationError as error:
        if wants_json(request):
            return error_json(error)
        messages.error(request, error.message)
        return back(request, reverse("space_detail", args=[space_id]))
    seconds = round(clip.duration_ms / 1000)
    text = ngettext(
        "Your %(count)s-second clip is ready.", "Your %(count)s-second clip is ready.", seconds
    ) % {"count": seconds}
    if wants_json(request):
        return JsonResponse({"ok": True, "message": text, "clip": _clip_json(clip)})
    messages.success(request, text)
    return redirect("clip_detail", slug=clip.slug)


def _clip_json(clip: Clip) -> dict[str, Any]:
    """`clip.created`'s payload, and where the clip sits in the replay."""
    return {
        **services.clip_event(clip),
        "title": clip.title,
        "start_ms": clip.start_ms,
        "end_ms": clip.end_ms,
    }


@require_POST
@login_required
def clip_delete(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        clip = services.clip_delete(actor=signed_in(request), slug=slug)
    except ApplicationError as error:
        messages.error(request, error.message)
        return back(request, reverse("clip_detail", args=[slug]))
    messages.success(request, _("The clip is deleted."))
    ready = Recording.objects.filter(pk=clip.recording_id, status=Recording.Status.READY)
    if ready.exists():
        return redirect("replay_detail", space_id=clip.space_id)
    return redirect("space_detail", space_id=clip.space_id)


# --- Link-preview images (replays/previews.py) --------------------------------------------------


@require_safe
def replay_card_image(request: HttpRequest, space_id: int) -> HttpResponse:
    try:
        recording = previews.replay_for_preview(viewer=_viewer(request), space_id=space_id)
    except NotFound as error:
        raise Http404(error.message) from error
    return card_response(
        request,
        previews.replay_card(recording),
        max_age=MAX_AGE_SETTLED,
        public=previews.card_is_public(recording.space),
    )


@require_safe
def clip_card_image(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        clip = previews.clip_for_preview(viewer=_viewer(request), slug=slug)
    except NotFound as error:
        raise Http404(error.message) from error
    return card_response(
        request,
        previews.clip_card(clip),
        max_age=MAX_AGE_SETTLED,
        public=previews.card_is_public(clip.space),
    )
