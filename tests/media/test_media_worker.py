"""The distributed shape of media: a real daphne with MEDIA_EMBEDDED=0, real `manage.py
media_worker` processes, Redis and PostgreSQL, and real aiortc peers through the socket protocol.

Figures (demotion to silence, SIGKILL to re-placement) are printed: run with ``-s`` to see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import redis
import websockets
from django.conf import settings as django_settings

from media import hls
from media.client import MediaClient, ToneTrack, dominant_frequency, tone_amplitude
from media.ice import restrict_host_addresses
from replays import timeline as replay_timeline
from spaces import services
from spaces.audio import placement
from spaces.models import ModerationAction, Recording, live_prefix, recording_prefix
from spaces_project import storage
from tests.factories import SpaceFactory, UserFactory, join, make_speaker
from tests.media.mixcheck import listen_for, sent_frames, until
from tests.realtime.conftest import session_key_for
from tests.servers import running_daphne, running_media_worker

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

TIMEOUT = 20.0
HEARD = 0.05
FRAME_HAS_TONE = 0.03
# Short, so that a killed worker is gone within a few seconds (production: 2 s and 6 s), but
# not so short that a live worker starved of CPU for a moment on a loaded box (a 2 s TTL was
# seen to lapse) drops out of placement.
FAST_REGISTRY = {"MEDIA_WORKER_HEARTBEAT_SECONDS": "0.5", "MEDIA_WORKER_TTL_SECONDS": "4"}
_ids = itertools.count()


class SignalRefused(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("code"))
        self.error = error


class Mailbox:
    """A socket whose messages are kept until a test takes them (every wait is bounded)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.inbox: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                self.inbox.append({**json.loads(raw), "_at": time.monotonic()})
                self.arrived.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def take(
        self, match: Callable[[dict[str, Any]], bool], within: float = TIMEOUT
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            for i, message in enumerate(self.inbox):
                if match(message):
                    return self.inbox.pop(i)
            self.arrived.clear()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no matching message; got {[m['type'] for m in self.inbox]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)


@contextlib.asynccontextmanager
async def space_socket(base: str, space_id: int, token: str) -> AsyncIterator[Mailbox]:
    url = base.replace("http://", "ws://") + f"/ws/spaces/{space_id}/"
    async with websockets.connect(url, additional_headers={"X-Session-Token": token}) as ws:
        box = Mailbox(ws)
        try:
            await box.take(lambda m: m["type"] == "space.state")
            yield box
        finally:
            box.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await box.reader


def socket_exchange(box: Mailbox, acks: list[dict[str, Any]]) -> Callable[[str], Awaitable[str]]:
    """Offer through the socket: the answer comes back as a `signal`, then the ack."""

    async def exchange(offer: str) -> str:
        rid = f"offer-{next(_ids)}"
        await box.send({"action": "signal", "id": rid, "kind": "offer", "sdp": offer})
        first = await box.take(
            lambda m: (
                (m["type"] == "signal" and m.get("kind") == "answer")
                or (m["type"] == "error" and m.get("id") == rid)
            )
        )
        if first["type"] == "error":
            raise SignalRefused(first)
        acks.append(await box.take(lambda m: m["type"] == "ack" and m.get("id") == rid))
        return str(first["sdp"])

    return exchange


async def signal_error(box: Mailbox, **fields: Any) -> dict[str, Any]:
    rid = f"s-{next(_ids)}"
    await box.send({"action": "signal", "id": rid, **fields})
    return await box.take(lambda m: m.get("id") == rid)


def registry() -> redis.Redis:
    return redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)


def wait_until(check: Callable[[], bool], timeout: float = TIMEOUT) -> float:
    """Seconds until `check()` held (polling every 20 ms); fails after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture
def loopback_peers() -> Any:
    restrict_host_addresses(("127.0.0.1",))
    yield
    restrict_host_addresses(None)


@pytest.fixture
def remote_env() -> dict[str, str]:
    return {"MEDIA_EMBEDDED": "0", **FAST_REGISTRY}


async def steadily_heard(client: MediaClient, frequency: float, within: float = 10.0) -> bool:
    """Whether, within `within` seconds, 23 of the last 25 frames carried the tone."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        last = client.decoded_packets()[-25:]
        if sum(tone_amplitude(f.pcm, frequency) > FRAME_HAS_TONE for f in last) >= 23:
            return True
        await asyncio.sleep(0.1)
    return False


async def close_all(*clients: MediaClient) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


@pytest.mark.media
def test_a_listener_hears_a_speaker_through_a_worker_process_until_the_host_demotes_them(
    tmp_path: Path, loopback_peers: Any, remote_env: dict[str, str]
) -> None:
    space = SpaceFactory()
    speaker, listener = UserFactory(), UserFactory()
    join(space, speaker)
    make_speaker(space, speaker, unmuted=True)
    host_token = session_key_for(space.host)
    speaker_token, listener_token = session_key_for(speaker), session_key_for(listener)
    figures: dict[str, Any] = {}

    async def scenario(a: str, b: str) -> None:
        # Two ASGI processes: the speaker on one, the host and the listener on the other.
        async with (
            space_socket(b, space.pk, host_token) as host_box,
            space_socket(a, space.pk, speaker_token) as speaker_box,
            space_socket(b, space.pk, listener_token) as listener_box,
        ):
            speaker_acks: list[dict[str, Any]] = []
            listener_acks: list[dict[str, Any]] = []
            talker = MediaClient(
                socket_exchange(speaker_box, speaker_acks), send=ToneTrack(440), receive="none"
            )
            hearer = MediaClient(socket_exchange(listener_box, listener_acks), receive="rtp")
            try:
                joins = [await c.connect(within=TIMEOUT) for c in (talker, hearer)]
                figures["offer_to_connected_ms"] = [round(j * 1000) for j in joins]
                assert speaker_acks[0]["role"] == "speaker"
                assert speaker_acks[0]["muted"] is False
                assert listener_acks[0]["role"] == "listener"
                with registry() as r:
                    assert r.get(placement.space_key(space.pk)) == "w1"
                # 50 frames (1 s) of what the worker sent, however late this process reads.
                assert await until(lambda: len(hearer.packets) >= 100)
                audio = np.concatenate([f.pcm for f in hearer.decoded_packets()[-50:]])
                assert len(audio) == 48_000, f"decoded only {len(audio)} samples"
                assert dominant_frequency(audio) == pytest.approx(440, abs=2)
                assert tone_amplitude(audio, 440) > HEARD
                # The worker process tells the room who is speaking.
                speaking = await listener_box.take(
                    lambda m: m["type"] == "active_speakers" and speaker.pk in m["speakers"]
                )
                assert isinstance(speaking["seq"], int)
                # On a loaded box a speaker's packets can come late and drop out of the mix for
                # a moment: demote while the tone is steady, so "silent after" means something.
                assert await steadily_heard(hearer, 440), "the tone never held for 0.5 s"

                # The host demotes the speaker on their own socket (the service runs in daphne).
                sent_at = time.monotonic()
                await host_box.send({"action": "demote", "id": "d", "user_id": speaker.pk})
                changed = await listener_box.take(
                    lambda m: m["type"] == "role.changed" and m["participant"]["role"] == "listener"
                )
                assert (await host_box.take(lambda m: m.get("id") == "d"))["type"] == "ack"
                seen_at = changed["_at"]  # when the room heard it: about when the worker did

                # In media time: each packet placed at the time the worker sent it (sequence
                # numbers on the worker's 20 ms clock), so packets this busy process reads late
                # still count on the right side of the change.
                def sent_after(n: int) -> bool:
                    return sum(f.sent >= seen_at for f in sent_frames(hearer)) >= n

                assert await until(lambda: sent_after(50))
                frames = sent_frames(hearer)
                before = [f for f in frames if f.sent < sent_at][-25:]
                after = [f for f in frames if f.sent >= seen_at]
                heard_before = sum(f.has(440) for f in before)
                assert heard_before >= 15, f"440 Hz in only {heard_before} of {len(before)} frames"
                toned = [round((f.sent - seen_at) * 1000) for f in after if f.has(440)]
                figures["tone_frames_after"] = len(toned)
                figures["event_after_action_ms"] = round((seen_at - sent_at) * 1000)
                figures["tone_sent_after_event_ms"] = toned
                # The 100 ms: at most five frames the worker sent after the room heard
                # of the demotion still carry the tone.
                assert len(toned) <= 5, f"440 Hz in frames sent {toned} ms after the demotion"
                assert not any(f.has(440) for f in after[5:])

                # Ending the Space closes every media connection on the worker.
                await host_box.send({"action": "end", "id": "e"})
                for client in (talker, hearer):
                    await asyncio.wait_for(client.closed.wait(), TIMEOUT)
            finally:
                await close_all(talker, hearer)

    with (
        running_media_worker("w1", log_path=tmp_path / "w1.log", **FAST_REGISTRY),
        running_daphne(log_path=tmp_path / "a.log", **remote_env) as a,
        running_daphne(log_path=tmp_path / "b.log", **remote_env) as b,
    ):
        asyncio.run(scenario(a, b))
    print(f"\ndistributed demotion → silence: {figures}")


@pytest.mark.media
def test_spaces_spread_over_two_workers_and_a_killed_workers_space_moves_to_the_other(
    tmp_path: Path, loopback_peers: Any, remote_env: dict[str, str]
) -> None:
    remote_env = {**remote_env, "MEDIA_SIGNAL_TIMEOUT_SECONDS": "6"}  # above the 4 s TTL
    first, second = SpaceFactory(), SpaceFactory()
    for space in (first, second):
        services.participant_unmute(actor=space.host, space_id=space.pk, user_id=space.host_id)
    listener = UserFactory()
    tokens = {s.pk: session_key_for(s.host) for s in (first, second)}
    listener_token = session_key_for(listener)
    figures: dict[str, Any] = {}

    async def host_speaks(base: str, space_id: int, frequency: float) -> list[Any]:
        """Connect the host's tone; returns what to close: the client and the socket."""
        stack = contextlib.AsyncExitStack()
        box = await stack.enter_async_context(space_socket(base, space_id, tokens[space_id]))
        client = MediaClient(socket_exchange(box, []), send=ToneTrack(frequency), receive="none")
        stack.push_async_callback(client.close)
        await client.connect(within=TIMEOUT)
        return [stack]

    async def place_both(base: str) -> list[Any]:
        return [
            *(await host_speaks(base, first.pk, 440)),
            *(await host_speaks(base, second.pk, 660)),
        ]

    async def listen_after_the_move(base: str) -> None:
        held = await host_speaks(base, first.pk, 440)
        try:
            async with space_socket(base, first.pk, listener_token) as box:
                hearer = MediaClient(socket_exchange(box, []))
                try:
                    await hearer.connect(within=TIMEOUT)
                    await listen_for(hearer, 1.0)
                    audio = hearer.audio()[-48_000:]
                    assert len(audio) == 48_000
                    assert dominant_frequency(audio) == pytest.approx(440, abs=2)
                finally:
                    await hearer.close()
        finally:
            for stack in held:
                await stack.aclose()

    async def close(held: list[Any]) -> None:
        for stack in held:
            with contextlib.suppress(Exception):
                await stack.aclose()

    r = registry()
    with (
        running_media_worker("w1", log_path=tmp_path / "w1.log", **FAST_REGISTRY) as w1,
        running_media_worker("w2", log_path=tmp_path / "w2.log", **FAST_REGISTRY) as w2,
        running_daphne(log_path=tmp_path / "daphne.log", **remote_env) as base,
    ):
        loop = asyncio.new_event_loop()
        held: list[Any] = []
        try:
            held = loop.run_until_complete(place_both(base))
            placed = {s.pk: r.get(placement.space_key(s.pk)) for s in (first, second)}
            assert sorted(placed.values()) == ["w1", "w2"], placed  # least loaded: one each
            victim_id = placed[first.pk]
            victim, survivor_id = (w1, "w2") if victim_id == "w1" else (w2, "w1")
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            killed_at = time.monotonic()
            figures["registration_gone_s"] = round(
                wait_until(lambda: not r.exists(placement.worker_key(victim_id))), 2
            )
            loop.run_until_complete(close(held))
            loop.run_until_complete(listen_after_the_move(base))
            figures["kill_to_heard_again_s"] = round(time.monotonic() - killed_at, 2)
            assert r.get(placement.space_key(first.pk)) == survivor_id

            # Killed just after a heartbeat: the next offer still goes to the dead worker, times
            # out after the registration expired, and is sent again to the survivor.
            dead = placement.WorkerInfo(id="w0", channel="spaces.media.dead-worker")
            r.set(placement.worker_key("w0"), dead.dumps(), px=2500)
            r.set(placement.space_key(first.pk), "w0", px=2500)
            loop.run_until_complete(listen_after_the_move(base))
            assert r.get(placement.space_key(first.pk)) == survivor_id
            log = (tmp_path / "daphne.log").read_text()
            assert f"media worker w0 did not answer; space {first.pk} moved" in log
            assert r.get(placement.space_key(second.pk)) == survivor_id or not r.exists(
                placement.space_key(second.pk)
            )
        finally:
            loop.run_until_complete(close(held))  # closed already unless an assertion failed
            loop.close()
    r.close()
    print(f"\ndistributed SIGKILL → re-placement: {figures}")
    assert_live_hls_went_on_across_origins(first.pk)


def assert_live_hls_went_on_across_origins(space_id: int) -> None:
    """Each origin of the Space (the killed worker's, then the survivor's, one per hearing)
    went on with the one live playlist: its state names segments of several origins, a new
    origin's first segment after a discontinuity, and every segment the playlist names is
    stored."""
    store = storage.live()
    prefix = live_prefix(space_id)
    state = json.loads(storage.get(store, f"{prefix}/live.json"))
    entries = state["entries"]
    names = state["retired"] + [e["uri"] for e in entries]
    epochs = [name.split("-")[0] for name in names]
    assert len(set(epochs)) >= 2, f"one origin wrote the live playlist: {names}"
    for before, entry in itertools.pairwise(entries):
        if entry["uri"].split("-")[0] != before["uri"].split("-")[0]:
            assert entry["discontinuity"], f"no discontinuity before {entry['uri']}"
    playlist = storage.get(store, f"{prefix}/index.m3u8").decode()
    assert f"#EXT-X-MEDIA-SEQUENCE:{state['media_sequence']}" in playlist
    for entry in entries:
        assert store.exists(f"{prefix}/{entry['uri']}"), entry["uri"]


@pytest.mark.media
def test_a_worker_lets_go_of_a_space_placed_elsewhere_and_leaves_the_registry_on_sigterm(
    tmp_path: Path, loopback_peers: Any, remote_env: dict[str, str]
) -> None:
    space = SpaceFactory()
    token = session_key_for(UserFactory())
    # A long TTL: what disappears below was removed by the worker, not expired.
    slow = {"MEDIA_WORKER_HEARTBEAT_SECONDS": "0.5", "MEDIA_WORKER_TTL_SECONDS": "60"}
    r = registry()
    other = placement.WorkerInfo(id="w9", channel="spaces.media.nobody-reads-this")

    def bye(m: dict[str, Any]) -> bool:
        return m["type"] == "signal" and m.get("kind") == "bye"

    async def scenario(base: str, proc: Any) -> dict[str, Any]:
        async with space_socket(base, space.pk, token) as box:
            first = MediaClient(socket_exchange(box, []))
            second = MediaClient(socket_exchange(box, []))
            try:
                # The worker's refusals come back as the embedded shape's errors.
                refused = await signal_error(box, kind="offer", sdp="v=0 not an offer")
                assert (refused["type"], refused["code"]) == ("error", "media_refused")
                await first.connect(within=TIMEOUT)
                assert r.get(placement.space_key(space.pk)) == "w1"
                # w1 looked dead for a while and the Space went to w9: at its next heartbeat
                # w1 lets the Space go, and its client is told to offer again.
                r.set(placement.worker_key("w9"), other.dumps(), ex=60)
                r.set(placement.space_key(space.pk), "w9", ex=60)
                moved = await box.take(bye)
                await asyncio.wait_for(first.closed.wait(), TIMEOUT)
                r.delete(placement.worker_key("w9"))  # w9 dies: the next offer is placed on w1
                await second.connect(within=TIMEOUT)
                assert r.get(placement.space_key(space.pk)) == "w1"

                proc.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(proc.wait, 20)
                # Told to offer again (relayed through the socket's channel), and closed.
                stopped = await box.take(bye)
                await asyncio.wait_for(second.closed.wait(), TIMEOUT)
                return {"code": code, "moved": moved, "stopped": stopped}
            finally:
                await close_all(first, second)

    try:
        with (
            running_media_worker("w1", log_path=tmp_path / "w1.log", **slow) as proc,
            running_daphne(log_path=tmp_path / "daphne.log", **{**remote_env, **slow}) as base,
        ):
            outcome = asyncio.run(scenario(base, proc))
            assert outcome["code"] == 0
            assert outcome["moved"]["reason"] == outcome["stopped"]["reason"] == "closed"
            assert not r.exists(placement.worker_key("w1"))
            assert r.zscore(placement.load_key(), "w1") is None
            assert not r.exists(placement.space_key(space.pk))
    finally:
        r.delete(placement.worker_key("w9"))
        r.zrem(placement.load_key(), "w9")
        r.close()


def test_without_a_live_worker_an_offer_is_answered_media_unavailable(
    tmp_path: Path, remote_env: dict[str, str]
) -> None:
    space = SpaceFactory()
    token = session_key_for(UserFactory())
    r = registry()

    async def scenario(base: str) -> tuple[dict[str, Any], ...]:
        async with space_socket(base, space.pk, token) as box:
            nobody = await signal_error(box, kind="offer", sdp="v=0 offer")
            servers = await signal_error(box, kind="ice", candidate=None)
            bye = await signal_error(box, kind="bye")
            # A registered worker that never answers (hung, or dead before its TTL ran out).
            mute = placement.WorkerInfo(id="mute", channel="spaces.media.nobody-reads-this")
            r.set(placement.worker_key("mute"), mute.dumps(), ex=60)
            r.zadd(placement.load_key(), {"mute": 0})
            started = time.monotonic()
            silent = await signal_error(box, kind="offer", sdp="v=0 offer")
            waited = time.monotonic() - started
        return nobody, servers, bye, silent, {"waited": waited}

    try:
        with running_daphne(
            log_path=tmp_path / "daphne.log", MEDIA_SIGNAL_TIMEOUT_SECONDS="1", **remote_env
        ) as base:
            nobody, servers, bye, silent, timing = asyncio.run(scenario(base))
    finally:
        r.delete(placement.worker_key("mute"), placement.space_key(space.pk))
        r.zrem(placement.load_key(), "mute")
        r.close()
    assert (nobody["type"], nobody["code"]) == ("error", "media_unavailable")
    assert (servers["type"], servers["ice_servers"]) == ("ack", [])  # needs no worker
    assert (bye["type"], bye["left"]) == ("ack", False)
    assert (silent["type"], silent["code"]) == ("error", "media_unavailable")
    assert timing["waited"] < 10  # the 1 s relay timeout, not the client's own


@pytest.mark.media
def test_a_worker_process_records_the_space_and_leaves_out_a_speaker_who_opts_out(
    tmp_path: Path, loopback_peers: Any, remote_env: dict[str, str]
) -> None:
    """The distributed shape of recording: the origin in a `media_worker` process records, the
    consent given on a socket of a daphne process reaches it through the layer, and when the
    Space ends the worker process itself makes the replay."""
    space = SpaceFactory()
    assert space.recording_enabled  # on unless the host says otherwise
    speaker = UserFactory()
    join(space, speaker)
    make_speaker(space, speaker, unmuted=True)
    services.participant_unmute(actor=space.host, space_id=space.pk, user_id=space.host_id)
    host_token, speaker_token = session_key_for(space.host), session_key_for(speaker)

    async def scenario(base: str) -> None:
        async with (
            space_socket(base, space.pk, host_token) as host_box,
            space_socket(base, space.pk, speaker_token) as speaker_box,
        ):
            host = MediaClient(socket_exchange(host_box, []), send=ToneTrack(440), receive="none")
            talker = MediaClient(
                socket_exchange(speaker_box, []), send=ToneTrack(880), receive="none"
            )
            try:
                for client in (host, talker):
                    await client.connect(within=TIMEOUT)
                await host_box.take(lambda m: m["type"] == "recording.started")
                await asyncio.sleep(3)
                await speaker_box.send(
                    {"action": "recording.consent", "id": "c", "recorded": False}
                )
                assert (await speaker_box.take(lambda m: m.get("id") == "c"))["type"] == "ack"
                await host_box.take(lambda m: m["type"] == "recording.consent_changed")
                await asyncio.sleep(4)
                await host_box.send({"action": "end", "id": "e"})
                assert (await host_box.take(lambda m: m.get("id") == "e"))["type"] == "ack"
            finally:
                await close_all(host, talker)

    with (
        running_media_worker("w1", log_path=tmp_path / "w1.log", **FAST_REGISTRY),
        running_daphne(log_path=tmp_path / "daphne.log", **remote_env) as base,
    ):
        asyncio.run(scenario(base))
        # Nobody here finalizes: the worker's closed part does, in the worker process.
        wait_until(
            lambda: Recording.objects.filter(space=space, status=Recording.Status.READY).exists(),
            timeout=30,
        )
    recording = Recording.objects.get(space=space)
    assert recording.left_out == [speaker.pk]
    assert recording.dropped_segments == 0
    opted_out = ModerationAction.objects.get(
        space=space, action=ModerationAction.Action.RECORDING_CONSENT
    ).created_at.timestamp()
    cut = replay_timeline.position_of(recording.timeline, opted_out)
    assert cut is not None

    store = storage.recordings()
    prefix = recording_prefix(space.pk)
    parts, ended = hls.parse_media_playlist(storage.get(store, f"{prefix}/index.m3u8").decode())
    assert ended
    assert len(parts) == 1
    data = storage.get(store, f"{prefix}/{parts[0].map_uri}") + b"".join(
        storage.get(store, f"{prefix}/{s.uri}") for s in parts[0].segments
    )
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray()[0] for f in container.decode(container.streams.audio[0])]
    # Scaled as `tone_amplitude` reads samples: int16 full scale (the decoder gives floats).
    audio = np.concatenate(frames).astype(np.float32) * 32767.0

    def window(start_ms: int, end_ms: int) -> np.ndarray:
        return audio[start_ms * 48 : end_ms * 48]

    # Half a second of margin on each side of the choice: the event's trip to the worker.
    before, after = window(cut - 2500, cut - 500), window(cut + 500, cut + 3000)
    assert tone_amplitude(before, 880) > HEARD, "the speaker was not recorded before opting out"
    assert tone_amplitude(after, 880) < 0.01, (
        "the speaker's voice is in the replay after opting out"
    )
    assert tone_amplitude(after, 440) > HEARD, "the host's voice went missing too"
