"""One participant's RTCPeerConnection on the worker side.

The worker answers the client's offer with a single Opus audio transceiver, plus RED (RFC 2198,
``media.red``) when the offer has it for that Opus stream and the worker's ``red_distance`` is not
0: the origin then sends RED to a peer whose reports show loss, and takes RED from a speaker who
sends it. Its sender never
runs aiortc's encode loop (``RTCRtpSender.send`` is replaced): the negotiated parameters are
handed to an :class:`~media.fanout.Outbound` and the origin writes packets itself. Incoming RTP is
gated before the jitter buffer, so a participant who may not speak costs no decode.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription, clock, sdp
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.rtp import RtcpRrPacket, RtcpSrPacket, RtpPacket

from media import red
from media.fanout import Outbound
from media.ice import rtc_configuration

logger = logging.getLogger(__name__)


OPUS_FMTP = {"minptime": 10, "useinbandfec": 1}


class OfferError(ValueError):
    """The client's offer cannot be answered (malformed, no audio, no Opus)."""


def _opus_only() -> list[Any]:
    return [
        c
        for c in RTCRtpSender.getCapabilities("audio").codecs
        if c.mimeType.lower() == "audio/opus"
    ]


def offered_red(offer_sdp: str, mid: str | None, opus_pt: int) -> RTCRtpCodecParameters | None:
    """The offer's RED codec for the Opus stream ``opus_pt`` of section ``mid``: RED whose
    redundant blocks are that Opus (fmtp ``<opus pt>/<opus pt>``), else None."""
    try:
        description = sdp.SessionDescription.parse(offer_sdp)
    except Exception:
        return None
    for media in description.media:
        if media.kind != "audio" or media.rtp.muxId != mid:
            continue
        for codec in media.rtp.codecs:
            blocks = [k for k in codec.parameters if codec.parameters[k] is None]
            if (
                codec.mimeType.lower() == red.MIME
                and codec.clockRate == 48_000
                and len(blocks) == 1
                and set(blocks[0].split("/")) == {str(opus_pt)}
            ):
                return RTCRtpCodecParameters(
                    mimeType="audio/red",
                    clockRate=48_000,
                    channels=2,
                    payloadType=codec.payloadType,
                    parameters={blocks[0]: None},
                )
    return None


class LossWindow:
    """The peer's loss over its latest receiver reports that cover at least ``packets`` of ours
    (100: two seconds of audio, so a 10 % loss reads 10 ± 3 %, not 10 ± 4 % as over one).

    A report's own fraction covers the packets since the one before: about 50 at aiortc's
    interval, 250 at a browser's, but 2 or 3 when DTX leaves silence unsent, and one lost packet
    in three reads as 33 % loss. Weighting by the packets each report covers (the growth of its
    highest sequence number and cumulative loss) keeps FEC and RED from chasing that noise.
    """

    def __init__(self, packets: int = 100, reports: int = 10) -> None:
        self._packets = packets
        self._spans: deque[tuple[int, int]] = deque(maxlen=reports)  # (expected, lost)
        self._last: tuple[int, int] | None = None

    def add(self, highest: int, lost: int, fraction: int) -> float:
        last, self._last = self._last, (highest, lost)
        if last is None:
            return fraction / 256.0  # the first report: nothing to take a difference from
        expected = highest - last[0]
        if expected <= 0:  # a repeated or reordered report: no news
            return self._estimate(fraction)
        self._spans.append((expected, max(0, min(expected, lost - last[1]))))
        return self._estimate(fraction)

    def _estimate(self, fraction: int) -> float:
        expected = lost = 0
        for span_expected, span_lost in reversed(self._spans):
            expected += span_expected
            lost += span_lost
            if expected >= self._packets:
                break
        return lost / expected if expected else fraction / 256.0


class Uplink:
    """What the packets a peer sends say about its uplink: how many are lost, and how long they
    stand in a queue on the way.

    Loss: ``loss()``, called at each check, compares the counts with those of the latest
    earlier check at least ``min_packets`` expected ago (25: half a second of audio). Any lost
    packet in such a span reads 4 % or more, above the origin's 1 % (``RED_ON_LOSS``), so the
    span sets how soon a lossy speaker is found, not how lossy they must be: at one second, a
    speaker who talked at once said their first words unprotected (bench/RESULTS.md, "Session
    13"). Only packets ``settle`` or more
    behind the newest count: a reordered packet is not lost, only late (in the lab, 2 %
    reordered by 30 ms read as 2 % loss at one check in thirty). Queue: per second of arrival, the
    smallest transit (arrival time minus RTP timestamp). Jitter delays some packets; a queue
    that builds up delays all of them, so once the fastest packet of each of the last ``hold``
    seconds came ``threshold`` later than the fastest of the last ``window`` seconds, the
    sender sends more than the uplink carries (``standing``). A few operations per packet.
    """

    def __init__(
        self,
        *,
        clock_rate: int = 48_000,
        window: int = 10,
        hold: int = 2,
        threshold: float = 0.2,
        min_packets: int = 25,
        settle: int = 10,
    ) -> None:
        self._rate = clock_rate
        self._settle = settle
        self._recent: deque[int] = deque(maxlen=4 * settle)  # sequence numbers, unwrapped
        self._window = window
        self._hold = hold
        self._threshold = threshold
        self._min_packets = min_packets
        self._buckets: deque[tuple[int, float]] = deque()  # (second, smallest transit)
        self._checks: deque[tuple[int, int]] = deque([(0, 0)], maxlen=64)  # (expected, lost)
        self._last_ts: int | None = None
        self._ts = 0  # the RTP timestamp, unwrapped
        self._first = self._highest = 0  # sequence numbers, unwrapped
        self.received = 0

    def add(self, seq: int, timestamp: int, arrival: float) -> None:
        if self._last_ts is None:
            self._first = self._highest = ext = seq
        else:
            step = (timestamp - self._last_ts) & 0xFFFFFFFF
            self._ts += step - (1 << 32) if step >= 1 << 31 else step
            ext = self._highest + ((seq - self._highest + 0x8000) & 0xFFFF) - 0x8000
            self._highest = max(self._highest, ext)
        self._last_ts = timestamp
        self.received += 1
        self._recent.append(ext)
        transit = arrival - self._ts / self._rate
        second = int(arrival)
        buckets = self._buckets
        if buckets and buckets[-1][0] == second:
            if transit < buckets[-1][1]:
                buckets[-1] = (second, transit)
            return
        buckets.append((second, transit))
        while buckets[0][0] <= second - self._window:
            buckets.popleft()

    def loss(self) -> float:
        """The share lost since the latest check ``min_packets`` or more expected ago (since
        the first packet, before there was one); 0 while fewer were expected."""
        settled = self._highest - self._settle  # newer packets may still be on their way
        expected = settled - self._first + 1 if self.received else 0
        received = self.received - sum(1 for ext in self._recent if ext > settled)
        lost = max(0, expected - received)
        checks = self._checks
        found = 0.0
        for earlier_expected, earlier_lost in reversed(checks):
            span = expected - earlier_expected
            if span >= self._min_packets:
                found = max(0, lost - earlier_lost) / span
                break
        if expected > checks[-1][0]:
            checks.append((expected, lost))
        return found

    def delay(self, now: float) -> float:
        """The queue standing over the last ``hold`` whole seconds before ``now`` (seconds);
        0 when those seconds are not all heard (a pause, a mute, a new stream)."""
        current = int(now)
        recent = [t for s, t in self._buckets if current - self._hold <= s < current]
        if len(recent) < self._hold or len(self._buckets) <= self._hold:
            return 0.0
        return max(0.0, min(recent) - min(t for _, t in self._buckets))

    def standing(self, now: float) -> bool:
        return self.delay(now) >= self._threshold


def _count_for_reports(receiver: Any, packet: RtpPacket) -> None:
    """What aiortc's receiver would note of a packet for its RTCP receiver reports, for packets
    the origin takes before aiortc (``rtp_sink``): without it the speaker's browser is never told
    its loss, and so never turns up the in-band FEC the origin recovers lost packets from."""
    streams = receiver._RTCRtpReceiver__remote_streams
    stats = streams.get(packet.ssrc)
    if stats is None:
        codec = receiver._RTCRtpReceiver__codecs.get(packet.payload_type)
        if codec is None:
            return
        stats = streams[packet.ssrc] = StreamStatistics(codec.clockRate)
    stats.add(packet)
    receiver._RTCRtpReceiver__active_ssrc[packet.ssrc] = clock.current_datetime()


class Peer:
    def __init__(
        self,
        *,
        label: str,
        ice_servers: list[Any],
        accept_media: Callable[[], bool],
        on_gone: Callable[[Peer, str], None],
        connect_timeout: float,
        on_connected: Callable[[], None] | None = None,
        on_closed: Callable[[], None] | None = None,
        red: bool = False,
        red_first: bool = True,
        max_bitrate: int | None = None,
    ) -> None:
        """``red``: answer with RED when the offer has it; ``red_first``: list it before Opus,
        so that a browser sends it (it decodes RED either way); ``max_bitrate``: the Opus bit
        rate a browser should send at (``maxaveragebitrate``; None: its own, 32 kb/s mono)."""
        self.label = label
        self._offer_red = red
        self.red_first = red_first
        """RED goes before Opus in the answer (it is what the peer sends, if it takes RED)."""
        self._max_bitrate = max_bitrate
        self.upload_raised = False
        """The answer asked for more than a plain stream: RED first, or a higher bit rate."""
        self.red_pt: int | None = None
        """RED's payload type, when the answer took RED (in both directions of the section)."""
        self.opus_pt = 0
        self.red_received = 0
        """RED packets this peer sent us (diagnostics: is the browser sending RED?)."""
        self.uplink = Uplink()
        """Loss and queueing of what this peer sends (``Uplink``)."""
        self.pc = RTCPeerConnection(rtc_configuration(ice_servers))
        self.outbound: Outbound | None = None
        self.track: MediaStreamTrack | None = None
        self.connected = asyncio.Event()
        """Set once ICE and DTLS are up and the outbound stream is configured."""
        self.closed = False
        self._accept_media = accept_media
        self._on_gone = on_gone
        self._on_connected = on_connected
        self._on_closed = on_closed
        self._connect_timeout = connect_timeout
        self._timeout_handle: asyncio.TimerHandle | None = None
        self._transceiver: RTCRtpTransceiver | None = None
        self.remote_loss = 0.0
        """Fraction of our packets lost, from the peer's RTCP receiver reports (LossWindow)."""
        self._loss = LossWindow()
        self.rtp_sink: Callable[[RtpPacket], None] | None = None
        """When set, incoming RTP goes here instead of aiortc's jitter buffer and decoder."""

    async def answer(self, offer_sdp: str) -> str:
        pc = self.pc
        transceiver = pc.addTransceiver("audio", direction="sendrecv")
        transceiver.setCodecPreferences(_opus_only())
        self._transceiver = transceiver
        sender = transceiver.sender
        self.outbound = Outbound(sender._ssrc)
        # aiortc would start an encode task per peer here; the origin sends instead.
        sender.send = self._start_sending  # type: ignore[method-assign]
        receiver = transceiver.receiver
        handle_rtp = receiver._handle_rtp_packet

        async def gated(packet: RtpPacket, arrival_time_ms: int) -> None:
            # Every packet, heard or not: a muted speaker's are not lost.
            self.uplink.add(packet.sequence_number, packet.timestamp, time.monotonic())
            if self._accept_media():
                if packet.payload_type == self.red_pt:
                    self.red_received += 1
                sink = self.rtp_sink
                if sink is not None:
                    _count_for_reports(receiver, packet)
                    sink(packet)
                elif packet.payload_type != self.red_pt:
                    await handle_rtp(packet, arrival_time_ms)
                else:
                    # aiortc has no RED decoder: give it the primary, as the Opus it is.
                    try:
                        pt, primary, _ = red.unpack(packet.payload)
                    except red.RedError:
                        return
                    if pt == self.opus_pt and primary:
                        packet.payload_type, packet.payload = pt, primary
                        await handle_rtp(packet, arrival_time_ms)

        receiver._handle_rtp_packet = gated  # type: ignore[method-assign]
        pc.on("connectionstatechange", self._on_connection_state)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:
            raise OfferError(f"cannot use this offer: {exc}") from exc
        if transceiver.mid is None:
            raise OfferError("the offer has no audio section")
        # aiortc knows no RED; the answer takes the offer's when it wraps the negotiated Opus.
        # First in the list, Chromium sends RED (it receives it in any order).
        opus = transceiver._codecs[0]
        self.opus_pt = opus.payloadType or 0
        # What we decode, said in the answer: a browser puts in-band FEC in what it sends only
        # when the other side's fmtp says `useinbandfec=1` (RFC 7587), and aiortc says nothing.
        opus.parameters = {**opus.parameters, **OPUS_FMTP}
        if self._max_bitrate is not None:  # RFC 7587; browsers set their encoder's rate from it
            opus.parameters["maxaveragebitrate"] = self._max_bitrate
        redundancy = (
            offered_red(offer_sdp, transceiver.mid, self.opus_pt) if self._offer_red else None
        )
        if redundancy is not None:
            transceiver._codecs.insert(0 if self.red_first else 1, redundancy)
            self.red_pt = redundancy.payloadType
        self.upload_raised = (self.red_first and self.red_pt is not None) or bool(self._max_bitrate)
        for other in pc.getTransceivers():
            if other is not transceiver:
                other.direction = "inactive"
        # aiortc creates the remote track only when the offer can send to us.
        self.track = receiver.track
        await pc.setLocalDescription(await pc.createAnswer())
        self._timeout_handle = asyncio.get_running_loop().call_later(
            self._connect_timeout, self._connect_timed_out
        )
        return pc.localDescription.sdp

    async def _start_sending(self, parameters: RTCRtpSendParameters) -> None:
        """Stands in for RTCRtpSender.send, called by aiortc once DTLS is connected."""
        assert self._transceiver is not None
        assert self.outbound is not None
        dtls = self._transceiver.sender.transport
        pair = dtls.transport._connection._nominated.get(1)
        srtp = dtls._tx_srtp
        if pair is None or srtp is None:
            logger.warning("%s connected without a nominated pair or SRTP session", self.label)
            return
        self.outbound.configure(
            parameters,
            srtp=srtp,
            transport=pair.protocol.transport,
            addr=pair.remote_addr,
        )
        # Receiver reports are routed by our SSRC only to a registered sender; aiortc registers
        # it in the send() we replaced. Only the loss they report is kept (FEC strength).
        sender = self._transceiver.sender
        sender._handle_rtcp_packet = self._handle_rtcp  # type: ignore[method-assign]
        dtls._register_rtp_sender(sender, parameters)
        self.connected.set()
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        if self._on_connected is not None:
            self._on_connected()

    async def _handle_rtcp(self, packet: Any) -> None:
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)) and self.outbound is not None:
            for report in packet.reports:
                if report.ssrc == self.outbound.ssrc:
                    self.remote_loss = self._loss.add(
                        report.highest_sequence, report.packets_lost, report.fraction_lost
                    )

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        logger.debug("%s connection %s", self.label, state)
        if state in ("failed", "closed") and not self.closed:
            self._on_gone(self, state)

    def _connect_timed_out(self) -> None:
        if not self.connected.is_set() and not self.closed:
            self._on_gone(self, "timeout")

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        if self.connected.is_set() and self._on_closed is not None:
            self._on_closed()
        if self.outbound is not None:
            self.outbound.ready = False
            self.outbound.bye()
            self.outbound.close()
        try:
            await self.pc.close()
        except Exception:
            logger.warning("%s close failed", self.label, exc_info=True)
