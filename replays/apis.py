"""The replays API under /api/v1/: a Space's replay and its files, clips, a host's replays.

Thin entry points, as in spaces/apis/: a strict nested `InputSerializer` (unknown fields
refused), one service or selector, the one error shape. Who may hear what is decided once, in
replays/access.py, which every selector and service here goes through.

| method and path                          | does                                           |
|------------------------------------------|------------------------------------------------|
| GET    spaces/{id}/replay                | the replay: files, who spoke, chapters...      |
| DELETE spaces/{id}/replay                | the host deletes it (files and clips)          |
| GET    spaces/{id}/replay/captions.vtt   | its transcript as a WebVTT track               |
| GET    spaces/{id}/replay/chapters.vtt   | its chapters (speaker turns) as WebVTT         |
| GET    spaces/{id}/replay/comments       | its comments on the replay's clock, paged      |
| GET    spaces/{id}/clips                 | the Space's clips, newest first                |
| POST   spaces/{id}/clips                 | clip the last 30 s live, or a range of replay  |
| GET    clips/{slug}                      | one clip, with its transcript excerpt          |
| DELETE clips/{slug}                      | its author or the host deletes it              |
| GET    users/{username}/replays          | a host's replays, newest first                 |
| GET    me/podcast                        | your podcast feed: on or off, its address      |
| PUT    me/podcast                        | turn it on or off, name it                     |

The audio itself is served by the site (replays/site_urls.py), behind the same access rule:
the replay's HLS playlist at `/spaces/{id}/replay/hls/index.m3u8`, a clip at
`/clips/{slug}/audio.mp4`. The API answers with those paths. The podcast feed itself is the
site's too (`/u/{username}/podcast.xml`, RSS for podcast apps): here is only its owner's switch.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import user_get_active
from replays import selectors, services
from replays.models import (
    CLIP_TITLE_MAX_LENGTH,
    PODCAST_DESCRIPTION_MAX_LENGTH,
    PODCAST_TITLE_MAX_LENGTH,
    Clip,
    PodcastFeed,
)
from spaces.apis.room import JsonErrorsOnly
from spaces.models import Recording
from spaces.serializers import CommentPartSerializer, SpaceSerializer, SpaceUserSerializer
from spaces_project.api import (
    CreatedCursorPagination,
    PagedApi,
    StrictBooleanField,
    StrictCharField,
    StrictInputSerializer,
    StrictIntegerField,
    error_responses,
    request_user,
)

TAGS = ["replays"]

REPLAY_ERRORS = {
    400: "`invalid`: see `fields`; `malformed_request`: the body is not JSON.",
    401: "`not_authenticated` or `authentication_failed`.",
    403: "`ticket_required`: the Space was ticketed and you hold no ticket.",
    404: "`space_not_found`: no such Space, or its host blocked you; `replay_not_found`: it "
    "was not recorded.",
    409: "`replay_not_ready`: the Space has not ended, or its replay is still being made.",
    410: "`replay_deleted`: the host, staff or the retention period deleted it.",
    413: "`request_too_large`: the body exceeds 256 KiB.",
    415: "`unsupported_media_type`: send `Content-Type: application/json`.",
    429: "`rate_limited`: too many requests; see `Retry-After`.",
}
CLIP_404 = "`clip_not_found`: no such clip; `space_not_found`: its host blocked you."
CLIP_410 = "`clip_deleted`: its author, the host, staff or the retention period deleted it."


def errors(*codes: int, **described: str) -> dict[int, OpenApiResponse]:
    """`errors(401, e403="...")`: the usual texts of a replay's errors, or the endpoint's own."""
    return error_responses(REPLAY_ERRORS, codes, described)


def replay_page_url(space_id: int) -> str:
    return f"/spaces/{space_id}/replay/"


def clip_page_url(slug: str) -> str:
    return f"/clips/{slug}/"


# --- Output -------------------------------------------------------------------------------------


class SpeakerSerializer(serializers.Serializer):
    user = SpaceUserSerializer()
    seconds = serializers.FloatField(help_text="How long they were heard in the recording.")

    class Meta:
        ref_name = "ReplaySpeaker"


class ChapterSerializer(serializers.Serializer):
    start_ms = serializers.IntegerField(help_text="Where their turn begins in the replay.")
    user = SpaceUserSerializer(source="speaker")

    class Meta:
        ref_name = "ReplayChapter"


class ReactionWindowSerializer(serializers.Serializer):
    at_ms = serializers.IntegerField(help_text="Start of a 10-second window of the replay.")
    total = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Per code.")

    class Meta:
        ref_name = "ReplayReactions"


class CueSerializer(serializers.Serializer):
    start_ms = serializers.IntegerField()
    end_ms = serializers.IntegerField()
    text = serializers.CharField()
    speaker = SpaceUserSerializer(allow_null=True)

    class Meta:
        ref_name = "ReplayCue"


class ReplaySerializer(serializers.Serializer):
    space = SpaceSerializer()
    duration_ms = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    ready_at = serializers.DateTimeField()
    size_bytes = serializers.IntegerField()
    url = serializers.CharField(help_text="The replay's page on the site.")
    playlist_url = serializers.CharField(help_text="HLS (fMP4 Opus) for a player.")
    captions_url = serializers.CharField(help_text="The transcript as a WebVTT track.")
    chapters_url = serializers.CharField(help_text="The chapters as a WebVTT track.")
    comments_url = serializers.CharField(
        help_text="The comments on the replay's clock, oldest first (paged)."
    )
    speakers = SpeakerSerializer(many=True, help_text="Who spoke, longest first.")
    left_out = SpaceUserSerializer(
        many=True, help_text="Stage members who kept their voice out of the recording."
    )
    chapters = ChapterSerializer(many=True, help_text="Speaker turns.")
    reactions = ReactionWindowSerializer(many=True, help_text="Reactions per 10 seconds.")
    transcript = CueSerializer(
        many=True, help_text="On the replay's clock; nothing said while its speaker opted out."
    )
    can_delete = serializers.BooleanField(help_text="You are the host: you may delete it.")
    can_clip = serializers.BooleanField(help_text="The host lets people clip it.")

    class Meta:
        ref_name = "Replay"


def replay_data(replay: selectors.Replay) -> dict[str, Any]:
    recording, space_id = replay.recording, replay.space.pk
    return ReplaySerializer(
        {
            "space": replay.space,
            "duration_ms": recording.duration_ms,
            "started_at": recording.started_at,
            "ready_at": recording.ready_at,
            "size_bytes": recording.size_bytes,
            "url": replay_page_url(space_id),
            "playlist_url": f"/api/v1/spaces/{space_id}/replay/hls/{services.REPLAY_PLAYLIST}",
            "captions_url": f"/api/v1/spaces/{space_id}/replay/captions.vtt",
            "chapters_url": f"/api/v1/spaces/{space_id}/replay/chapters.vtt",
            "comments_url": f"/api/v1/spaces/{space_id}/replay/comments",
            "speakers": [{"user": u, "seconds": s} for u, s in replay.speakers],
            "left_out": replay.left_out,
            "chapters": replay.chapters,
            "reactions": replay.reactions,
            "transcript": replay.cues,
            "can_delete": replay.can_delete,
            "can_clip": replay.can_clip,
        }
    ).data


class ReplayCommentSerializer(serializers.Serializer):
    at_ms = serializers.IntegerField(
        help_text="Where it shows in the replay (one posted while nothing was recorded: where "
        "the replay resumes)."
    )
    id = serializers.IntegerField(source="comment.id")
    author = SpaceUserSerializer(source="comment.author")
    text = serializers.CharField(source="comment.text")
    parts = CommentPartSerializer(
        source="comment.parts",
        many=True,
        help_text="The text as runs to draw in order: plain, links and mentions.",
    )
    created_at = serializers.DateTimeField(source="comment.created_at")

    class Meta:
        ref_name = "ReplayComment"


class ReplayInListSerializer(serializers.Serializer):
    space = SpaceSerializer()
    duration_ms = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    ready_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField(help_text="The replay's page on the site.")

    class Meta:
        ref_name = "ReplayInList"

    def get_url(self, recording: Recording) -> str:
        return replay_page_url(recording.space_id)


class ClipSerializer(serializers.Serializer):
    slug = serializers.CharField(help_text="Names the clip in its share link.")
    title = serializers.CharField()
    clipped_from = serializers.ChoiceField(
        source="source",
        choices=Clip.Source.choices,
        help_text="`live`: the last seconds while it was live; `replay`: a range of the replay.",
    )
    space_id = serializers.IntegerField()
    author = SpaceUserSerializer()
    start_ms = serializers.IntegerField(help_text="Where it starts in the replay.")
    end_ms = serializers.IntegerField()
    duration_ms = serializers.IntegerField()
    size_bytes = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField(help_text="Its page on the site (the share link).")
    audio_url = serializers.SerializerMethodField(help_text="The clip as an MP4 (Opus) file.")

    class Meta:
        ref_name = "Clip"

    def get_url(self, clip: Clip) -> str:
        return clip_page_url(clip.slug)

    def get_audio_url(self, clip: Clip) -> str:
        return f"/api/v1/clips/{clip.slug}/audio.mp4"


class ClipDetailSerializer(ClipSerializer):
    space = SpaceSerializer()
    transcript = CueSerializer(many=True, help_text="What was said in it, on the clip's clock.")
    can_delete = serializers.BooleanField(help_text="You made it or host the Space.")

    class Meta:
        ref_name = "ClipDetail"


def clip_detail_data(view: selectors.ClipView) -> dict[str, Any]:
    """`ClipDetailSerializer`'s shape: the clip's own fields, with its Space and excerpt."""
    return {
        **ClipSerializer(view.clip).data,
        "space": SpaceSerializer(view.clip.space).data,
        "transcript": CueSerializer(view.cues, many=True).data,
        "can_delete": view.can_delete,
    }


class ClipPagination(CreatedCursorPagination):
    page_size = 20


class ReplayCommentPagination(CursorPagination):
    ordering = ("created_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class ReplayPagination(CreatedCursorPagination):
    ordering = ("-ready_at", "-id")
    page_size = 20


# --- A replay -----------------------------------------------------------------------------------


class ReplayApi(PagedApi):
    @extend_schema(
        operation_id="replays_retrieve",
        tags=TAGS,
        summary="A Space's replay: its files, who spoke, chapters, reactions, transcript",
        description=(
            "The replay of an ended Space, for anyone who could have entered it: not for "
            "someone its host blocked (404 `space_not_found`, as if it did not exist), and for a "
            "ticketed Space only for ticket holders, the host, the stage and guests (403 "
            "`ticket_required`). `playlist_url` is HLS for any player (Safari plays it "
            "natively); `captions_url` and `chapters_url` are WebVTT tracks. The transcript and "
            "captions leave out what a speaker said while their voice was kept out, and "
            "`left_out` names them. 409 `replay_not_ready` until the Space has ended and its "
            "recording is made into a replay (seconds after the end); 410 once deleted."
        ),
        responses={200: ReplaySerializer, **errors(401, 403, 404, 409, 410)},
    )
    def get(self, request: Request, space_id: int) -> Response:
        replay = selectors.replay_for(viewer=request_user(request), space_id=space_id)
        return Response(replay_data(replay))

    @extend_schema(
        operation_id="replays_delete",
        tags=TAGS,
        summary="Delete the replay (host)",
        description=(
            "The host deletes their Space's recording at any time: its files and every clip of "
            "it go at once, and its pages and links answer 410 afterwards. Deleting it again is "
            "410 `replay_deleted`."
        ),
        request=None,
        responses={
            204: None,
            **errors(
                401,
                429,
                e403="`not_host`: only the host deletes the replay.",
                e404="`replay_not_found`: the Space was not recorded (or no such Space).",
                e410="`replay_deleted`: it was already deleted.",
            ),
        },
    )
    def delete(self, request: Request, space_id: int) -> Response:
        services.replay_delete(actor=request_user(request), space_id=space_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReplayCommentsApi(PagedApi):
    pagination_class = ReplayCommentPagination

    @extend_schema(
        operation_id="replays_comments_list",
        tags=TAGS,
        summary="The replay's comments, on its clock",
        description=(
            "The comments of the Space, oldest first, cursor-paged, each with `at_ms`, where it "
            "shows in the replay (the order of `at_ms` too). Deleted comments and those of "
            "people you blocked are left out. The same access as the replay."
        ),
        responses={
            200: ReplayCommentSerializer(many=True),
            **errors(401, 403, 404, 409, 410),
        },
    )
    def get(self, request: Request, space_id: int) -> Response:
        recording, rows = selectors.replay_comments(viewer=request_user(request), space_id=space_id)
        return self.paginated(
            rows,
            lambda page: (
                ReplayCommentSerializer(selectors.place_comments(recording, page), many=True).data
            ),
        )


class _ReplayTrackApi(PagedApi):
    # The track whatever a player's `Accept` says; an error still in the one JSON shape.
    content_negotiation_class = JsonErrorsOnly


def _vtt(text: str) -> HttpResponse:
    return HttpResponse(text, content_type="text/vtt; charset=utf-8")


class ReplayCaptionsApi(_ReplayTrackApi):
    @extend_schema(
        operation_id="replays_captions_vtt",
        tags=TAGS,
        summary="The replay's transcript as a WebVTT track",
        description=(
            "The transcript on the replay's clock (`text/vtt`), each cue led by its speaker as a "
            "`<v Name>` voice span, for a player's captions track. What a speaker said while "
            "their voice was kept out of the recording is not in it. The same access and errors "
            "as the replay."
        ),
        responses={
            (200, "text/vtt"): OpenApiTypes.STR,
            **errors(401, 403, 404, 409, 410),
        },
    )
    def get(self, request: Request, space_id: int) -> HttpResponse:
        return _vtt(selectors.replay_captions_vtt(viewer=request_user(request), space_id=space_id))


class ReplayChaptersApi(_ReplayTrackApi):
    @extend_schema(
        operation_id="replays_chapters_vtt",
        tags=TAGS,
        summary="The replay's chapters (speaker turns) as a WebVTT track",
        description=(
            "One cue per speaker turn (`text/vtt`), named after the speaker, for a player's "
            "chapters track. The same access and errors as the replay."
        ),
        responses={
            (200, "text/vtt"): OpenApiTypes.STR,
            **errors(401, 403, 404, 409, 410),
        },
    )
    def get(self, request: Request, space_id: int) -> HttpResponse:
        return _vtt(selectors.replay_chapters_vtt(viewer=request_user(request), space_id=space_id))


class ReplayFileApi(_ReplayTrackApi):
    @extend_schema(
        operation_id="replays_file",
        tags=TAGS,
        summary="A file of the replay's HLS: the playlist, an init segment, a segment",
        description=(
            "`playlist_url` is `index.m3u8` here; the URIs inside it are relative, so a player "
            "given this URL (and the session token) fetches every segment through this same "
            "operation. `application/vnd.apple.mpegurl` for playlists, `audio/mp4` (fMP4 Opus) "
            "for segments. The same access and errors as the replay; an unknown name 404."
        ),
        responses={
            (200, "application/vnd.apple.mpegurl"): OpenApiTypes.BINARY,
            (200, "audio/mp4"): OpenApiTypes.BINARY,
            **errors(401, 403, 404, 409, 410),
        },
    )
    def get(self, request: Request, space_id: int, name: str) -> HttpResponse:
        data, content_type = selectors.replay_file(
            viewer=request_user(request), space_id=space_id, name=name
        )
        response = HttpResponse(data, content_type=content_type)
        response["Cache-Control"] = "private, max-age=3600"
        return response


# --- Clips --------------------------------------------------------------------------------------


class ClipListApi(PagedApi):
    pagination_class = ClipPagination

    class InputSerializer(StrictInputSerializer):
        start_ms = StrictIntegerField(
            min_value=0,
            required=False,
            help_text="From the replay: where the clip starts (ms). Leave out while live.",
        )
        end_ms = StrictIntegerField(
            min_value=0,
            required=False,
            help_text=f"From the replay: where it ends, at most {services.MAX_CLIP_SECONDS} s "
            "after `start_ms`. Leave out while live.",
        )
        title = StrictCharField(
            max_length=CLIP_TITLE_MAX_LENGTH, required=False, allow_blank=True, default=""
        )

        class Meta:
            ref_name = "ClipCreate"

    @extend_schema(
        operation_id="replays_clips_list",
        tags=TAGS,
        summary="A Space's clips, newest first",
        description=(
            "The clips of a Space that are not deleted, newest first, cursor-paged; clips by "
            "people you blocked or who blocked you are left out. The same access as the replay "
            "(also while the Space is live)."
        ),
        responses={
            200: ClipSerializer(many=True),
            **errors(401, 403, 404),
        },
    )
    def get(self, request: Request, space_id: int) -> Response:
        qs = selectors.clips_of_space(viewer=request_user(request), space_id=space_id)
        return self.paginated(qs, lambda rows: ClipSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="replays_clips_create",
        tags=TAGS,
        summary="Clip the Space: the last 30 s live, or up to 60 s of its replay",
        description=(
            f"While the Space is live and recorded, anyone in it clips the last "
            f"{services.LIVE_CLIP_SECONDS} seconds (send no range; everyone gets "
            f"`clip.created`). After the end, anyone who may hear the replay clips "
            f"`start_ms`..`end_ms` of it ({services.MIN_CLIP_SECONDS} to "
            f"{services.MAX_CLIP_SECONDS} seconds; a clip never spans a gap in the recording "
            f"and ends where one begins). Not when the host turned clips off. The clip is cut "
            f"from the recorded audio without re-encoding. The same request again within "
            f"{services.CLIP_REPEAT_SECONDS} seconds (a double click, a retry) answers the first "
            f"clip, also with 201: there is one clip."
        ),
        request=InputSerializer,
        responses={
            201: ClipSerializer,
            **errors(
                401,
                413,
                415,
                e400="`invalid`: see `fields`; `invalid_range`: a range while live, none from "
                "the replay, or one that ends before it starts; `clip_too_long`, "
                "`clip_too_short`; `clip_out_of_range`: outside the replay.",
                e403="`ticket_required`: the Space was ticketed and you hold no ticket; "
                "`not_in_space`: join the live Space first.",
                e404="`space_not_found`: no such Space, or its host blocked you.",
                e409="`clips_off`: the host turned clips off; `recording_off`: the Space is "
                "not recorded; `recording_not_started`: nothing recorded yet; "
                "`replay_not_ready`: the replay is still being made; `clip_too_short`: "
                "less than a second recorded so far.",
                e410="`replay_deleted`: the replay was deleted.",
                e429="`rate_limited`: too many clips at once.",
            ),
        },
    )
    def post(self, request: Request, space_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        clip = services.clip_create(
            actor=request_user(request), space_id=space_id, **data.validated_data
        )
        return Response(ClipSerializer(clip).data, status=status.HTTP_201_CREATED)


class ClipAudioApi(_ReplayTrackApi):
    @extend_schema(
        operation_id="replays_clip_audio",
        tags=TAGS,
        summary="A clip's audio as an MP4 (Opus) file",
        description="The same access and errors as the clip.",
        responses={(200, "audio/mp4"): OpenApiTypes.BINARY, **errors(401, 403, 404, 410)},
    )
    def get(self, request: Request, slug: str) -> HttpResponse:
        data = selectors.clip_file(viewer=request_user(request), slug=slug)
        response = HttpResponse(data, content_type="audio/mp4")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class ClipDetailApi(PagedApi):
    @extend_schema(
        operation_id="replays_clip_retrieve",
        tags=TAGS,
        summary="A clip, with its transcript excerpt",
        description=(
            "One clip by its slug: its audio (`audio_url`), its page (`url`, the share link), "
            "its Space and what was said in it. The same access as the Space's replay; 410 once "
            "deleted."
        ),
        responses={
            200: ClipDetailSerializer,
            **errors(
                401,
                e403="`ticket_required`: the Space was ticketed and you hold no ticket.",
                e404=CLIP_404,
                e410=CLIP_410,
            ),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(
            clip_detail_data(selectors.clip_for(viewer=request_user(request), slug=slug))
        )

    @extend_schema(
        operation_id="replays_clip_delete",
        tags=TAGS,
        summary="Delete a clip (its author or the host)",
        description=(
            "Its author or the Space's host deletes a clip: the file goes at once and its link "
            "answers 410. A host's deletion is written in the Space's moderation log."
        ),
        request=None,
        responses={
            204: None,
            **errors(
                401,
                429,
                e403="`not_clip_owner`: only its author or the host.",
                e404="`clip_not_found`: no such clip.",
                e410=CLIP_410,
            ),
        },
    )
    def delete(self, request: Request, slug: str) -> Response:
        services.clip_delete(actor=request_user(request), slug=slug)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- A host's replays ---------------------------------------------------------------------------


class ReplaysOfUserApi(PagedApi):
    pagination_class = ReplayPagination

    @extend_schema(
        operation_id="replays_of_user",
        tags=TAGS,
        summary="A host's replays, newest first",
        description=(
            "The replays of the Spaces a user hosted, newest first, cursor-paged. Empty when "
            "the host blocked you; ticketed Spaces are listed, their replays answer 403 "
            "`ticket_required` to those without a ticket. 404 `not_found` for an unknown user."
        ),
        responses={
            200: ReplayInListSerializer(many=True),
            **errors(401, e404="`not_found`: no such active user."),
        },
    )
    def get(self, request: Request, username: str) -> Response:
        host = user_get_active(username=username)
        qs = selectors.replays_of_host(viewer=request_user(request), host=host)
        return self.paginated(qs, lambda rows: ReplayInListSerializer(rows, many=True).data)


# --- Your podcast -------------------------------------------------------------------------------


class PodcastSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="The feed is published (404 while off).")
    title = serializers.CharField(help_text="Blank: “<your name>'s Spaces”.")
    description = serializers.CharField(help_text="Blank: your bio.")
    category = serializers.ChoiceField(
        choices=PodcastFeed.Category.choices, help_text="Its Apple Podcasts category."
    )
    explicit = serializers.BooleanField()
    feed_url = serializers.CharField(help_text="The RSS feed's address, for podcast apps.")
    episodes = serializers.IntegerField(help_text="Published replays whose audio is ready.")
    preparing = serializers.IntegerField(
        help_text="Published replays whose audio is still being made (minutes, by a sweep)."
    )
    ticketed = serializers.IntegerField(
        help_text="Your replays of ticketed Spaces: never in the feed."
    )

    class Meta:
        ref_name = "Podcast"


class PodcastApi(PagedApi):
    class InputSerializer(StrictInputSerializer):
        enabled = StrictBooleanField(required=False)
        title = StrictCharField(
            max_length=PODCAST_TITLE_MAX_LENGTH, allow_blank=True, required=False
        )
        description = StrictCharField(
            max_length=PODCAST_DESCRIPTION_MAX_LENGTH, allow_blank=True, required=False
        )
        category = serializers.ChoiceField(choices=PodcastFeed.Category.choices, required=False)
        explicit = StrictBooleanField(required=False)

        class Meta:
            ref_name = "PodcastUpdate"

    def _data(self, request: Request) -> dict[str, Any]:
        user = request_user(request)
        status_ = selectors.podcast_status(user=user)
        feed = status_.feed
        return PodcastSerializer(
            {
                "enabled": feed.enabled,
                "title": feed.title,
                "description": feed.description,
                "category": feed.category,
                "explicit": feed.explicit,
                "feed_url": request.build_absolute_uri(
                    reverse("podcast_feed", args=[user.username])
                ),
                "episodes": status_.episodes,
                "preparing": status_.preparing,
                "ticketed": status_.ticketed,
            }
        ).data

    @extend_schema(
        operation_id="replays_podcast_retrieve",
        tags=TAGS,
        summary="Your podcast feed: on or off, its address, its episodes",
        description=(
            "Your replays as a podcast (RSS 2.0 with Apple's tags, at `feed_url`), off until you "
            "turn it on. It lists the replays of your public Spaces, never of a ticketed one, "
            "newest first, each as one M4A (Opus) file that podcast apps fetch without an "
            "account, with its duration and chapters (who spoke when)."
        ),
        responses={200: PodcastSerializer, **errors(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(self._data(request))

    @extend_schema(
        operation_id="replays_podcast_update",
        tags=TAGS,
        summary="Turn your podcast feed on or off, and name it",
        description=(
            "Change any of `enabled`, `title`, `description`, `category` and `explicit`; what "
            "you leave out stays as it is, and unknown fields are refused. Turned on, replays "
            "you already have appear within minutes, as their audio files are made. Answers as "
            "`GET`."
        ),
        request=InputSerializer,
        responses={
            200: PodcastSerializer,
            **errors(
                401,
                413,
                415,
                429,
                e400="`invalid`: see `fields` (a wrong type, too long, not a category); "
                "`invalid_text`: control characters; `too_long`; `malformed_request`: the body "
                "is not JSON.",
                e403="`forbidden`: a write with the site session but without the CSRF token.",
            ),
        },
    )
    def put(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.podcast_feed_update(user=request_user(request), **data.validated_data)
        return Response(self._data(request))
