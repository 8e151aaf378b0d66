"""A Space's link preview (spaces/previews.py): the Open Graph / Twitter tags of its page, signed
out too, and its card image (spaces/views/cards.py)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from spaces.models import Space
from spaces.previews import space_card
from tests.factories import BlockFactory, SpaceFactory, UserFactory, ended_space
from tests.previews import assert_preview, png

pytestmark = pytest.mark.django_db


def test_a_live_space_page_signed_out_carries_its_preview(client: Client):
    space = SpaceFactory(title="Synths at night", listener_count=1234, peak_listener_count=5000)
    response = client.get(reverse("space_detail", args=[space.pk]))
    assert response.status_code == 200
    tags = assert_preview(
        response.content.decode(),
        page=reverse("space_detail", args=[space.pk]),
        image=reverse("space_card", args=[space.pk]),
        title="Synths at night",
    )
    assert "Live now" in tags["og:description"]
    assert "1.2K listening" in tags["og:description"]
    assert f"@{space.host.username}" in tags["og:description"]


def test_an_ended_space_signed_out_gets_its_preview_and_a_sign_in_button(client: Client):
    space = ended_space(title="Yesterday's chat")
    page = reverse("space_detail", args=[space.pk])
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    tags = assert_preview(
        html, page=page, image=reverse("space_card", args=[space.pk]), title="Yesterday's chat"
    )
    assert tags["og:description"].startswith("Ended")
    assert f"{reverse('account_login')}?next=" in html


def test_the_page_signed_in_carries_the_same_tags(client: Client):
    space = SpaceFactory(title="Morning coffee")
    client.force_login(UserFactory())
    response = client.get(reverse("space_detail", args=[space.pk]))
    assert response.status_code == 200
    assert_preview(
        response.content.decode(),
        page=reverse("space_detail", args=[space.pk]),
        image=reverse("space_card", args=[space.pk]),
        title="Morning coffee",
    )


def test_the_card_is_a_png_cached_in_public_for_five_minutes_while_live(client: Client):
    space = SpaceFactory(title="Card please")
    response = client.get(reverse("space_card", args=[space.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert png(response.content).size == (1200, 630)
    assert response["Cache-Control"] in ("public, max-age=300", "max-age=300, public")
    assert response["ETag"] == f'"{space_card(space).key()}"'


def test_the_card_answers_304_to_its_own_etag_and_200_once_it_changed(client: Client):
    space = SpaceFactory(title="Before")
    url = reverse("space_card", args=[space.pk])
    etag = client.get(url)["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    Space.objects.filter(pk=space.pk).update(title="After")
    changed = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_a_listener_count_moving_inside_its_bucket_keeps_the_card(client: Client):
    space = SpaceFactory(listener_count=1201, peak_listener_count=5000)
    url = reverse("space_card", args=[space.pk])
    etag = client.get(url)["ETag"]
    Space.objects.filter(pk=space.pk).update(listener_count=1288, peak_listener_count=5000)
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    Space.objects.filter(pk=space.pk).update(listener_count=1300, peak_listener_count=5000)
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_live_ended_and_ticketed_cards_differ(client: Client):
    live = SpaceFactory(title="Same title", listener_count=5, peak_listener_count=5000)
    ended = ended_space(title="Same title", host=live.host)
    ticketed = SpaceFactory(
        title="Same title", listener_count=5, peak_listener_count=5000, is_ticketed=True
    )
    bodies = {
        client.get(reverse("space_card", args=[s.pk])).content for s in (live, ended, ticketed)
    }
    assert len(bodies) == 3


def test_a_ticketed_space_shows_no_listener_count():
    space = SpaceFactory(is_ticketed=True, listener_count=777, peak_listener_count=5000)
    card = space_card(space)
    assert card.count == "Ticketed"
    assert "777" not in repr(card)


def test_someone_the_host_blocked_gets_no_card(client: Client):
    space = SpaceFactory()
    blocked = UserFactory()
    BlockFactory(blocker=space.host, blocked=blocked)
    client.force_login(blocked)
    assert client.get(reverse("space_card", args=[space.pk])).status_code == 404


def test_an_unknown_space_has_no_card_and_no_preview(client: Client):
    assert client.get(reverse("space_card", args=[987654])).status_code == 404
    assert client.get(reverse("space_detail", args=[987654])).status_code == 404


def test_a_head_request_gets_the_headers_and_a_post_is_refused(client: Client):
    space = SpaceFactory()
    url = reverse("space_card", args=[space.pk])
    head = client.head(url)
    assert head.status_code == 200
    assert head["ETag"]
    assert client.post(url).status_code == 405
