"""A scheduled Space's link preview (scheduling/previews.py): its page's tags signed out, and
its card, which says when in the host's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from spaces.models import Space
from spaces.previews import space_card
from tests.factories import BlockFactory, SpaceFactory, UserFactory
from tests.previews import assert_preview, png

pytestmark = pytest.mark.django_db


def scheduled(**kwargs: object) -> Space:
    fields: dict[str, object] = {
        "state": Space.State.SCHEDULED,
        "started_at": None,
        "scheduled_for": timezone.now() + timedelta(days=2),
    }
    return SpaceFactory(**(fields | kwargs))


def test_the_schedule_page_signed_out_carries_its_preview(client: Client):
    space = scheduled(title="Product AMA")
    page = reverse("scheduled_detail", args=[space.pk])
    response = client.get(page)
    assert response.status_code == 200
    tags = assert_preview(
        response.content.decode(),
        page=page,
        image=reverse("scheduled_card", args=[space.pk]),
        title="Product AMA",
    )
    assert tags["og:description"].startswith("Scheduled for ")


def test_the_space_page_of_a_scheduled_space_points_crawlers_at_the_schedule_page(client: Client):
    space = scheduled(title="Later")
    response = client.get(reverse("space_detail", args=[space.pk]))
    assert response.status_code == 200
    assert_preview(
        response.content.decode(),
        page=reverse("scheduled_detail", args=[space.pk]),
        image=reverse("scheduled_card", args=[space.pk]),
        title="Later",
    )


def test_the_schedule_page_signed_in_carries_the_tags(client: Client, schedule, host):
    space = schedule(title="Signed in show")
    client.force_login(UserFactory())
    response = client.get(reverse("scheduled_detail", args=[space.pk]))
    assert response.status_code == 200
    assert_preview(
        response.content.decode(),
        page=reverse("scheduled_detail", args=[space.pk]),
        image=reverse("scheduled_card", args=[space.pk]),
        title="Signed in show",
    )


def test_a_space_that_went_live_sends_signed_out_visitors_to_its_page(client: Client):
    space = SpaceFactory(scheduled_for=timezone.now() - timedelta(minutes=5))
    response = client.get(reverse("scheduled_detail", args=[space.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("space_detail", args=[space.pk])


def test_the_card_says_when_in_the_hosts_zone():
    host = UserFactory(time_zone="Europe/Paris")
    space = scheduled(host=host, scheduled_for=datetime(2031, 12, 9, 17, 0, tzinfo=UTC))
    card = space_card(space)
    assert card.tone == "scheduled"
    assert card.badge == "Scheduled · Tue 9 Dec 2031, 18:00 CET"
    assert card.count == ""


def test_the_card_is_a_png_and_a_cancelled_one_differs(client: Client):
    space = scheduled(title="Maybe")
    url = reverse("scheduled_card", args=[space.pk])
    first = client.get(url)
    assert first.status_code == 200
    assert png(first.content).size == (1200, 630)
    assert "max-age=300" in first["Cache-Control"]
    Space.objects.filter(pk=space.pk).update(state=Space.State.CANCELLED)
    cancelled = client.get(url)
    assert cancelled.status_code == 200
    assert cancelled["ETag"] != first["ETag"]
    assert cancelled.content != first.content


def test_someone_the_host_blocked_gets_no_card(client: Client):
    space = scheduled()
    blocked = UserFactory()
    BlockFactory(blocker=space.host, blocked=blocked)
    client.force_login(blocked)
    assert client.get(reverse("scheduled_card", args=[space.pk])).status_code == 404


def test_a_space_never_scheduled_has_no_schedule_card_or_preview(client: Client):
    space = SpaceFactory()
    assert client.get(reverse("scheduled_card", args=[space.pk])).status_code == 404
    assert client.get(reverse("scheduled_detail", args=[space.pk])).status_code == 404
