"""Live captions, the processing side: what runs in the recognizer's pump thread or child process
(``media.captions.recognizer``), never on the media loop.

Each speaker's 48 kHz audio is resampled to the engine's 16 kHz, an energy VAD that tracks the
noise floor finds utterances (with a pre-roll, since word starts are quieter than their middle),
and the engine decodes each utterance, giving partials while it runs and one final when it ends.
Engines are reused across utterances (Whisper's share one loaded model per process). A
speaker's first 0.3 s only teach the VAD the noise floor.

With ``denoise``, a speaker whose background is loud (``NOISY_FLOOR``: the quietest 20 ms of
the last three seconds, before any suppression) goes through RNNoise (``media.denoise``) first,
with a state of their own, here and not on the media loop: captions read them with the noise
taken out even when the Space's own switch is off (listeners then hear the speaker as they
are). In pink noise it cuts Whisper tiny.en's word error rate from 0.33 to 0.26 at 10 dB and
from 0.29 to 0.19 at 20 dB (nine streams); on clean speech RNNoise would triple it (0.12 to
0.37: it gates the synthetic voice's fricatives), and at 30 dB it costs more than it gains
(0.17 to 0.21), which is why a quieter background is left alone (bench/RESULTS.md, "Session 13"
and "Session 14"). Audio the Space has suppressed already (``suppressed``) is not run through
it twice.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from media import denoise as noise
from media.captions.engine import ENGINE_SAMPLE_RATE, CaptionEngine, EngineFactory

logger = logging.getLogger(__name__)

Key = Hashable
INPUT_RATE = 48_000
VAD_FRAME = ENGINE_SAMPLE_RATE // 50  # 20 ms at 16 kHz
VAD_FRAME_SECONDS = VAD_FRAME / ENGINE_SAMPLE_RATE
NOISY_FLOOR = -45.0
"""dBov: a background this loud (steady noise ~10-15 dB under speech) is suppressed before
recognition; one 10 dB quieter (``QUIET_FLOOR``) no longer is (hysteresis, so a floor near the
line does not switch the suppressor on and off)."""
QUIET_FLOOR = -55.0


@dataclass(frozen=True)
class Caption:
    """One partial or final caption of one speaker's utterance.

    ``started_at``/``ended_at`` are on the clock of the frames' ``at`` (by default ``time.time()``
    when the media loop handed the frame over). Partials of an utterance share its ``utterance``
    number; the final replaces them. A final with empty text only clears an earlier partial.
    """

    speaker_id: Key
    text: str
    is_final: bool
    started_at: float
    ended_at: float
    space_id: Key = None
    utterance: int = 0


CaptionCallback = Callable[[Caption], None]


@dataclass(frozen=True)
class VadConfig:
    """Energy VAD on 20 ms frames at 16 kHz (levels in dBov)."""

    min_level: float = -50.0
    """Never speech below this level, however quiet the background."""
    above_floor: float = 12.0
    """Speech is at least this far above the tracked noise floor."""
    onset_frames: int = 2
    hangover: float = 0.5
    """Silence that ends an utterance."""
    preroll: float = 0.3
    """Audio before the onset given to the engine (word starts are quieter than their middle)."""
    min_speech: float = 0.15
    """Utterances with less voiced audio than this are discarded without a final."""
    max_utterance: float = 15.0
    """A longer utterance is cut (final emitted) and a new one started, to keep captions flowing."""
    idle_end: float = 0.7
    """No frames at all for this long (muted, left) ends the open utterance."""
    floor_window: float = 3.0
    """The noise floor is at least the quietest frame of this many seconds."""
    floor_learn: float = 0.3
    """A speaker's first audio only teaches the noise floor (it is kept as pre-roll): from -90
    dB, steady noise counted as speech until the floor window filled, so in noise a speaker's
    first utterance began with their audio, not their words."""


def _frame_levels(frames: npt.NDArray[np.int16]) -> npt.NDArray[np.float64]:
    """dBov of each row (one 20 ms frame per row)."""
    x = frames.astype(np.float64)
    power = np.einsum("ij,ij->i", x, x) / frames.shape[1]
    return 10.0 * np.log10(np.maximum(power, 1e-3) / (32768.0**2))


class _Stream:
    """One speaker's audio: resampler, VAD state, the open utterance."""

    def __init__(self, space_id: Key, speaker_id: Key, vad: VadConfig) -> None:
        self.space_id = space_id
        self.speaker_id = speaker_id
        self.vad = vad
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=ENGINE_SAMPLE_RATE)
        self.pts = 0
        self.rest = np.zeros(0, dtype=np.int16)
        self.noise_floor = -90.0
        # The quietest frame of the last few seconds: the floor's upper bound for steady noise.
        self.recent_levels: collections.deque[float] = collections.deque(
            maxlen=max(1, round(vad.floor_window / VAD_FRAME_SECONDS))
        )
        self.preroll: collections.deque[bytes] = collections.deque(
            maxlen=max(1, round(vad.preroll / VAD_FRAME_SECONDS))
        )
        self.learning_frames = round(vad.floor_learn / VAD_FRAME_SECONDS)
        self.engine: CaptionEngine | None = None
        self.in_speech = False
        self.voiced_run = 0
        self.silent_run = 0
        self.voiced_total = 0
        self.frames_in_utt = 0
        self.started_at = 0.0
        self.ended_at = 0.0
        self.last_at = 0.0
        self.last_wall = time.monotonic()
        self.utterance = 0
        self.partial_sent = False
        self.pending: list[bytes] = []
        self.suppressor: noise.Suppressor | None = None
        # The raw input's frame levels over the floor window: how loud the background is.
        self.raw_levels: collections.deque[float] = collections.deque(
            maxlen=self.recent_levels.maxlen
        )

    def noisy(self, pcm48: bytes) -> bool:
        """Whether this speaker's background is loud enough to suppress, this frame included."""
        pcm = np.frombuffer(pcm48, dtype=np.int16)
        self.raw_levels.append(float(_frame_levels(pcm.reshape(1, -1))[0]))
        floor = min(self.raw_levels)
        if self.suppressor is None:
            return len(self.raw_levels) == self.raw_levels.maxlen and floor >= NOISY_FLOOR
        return floor >= QUIET_FLOOR

    def denoised(self, pcm48: bytes, backend: noise.Backend) -> bytes:
        """``pcm48`` through this speaker's RNNoise state (made on first use)."""
        if self.suppressor is None:
            self.suppressor = noise.Suppressor(backend)
        pcm = np.frombuffer(pcm48, dtype=np.int16).astype(np.float32)
        out = self.suppressor.process(pcm)
        return np.clip(out, -32768, 32767).astype(np.int16).tobytes()

    def drop_suppressor(self) -> None:
        if self.suppressor is not None:
            self.suppressor.close()
            self.suppressor = None

    def resample(self, pcm48: bytes) -> npt.NDArray[np.int16]:
        samples = len(pcm48) // 2
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(pcm48, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = INPUT_RATE
        frame.pts = self.pts
        self.pts += samples
        out: list[npt.NDArray[Any]] = [self.rest]
        for res in self.resampler.resample(frame):
            out.append(res.to_ndarray().reshape(-1))
        return np.concatenate(out).astype(np.int16, copy=False)


class Segmenter:
    """Segments each speaker's audio into utterances and runs the engine on them."""

    def __init__(
        self,
        factory: EngineFactory,
        vad: VadConfig,
        emit: CaptionCallback,
        *,
        denoise: bool = False,
    ) -> None:
        self._factory = factory
        self._vad = vad
        self._emit = emit
        # The suppressor library, or None: off, or not installed (captions go on without it).
        self._denoiser = noise.backend() if denoise else None
        if denoise and self._denoiser is None:
            logger.warning("captions: noise suppression unavailable, captioning audio as it is")
        self._streams: dict[tuple[Key, Key], _Stream] = {}
        self._spare: list[CaptionEngine] = []
        self.decoded_seconds = 0.0
        self.utterances = 0

    def warm_up(self) -> None:
        """Load one engine now, so a missing model fails at start and the first caption is fast."""
        self._spare.append(self._factory())

    def audio(
        self, space_id: Key, speaker_id: Key, at: float, pcm48: bytes, suppressed: bool = False
    ) -> None:
        """One 20 ms frame of a speaker; ``suppressed``: the Space ran it through RNNoise."""
        key = (space_id, speaker_id)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(space_id, speaker_id, self._vad)
        stream.last_wall = time.monotonic()
        if self._denoiser is not None and not suppressed and stream.noisy(pcm48):
            pcm48 = stream.denoised(pcm48, self._denoiser)
        elif stream.suppressor is not None:
            # A quiet background again, or the Space's switch went on: the state is stale.
            stream.drop_suppressor()
        samples = stream.resample(pcm48)
        usable = len(samples) - len(samples) % VAD_FRAME
        stream.rest = samples[usable:]
        if not usable:
            return
        frames = samples[:usable].reshape(-1, VAD_FRAME)
        levels = _frame_levels(frames)
        n = len(frames)
        for i in range(n):
            # The frames of one 48 kHz input frame end at ``at``; spread them back from it.
            self._vad_step(stream, frames[i].tobytes(), float(levels[i]), at - (n - 1 - i) * 0.02)
        # Again after decoding: time spent in the engine is not the speaker going quiet (a
        # Whisper partial on a busy box took long enough for ``end_idle`` to cut a sentence).
        stream.last_wall = time.monotonic()

    def _vad_step(self, stream: _Stream, pcm: bytes, level: float, at: float) -> None:
        vad = self._vad
        stream.last_at = at
        if level < stream.noise_floor:
            stream.noise_floor = level
        else:
            # Rises slowly, so a long utterance does not become its own noise floor.
            stream.noise_floor += 0.002 * (level - stream.noise_floor)
        # ... but never stays below steady noise for long: from -90 dB the slow rise took ~10 s
        # to reach noise at 10 dB SNR, and all that time the noise counted as speech (the first
        # sentences of the bench's noisy run merged into one 10 s utterance).
        stream.recent_levels.append(level)
        if len(stream.recent_levels) == stream.recent_levels.maxlen:
            stream.noise_floor = max(stream.noise_floor, min(stream.recent_levels))
        if stream.learning_frames:
            stream.learning_frames -= 1
            stream.preroll.append(pcm)
            if not stream.learning_frames:
                stream.noise_floor = max(stream.noise_floor, min(stream.recent_levels))
            return
        voiced = level >= max(vad.min_level, stream.noise_floor + vad.above_floor)
        if not stream.in_speech:
            stream.preroll.append(pcm)
            stream.voiced_run = stream.voiced_run + 1 if voiced else 0
            if stream.voiced_run >= vad.onset_frames:
                self._start(stream)
            return
        stream.pending.append(pcm)
        stream.frames_in_utt += 1
        if voiced:
            stream.silent_run = 0
            stream.voiced_total += 1
            stream.ended_at = at
        else:
            stream.silent_run += 1
        if len(stream.pending) >= 5:
            # A partial only for audio with words in it: over the silence after them it would
            # read what the last one read or what the final, at most ``hangover`` later, will
            # (skipping them took 10-15 % off the CPU per talking second: bench/RESULTS.md,
            # "Session 15").
            self._feed(stream, decode=stream.silent_run < len(stream.pending))
        if stream.silent_run * VAD_FRAME_SECONDS >= vad.hangover:
            self._end(stream)
        elif stream.frames_in_utt * VAD_FRAME_SECONDS >= vad.max_utterance:
            self._end(stream)
            self._start(stream)

    def _start(self, stream: _Stream) -> None:
        if stream.engine is None:
            stream.engine = self._spare.pop() if self._spare else self._factory()
        stream.engine.start_utterance()
        stream.in_speech = True
        stream.utterance += 1
        stream.partial_sent = False
        stream.silent_run = 0
        stream.voiced_total = stream.voiced_run
        stream.frames_in_utt = len(stream.preroll)
        # The caption starts at the onset, not at the pre-roll fed before it.
        stream.started_at = stream.last_at - stream.voiced_run * VAD_FRAME_SECONDS
        stream.ended_at = stream.last_at
        stream.pending = list(stream.preroll)
        stream.preroll.clear()
        stream.voiced_run = 0

    def _feed(self, stream: _Stream, *, decode: bool = True) -> None:
        if not stream.pending or stream.engine is None:
            return
        chunk = b"".join(stream.pending)
        stream.pending = []
        self.decoded_seconds += len(chunk) / 2 / ENGINE_SAMPLE_RATE
        partial = stream.engine.feed(chunk, decode=decode)
        if partial:
            stream.partial_sent = True
            self._emit(
                Caption(
                    stream.speaker_id,
                    partial,
                    False,
                    stream.started_at,
                    stream.ended_at,
                    stream.space_id,
                    stream.utterance,
                )
            )

    def _end(self, stream: _Stream) -> None:
        if not stream.in_speech or stream.engine is None:
            return
        self._feed(stream, decode=False)  # the final, decoded next, reads it all
        text = stream.engine.end_utterance()
        stream.in_speech = False
        stream.silent_run = 0
        if stream.voiced_total * VAD_FRAME_SECONDS < self._vad.min_speech:
            text = ""
        if text or stream.partial_sent:
            self.utterances += 1
            self._emit(
                Caption(
                    stream.speaker_id,
                    text,
                    True,
                    stream.started_at,
                    stream.ended_at,
                    stream.space_id,
                    stream.utterance,
                )
            )

    def end_idle(self) -> None:
        """End utterances of speakers whose frames stopped (muted, left the stage)."""
        now = time.monotonic()
        for key, stream in list(self._streams.items()):
            idle = now - stream.last_wall
            if stream.in_speech and idle >= self._vad.idle_end:
                self._end(stream)
            if not stream.in_speech and idle >= 30.0:
                self._release(key)

    def flush(self) -> None:
        for stream in self._streams.values():
            self._end(stream)

    def drop(self, space_id: Key, speaker_id: Key | None) -> None:
        """Forget speakers' open utterances without a final (captions switched off)."""
        for key in list(self._streams):
            if key[0] == space_id and (speaker_id is None or key[1] == speaker_id):
                self._release(key)

    def _release(self, key: tuple[Key, Key]) -> None:
        stream = self._streams.pop(key)
        stream.drop_suppressor()
        if stream.engine is not None:
            if stream.in_speech:
                stream.engine.end_utterance()
            self._spare.append(stream.engine)

    def close(self) -> None:
        for key in list(self._streams):
            self._release(key)
        for engine in self._spare:
            engine.close()
        self._spare.clear()

    def handle(self, messages: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Apply a batch of pump messages; return the replies owed to flushers."""
        replies: list[tuple[Any, ...]] = []
        for message in messages:
            kind = message[0]
            try:
                if kind == "a":
                    self.audio(*message[1:6])
                elif kind == "drop":
                    self.drop(message[1], message[2])
                elif kind == "flush":
                    self.flush()
            except Exception:
                # One speaker's failure (an engine error) must not stop everyone's captions.
                logger.exception("captions: %s message failed", kind)
                if kind != "flush" and len(message) > 2:
                    self._forget(message[1], message[2])
            if kind == "flush":
                replies.append(("flushed", message[1], self.stats()))
        return replies

    def _forget(self, space_id: Key, speaker_id: Key | None) -> None:
        for key in list(self._streams):
            if key[0] == space_id and (speaker_id is None or key[1] == speaker_id):
                stream = self._streams.pop(key)
                stream.drop_suppressor()
                if stream.engine is not None:
                    with contextlib.suppress(Exception):
                        stream.engine.close()

    def stats(self) -> dict[str, float]:
        return {
            "decoded_seconds": self.decoded_seconds,
            "utterances": self.utterances,
            "cpu_seconds": time.process_time(),
        }
