"""A refusal speaks the person's language; its code does not change.

The message of an API error, of a page's flash message and of a socket's `error` frame is
translated (spaces/locale/es); the `code` beside it is the stable part clients branch on and
stays English. The default stays English, so a request that asks for nothing reads English.
"""

from __future__ import annotations

import pytest
from django.utils import translation
from django.utils.translation import gettext

from spaces import services
from spaces_project.errors import ApplicationError
from tests.factories import SpaceFactory, UserFactory

pytestmark = pytest.mark.django_db

API = "/api/v1/spaces"


def spanish(message: str) -> str:
    with translation.override("es"):
        text = gettext(message)
    assert text != message, f"no Spanish for {message!r}"
    return text


def test_a_service_refusal_is_in_the_active_language_with_the_same_code() -> None:
    user = UserFactory()
    with pytest.raises(ApplicationError) as english:
        services.space_join(user=user, space_id=987654)
    with translation.override("es"), pytest.raises(ApplicationError) as spanish_error:
        services.space_join(user=user, space_id=987654)
    assert english.value.message == "No such Space."
    assert spanish_error.value.message == "No existe ese Space."
    assert spanish_error.value.code == english.value.code == "space_not_found"


def test_an_interpolated_refusal_is_translated_around_its_values() -> None:
    space = SpaceFactory()
    with translation.override("es"), pytest.raises(ApplicationError) as error:
        services.pin_create(user=space.host, space_id=space.pk, text="x" * 1000, url="")
    assert error.value.code == "invalid"
    assert error.value.fields["text"] == ["Como máximo 280 caracteres."]


def test_an_api_error_follows_accept_language_and_keeps_its_code(client_for) -> None:
    user = UserFactory()
    english = client_for(user).post(f"{API}/987654/join")
    spanish_reply = client_for(user).post(f"{API}/987654/join", HTTP_ACCEPT_LANGUAGE="es")
    assert english.status_code == spanish_reply.status_code == 404
    assert english.json()["error"]["message"] == "No such Space."
    assert spanish_reply.json()["error"]["message"] == spanish("No such Space.")
    assert spanish_reply.json()["error"]["code"] == english.json()["error"]["code"]


def test_a_field_error_of_the_api_is_translated_and_its_field_kept(client_for) -> None:
    space = SpaceFactory()
    reply = client_for(space.host).post(
        f"{API}/{space.pk}/comments", {"text": ""}, format="json", HTTP_ACCEPT_LANGUAGE="es"
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"] == spanish("A comment needs text.")
