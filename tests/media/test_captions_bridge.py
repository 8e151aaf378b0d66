"""Live captions in the running product: a real aiortc speaker peer joins a live Space through
the Space socket, speaks an espeak-ng sentence, and the listeners' sockets get the captions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from media.client import MediaClient, wav_track
from spaces import services
from spaces.audio.bridge import MediaBridge
from spaces.audio.captions import CAPTION_PARTIAL
from spaces.models import CaptionLine
from tests.factories import SpaceFactory, UserFactory, make_speaker
from tests.factories import join as join_space
from tests.media import bridging
from tests.media.mixcheck import until
from tests.media.test_bridge import close_all, socket_exchange, unmute
from tests.media.test_captions import ALICE_SAYS, ALICE_WORDS, BOB_SAYS, espeak, speak, words
from tests.realtime import conftest as realtime_fixtures
from tests.realtime.conftest import Socket, space_path
from tests.realtime.helpers import db

media = bridging.media  # the fixture

pytestmark = [
    pytest.mark.media,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

open_socket = realtime_fixtures.open_socket
_close_database_pools_last = realtime_fixtures._close_database_pools_last
__all__ = ["espeak"]  # the fixture, re-used

CAPTION_TYPES = (CAPTION_PARTIAL, "caption.added")
# The sentence repeats (~3.3 s a round); the first round heard may start mid-sentence.
WITHIN = 45.0


def sentence_wav(espeak: str, tmp_path: Path, text: str) -> str:
    path = tmp_path / f"{abs(hash(text))}-48k.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48_000)
        wav.writeframes(speak(espeak, tmp_path, text).tobytes())
    return str(path)


async def read_until(
    ws: Socket, predicate: Callable[[dict[str, Any]], bool], within: float
) -> dict[str, Any] | None:
    """The first message matching within ``within`` seconds, else None; every message read is
    kept in ``ws.seen``. (Not ``Socket.next``: its timeout would cancel the application.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (left := deadline - loop.time()) > 0:
        try:
            output = await asyncio.wait_for(ws.comm.output_queue.get(), left)
        except TimeoutError:
            return None
        assert output["type"] == "websocket.send", output
        message = json.loads(output["text"])
        ws.seen.append(message)
        if predicate(message):
            return message
    return None


def heard(message: dict[str, Any], speaker_id: int) -> bool:
    """A stored caption of ``speaker_id`` with some of the sentence's words."""
    if message["type"] != "caption.added":
        return False
    line = message["line"]
    return bool(line["speaker_id"] == speaker_id and words(line["text"]) & ALICE_WORDS)


def captions_in(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] in CAPTION_TYPES]


@contextlib.asynccontextmanager
async def speaking_to_a_listener(
    open_socket: Any, space: Any, speaker: Any, audience: Any, speech: str
) -> AsyncIterator[Socket]:
    """`speaker` says `speech` over and over through the Space socket's media, and `audience`
    listens: both sockets past their snapshot, both peers connected (closed on the way out).
    Yields the listener's socket."""
    async with (
        open_socket(speaker, space_path(space.pk)) as speaker_ws,
        open_socket(audience, space_path(space.pk)) as listener_ws,
    ):
        await speaker_ws.until_type("space.state")
        await listener_ws.until_type("space.state")
        talker = MediaClient(
            socket_exchange(speaker_ws, []), send=wav_track(speech, loop=True), receive="none"
        )
        listener = MediaClient(socket_exchange(listener_ws, []), receive="count")
        try:
            await talker.connect(within=10)
            await listener.connect(within=10)
            yield listener_ws
        finally:
            await close_all(talker, listener)


async def test_listeners_get_live_captions_of_the_host_and_the_line_is_stored(
    open_socket: Any, media: MediaBridge, espeak: str, tmp_path: Path
) -> None:
    space = await db(SpaceFactory)(captions_enabled=True)
    await db(unmute)(space.pk, space.host)
    audience = await db(UserFactory)()
    speech = sentence_wav(espeak, tmp_path, ALICE_SAYS)
    async with speaking_to_a_listener(
        open_socket, space, space.host, audience, speech
    ) as listener_ws:
        added = await read_until(listener_ws, lambda m: heard(m, space.host.pk), WITHIN)

    seen = captions_in(listener_ws.seen)
    assert added is not None, f"no caption with {ALICE_WORDS} in {seen}"
    partials = [m for m in seen if m["type"] == CAPTION_PARTIAL]
    assert partials, "no partial caption before the final"
    for partial in partials:
        assert partial["speaker_id"] == space.host.pk
        assert partial["space_id"] == space.pk
        assert isinstance(partial["utterance"], int)
        assert partial["started_at"] <= partial["ended_at"]
    assert isinstance(added["seq"], int)
    lines = await db(lambda: list(CaptionLine.objects.filter(space=space).order_by("id")))()
    assert any(
        line.speaker_id == space.host.pk and line.text == added["line"]["text"] for line in lines
    )
    assert all(line.started_at >= space.started_at for line in lines)


async def test_captions_start_and_stop_with_the_hosts_toggle(
    open_socket: Any, media: MediaBridge, espeak: str, tmp_path: Path
) -> None:
    space = await db(SpaceFactory)()
    await db(unmute)(space.pk, space.host)
    audience = await db(UserFactory)()
    speech = sentence_wav(espeak, tmp_path, ALICE_SAYS)
    async with speaking_to_a_listener(
        open_socket, space, space.host, audience, speech
    ) as listener_ws:
        # Off: two rounds of the sentence, no captions, and no recognizer was even started.
        early = await read_until(listener_ws, lambda m: m["type"] in CAPTION_TYPES, 7.0)
        assert early is None, early
        assert media.captions.recognizer is None

        await db(services.captions_toggle)(actor=space.host, space_id=space.pk, enabled=True)
        added = await read_until(listener_ws, lambda m: heard(m, space.host.pk), WITHIN)
        assert added is not None, f"no caption in {captions_in(listener_ws.seen)}"

        await db(services.captions_toggle)(actor=space.host, space_id=space.pk, enabled=False)
        off = await read_until(
            listener_ws,
            lambda m: m["type"] == "captions.toggled" and m["enabled"] is False,
            10.0,
        )
        assert off is not None
        # Anything already on its way when the toggle landed has arrived by now.
        await read_until(listener_ws, lambda m: False, 1.0)
        stored = await db(CaptionLine.objects.filter(space=space).count)()
        listener_ws.seen.clear()
        late = await read_until(listener_ws, lambda m: m["type"] in CAPTION_TYPES, 7.0)
        assert late is None, late
    assert await db(CaptionLine.objects.filter(space=space).count)() == stored


async def test_a_speaker_moved_to_the_audience_is_no_longer_captioned(
    open_socket: Any, media: MediaBridge, espeak: str, tmp_path: Path
) -> None:
    space = await db(SpaceFactory)(captions_enabled=True)
    speaker_user = await db(UserFactory)()
    await db(join_space)(space, speaker_user)
    await db(make_speaker)(space, speaker_user, unmuted=True)
    audience = await db(UserFactory)()
    speech = sentence_wav(espeak, tmp_path, BOB_SAYS)
    async with speaking_to_a_listener(
        open_socket, space, speaker_user, audience, speech
    ) as listener_ws:
        first = await read_until(
            listener_ws,
            lambda m: (
                m["type"] in CAPTION_TYPES
                and m.get("speaker_id", m.get("line", {}).get("speaker_id")) == speaker_user.pk
            ),
            WITHIN,
        )
        assert first is not None, "the speaker was never captioned"

        await db(services.participant_demote)(
            actor=space.host, space_id=space.pk, user_id=speaker_user.pk
        )
        moved = await read_until(
            listener_ws,
            lambda m: (
                m["type"] == "role.changed" and m["participant"]["user"]["id"] == speaker_user.pk
            ),
            10.0,
        )
        assert moved is not None
        # Once the worker stops mixing them (no more audio for captions), whatever was fed
        # before is decoded now, however far behind a busy box left the recognizer, and its
        # captions delivered: any caption after that would be of audio never fed.
        worker = media.worker
        assert worker is not None
        assert await until(
            lambda: any(
                c.user_id == speaker_user.pk and c.change == "role=listener"
                for c in worker.applied_changes(space.pk)
            )
        )
        recognizer = media.captions.recognizer
        assert recognizer is not None
        assert await asyncio.to_thread(recognizer.flush, within=60)
        await read_until(listener_ws, lambda m: False, 1.0)
        stored = await db(CaptionLine.objects.filter(space=space).count)()
        listener_ws.seen.clear()
        late = await read_until(
            listener_ws, lambda m: m["type"] in CAPTION_TYPES and bool(m.get("text", "x")), 7.0
        )
        assert late is None, late
    assert await db(CaptionLine.objects.filter(space=space).count)() == stored
