"""Interop with a real browser: Chromium joins as a speaker, is heard, and hears the mix.

This is what the direct fan-out must get right for browsers: our SSRC, payload type, header
extensions, SRTP and RTCP sender reports, all written without aiortc's RTCRtpSender.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from media.client import MediaClient, ToneTrack
from media.config import MediaConfig
from media.ice import restrict_host_addresses
from media.worker import MediaWorker

pytestmark = [
    pytest.mark.media,
    pytest.mark.browser,
    pytest.mark.asyncio,
    pytest.mark.timeout(90),
]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

OFFER = """
async () => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true});
  const pc = new RTCPeerConnection({iceServers: []});
  window.pc = pc;
  pc.addTrack(stream.getAudioTracks()[0], stream);
  pc.ontrack = (e) => {
    window.remoteTrack = e.track;
    const audio = new Audio();
    audio.srcObject = new MediaStream([e.track]);
    audio.muted = true;
    audio.play().catch(() => {});
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
  return pc.localDescription.sdp;
}
"""

STATS = """
async () => {
  const out = {state: pc.connectionState};
  (await pc.getStats()).forEach((s) => {
    if (["inbound-rtp", "remote-outbound-rtp", "outbound-rtp"].includes(s.type)) out[s.type] = s;
  });
  return out;
}
"""

PEAK = """
async () => {
  const ctx = new AudioContext();
  await ctx.resume();
  const source = ctx.createMediaStreamSource(new MediaStream([window.remoteTrack]));
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  source.connect(analyser);
  await new Promise((r) => setTimeout(r, 1000));
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 1;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  return best * ctx.sampleRate / analyser.fftSize;
}
"""


async def _serve_blank_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    body = b"<!doctype html><title>media</title>"
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )
    await writer.drain()
    writer.close()


@pytest_asyncio.fixture
async def page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    # getUserMedia needs a secure context: http://127.0.0.1 is one, about:blank is not.
    server = await asyncio.start_server(_serve_blank_page, "127.0.0.1", 0)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--no-sandbox",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        page = await browser.new_page()
        await page.goto(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/")
        try:
            yield page
        finally:
            await browser.close()
            server.close()


@pytest.mark.parametrize(
    "config",
    [
        MediaConfig(opus_fec=True, speaker_fec=True),  # the product's defaults
        MediaConfig(speaker_fec=False),  # aiortc decodes the speaker
    ],
    ids=["origin-decodes", "aiortc-decodes"],
)
async def test_chromium_speaks_to_the_worker_and_hears_the_mix(
    page: Any, config: MediaConfig
) -> None:
    """Both ways over RED (media/red.py): Chromium offers it; the first answer lists it after
    Opus, and Chromium sends Opus; the worker sends RED to it once its reports show loss; and
    once the worker wants RED from it (its uplink loses packets), a new offer is answered with
    RED first, and Chromium sends RED."""
    # Chromium gathers no loopback candidates, so the worker uses the box's own interface.
    restrict_host_addresses(None)
    worker = MediaWorker(config)
    heard: list[np.ndarray] = []
    worker.add_audio_tap(lambda space, user, pcm: heard.append(pcm) if user == "chrome" else None)
    tone = MediaClient(lambda sdp: worker.join("s", "tone", "speaker", sdp), send=ToneTrack(440))
    try:
        await tone.connect(within=10)
        answer = await worker.join("s", "chrome", "speaker", await page.evaluate(OFFER))
        m_line = next(line for line in answer.split("\r\n") if line.startswith("m=audio"))
        assert m_line.split()[3:5] == ["111", "63"], m_line  # Opus, then RED (Chromium's 63)
        await page.evaluate(
            "async (sdp) => { await pc.setRemoteDescription({type: 'answer', sdp}); }", answer
        )
        assert await worker.wait_connected("s", "chrome", within=10)
        skipped_before = worker.stats()["skipped_ticks"]
        await asyncio.sleep(3.0)

        stats = await page.evaluate(STATS)
        assert stats["state"] == "connected"
        inbound = stats["inbound-rtp"]
        assert inbound["packetsReceived"] >= 100, stats
        # Loopback loses nothing: a gap in our sequence numbers is a tick the worker skipped on
        # purpose because a busy box woke it too late (media/origin.py never bursts to catch
        # up), which it counts. Beyond those, at most 5 %.
        skipped = worker.stats()["skipped_ticks"] - skipped_before
        assert inbound["packetsLost"] - skipped <= 0.05 * inbound["packetsReceived"], (
            skipped,
            stats,
        )
        # It encodes at its own bit rate: the answer asked for none.
        assert stats["outbound-rtp"]["targetBitrate"] == 32_000, stats["outbound-rtp"]
        # Chromium parsed our own RTCP sender reports.
        assert stats["remote-outbound-rtp"]["reportsSent"] >= 1, stats
        assert stats["remote-outbound-rtp"]["packetsSent"] >= 100, stats
        # What Chromium plays is the mix-minus: the other speaker's 440 Hz.
        peak = await page.evaluate(PEAK)
        assert peak == pytest.approx(440, abs=12), (peak, stats)
        # And the worker decoded Chromium's microphone (its fake device) once, for the mix:
        # Opus, since RED came second.
        assert len(heard) >= 50
        origin = worker._origins["s"]
        peer = origin.members["chrome"].peer
        assert peer.red_pt == 63
        assert peer.red_received == 0
        # A report of loss turns RED on towards Chromium (loopback loses nothing, but a busy
        # box's skipped ticks may have done so already); Chromium decodes it and still plays
        # the other speaker.
        assert peer.outbound is not None
        peer.remote_loss = 0.05
        origin._adapt_red(origin.index)
        assert peer.outbound.red
        before = (await page.evaluate(STATS))["inbound-rtp"]
        skipped_before = worker.stats()["skipped_ticks"]
        await asyncio.sleep(2.0)
        after = (await page.evaluate(STATS))["inbound-rtp"]
        skipped = worker.stats()["skipped_ticks"] - skipped_before
        packets = after["packetsReceived"] - before["packetsReceived"]
        assert packets >= 80, (before, after)
        assert after["packetsLost"] - before["packetsLost"] - skipped <= 5, (before, after)
        # Three 20 ms frames of 32 kb/s Opus (~80 bytes each) per packet, not one.
        assert (after["bytesReceived"] - before["bytesReceived"]) / packets >= 160, (before, after)
        peak = await page.evaluate(PEAK)
        assert peak == pytest.approx(440, abs=12), (peak, after)

        # Its uplink loses packets (loopback loses none: what Origin._watch_uplinks concludes
        # is set here; tests/media/test_bridge.py loses packets for real): a new offer, from a
        # new connection beside the old one, is answered with RED first.
        origin.lossy_uplink.add("chrome")
        answer = await worker.join("s", "chrome", "speaker", await page.evaluate(OFFER))
        m_line = next(line for line in answer.split("\r\n") if line.startswith("m=audio"))
        assert m_line.split()[3:5] == ["63", "111"], m_line
        assert "maxaveragebitrate=48000" in answer  # and a bit rate that pays for its FEC
        await page.evaluate(
            "async (sdp) => { await pc.setRemoteDescription({type: 'answer', sdp}); }", answer
        )
        for _ in range(100):
            if origin.members["chrome"].peer is not peer:
                break
            await asyncio.sleep(0.1)
        fresh = origin.members["chrome"].peer
        assert fresh is not peer, "the new connection never took the old one's place"
        heard_before = len(heard)
        await asyncio.sleep(2.0)
        assert fresh.red_received >= 80  # RED from Chromium, its primary frames decoded here
        outbound = (await page.evaluate(STATS))["outbound-rtp"]
        assert outbound["targetBitrate"] == 48_000, outbound  # at the rate the answer asked
        assert len(heard) - heard_before >= 80
        peak = await page.evaluate(PEAK)
        assert peak == pytest.approx(440, abs=12), peak
    finally:
        await tone.close()
        await worker.close()
