"""The origin of one live Space: decode each stage member once, mix, encode once, fan out.

Everything here runs on the worker's event loop, driven by one 20 ms clock per Space. A tick takes
whatever each stage member's FIFO holds (a late or silent speaker is simply absent from that tick),
mixes with numpy, encodes one Opus packet for all listeners and one mix-minus packet per stage
member, and writes them with the direct loop of ``media.fanout``. Permission changes are plain
attribute writes between ticks, so they take effect on the next tick (at most 20 ms later).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from aiortc import clock
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from media import metrics, red
from media.config import MediaConfig
from media.denoise import Backend, Suppressor
from media.dsp import (
    FRAME_SAMPLES,
    FRAME_SECONDS,
    MIN_DBOV,
    Encoder,
    JitterFifo,
    LibOpusEncoder,
    OpusEncoder,
    PacketJitterBuffer,
    Pcm,
    dbov,
    dbov_one,
    frame_to_mono,
    to_int16,
)
from media.edge import MixPacket, MixPublisher
from media.fanout import Outbound, OutboundList, fan_out
from media.live import LiveSink, LiveWriter
from media.peer import Peer
from media.recording import Recorder, RecordingSink
from media.red import RedHistory

logger = logging.getLogger(__name__)

Role = Literal["speaker", "listener"]
ROLES: frozenset[str] = frozenset(("speaker", "listener"))
Key = Hashable


@dataclass(frozen=True)
class LevelsEvent:
    """Active-speaker levels of one Space, about four times a second."""

    space_id: Key
    levels: dict[Key, float]
    """Peak RMS level (dBov, -127 silence .. 0 full scale) of each stage member in the window."""
    speaking: list[Key]
    """Stage members above the speaking threshold, loudest first."""
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class AppliedChange:
    """A membership or permission change as the mix clock saw it (tests, diagnostics).

    ``index``: the first tick that runs with the change in force; ``at``: the loop time at which
    it was applied. A listener's packet of tick ``index`` is the first one the change shapes, so
    a test can check the change in media time (sequence numbers; with DTX, which leaves silent
    ticks unsent, timestamps), not in its own arrival times.
    """

    user_id: Key
    change: str
    index: int
    at: float


LevelsCallback = Callable[[LevelsEvent], None]
ReofferCallback = Callable[[Key, str], None]
"""(user_id, reason): ask that participant's client to offer again (a new connection, made
before the old one is closed); the next answer is shaped by what the origin learnt."""
AudioTap = Callable[[Key, Key, npt.NDArray[np.int16]], None]
"""(space_id, user_id, 20 ms of 48 kHz mono int16) for each stage member heard in a tick."""


FEC_MAX_LOSS_PCT = 20
"""In-band FEC is never sized for more loss than this, as libwebrtc's Opus encoder caps it
(``kMaxPacketLossFraction``): its bits come out of the frame, and past this the frame loses
more than the FEC gives back. Loss reports also run high for a while after RED congested a
link; with no cap, every listener's stream then carried 40 % FEC for half a minute."""
RED_ON_LOSS = 0.01
"""A receiver report of at least this much loss turns RED on for that peer."""
RED_OFF_CHECKS = 10
"""RED goes off after this many once-a-second checks in a row saw reports of no loss at all."""
RED_CONGESTED = 0.2
"""With RED on, reported loss this far above what turned it on (and at least twice it) means
the link drops RED's own bytes (a rate cap, a full queue: RED triples a packet at distance 2,
and a full link then loses a third or more). Random loss stays where it was; at 10 % over ~100
packets its estimate wanders by ±3 points, so a smaller margin took noise for congestion."""
RED_BACKOFF_TICKS = (500, 15_000)
"""After a congested try, RED waits 10 s before it may come back, doubling each time to 5 min."""

DTX_FRAME_BYTES = 2
"""With DTX, libopus codes a frame that need not be sent (silence, between its periodic
comfort-noise updates) in at most this many bytes: such a tick sends nothing, the stream's
sequence numbers go on without a gap and its timestamps jump, and the receiver plays comfort
noise (how WebRTC's own Opus DTX looks on the wire)."""

UPLINK_CHECK_TICKS = 10
"""How often (200 ms) speakers' uplinks are looked at (``Origin._watch_uplinks``)."""
UPLINK_LOSS = "uplink_loss"
"""A ``reoffer``'s reason: the speaker's packets are lost, the next answer asks for RED and a
higher bit rate."""
UPLINK_FULL = "uplink_full"
"""A ``reoffer``'s reason: what the speaker sends since then queues on their uplink, the next
answer asks for a plain stream."""

OWN_STREAM_HOLD_TICKS = 50
"""How long (1 s) a talker keeps hearing their own mix-minus stream after their last frame: the
switch back to the shared stream costs their decoder a glitch, so it waits for a real pause."""


class Member:
    def __init__(self, user_id: Key, role: Role, muted: bool, peer: Peer) -> None:
        self.user_id = user_id
        self.role: Role = role
        self.muted = muted
        self.peer = peer
        self.fifo = JitterFifo()
        self.encoder: Encoder | None = None
        # The last tick this member hears through `encoder` (their mix-minus stream); -1: never.
        self.own_until = -1
        # What this member's own stream carried lately, for RED (stage members; media.red).
        self.sent: RedHistory | None = None
        self.red_clean_checks = 0  # checks in a row with no loss reported, while on RED
        self.red_base_loss = 0.0  # the reported loss that turned RED on
        self.red_blocked_until = 0  # no RED before this tick (a congested try)
        self.red_backoff = RED_BACKOFF_TICKS[0]
        self.dtx_ticks = 0  # ticks that sent this member nothing (DTX): their seq does not move
        # With `speaker_fec`: the member's packets, decoded at the tick (replaces `fifo`).
        self.packets: PacketJitterBuffer | None = None
        # After a restart (`Origin.replace`): the old connection's packets, played out first.
        self.draining: PacketJitterBuffer | None = None
        self.level_peak = MIN_DBOV
        self.reader: asyncio.Task[None] | None = None
        # RNNoise state (media.denoise), made on the first tick heard with suppression on.
        self.suppressor: Suppressor | None = None

    @property
    def mixable(self) -> bool:
        return self.role == "speaker" and not self.muted

    def forget_voice(self) -> None:
        """Drop what was buffered of their voice (a mute, a move off or onto the stage): it
        must not play later."""
        self.fifo.clear()
        if self.packets is not None:
            self.packets.clear()
        self.draining = None
        self.level_peak = MIN_DBOV  # the next levels event must not show them speaking


class OriginStats:
    """Counters since the last reset, and delays in bounded rings (the most recent samples).

    ``delays``: from a tick's scheduled time to the ``sendto`` of a sample of its listener
    packets (every 50th and the last), i.e. the delay the worker adds to a listener packet.
    ``tick_last``: the same for the last packet of each tick (the worst one).
    """

    RING = 32_768

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.ticks = 0
        self.skipped_ticks = 0
        self.listener_packets = 0
        self.stage_packets = 0
        self.dropped = 0
        self.delays = np.zeros(self.RING, dtype=np.float64)
        self.n_delays = 0
        self.tick_last = np.zeros(self.RING, dtype=np.float64)
        self.tick_start = np.zeros(self.RING, dtype=np.float64)
        self.n_ticks_timed = 0

    def record_tick(
        self, deadline: float, started: float, marks: list[float], finished: float
    ) -> None:
        for mark in marks or (finished,):
            self.delays[self.n_delays % self.RING] = mark - deadline
            self.n_delays += 1
        slot = self.n_ticks_timed % self.RING
        self.tick_last[slot] = (marks[-1] if marks else finished) - deadline
        self.tick_start[slot] = started - deadline
        self.n_ticks_timed += 1

    @staticmethod
    def _percentiles(ring: npt.NDArray[np.float64], count: int) -> dict[str, float]:
        n = min(count, len(ring))
        if not n:
            return {"p50": math.nan, "p99": math.nan, "max": math.nan}
        d = ring[:n] * 1000.0
        return {
            "p50": float(np.percentile(d, 50)),
            "p99": float(np.percentile(d, 99)),
            "max": float(d.max()),
        }

    def delay_percentiles_ms(self) -> dict[str, float]:
        return self._percentiles(self.delays, self.n_delays)

    def tick_last_percentiles_ms(self) -> dict[str, float]:
        return self._percentiles(self.tick_last, self.n_ticks_timed)

    def tick_start_percentiles_ms(self) -> dict[str, float]:
        """How late the loop woke up for a tick: the part of the delay that is not our work."""
        return self._percentiles(self.tick_start, self.n_ticks_timed)


class Origin:
    """A Space's mix on this worker; with ``relay``, an edge of a Space mixed elsewhere.

    An edge (``relay=True``) has listeners only and no clock: each packet the origin publishes
    is handed to ``relay_packet`` and fanned out like the origin's own listener packets.
    """

    def __init__(
        self,
        space_id: Key,
        config: MediaConfig,
        *,
        on_levels: LevelsCallback,
        taps: list[AudioTap],
        relay: bool = False,
        publisher: MixPublisher | None = None,
        denoiser: Backend | None = None,
        on_reoffer: ReofferCallback | None = None,
    ) -> None:
        self.space_id = space_id
        self.config = config
        self.relay = relay
        self.publisher = publisher
        self.epoch = random.randrange(1, 1 << 32)
        self.members: dict[Key, Member] = {}
        self.pending: dict[Key, Peer] = {}
        self.stats = OriginStats()
        self.index = 0
        self.applied: deque[AppliedChange] = deque(maxlen=64)
        """The latest changes (role, mute, removal), oldest first; never on the tick's path."""
        self._on_levels = on_levels
        self._on_reoffer = on_reoffer
        self.lossy_uplink: set[Key] = set()
        """Participants whose uplink loses packets (``_watch_uplinks``): answered with RED first
        and ``lossy_speaker_bitrate``."""
        self.plain_uplink: set[Key] = set()
        """Participants never to ask for more upload again: their uplink could not carry it."""
        self._taps = taps
        self._encoder = self._new_encoder()
        self._listener_outs: list[Outbound] = OutboundList()
        # Listeners on RED, by the Opus payload type their redundant blocks name, and what the
        # listeners' stream carried lately (media.red).
        self._red_outs: list[tuple[int, OutboundList]] = []
        self._listener_sent = RedHistory(config.red_distance, FRAME_SAMPLES)
        self._listener_dtx_ticks = 0  # ticks the listeners' stream sent nothing (DTX)
        self._stage: list[Member] = []
        self._all_outs: list[Outbound] = []
        self._rtcp_cursor = 0
        self._levels_every = max(1, round(config.levels_interval / FRAME_SECONDS))
        self._next_levels = 0
        self._next_adapt = 0
        self._next_uplink_check = 0
        self._silence: Pcm = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        self._task: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        # Edge: the origin instance relayed, how its tick index maps onto ours, and the
        # smallest transit seen (the baseline a late packet is measured against).
        self._relay_epoch = 0
        self._relay_offset = 0
        self._relay_last = -1
        self._relay_ts_offset = 0
        self.relay_ts = 0
        self._relay_deadline = 0.0
        self._relay_floor = math.inf
        # Recording (media.recording): the listeners' packet, or while a stage member keeps
        # their voice out, a second mix without them through an encoder of its own.
        self.recorder: Recorder | None = None
        self.left_out: set[Key] = set()
        self._recording_encoder: Encoder | None = None
        # Live HLS (media.live): the listeners' packet again, for players behind a CDN.
        self.live: LiveWriter | None = None
        # Noise suppression per speaker (media.denoise): the Space's switch, and the library
        # this process loaded (None: not installed, so the switch has no effect).
        self.noise_suppression = False
        self._denoiser = denoiser

    def _new_encoder(self) -> Encoder:
        c = self.config
        if c.opus_fec or c.opus_dtx:
            # libopus directly: the expected loss of a running encoder can change.
            return LibOpusEncoder(
                bitrate=c.bitrate, complexity=c.opus_complexity, fec=c.opus_fec, dtx=c.opus_dtx
            )
        return OpusEncoder(bitrate=c.bitrate, complexity=c.opus_complexity)

    def _adapt_red(self, index: int) -> None:
        """RED for a peer that negotiated it, while its reports show loss: on at a report of
        ``RED_ON_LOSS``, off after ``RED_OFF_CHECKS`` seconds of reports of none. Random loss
        stays about the same with RED on; loss that grows with it is RED's own bytes being
        dropped (``RED_CONGESTED``), so RED goes off and backs off before it tries again:
        redundancy never makes a full link worse."""
        changed = False
        for member in self.members.values():
            out = member.peer.outbound
            if out is None or out.red_pt is None:
                continue
            loss = member.peer.remote_loss
            if out.red:
                base = member.red_base_loss
                if loss >= max(2 * base, base + RED_CONGESTED):
                    out.red = False
                    changed = True
                    member.red_blocked_until = index + member.red_backoff
                    member.red_backoff = min(2 * member.red_backoff, RED_BACKOFF_TICKS[1])
                elif loss > 0:
                    member.red_clean_checks = 0
                else:
                    member.red_clean_checks += 1
                    if member.red_clean_checks >= RED_OFF_CHECKS:
                        out.red = False
                        changed = True
            elif loss >= RED_ON_LOSS and index >= member.red_blocked_until:
                out.red = True
                changed = True
                member.red_base_loss = loss
                member.red_clean_checks = 0
        if changed:
            self._rebuild()

    def _adapt_fec(self) -> None:
        """Set each encoder's expected loss from its receivers' latest RTCP reports, about once
        a second: up at once, down by one point a second (a report covers one second only).

        The listeners' encoder follows their 90th percentile, so that a few very bad links do
        not make every listener pay for redundancy they do not need. For a receiver on RED the
        loss that counts is what RED leaves (every copy of a frame lost): in-band FEC takes its
        bits from the frame itself, and at 32 kb/s sizing it for the raw loss costs a RED
        listener more quality than the FEC gives back (bench/RESULTS.md, "Networks").
        """
        losses = sorted(
            self._expected_loss(m) for m in self.members.values() if m.role == "listener"
        )
        encoder = self._encoder
        if losses and isinstance(encoder, LibOpusEncoder):
            p90 = losses[min(len(losses) - 1, int(0.9 * len(losses)))]
            encoder.set_packet_loss(max(p90, encoder.packet_loss - 1))
        for member in self._stage:
            own = member.encoder
            if isinstance(own, LibOpusEncoder):
                own.set_packet_loss(max(self._expected_loss(member), own.packet_loss - 1))

    def _expected_loss(self, member: Member) -> int:
        """The loss (%) to size a member's in-band FEC for: what they report, rounded up; on
        RED, what RED leaves if losses are independent (every copy of a frame lost), rounded."""
        loss = member.peer.remote_loss
        out = member.peer.outbound
        if out is not None and out.red:
            return round(100 * loss ** (self.config.red_distance + 1))
        return min(FEC_MAX_LOSS_PCT, math.ceil(loss * 100))

    def _decode_here(self, member: Member) -> None:
        """Take a member's RTP before aiortc's jitter buffer and decode it with FEC recovery.

        The decoder comes with the first packet heard, so a listener who never speaks costs
        no libopus state.
        """

        def on_rtp(packet: RtpPacket) -> None:
            if member.mixable and packet.payload:
                packets = member.packets
                if packets is None:
                    packets = member.packets = PacketJitterBuffer()
                seq = packet.sequence_number
                if packet.payload_type != member.peer.red_pt:
                    packets.push(seq, packet.payload)
                    return
                try:
                    pt, primary, blocks = red.unpack(packet.payload)
                except red.RedError:
                    return  # not RED after all: nothing here to decode
                for offset, block_pt, block in blocks:  # oldest first, as they were sent
                    back, rest = divmod(offset, FRAME_SAMPLES)
                    if block and block_pt == pt and not rest and back:
                        packets.push((seq - back) & 0xFFFF, block, copy=True)
                if primary:
                    packets.push(seq, primary)

        member.peer.rtp_sink = on_rtp

    # -- membership, all synchronous: effective from the next tick --

    def start(self) -> None:
        if not self.relay:
            self._task = asyncio.ensure_future(self._run())

    def add(self, member: Member) -> None:
        if member.role == "speaker":
            self._check_stage_room(member.user_id)
            member.encoder = self._new_encoder()
        member.sent = RedHistory(self.config.red_distance, FRAME_SAMPLES)
        self.members[member.user_id] = member
        if self.config.speaker_fec:
            self._decode_here(member)
        if member.peer.track is not None:
            member.reader = asyncio.ensure_future(self._read(member))
        self._rebuild()

    def replace(self, user_id: Key, peer: Peer) -> Member | None:
        """A restart's new connection takes the member's place (``MediaWorker._take_over``),
        with their role, mute and seat, and without a hole in their voice: what the old
        connection's buffer holds (packets still in flight land there until it closes) plays
        out first, then the new one's from about the same depth (``_pop_voice``). Through
        aiortc's decoder, the decoded frames simply go on in the same FIFO."""
        old = self.remove(user_id)
        if old is None:
            return None
        member = Member(user_id, old.role, old.muted, peer)
        member.fifo = old.fifo
        member.draining = old.packets
        member.level_peak = old.level_peak
        self.add(member)  # cannot be StageFull: the old member's seat was freed just now
        return member

    def remove(self, user_id: Key) -> Member | None:
        member = self.members.pop(user_id, None)
        if member is not None:
            if member.reader is not None:
                member.reader.cancel()
            self._drop_suppressor(member)
            if member.peer.outbound is not None:
                member.peer.outbound.ready = False  # the peer's close() releases the socket
            self._rebuild()
            self._record(user_id, "removed")
        return member

    def set_role(self, user_id: Key, role: Role) -> bool:
        member = self.members.get(user_id)
        if member is None:
            return False
        if role == member.role:
            return True
        if role == "speaker":
            self._check_stage_room(user_id)
        out = member.peer.outbound
        if out is not None:
            # With DTX, the stage's and the audience's streams skip different ticks: the
            # member's sequence numbers go on from where they were, without a jump.
            skipped = {"speaker": member.dtx_ticks, "listener": self._listener_dtx_ticks}
            out.shift_sequence(skipped[role] - skipped[member.role])
        member.own_until = -1
        if role == "speaker":
            member.encoder = self._new_encoder()
        else:
            member.encoder = None
            self._drop_suppressor(member)
        member.role = role
        member.forget_voice()
        self._rebuild()
        self._record(user_id, f"role={role}")
        return True

    def set_noise_suppression(self, enabled: bool) -> bool:
        """The Space's switch, from the next tick; returns whether suppression now runs (False
        when off, or when this process has no suppressor library)."""
        if enabled != self.noise_suppression:
            self.noise_suppression = enabled
            if not enabled:
                for member in self.members.values():
                    self._drop_suppressor(member)
            self._record(self.space_id, f"noise_suppression={enabled}")
        return self.suppressing

    @property
    def suppressing(self) -> bool:
        """Whether this tick's voices (what the taps get too) went through the suppressor."""
        return self.noise_suppression and self._denoiser is not None

    @staticmethod
    def _drop_suppressor(member: Member) -> None:
        # Off, off stage or gone: free the C state now; a later stream starts a fresh one.
        if member.suppressor is not None:
            member.suppressor.close()
            member.suppressor = None

    def set_muted(self, user_id: Key, muted: bool) -> bool:
        member = self.members.get(user_id)
        if member is None:
            return False
        member.muted = muted
        member.forget_voice()
        self._record(user_id, f"muted={muted}")
        return True

    def start_recording(self, sink: RecordingSink) -> Recorder:
        """Record from the next tick on (one part of the Space's recording)."""
        if self.recorder is None:
            wall = time.time()
            self.recorder = Recorder(
                sink,
                part=f"{int(wall * 1000):013d}-{self.epoch:08x}",
                wall_start=wall,
                first_index=self.index,
            )
            self._refresh_recording_mix()
        return self.recorder

    def start_live(self, sink: LiveSink) -> LiveWriter:
        """Write the listeners' mix as live HLS from the next tick on."""
        if self.live is None:
            self.live = LiveWriter(
                sink, epoch=self.epoch, first_index=self.index, wall_start=time.time()
            )
        return self.live

    def set_recorded(self, user_id: Key, recorded: bool) -> None:
        """Keep a member's voice out of the recording, or back in, from the next tick."""
        if (user_id not in self.left_out) == recorded:
            return  # every join says it: only a change belongs in `applied`
        if recorded:
            self.left_out.discard(user_id)
        else:
            self.left_out.add(user_id)
        self._refresh_recording_mix()
        self._record(user_id, f"recorded={recorded}")

    def _refresh_recording_mix(self) -> None:
        # The second encode runs only while someone on stage is left out; a fresh encoder
        # when it starts, since its state must follow one continuous stream.
        wanted = self.recorder is not None and any(m.user_id in self.left_out for m in self._stage)
        if not wanted:
            self._recording_encoder = None
        elif self._recording_encoder is None:
            self._recording_encoder = self._new_encoder()
        if self.recorder is not None:
            self.recorder.note_left_out({m.user_id for m in self._stage} & self.left_out)

    def _record(self, user_id: Key, change: str) -> None:
        # Between ticks: the next tick to run is ``self.index`` (or later, if it must skip).
        self.applied.append(AppliedChange(user_id, change, self.index, self._loop.time()))

    def _check_stage_room(self, user_id: Key) -> None:
        others = sum(
            1 for m in self.members.values() if m.role == "speaker" and m.user_id != user_id
        )
        if others >= self.config.max_stage:
            raise StageFull(f"at most {self.config.max_stage} stage members per Space")

    def _rebuild(self) -> None:
        members = list(self.members.values())
        self._stage = [m for m in members if m.role == "speaker"]
        listening = [m.peer.outbound for m in members if m.role == "listener" and m.peer.outbound]
        self._listener_outs = OutboundList(o for o in listening if not o.red)
        by_pt: dict[int, OutboundList] = {}
        for o in listening:
            if o.red:
                by_pt.setdefault(o.opus_pt, OutboundList()).append(o)
        self._red_outs = list(by_pt.items())
        self._all_outs = [m.peer.outbound for m in members if m.peer.outbound]
        self._refresh_recording_mix()

    async def _read(self, member: Member) -> None:
        """Drain one member's decoded track; keep the audio only while the member is mixable."""
        track = member.peer.track
        assert track is not None
        try:
            while True:
                frame = await track.recv()
                if member.mixable:
                    member.fifo.push(frame_to_mono(frame))  # type: ignore[arg-type]
        except (MediaStreamError, asyncio.CancelledError):
            pass

    # -- the clock --

    async def _run(self) -> None:
        loop = self._loop
        deadline = loop.time()
        try:
            while True:
                now = loop.time()
                if now < deadline:
                    await asyncio.sleep(deadline - now)
                late_ticks = int((loop.time() - deadline) / FRAME_SECONDS)
                if late_ticks >= self.config.max_late_ticks:
                    # Never burst to catch up: skipped ticks are lost packets, which every
                    # receiver conceals, rather than a delay that would grow for everyone.
                    self.index += late_ticks
                    deadline += late_ticks * FRAME_SECONDS
                    self.stats.skipped_ticks += late_ticks
                    metrics.skipped(metrics.ORIGIN, late_ticks)
                try:
                    self._tick(deadline)
                except Exception:
                    logger.exception("space %s: mix tick %d failed", self.space_id, self.index)
                self.index += 1
                deadline += FRAME_SECONDS
        except asyncio.CancelledError:
            pass

    def _tick(self, deadline: float) -> None:
        started = self._loop.time()
        index = self.index
        rtp_ts = index * FRAME_SAMPLES
        stats = self.stats
        counted = metrics.counts(stats)

        heard: list[Member] = []
        frames: list[Pcm] = []
        denoiser = self._denoiser if self.noise_suppression else None
        for member in self._stage:
            if member.mixable:
                pcm = self._pop_voice(member)
                if pcm is not None:
                    if denoiser is not None:
                        # Before the mix, so levels, captions and recordings hear it too.
                        suppressor = member.suppressor
                        if suppressor is None:
                            suppressor = member.suppressor = Suppressor(denoiser)
                        pcm = suppressor.process(pcm)
                    heard.append(member)
                    frames.append(pcm)
        own: dict[Key, Pcm] = {}
        if frames:
            stacked = np.stack(frames)
            total: Pcm = stacked.sum(axis=0)
            for member, pcm, level in zip(heard, frames, dbov(stacked), strict=True):
                own[member.user_id] = pcm
                member.level_peak = max(member.level_peak, float(level))
        else:
            total = self._silence

        # One encode for everyone who hears the plain mix: listeners, and stage members who
        # have added nothing for a second (their mix-minus is the mix). An encode per talker.
        payloads = self._encoder.encode(to_int16(total))
        shared = payloads[0] if payloads else None
        mix_level = int(-dbov_one(total)) if frames else 127

        # Stage members first: the conversation is theirs, and there are at most 13.
        for member in self._stage:
            out = member.peer.outbound
            if out is None or not out.ready or member.encoder is None:
                continue
            mine = own.get(member.user_id)
            if mine is not None:
                member.own_until = index + OWN_STREAM_HOLD_TICKS
            if index > member.own_until:
                payload, level = shared, mix_level
            else:
                # Through their own encoder even in a tick they add nothing to (a late packet,
                # a short pause): their decoder follows one encoder's state, and a packet from
                # the other encoder in between would throw it off for ~100 ms of what they hear.
                minus = total if mine is None else total - mine
                encoded = member.encoder.encode(to_int16(minus))
                payload = encoded[0] if encoded else None
                level = int(-dbov_one(minus))
            if payload is not None and self._dtx_silence(payload):
                member.dtx_ticks += 1
            elif payload is not None:
                history = member.sent
                wire = payload
                if history is not None:
                    if out.red:
                        wire = history.wrap(out.opus_pt, rtp_ts, payload)
                    history.add(rtp_ts, payload)
                sent, dropped = fan_out((out,), index - member.dtx_ticks, rtp_ts, wire, level)
                stats.stage_packets += sent
                stats.dropped += dropped

        marks: list[float] = []
        if shared is not None:
            self._send_listeners(index, rtp_ts, shared, mix_level, marks)
        publisher = self.publisher
        if shared is not None and publisher is not None and publisher.wanted(self.space_id):
            # After our own listeners: the edges' copy waits for nobody here.
            wall = time.time() - (self._loop.time() - deadline)
            publisher.offer(self.space_id, MixPacket(self.epoch, index, mix_level, wall, shared))
        live = self.live
        if live is not None and shared is not None:
            live.add(index, shared)
        recorder = self.recorder
        if recorder is not None:
            self._record_tick(recorder, index, heard, own, total, shared)
        stats.ticks += 1
        now = self._loop.time()
        stats.record_tick(deadline, started, marks, now)
        metrics.tick_done(now - started, stats, counted)  # once per tick, never per packet

        if self._taps and heard:
            for member in heard:
                pcm16 = to_int16(own[member.user_id])
                for tap in self._taps:
                    try:
                        tap(self.space_id, member.user_id, pcm16)
                    except Exception:
                        logger.exception("audio tap failed")

        self._sender_reports(rtp_ts + round((now - deadline) * 48_000))
        if index >= self._next_levels:
            # Not "index % n": skipped ticks must not skip an emission.
            self._next_levels = index + self._levels_every
            self._emit_levels()
        self._adapt(index)

    @staticmethod
    def _pop_voice(member: Member) -> Pcm | None:
        """The member's next 20 ms: from their packet buffer, or, after a restart, from the old
        connection's until it runs dry; the new buffer then starts at its newest packets, as
        deep as the old one played (the two connections carried the same voice meanwhile)."""
        draining = member.draining
        if draining is not None:
            pcm = draining.pop_held()
            if pcm is not None:
                return pcm
            member.draining = None
            if member.packets is not None:
                member.packets.start_at_newest()
        packets = member.packets
        return member.fifo.pop() if packets is None else packets.pop()

    def _adapt(self, index: int) -> None:
        """About once a second: who gets RED, then FEC strength, from the latest reports; five
        times a second: what speakers' uplinks need.

        RED first: FEC is sized for what RED leaves, so a listener's first lossy report must
        find RED already on. Sized the other way round, the report raised the shared encoder's
        FEC to the raw loss, and it came down a point a second: at 5 % loss every listener's
        voice carried FEC bits it did not need for five seconds (bench/RESULTS.md, "Session 13").
        """
        if index >= self._next_adapt:
            self._next_adapt = index + 50
            if self.config.red_distance:
                self._adapt_red(index)
            if self.config.opus_fec:
                self._adapt_fec()
        if index >= self._next_uplink_check:
            self._next_uplink_check = index + UPLINK_CHECK_TICKS
            self._watch_uplinks()

    def _watch_uplinks(self) -> None:
        """More from a speaker's uplink while it needs it and carries it. A speaker is first
        answered for a plain stream: RED after Opus (browsers then send Opus with in-band FEC)
        at the browser's own bit rate (32 kb/s). Once the speaker's packets show loss
        (``RED_ON_LOSS``), they are asked to offer again (``on_reoffer``) and the new answer
        lists RED first, so that a lost packet comes back whole from the next one, and asks
        for ``lossy_speaker_bitrate``, which pays for the FEC bits the browser then takes out
        of each frame. Both cost upload (RED ~30 kb/s, 48 kb/s ~16 more): if their packets
        then stand in a queue (``Uplink.standing``), the uplink cannot carry it, and they are
        asked again and answered plainly for the rest of the Space. The answer is all that
        decides what a browser sends, hence the re-offers (the client makes the new
        connection before it closes the old one, and ``replace`` leaves no hole)."""
        config = self.config
        if self._on_reoffer is None or not (
            config.red_from_speakers or config.lossy_speaker_bitrate
        ):
            return
        now = time.monotonic()
        for member in self._stage:
            peer, user_id = member.peer, member.user_id
            if user_id in self.plain_uplink:
                continue
            if peer.upload_raised:
                if peer.uplink.standing(now):
                    self.lossy_uplink.discard(user_id)
                    self.plain_uplink.add(user_id)
                    queued = f"{1000 * peer.uplink.delay(now):.0f} ms of queue"
                    self._ask_reoffer(member, UPLINK_FULL, queued)
            elif user_id not in self.lossy_uplink and (
                config.lossy_speaker_bitrate or peer.red_pt is not None
            ):
                loss = peer.uplink.loss()
                if loss >= RED_ON_LOSS:
                    self.lossy_uplink.add(user_id)
                    self._ask_reoffer(member, UPLINK_LOSS, f"{100 * loss:.1f} % lost")

    def _ask_reoffer(self, member: Member, reason: str, why: str) -> None:
        assert self._on_reoffer is not None
        logger.info(
            "space %s user %s: %s, asking for a new offer (%s)",
            self.space_id,
            member.user_id,
            why,
            reason,
        )
        self._on_reoffer(member.user_id, reason)

    def _dtx_silence(self, payload: bytes) -> bool:
        return self.config.opus_dtx and len(payload) <= DTX_FRAME_BYTES

    def _send_listeners(
        self, index: int, rtp_ts: int, payload: bytes, level: int, marks: list[float]
    ) -> None:
        """The listeners' packet of this tick to all of them: as it is, and wrapped once per
        Opus payload type for those on RED; nothing in DTX silence."""
        if self._dtx_silence(payload):
            self._listener_dtx_ticks += 1
            return
        stats = self.stats
        index -= self._listener_dtx_ticks
        sent, dropped = fan_out(self._listener_outs, index, rtp_ts, payload, level, marks=marks)
        for opus_pt, outs in self._red_outs:
            wire = self._listener_sent.wrap(opus_pt, rtp_ts, payload)
            more, lost = fan_out(outs, index, rtp_ts, wire, level, marks=marks)
            sent, dropped = sent + more, dropped + lost
        self._listener_sent.add(rtp_ts, payload)
        stats.listener_packets += sent
        stats.dropped += dropped

    def _record_tick(
        self,
        recorder: Recorder,
        index: int,
        heard: list[Member],
        own: dict[Key, Pcm],
        total: Pcm,
        shared: bytes | None,
    ) -> None:
        encoder = self._recording_encoder
        if encoder is None:
            payload = shared  # the listeners' packet: recording costs no encode
        else:
            recorded = total
            for member in heard:
                if member.user_id in self.left_out:
                    recorded = recorded - own[member.user_id]
            encoded = encoder.encode(to_int16(recorded))
            payload = encoded[0] if encoded else None
        if payload is not None:
            recorder.add(index, payload)

    def relay_packet(self, packet: MixPacket) -> bool:
        """Edge: fan one of the origin's listener packets out to our listeners now.

        Across a new origin (another epoch) the listener's stream goes on: the next sequence
        number, and the timestamp advanced by the time that passed (a pause, as after silence
        suppression). A packet older than the last one sent, or later than ``max_late_ticks``
        ticks behind the fastest transit seen, is dropped (the same rule as the origin's clock:
        a gap, never a growing delay). Returns whether it was sent.
        """
        stats = self.stats
        arrived = time.time()
        transit = arrived - packet.deadline
        if packet.epoch != self._relay_epoch:
            base = packet.index * FRAME_SAMPLES
            if self._relay_epoch:
                elapsed = round((packet.deadline - self._relay_deadline) * 48_000)
                self._relay_offset = self._relay_last + 1 - packet.index
                self._relay_ts_offset = self.relay_ts + max(FRAME_SAMPLES, elapsed) - base
            self._relay_epoch = packet.epoch
            self._relay_floor = math.inf
        self._relay_floor = min(self._relay_floor, transit)
        index = packet.index + self._relay_offset
        if index <= self._relay_last:
            stats.skipped_ticks += 1
            metrics.skipped(metrics.EDGE)
            return False
        if transit - self._relay_floor > self.config.max_late_ticks * FRAME_SECONDS:
            stats.skipped_ticks += 1
            metrics.skipped(metrics.EDGE)
            return False
        now = self._loop.time()
        deadline = now - transit  # the origin's tick time on our loop's clock
        self.index = self._relay_last = index
        rtp_ts = self.relay_ts = packet.index * FRAME_SAMPLES + self._relay_ts_offset
        self._relay_deadline = packet.deadline
        marks: list[float] = []
        before = stats.listener_packets, stats.dropped
        self._send_listeners(index, rtp_ts, packet.payload, packet.level, marks)
        sent, dropped = stats.listener_packets - before[0], stats.dropped - before[1]
        stats.ticks += 1
        finished = self._loop.time()
        stats.record_tick(deadline, now, marks, finished)
        metrics.relayed(finished - now, sent, dropped)
        self._adapt(index)
        self._sender_reports(rtp_ts + round((finished - deadline) * 48_000))
        return True

    def _sender_reports(self, rtp_now: int) -> None:
        """One RTCP SR per peer about every second, spread evenly over the ticks."""
        outs = self._all_outs
        if not outs:
            return
        per_tick = -(-len(outs) // 50)
        start = self._rtcp_cursor % len(outs)
        self._rtcp_cursor = start + per_tick
        ntp = 0
        for out in outs[start : start + per_tick]:
            if out.ready and self.index >= out.next_report:
                out.next_report = self.index + 50
                ntp = ntp or clock.current_ntp_time()
                out.sender_report(rtp_now, ntp)

    def _emit_levels(self) -> None:
        levels = {m.user_id: m.level_peak for m in self._stage}
        for m in self._stage:
            m.level_peak = MIN_DBOV
        if not levels:
            return
        threshold = self.config.speaking_threshold_dbov
        speaking = sorted(
            (m.user_id for m in self._stage if m.mixable and levels[m.user_id] > threshold),
            key=lambda u: -levels[u],
        )
        if self.recorder is not None:
            self.recorder.note_speaking(
                [u for u in speaking if u not in self.left_out],
                self._levels_every * FRAME_SECONDS,
                self.index,
            )
        try:
            self._on_levels(LevelsEvent(self.space_id, levels, speaking))
        except Exception:
            logger.exception("levels callback failed")

    async def stop(self, *, ended: bool = False) -> list[Peer]:
        """Stop the clock and detach every peer (the caller closes them). ``ended``: the Space
        is over, so live players are told the stream ends."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.live is not None:
            self.live.close(ended=ended)
        if self.recorder is not None:
            self.recorder.close()  # its writer thread finishes the part by itself
        peers = [m.peer for m in self.members.values()] + list(self.pending.values())
        for user_id in list(self.members):
            self.remove(user_id)
        self.pending.clear()
        return peers


class StageFull(RuntimeError):
    pass
