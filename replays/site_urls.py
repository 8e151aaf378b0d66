"""The replay and clip pages of the site, the files their players read, and the host's podcast
(its feed and its settings page) (replays/views.py)."""

from django.urls import path

import spaces_project.converters  # noqa: F401  (registers the `id` path converter)
from replays import views

R = "spaces/<id:space_id>/replay"

urlpatterns = [
    path(f"{R}/", views.replay_detail, name="replay_detail"),
    path(f"{R}/card.png", views.replay_card_image, name="replay_card"),
    # The playlist, and a part's files (`<13 digits>-<8 hex>/00000.m4s`): the selector names
    # which exist, anything else is a 404 before storage is asked.
    path(f"{R}/hls/<path:name>", views.replay_file, name="replay_file"),
    path(f"{R}/captions.vtt", views.replay_captions, name="replay_captions"),
    path(f"{R}/chapters.vtt", views.replay_chapters, name="replay_chapters"),
    path(f"{R}/delete/", views.replay_delete, name="replay_delete"),
    # The podcast episode's enclosure and chapters: signed out too, when the host publishes it.
    path(f"{R}/audio.m4a", views.replay_audio, name="replay_audio"),
    path(f"{R}/chapters.json", views.replay_chapters_json, name="replay_chapters_json"),
    # Live (the last 30 s) or from the replay (a range): one URL under the Space, so the Space
    # page's script posts to it like its other actions.
    path("spaces/<id:space_id>/clips/", views.clip_create, name="clip_create"),
    path("clips/<slug:slug>/", views.clip_detail, name="clip_detail"),
    path("clips/<slug:slug>/card.png", views.clip_card_image, name="clip_card"),
    path("clips/<slug:slug>/audio.mp4", views.clip_audio, name="clip_audio"),
    path("clips/<slug:slug>/delete/", views.clip_delete, name="clip_delete"),
    # Beside the profile (/u/<username>/, accounts/site_urls.py), which no path here shadows.
    path("u/<str:username>/podcast.xml", views.podcast_feed, name="podcast_feed"),
    path("settings/podcast/", views.settings_podcast, name="settings_podcast"),
]
