"""`spaces.audio.captions.SpaceCaptions`, the glue between the media worker and the domain, with a
recording stand-in for the recognizer (the real one is exercised in test_captions_bridge.py):
when recognition starts, what reaches the room, what is stored, what is discarded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from media.captions import Caption
from spaces import services
from spaces.audio.captions import CAPTION_PARTIAL, SpaceCaptions
from spaces.models import CaptionLine
from spaces_project import bus
from tests.factories import SpaceFactory, UserFactory, make_speaker
from tests.factories import join as join_space
from tests.realtime.helpers import db

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


class FakeRecognizer:
    instances: list[FakeRecognizer] = []

    def __init__(self, on_caption: Callable[[Caption], None], *, loop: Any, engine: str) -> None:
        self.on_caption = on_caption
        self.engine = engine
        self.calls: list[tuple[Any, ...]] = []
        self.started = self.closed = False
        FakeRecognizer.instances.append(self)

    def start(self, *, within: float = 60.0) -> None:
        self.started = True

    def close(self) -> None:
        self.closed = True

    def tap(self, space_id: Any, speaker_id: Any, pcm: Any) -> None:
        self.calls.append(("tap", space_id, speaker_id))

    def set_enabled(self, space_id: Any, enabled: bool, *, speaker_id: Any = None) -> None:
        self.calls.append(("set_enabled", space_id, enabled, speaker_id))


class FakeWorker:
    def __init__(self) -> None:
        self.taps: list[Any] = []

    def add_audio_tap(self, tap: Any) -> Callable[[], None]:
        self.taps.append(tap)
        return lambda: self.taps.remove(tap)

    def suppressing(self, space_id: Any) -> bool:
        return space_id == "suppressed"


@pytest_asyncio.fixture
async def glue() -> AsyncIterator[tuple[SpaceCaptions, FakeWorker]]:
    FakeRecognizer.instances.clear()
    captions = SpaceCaptions(engine="fake", recognizer_factory=FakeRecognizer)  # type: ignore[arg-type]
    worker = FakeWorker()
    captions.attach(worker)  # type: ignore[arg-type]
    try:
        yield captions, worker
    finally:
        await captions.close()


@pytest_asyncio.fixture
async def room() -> AsyncIterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    with bus.subscribe(lambda group, event: seen.append(event)):
        yield seen


async def settle(captions: SpaceCaptions, within: float = 10.0) -> None:
    """Until every task the glue started (database reads and writes, sends) is done."""
    deadline = time.monotonic() + within
    while captions._tasks or (captions._starting and not captions._starting.done()):
        assert time.monotonic() < deadline, "the captions glue did not settle"
        await asyncio.sleep(0.02)


def caption(space_id: int, user_id: int, text: str, *, final: bool, utterance: int = 1) -> Caption:
    now = time.time()
    return Caption(user_id, text, final, now - 1.0, now, space_id, utterance)


async def test_nothing_starts_until_a_space_served_here_has_captions_on(glue) -> None:
    captions, worker = glue
    space = await db(SpaceFactory)()
    captions.on_join(space.pk)
    await settle(captions)
    assert FakeRecognizer.instances == []
    assert worker.taps == []

    await db(services.captions_toggle)(actor=space.host, space_id=space.pk, enabled=True)
    captions.on_event({"type": "captions.toggled", "space_id": space.pk, "enabled": True})
    await settle(captions)
    [recognizer] = FakeRecognizer.instances
    assert recognizer.started
    assert recognizer.engine == "fake"
    assert worker.taps == [recognizer.tap]
    # The recognizer asks the worker which Spaces' voices are suppressed already.
    assert recognizer.already_suppressed is not None
    assert recognizer.already_suppressed("suppressed")
    assert not recognizer.already_suppressed(1)
    assert ("set_enabled", space.pk, True, None) in recognizer.calls

    captions.on_event({"type": "captions.toggled", "space_id": space.pk, "enabled": False})
    assert recognizer.calls[-1] == ("set_enabled", space.pk, False, None)
    assert not captions.is_on(space.pk)


async def test_a_space_whose_captions_are_already_on_is_captioned_from_the_first_join(
    glue,
) -> None:
    captions, _ = glue
    space = await db(SpaceFactory)(captions_enabled=True)
    other = await db(SpaceFactory)(captions_enabled=True)
    captions.on_join(space.pk)
    await settle(captions)
    [recognizer] = FakeRecognizer.instances
    assert recognizer.calls == [("set_enabled", space.pk, True, None)]
    # A Space this process serves no media of is not followed, even with captions on.
    captions.on_event({"type": "captions.toggled", "space_id": other.pk, "enabled": True})
    assert not captions.is_on(other.pk)


async def test_partials_reach_the_room_newest_first_and_the_final_is_stored(glue, room) -> None:
    captions, _ = glue
    space = await db(SpaceFactory)(captions_enabled=True)
    host_id = space.host_id
    captions.on_join(space.pk)
    await settle(captions)
    [recognizer] = FakeRecognizer.instances

    # Three partials faster than the room is sent to: only the newest is worth sending.
    for text in ("i would", "i would like", "i would like a cup"):
        recognizer.on_caption(caption(space.pk, host_id, text, final=False))
    await settle(captions)
    recognizer.on_caption(caption(space.pk, host_id, "i would like a cup of coffee", final=True))
    await settle(captions)

    kinds = [(e["type"], e.get("text") or e.get("line", {}).get("text")) for e in room]
    assert kinds == [
        (CAPTION_PARTIAL, "i would like a cup"),
        ("caption.added", "i would like a cup of coffee"),
    ]
    partial = room[0]
    assert (partial["space_id"], partial["speaker_id"], partial["utterance"]) == (
        space.pk,
        host_id,
        1,
    )
    assert isinstance(partial["seq"], int)
    line = await db(CaptionLine.objects.get)(space=space)
    assert (line.speaker_id, line.text) == (host_id, "i would like a cup of coffee")


async def test_a_speaker_moved_off_stage_has_the_open_utterance_discarded(glue, room) -> None:
    captions, _ = glue
    space = await db(SpaceFactory)(captions_enabled=True)
    alice = await db(UserFactory)()
    await db(join_space)(space, alice)
    await db(make_speaker)(space, alice, unmuted=True)
    captions.on_join(space.pk)
    await settle(captions)
    [recognizer] = FakeRecognizer.instances
    recognizer.on_caption(caption(space.pk, alice.pk, "the children are", final=False))
    await settle(captions)
    room.clear()

    await db(services.participant_demote)(actor=space.host, space_id=space.pk, user_id=alice.pk)
    moved = next(e for e in room if e["type"] == "role.changed")
    captions.on_event(moved)
    await settle(captions)

    # The utterance is dropped and nothing more of hers decoded...
    assert recognizer.calls[-1] == ("set_enabled", space.pk, False, alice.pk)
    # ...the partial on screen is cleared; nothing is stored.
    clears = [e for e in room if e["type"] == CAPTION_PARTIAL]
    assert [(e["speaker_id"], e["text"]) for e in clears] == [(alice.pk, "")]
    assert await db(CaptionLine.objects.filter(space=space).count)() == 0

    # Back on stage: captioned again.
    room.clear()
    await db(make_speaker)(space, alice, unmuted=True)
    back = next(e for e in room if e["type"] == "role.changed")
    captions.on_event(back)
    assert recognizer.calls[-1] == ("set_enabled", space.pk, True, alice.pk)


async def test_a_final_the_service_refuses_clears_the_partial_and_stores_nothing(
    glue, room
) -> None:
    captions, _ = glue
    space = await db(SpaceFactory)(captions_enabled=True)
    audience = await db(UserFactory)()
    await db(join_space)(space, audience)
    captions.on_join(space.pk)
    await settle(captions)
    [recognizer] = FakeRecognizer.instances

    # Audio of someone the service says is not on stage (a stale tap): refused, not stored.
    recognizer.on_caption(caption(space.pk, audience.pk, "hello", final=False))
    await settle(captions)
    recognizer.on_caption(caption(space.pk, audience.pk, "hello there", final=True))
    await settle(captions)

    assert [(e["type"], e.get("text")) for e in room if e["type"].startswith("caption")] == [
        (CAPTION_PARTIAL, "hello"),
        (CAPTION_PARTIAL, ""),
    ]
    assert await db(CaptionLine.objects.filter(space=space).count)() == 0


async def test_the_end_of_the_space_stops_its_captions(glue) -> None:
    captions, _ = glue
    space = await db(SpaceFactory)(captions_enabled=True)
    captions.on_join(space.pk)
    await settle(captions)
    [recognizer] = FakeRecognizer.instances
    captions.on_event({"type": "space.ended", "space_id": space.pk})
    assert recognizer.calls[-1] == ("set_enabled", space.pk, False, None)
    assert not captions.is_on(space.pk)
    await captions.close()
    assert recognizer.closed


async def test_leaving_stops_captioning_a_stage_member_and_ignores_a_listener(glue) -> None:
    captions, _ = glue
    space = await db(SpaceFactory)(captions_enabled=True)
    captions.on_join(space.pk)
    await settle(captions)
    [recognizer] = FakeRecognizer.instances
    before = list(recognizer.calls)
    left = {"type": "participant.left", "space_id": space.pk, "user": {"id": 501}}
    captions.on_event({**left, "previous_role": "listener"})
    assert recognizer.calls == before
    captions.on_event({**left, "previous_role": "speaker"})
    assert recognizer.calls[-1] == ("set_enabled", space.pk, False, 501)
    # The host coming back is on stage at once.
    joined = {"type": "participant.joined", "space_id": space.pk}
    captions.on_event({**joined, "participant": {"user": {"id": 501}, "role": "host"}})
    assert recognizer.calls[-1] == ("set_enabled", space.pk, True, 501)
