"""Which language a page or an API answer is in (spaces_project/languages.py), and choosing it.

The rule: a signed-in person's own setting; else the `django_language` cookie (the footer's
switcher); else Accept-Language; else English.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import user_update_profile
from spaces_project.errors import ValidationFailed
from spaces_project.languages import INVALID_LANGUAGE, catalog_version
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

SPANISH_LOG_IN = "Iniciar sesión"


def page_language(response) -> str:
    match = re.search(r'<html lang="([^"]+)"', response.content.decode())
    assert match, "no <html lang>"
    return match.group(1)


def set_language(user: User, code: str) -> None:
    user.language = code
    user.save(update_fields=["language"])


# --- The site ---------------------------------------------------------------------------------


def test_a_visitor_gets_the_language_their_browser_asks_for(client: Client) -> None:
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9,en;q=0.5")

    assert page_language(response) == "es"
    assert SPANISH_LOG_IN in response.content.decode()
    assert response["Content-Language"] == "es"
    assert "Accept-Language" in response["Vary"]
    assert "Cookie" in response["Vary"]


def test_a_visitor_whose_browser_asks_for_no_language_of_ours_gets_english(client: Client) -> None:
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="de-DE,fr;q=0.8")

    assert page_language(response) == "en"
    assert "Log in" in response.content.decode()


def test_the_footer_switch_sets_a_cookie_that_beats_the_browser(client: Client) -> None:
    switched = client.post(reverse("set_language"), {"language": "es", "next": "/spaces/"})

    assert switched.status_code == 302
    assert switched["Location"] == "/spaces/"
    assert client.cookies["django_language"].value == "es"
    assert page_language(client.get("/", HTTP_ACCEPT_LANGUAGE="en")) == "es"


def test_the_footer_offers_the_switch_to_visitors_only(client: Client, user: User) -> None:
    assert 'name="language"' in client.get("/").content.decode()
    client.force_login(user)
    assert 'name="language"' not in client.get("/").content.decode()


@pytest.mark.parametrize(
    ("setting", "browser", "expected"),
    [
        ("es", "en", "es"),  # the setting beats the browser
        ("en", "es", "en"),
        ("", "es", "es"),  # no setting: the browser decides
        ("", "en", "en"),
    ],
)
def test_a_signed_in_persons_setting_beats_their_browser(
    client: Client, user: User, setting: str, browser: str, expected: str
) -> None:
    set_language(user, setting)
    client.force_login(user)

    assert page_language(client.get("/", HTTP_ACCEPT_LANGUAGE=browser)) == expected


def test_a_setting_beats_a_cookie_left_from_before_signing_in(client: Client, user: User) -> None:
    set_language(user, "en")
    client.cookies["django_language"] = "es"
    client.force_login(user)

    assert page_language(client.get("/")) == "en"


def test_english_pages_load_no_catalog_and_spanish_ones_a_versioned_one(client: Client) -> None:
    english = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    spanish = client.get("/", HTTP_ACCEPT_LANGUAGE="es").content.decode()

    assert "/jsi18n/" not in english
    assert f'<script src="/jsi18n/es/?v={catalog_version("es")}" defer></script>' in spanish
    # Before every module, so `gettext` is there when they run.
    assert spanish.index("/jsi18n/es/") < spanish.index('type="module"')


def test_the_javascript_catalog_is_spanish_and_cached_for_good(client: Client) -> None:
    response = client.get("/jsi18n/es/?v=x", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "javascript" in response["Content-Type"]
    body = response.content.decode()
    assert "Enlace copiado" in body  # static/js/lib.js "Link copied"
    assert "immutable" in response["Cache-Control"]
    assert "max-age=31536000" in response["Cache-Control"]


def test_the_javascript_catalog_of_a_language_we_do_not_offer_is_not_found(client: Client) -> None:
    assert client.get("/jsi18n/fr/").status_code == 404


# --- Choosing it --------------------------------------------------------------------------------


def test_the_service_stores_a_known_code_and_blank(user: User) -> None:
    user_update_profile(user=user, language="ES")
    user.refresh_from_db()
    assert user.language == "es"

    user_update_profile(user=user, language="")
    user.refresh_from_db()
    assert user.language == ""


@pytest.mark.parametrize("bad", ["fr", "es-xx", "e" * 500, "en\x00"])
def test_the_service_refuses_a_language_we_do_not_offer(user: User, bad: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        user_update_profile(user=user, language=bad)

    assert refused.value.code == INVALID_LANGUAGE
    user.refresh_from_db()
    assert user.language == ""


def test_the_settings_page_offers_and_saves_the_language(client: Client, user: User) -> None:
    client.force_login(user)
    page = client.get(reverse("settings_profile")).content.decode()
    assert '<option value="" selected>Same as the browser</option>' in page
    assert '<option value="es">Español</option>' in page

    response = client.post(
        reverse("settings_profile"), {"display_name": "Alice", "bio": "", "language": "es"}
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == "es"
    # The next page is in it, whatever the browser says.
    assert page_language(client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")) == "es"


def test_the_settings_page_shows_a_bad_language_beside_the_field(client: Client, user: User):
    client.force_login(user)
    response = client.post(
        reverse("settings_profile"), {"display_name": "Alice", "bio": "", "language": "klingon"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["language"]
    user.refresh_from_db()
    assert user.language == ""


def test_a_settings_form_without_the_field_keeps_the_language(client: Client, user: User) -> None:
    set_language(user, "es")
    client.force_login(user)

    client.post(reverse("settings_profile"), {"display_name": "Alice", "bio": ""})

    user.refresh_from_db()
    assert user.language == "es"


# --- The API --------------------------------------------------------------------------------


def test_me_shows_and_changes_the_language(auth_client, user: User) -> None:
    assert auth_client.get("/api/v1/me").json()["language"] == ""

    response = auth_client.patch("/api/v1/me", {"language": "es"}, format="json")

    assert response.status_code == 200
    assert response.json()["language"] == "es"
    user.refresh_from_db()
    assert user.language == "es"


@pytest.mark.parametrize("bad", ["fr", "xx-yy"])
def test_me_refuses_a_language_we_do_not_offer(auth_client, user: User, bad: str) -> None:
    response = auth_client.patch("/api/v1/me", {"language": bad}, format="json")

    error = assert_error(response, 400, INVALID_LANGUAGE)
    assert "language" in error["fields"]


def test_api_messages_follow_accept_language(api_client) -> None:
    english = api_client.get("/api/v1/no-such-thing", HTTP_ACCEPT_LANGUAGE="en").json()
    spanish = api_client.get("/api/v1/no-such-thing", HTTP_ACCEPT_LANGUAGE="es").json()

    assert english["error"]["message"] == "No such endpoint."
    assert spanish["error"]["message"] == "Ese endpoint no existe."


def test_api_messages_follow_a_signed_in_persons_setting(user: User) -> None:
    from rest_framework.test import APIClient

    set_language(user, "es")
    client = APIClient()
    client.force_login(user)  # a session, as the site's own scripts have

    body = client.get("/api/v1/no-such-thing", HTTP_ACCEPT_LANGUAGE="en").json()

    assert body["error"]["message"] == "Ese endpoint no existe."


def test_a_mobile_client_with_a_session_token_gets_its_persons_language(user: User) -> None:
    """The middleware cannot see a token's person (DRF authenticates it later): the token's
    authentication activates their language itself (spaces_project/drf.py)."""
    from rest_framework.test import APIClient

    from tests.factories import PASSWORD

    set_language(user, "es")
    login = APIClient().post(
        "/_allauth/app/v1/auth/login",
        {"username": user.username, "password": PASSWORD},
        format="json",
    )
    token = login.json()["meta"]["session_token"]

    response = APIClient().patch(
        "/api/v1/me",
        {"language": "fr"},
        format="json",
        HTTP_X_SESSION_TOKEN=token,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    error = assert_error(response, 400, INVALID_LANGUAGE)
    assert error["message"] == "El sitio no está disponible en ese idioma."
