"""The replay and clip pages of the site, the files their players read, and the recording's
place on the Space pages (REC, "Don't record my voice", "Clip last 30 s", the start and schedule
forms, the ended list, the profile). Every replay here is real: the media worker's recorder
stored it (tests.factories.make_replay)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import block_create
from replays import services, views
from replays.models import Clip
from spaces import services as spaces_services
from spaces.models import Participant, ReactionBucket, Recording, Space
from spaces_project import site, storage
from tests.factories import (
    SpaceFactory,
    UserFactory,
    ended_space,
    join,
    make_replay,
    make_speaker,
)

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def replay_url(space: Space) -> str:
    return reverse("replay_detail", args=[space.pk])


def file_url(space: Space, name: str) -> str:
    return reverse("replay_file", args=[space.pk, name])


def part_files(space: Space) -> tuple[str, str, str]:
    """The stored part's folder, init segment and first segment, relative to the replay."""
    recording = Recording.objects.get(space=space)
    part = recording.timeline[0]["name"]
    return part, f"{part}/init.mp4", f"{part}/00000.m4s"


@pytest.fixture
def recorded(host: User) -> tuple[Space, User]:
    """A Space that was live with captions, whose speaker kept their voice out for a moment,
    and whose 10 s recording is now a replay. Returns (space, speaker)."""
    started = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    space = SpaceFactory(
        host=host, title="Notes on the engine", captions_enabled=True, started_at=started
    )
    speaker = make_speaker(space, UserFactory(username="margaret", display_name="Margaret"))
    for who, at, text in (
        (host, 1, "Welcome to the notes."),
        (speaker, 4, "Loops still read as new."),
    ):
        spaces_services.caption_append(
            space_id=space.pk,
            speaker_id=who.pk,
            text=text,
            started_at=started + timedelta(seconds=at),
        )
    spaces_services.recording_consent_set(actor=speaker, space_id=space.pk, recorded=False)
    spaces_services.space_end(actor=host, space_id=space.pk)
    space.refresh_from_db()
    make_replay(space, seconds=10.0, speakers=[host, speaker])
    return space, speaker


# --- The replay page ----------------------------------------------------------------------------


def test_the_replay_page_has_the_player_transcript_chapters_speakers_and_consent_note(
    recorded, listener
):
    space, _speaker = recorded
    response = client_for(listener).get(replay_url(space))
    body = response.content.decode()

    assert response.status_code == 200
    assert "Notes on the engine" in body
    assert "<audio" in body
    assert 'id="replay-audio"' in body
    assert f'src="{file_url(space, "index.m3u8")}" type="application/vnd.apple.mpegurl"' in body
    captions = reverse("replay_captions", args=[space.pk])
    assert (
        f'<track kind="captions" srclang="en" label="Transcript" src="{captions}" default>' in body
    )
    assert f'src="{reverse("replay_chapters", args=[space.pk])}"' in body
    # The transcript on the replay's clock: each line a button that seeks there.
    assert re.search(r'data-seek="1\.000"[^>]*><span class="cue-time">0:01</span>', body)
    assert re.search(r'data-seek="4\.000"[^>]*><span class="cue-time">0:04</span>', body)
    assert "Welcome to the notes." in body
    assert "Loops still read as new." in body
    # Chapters at speaker turns, and who spoke.
    assert 'class="chapter"' in body
    assert body.count('class="user-row compact"') == 2
    assert "The Host" in body
    assert "Margaret" in body
    assert "Recorded with consent." in body
    assert (
        '<a href="/u/margaret/">@margaret</a> chose not to be recorded for some or all of it; '
        "what they said then is not in this replay." in body
    )
    assert "0:10" in body  # the duration
    assert "{#" not in body
    assert "{%" not in body


def test_reactions_are_drawn_where_they_happened_in_the_replay(recorded, listener):
    space, _ = recorded
    assert space.started_at is not None
    # Inside the 10 s recorded, whatever second the Space started on (a window at the next
    # multiple of 10 s fell exactly on the recording's end when it started on one).
    window = space.started_at + timedelta(seconds=5)
    for at, code, count in (
        (window, "heart", 2),
        (window, "clap", 1),
        (window - timedelta(seconds=20), "fire", 9),  # before the recording: not on it
    ):
        ReactionBucket.objects.create(space=space, at=at, code=code, count=count)

    body = client_for(listener).get(replay_url(space)).content.decode()

    assert body.count('class="reaction-bar"') == 1
    assert 'style="--at:0.0;height:100%" title="3 reactions at 0:00"' in body
    assert 'aria-label="Reactions over time: 3 in all, the most at 0:00"' in body


def test_a_replay_without_reactions_draws_no_timeline(recorded, listener):
    space, _ = recorded

    body = client_for(listener).get(replay_url(space)).content.decode()

    assert 'id="reaction-track"' not in body


def test_a_replay_where_everyone_was_recorded_says_so(ended, listener):
    body = client_for(listener).get(replay_url(ended)).content.decode()

    assert "Everyone on stage agreed to be recorded." in body
    assert "chose not to be recorded" not in body


def test_the_page_loads_hls_js_only_when_it_was_installed(ended, listener, monkeypatch):
    monkeypatch.setattr(site.finders, "find", lambda path: None)
    without = client_for(listener).get(replay_url(ended)).content.decode()
    monkeypatch.setattr(site.finders, "find", lambda path: f"/static/{path}")
    with_it = client_for(listener).get(replay_url(ended)).content.decode()

    assert "hls.light.min.js" not in without
    assert "js/replay.js" in without  # native HLS, or a clear message, without it
    assert re.search(r'<script src="[^"]*vendor/hls\.light\.min\.js" defer></script>', with_it)


def test_the_host_is_offered_delete_and_others_are_not(ended, host, listener):
    delete = reverse("replay_delete", args=[ended.pk])

    assert delete in client_for(host).get(replay_url(ended)).content.decode()
    assert delete not in client_for(listener).get(replay_url(ended)).content.decode()


def test_the_clip_form_is_offered_unless_the_host_turned_clips_off(ended, listener):
    assert 'id="clip-form"' in client_for(listener).get(replay_url(ended)).content.decode()

    Space.objects.filter(pk=ended.pk).update(clips_enabled=False)
    body = client_for(listener).get(replay_url(ended)).content.decode()
    assert 'id="clip-form"' not in body
    assert "The host turned clips off." in body


def test_anonymous_visitors_are_sent_to_log_in(client, ended):
    response = client.get(file_url(ended, "index.m3u8"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    # The page shows its link preview and a log-in button (tests/replays/test_previews.py),
    # and nothing of the replay itself.
    page = client.get(replay_url(ended)).content.decode()
    assert f"{reverse('account_login')}?next=" in page
    assert "index.m3u8" not in page


# --- When there is nothing to play -------------------------------------------------------------


def test_a_deleted_replay_answers_410_with_a_page_that_says_so(ended, host, listener):
    response = client_for(host).post(reverse("replay_delete", args=[ended.pk]), follow=True)

    assert response.status_code == 410
    assert "This replay was deleted" in response.content.decode()
    assert "The replay and its clips are deleted." in messages_of(response)
    assert Recording.objects.get(space=ended).status == Recording.Status.DELETED
    assert list(storage.walk(storage.recordings(), f"spaces/{ended.pk}")) == []
    assert client_for(listener).get(replay_url(ended)).status_code == 410
    assert client_for(listener).get(file_url(ended, "index.m3u8")).status_code == 410


def test_only_the_host_can_delete_the_replay(ended, listener):
    response = client_for(listener).post(reverse("replay_delete", args=[ended.pk]), follow=True)

    assert "Only the host can delete the replay." in messages_of(response)
    assert Recording.objects.get(space=ended).status == Recording.Status.READY


def test_a_replay_being_prepared_answers_409_and_reloads_itself(host, listener):
    space = SpaceFactory(host=host, started_at=timezone.now() - timedelta(minutes=1))
    make_replay(space, seconds=4.0)
    Space.objects.filter(pk=space.pk).update(state=Space.State.ENDED, ended_at=timezone.now())

    response = client_for(listener).get(replay_url(space))
    body = response.content.decode()

    assert response.status_code == 409
    assert "Replay being prepared" in body
    assert f'<meta http-equiv="refresh" content="{views.PREPARING_REFRESH_SECONDS}">' in body


def test_the_replay_of_a_live_space_says_it_is_still_live(live, listener):
    response = client_for(listener).get(replay_url(live))
    body = response.content.decode()

    assert response.status_code == 409
    assert "This Space is still live" in body
    assert reverse("space_detail", args=[live.pk]) in body
    assert "http-equiv" not in body  # nothing to wait for


def test_a_ticketed_replay_answers_403_with_a_link_to_buy_a_ticket(host, listener):
    space = ended_space(host=host, is_ticketed=True)
    make_replay(space, seconds=4.0)

    response = client_for(listener).get(replay_url(space))
    body = response.content.decode()

    assert response.status_code == 403
    assert "For ticket holders" in body
    assert reverse("ticket_buy", args=[space.pk]) in body
    assert client_for(listener).get(file_url(space, "index.m3u8")).status_code == 403
    assert client_for(host).get(replay_url(space)).status_code == 200


def test_no_replay_answers_404(host, listener):
    not_recorded = ended_space(host=host)

    response = client_for(listener).get(replay_url(not_recorded))
    assert response.status_code == 404
    assert "This Space has no replay" in response.content.decode()
    assert client_for(listener).get("/spaces/999999/replay/").status_code == 404


def test_someone_the_host_blocked_finds_nothing(ended, host, listener):
    block_create(blocker=host, blocked=listener)
    client = client_for(listener)

    response = client.get(replay_url(ended))
    assert response.status_code == 404
    assert ended.title not in response.content.decode()
    assert client.get(file_url(ended, "index.m3u8")).status_code == 404
    assert client.get(reverse("replay_captions", args=[ended.pk])).status_code == 404


# --- The files ---------------------------------------------------------------------------------


def test_the_replay_files_come_with_their_types_and_private_caching(ended, listener):
    client = client_for(listener)
    _, init, segment = part_files(ended)

    playlist = client.get(file_url(ended, "index.m3u8"))
    assert playlist.status_code == 200
    assert playlist["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist["Cache-Control"] == "private, no-cache"
    assert playlist.content.startswith(b"#EXTM3U")
    assert segment.encode() in playlist.content
    for name in (init, segment):
        response = client.get(file_url(ended, name))
        assert response.status_code == 200
        assert response["Content-Type"] == "audio/mp4"
        assert response["Cache-Control"].startswith("private")
        assert response.content == storage.get(storage.recordings(), f"spaces/{ended.pk}/{name}")


@pytest.mark.parametrize(
    "name",
    [
        "../../../etc/passwd",
        "index.m3u8/",
        "INDEX.M3U8",
        "part.json",
        "{part}/part.json",
        "{part}/../index.m3u8",
        "{part}/00000.m4s.partial",
        "{part}/0.m4s",
        "1/00000.m4s",
        "{part}//00000.m4s",
        "clips/x.mp4",
        "{part}/99999.m4s",  # well formed, but not stored
    ],
)
def test_a_file_name_the_replay_does_not_have_is_a_404(ended, listener, name):
    part, _, _ = part_files(ended)

    response = client_for(listener).get(file_url(ended, name.format(part=part)))

    assert response.status_code == 404


def test_a_byte_range_is_answered_with_206(ended, listener):
    _, init, _ = part_files(ended)
    whole = storage.get(storage.recordings(), f"spaces/{ended.pk}/{init}")
    client = client_for(listener)

    part = client.get(file_url(ended, init), HTTP_RANGE="bytes=4-11")
    assert part.status_code == 206
    assert part.content == whole[4:12]
    assert part["Content-Range"] == f"bytes 4-11/{len(whole)}"
    tail = client.get(file_url(ended, init), HTTP_RANGE="bytes=-5")
    assert tail.status_code == 206
    assert tail.content == whole[-5:]
    beyond = client.get(file_url(ended, init), HTTP_RANGE=f"bytes={len(whole)}-")
    assert beyond.status_code == 416
    assert beyond["Content-Range"] == f"bytes */{len(whole)}"


def test_captions_and_chapters_are_webvtt(recorded, listener):
    space, _ = recorded
    client = client_for(listener)

    captions = client.get(reverse("replay_captions", args=[space.pk]))
    assert captions["Content-Type"] == "text/vtt; charset=utf-8"
    text = captions.content.decode()
    assert text.startswith("WEBVTT")
    assert "00:00:01.000 --> " in text
    assert "<v The Host>Welcome to the notes." in text
    chapters = client.get(reverse("replay_chapters", args=[space.pk])).content.decode()
    assert chapters.startswith("WEBVTT")
    assert "Margaret" in chapters


# --- Making a clip -----------------------------------------------------------------------------


def test_the_clip_form_makes_a_clip_of_the_replay_and_opens_it(ended, listener):
    response = client_for(listener).post(
        reverse("clip_create", args=[ended.pk]),
        {"start": "2", "end": "7.5", "title": "The best part"},
        follow=True,
    )

    clip = Clip.objects.get(space=ended)
    assert (clip.start_ms, clip.end_ms, clip.title, clip.author) == (
        2000,
        7500,
        "The best part",
        listener,
    )
    assert response.redirect_chain[-1][0] == reverse("clip_detail", args=[clip.slug])
    assert "Your 6-second clip is ready." in messages_of(response)


def test_the_page_script_gets_the_clip_as_json(ended, listener):
    response = client_for(listener).post(
        reverse("clip_create", args=[ended.pk]), {"start": "0", "end": "3", "title": ""}, **JSON
    )

    answer = response.json()
    clip = Clip.objects.get(space=ended)
    assert answer["ok"] is True
    assert answer["clip"]["url"] == f"/clips/{clip.slug}/"
    assert answer["clip"]["duration_ms"] == 3000
    assert answer["clip"]["author"]["id"] == listener.pk


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        ({"start": "5", "end": "2"}, 400, "invalid_range"),
        ({"start": "0", "end": "61"}, 400, "clip_too_long"),
        ({"start": "8", "end": "30"}, 400, "clip_out_of_range"),
        ({"start": "soon", "end": "3"}, 400, "invalid"),
        ({"start": "-1", "end": "3"}, 400, "invalid"),
        ({"start": "1e300", "end": "1e300"}, 400, "invalid"),
        ({"start": "nan", "end": "3"}, 400, "invalid"),
        ({"end": "3"}, 400, "invalid"),
    ],
)
def test_a_bad_range_is_refused_with_its_code_and_makes_nothing(
    ended, listener, data, status, code
):
    response = client_for(listener).post(reverse("clip_create", args=[ended.pk]), data, **JSON)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not Clip.objects.exists()
    assert not any("/clips/" in n for n, _ in storage.walk(storage.recordings(), "spaces"))


def test_a_refused_clip_form_says_why_on_the_page_it_came_from(ended, listener):
    response = client_for(listener).post(
        reverse("clip_create", args=[ended.pk]),
        {"start": "0", "end": "61", "next": replay_url(ended)},
    )

    assert response.status_code == 302
    assert response["Location"] == replay_url(ended)
    assert messages_of(response) == ["A clip lasts at most 60 seconds."]


def test_someone_in_a_live_space_clips_its_last_seconds(live, listener):
    join(live, listener)

    answer = client_for(listener).post(reverse("clip_create", args=[live.pk]), **JSON).json()

    clip = Clip.objects.get(space=live)
    assert answer["ok"] is True
    assert clip.source == Clip.Source.LIVE
    assert clip.duration_ms == 6000  # all there is of the last 30 s
    assert answer["clip"]["url"] == f"/clips/{clip.slug}/"


def test_someone_not_in_a_live_space_cannot_clip_it(live, listener):
    response = client_for(listener).post(reverse("clip_create", args=[live.pk]), **JSON)

    assert response.status_code == 403
    assert not Clip.objects.exists()


# --- The clip page -----------------------------------------------------------------------------


@pytest.fixture
def clip(recorded, listener) -> Clip:
    space, _ = recorded
    return services.clip_create(
        actor=listener, space_id=space.pk, start_ms=3000, end_ms=8000, title="Loops"
    )


def test_the_clip_page_plays_the_clip_and_shows_what_was_said(clip, host):
    response = client_for(host).get(reverse("clip_detail", args=[clip.slug]))
    body = response.content.decode()

    assert response.status_code == 200
    assert re.search(
        rf'<audio id="clip-audio" controls [^>]*src="/clips/{clip.slug}/audio.mp4">', body
    )
    assert "Loops still read as new." in body  # said 4 s in: 1 s into the clip
    assert "Welcome to the notes." in body  # still on screen when the clip starts
    assert re.search(r'data-seek="1\.000"[^>]*><span class="cue-time">0:01</span>', body)
    assert f"{replay_url(clip.space)}?t=3.000" in body  # the full replay, from there
    assert f'value="http://testserver/clips/{clip.slug}/"' in body  # the link to copy
    assert 'data-copy="clip-url"' in body
    assert reverse("clip_delete", args=[clip.slug]) in body  # the host may delete it


def test_only_its_author_and_the_host_are_offered_delete(clip, listener):
    other = UserFactory()
    delete = reverse("clip_delete", args=[clip.slug])

    assert (
        delete
        in client_for(listener).get(reverse("clip_detail", args=[clip.slug])).content.decode()
    )
    assert (
        delete
        not in client_for(other).get(reverse("clip_detail", args=[clip.slug])).content.decode()
    )
    response = client_for(other).post(delete, follow=True)
    assert "Only its author or the host can delete a clip." in messages_of(response)
    assert Clip.objects.get(pk=clip.pk).deleted_at is None


def test_the_clip_file_is_a_private_mp4_that_answers_ranges(clip, listener):
    stored = storage.get(storage.recordings(), clip.file_name)
    client = client_for(listener)

    whole = client.get(reverse("clip_audio", args=[clip.slug]))
    assert whole["Content-Type"] == "audio/mp4"
    assert whole["Cache-Control"].startswith("private")
    assert whole["Accept-Ranges"] == "bytes"
    assert whole.content == stored
    part = client.get(reverse("clip_audio", args=[clip.slug]), HTTP_RANGE="bytes=0-99")
    assert part.status_code == 206
    assert part.content == stored[:100]


def test_a_deleted_clip_answers_410(clip, listener):
    response = client_for(listener).post(reverse("clip_delete", args=[clip.slug]), follow=True)

    assert "The clip is deleted." in messages_of(response)
    assert response.redirect_chain[-1][0] == replay_url(clip.space)  # the replay is still there
    page = client_for(listener).get(reverse("clip_detail", args=[clip.slug]))
    assert page.status_code == 410
    assert "This clip was deleted" in page.content.decode()
    assert client_for(listener).get(reverse("clip_audio", args=[clip.slug])).status_code == 410


def test_the_clips_of_a_deleted_replay_answer_410(clip, host, listener):
    services.replay_delete(actor=host, space_id=clip.space_id)

    assert client_for(listener).get(reverse("clip_detail", args=[clip.slug])).status_code == 410


def test_an_unknown_clip_is_a_404_and_a_blocked_viewer_sees_none(clip, host, listener):
    assert client_for(listener).get("/clips/no-such-clip/").status_code == 404
    block_create(blocker=host, blocked=listener)
    assert client_for(listener).get(reverse("clip_detail", args=[clip.slug])).status_code == 404


def test_the_replay_lists_its_clips(clip, host):
    body = client_for(host).get(replay_url(clip.space)).content.decode()

    assert f'href="/clips/{clip.slug}/"' in body
    assert "Loops" in body
    assert 'id="clip-row-template"' in body  # what the script fills for a new clip


# --- The Space page while it is recorded -------------------------------------------------------


def space_page(user: User, space: Space) -> str:
    response = client_for(user).get(reverse("space_detail", args=[space.pk]))
    assert response.status_code == 200
    return response.content.decode()


def embedded_state(body: str) -> dict:
    match = re.search(
        r'<script id="space-state" type="application/json">(.*?)</script>', body, re.S
    )
    assert match
    return json.loads(match.group(1))


def test_everyone_sees_rec_once_the_recording_started(host, listener):
    space = SpaceFactory(host=host)
    join(space, listener)
    assert re.search(
        r'<span class="rec-pill" id="rec-badge"[^>]*\shidden>', space_page(listener, space)
    )

    make_replay(space, seconds=2.0)
    body = space_page(listener, space)
    assert re.search(
        r'<span class="rec-pill" id="rec-badge"[^>]*title="This Space is being recorded" >', body
    )
    assert embedded_state(body)["recording"]["status"] == "recording"


def test_a_stage_member_can_keep_their_voice_out_and_a_listener_cannot(live, listener):
    speaker = make_speaker(live)
    join(live, listener)
    consent = reverse("space_me_recording", args=[live.pk])

    assert consent in space_page(speaker, live)
    assert "Don\N{RIGHT SINGLE QUOTATION MARK}t record my voice" in space_page(speaker, live)
    assert consent not in space_page(listener, live)

    answer = client_for(speaker).post(consent, {"recorded": "0"}, **JSON).json()
    assert answer["ok"] is True
    assert answer["state"]["me"]["voice_recorded"] is False
    assert Participant.objects.get(space=live, user=speaker).voice_recorded is False
    body = space_page(listener, live)
    assert "Record my voice" in space_page(speaker, live)
    assert re.search(rf'data-user-id="{speaker.pk}"[\s\S]*?data-slot="unrecorded"', body)
    assert ", not recorded: options" in body

    refused = client_for(listener).post(consent, {"recorded": "0"}, **JSON)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_on_stage"


def test_the_consent_form_without_script_returns_to_the_page_with_a_message(live):
    speaker = make_speaker(live)

    response = client_for(speaker).post(
        reverse("space_me_recording", args=[live.pk]), {"recorded": "0"}, follow=True
    )

    assert "Your voice is kept out of the recording. Listeners still hear you." in messages_of(
        response
    )


def test_clip_last_30_s_is_offered_to_people_in_a_recorded_space(live, listener):
    clip = reverse("clip_create", args=[live.pk])
    outsider = UserFactory()
    join(live, listener)

    assert clip in space_page(listener, live)
    assert "Clip last 30 s" in space_page(listener, live)
    assert clip not in space_page(outsider, live)
    Space.objects.filter(pk=live.pk).update(clips_enabled=False)
    assert clip not in space_page(listener, live)


def test_an_ended_space_links_to_its_replay(ended, listener):
    body = space_page(listener, ended)

    assert f'href="{replay_url(ended)}"' in body
    assert "Listen to the replay" in body


# --- Start, schedule, the ended list, the profile ----------------------------------------------


def test_start_a_space_records_and_allows_clips_by_default(host):
    body = client_for(host).get(reverse("space_new")).content.decode()

    assert re.search(r'<input type="checkbox" name="recording_enabled"[^>]*checked', body)
    assert re.search(r'<input type="checkbox" name="clips_enabled"[^>]*checked', body)
    assert "Record this Space" in body
    assert "Allow clips" in body


@pytest.mark.parametrize(
    ("ticked", "recorded", "clips"),
    [({"recording_enabled": "on", "clips_enabled": "on"}, True, True), ({}, False, False)],
)
def test_the_start_form_passes_the_recording_choices(host, ticked, recorded, clips):
    client_for(host).post(
        reverse("space_new"),
        {"title": "Choices", "speaking_policy": "everyone", **ticked},
    )

    space = Space.objects.get(title="Choices")
    assert (space.recording_enabled, space.clips_enabled) == (recorded, clips)


def test_the_schedule_form_passes_the_recording_choices_and_edits_them(host, monkeypatch):
    from scheduling.services import schedule

    monkeypatch.setattr(schedule, "_kick_sweep", lambda: None)
    client = client_for(host)
    body = client.get(reverse("scheduled_new")).content.decode()
    assert re.search(r'<input type="checkbox" name="recording_enabled"[^>]*checked', body)
    when = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    client.post(
        reverse("scheduled_new"),
        {
            "title": "Later",
            "scheduled_for": when,
            "speaking_policy": "everyone",
            "recording_enabled": "on",
        },
    )
    space = Space.objects.get(title="Later")
    assert (space.recording_enabled, space.clips_enabled) == (True, False)

    edit = reverse("scheduled_edit", args=[space.pk])
    assert not re.search(
        r'<input type="checkbox" name="clips_enabled"[^>]*checked',
        client.get(edit).content.decode(),
    )
    client.post(edit, {"title": "Later", "scheduled_for": when, "speaking_policy": "everyone"})
    space.refresh_from_db()
    assert (space.recording_enabled, space.clips_enabled) == (False, False)


def test_the_ended_list_links_ready_replays_only(ended, host, listener):
    not_recorded = ended_space(host=host, title="Unrecorded talk")

    body = client_for(listener).get(reverse("space_ended_list")).content.decode()

    assert f'href="{replay_url(ended)}"' in body
    assert f'href="{replay_url(not_recorded)}"' not in body


def test_the_hosts_profile_lists_their_replays_but_not_for_someone_they_blocked(
    ended, host, listener
):
    profile = reverse("profile", args=[host.username])

    body = client_for(listener).get(profile).content.decode()
    assert 'id="host-replays-title"' in body
    assert f'href="{replay_url(ended)}"' in body
    block_create(blocker=host, blocked=listener)
    assert f'href="{replay_url(ended)}"' not in client_for(listener).get(profile).content.decode()
