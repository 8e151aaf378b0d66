"""A reminder is written in its recipient's language: the inbox sentence and the e-mail (subject,
body, the date in it). No browser is there when the sweep runs, so a person with no setting
reads the site's default, English; the same batch writes each language once."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_skeleton
from django.core import mail

from tests.scheduling.helpers import at, holders, received

pytestmark = pytest.mark.django_db


def _speaking(person, language: str) -> None:
    person.language = language
    person.save(update_fields=["language"])


def test_a_reminder_to_a_spanish_speaker_is_in_spanish_and_the_others_in_english(
    schedule, clock, sweep, host
):
    space = schedule(minutes=60, title="Jazz al mediodía")
    maria, ann, bob = holders(space, 3)
    _speaking(maria, "es")
    _speaking(ann, "en")
    clock.travel(at(space, -15))
    mail.outbox.clear()

    sweep()

    by_recipient = {message.to[0]: message for message in mail.outbox}
    spanish = by_recipient[maria.email]
    assert spanish.subject == (
        f"\u201cJazz al mediodía\u201d con {host.name} empieza en 15 minutos."
    )
    assert "Cuándo: " in spanish.body
    assert "Recibes estos correos porque" in spanish.body
    assert "When:" not in spanish.body
    for english in (by_recipient[ann.email], by_recipient[bob.email]):
        assert (
            english.subject
            == f"\u201cJazz al mediodía\u201d with {host.name} starts in 15 minutes."
        )
        assert "When: " in english.body
    [note] = received(maria)
    assert note.payload["message"] == spanish.subject
    [note] = received(bob)
    assert note.payload["message"] == by_recipient[bob.email].subject


def test_the_date_in_a_spanish_email_is_written_the_spanish_way(schedule, clock, sweep, host):
    space = schedule(minutes=60 + 24 * 60)
    _speaking(host, "es")
    host.time_zone = "Europe/Madrid"
    host.save(update_fields=["time_zone"])
    clock.travel(at(space, -30))
    mail.outbox.clear()

    sweep()

    [email] = mail.outbox
    assert email.subject.startswith("Tu Space \u201cMorning show\u201d empieza en 30 minutos")
    when = next(line for line in email.body.splitlines() if line.startswith("Cuándo: "))
    local = space.scheduled_for.astimezone(ZoneInfo("Europe/Madrid"))
    assert when == f"Cuándo: {format_skeleton('yMMMMEEEEd', local, locale='es')}, " + (
        f"{local.hour}:{local.minute:02d} {local.tzname()}"
    )
    assert " de " in when  # "mar, 8 de diciembre de 2026, 19:00 CET"
