"""The worker's side of one peer connection: what its answer negotiates, what it lets through."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from media import red
from media.peer import LossWindow, Peer, Uplink, offered_red

CHROMIUM_AUDIO = "\r\n".join(
    [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0",
        "a=mid:0",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:63 red/48000/2",
        "a=fmtp:63 111/111",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "",
    ]
)


def test_the_offers_red_for_the_negotiated_opus_is_found() -> None:
    codec = offered_red(CHROMIUM_AUDIO, "0", 111)
    assert codec is not None
    assert (codec.mimeType, codec.clockRate, codec.payloadType) == ("audio/red", 48_000, 63)
    assert codec.parameters == {"111/111": None}


@pytest.mark.parametrize(
    ("sdp", "mid", "opus_pt"),
    [
        (CHROMIUM_AUDIO, "0", 96),  # RED of another payload type than the Opus negotiated
        (CHROMIUM_AUDIO, "1", 111),  # another section
        (CHROMIUM_AUDIO.replace("a=fmtp:63 111/111", "a=fmtp:63 111/0"), "0", 111),
        (CHROMIUM_AUDIO.replace("a=rtpmap:63 red/48000/2", "a=rtpmap:63 red/8000"), "0", 111),
        ("not an SDP at all", "0", 111),
    ],
)
def test_red_that_does_not_wrap_the_negotiated_opus_is_not_taken(
    sdp: str, mid: str, opus_pt: int
) -> None:
    assert offered_red(sdp, mid, opus_pt) is None


def with_red(offer: str, red_pt: int = 63) -> str:
    """An aiortc offer (Opus 96) with RED added, as Chromium offers it."""
    opus = "a=rtpmap:96 opus/48000/2\r\n"
    added = f"a=rtpmap:{red_pt} red/48000/2\r\na=fmtp:{red_pt} 96/96\r\n"
    m_line = "m=audio 9 UDP/TLS/RTP/SAVPF 96"
    return offer.replace(opus, opus + added).replace(m_line, f"{m_line} {red_pt}")


async def answer(
    offer_red: bool,
    *,
    red_in_offer: bool = True,
    red_first: bool = True,
    max_bitrate: int | None = None,
) -> tuple[Peer, str]:
    client = RTCPeerConnection()
    client.addTransceiver("audio", direction="sendrecv")
    await client.setLocalDescription(await client.createOffer())
    offer = client.localDescription.sdp
    await client.close()
    peer = Peer(
        label="test",
        ice_servers=[],
        accept_media=lambda: True,
        on_gone=lambda p, reason: None,
        connect_timeout=5,
        red=offer_red,
        red_first=red_first,
        max_bitrate=max_bitrate,
    )
    return peer, await peer.answer(with_red(offer) if red_in_offer else offer)


@pytest.mark.asyncio
async def test_the_answer_takes_red_when_offered_and_the_worker_uses_it() -> None:
    peer, sdp = await answer(True)
    try:
        assert "a=rtpmap:63 red/48000/2" in sdp
        # RED first: Chromium sends it only then.
        assert re.search(r"^m=audio \d+ UDP/TLS/RTP/SAVPF 63 96\r$", sdp, re.MULTILINE)
        assert "a=fmtp:63 96/96" in sdp
        # Browsers send in-band FEC only to a side that says it uses it.
        assert "a=fmtp:96 minptime=10;useinbandfec=1\r\n" in sdp
        assert (peer.red_pt, peer.opus_pt) == (63, 96)
    finally:
        await peer.close()


@pytest.mark.asyncio
async def test_red_after_opus_when_speakers_should_not_send_it() -> None:
    peer, sdp = await answer(True, red_first=False)
    try:
        assert re.search(r"^m=audio \d+ UDP/TLS/RTP/SAVPF 96 63\r$", sdp, re.MULTILINE)
        assert peer.red_pt == 63
    finally:
        await peer.close()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("red_first", "red_in_offer", "max_bitrate", "raised"),
    [
        (False, True, None, False),  # a plain stream: RED second, the browser's own rate
        (True, True, None, True),  # RED first
        (True, False, None, False),  # RED first, but the offer had none: plain after all
        (False, True, 48_000, True),  # a higher bit rate
    ],
)
async def test_an_answer_asks_for_more_upload_only_when_told_to(
    red_first: bool, red_in_offer: bool, max_bitrate: int | None, raised: bool
) -> None:
    peer, sdp = await answer(
        True, red_in_offer=red_in_offer, red_first=red_first, max_bitrate=max_bitrate
    )
    try:
        assert peer.upload_raised is raised
        fmtp = "a=fmtp:96 minptime=10;useinbandfec=1"
        if max_bitrate:
            fmtp += f";maxaveragebitrate={max_bitrate}"
        assert f"{fmtp}\r\n" in sdp
    finally:
        await peer.close()


@pytest.mark.asyncio
@pytest.mark.parametrize(("offer_red", "red_in_offer"), [(False, True), (True, False)])
async def test_no_red_in_the_answer_when_either_side_lacks_it(
    offer_red: bool, red_in_offer: bool
) -> None:
    peer, sdp = await answer(offer_red, red_in_offer=red_in_offer)
    try:
        assert "red/48000" not in sdp
        assert peer.red_pt is None
    finally:
        await peer.close()


@pytest.mark.asyncio
async def test_red_from_a_peer_reaches_aiortcs_decoder_as_its_opus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the origin's own decoding (``rtp_sink``), aiortc decodes: it knows no RED, so
    it gets each packet's primary frame with the Opus payload type."""
    got: list[tuple[int, bytes]] = []

    async def handle(self: Any, packet: RtpPacket, arrival_time_ms: int) -> None:
        got.append((packet.payload_type, packet.payload))

    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", handle)
    peer, _ = await answer(True)
    try:
        assert peer._transceiver is not None
        gated = peer._transceiver.receiver._handle_rtp_packet
        wrapped = red.pack(96, b"primary", [(960, b"before")])
        await gated(RtpPacket(payload_type=63, sequence_number=1, payload=wrapped), 0)
        await gated(RtpPacket(payload_type=63, sequence_number=2, payload=b"\xe0"), 0)  # broken
        await gated(RtpPacket(payload_type=96, sequence_number=3, payload=b"plain"), 0)
        assert got == [(96, b"primary"), (96, b"plain")]
    finally:
        await peer.close()


def test_loss_is_weighted_by_the_packets_each_report_covers() -> None:
    window = LossWindow(packets=50)
    assert window.add(1000, 0, 64) == 0.25  # the first report: its own fraction
    # A dense stream: each report covers 50 packets, and the latest decides.
    assert window.add(1050, 2, 10) == pytest.approx(2 / 50)
    assert window.add(1100, 27, 128) == pytest.approx(25 / 50)
    # DTX: a report covers 3 packets, one lost; the estimate pools reports up to 50 packets.
    window = LossWindow(packets=50)
    window.add(0, 0, 0)
    for n in range(1, 20):
        estimate = window.add(50 * n, 0, 0)
    assert estimate == 0
    estimate = window.add(50 * 19 + 3, 1, 85)
    assert estimate == pytest.approx(1 / 53)  # not the report's 33 %
    # A repeated report is no news.
    assert window.add(50 * 19 + 3, 1, 85) == pytest.approx(1 / 53)


def feed(
    uplink: Uplink,
    packets: range,
    *,
    at: float,
    lost: Collection[int] = (),
    late: float | Callable[[int], float] = 0.0,
) -> None:
    """Packets ``packets`` (20 ms apart, sequence numbers and timestamps wrapping) sent from
    ``at`` on, each arriving ``late`` seconds (or ``late(n)``) after it was sent."""
    for n in packets:
        if n in lost:
            continue
        delay = late(n) if callable(late) else late
        uplink.add(
            (60_000 + n) & 0xFFFF, (0xFFFF_0000 + 960 * n) & 0xFFFF_FFFF, at + 0.02 * n + delay
        )


def test_uplink_loss_is_found_after_half_a_second_of_packets_and_not_before() -> None:
    uplink = Uplink()
    feed(uplink, range(30), at=100.0, lost={10})
    assert uplink.loss() == 0  # 20 settled (10 behind the newest may still come): too few
    feed(uplink, range(30, 40), at=100.0)
    assert uplink.loss() == pytest.approx(1 / 30)  # 30 expected since the first packet
    feed(uplink, range(40, 100), at=100.0, lost={60, 70})
    assert uplink.loss() == pytest.approx(2 / 60)  # since the check before, 60 packets ago
    # The next check counts from this one: a clean second reads clean.
    feed(uplink, range(100, 160), at=100.0)
    assert uplink.loss() == 0
    # Reordering is not loss, and a duplicate of an old packet moves nothing back.
    feed(uplink, range(161, 220), at=100.0)
    feed(uplink, range(160, 161), at=100.0)
    assert uplink.loss() == 0


def test_a_reordered_packet_is_never_taken_for_a_lost_one() -> None:
    """Every 20th packet overtaken by the three after it: whenever the check comes, no loss."""
    uplink = Uplink()
    order = list(range(20))
    for n in range(20, 600, 20):
        order += [n + 1, n + 2, n + 3, n, *range(n + 4, n + 20)]
    seen = []
    for n in order:
        feed(uplink, range(n, n + 1), at=100.0)
        seen.append(uplink.loss())
    assert max(seen) == 0


def test_a_standing_queue_is_told_from_jitter() -> None:
    # Jitter: one packet in five is 150 ms late, the fastest of each second on time.
    jittery = Uplink()
    feed(jittery, range(300), at=100.0, late=lambda n: 0.15 if n % 5 else 0.0)
    assert not jittery.standing(100.0 + 6.0)
    # A stall of half a second, then a burst: late packets, but not a queue.
    stalled = Uplink()
    feed(
        stalled,
        range(300),
        at=100.0,
        late=lambda n: max(0.0, 0.5 - 0.02 * (n - 100)) if 100 <= n < 125 else 0.0,
    )
    assert not stalled.standing(100.0 + 6.0)
    # A queue: after two seconds each packet is 40 ms later than the one before (a sender at
    # 1.5 times what the link carries), up to a full 400 ms buffer.
    full = Uplink()
    feed(full, range(400), at=100.0, late=lambda n: min(0.4, 0.01 * max(0, n - 100)))
    assert not full.standing(100.0 + 2.5)
    assert full.delay(100.0 + 8.0) == pytest.approx(0.4)
    assert full.standing(100.0 + 8.0)
    # Nothing heard for a while (muted, a pause): no verdict.
    assert not full.standing(100.0 + 20.0)
