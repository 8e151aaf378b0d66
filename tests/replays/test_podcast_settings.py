"""The host's podcast switch: `GET/PUT /api/v1/me/podcast` and the Podcast tab of Settings.
Bad input is refused with the one error shape and a stable code; nobody changes another's feed."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from replays import services
from replays.models import PodcastFeed
from tests.factories import UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/podcast"
PAGE = "/settings/podcast/"


def test_the_feed_is_off_until_its_host_turns_it_on(client_for, host, ended):
    client = client_for(host)
    body = client.get(URL).json()
    assert body == {
        "enabled": False,
        "title": "",
        "description": "",
        "category": "Society & Culture",
        "explicit": False,
        "feed_url": f"http://testserver/u/{host.username}/podcast.xml",
        "episodes": 0,
        "preparing": 0,
        "ticketed": 0,
    }
    assert Client().get(f"/u/{host.username}/podcast.xml").status_code == 404

    on = client.put(URL, {"enabled": True, "category": "Technology"}, format="json")

    assert on.status_code == 200, on.content
    assert (on.json()["enabled"], on.json()["category"], on.json()["preparing"]) == (
        True,
        "Technology",
        1,  # the replay it already has: its audio is made by the next sweep
    )
    services.recording_sweep()
    assert client.get(URL).json()["episodes"] == 1
    assert Client().get(f"/u/{host.username}/podcast.xml").status_code == 200


def test_what_a_put_leaves_out_stays_as_it_is(client_for, host):
    client = client_for(host)
    client.put(URL, {"title": "Night talks", "explicit": True}, format="json")
    body = client.put(URL, {"enabled": True}, format="json").json()
    assert (body["title"], body["explicit"], body["enabled"]) == ("Night talks", True, True)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"enabled": "yes"}, "enabled"),
        ({"enabled": 1}, "enabled"),
        ({"enabled": None}, "enabled"),
        ({"explicit": "false"}, "explicit"),
        ({"title": 5}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": "x" * 101}, "title"),
        ({"description": "x" * 1001}, "description"),
        ({"title": "null\x00byte"}, "title"),
        ({"description": "a\x00b"}, "description"),
        ({"category": "Nope"}, "category"),
        ({"category": 3}, "category"),
        ({"owner": "someone"}, "owner"),
        ({"user": 1, "enabled": True}, "user"),
    ],
)
def test_a_bad_field_is_400_naming_it_and_changes_nothing(client_for, host, payload, field):
    client = client_for(host)
    error = assert_error(client.put(URL, payload, format="json"), 400, "invalid")
    assert field in error["fields"], error
    assert not PodcastFeed.objects.exists()


def test_control_characters_are_invalid_text(client_for, host):
    error = assert_error(
        client_for(host).put(URL, {"title": "bell\x07"}, format="json"), 400, "invalid_text"
    )
    assert list(error["fields"]) == ["title"]


def test_a_body_that_is_not_an_object_not_json_or_too_large_is_refused(client_for, host):
    client = client_for(host)
    assert_error(client.put(URL, [1, 2], format="json"), 400, "invalid")
    assert_error(client.put(URL, b"{", content_type="application/json"), 400, "malformed_request")
    huge = {"description": "x" * 300_000}
    assert_error(client.put(URL, huge, format="json"), 413, "request_too_large")
    assert_error(
        client.put(URL, "enabled=1", content_type="text/plain"), 415, "unsupported_media_type"
    )
    assert not PodcastFeed.objects.exists()


def test_it_needs_a_signed_in_user(ended):
    for method in ("get", "put"):
        assert_error(getattr(APIClient(), method)(URL, {}, format="json"), 401, "not_authenticated")


def test_someone_else_changes_only_their_own_feed(client_for, host):
    services.podcast_feed_update(user=host, enabled=True, title="The host's")
    other = UserFactory(username="mallory")

    response = client_for(other).put(URL, {"enabled": False, "title": "Hijacked"}, format="json")

    assert response.status_code == 200
    mine = PodcastFeed.objects.get(user=host)
    assert (mine.enabled, mine.title) == (True, "The host's")
    theirs = PodcastFeed.objects.get(user=other)
    assert (theirs.enabled, theirs.title) == (False, "Hijacked")
    browser = Client()
    browser.force_login(other)
    browser.post(PAGE, {"title": "Again", "category": "Arts"})
    mine.refresh_from_db()
    assert (mine.enabled, mine.title) == (True, "The host's")


# --- The settings page ---------------------------------------------------------------------------


def test_the_page_turns_the_feed_on_and_then_shows_its_address_to_copy(host):
    browser = Client()
    browser.force_login(host)
    page = browser.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'aria-current="page">Podcast</a>' in html
    assert "podcast.xml" not in html  # no address while it is off

    saved = browser.post(
        PAGE,
        {"enabled": "on", "title": "Night talks", "description": "Late.", "category": "Arts"},
        follow=True,
    )

    html = saved.content.decode()
    assert "Your podcast is on." in html
    assert f'value="http://testserver/u/{host.username}/podcast.xml"' in html
    assert 'data-copy="podcast-url"' in html
    feed = PodcastFeed.objects.get(user=host)
    assert (feed.enabled, feed.title, feed.category) == (True, "Night talks", "Arts")

    browser.post(PAGE, {"title": "Night talks", "category": "Arts"})
    assert PodcastFeed.objects.get(user=host).enabled is False


def test_the_page_shows_a_refusal_beside_its_field(host):
    browser = Client()
    browser.force_login(host)
    page = browser.post(PAGE, {"enabled": "on", "title": "bell\x07", "category": "Arts"})
    assert page.status_code == 200
    assert "Contains control characters." in page.content.decode()
    assert not PodcastFeed.objects.exists()
    page = browser.post(PAGE, {"category": "Nope"})
    assert "Select a valid choice" in page.content.decode()


def test_the_page_needs_a_signed_in_user():
    response = Client().get(PAGE)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_profile_links_the_podcast_once_it_is_on(host, ended, listener):
    browser = Client()
    browser.force_login(listener)
    profile = f"/u/{host.username}/"
    assert "podcast.xml" not in browser.get(profile).content.decode()
    services.podcast_feed_update(user=host, enabled=True)
    assert f'href="/u/{host.username}/podcast.xml"' in browser.get(profile).content.decode()
