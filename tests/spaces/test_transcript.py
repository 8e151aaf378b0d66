"""Transcript downloads: WebVTT and plain text, from the API and the site, for the host and
co-hosts only; the files parse back to what was said, when, and by whom."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import block_create
from spaces import services
from spaces.models import CaptionLine, Space
from tests.factories import UserFactory, join, make_cohost, make_speaker

pytestmark = pytest.mark.django_db

TIMING = re.compile(
    r"^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})$"
)
VOICE = re.compile(r"^<v ([^>]+)>(.*)</v>$")
ENTITY = re.compile(r"&(amp|lt|gt);")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_webvtt(document: str) -> list[dict[str, Any]]:
    """A strict reader of the subset we write (WebVTT spec, cue syntax): fails on anything else."""
    assert document.startswith("WEBVTT\n"), document[:20]
    assert "\r" not in document
    assert document.endswith("\n")
    blocks = document.rstrip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT"
    cues = []
    previous_start = -1.0
    for block in blocks[1:]:
        if not block.strip():
            continue
        lines = block.split("\n")
        assert len(lines) == 3, f"cue of {len(lines)} lines: {lines}"
        identifier, timing, payload = lines
        assert identifier.isdigit(), identifier
        match = TIMING.match(timing)
        assert match, timing
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(g) for g in match.groups())
        start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
        end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        assert end > start, timing
        assert start >= previous_start, "cues out of order"
        previous_start = start
        assert "-->" not in payload
        voice = VOICE.match(payload)
        assert voice, payload
        speaker, text = voice.groups()
        for part in (speaker, text):
            # Only entities: no raw markup or stray ampersands inside a voice span.
            assert not re.search("[<>]", part), part
            assert "&" not in ENTITY.sub("", part), part
        cues.append(
            {"start": start, "end": end, "speaker": unescape(speaker), "text": unescape(text)}
        )
    return cues


def add_line(space: Space, who: User, text: str, *, at: float, took: float = 2.0) -> CaptionLine:
    """A line as the media worker stores it: spoken `at` seconds after the Space went live and
    stored at the end of the utterance (plus the silence that ended it)."""
    assert space.started_at is not None
    line = services.caption_append(
        space_id=space.pk,
        speaker_id=who.pk,
        text=text,
        started_at=space.started_at + timedelta(seconds=at),
    )
    stored = space.started_at + timedelta(seconds=at + took + 0.5)
    CaptionLine.objects.filter(pk=line.pk).update(created_at=stored)
    return line


@pytest.fixture
def captioned(space: Space, space_host: User) -> dict[str, Any]:
    """A live Space with captions on and three lines: the host twice, a speaker once (whose
    name and words need escaping)."""
    services.captions_toggle(actor=space_host, space_id=space.pk, enabled=True)
    alice = make_speaker(space, UserFactory(username="alice", display_name="Alice <&> Co"))
    add_line(space, space_host, "welcome everyone", at=1.25)
    add_line(space, alice, "x < y & y > z --> done", at=75.0, took=3.0)
    add_line(space, space_host, "thanks alice", at=3661.5)
    return {"space": space, "host": space_host, "alice": alice}


def vtt_url(space: Space) -> str:
    return reverse("api-space-transcript-vtt", args=[space.pk])


def txt_url(space: Space) -> str:
    return reverse("api-space-transcript-txt", args=[space.pk])


def test_the_host_downloads_a_valid_webvtt_file_with_times_from_the_start(captioned, client_for):
    space = captioned["space"]
    response = client_for(captioned["host"]).get(vtt_url(space))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/vtt; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="space-{space.pk}-transcript.vtt"'
    )
    cues = parse_webvtt(response.content.decode("utf-8"))
    assert [(c["speaker"], c["text"]) for c in cues] == [
        ("Room Host", "welcome everyone"),
        ("Alice <&> Co", "x < y & y > z --> done"),
        ("Room Host", "thanks alice"),
    ]
    assert [c["start"] for c in cues] == [1.25, 75.0, 3661.5]
    # The end is when the line was stored, less the silence that ended the utterance.
    assert [c["end"] for c in cues] == [3.25, 78.0, 3663.5]


def test_a_cue_never_runs_into_the_same_speakers_next_line(space, space_host, client_for):
    services.captions_toggle(actor=space_host, space_id=space.pk, enabled=True)
    add_line(space, space_host, "first", at=10.0, took=6.0)  # stored late: recognition lagged
    add_line(space, space_host, "second", at=12.0)

    response = client_for(space_host).get(vtt_url(space))

    first, second = parse_webvtt(response.content.decode())
    assert (first["start"], first["end"]) == (10.0, 12.0)
    assert second["start"] == 12.0


def test_the_plain_text_transcript_lists_time_speaker_and_words(captioned, client_for):
    space = captioned["space"]
    response = client_for(captioned["host"]).get(txt_url(space))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="space-{space.pk}-transcript.txt"'
    )
    assert response.content.decode("utf-8").splitlines() == [
        "[00:00:01] Room Host: welcome everyone",
        "[00:01:15] Alice <&> Co: x < y & y > z --> done",
        "[01:01:01] Room Host: thanks alice",
    ]


def test_an_empty_transcript_is_still_a_valid_file(space, space_host, client_for):
    response = client_for(space_host).get(vtt_url(space))
    assert response.status_code == 200
    assert parse_webvtt(response.content.decode()) == []
    assert client_for(space_host).get(txt_url(space)).content == b""


def test_a_cohost_downloads_while_live_and_after_the_end(captioned, client_for):
    space, host = captioned["space"], captioned["host"]
    bob = make_cohost(space)
    assert client_for(bob).get(vtt_url(space)).status_code == 200

    services.space_end(actor=host, space_id=space.pk)

    # Ending moved everyone to the audience; having co-hosted it still counts.
    response = client_for(bob).get(txt_url(space))
    assert response.status_code == 200
    assert "thanks alice" in response.content.decode()
    assert client_for(host).get(vtt_url(space)).status_code == 200


@pytest.mark.parametrize("who", ["speaker", "listener", "stranger"])
def test_anyone_else_is_refused_with_a_code(captioned, client_for, who):
    space = captioned["space"]
    user = {
        "speaker": lambda: captioned["alice"],
        "listener": lambda: join(space),
        "stranger": lambda: UserFactory(),
    }[who]()
    for url in (vtt_url(space), txt_url(space)):
        response = client_for(user).get(url)
        assert response.status_code == 403
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "not_moderator"


def test_staff_may_download(captioned, client_for):
    staff = UserFactory(is_staff=True)
    assert client_for(staff).get(vtt_url(captioned["space"])).status_code == 200


def test_an_unknown_space_is_404_and_a_blocked_viewer_403(captioned, client_for):
    space, host = captioned["space"], captioned["host"]
    stranger = UserFactory()
    missing = Space.objects.order_by("-pk").first().pk + 1000
    response = client_for(stranger).get(reverse("api-space-transcript-vtt", args=[missing]))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "space_not_found"

    block_create(blocker=host, blocked=stranger)
    response = client_for(stranger).get(vtt_url(space))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "blocked"


def test_signed_out_is_401(captioned, api_client):
    response = api_client.get(vtt_url(captioned["space"]))
    assert response.status_code == 401


def test_the_accept_header_changes_neither_the_file_nor_the_json_errors(captioned, client_for):
    space = captioned["space"]
    ok = client_for(captioned["host"]).get(vtt_url(space), HTTP_ACCEPT="text/vtt")
    assert ok.status_code == 200
    assert ok["Content-Type"] == "text/vtt; charset=utf-8"
    refused = client_for(captioned["alice"]).get(vtt_url(space), HTTP_ACCEPT="text/vtt")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_moderator"


# --- The site ----------------------------------------------------------------------------------


def site(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_site_serves_the_same_files_to_the_host(captioned):
    space, host = captioned["space"], captioned["host"]
    vtt = site(host).get(reverse("space_transcript_download", args=[space.pk, "vtt"]))
    assert vtt.status_code == 200
    assert vtt["Content-Type"] == "text/vtt; charset=utf-8"
    assert vtt["Content-Disposition"].startswith("attachment;")
    api = client_for_api(host).get(vtt_url(space))
    assert vtt.content == api.content
    txt = site(host).get(reverse("space_transcript_download", args=[space.pk, "txt"]))
    assert txt.content.decode().startswith("[00:00:01] Room Host: welcome everyone\n")
    unknown = site(host).get(reverse("space_transcript_download", args=[space.pk, "srt"]))
    assert unknown.status_code == 404


def client_for_api(user: User) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_site_refuses_a_listener_and_shows_links_only_to_the_host(captioned):
    space, host = captioned["space"], captioned["host"]
    someone = join(space)
    refused = site(someone).get(reverse("space_transcript_download", args=[space.pk, "vtt"]))
    assert refused.status_code == 403
    assert b"WEBVTT" not in refused.content

    link = reverse("space_transcript_download", args=[space.pk, "vtt"])
    host_page = site(host).get(reverse("space_transcript", args=[space.pk]))
    assert host_page.status_code == 200
    assert link in host_page.content.decode()
    listener_page = site(someone).get(reverse("space_transcript", args=[space.pk]))
    assert listener_page.status_code == 200
    assert link not in listener_page.content.decode()


def test_the_ended_space_page_offers_the_host_the_webvtt_file(captioned):
    space, host = captioned["space"], captioned["host"]
    services.space_end(actor=host, space_id=space.pk)
    page = site(host).get(reverse("space_detail", args=[space.pk]))
    assert page.status_code == 200
    assert reverse("space_transcript_download", args=[space.pk, "vtt"]) in page.content.decode()


def test_the_downloads_are_in_the_api_schema_with_their_media_types():
    from django.urls import include, path
    from drf_spectacular.generators import SchemaGenerator

    generator = SchemaGenerator(patterns=[path("api/v1/", include("spaces.urls"))])
    paths = generator.get_schema(request=None, public=True)["paths"]
    for suffix, media_type in (("vtt", "text/vtt"), ("txt", "text/plain")):
        operation = paths[f"/api/v1/spaces/{{space_id}}/transcript.{suffix}"]["get"]
        assert operation["operationId"] == f"spaces_transcript_{suffix}"
        assert list(operation["responses"]["200"]["content"]) == [media_type]
        assert set(operation["responses"]) >= {"200", "401", "403", "404"}
