"""The replays API (and the recording fields of the Spaces and scheduling APIs): each endpoint,
its status codes, bad input, and the one error shape, 410 included."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from replays import services
from replays.models import CLIP_TITLE_MAX_LENGTH, Clip
from spaces import services as spaces_services
from spaces.models import CaptionLine, ModerationAction, ReactionBucket, Recording, Space
from tests.factories import (
    BlockFactory,
    SpaceFactory,
    UserFactory,
    ended_space,
    join,
    make_replay,
    make_speaker,
)
from tests.helpers import assert_error
from tests.replays.conftest import stored_files

pytestmark = pytest.mark.django_db

API = "/api/v1"


def replay_url(space: Space, tail: str = "") -> str:
    return f"{API}/spaces/{space.pk}/replay{tail}"


def clips_url(space: Space) -> str:
    return f"{API}/spaces/{space.pk}/clips"


def clip(space: Space, author, start_ms: int = 0, end_ms: int = 2000) -> Clip:
    return services.clip_create(actor=author, space_id=space.pk, start_ms=start_ms, end_ms=end_ms)


# --- Every endpoint needs a user ---------------------------------------------------------------


def test_every_endpoint_needs_authentication(ended, listener):
    made = clip(ended, listener)
    client = APIClient()
    for method, url in [
        ("get", replay_url(ended)),
        ("delete", replay_url(ended)),
        ("get", replay_url(ended, "/captions.vtt")),
        ("get", replay_url(ended, "/chapters.vtt")),
        ("get", clips_url(ended)),
        ("post", clips_url(ended)),
        ("get", replay_url(ended, "/hls/index.m3u8")),
        ("get", f"{API}/clips/{made.slug}"),
        ("get", f"{API}/clips/{made.slug}/audio.mp4"),
        ("delete", f"{API}/clips/{made.slug}"),
        ("get", f"{API}/users/{ended.host.username}/replays"),
        ("post", f"{API}/spaces/{ended.pk}/recording/consent"),
    ]:
        assert_error(getattr(client, method)(url, {}, format="json"), 401, "not_authenticated")


# --- The replay ---------------------------------------------------------------------------------


def test_an_app_fetches_the_whole_hls_and_a_clip_through_the_api(client_for, ended, listener):
    """Apps hold a session token, not a cookie: every file a player needs is under /api/v1/,
    the playlist's relative URIs included."""
    from media import fmp4, hls

    client = client_for(listener)
    playlist = client.get(replay_url(ended, "/hls/index.m3u8"))
    assert playlist.status_code == 200
    assert playlist["Content-Type"] == "application/vnd.apple.mpegurl"
    parts, ended_list = hls.parse_media_playlist(playlist.content.decode())
    assert ended_list
    assert parts
    for part in parts:
        init = client.get(replay_url(ended, f"/hls/{part.map_uri}"))
        assert (init.status_code, init["Content-Type"]) == (200, "audio/mp4")
        for segment in part.segments:
            body = client.get(replay_url(ended, f"/hls/{segment.uri}"))
            assert body.status_code == 200
            assert fmp4.read_segment(body.content)[1]
    for name in ("../../secret", "0000000000001-0000abcd/../index.m3u8", "x.mp4"):
        assert_error(client.get(replay_url(ended, f"/hls/{name}")), 404, "not_found")
    made = clip(ended, listener)
    audio = client.get(f"{API}/clips/{made.slug}/audio.mp4")
    assert (audio.status_code, audio["Content-Type"]) == (200, "audio/mp4")
    assert audio.content[4:8] == b"ftyp"


def test_the_replay_answers_its_files_speakers_chapters_reactions_and_transcript(
    api_client, client_for, host, listener, clock
):
    start = clock.now
    space = SpaceFactory(host=host, started_at=start)
    guest = make_speaker(space)
    make_replay(space, seconds=10.0, speakers=[host, guest])
    join(space, listener)
    # Windows of 10 s of wall time (what spaces/reactions.py writes): one inside the recording,
    # one after it.
    for after, count in ((0, 3), (20, 5)):
        ReactionBucket.objects.create(
            space=space, at=start + timedelta(seconds=after), code="clap", count=count
        )
    CaptionLine.objects.create(
        space=space, speaker=guest, text="hello there", started_at=start + timedelta(seconds=2)
    )
    clock.advance(seconds=3)
    spaces_services.recording_consent_set(actor=guest, space_id=space.pk, recorded=False)
    spaces_services.space_end(actor=host, space_id=space.pk)
    services.recording_finalize(space_id=space.pk)

    body = client_for(listener).get(replay_url(space)).json()

    documented = api_client.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert set(body) == set(documented["Replay"]["properties"])
    recording = Recording.objects.get(space=space)
    assert body["space"]["id"] == space.pk
    assert (body["duration_ms"], body["size_bytes"]) == (10_000, recording.size_bytes)
    assert body["url"] == f"/spaces/{space.pk}/replay/"
    assert body["playlist_url"] == f"/api/v1/spaces/{space.pk}/replay/hls/index.m3u8"
    assert body["captions_url"] == f"/api/v1/spaces/{space.pk}/replay/captions.vtt"
    assert body["chapters_url"] == f"/api/v1/spaces/{space.pk}/replay/chapters.vtt"
    assert [(s["user"]["id"], s["seconds"]) for s in body["speakers"]] == [
        (host.pk, 5.0),
        (guest.pk, 5.0),
    ]
    assert [c["user"]["id"] for c in body["chapters"]] == [host.pk, guest.pk]
    assert body["chapters"][0]["start_ms"] < body["chapters"][1]["start_ms"]
    assert [u["id"] for u in body["left_out"]] == [guest.pk]
    assert body["transcript"] == [
        {
            "start_ms": 2000,
            "end_ms": 8000,
            "text": "hello there",
            "speaker": {"id": guest.pk, "username": guest.username, "name": guest.name},
        }
    ]
    assert body["reactions"] == [{"at_ms": 0, "total": 3, "counts": {"clap": 3}}]
    assert (body["can_delete"], body["can_clip"]) == (False, True)
    assert client_for(host).get(replay_url(space)).json()["can_delete"] is True


def test_the_replay_refuses_with_a_clear_code(client_for, host, listener, live):
    client = client_for(listener)
    assert_error(client.get(f"{API}/spaces/999999/replay"), 404, "space_not_found")
    not_recorded = ended_space(host=host)
    assert_error(client.get(replay_url(not_recorded)), 404, "replay_not_found")
    assert_error(client.get(replay_url(live)), 409, "replay_not_ready")
    ticketed = ended_space(host=host, is_ticketed=True)
    make_replay(ticketed, seconds=2.0)
    assert_error(client.get(replay_url(ticketed)), 403, "ticket_required")
    BlockFactory(blocker=host, blocked=listener)
    mine = ended_space(host=host)
    make_replay(mine, seconds=2.0)
    assert_error(client.get(replay_url(mine)), 404, "space_not_found")


def test_the_host_deletes_the_replay_and_then_it_is_gone(client_for, ended, listener):
    assert_error(client_for(listener).delete(replay_url(ended)), 403, "not_host")

    response = client_for(ended.host).delete(replay_url(ended))

    assert response.status_code == 204
    assert stored_files(ended) == []
    assert_error(client_for(ended.host).delete(replay_url(ended)), 410, "replay_deleted")
    assert_error(client_for(listener).get(replay_url(ended)), 410, "replay_deleted")
    assert_error(
        client_for(listener).get(replay_url(ended, "/captions.vtt")), 410, "replay_deleted"
    )


def test_the_tracks_are_webvtt_whatever_the_player_accepts(client_for, ended, listener):
    client = client_for(listener)
    captions = client.get(replay_url(ended, "/captions.vtt"), HTTP_ACCEPT="text/vtt")
    chapters = client.get(replay_url(ended, "/chapters.vtt"))

    assert captions.status_code == 200
    assert captions["Content-Type"] == "text/vtt; charset=utf-8"
    assert captions.content.decode().startswith("WEBVTT\n")
    # make_replay's host spoke the whole replay: one chapter, from their first turn to the end.
    number, times, name = chapters.content.decode().splitlines()[2:5]
    assert (number, name) == ("1", ended.host.name)
    assert times.startswith("00:00:00.")
    assert times.endswith(" --> 00:00:10.000")


# --- Clips ---------------------------------------------------------------------------------------


def test_a_clip_is_made_with_201_and_the_same_request_again_answers_the_same_clip(
    client_for, ended, listener
):
    client = client_for(listener)
    payload = {"start_ms": 1000, "end_ms": 4000, "title": "Best bit"}

    first = client.post(clips_url(ended), payload, format="json")
    again = client.post(clips_url(ended), payload, format="json")

    assert (first.status_code, again.status_code) == (201, 201)
    body = first.json()
    assert again.json()["slug"] == body["slug"]
    assert Clip.objects.count() == 1
    assert (body["clipped_from"], body["start_ms"], body["end_ms"], body["duration_ms"]) == (
        "replay",
        1000,
        4000,
        3000,
    )
    assert body["title"] == "Best bit"
    assert body["author"]["id"] == listener.pk
    assert body["url"] == f"/clips/{body['slug']}/"
    assert body["audio_url"] == f"/api/v1/clips/{body['slug']}/audio.mp4"


def test_a_live_clip_is_the_last_seconds_and_takes_no_range(client_for, live, listener):
    join(live, listener)
    client = client_for(listener)
    response = client.post(clips_url(live), {}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["clipped_from"], response.json()["end_ms"]) == ("live", 6000)
    assert_error(
        client.post(clips_url(live), {"start_ms": 0, "end_ms": 2000}, format="json"),
        400,
        "invalid_range",
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"start_ms": "1000", "end_ms": 3000}, "start_ms"),
        ({"start_ms": 1000.0, "end_ms": 3000}, "start_ms"),
        ({"start_ms": True, "end_ms": 3000}, "start_ms"),
        ({"start_ms": -1, "end_ms": 3000}, "start_ms"),
        ({"start_ms": 0, "end_ms": 2**60}, "end_ms"),
        ({"start_ms": 0, "end_ms": None}, "end_ms"),
        ({"start_ms": 0, "end_ms": 3000, "title": 5}, "title"),
        ({"start_ms": 0, "end_ms": 3000, "title": "a\x00b"}, "title"),
        ({"start_ms": 0, "end_ms": 3000, "title": "x" * (CLIP_TITLE_MAX_LENGTH + 1)}, "title"),
        ({"start_ms": 0, "end_ms": 3000, "title": "x" * 200_000}, "title"),
        ({"start_ms": 0, "end_ms": 3000, "source": "live"}, "source"),
    ],
)
def test_a_clip_with_a_bad_field_is_400_naming_it(client_for, ended, listener, payload, field):
    error = assert_error(
        client_for(listener).post(clips_url(ended), payload, format="json"), 400, "invalid"
    )
    assert field in error["fields"]
    assert not Clip.objects.exists()


def test_a_body_that_is_not_an_object_or_too_large_is_refused(client_for, ended, listener):
    client = client_for(listener)
    assert_error(client.post(clips_url(ended), [1, 2], format="json"), 400, "invalid")
    assert_error(
        client.post(clips_url(ended), b"{", content_type="application/json"),
        400,
        "malformed_request",
    )
    huge = {"start_ms": 0, "end_ms": 3000, "title": "x" * 300_000}
    assert_error(client.post(clips_url(ended), huge, format="json"), 413, "request_too_large")


@pytest.mark.parametrize(
    ("start_ms", "end_ms", "code"),
    [
        (4000, 3000, "invalid_range"),
        (0, 60_001, "clip_too_long"),
        (0, 500, "clip_too_short"),
        (8000, 11_000, "clip_out_of_range"),
    ],
)
def test_a_bad_range_is_400_with_its_code(client_for, ended, listener, start_ms, end_ms, code):
    response = client_for(listener).post(
        clips_url(ended), {"start_ms": start_ms, "end_ms": end_ms}, format="json"
    )
    assert_error(response, 400, code)


def test_a_replay_clip_needs_both_ends(client_for, ended, listener):
    error = assert_error(
        client_for(listener).post(clips_url(ended), {"start_ms": 0}, format="json"),
        400,
        "invalid_range",
    )
    assert error["fields"] == {"end_ms": ["Required."]}


def test_clips_refused_by_state_are_409_and_of_a_deleted_replay_410(client_for, ended, listener):
    client = client_for(listener)
    body = {"start_ms": 0, "end_ms": 2000}
    Space.objects.filter(pk=ended.pk).update(clips_enabled=False)
    assert_error(client.post(clips_url(ended), body, format="json"), 409, "clips_off")
    Space.objects.filter(pk=ended.pk).update(clips_enabled=True)
    services.replay_delete(actor=ended.host, space_id=ended.pk)
    assert_error(client.post(clips_url(ended), body, format="json"), 410, "replay_deleted")
    unrecorded = SpaceFactory(recording_enabled=False)
    join(unrecorded, listener)
    assert_error(client.post(clips_url(unrecorded), {}, format="json"), 409, "recording_off")


def test_clipping_is_rate_limited(client_for, ended, listener):
    client = client_for(listener)
    for n in range(services.CLIPS_PER_MINUTE):
        response = client.post(
            clips_url(ended), {"start_ms": 0, "end_ms": 1000 + 100 * n}, format="json"
        )
        assert response.status_code == 201
    limited = client.post(clips_url(ended), {"start_ms": 0, "end_ms": 9000}, format="json")
    assert_error(limited, 429, "rate_limited")
    assert Clip.objects.count() == services.CLIPS_PER_MINUTE


def test_the_clips_list_is_paged_newest_first_without_blocked_authors(client_for, ended, listener):
    clips = [clip(ended, listener, end_ms=1000 + 100 * n) for n in range(3)]
    rude = UserFactory()
    clip(ended, rude)
    BlockFactory(blocker=listener, blocked=rude)

    first = client_for(listener).get(clips_url(ended), {"page_size": 2}).json()
    rest = client_for(listener).get(first["next"]).json()

    slugs = [c["slug"] for c in first["results"] + rest["results"]]
    assert slugs == [c.slug for c in reversed(clips)]
    assert rest["next"] is None


def test_a_clip_answers_its_transcript_excerpt_and_links(api_client, client_for, ended, listener):
    CaptionLine.objects.create(
        space=ended,
        speaker=ended.host,
        text="in the clip",
        started_at=ended.started_at + timedelta(seconds=3),
    )
    CaptionLine.objects.create(
        space=ended,
        speaker=ended.host,
        text="after the clip",
        started_at=ended.started_at + timedelta(seconds=9),
    )
    made = clip(ended, listener, start_ms=2000, end_ms=5000)

    body = client_for(UserFactory()).get(f"{API}/clips/{made.slug}").json()

    documented = api_client.get("/api/schema/?format=json").json()["components"]["schemas"]
    assert set(body) == set(documented["ClipDetail"]["properties"])
    assert body["slug"] == made.slug
    assert body["space"]["id"] == ended.pk
    assert body["audio_url"] == f"/api/v1/clips/{made.slug}/audio.mp4"
    assert [(c["start_ms"], c["text"]) for c in body["transcript"]] == [(1000, "in the clip")]
    assert body["can_delete"] is False
    assert client_for(listener).get(f"{API}/clips/{made.slug}").json()["can_delete"] is True


def test_a_clip_is_deleted_by_its_author_with_204_then_410(client_for, ended, listener):
    made = clip(ended, listener)
    assert_error(
        client_for(UserFactory()).delete(f"{API}/clips/{made.slug}"), 403, "not_clip_owner"
    )

    assert client_for(listener).delete(f"{API}/clips/{made.slug}").status_code == 204

    assert_error(client_for(listener).delete(f"{API}/clips/{made.slug}"), 410, "clip_deleted")
    assert_error(client_for(listener).get(f"{API}/clips/{made.slug}"), 410, "clip_deleted")
    assert_error(client_for(listener).get(f"{API}/clips/nosuchclip"), 404, "clip_not_found")
    assert_error(client_for(listener).get(f"{API}/clips/no%20such"), 404, "not_found")


# --- A host's replays, the ended list --------------------------------------------------------


def test_a_hosts_replays_are_listed_newest_first(client_for, ended, listener):
    newer = ended_space(host=ended.host)
    make_replay(newer, seconds=2.0)
    not_recorded = ended_space(host=ended.host)
    client = client_for(listener)

    body = client.get(f"{API}/users/{ended.host.username.upper()}/replays").json()

    assert [r["space"]["id"] for r in body["results"]] == [newer.pk, ended.pk]
    assert body["results"][0]["url"] == f"/spaces/{newer.pk}/replay/"
    assert not_recorded.pk not in [r["space"]["id"] for r in body["results"]]
    assert_error(client.get(f"{API}/users/nobody-here/replays"), 404, "not_found")
    BlockFactory(blocker=ended.host, blocked=listener)
    assert client.get(f"{API}/users/{ended.host.username}/replays").json()["results"] == []


def test_the_ended_list_says_which_spaces_have_a_replay(client_for, ended, listener):
    not_recorded = ended_space(host=ended.host)
    deleted = ended_space(host=ended.host)
    make_replay(deleted, seconds=2.0)
    services.replay_delete(actor=ended.host, space_id=deleted.pk)

    rows = client_for(listener).get(f"{API}/spaces/ended").json()["results"]

    replays = {row["id"]: row["replay"] for row in rows}
    assert replays == {
        ended.pk: {"status": "ready", "url": f"/spaces/{ended.pk}/replay/"},
        not_recorded.pk: None,
        deleted.pk: {"status": "deleted", "url": f"/spaces/{deleted.pk}/replay/"},
    }


# --- Choosing at start and when scheduling -----------------------------------------------------


def test_starting_records_and_allows_clips_unless_told_otherwise(client_for, host):
    client = client_for(host)
    body = client.post(f"{API}/spaces", {"title": "On the record"}, format="json").json()
    assert (body["recording_enabled"], body["clips_enabled"]) == (True, True)
    spaces_services.space_end(actor=host, space_id=body["id"])

    off = client.post(
        f"{API}/spaces",
        {"title": "Off", "recording_enabled": False, "clips_enabled": False},
        format="json",
    )
    assert off.status_code == 201
    space = Space.objects.get(pk=off.json()["id"])
    assert (space.recording_enabled, space.clips_enabled) == (False, False)
    error = assert_error(
        client.post(f"{API}/spaces", {"title": "x", "recording_enabled": "no"}, format="json"),
        400,
        "invalid",
    )
    assert set(error["fields"]) == {"recording_enabled"}


def test_scheduling_takes_the_recording_choice_and_editing_changes_it(client_for, host, clock):
    client = client_for(host)
    when = (clock.now + timedelta(hours=2)).isoformat()
    created = client.post(
        f"{API}/spaces/scheduled",
        {"title": "Later", "scheduled_for": when, "clips_enabled": False},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["recording_enabled"], body["clips_enabled"]) == (True, False)

    edited = client.patch(
        f"{API}/spaces/scheduled/{body['id']}", {"recording_enabled": False}, format="json"
    )

    assert edited.status_code == 200
    assert (edited.json()["recording_enabled"], edited.json()["clips_enabled"]) == (False, False)
    assert Space.objects.get(pk=body["id"]).recording_enabled is False
    error = assert_error(
        client.patch(f"{API}/spaces/scheduled/{body['id']}", {"clips_enabled": 1}, format="json"),
        400,
        "invalid",
    )
    assert set(error["fields"]) == {"clips_enabled"}


# --- Consent ---------------------------------------------------------------------------------


def test_a_speaker_keeps_their_voice_out_and_gets_their_place_back(client_for, host):
    space = SpaceFactory(host=host)
    speaker = make_speaker(space)
    url = f"{API}/spaces/{space.pk}/recording/consent"

    response = client_for(speaker).post(url, {"recorded": False}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["user"]["id"], body["role"], body["voice_recorded"]) == (
        speaker.pk,
        "speaker",
        False,
    )
    assert ModerationAction.objects.filter(
        space=space, action=ModerationAction.Action.RECORDING_CONSENT, target=speaker
    ).exists()


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"recorded"}),
        ({"recorded": "false"}, {"recorded"}),
        ({"recorded": 0}, {"recorded"}),
        ({"recorded": None}, {"recorded"}),
        ({"recorded": False, "user_id": 1}, {"user_id"}),
    ],
)
def test_consent_with_a_bad_body_is_400(client_for, host, payload, fields):
    space = SpaceFactory(host=host)
    error = assert_error(
        client_for(host).post(f"{API}/spaces/{space.pk}/recording/consent", payload, format="json"),
        400,
        "invalid",
    )
    assert set(error["fields"]) == fields


def test_consent_from_a_listener_or_in_an_unrecorded_space_is_409(client_for, host, listener):
    space = SpaceFactory(host=host)
    join(space, listener)
    url = f"{API}/spaces/{space.pk}/recording/consent"
    assert_error(
        client_for(listener).post(url, {"recorded": False}, format="json"), 409, "not_on_stage"
    )
    quiet = SpaceFactory(host=UserFactory(), recording_enabled=False)
    assert_error(
        client_for(quiet.host).post(
            f"{API}/spaces/{quiet.pk}/recording/consent", {"recorded": False}, format="json"
        ),
        409,
        "recording_off",
    )
    assert_error(
        client_for(UserFactory()).post(url, {"recorded": True}, format="json"),
        403,
        "not_in_space",
    )


# --- The schema ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict:
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/", include("replays.urls"))])
    with GENERATOR_STATS.silence():
        result = generator.get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache, list(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, list(GENERATOR_STATS._error_cache)
    return result


def test_every_replays_operation_is_in_the_schema_with_its_errors(schema):
    validate_schema(schema)
    operations = [
        (url, method, operation)
        for url, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) == 14  # + me/podcast (GET, PUT), replay/comments
    for url, method, operation in operations:
        assert operation["operationId"].startswith("replays_"), (url, method)
        assert operation.get("summary"), (url, method)
        body = operation["responses"]["401"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/Error"}, (url, method)
    for url, method, code in [
        ("/api/v1/spaces/{space_id}/replay", "get", "replay_deleted"),
        ("/api/v1/spaces/{space_id}/replay", "delete", "replay_deleted"),
        ("/api/v1/spaces/{space_id}/clips", "post", "replay_deleted"),
        ("/api/v1/clips/{slug}", "get", "clip_deleted"),
        ("/api/v1/clips/{slug}", "delete", "clip_deleted"),
    ]:
        assert code in schema["paths"][url][method]["responses"]["410"]["description"]


def test_the_ended_list_documents_its_replay_field(api_client):
    components = api_client.get("/api/schema/?format=json").json()["components"]["schemas"]
    replay = components["EndedSpace"]["properties"]["replay"]
    assert replay["nullable"] is True
    assert set(components["EndedSpaceReplay"]["required"]) == {"status", "url"}
