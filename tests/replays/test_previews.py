"""The link previews of a replay and a clip (replays/previews.py): the pages' tags signed out,
their cards, and no card for what the viewer may not hear (a ticketed Space's replay signed
out, the host's block, a deleted clip or replay)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from replays.models import Clip
from replays.previews import clip_card, replay_card
from spaces.models import Recording, Space
from tests.factories import BlockFactory, SpaceFactory, UserFactory, ended_space
from tests.previews import assert_preview, png

pytestmark = pytest.mark.django_db


def ready_replay(**space_fields: object) -> Recording:
    """A ready replay row (no files: a preview reads none)."""
    space = ended_space(**space_fields)
    return Recording.objects.create(
        space=space,
        status=Recording.Status.READY,
        started_at=space.started_at or timezone.now(),
        ready_at=timezone.now(),
        duration_ms=2_530_000,
    )


def clip_of(recording: Recording, *, title: str = "", author=None) -> Clip:
    return Clip.objects.create(
        space=recording.space,
        recording=recording,
        author=author or UserFactory(username="clipper"),
        title=title,
        source=Clip.Source.REPLAY,
        start_ms=0,
        end_ms=30_000,
        wall_start=timezone.now() - timedelta(hours=1),
    )


def test_a_replay_page_signed_out_carries_its_preview(client: Client):
    recording = ready_replay(title="Old chat")
    space_id = recording.space_id
    page = reverse("replay_detail", args=[space_id])
    response = client.get(page)
    assert response.status_code == 200
    tags = assert_preview(
        response.content.decode(),
        page=page,
        image=reverse("replay_card", args=[space_id]),
        title="Old chat",
    )
    assert tags["og:description"].startswith("Replay · 42:10")


def test_a_clip_page_signed_out_carries_its_preview(client: Client):
    clip = clip_of(ready_replay(title="Old chat"), title="The best bit")
    page = reverse("clip_detail", args=[clip.slug])
    response = client.get(page)
    assert response.status_code == 200
    tags = assert_preview(
        response.content.decode(),
        page=page,
        image=reverse("clip_card", args=[clip.slug]),
        title="The best bit",
    )
    assert "Clip · 0:30" in tags["og:description"]
    assert "@clipper" in tags["og:description"]


def test_the_replay_page_signed_in_carries_the_tags(client: Client, ended, listener):
    client.force_login(listener)
    response = client.get(reverse("replay_detail", args=[ended.pk]))
    assert response.status_code == 200
    assert_preview(
        response.content.decode(),
        page=reverse("replay_detail", args=[ended.pk]),
        image=reverse("replay_card", args=[ended.pk]),
        title=ended.title,
    )


def test_replay_and_clip_cards_are_public_pngs_that_differ(client: Client):
    recording = ready_replay(title="Same")
    clip = clip_of(recording)
    replay_response = client.get(reverse("replay_card", args=[recording.space_id]))
    clip_response = client.get(reverse("clip_card", args=[clip.slug]))
    for response in (replay_response, clip_response):
        assert response.status_code == 200
        assert png(response.content).size == (1200, 630)
        assert "public" in response["Cache-Control"]
    assert replay_response.content != clip_response.content
    assert replay_card(recording).badge == "Replay · 42:10"
    card = clip_card(clip)
    assert (card.title, card.badge, card.body) == ("Same", "Clip · 0:30", "Clipped by @clipper")


def test_a_ticketed_spaces_replay_has_no_card_or_preview_signed_out(client: Client):
    recording = ready_replay(is_ticketed=True)
    clip = clip_of(recording)
    assert client.get(reverse("replay_card", args=[recording.space_id])).status_code == 404
    assert client.get(reverse("clip_card", args=[clip.slug])).status_code == 404
    page = client.get(reverse("replay_detail", args=[recording.space_id]))
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("account_login"))


def test_the_host_of_a_ticketed_space_gets_its_card_privately(client: Client):
    recording = ready_replay(is_ticketed=True)
    client.force_login(recording.space.host)
    response = client.get(reverse("replay_card", args=[recording.space_id]))
    assert response.status_code == 200
    assert "private" in response["Cache-Control"]


def test_someone_the_host_blocked_gets_no_card(client: Client):
    recording = ready_replay()
    clip = clip_of(recording)
    blocked = UserFactory()
    BlockFactory(blocker=recording.space.host, blocked=blocked)
    client.force_login(blocked)
    assert client.get(reverse("replay_card", args=[recording.space_id])).status_code == 404
    assert client.get(reverse("clip_card", args=[clip.slug])).status_code == 404


def test_deleted_replays_and_clips_and_unready_ones_have_no_card(client: Client):
    recording = ready_replay()
    clip = clip_of(recording)
    Clip.objects.filter(pk=clip.pk).update(deleted_at=timezone.now(), deleted_by="author")
    assert client.get(reverse("clip_card", args=[clip.slug])).status_code == 404
    Recording.objects.filter(pk=recording.pk).update(
        status=Recording.Status.DELETED, deleted_at=timezone.now()
    )
    assert client.get(reverse("replay_card", args=[recording.space_id])).status_code == 404
    live = SpaceFactory()
    assert client.get(reverse("replay_card", args=[live.pk])).status_code == 404
    assert Space.objects.filter(pk=live.pk).exists()
