"""The replays API, mounted at /api/v1/ (spaces_project/urls.py). `spaces/<id>/replay` and
`spaces/<id>/clips` sit beside the Spaces API's own paths; none of them is shadowed."""

from django.urls import path

import spaces_project.converters  # noqa: F401  (registers the `id` path converter)
from replays import apis

S = "spaces/<id:space_id>"

urlpatterns = [
    path(f"{S}/replay", apis.ReplayApi.as_view(), name="api-replay"),
    path(f"{S}/replay/captions.vtt", apis.ReplayCaptionsApi.as_view(), name="api-replay-captions"),
    path(f"{S}/replay/chapters.vtt", apis.ReplayChaptersApi.as_view(), name="api-replay-chapters"),
    path(f"{S}/replay/comments", apis.ReplayCommentsApi.as_view(), name="api-replay-comments"),
    path(f"{S}/replay/hls/<path:name>", apis.ReplayFileApi.as_view(), name="api-replay-file"),
    path(f"{S}/clips", apis.ClipListApi.as_view(), name="api-space-clips"),
    path("clips/<slug:slug>/audio.mp4", apis.ClipAudioApi.as_view(), name="api-clip-audio"),
    path("clips/<slug:slug>", apis.ClipDetailApi.as_view(), name="api-clip"),
    path("users/<str:username>/replays", apis.ReplaysOfUserApi.as_view(), name="api-user-replays"),
    path("me/podcast", apis.PodcastApi.as_view(), name="api-me-podcast"),
]
