"""Live HLS end to end in the embedded shape: real sockets and aiortc peers, the services, the
media bridge, and the origin writing the listeners' mix as live HLS into the Space's folder of
the `recordings` storage. An HLS listener gets no WebRTC, comes on stage over WebRTC, and is
sent back to HLS (`bye`, reason `hls`) when they step down; the playlist ends with the Space."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import av
import numpy as np
import pytest

from media.client import MediaClient, ToneTrack
from media.dsp import frame_to_mono
from media.live import INIT, PLAYLIST
from spaces import services
from spaces.audio.bridge import MediaBridge
from spaces.models import live_prefix
from spaces_project import storage
from tests.factories import SpaceFactory, UserFactory
from tests.media.test_bridge import SignalRefused, close_all, media, socket_exchange, unmute
from tests.realtime import conftest as realtime_fixtures
from tests.realtime.conftest import space_path
from tests.realtime.helpers import db

pytestmark = [
    pytest.mark.media,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]

open_socket = realtime_fixtures.open_socket
_close_database_pools_last = realtime_fixtures._close_database_pools_last
__all__ = ["media"]  # the fixture, re-used

HOST_HZ = 440
WAIT = 20.0
"""Seconds a broken run waits for files or events: a bound, not an expectation."""


def live_files(space_id: int) -> dict[str, bytes]:
    store = storage.live()
    prefix = live_prefix(space_id)
    try:
        _, names = store.listdir(prefix)
    except FileNotFoundError:
        return {}
    return {n: storage.get(store, f"{prefix}/{n}") for n in names if not n.endswith(".partial")}


async def until_files(space_id: int, check: Any) -> dict[str, bytes]:
    deadline = time.monotonic() + WAIT
    while True:
        files = await asyncio.to_thread(live_files, space_id)
        if check(files) or time.monotonic() > deadline:
            return files
        await asyncio.sleep(0.2)


def is_bye(message: dict[str, Any]) -> bool:
    return message["type"] == "signal" and message.get("kind") == "bye"


def playlist_segments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def dominant_hz(files: dict[str, bytes], segments: list[str]) -> float:
    data = files[INIT] + b"".join(files[s] for s in segments)
    with av.open(io.BytesIO(data), mode="r") as container:
        pcm = np.concatenate(
            [frame_to_mono(f) for f in container.decode(container.streams.audio[0])]
        )
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.fft.rfftfreq(len(pcm), 1 / 48_000)[int(np.argmax(spectrum))])


async def test_hls_listener_goes_on_stage_over_webrtc_and_back(
    open_socket: Any, media: MediaBridge
) -> None:
    space = await db(SpaceFactory)()
    await db(unmute)(space.pk, space.host)
    audience = await db(UserFactory)()
    async with (
        open_socket(space.host, space_path(space.pk)) as host_ws,
        open_socket(audience, space_path(space.pk)) as listener_ws,
    ):
        await host_ws.until_type("space.state")
        state = await listener_ws.until_type("space.state")
        assert state["listen_mode"] == "webrtc"
        assert state["hls"]["url"].endswith(f"{live_prefix(space.pk)[5:]}/{PLAYLIST}")
        host = MediaClient(socket_exchange(host_ws, []), send=ToneTrack(HOST_HZ), receive="none")
        try:
            await host.connect(within=10)
            files = await until_files(
                space.pk,
                lambda f: PLAYLIST in f and len(playlist_segments(f[PLAYLIST].decode())) >= 3,
            )
            assert PLAYLIST in files, "the origin wrote no live playlist"
            text = files[PLAYLIST].decode()
            segments = playlist_segments(text)
            assert len(segments) >= 3
            assert "#EXT-X-PROGRAM-DATE-TIME:" in text
            assert "#EXT-X-ENDLIST" not in text
            assert all(s in files for s in segments), "the playlist names a missing segment"
            assert abs(dominant_hz(files, segments) - HOST_HZ) < 5

            # Listening with a delay: no WebRTC for them any more.
            ack = await listener_ws.act("listen_mode", rid="m1", mode="hls")
            assert (ack["type"], ack["listen_mode"]) == ("ack", "hls")
            listener = MediaClient(socket_exchange(listener_ws, []), receive="rtp", name="hls")
            with pytest.raises(SignalRefused) as refused:
                await listener.connect(within=10)
            assert refused.value.error["code"] == "listen_mode_hls"
            await listener.close()

            # On stage they speak over WebRTC...
            await db(services.invitation_create)(
                actor=space.host, space_id=space.pk, invitee_id=audience.pk, kind="speaker"
            )
            invited = await listener_ws.until_type("speaker.invited")
            accepted = await listener_ws.act(
                "accept_invitation", rid="a1", invitation_id=invited["invitation"]["id"]
            )
            assert accepted["type"] == "ack"
            speaker = MediaClient(socket_exchange(listener_ws, []), receive="rtp", name="stage")
            await speaker.connect(within=10)
            assert media.worker is not None
            assert media.worker.participants(space.pk)[audience.pk]["role"] == "speaker"
            # ...and stepping down sends them back to HLS: the server drops the connection.
            await listener_ws.act("step_down", rid="s1")
            # The bye may come before the step_down's ack (the event's delivery races the
            # answer): look at everything received since.
            if not any(is_bye(m) for m in listener_ws.seen):
                await listener_ws.until(is_bye)
            assert [m["reason"] for m in listener_ws.seen if is_bye(m)] == ["hls"]
            deadline = time.monotonic() + WAIT
            while audience.pk in media.worker.participants(space.pk):
                assert time.monotonic() < deadline, "the HLS listener kept their WebRTC peer"
                await asyncio.sleep(0.05)
            await speaker.close()

            await db(services.space_end)(actor=space.host, space_id=space.pk)
            files = await until_files(
                space.pk, lambda f: "#EXT-X-ENDLIST" in f.get(PLAYLIST, b"").decode()
            )
            assert "#EXT-X-ENDLIST" in files[PLAYLIST].decode(), "the live playlist never ended"
        finally:
            await close_all(host)
