"""Edges: a Space's encoded mix relayed from its origin worker to other workers' listeners.

Two kinds of tests. In one process (marker ``media``): an origin and an edge ``MediaWorker`` on
the test's loop, linked by an in-memory transport in place of Redis, with real aiortc peers. In
the distributed shape (markers ``media``, ``redis``, ``postgres``): real `manage.py media_worker`
processes and daphne, the mix over Redis pub/sub. Figures are printed: run with ``-s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from django.db import connection

from media.client import MediaClient, ToneTrack, dominant_frequency, tone_amplitude
from media.config import MediaConfig
from media.edge import HEADER_BYTES, MixPacket, MixPublisher
from media.ice import restrict_host_addresses
from media.origin import Origin
from media.worker import MediaWorker
from spaces import services
from spaces.audio import placement, process
from spaces.audio.bridge import Route, redirect_for
from tests.factories import SpaceFactory, UserFactory, join, make_speaker
from tests.media.mixcheck import listen_for
from tests.media.test_media_worker import (
    FAST_REGISTRY,
    TIMEOUT,
    Mailbox,
    close_all,
    registry,
    socket_exchange,
    space_socket,
    steadily_heard,
)
from tests.realtime.conftest import session_key_for
from tests.servers import running_daphne, running_media_worker

SPACE = 7
HEARD = 0.05
ABSENT = 0.01


def test_a_mix_packet_round_trips_and_garbage_is_refused() -> None:
    packet = MixPacket(epoch=0xDEADBEEF, index=12_345, level=33, deadline=1.5e9, payload=b"opus")
    data = packet.dumps()
    assert len(data) == HEADER_BYTES + 4
    assert MixPacket.loads(data) == packet
    with pytest.raises(ValueError):
        MixPacket.loads(b"short")
    with pytest.raises(ValueError):
        MixPacket.loads(b"XXXX" + data[4:])


class Counted:
    """What redirect_for reads of a worker: who is connected to the Space, listeners in all."""

    def __init__(self, members: dict[int, Any], listeners: int) -> None:
        self.members = members
        self.count = listeners

    def participants(self, space_id: int) -> dict[int, Any]:
        return self.members

    def listeners(self) -> int:
        return self.count


def test_the_origin_sends_listeners_beyond_its_limit_to_an_edge_and_an_edge_sends_stage_back(
    settings: Any,
) -> None:
    full, room = Counted({}, listeners=2), Counted({}, listeners=1)
    limit = Route(max_listeners=2)
    assert redirect_for(full, limit, SPACE, 5, "listener") == "edge"  # type: ignore[arg-type]
    assert redirect_for(room, limit, SPACE, 5, "listener") is None  # type: ignore[arg-type]
    assert redirect_for(full, limit, SPACE, 5, "speaker") is None  # type: ignore[arg-type]
    rejoining = Counted({5: {}}, listeners=2)
    assert redirect_for(rejoining, limit, SPACE, 5, "listener") is None  # type: ignore[arg-type]
    assert redirect_for(full, Route(), SPACE, 5, "listener") is None  # type: ignore[arg-type]
    edge = Route(edge=True)
    assert redirect_for(full, edge, SPACE, 5, "speaker") == "origin"  # type: ignore[arg-type]
    assert redirect_for(full, edge, SPACE, 5, "listener") is None  # type: ignore[arg-type]

    settings.MEDIA_WORKER_MAX_LISTENERS = "7"
    assert process.max_listeners() == 7
    assert process.route_for({"route": "origin"}, 7) == Route(max_listeners=7)
    assert process.route_for({"route": "edge"}, 7) == Route(edge=True)
    assert process.route_for({}, 7) == Route()  # an older ASGI process: served here
    settings.MEDIA_WORKER_MAX_LISTENERS = "0"
    assert process.max_listeners() is None
    settings.MEDIA_WORKER_MAX_LISTENERS = "many"
    with pytest.raises(ValueError, match="whole number"):
        process.max_listeners()


# --- In one process: an in-memory transport ----------------------------------------------------


class Link:
    """Stands in for Redis pub/sub: PUBLISH's answer is how many edges are subscribed."""

    def __init__(self, edge: MediaWorker) -> None:
        self.edge = edge
        self.subscribed = True
        self.messages = 0

    async def publish(self, space_id: Any, message: bytes) -> int:
        self.messages += 1
        if not self.subscribed:
            return 0
        self.edge.relay(space_id, MixPacket.loads(message))
        return 1


@pytest_asyncio.fixture
async def pair() -> AsyncIterator[tuple[MediaWorker, MediaWorker, list[tuple[Any, Any, str]]]]:
    gone: list[tuple[Any, Any, str]] = []
    config = MediaConfig(host_addresses=("127.0.0.1",))
    origin = MediaWorker(config)
    edge = MediaWorker(config, on_peer_gone=lambda s, u, r: gone.append((s, u, r)))
    try:
        yield origin, edge, gone
    finally:
        await origin.close()
        await edge.close()
        restrict_host_addresses(None)


async def connect(
    worker: MediaWorker, user_id: str, role: str, *, edge: bool = False, **kwargs: Any
) -> MediaClient:
    async def exchange(offer: str) -> str:
        return await worker.join(SPACE, user_id, role, offer, edge=edge)

    client = MediaClient(exchange, name=user_id, **kwargs)
    await client.connect(within=10)
    assert await worker.wait_connected(SPACE, user_id, within=10)
    return client


def last_second(client: MediaClient) -> np.ndarray:
    audio = client.audio()[-48_000:]
    assert len(audio) == 48_000, f"{client.name} decoded only {len(audio)} samples"
    return audio


@pytest.mark.media
@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_an_edge_listener_hears_the_origins_mix_until_brought_on_stage(
    pair: tuple[MediaWorker, MediaWorker, list[tuple[Any, Any, str]]],
) -> None:
    origin, edge, gone = pair
    link = Link(edge)
    publisher = MixPublisher(link.publish)
    origin.publisher = publisher
    clients: list[MediaClient] = []
    try:
        clients.append(await connect(origin, "host", "speaker", send=ToneTrack(440)))
        hearer = await connect(edge, "fan", "listener", edge=True)
        clients.append(hearer)
        assert edge.is_edge(SPACE)
        assert not origin.is_edge(SPACE)
        assert link.messages == 0, "published before any edge asked"
        publisher.want(SPACE)
        await listen_for(hearer, 1.0)
        audio = last_second(hearer)
        assert dominant_frequency(audio) == pytest.approx(440, abs=2)
        assert tone_amplitude(audio, 440) > HEARD
        stats = edge.stats()
        assert stats["listener_packets"] > 50
        assert stats["per_space"][str(SPACE)]["edge"] is True
        print(f"\nin-process edge delay: {stats['per_space'][str(SPACE)]['delay_ms']}")

        # A stage member is never served by an edge...
        with pytest.raises(Exception, match="origin"):
            await edge.join(SPACE, "other", "speaker", "v=0", edge=True)
        # ...and a listener there brought on stage is sent to the origin.
        assert await edge.set_role(SPACE, "fan", "speaker")
        assert gone == [(SPACE, "fan", "moved")]
        await asyncio.wait_for(hearer.closed.wait(), 10)
        assert SPACE not in edge.spaces()  # its last listener left: nothing relayed here

        # No edge subscribed any more: the origin stops publishing at the next packet.
        link.subscribed = False
        await until(lambda: not publisher.wanted(SPACE))
        sent = link.messages
        await asyncio.sleep(0.3)
        assert link.messages == sent
    finally:
        await close_all(*clients)
        await publisher.close()


@pytest.mark.asyncio
async def test_an_edge_keeps_sequence_across_a_new_origin_and_drops_stale_or_late_packets() -> None:
    # An edge's Origin with no listener yet: the relay bookkeeping alone.
    relay = Origin(SPACE, MediaConfig(), on_levels=lambda e: None, taps=[], relay=True)
    relay.start()
    now = time.time()

    def packet(epoch: int, index: int, deadline: float | None = None) -> MixPacket:
        return MixPacket(epoch, index, 0, now if deadline is None else deadline, b"x")

    assert all(relay.relay_packet(packet(1, i)) for i in range(100, 110))
    assert relay.index == 109
    assert not relay.relay_packet(packet(1, 105))  # old: already sent
    assert relay.relay_ts == 109 * 960
    # The Space's origin died and another one took over 2 s later: its ticks start again at 0.
    # The listener's stream goes on: the next sequence number, the timestamp 2 s further.
    now += 2.0
    assert relay.relay_packet(packet(2, 0))
    assert relay.index == 110
    assert relay.relay_ts == 109 * 960 + 96_000
    assert relay.relay_packet(packet(2, 1))
    assert relay.index == 111
    assert relay.relay_ts == 109 * 960 + 96_000 + 960
    # Much later than the fastest transit seen: dropped, not delivered late.
    assert not relay.relay_packet(packet(2, 2, deadline=time.time() - 1.0))
    assert relay.stats.skipped_ticks == 2
    assert relay.stats.ticks == 12
    assert await relay.stop() == []


# --- The distributed shape: worker processes, the mix over Redis --------------------------------


def subscribers(space_id: int) -> int:
    with registry() as r:
        found = r.pubsub_numsub(placement.mix_channel(space_id))
    return int(found[0][1]) if found else 0


async def until(check: Callable[[], bool], within: float = TIMEOUT) -> float:
    """Seconds until `check()` held (polling every 50 ms, without blocking the loop)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def promote(space: Any, user: Any) -> None:
    """The host brings `user` on stage (in a thread: the services are synchronous)."""
    try:
        make_speaker(space, user, unmuted=True)
    finally:
        connection.close()


async def take_bye(box: Mailbox) -> dict[str, Any]:
    return await box.take(lambda m: m["type"] == "signal" and m.get("kind") == "bye")


@pytest.mark.media
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(240)
def test_a_full_origin_sends_listeners_to_an_edge_which_relays_the_mix_over_redis(
    tmp_path: Path,
) -> None:
    restrict_host_addresses(("127.0.0.1",))
    space = SpaceFactory()
    services.participant_unmute(actor=space.host, space_id=space.pk, user_id=space.host_id)
    first, second, third, fourth = (UserFactory() for _ in range(4))
    for user in (first, second, third, fourth):
        join(space, user)
    tokens = {u.pk: session_key_for(u) for u in (space.host, first, second, third, fourth)}
    figures: dict[str, Any] = {}
    env = {**FAST_REGISTRY, "MEDIA_WORKER_MAX_LISTENERS": "1"}

    async def scenario(base: str) -> None:
        async with contextlib.AsyncExitStack() as stack:
            boxes = {
                pk: await stack.enter_async_context(space_socket(base, space.pk, token))
                for pk, token in tokens.items()
            }
            acks: dict[int, list[dict[str, Any]]] = {pk: [] for pk in tokens}

            def client(pk: int, **kwargs: Any) -> MediaClient:
                made = MediaClient(socket_exchange(boxes[pk], acks[pk]), name=str(pk), **kwargs)
                stack.push_async_callback(made.close)
                return made

            host = client(space.host_id, send=ToneTrack(440))
            await host.connect(within=TIMEOUT)
            with registry() as r:
                origin_id = r.get(placement.space_key(space.pk))
            assert origin_id in ("w1", "w2")
            on_origin = client(first.pk)
            await on_origin.connect(within=TIMEOUT)  # the origin's one listener
            assert subscribers(space.pk) == 0  # no edge yet: nothing subscribed, nothing sent

            on_edge = client(second.pk)
            figures["edge_offer_to_connected_ms"] = round(
                await on_edge.connect(within=TIMEOUT) * 1000
            )
            assert acks[second.pk][-1]["role"] == "listener"
            assert subscribers(space.pk) == 1, "the edge did not subscribe to the mix"
            await listen_for(on_edge, 1.0)
            audio = on_edge.audio()[-48_000:]
            assert len(audio) == 48_000, f"the edge listener decoded only {len(audio)} samples"
            assert dominant_frequency(audio) == pytest.approx(440, abs=2)
            assert tone_amplitude(audio, 440) > HEARD
            with registry() as r:
                assert r.get(placement.space_key(space.pk)) == origin_id  # not taken by the edge

            # Brought on stage from the edge: `bye` ("moved"), and the re-offer lands on the
            # origin, where the stage is mixed: everyone else hears them, they hear the host.
            await asyncio.to_thread(promote, space, second)
            moved = await take_bye(boxes[second.pk])
            assert moved["reason"] == "moved"
            await asyncio.wait_for(on_edge.closed.wait(), TIMEOUT)
            promoted = client(second.pk, send=ToneTrack(660))
            await promoted.connect(within=TIMEOUT)
            assert acks[second.pk][-1]["role"] == "speaker"
            for each in (on_origin, promoted, host):  # 1.8 s of audio from here on, each
                await listen_for(each, 1.0)
            heard = on_origin.audio()[-48_000:]
            assert tone_amplitude(heard, 440) > HEARD
            assert tone_amplitude(heard, 660) > HEARD
            own = promoted.audio()[-48_000:]
            assert tone_amplitude(own, 440) > HEARD
            assert tone_amplitude(own, 660) < ABSENT
            hosts = host.audio()[-48_000:]
            assert tone_amplitude(hosts, 660) > HEARD
            assert tone_amplitude(hosts, 440) < ABSENT

            # The edge's last listener left: it unsubscribes (its next heartbeat).
            await until(lambda: subscribers(space.pk) == 0)
            # Another listener goes to the edge; removing them closes their connection there.
            kicked = client(third.pk)
            await kicked.connect(within=TIMEOUT)
            assert subscribers(space.pk) == 1
            await boxes[space.host_id].send({"action": "remove", "id": "r", "user_id": third.pk})
            await asyncio.wait_for(kicked.closed.wait(), TIMEOUT)
            figures["unsubscribed_after_kick_s"] = round(
                await until(lambda: subscribers(space.pk) == 0), 2
            )

            # And the end of the Space closes an edge listener's connection too.
            last = client(fourth.pk)
            await last.connect(within=TIMEOUT)
            assert subscribers(space.pk) == 1
            await listen_for(last, 0.5)
            assert tone_amplitude(last.audio()[-24_000:], 660) > HEARD  # the relayed mix
            await boxes[space.host_id].send({"action": "end", "id": "e"})
            for each in (last, host, on_origin, promoted):
                await asyncio.wait_for(each.closed.wait(), TIMEOUT)
            await until(lambda: subscribers(space.pk) == 0)

    try:
        with (
            running_media_worker("w1", log_path=tmp_path / "w1.log", **env),
            running_media_worker("w2", log_path=tmp_path / "w2.log", **env),
            running_daphne(log_path=tmp_path / "daphne.log", MEDIA_EMBEDDED="0", **env) as base,
        ):
            asyncio.run(scenario(base))
    finally:
        restrict_host_addresses(None)
    print(f"\nedges: {figures}")


@pytest.mark.media
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(240)
def test_when_the_origin_dies_the_edge_relays_the_new_origins_mix_without_a_new_offer(
    tmp_path: Path,
) -> None:
    restrict_host_addresses(("127.0.0.1",))
    space = SpaceFactory()
    services.participant_unmute(actor=space.host, space_id=space.pk, user_id=space.host_id)
    first, second = UserFactory(), UserFactory()
    for user in (first, second):
        join(space, user)
    tokens = {u.pk: session_key_for(u) for u in (space.host, first, second)}
    figures: dict[str, Any] = {}
    env = {**FAST_REGISTRY, "MEDIA_WORKER_MAX_LISTENERS": "1"}

    async def scenario(base: str, workers: dict[str, Any]) -> None:
        async with contextlib.AsyncExitStack() as stack:
            boxes = {
                pk: await stack.enter_async_context(space_socket(base, space.pk, token))
                for pk, token in tokens.items()
            }

            def client(pk: int, **kwargs: Any) -> MediaClient:
                made = MediaClient(socket_exchange(boxes[pk], []), name=str(pk), **kwargs)
                stack.push_async_callback(made.close)
                return made

            await client(space.host_id, send=ToneTrack(440), receive="none").connect(TIMEOUT)
            with registry() as r:
                origin_id = r.get(placement.space_key(space.pk))
            await client(first.pk, receive="none").connect(TIMEOUT)  # fills the origin
            on_edge = client(second.pk, receive="rtp")
            await on_edge.connect(TIMEOUT)
            assert subscribers(space.pk) == 1
            assert await steadily_heard(on_edge, 440), "the edge never relayed the tone"

            victim = workers[origin_id]
            victim.send_signal(signal.SIGKILL)
            await asyncio.to_thread(victim.wait, 10)
            killed_at = time.monotonic()
            with registry() as r:
                await until(lambda: not r.exists(placement.worker_key(origin_id)))
            # The host's client offers again (as the browser does): the Space is placed anew.
            await client(space.host_id, send=ToneTrack(660), receive="none").connect(TIMEOUT)
            with registry() as r:
                new_origin = r.get(placement.space_key(space.pk))
            assert new_origin not in (None, origin_id)
            # The edge listener did nothing: the edge asked the new origin for the mix.
            assert await steadily_heard(on_edge, 660, within=TIMEOUT), "no mix from the new origin"
            figures["kill_to_edge_hears_new_origin_s"] = round(time.monotonic() - killed_at, 2)
            steps = [
                (b.sequence_number - a.sequence_number) & 0xFFFF
                for a, b in zip(on_edge.packets, on_edge.packets[1:], strict=False)
            ]
            figures["largest_sequence_step"] = max(steps)
            assert max(steps) < 1000, "the listener's RTP sequence jumped at the new origin"
            assert on_edge.state == "connected"

    try:
        with contextlib.ExitStack() as stack:
            workers = {
                name: stack.enter_context(
                    running_media_worker(name, log_path=tmp_path / f"{name}.log", **env)
                )
                for name in ("w1", "w2", "w3")
            }
            base = stack.enter_context(
                running_daphne(log_path=tmp_path / "daphne.log", MEDIA_EMBEDDED="0", **env)
            )
            asyncio.run(scenario(base, workers))
    finally:
        restrict_host_addresses(None)
    print(f"\nedges, origin killed: {figures}")
