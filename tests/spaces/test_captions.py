"""Captions: the host's switch, the media worker's lines, the transcript."""

from __future__ import annotations

import pytest

from accounts.services import block_create
from spaces import selectors, services
from spaces.models import CaptionLine, ModerationAction
from spaces_project.errors import Conflict, Forbidden
from tests.factories import fresh, join, make_cohost, make_speaker
from tests.helpers import event_types

pytestmark = pytest.mark.django_db


def test_the_host_turns_captions_on_and_off_and_each_change_is_logged(
    space, space_host, committed, published
):
    with committed():
        services.captions_toggle(actor=space_host, space_id=space.pk, enabled=True)
        services.captions_toggle(actor=space_host, space_id=space.pk, enabled=True)
        services.captions_toggle(actor=space_host, space_id=space.pk, enabled=False)

    assert not fresh(space).captions_enabled
    details = list(
        ModerationAction.objects.filter(action="captions_toggled")
        .order_by("id")
        .values_list("details", flat=True)
    )
    assert details == [{"enabled": True}, {"enabled": False}]
    assert event_types(published) == ["captions.toggled", "captions.toggled"]
    assert [e["enabled"] for _, e in published] == [True, False]


def test_a_cohost_can_toggle_captions_but_a_speaker_cannot(space):
    bob, alice = make_cohost(space), make_speaker(space)
    services.captions_toggle(actor=bob, space_id=space.pk, enabled=True)
    with pytest.raises(Forbidden):
        services.captions_toggle(actor=alice, space_id=space.pk, enabled=False)
    assert fresh(space).captions_enabled


def test_the_media_worker_appends_lines_for_people_on_stage(
    space, space_host, committed, published
):
    services.captions_toggle(actor=space_host, space_id=space.pk, enabled=True)
    alice = make_speaker(space)
    published.clear()
    with committed():
        line = services.caption_append(space_id=space.pk, speaker_id=alice.pk, text="  hello  all ")

    assert (line.text, line.speaker_id) == ("hello all", alice.pk)
    assert event_types(published) == ["caption.added"]
    assert published[0][1]["line"]["text"] == "hello all"


def test_no_lines_while_captions_are_off(space, space_host):
    with pytest.raises(Conflict) as exc:
        services.caption_append(space_id=space.pk, speaker_id=space_host.pk, text="hi")
    assert exc.value.code == "captions_disabled"


def test_no_lines_for_a_listener(space, space_host):
    services.captions_toggle(actor=space_host, space_id=space.pk, enabled=True)
    who = join(space)
    with pytest.raises(Conflict) as exc:
        services.caption_append(space_id=space.pk, speaker_id=who.pk, text="hi")
    assert exc.value.code == "not_on_stage"


def test_the_transcript_lists_lines_in_order_and_survives_the_end(space, space_host):
    services.captions_toggle(actor=space_host, space_id=space.pk, enabled=True)
    for text in ("one", "two", "three"):
        services.caption_append(space_id=space.pk, speaker_id=space_host.pk, text=text)
    services.space_end(actor=space_host, space_id=space.pk)

    lines = selectors.caption_transcript(viewer=space_host, space_id=space.pk)

    assert [line.text for line in lines.order_by("created_at", "id")] == ["one", "two", "three"]
    assert CaptionLine.objects.filter(space=space).count() == 3


def test_a_user_blocked_by_the_host_cannot_read_the_transcript(space, space_host, user):
    block_create(blocker=space_host, blocked=user)
    with pytest.raises(Forbidden):
        selectors.caption_transcript(viewer=user, space_id=space.pk)
