"""Live captions: per-speaker utterance segmentation and recognition off the media loop.

``CaptionRecognizer.feed_frame`` is what the media loop calls for each speaker's 20 ms frame (its
signature after the first argument matches ``media.worker.AudioTap``, so ``recognizer.tap`` can be
registered directly). It only copies the frame into a bounded deque: when recognition falls
behind, the oldest audio is dropped and counted, and the loop never waits.

Everything else runs elsewhere. A pump thread drains the deque; the processing (resampling to
16 kHz, the energy VAD, the engine) runs either

- in a child process (``mode="process"``, the default): pocketsphinx holds the GIL inside
  ``process_raw`` (measured: a spinning Python thread ran at ~1.5 % of its idle rate while a
  decode was in progress), so decoding in a thread would take the GIL from the media loop for
  ~10 ms of every 20 ms per speaker; or
- in the pump thread itself (``mode="thread"``): no process to start, fine for tests, tools, and
  engines that release the GIL.

Captions come back through ``on_caption``, called on ``loop`` via ``call_soon_threadsafe`` when a
loop is given (else in a background thread).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import av
import numpy as np
import numpy.typing as npt

from media.captions.engine import (
    DEFAULT_ENGINE,
    ENGINE_SAMPLE_RATE,
    CaptionEngine,
    EngineFactory,
    EngineUnavailable,
    engine_factory,
)

logger = logging.getLogger(__name__)

Key = Hashable
INPUT_RATE = 48_000
VAD_FRAME = ENGINE_SAMPLE_RATE // 50  # 20 ms at 16 kHz
VAD_FRAME_SECONDS = VAD_FRAME / ENGINE_SAMPLE_RATE


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


# -- processing side (pump thread or child process) -------------------------------------------


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
        self.preroll: collections.deque[bytes] = collections.deque(
            maxlen=max(1, round(vad.preroll / VAD_FRAME_SECONDS))
        )
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


class _Processor:
    """Segments each speaker's audio into utterances and runs the engine on them."""

    def __init__(self, factory: EngineFactory, vad: VadConfig, emit: CaptionCallback) -> None:
        self._factory = factory
        self._vad = vad
        self._emit = emit
        self._streams: dict[tuple[Key, Key], _Stream] = {}
        self._spare: list[CaptionEngine] = []
        self.decoded_seconds = 0.0
        self.utterances = 0

    def warm_up(self) -> None:
        """Load one engine now, so a missing model fails at start and the first caption is fast."""
        self._spare.append(self._factory())

    def audio(self, space_id: Key, speaker_id: Key, at: float, pcm48: bytes) -> None:
        key = (space_id, speaker_id)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(space_id, speaker_id, self._vad)
        stream.last_wall = time.monotonic()
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

    def _vad_step(self, stream: _Stream, pcm: bytes, level: float, at: float) -> None:
        vad = self._vad
        stream.last_at = at
        if level < stream.noise_floor:
            stream.noise_floor = level
        else:
            # Rises slowly, so a long utterance does not become its own noise floor.
            stream.noise_floor += 0.002 * (level - stream.noise_floor)
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
            self._feed(stream)
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

    def _feed(self, stream: _Stream) -> None:
        if not stream.pending or stream.engine is None:
            return
        chunk = b"".join(stream.pending)
        stream.pending = []
        self.decoded_seconds += len(chunk) / 2 / ENGINE_SAMPLE_RATE
        partial = stream.engine.feed(chunk)
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
        self._feed(stream)
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
                    self.audio(message[1], message[2], message[3], message[4])
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
                if stream.engine is not None:
                    with contextlib.suppress(Exception):
                        stream.engine.close()

    def stats(self) -> dict[str, float]:
        return {
            "decoded_seconds": self.decoded_seconds,
            "utterances": self.utterances,
            "cpu_seconds": time.process_time(),
        }


def _child_main(
    engine: str,
    vad: VadConfig,
    inbox: multiprocessing.connection.Connection,
    outbox: multiprocessing.connection.Connection,
) -> None:
    """The recognition process: messages in, captions and replies out, until ``None``."""

    def emit(caption: Caption) -> None:
        outbox.send(("caption", caption))

    processor = _Processor(engine_factory(engine), vad, emit)
    try:
        processor.warm_up()
    except Exception as exc:
        outbox.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    outbox.send(("ready",))
    idle_checked = time.monotonic()
    try:
        while True:
            if inbox.poll(0.1):
                batch = inbox.recv()
                if batch is None:
                    break
                for reply in processor.handle(batch):
                    outbox.send(reply)
            if time.monotonic() - idle_checked >= 0.1:
                idle_checked = time.monotonic()
                processor.end_idle()
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        processor.close()
        outbox.send(("closed",))


# -- media-loop side ------------------------------------------------------------------------


class CaptionRecognizer:
    """Recognises what each stage member says; see the module docstring.

    Captions are off for every Space until ``set_enabled(space_id, True)``. Call ``start()`` once
    (blocks until the engine is loaded: ~1 s, so not on the media loop; use ``await
    asyncio.to_thread(recognizer.start)``), ``close()`` at shutdown.
    """

    def __init__(
        self,
        on_caption: CaptionCallback,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        engine: str | EngineFactory = DEFAULT_ENGINE,
        mode: Literal["process", "thread"] = "process",
        max_queue_frames: int = 750,
        vad: VadConfig | None = None,
    ) -> None:
        if mode == "process" and not isinstance(engine, str):
            raise TypeError("mode='process' needs an engine name, not a factory object")
        self._on_caption = on_caption
        self._loop = loop
        self._engine = engine
        self._mode = mode
        self._vad = vad or VadConfig()
        self._queue: collections.deque[tuple[Key, Key, float, bytes]] = collections.deque(
            maxlen=max_queue_frames
        )
        self._control: collections.deque[tuple[Any, ...]] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._enabled_spaces: set[Key] = set()
        self._disabled_speakers: set[tuple[Key, Key]] = set()
        self._flush_ids = itertools.count(1)
        self._flushes: dict[int, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._process: multiprocessing.process.BaseProcess | None = None
        self._inbox: multiprocessing.connection.Connection | None = None
        self._outbox: multiprocessing.connection.Connection | None = None
        self._processor: _Processor | None = None
        self._failed: str | None = None
        self.frames_fed = 0
        self.frames_dropped = 0
        self.worker_stats: dict[str, float] = {}

    # -- lifecycle --

    def start(self, *, within: float = 60.0) -> None:
        """Start the pump (and the recognition process); raise EngineUnavailable if it cannot."""
        if self._mode == "thread":
            factory = (
                engine_factory(self._engine) if isinstance(self._engine, str) else self._engine
            )
            self._processor = _Processor(factory, self._vad, self._dispatch)
            self._processor.warm_up()
        else:
            ctx = multiprocessing.get_context("spawn")  # never fork a process running a loop
            inbox_read, self._inbox = ctx.Pipe(duplex=False)
            self._outbox, outbox_write = ctx.Pipe(duplex=False)
            self._process = ctx.Process(
                target=_child_main,
                args=(self._engine, self._vad, inbox_read, outbox_write),
                name="captions",
                daemon=True,
            )
            self._process.start()
            inbox_read.close()
            outbox_write.close()
            first: tuple[Any, ...] = ("error", "the process did not start in time")
            with contextlib.suppress(EOFError, OSError):
                if self._outbox.poll(within):
                    first = self._outbox.recv()
            if first[0] != "ready":
                self.close()
                raise EngineUnavailable(f"captions engine {self._engine!r}: {first[1]}")
            reader = threading.Thread(target=self._read_results, name="captions-out", daemon=True)
            self._threads.append(reader)
            reader.start()
        pump = threading.Thread(target=self._pump, name="captions-pump", daemon=True)
        self._threads.append(pump)
        pump.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            if thread is not threading.current_thread() and thread.name == "captions-pump":
                thread.join(timeout=10)
        if self._inbox is not None:
            with contextlib.suppress(OSError, BrokenPipeError):
                self._inbox.send(None)
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=5)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=10)
        self._threads.clear()
        if self._processor is not None:
            self._processor.close()
            self._processor = None
        for conn in (self._inbox, self._outbox):
            if conn is not None:
                conn.close()
        self._inbox = self._outbox = None
        self._process = None

    def __enter__(self) -> CaptionRecognizer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the media loop's calls: O(1), never block --

    def set_enabled(self, space_id: Key, enabled: bool, *, speaker_id: Key | None = None) -> None:
        """Captions on or off for a whole Space, or for one speaker of a Space that has them on.

        Switching off discards the open utterances (no final) and decodes nothing more.
        """
        if speaker_id is None:
            if enabled:
                self._enabled_spaces.add(space_id)
            else:
                self._enabled_spaces.discard(space_id)
                # Per-speaker switches belong to one captioning session (a Space ends, or has
                # captions off, and the set would otherwise only grow).
                self._disabled_speakers = {
                    key for key in self._disabled_speakers if key[0] != space_id
                }
        elif enabled:
            self._disabled_speakers.discard((space_id, speaker_id))
        else:
            self._disabled_speakers.add((space_id, speaker_id))
        if not enabled:
            self._control.append(("drop", space_id, speaker_id))
            self._wake.set()

    def is_enabled(self, space_id: Key, speaker_id: Key | None = None) -> bool:
        if space_id not in self._enabled_spaces:
            return False
        return speaker_id is None or (space_id, speaker_id) not in self._disabled_speakers

    def feed_frame(
        self,
        space_id: Key,
        speaker_id: Key,
        pcm: npt.NDArray[np.int16] | npt.NDArray[np.float32],
        *,
        at: float | None = None,
    ) -> bool:
        """Queue one 20 ms, 48 kHz mono frame; False if captions are off for this speaker.

        int16, or float32 either in int16 scale (``media.dsp.Pcm``) or in -1..1 (taken as such
        when no sample exceeds 1.0). ``at`` is when the frame ends (default ``time.time()``).
        """
        if space_id not in self._enabled_spaces or (
            self._disabled_speakers and (space_id, speaker_id) in self._disabled_speakers
        ):
            return False
        if pcm.dtype == np.int16:
            data = pcm.tobytes()
        else:
            scale = 32767.0 if pcm.size and float(np.abs(pcm).max()) <= 1.0 else 1.0
            data = np.clip(pcm * scale, -32768.0, 32767.0).astype(np.int16).tobytes()
        queue = self._queue
        if len(queue) == queue.maxlen:
            self.frames_dropped += 1
        queue.append((space_id, speaker_id, time.time() if at is None else at, data))
        self.frames_fed += 1
        return True

    def tap(self, space_id: Key, speaker_id: Key, pcm: npt.NDArray[np.int16]) -> None:
        """``media.worker.AudioTap``: ``worker.add_audio_tap(recognizer.tap)``."""
        self.feed_frame(space_id, speaker_id, pcm)

    # -- off the loop --

    def flush(self, *, within: float = 60.0) -> bool:
        """Wait until all queued audio is decoded and every open utterance has its final."""
        flush_id = next(self._flush_ids)
        done = self._flushes[flush_id] = threading.Event()
        self._control.append(("flush", flush_id))
        self._wake.set()
        ok = done.wait(within)
        self._flushes.pop(flush_id, None)
        return ok

    @property
    def failed(self) -> str | None:
        return self._failed

    def stats(self) -> dict[str, Any]:
        return {
            "frames_fed": self.frames_fed,
            "frames_dropped": self.frames_dropped,
            "queued": len(self._queue),
            **self.worker_stats,
        }

    def _dispatch(self, caption: Caption) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed at shutdown
                self._loop.call_soon_threadsafe(self._on_caption, caption)
            return
        try:
            self._on_caption(caption)
        except Exception:
            logger.exception("caption callback failed")

    def _pump(self) -> None:
        queue, control = self._queue, self._control
        idle_checked = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(0.02)
            self._wake.clear()
            # Controls seen now were queued after the audio drained below: keep that order.
            controls = [control.popleft() for _ in range(len(control))]
            batch: list[tuple[Any, ...]] = []
            while queue:
                try:
                    space_id, speaker_id, at, data = queue.popleft()
                except IndexError:
                    break
                if self.is_enabled(space_id, speaker_id):
                    batch.append(("a", space_id, speaker_id, at, data))
                if len(batch) >= 50:
                    self._deliver(batch)
                    batch = []
            batch.extend(controls)
            if batch:
                self._deliver(batch)
            if self._processor is not None and time.monotonic() - idle_checked >= 0.1:
                idle_checked = time.monotonic()
                self._processor.end_idle()

    def _deliver(self, batch: list[tuple[Any, ...]]) -> None:
        if self._processor is not None:
            for reply in self._processor.handle(batch):
                self._reply(reply)
        elif self._inbox is not None:
            try:
                self._inbox.send(batch)  # blocks only this thread when the process lags
            except (OSError, BrokenPipeError):
                self._failed = "captions process is gone"
                self._stop.set()

    def _reply(self, reply: tuple[Any, ...]) -> None:
        if reply[0] == "flushed":
            self.worker_stats = dict(reply[2])
            event = self._flushes.get(reply[1])
            if event is not None:
                event.set()

    def _read_results(self) -> None:
        outbox = self._outbox
        assert outbox is not None
        while True:
            try:
                message = outbox.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "caption":
                self._dispatch(message[1])
            elif kind == "closed":
                break
            else:
                self._reply(message)
        if not self._stop.is_set():
            self._failed = "captions process exited"
            logger.error("captions process exited unexpectedly")
