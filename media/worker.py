"""MediaWorker: the asyncio API the signaling glue calls. No Django, no ORM, no I/O but media.

    worker = MediaWorker(MediaConfig(), on_levels=..., on_peer_gone=...)
    answer_sdp = await worker.join(space_id, user_id, "speaker" | "listener", offer_sdp)
    await worker.set_role(space_id, user_id, role)      # next 20 ms tick
    await worker.set_muted(space_id, user_id, muted)    # next 20 ms tick
    await worker.set_noise_suppression(space_id, on)    # next 20 ms tick, every speaker
    await worker.kick(space_id, user_id)                # stops at once, then closes the peer
    await worker.end_space(space_id)
    await worker.close()

Every method must be called on the worker's event loop. Permission changes are applied
synchronously before the method awaits anything, so they are in force from the next mix tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from media import denoise, fanout, metrics
from media.compat import check_aiortc_internals
from media.config import MediaConfig
from media.edge import MixPacket, MixPublisher
from media.gcpolicy import GcFreezer
from media.ice import restrict_host_addresses
from media.live import LiveSink, LiveWriter
from media.origin import (
    ROLES,
    AppliedChange,
    AudioTap,
    Key,
    LevelsEvent,
    Member,
    Origin,
    Role,
    StageFull,
)
from media.peer import OfferError, Peer
from media.recording import Recorder, RecordingSink

logger = logging.getLogger(__name__)

PeerCallback = Callable[[Key, Key, str], None]
"""(space_id, user_id, reason). Gone: a peer dropped by itself ("failed", "closed",
"timeout"), or dropped here because it must be served by the Space's origin ("moved").
Re-offer: ``origin.UPLINK_LOSS`` or ``origin.UPLINK_FULL`` (``Origin._watch_uplinks``)."""


RECORDER_CLOSE_SECONDS = 10.0


class MediaError(Exception):
    """A media request that cannot be served; the message is safe to show to the client."""


class JoinAborted(MediaError):
    """The participant was removed, or the Space ended, while the join was in progress."""


__all__ = [
    "AppliedChange",
    "AudioTap",
    "JoinAborted",
    "LevelsEvent",
    "MediaConfig",
    "MediaError",
    "MediaWorker",
    "OfferError",
    "Role",
    "StageFull",
]


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise ValueError(f"role must be one of {sorted(ROLES)}, not {role!r}")
    return role  # type: ignore[return-value]


class MediaWorker:
    def __init__(
        self,
        config: MediaConfig | None = None,
        *,
        on_levels: Callable[[LevelsEvent], None] | None = None,
        on_peer_gone: PeerCallback | None = None,
        on_reoffer: PeerCallback | None = None,
    ) -> None:
        """``on_peer_gone(space_id, user_id, reason)``: the worker dropped that connection;
        ``on_reoffer(space_id, user_id, reason)``: that client should offer again while its
        connection still serves (``Origin._watch_uplinks``)."""
        check_aiortc_internals()
        logger.info("media fan-out kernel: %s", fanout.kernel_info())
        self.config = config or MediaConfig()
        if self.config.host_addresses is not None:
            restrict_host_addresses(self.config.host_addresses)
        self._origins: dict[Key, Origin] = {}
        self._taps: list[AudioTap] = []
        self._on_levels = on_levels
        self._on_peer_gone = on_peer_gone
        self._on_reoffer = on_reoffer
        self._level_queues: set[asyncio.Queue[LevelsEvent]] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False
        self._gc = GcFreezer() if self.config.gc_freeze else None
        self.publisher: MixPublisher | None = None
        """Set by a distributed deployment: where origins hand their mix for edges."""
        # Chosen once at start-up: without the library a Space's switch has no effect, which
        # the log says here and `stats()["noise_suppression"]` says to health checks.
        self.denoiser = denoise.backend()
        logger.info(
            "noise suppression: %s",
            self.denoiser.name
            if self.denoiser
            else "unavailable (the per-Space switch does nothing)",
        )
        metrics.watch(self)

    # -- signaling --

    @metrics.timed_join
    async def join(
        self,
        space_id: Key,
        user_id: Key,
        role: str,
        offer_sdp: str,
        *,
        muted: bool = False,
        edge: bool = False,
        recording: RecordingSink | None = None,
        recorded: bool = True,
        live: LiveSink | None = None,
        noise_suppression: bool = False,
    ) -> str:
        """Answer a participant's offer; a second join replaces the first connection, keeping
        the participant's place (``_restart``: how a client does an ICE restart).

        Clients should offer one ``sendrecv`` audio section (listeners without a track) so that a
        promotion needs no renegotiation; a ``recvonly`` offer can listen but never be heard.
        With ``edge``, this worker serves the listener from the mix another worker publishes
        (``relay``); stage members are refused there. A Space is either mixed here or relayed
        here: a join of the other kind first sends the current participants away ("moved").
        With ``recording``, the origin records the Space from now on (if it was not already);
        ``recorded=False`` keeps this participant's voice out of the recording. With ``live``,
        the origin writes the listeners' mix as live HLS (``media.live``) from now on.
        ``noise_suppression``: the Space's switch as the joiner's request read it (every join
        refreshes it; ``set_noise_suppression`` changes it in between).
        """
        if self._closed:
            raise MediaError("the media worker is shutting down")
        checked_role = _check_role(role)
        if edge and checked_role != "listener":
            raise MediaError("stage members are served by the Space's origin")
        origin = self._origins.get(space_id)
        if origin is not None and origin.relay != edge:
            await self._move_all(space_id)
            origin = None
        if origin is None:
            origin = Origin(
                space_id,
                self.config,
                on_levels=self._levels,
                taps=self._taps,
                relay=edge,
                publisher=self.publisher,
                denoiser=self.denoiser,
                on_reoffer=lambda user_id, reason: self._notify(
                    self._on_reoffer, space_id, user_id, reason
                ),
            )
            self._origins[space_id] = origin
            origin.start()
        current = origin.members.get(user_id)
        if current is not None:
            return await self._restart(
                origin, current, checked_role, offer_sdp, muted=muted, recorded=recorded
            )
        await self.kick(space_id, user_id, reason="replaced")

        member_ref: list[Member] = []
        peer = Peer(
            label=f"space {space_id} user {user_id}",
            ice_servers=list(self.config.ice_servers),
            accept_media=lambda: bool(member_ref) and member_ref[0].mixable,
            on_gone=lambda p, reason: self._peer_gone(space_id, user_id, p, reason),
            connect_timeout=self.config.connect_timeout,
            red=self.config.red_distance > 0,
            red_first=self._red_first(origin, user_id),
            max_bitrate=self._max_bitrate(origin, user_id),
            on_connected=self._gc.peer_connected if self._gc else None,
            on_closed=self._gc.peer_closed if self._gc else None,
        )
        origin.pending[user_id] = peer
        try:
            answer = await peer.answer(offer_sdp)
        except OfferError as exc:
            origin.pending.pop(user_id, None)
            await peer.close()
            await self._drop_if_empty(space_id)
            raise MediaError(str(exc)) from exc
        except Exception as exc:
            origin.pending.pop(user_id, None)
            aborted = peer.closed
            await peer.close()
            await self._drop_if_empty(space_id)
            if aborted:
                raise JoinAborted("removed while joining") from exc
            raise
        except BaseException:
            origin.pending.pop(user_id, None)
            await peer.close()
            raise
        if origin.pending.get(user_id) is not peer or self._origins.get(space_id) is not origin:
            await peer.close()
            raise JoinAborted("removed while joining")
        del origin.pending[user_id]
        member = Member(user_id, checked_role, muted, peer)
        member_ref.append(member)
        if not origin.relay:
            if recording is not None:
                origin.start_recording(recording)
            if live is not None:
                origin.start_live(live)
            origin.set_recorded(user_id, recorded)
            origin.set_noise_suppression(noise_suppression)
        try:
            origin.add(member)
        except StageFull as exc:
            await peer.close()
            await self._drop_if_empty(space_id)
            raise MediaError(str(exc)) from exc
        return answer

    async def _restart(
        self,
        origin: Origin,
        member: Member,
        role: Role,
        offer_sdp: str,
        *,
        muted: bool,
        recorded: bool,
    ) -> str:
        """ICE restart by replacement: aiortc has no ``restartIce`` and aioice cannot restart a
        connection, so a participant whose network changed or whose connection failed offers
        again and gets a new peer. It is answered beside the old one, which serves on (it may
        still work: a second network) until the new one connects; then the new peer takes the
        member's place between two ticks (``_take_over``): role, mute, stage seat and recording
        choice are kept, and the participant never leaves the mix."""
        space_id, user_id = origin.space_id, member.user_id
        stale = origin.pending.pop(user_id, None)  # an earlier restart still connecting
        if stale is not None:
            await stale.close()
        try:  # the database's standing, as a first join would apply it
            if member.role != role:
                origin.set_role(user_id, role)
            if member.muted != muted:
                origin.set_muted(user_id, muted)
        except StageFull as exc:
            raise MediaError(str(exc)) from exc
        if not origin.relay:
            origin.set_recorded(user_id, recorded)
        holder: list[Member] = []

        def connected() -> None:
            self._take_over(origin, user_id, peer, holder)

        peer = Peer(
            label=f"space {space_id} user {user_id} (restart)",
            ice_servers=list(self.config.ice_servers),
            accept_media=lambda: bool(holder) and holder[0].mixable,
            on_gone=lambda p, reason: self._peer_gone(space_id, user_id, p, reason),
            connect_timeout=self.config.connect_timeout,
            red=self.config.red_distance > 0,
            red_first=self._red_first(origin, user_id),
            max_bitrate=self._max_bitrate(origin, user_id),
            on_connected=connected,
            on_closed=self._gc.peer_closed if self._gc else None,
        )
        origin.pending[user_id] = peer
        try:
            answer = await peer.answer(offer_sdp)
        except BaseException as exc:
            if origin.pending.get(user_id) is peer:
                del origin.pending[user_id]
            aborted = peer.closed
            await peer.close()
            if isinstance(exc, OfferError):
                raise MediaError(str(exc)) from exc
            if aborted and isinstance(exc, Exception):
                raise JoinAborted("removed while joining") from exc
            raise
        if origin.pending.get(user_id) is not peer or self._origins.get(space_id) is not origin:
            await peer.close()
            raise JoinAborted("removed while joining")
        return answer

    def _take_over(self, origin: Origin, user_id: Key, peer: Peer, holder: list[Member]) -> None:
        """A restart's peer is connected: it replaces the old one before the next tick."""
        current = self._origins.get(origin.space_id) is origin
        if origin.pending.get(user_id) is not peer or not current:
            self._spawn_close(peer)  # kicked, replaced again, or the Space ended meanwhile
            return
        del origin.pending[user_id]
        old_peer = origin.members[user_id].peer if user_id in origin.members else None
        member = origin.replace(user_id, peer)
        if member is None or old_peer is None:  # not reached: a removal also drops `pending`
            self._spawn_close(peer)
            return
        holder.append(member)
        self._spawn_close(old_peer)
        if self._gc is not None:
            self._gc.peer_connected()
        logger.info("space %s user %s: connection restarted", origin.space_id, user_id)

    # -- permissions: applied before the first await --

    async def set_role(self, space_id: Key, user_id: Key, role: str) -> bool:
        """Move a participant on or off the stage; False if they have no media connection.

        On an edge, a listener brought on stage is dropped with reason "moved": their client
        offers again and that offer goes to the origin, where the stage is mixed."""
        origin = self._origins.get(space_id)
        if origin is None:
            return False
        if origin.relay and role != "listener":
            return await self._move(origin, user_id)
        try:
            return origin.set_role(user_id, _check_role(role))
        except StageFull as exc:
            raise MediaError(str(exc)) from exc

    async def set_muted(self, space_id: Key, user_id: Key, muted: bool) -> bool:
        """Host mute: the participant's audio leaves the mix from the next tick."""
        origin = self._origins.get(space_id)
        return origin.set_muted(user_id, muted) if origin is not None else False

    async def set_noise_suppression(self, space_id: Key, enabled: bool) -> bool:
        """Suppress noise in every speaker's audio before the mix (or stop) from the next tick.
        Returns whether suppression runs now: False when off, when the Space is not mixed here,
        or when this process has no suppressor library (``media.denoise``)."""
        origin = self._origins.get(space_id)
        if origin is None or origin.relay:
            return False
        return origin.set_noise_suppression(enabled)

    def suppressing(self, space_id: Key) -> bool:
        """Whether the Space's voices pass through noise suppression before the mix and the
        taps (captions then need no second pass)."""
        origin = self._origins.get(space_id)
        return origin is not None and origin.suppressing

    async def set_recorded(self, space_id: Key, user_id: Key, recorded: bool) -> bool:
        """Keep a participant's voice out of the recording (or back in) from the next tick;
        listeners keep hearing them."""
        origin = self._origins.get(space_id)
        if origin is None or origin.relay:
            return False
        origin.set_recorded(user_id, recorded)
        return True

    def live_writer(self, space_id: Key) -> LiveWriter | None:
        origin = self._origins.get(space_id)
        return origin.live if origin is not None else None

    def recorder(self, space_id: Key) -> Recorder | None:
        origin = self._origins.get(space_id)
        return origin.recorder if origin is not None else None

    async def kick(self, space_id: Key, user_id: Key, *, reason: str = "removed") -> bool:
        """Stop mixing and sending at once, then close the participant's connection."""
        origin = self._origins.get(space_id)
        if origin is None:
            return False
        member = origin.remove(user_id)
        pending = origin.pending.pop(user_id, None)
        peers = [p for p in (member.peer if member else None, pending) if p is not None]
        for peer in peers:
            await peer.close()
        if reason != "replaced":
            await self._drop_if_empty(space_id)
        return bool(peers)

    async def leave(self, space_id: Key, user_id: Key) -> bool:
        return await self.kick(space_id, user_id, reason="left")

    async def end_space(self, space_id: Key, *, ended: bool = False) -> None:
        """Stop the Space's origin here; ``ended``: the Space itself is over (not only empty
        on this worker), which live HLS players are told."""
        origin = self._origins.pop(space_id, None)
        if origin is None:
            return
        peers = await origin.stop(ended=ended)
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        if origin.recorder is not None:
            # Off the loop: the writer stores the last segment, the final playlist and the
            # summary, which a process exiting right after must not cut short.
            await asyncio.to_thread(origin.recorder.wait_closed, RECORDER_CLOSE_SECONDS)
        if origin.live is not None:
            await asyncio.to_thread(origin.live.wait_closed, RECORDER_CLOSE_SECONDS)

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(
            *(self.end_space(s) for s in list(self._origins)), return_exceptions=True
        )
        while self._closing:
            await asyncio.gather(*list(self._closing), return_exceptions=True)
        if self._gc is not None:
            self._gc.cancel()

    # -- edges --

    def relay(self, space_id: Key, packet: MixPacket) -> bool:
        """An edge's copy of the origin's listener packet: fan it out now (see Origin)."""
        origin = self._origins.get(space_id)
        if origin is None or not origin.relay:
            return False
        return origin.relay_packet(packet)

    def is_edge(self, space_id: Key) -> bool:
        origin = self._origins.get(space_id)
        return origin is not None and origin.relay

    def listeners(self, *, space_id: Key | None = None) -> int:
        """Listener connections here (every Space, or one), joins in progress included."""
        total = 0
        for key, origin in self._origins.items():
            if space_id is None or key == space_id:
                total += len(origin.pending)
                total += sum(1 for m in origin.members.values() if m.role == "listener")
        return total

    async def _move(self, origin: Origin, user_id: Key) -> bool:
        member = origin.members.get(user_id)
        if member is None:
            return False
        origin.remove(user_id)
        await member.peer.close()
        self._notify_gone(origin.space_id, user_id, "moved")
        await self._drop_if_empty(origin.space_id)
        return True

    async def _move_all(self, space_id: Key) -> None:
        origin = self._origins.pop(space_id, None)
        if origin is None:
            return
        users = list(origin.members)
        peers = await origin.stop()
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        for user_id in users:
            self._notify_gone(space_id, user_id, "moved")

    def _red_first(self, origin: Origin, user_id: Key) -> bool:
        """Ask for RED (list it first) from a participant whose uplink loses packets."""
        return self.config.red_from_speakers and user_id in origin.lossy_uplink

    def _max_bitrate(self, origin: Origin, user_id: Key) -> int | None:
        """Ask a participant whose uplink loses packets for a higher bit rate, for its FEC."""
        if self.config.lossy_speaker_bitrate and user_id in origin.lossy_uplink:
            return self.config.lossy_speaker_bitrate
        return None

    def _notify_gone(self, space_id: Key, user_id: Key, reason: str) -> None:
        self._notify(self._on_peer_gone, space_id, user_id, reason)

    @staticmethod
    def _notify(callback: PeerCallback | None, space_id: Key, user_id: Key, reason: str) -> None:
        if callback is not None:
            try:
                callback(space_id, user_id, reason)
            except Exception:
                logger.exception("%s callback failed", reason)

    # -- taps and levels --

    def add_audio_tap(self, tap: AudioTap) -> Callable[[], None]:
        """Call ``tap(space_id, user_id, pcm)`` with each stage member's 20 ms frame as mixed.

        Runs on the media loop every tick: hand the frame to a thread or queue, never block.
        Returns a function that removes the tap.
        """
        self._taps.append(tap)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._taps.remove(tap)

        return remove

    async def levels(self, maxsize: int = 64) -> AsyncIterator[LevelsEvent]:
        """Every Space's active-speaker levels (~4 Hz each); a slow reader loses the oldest."""
        queue: asyncio.Queue[LevelsEvent] = asyncio.Queue(maxsize)
        self._level_queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._level_queues.discard(queue)

    def _levels(self, event: LevelsEvent) -> None:
        if self._on_levels is not None:
            self._on_levels(event)
        for queue in self._level_queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    # -- introspection (tests, benchmarks, health) --

    def spaces(self) -> list[Key]:
        return list(self._origins)

    def participants(self, space_id: Key) -> dict[Key, dict[str, Any]]:
        origin = self._origins.get(space_id)
        if origin is None:
            return {}
        return {
            m.user_id: {
                "role": m.role,
                "muted": m.muted,
                "connected": m.peer.connected.is_set(),
                "can_send": m.peer.track is not None,
                "recorded": m.user_id not in origin.left_out,
            }
            for m in origin.members.values()
        }

    def applied_changes(self, space_id: Key) -> list[AppliedChange]:
        """The Space's latest role, mute and removal changes, with the tick each took effect."""
        origin = self._origins.get(space_id)
        return list(origin.applied) if origin is not None else []

    def rtp_sequence(self, space_id: Key, user_id: Key, index: int) -> int | None:
        """The RTP sequence number of tick ``index``'s packet to this participant, or None."""
        origin = self._origins.get(space_id)
        member = origin.members.get(user_id) if origin is not None else None
        out = member.peer.outbound if member is not None else None
        return None if out is None else (out.seq0 + index) & 0xFFFF

    async def wait_connected(self, space_id: Key, user_id: Key, within: float = 10.0) -> bool:
        """Wait until the participant's media flows (ICE + DTLS up); False on timeout or gone.
        During a restart, until the new connection has taken over."""
        origin = self._origins.get(space_id)
        member = origin.members.get(user_id) if origin is not None else None
        if origin is None or member is None:
            return False
        peer = origin.pending.get(user_id) or member.peer
        try:
            await asyncio.wait_for(peer.connected.wait(), within)
        except TimeoutError:
            return False
        return not peer.closed

    def connection(self, space_id: Key, user_id: Key) -> Any:
        """The participant's RTCPeerConnection (diagnostics and tests), or None."""
        origin = self._origins.get(space_id)
        member = origin.members.get(user_id) if origin is not None else None
        return member.peer.pc if member is not None else None

    def stats(self) -> dict[str, Any]:
        totals: dict[str, Any] = {
            "spaces": len(self._origins),
            "peers": 0,
            "ticks": 0,
            "skipped_ticks": 0,
            "listener_packets": 0,
            "stage_packets": 0,
            "dropped": 0,
            "cpu_seconds": time.process_time(),
            "kernel": fanout.kernel(),
            "noise_suppression": self.denoiser.name if self.denoiser else None,
        }
        per_space: dict[str, Any] = {}
        for space_id, origin in self._origins.items():
            s = origin.stats
            totals["peers"] += len(origin.members)
            for name in ("ticks", "skipped_ticks", "listener_packets", "stage_packets", "dropped"):
                totals[name] += getattr(s, name)
            per_space[str(space_id)] = {
                "delay_ms": s.delay_percentiles_ms(),
                "tick_last_ms": s.tick_last_percentiles_ms(),
                "tick_start_ms": s.tick_start_percentiles_ms(),
                "index": origin.index,
                "edge": origin.relay,
                "noise_suppression": origin.noise_suppression and self.denoiser is not None,
            }
        totals["per_space"] = per_space
        return totals

    def reset_stats(self) -> None:
        for origin in self._origins.values():
            origin.stats.reset()

    # -- internals --

    def _peer_gone(self, space_id: Key, user_id: Key, peer: Peer, reason: str) -> None:
        origin = self._origins.get(space_id)
        member = origin.members.get(user_id) if origin is not None else None
        restarting = origin.pending.get(user_id) if origin is not None else None
        if origin is not None and member is not None and restarting is not None:
            self._spawn_close(peer)
            if restarting is peer:  # the restart failed: the old connection may still serve
                del origin.pending[user_id]
                if not member.peer.closed:
                    return
                peer = member.peer
            else:  # the old one failed while its replacement connects: the seat is kept
                return
        if origin is None or member is None or member.peer is not peer:
            if not peer.closed:
                self._spawn_close(peer)
            return
        origin.remove(user_id)
        self._spawn_close(peer)
        logger.info("space %s user %s: media connection %s", space_id, user_id, reason)
        self._notify_gone(space_id, user_id, reason)
        if not origin.members and not origin.pending:
            task = asyncio.ensure_future(self._drop_if_empty(space_id))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _spawn_close(self, peer: Peer) -> None:
        task = asyncio.ensure_future(peer.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _drop_if_empty(self, space_id: Key) -> None:
        """An origin lives while it has participants; the next join starts a fresh one."""
        origin = self._origins.get(space_id)
        if origin is not None and not origin.members and not origin.pending:
            await self.end_space(space_id)
