"""Live captions with real synthesised speech (espeak-ng) and the real pocketsphinx engine."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import threading
import time
import wave
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest

from media import denoise
from media.captions import (
    Caption,
    CaptionRecognizer,
    EngineUnavailable,
    create_engine,
    engine_factory,
    segmenter,
    transcript_text,
    transcript_webvtt,
)
from media.captions.engine import FasterWhisperEngine, configured_noise_suppression

pytestmark = pytest.mark.media

FRAME = 960  # 20 ms at 48 kHz

ALICE_SAYS = "i would like a cup of coffee"
ALICE_WORDS = {"coffee", "cup", "like"}
BOB_SAYS = "the children are playing in the garden"
BOB_WORDS = {"garden", "playing", "children"}


@pytest.fixture(scope="module")
def espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        message = "espeak-ng is not installed (apt-get install espeak-ng): no speech to recognise"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def speak(espeak: str, tmp: Path, text: str) -> npt.NDArray[np.int16]:
    """``text`` spoken by espeak-ng, as 48 kHz mono int16 with 0.3 s before and 1 s after."""
    path = tmp / f"{abs(hash(text))}.wav"
    subprocess.run([espeak, "-v", "en-us", "-w", str(path), text], check=True)
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    out = [
        f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]
    ]
    silence_before = np.zeros(int(0.3 * 48_000), dtype=np.int16)
    silence_after = np.zeros(48_000, dtype=np.int16)
    return np.concatenate([silence_before, *out, silence_after]).astype(np.int16)


def frames(pcm: npt.NDArray[np.int16]) -> list[npt.NDArray[np.int16]]:
    usable = len(pcm) - len(pcm) % FRAME
    return list(pcm[:usable].reshape(-1, FRAME))


def feed_interleaved(
    recognizer: CaptionRecognizer,
    space: str,
    speakers: dict[str, list[npt.NDArray[np.int16]] | list[npt.NDArray[np.float32]]],
) -> None:
    """One 20 ms frame per speaker per tick, as the media loop's tap does (without the pacing)."""
    longest = max(len(f) for f in speakers.values())
    for i in range(longest):
        for speaker, speaker_frames in speakers.items():
            if i < len(speaker_frames):
                recognizer.feed_frame(space, speaker, speaker_frames[i], at=100.0 + (i + 1) * 0.02)


def words(text: str) -> set[str]:
    """Lower-case words without punctuation (Whisper writes "Coffee." where pocketsphinx
    writes "coffee")."""
    return set(re.sub(r"[^\w' ]", " ", text.lower()).split())


@pytest.fixture(scope="module")
def voices(espeak: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("speech")
    return {"alice": speak(espeak, tmp, ALICE_SAYS), "bob": speak(espeak, tmp, BOB_SAYS)}


@pytest.mark.asyncio
async def test_two_interleaved_speakers_get_final_captions_with_their_own_words(
    voices: dict[str, npt.NDArray[np.int16]],
) -> None:
    loop = asyncio.get_running_loop()
    captions: list[Caption] = []
    on_loop: list[bool] = []

    def on_caption(caption: Caption) -> None:
        on_loop.append(threading.current_thread() is threading.main_thread())
        captions.append(caption)

    recognizer = CaptionRecognizer(on_caption, loop=loop, mode="process", max_queue_frames=10_000)
    await asyncio.to_thread(recognizer.start)
    try:
        recognizer.set_enabled("space-1", True)
        bob_float = [f.astype(np.float32) / 32768.0 for f in frames(voices["bob"])]
        feed_interleaved(
            recognizer, "space-1", {"alice": frames(voices["alice"]), "bob": bob_float}
        )
        assert await asyncio.to_thread(recognizer.flush, within=60)
        await asyncio.sleep(0.1)  # the last call_soon_threadsafe callbacks
    finally:
        await asyncio.to_thread(recognizer.close)

    finals = {c.speaker_id: c for c in captions if c.is_final}
    assert set(finals) == {"alice", "bob"}, captions
    assert words(finals["alice"].text) & ALICE_WORDS, finals["alice"]
    assert words(finals["bob"].text) & BOB_WORDS, finals["bob"]
    for caption in finals.values():
        assert caption.space_id == "space-1"
        # Speech starts 0.3 s into the audio; the clock of the frames started at 100.0.
        assert 100.1 < caption.started_at < caption.ended_at < 100.0 + 4.0
    assert all(on_loop), "captions must be delivered on the event loop's thread"
    assert recognizer.stats()["frames_dropped"] == 0


def test_thread_mode_recognises_the_same_speech(
    voices: dict[str, npt.NDArray[np.int16]],
) -> None:
    captions: list[Caption] = []
    with CaptionRecognizer(captions.append, mode="thread", max_queue_frames=10_000) as rec:
        rec.set_enabled(7, True)
        feed_interleaved(rec, 7, {"alice": frames(voices["alice"])})  # type: ignore[arg-type]
        assert rec.flush(within=60)
    finals = [c for c in captions if c.is_final]
    assert len(finals) == 1
    assert finals[0].speaker_id == "alice"
    assert finals[0].space_id == 7
    assert words(finals[0].text) & ALICE_WORDS, finals


def test_no_captions_while_captions_are_off(voices: dict[str, npt.NDArray[np.int16]]) -> None:
    captions: list[Caption] = []
    with CaptionRecognizer(captions.append, mode="thread", max_queue_frames=10_000) as rec:
        # Off for the Space (the default): nothing is even queued.
        assert not rec.feed_frame("space-1", "alice", frames(voices["alice"])[20])
        feed_interleaved(rec, "space-1", {"alice": frames(voices["alice"])})
        assert rec.flush(within=60)
        assert rec.stats()["frames_fed"] == 0

        # On for the Space but off for one speaker: only the other one is captioned.
        rec.set_enabled("space-1", True)
        rec.set_enabled("space-1", False, speaker_id="bob")
        feed_interleaved(
            rec, "space-1", {"alice": frames(voices["alice"]), "bob": frames(voices["bob"])}
        )
        assert rec.flush(within=60)
        assert {c.speaker_id for c in captions} == {"alice"}

        # Switched off mid-sentence: the open utterance is dropped, no final arrives.
        captions.clear()
        half = frames(voices["bob"])[:60]
        rec.set_enabled("space-1", True, speaker_id="bob")
        feed_interleaved(rec, "space-1", {"bob": half})
        rec.set_enabled("space-1", False)
        feed_interleaved(rec, "space-1", {"bob": frames(voices["bob"])[60:]})
        assert rec.flush(within=60)
        assert [c for c in captions if c.is_final] == []


class StalledEngine:
    """A deliberately slow engine: every chunk of audio takes half a second."""

    name = "stalled"

    def start_utterance(self) -> None:
        pass

    def feed(self, pcm16k: bytes, *, decode: bool = True) -> str | None:
        time.sleep(0.5)
        return None

    def end_utterance(self) -> str:
        return "stalled"

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("mode", "engine"),
    [("thread", StalledEngine), ("process", "tests.media.test_captions:StalledEngine")],
)
def test_a_stalled_engine_never_blocks_feed_frame(mode: str, engine: Any) -> None:
    tone = (8000 * np.sin(2 * np.pi * 220 * np.arange(FRAME * 250) / 48_000)).astype(np.int16)
    rec = CaptionRecognizer(lambda c: None, mode=mode, engine=engine, max_queue_frames=50)  # type: ignore[arg-type]
    rec.start()
    try:
        rec.set_enabled("s", True)
        slowest = 0.0
        started = time.perf_counter()
        for tick, frame in enumerate(frames(tone)):
            for speaker in ("a", "b", "c"):
                t0 = time.perf_counter()
                assert rec.feed_frame("s", speaker, frame, at=tick * 0.02)
                slowest = max(slowest, time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        stats = rec.stats()
    finally:
        rec.close()
    assert stats["frames_fed"] == 750
    assert stats["frames_dropped"] > 500, stats  # 5 s of audio for 3 speakers, ~1 s decoded
    assert stats["queued"] <= 50
    # A deque append; the margin is for a busy shared box (GIL hand-over, preemption).
    assert slowest < 0.05, f"feed_frame took {slowest * 1000:.1f} ms"
    assert elapsed < 2.0, f"750 frames took {elapsed:.2f} s"


class BrokenEngine(StalledEngine):
    """Fails on every chunk of audio."""

    def feed(self, pcm16k: bytes, *, decode: bool = True) -> str | None:
        raise RuntimeError("engine exploded")


def test_a_failing_engine_does_not_stop_the_recognizer(
    voices: dict[str, npt.NDArray[np.int16]],
) -> None:
    captions: list[Caption] = []
    with CaptionRecognizer(
        captions.append, mode="thread", engine=BrokenEngine, max_queue_frames=10_000
    ) as rec:
        rec.set_enabled("s", True)
        feed_interleaved(rec, "s", {"alice": frames(voices["alice"])})
        assert rec.flush(within=60)
        feed_interleaved(rec, "s", {"alice": frames(voices["alice"])})
        assert rec.flush(within=60), "the pump must survive the engine's errors"
    assert captions == []


class SilentEngine(StalledEngine):
    def feed(self, pcm16k: bytes, *, decode: bool = True) -> str | None:
        return None


def test_captions_hear_a_noisy_speaker_through_rnnoise_and_a_quiet_one_as_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert denoise.backend() is not None, "pyrnnoise is in requirements.txt"
    heard: list[bytes] = []  # what reaches the resampler, the VAD and the engine
    resample = segmenter._Stream.resample

    def spy(stream: segmenter._Stream, pcm48: bytes) -> npt.NDArray[np.int16]:
        heard.append(pcm48)
        return resample(stream, pcm48)

    monkeypatch.setattr(segmenter._Stream, "resample", spy)
    # Steady noise at -24 dBov, far above NOISY_FLOOR (-45).
    noise = np.random.default_rng(1).normal(0, 2000, FRAME * 400).astype(np.int16)
    chunks = [noise[i * FRAME : (i + 1) * FRAME].tobytes() for i in range(400)]

    def rms(data: list[bytes]) -> float:
        pcm = np.frombuffer(b"".join(data), dtype=np.int16).astype(np.float64)
        return float(np.sqrt(np.mean(pcm**2)))

    def feed(seg: segmenter.Segmenter, data: list[bytes], **kwargs: Any) -> None:
        for chunk in data:
            seg.audio("s", "a", len(heard) * 0.02, chunk, **kwargs)

    seg = segmenter.Segmenter(SilentEngine, segmenter.VadConfig(), lambda c: None, denoise=True)
    window = round(segmenter.VadConfig().floor_window / 0.02)  # 150 frames: 3 s
    feed(seg, chunks[:250])
    # Three seconds to know the background is loud; then RNNoise, which has the noise out
    # within half a second (-41 dB measured).
    assert heard[: window - 1] == chunks[: window - 1]
    assert rms(heard[window + 50 : 250]) < rms(chunks[window + 50 : 250]) / 10
    # The Space suppresses already (its switch went on): the frames pass as they are, and the
    # speaker's own state goes.
    heard.clear()
    feed(seg, chunks[250:300], suppressed=True)
    assert heard == chunks[250:300]
    assert seg._streams[("s", "a")].suppressor is None
    # The switch off again, still noisy: suppressed here at once (the window is full).
    heard.clear()
    feed(seg, chunks[300:400])
    assert rms(heard[50:]) < rms(chunks[350:400]) / 10
    # A quiet background (digital silence between words): left alone from the first quiet frame.
    heard.clear()
    quiet = np.zeros(FRAME, dtype=np.int16).tobytes()
    feed(seg, [quiet, *chunks[:20]])
    assert heard == [quiet, *chunks[:20]]
    assert seg._streams[("s", "a")].suppressor is None
    seg.close()

    # Off (CAPTIONS_NOISE_SUPPRESSION=0): as they are, however noisy.
    heard.clear()
    plain = segmenter.Segmenter(SilentEngine, segmenter.VadConfig(), lambda c: None)
    feed(plain, chunks[:200])
    assert heard == chunks[:200]
    plain.close()


def test_in_steady_noise_a_first_utterance_begins_with_the_words_not_the_audio() -> None:
    """The first 0.3 s of a speaker teach the voice detector the noise floor: before, steady
    noise counted as speech until three seconds had passed."""
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 1000, FRAME * 150)  # -30 dBov, steady
    words = rng.normal(0, 12_000, FRAME * 50)  # 1 s at -8 dBov, from 0.6 s
    audio = noise.copy()
    audio[FRAME * 30 : FRAME * 80] += words
    pcm = np.clip(audio, -32768, 32767).astype(np.int16)
    captions: list[Caption] = []
    seg = segmenter.Segmenter(SilentEngine, segmenter.VadConfig(), captions.append)
    for i in range(150):
        seg.audio("s", "a", (i + 1) * 0.02, pcm[i * FRAME : (i + 1) * FRAME].tobytes())
    seg.flush()
    seg.close()
    finals = [c for c in captions if c.is_final]
    assert len(finals) == 1, captions
    assert 0.55 <= finals[0].started_at <= 0.7, finals[0]
    assert 1.55 <= finals[0].ended_at <= 1.7, finals[0]


class NotingEngine(StalledEngine):
    """Notes, for each chunk, whether a partial may be decoded for it; and what the final got."""

    def __init__(self) -> None:
        self.chunks: list[tuple[int, bool]] = []  # (16 kHz samples, decode)
        self.final_samples = 0

    def feed(self, pcm16k: bytes, *, decode: bool = True) -> str | None:
        self.chunks.append((len(pcm16k) // 2, decode))
        return None

    def end_utterance(self) -> str:
        self.final_samples = sum(n for n, _ in self.chunks)
        return "words"


def test_partials_are_decoded_for_audio_with_words_not_for_the_silence_after_them() -> None:
    """After the last voiced frame, a partial would read what the last one or the final does:
    the hangover's silence and the tail handed over before the final decode none."""
    tone = 12_000 * np.sin(2 * np.pi * 220 * np.arange(FRAME * 50) / 48_000)  # 1 s of "words"
    pcm = np.concatenate([np.zeros(FRAME * 10), tone, np.zeros(FRAME * 60)]).astype(np.int16)
    engine = NotingEngine()
    captions: list[Caption] = []
    seg = segmenter.Segmenter(lambda: engine, segmenter.VadConfig(), captions.append)
    for i in range(len(pcm) // FRAME):
        seg.audio("s", "a", (i + 1) * 0.02, pcm[i * FRAME : (i + 1) * FRAME].tobytes())
    seg.close()

    assert [c.text for c in captions if c.is_final] == ["words"]
    decodes = [decode for _, decode in engine.chunks]
    assert decodes == sorted(decodes, reverse=True)  # while words come, then never again
    voiced = sum(n for n, decode in engine.chunks if decode) / 16_000
    silent = sum(n for n, decode in engine.chunks if not decode) / 16_000
    # Words: all of the second of tone (and the pre-roll, and up to a 0.1 s chunk after it);
    # silence: the 0.5 s hangover, less what shared the tone's last chunk.
    assert 1.0 <= voiced <= 1.0 + segmenter.VadConfig().preroll + 0.1, voiced
    assert 0.4 <= silent <= 0.5, silent
    assert engine.chunks[-1][1] is False  # the tail handed over just before the final
    assert engine.final_samples == sum(n for n, _ in engine.chunks)


def test_the_tap_tells_the_recognizer_which_spaces_are_suppressed_already() -> None:
    """``already_suppressed`` (the worker's ``suppressing``) travels with each frame."""
    received: list[tuple[Any, ...]] = []
    rec = CaptionRecognizer(lambda c: None, mode="thread", engine=SilentEngine, denoise=True)
    rec.start()
    try:
        assert rec._processor is not None
        rec._processor.audio = lambda *args: received.append(args)  # type: ignore[method-assign]
        rec.already_suppressed = lambda space_id: space_id == "quiet"
        for space_id in ("quiet", "loud"):
            rec.set_enabled(space_id, True)
            rec.tap(space_id, "a", np.zeros(FRAME, dtype=np.int16))
        assert rec.flush(within=10)
    finally:
        rec.close()
    assert [(args[0], args[4]) for args in received] == [("quiet", True), ("loud", False)]


def test_captions_noise_suppression_is_on_unless_set_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAPTIONS_NOISE_SUPPRESSION", raising=False)
    assert configured_noise_suppression()
    for off in ("0", "false", "off", "no"):
        monkeypatch.setenv("CAPTIONS_NOISE_SUPPRESSION", off)
        assert not configured_noise_suppression()
    monkeypatch.setenv("CAPTIONS_NOISE_SUPPRESSION", "1")
    assert configured_noise_suppression()


def test_unknown_and_uninstalled_engines_fail_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(EngineUnavailable, match="unknown captions engine 'nope'"):
        engine_factory("nope")
    with pytest.raises(EngineUnavailable, match="cannot be imported"):
        engine_factory("no_such_module:Engine")
    monkeypatch.setenv("CAPTIONS_WHISPER_MODEL", "/nonexistent/model")
    with pytest.raises(EngineUnavailable, match="nothing is downloaded"):
        FasterWhisperEngine()
    with pytest.raises(EngineUnavailable, match="faster-whisper"):
        CaptionRecognizer(lambda c: None, mode="process", engine="faster-whisper").start(within=60)


@pytest.mark.parametrize("name", ["pocketsphinx", "pocketsphinx-balanced", "pocketsphinx-accurate"])
def test_pocketsphinx_engine_loads_offline_and_decodes_silence_to_nothing(name: str) -> None:
    engine = create_engine(name)
    assert engine.name == {"pocketsphinx": "pocketsphinx-fast"}.get(name, name)
    engine.start_utterance()
    engine.feed(bytes(16_000 * 2))
    assert engine.end_utterance() == ""
    engine.close()


# -- transcripts ------------------------------------------------------------------------------

CUE_TIMING = re.compile(
    r"^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})$"
)


def parse_webvtt(text: str) -> list[tuple[float, float, str]]:
    """A strict reader of the subset written: header, blank line, cues of id/timing/one line."""
    assert text.startswith("WEBVTT\n\n"), text[:20]
    cues = []
    for block in text[len("WEBVTT\n\n") :].split("\n\n"):
        if not block.strip():
            continue
        lines = block.rstrip("\n").split("\n")
        assert len(lines) == 3, block
        assert "-->" not in lines[0]
        match = CUE_TIMING.match(lines[1])
        assert match, lines[1]
        g = [int(x) for x in match.groups()]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        assert end > start
        assert "-->" not in lines[2]
        cues.append((start, end, lines[2]))
    return cues


def test_webvtt_has_header_cue_timings_and_escapes_markup() -> None:
    vtt = transcript_webvtt(
        [
            ("Bob <admin>", "a --> b & <i>c</i>", 3725.5, 3727.25),
            ("Alice", "hello\n\nworld", 1000.0, 1001.0),
            ("Carol", "   ", 1002.0, 1003.0),
        ],
        origin=1000.0,
    )
    cues = parse_webvtt(vtt)
    assert [(s, e) for s, e, _ in cues] == [(0.0, 1.0), (2725.5, 2727.25)]
    assert cues[0][2] == "<v Alice>hello world</v>"
    assert cues[1][2] == "<v Bob &lt;admin&gt;>a --&gt; b &amp; &lt;i&gt;c&lt;/i&gt;</v>"
    assert "00:45:25.500 --> 00:45:27.250" in vtt
    assert transcript_webvtt([]) == "WEBVTT\n\n"


def test_plain_text_transcript_lists_speaker_and_time() -> None:
    text = transcript_text([("Alice", "hi there", 65.2, 66.0), ("Bob", "yo", 3.0, 3.0)])
    assert text == "[00:00:03] Bob: yo\n[00:01:05] Alice: hi there\n"
    assert transcript_text([]) == ""


def test_recognised_captions_render_as_valid_webvtt(
    voices: dict[str, npt.NDArray[np.int16]],
) -> None:
    captions: list[Caption] = []
    with CaptionRecognizer(captions.append, mode="thread", max_queue_frames=10_000) as rec:
        rec.set_enabled("s", True)
        feed_interleaved(rec, "s", {"bob": frames(voices["bob"])})
        assert rec.flush(within=60)
    finals = [c for c in captions if c.is_final]
    vtt = transcript_webvtt(
        [(str(c.speaker_id), c.text, c.started_at, c.ended_at) for c in finals], origin=100.0
    )
    cues = parse_webvtt(vtt)
    assert len(cues) == 1
    assert cues[0][2].startswith("<v bob>")
