"""A profile's link preview (accounts/previews.py): its page's tags signed out, its card, and
nothing for someone the person blocked."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.previews import profile_card, profile_for_preview
from tests.factories import BlockFactory, UserFactory, make_followers
from tests.previews import assert_preview, meta, png

pytestmark = pytest.mark.django_db


def test_a_profile_signed_out_carries_its_preview(client: Client):
    ada = UserFactory(username="ada", display_name="Ada Lovelace", bio="Writes programs.")
    make_followers(ada, 3)
    response = client.get(reverse("profile", args=["ada"]))
    assert response.status_code == 200
    tags = assert_preview(
        response.content.decode(),
        page=reverse("profile", args=["ada"]),
        image=reverse("profile_card", args=["ada"]),
        title="Ada Lovelace on Spaces",
    )
    assert tags["og:type"] == "profile"
    assert tags["profile:username"] == "ada"
    assert tags["og:description"] == "@ada · 3 followers · Writes programs."


def test_the_canonical_url_spells_the_username_as_stored(client: Client):
    UserFactory(username="ada", display_name="Ada")
    response = client.get(reverse("profile", args=["ADA"]))
    assert meta(response.content.decode())["canonical"] == "http://testserver/u/ada/"


def test_the_card_is_a_png_with_the_bucketed_follower_count(client: Client):
    ada = UserFactory(username="ada", display_name="Ada")
    response = client.get(reverse("profile_card", args=["ada"]))
    assert response.status_code == 200
    assert png(response.content).size == (1200, 630)
    card = profile_card(profile_for_preview(username="ada", viewer=None))
    assert card.count == "0 followers"
    assert card.title == "Ada"
    assert card.handle == "ada"
    assert card.initial_seed == ada.pk


def test_someone_the_person_blocked_gets_no_card_and_no_tags(client: Client):
    ada = UserFactory(username="ada")
    blocked = UserFactory()
    BlockFactory(blocker=ada, blocked=blocked)
    client.force_login(blocked)
    assert client.get(reverse("profile_card", args=["ada"])).status_code == 404
    page = client.get(reverse("profile", args=["ada"]))
    assert "og:title" not in page.content.decode()


def test_an_unknown_or_deactivated_user_has_no_card(client: Client):
    UserFactory(username="gone", is_active=False)
    assert client.get(reverse("profile_card", args=["gone"])).status_code == 404
    assert client.get(reverse("profile_card", args=["nobody"])).status_code == 404


def test_the_profile_card_follows_an_edited_name(client: Client):
    ada = UserFactory(username="ada", display_name="Ada")
    url = reverse("profile_card", args=["ada"])
    etag = client.get(url)["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    ada.display_name = "Countess Ada"
    ada.save()
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200
