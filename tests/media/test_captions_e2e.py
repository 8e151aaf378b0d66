"""Captions end to end: a real aiortc speaker peer, Opus, the media worker's tap, the recognizer."""

from __future__ import annotations

import asyncio
import contextlib
import wave
from pathlib import Path

import pytest

from media.captions import Caption, CaptionRecognizer
from media.client import wav_track
from media.worker import MediaWorker
from tests.media.conftest import ClientFactory
from tests.media.test_captions import ALICE_SAYS, ALICE_WORDS, espeak, speak, words

pytestmark = [pytest.mark.media, pytest.mark.asyncio, pytest.mark.timeout(120)]

__all__ = ["espeak"]  # the fixture, re-used


async def test_a_speaker_peer_is_captioned_only_while_captions_are_on(
    worker: MediaWorker, join: ClientFactory, space: str, espeak: str, tmp_path: Path
) -> None:
    path = tmp_path / "alice.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48_000)
        wav.writeframes(speak(espeak, tmp_path, ALICE_SAYS).tobytes())

    loop = asyncio.get_running_loop()
    captions: list[Caption] = []
    got_final = asyncio.Event()

    def on_caption(caption: Caption) -> None:
        captions.append(caption)
        if caption.is_final and words(caption.text) & ALICE_WORDS:
            got_final.set()

    recognizer = CaptionRecognizer(on_caption, loop=loop)
    await asyncio.to_thread(recognizer.start)
    remove_tap = worker.add_audio_tap(recognizer.tap)
    try:
        # The sentence repeats (about 3.3 s per round). Captions are off at first: nothing.
        await join("alice", "speaker", send=wav_track(str(path), loop=True), receive="none")
        await asyncio.sleep(4.0)
        assert captions == []
        assert recognizer.stats()["frames_fed"] == 0

        recognizer.set_enabled(space, True)
        # The first utterance may start mid-sentence; a later round is heard whole.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(got_final.wait(), timeout=30)
    finally:
        remove_tap()
        await asyncio.to_thread(recognizer.close)

    finals = [c for c in captions if c.is_final and c.text]
    assert {c.speaker_id for c in captions} == {"alice"}
    assert {c.space_id for c in captions} == {space}
    assert any(words(c.text) & ALICE_WORDS for c in finals), finals
