"""Text a person typed is checked in the services (spaces_project/text.py), so the API, the
socket and the site's forms refuse a NUL or a lone surrogate alike with 400 `invalid_text`,
where the socket used to answer `internal` and the site's pin form a 500 (PostgreSQL refuses
NUL). Bidirectional override characters are stripped from titles and names."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import DirectMessage, User
from scheduling import services as scheduling_services
from spaces import services
from spaces.models import Pin, Report, Space
from spaces_project.errors import ValidationFailed
from spaces_project.text import clean_text
from tests.factories import SpaceFactory, UserFactory, join, make_speaker
from tests.realtime.conftest import open_socket, space_path  # noqa: F401  (fixture)
from tests.realtime.helpers import db

BAD = pytest.mark.parametrize("bad", ["nul\x00here", "lone \ud800 surrogate"], ids=["nul", "lone"])
RLO = "\u202e"


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        ("  a \t b\n c  ", {}, "a b c"),
        ("line one\r\nline two\r\tend  ", {"multiline": True}, "line one\nline two\n\tend"),
        (f"evil{RLO}gnp.exe", {"strip_bidi": True}, "evilgnp.exe"),
        ("\u2066a\u2069 \u202ab\u202c", {"strip_bidi": True}, "a b"),
        (f"keeps{RLO}", {"multiline": True}, f"keeps{RLO}"),
        ("émoji 🎙️ עברית", {"strip_bidi": True}, "émoji 🎙️ עברית"),
    ],
)
def test_clean_text_normalises_what_it_keeps(value, kwargs, expected):
    assert clean_text(value, field="f", **kwargs) == expected


@pytest.mark.parametrize(
    "value",
    ["\x00", "a\x00b", "\x07bell", "\x1b[31m", "\x7f", "\x85", "\x1f", "\ud800", "a\udfffb", 7],
    ids=repr,
)
@pytest.mark.parametrize("multiline", [False, True])
def test_clean_text_refuses_controls_and_lone_surrogates_naming_the_field(value, multiline):
    with pytest.raises(ValidationFailed) as exc:
        clean_text(value, field="text", multiline=multiline)
    assert exc.value.code == "invalid_text"
    assert list(exc.value.fields) == ["text"]


# --- every service that stores typed text ------------------------------------------------


@pytest.mark.django_db
@BAD
def test_every_service_refuses_bad_text_with_invalid_text(bad, host):
    space = SpaceFactory()
    speaker = make_speaker(space)
    listener = join(space)
    calls = {
        "title": lambda: services.space_start(host=host, title=bad),
        "topics": lambda: services.space_start(host=host, title="ok", topics=[bad]),
        "text": lambda: services.pin_create(user=speaker, space_id=space.pk, text=bad),
        "url": lambda: services.pin_create(
            user=speaker, space_id=space.pk, text="ok", url=f"https://example.org/{bad}"
        ),
        "message": lambda: services.space_share(
            user=listener, space_id=space.pk, user_ids=[speaker.pk], message=bad
        ),
        "details": lambda: services.report_create(
            reporter=listener, space_id=space.pk, reason=Report.Reason.OTHER, details=bad
        ),
        "display_name": lambda: accounts_services.user_update_profile(
            user=listener, display_name=bad
        ),
        "bio": lambda: accounts_services.user_update_profile(user=listener, bio=bad),
        "body": lambda: accounts_services.direct_message_send(
            sender=listener, recipient=speaker, body=bad
        ),
    }
    for field, call in calls.items():
        with pytest.raises(ValidationFailed) as exc:
            call()
        assert (exc.value.code, list(exc.value.fields)) == ("invalid_text", [field]), field
    assert not Pin.objects.exists()
    assert not Report.objects.exists()
    assert not DirectMessage.objects.exists()
    assert not Space.objects.filter(host=host).exists()


@pytest.mark.django_db
def test_scheduled_space_title_refuses_nul_and_loses_bidi_overrides(host):
    when = timezone.now() + timedelta(hours=2)
    with pytest.raises(ValidationFailed) as exc:
        scheduling_services.scheduled_space_create(host=host, title="a\x00b", scheduled_for=when)
    assert exc.value.code == "invalid_text"
    space = scheduling_services.scheduled_space_create(
        host=host, title=f"Launch {RLO}txet", topics=[f"{RLO}news"], scheduled_for=when
    )
    assert (space.title, space.topics) == ("Launch txet", ["news"])


@pytest.mark.django_db
def test_a_title_and_a_display_name_are_stored_without_bidi_overrides(host):
    space = services.space_start(host=host, title=f"Totally safe {RLO}3pm.exe", topics=["a"])
    space.refresh_from_db()
    assert space.title == "Totally safe 3pm.exe"
    accounts_services.user_update_profile(user=host, display_name=f"\u2067Admin{RLO}\u2069")
    host.refresh_from_db()
    assert host.display_name == "Admin"


# --- entry points -------------------------------------------------------------------------


@pytest.mark.django_db
@BAD
def test_the_rest_api_keeps_answering_400(bad, client_for):
    space = SpaceFactory()
    speaker = make_speaker(space)
    response = client_for(speaker).post(
        f"/api/v1/spaces/{space.pk}/pins",
        json.dumps({"text": bad}),  # ASCII-escaped: a lone surrogate travels as \ud800
        content_type="application/json",
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["text"]
    assert not Pin.objects.exists()


def _post_pin(user: User, space: Space, text: str) -> tuple[int, list[str]]:
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("space_pin_create", args=[space.pk]), {"text": text, "url": ""}, follow=True
    )
    return response.status_code, [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.django_db
def test_the_site_pin_form_with_nul_shows_the_error():
    space = SpaceFactory()
    speaker = make_speaker(space)
    status, shown = _post_pin(speaker, space, "notes\x00")
    assert status == 200
    assert shown == ["Contains control characters."]
    assert not Pin.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_site_pin_form_with_nul_shows_the_error_on_postgresql():
    """PostgreSQL refuses NUL in text: this was a DataError, so a 500."""
    space = SpaceFactory()
    speaker = make_speaker(space)
    status, shown = _post_pin(speaker, space, "notes\x00")
    assert status == 200
    assert shown == ["Contains control characters."]
    assert not Pin.objects.exists()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@BAD
async def test_the_socket_pin_with_bad_text_answers_invalid_text(open_socket, bad):  # noqa: F811
    space = await db(SpaceFactory)()
    speaker = await db(UserFactory)()
    await db(make_speaker)(space, speaker)
    async with open_socket(speaker, space_path(space.pk)) as ws:
        await ws.next()
        reply = await ws.act("pin", rid="p1", text=bad)
        still = await ws.act("heartbeat", rid="h")
    assert reply["type"] == "error"
    assert reply["code"] == "invalid_text"
    assert list(reply["fields"]) == ["text"]
    assert still["type"] == "ack"
    assert not await db(Pin.objects.exists)()
