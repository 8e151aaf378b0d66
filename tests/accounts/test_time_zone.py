"""A person's time zone: the setting, the browser's guess (the cookie static/js/time.js writes
and the POST it sends once), and the middleware that shows each page in the viewer's zone."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.middleware import COOKIE_NAME, TimeZoneMiddleware
from accounts.models import User
from accounts.services import user_time_zone_guess, user_update_profile
from spaces_project.errors import ValidationFailed
from spaces_project.timezones import INVALID_TIME_ZONE
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

GUESS = "/settings/time-zone/guess/"


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory(username="alice", display_name="Alice")


@pytest.fixture
def alice_client(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def stored(user: User) -> str:
    return User.objects.values_list("time_zone", flat=True).get(pk=user.pk)


def site_error(response, status: int, code: str) -> dict:
    """The site's refusal for a page's script (spaces_project/site.py error_json)."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


# --- The service ----------------------------------------------------------------------------


def test_a_new_user_has_no_zone_until_one_is_guessed_or_chosen(alice):
    assert alice.time_zone == ""


def test_the_setting_is_stored_as_the_database_spells_it(alice):
    user_update_profile(user=alice, time_zone="america/new_york")
    assert stored(alice) == "America/New_York"


def test_the_setting_refuses_a_name_that_is_not_a_zone_and_keeps_the_old_one(alice):
    user_update_profile(user=alice, time_zone="Europe/Paris")
    with pytest.raises(ValidationFailed) as refused:
        user_update_profile(user=alice, time_zone="Europe/Atlantis")
    assert refused.value.code == INVALID_TIME_ZONE
    assert stored(alice) == "Europe/Paris"


def test_a_guess_fills_an_empty_zone_and_never_overrides_one(alice):
    assert user_time_zone_guess(user=alice, time_zone="Asia/Tokyo") == "Asia/Tokyo"
    assert user_time_zone_guess(user=alice, time_zone="Europe/Paris") == "Asia/Tokyo"
    assert stored(alice) == "Asia/Tokyo"


def test_a_guess_does_not_override_a_choice_made_in_another_tab(alice):
    stale = User.objects.get(pk=alice.pk)
    user_update_profile(user=alice, time_zone="Europe/Paris")
    assert user_time_zone_guess(user=stale, time_zone="Asia/Tokyo") == "Europe/Paris"
    assert stale.time_zone == "Europe/Paris"


# --- The settings page ----------------------------------------------------------------------


def test_the_settings_page_offers_the_zones_with_the_current_one_selected(alice, alice_client):
    alice.time_zone = "Europe/Paris"
    alice.save(update_fields=["time_zone"])
    body = alice_client.get(reverse("settings_profile")).content.decode()
    assert '<label for="id_time_zone">Time zone</label>' in body
    assert '<optgroup label="America">' in body
    assert '<option value="Europe/Paris" selected>Paris</option>' in body


def test_the_settings_page_starts_from_the_browser_guess_when_none_is_stored(alice, alice_client):
    alice_client.cookies[COOKIE_NAME] = "Not/AZone"
    body = alice_client.get(reverse("settings_profile")).content.decode()
    assert '<option value="UTC" selected>UTC</option>' in body


def test_the_settings_page_saves_the_zone(alice, alice_client):
    response = alice_client.post(
        reverse("settings_profile"),
        {"display_name": "Alice", "bio": "", "time_zone": "America/New_York"},
    )
    assert response.status_code == 302
    assert stored(alice) == "America/New_York"


@pytest.mark.parametrize("bad", ["Europe/Atlantis", "Europe/Paris\x00", "../../etc/passwd"])
def test_the_settings_page_shows_a_bad_zone_beside_the_field(alice, alice_client, bad):
    user_update_profile(user=alice, time_zone="Europe/Paris")
    response = alice_client.post(
        reverse("settings_profile"), {"display_name": "Alice", "bio": "", "time_zone": bad}
    )
    assert response.status_code == 200
    [error] = response.context["form"].errors["time_zone"]
    # A NUL is refused by the form field itself, before the service sees it.
    expected = "Null characters" if "\x00" in bad else "That is not a time zone we know."
    assert expected in error
    assert stored(alice) == "Europe/Paris"


# --- The guess endpoint ---------------------------------------------------------------------


def test_the_guess_is_stored_once_for_a_user_without_a_zone(alice, alice_client):
    response = alice_client.post(GUESS, {"time_zone": "America/New_York"})
    assert response.status_code == 200
    assert response.json() == {"ok": True, "time_zone": "America/New_York"}
    again = alice_client.post(GUESS, {"time_zone": "Europe/Paris"})
    assert again.json() == {"ok": True, "time_zone": "America/New_York"}
    assert stored(alice) == "America/New_York"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "Mars/Base",
        "America/New_York\x00",
        "\x00" * 50,
        "/etc/localtime",
        "localtime",
        "Europe/" + "Paris" * 20,
        "é" * 40,
    ],
)
def test_a_bad_guess_is_refused_with_the_stable_code(alice, alice_client, bad):
    site_error(alice_client.post(GUESS, {"time_zone": bad}), 400, INVALID_TIME_ZONE)
    assert stored(alice) == ""


def test_a_missing_guess_is_refused(alice, alice_client):
    site_error(alice_client.post(GUESS, {}), 400, INVALID_TIME_ZONE)


def test_a_huge_guess_is_refused_with_the_stable_code(alice, alice_client, settings):
    huge = "Europe/" + "A" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE - 100)
    error = site_error(alice_client.post(GUESS, {"time_zone": huge}), 400, INVALID_TIME_ZONE)
    assert list(error["fields"]) == ["time_zone"]
    assert stored(alice) == ""


def test_a_body_over_the_upload_limit_is_a_plain_400(alice, alice_client, settings):
    huge = "A" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = alice_client.post(GUESS, {"time_zone": huge})
    assert response.status_code == 400
    assert stored(alice) == ""


def test_the_guess_needs_a_post_and_a_login(alice):
    client = Client()
    site_error(client.post(GUESS, {"time_zone": "Europe/Paris"}), 401, "not_authenticated")
    client.force_login(alice)
    assert client.get(GUESS).status_code == 405
    assert stored(alice) == ""


def test_the_guess_needs_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(GUESS, {"time_zone": "Europe/Paris"}).status_code == 403
    assert stored(alice) == ""


def test_the_page_carries_the_guess_target_only_while_no_zone_is_stored(alice, alice_client):
    body = alice_client.get(reverse("notifications")).content.decode()
    assert f'id="time-zone-guess" hidden data-url="{GUESS}"' in body
    assert "js/time.js" in body
    alice_client.post(GUESS, {"time_zone": "Europe/Paris"})
    assert 'id="time-zone-guess"' not in alice_client.get(reverse("notifications")).content.decode()


# --- The middleware -------------------------------------------------------------------------


def zone_during(request) -> str:
    """The zone TimeZoneMiddleware makes active while `request` is answered."""
    seen: list[str] = []

    def view(_request):
        seen.append(timezone.get_current_timezone_name())
        return HttpResponse()

    TimeZoneMiddleware(view)(request)
    return seen[0]


def get(path: str = "/", *, user=None, cookie: str | None = None):
    request = RequestFactory().get(path)
    request.user = user or AnonymousUser()
    if cookie is not None:
        request.COOKIES[COOKIE_NAME] = cookie
    return request


def test_a_signed_out_visitor_gets_the_zone_of_the_cookie_else_utc():
    assert zone_during(get(cookie="Europe/Paris")) == "Europe/Paris"
    assert zone_during(get(cookie="Mars/Base")) == "UTC"
    assert zone_during(get(cookie="Europe/Paris\x00")) == "UTC"
    assert zone_during(get()) == "UTC"


def test_a_signed_in_user_gets_their_zone_and_not_the_cookies(alice):
    user_update_profile(user=alice, time_zone="Asia/Tokyo")
    assert zone_during(get(user=alice, cookie="Europe/Paris")) == "Asia/Tokyo"
    assert timezone.get_current_timezone_name() == "UTC"  # put back after the request


def test_the_cookie_guess_is_stored_for_a_signed_in_user_without_a_zone(alice):
    assert zone_during(get(user=alice, cookie="america/new_york")) == "America/New_York"
    assert stored(alice) == "America/New_York"


def test_a_cookie_that_is_not_a_zone_is_not_stored(alice, alice_client):
    alice_client.cookies[COOKIE_NAME] = "Mars/Base\x01"
    assert alice_client.get(reverse("notifications")).status_code == 200
    assert stored(alice) == ""


def test_the_api_is_left_in_utc(alice):
    user_update_profile(user=alice, time_zone="Asia/Tokyo")
    assert zone_during(get("/api/v1/spaces/upcoming", user=alice)) == "UTC"
    assert zone_during(get("/_allauth/browser/v1/auth/session", user=alice)) == "UTC"
