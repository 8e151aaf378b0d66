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
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from media.captions.engine import (
    EngineFactory,
    EngineUnavailable,
    configured_engine_name,
    configured_noise_suppression,
    engine_factory,
)
from media.captions.segmenter import Caption, CaptionCallback, Key, Segmenter, VadConfig

logger = logging.getLogger(__name__)

# -- media-loop side and the recognition process --------------------------------------------


def _child_main(
    engine: str,
    vad: VadConfig,
    denoise: bool,
    inbox: multiprocessing.connection.Connection,
    outbox: multiprocessing.connection.Connection,
) -> None:
    """The recognition process: messages in, captions and replies out, until ``None``."""

    def emit(caption: Caption) -> None:
        outbox.send(("caption", caption))

    processor = Segmenter(engine_factory(engine), vad, emit, denoise=denoise)
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
            # Only with nothing waiting: frames still in the pipe are not silence.
            if time.monotonic() - idle_checked >= 0.1 and not inbox.poll(0):
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

    ``denoise``: run each speaker through RNNoise before recognition (``Segmenter``); None: the
    ``CAPTIONS_NOISE_SUPPRESSION`` setting. ``already_suppressed(space_id)``, when set, says
    whether a Space's frames were suppressed before the tap (its own switch), so that they are
    not suppressed twice.
    """

    def __init__(
        self,
        on_caption: CaptionCallback,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        engine: str | EngineFactory | None = None,
        mode: Literal["process", "thread"] = "process",
        max_queue_frames: int = 750,
        vad: VadConfig | None = None,
        denoise: bool | None = None,
    ) -> None:
        if engine is None:  # settings, else the default engine if installed, else the fallback
            engine = configured_engine_name()
        if mode == "process" and not isinstance(engine, str):
            raise TypeError("mode='process' needs an engine name, not a factory object")
        self._on_caption = on_caption
        self._loop = loop
        self._engine = engine
        self._mode = mode
        self._vad = vad or VadConfig()
        self._denoise = configured_noise_suppression() if denoise is None else denoise
        self.already_suppressed: Callable[[Key], bool] | None = None
        self._queue: collections.deque[tuple[Key, Key, float, bytes, bool]] = collections.deque(
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
        self._processor: Segmenter | None = None
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
            self._processor = Segmenter(factory, self._vad, self._dispatch, denoise=self._denoise)
            self._processor.warm_up()
        else:
            ctx = multiprocessing.get_context("spawn")  # never fork a process running a loop
            inbox_read, self._inbox = ctx.Pipe(duplex=False)
            self._outbox, outbox_write = ctx.Pipe(duplex=False)
            self._process = ctx.Process(
                target=_child_main,
                args=(self._engine, self._vad, self._denoise, inbox_read, outbox_write),
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
        suppressed: bool = False,
    ) -> bool:
        """Queue one 20 ms, 48 kHz mono frame; False if captions are off for this speaker.

        int16, or float32 either in int16 scale (``media.dsp.Pcm``) or in -1..1 (taken as such
        when no sample exceeds 1.0). ``at`` is when the frame ends (default ``time.time()``).
        ``suppressed``: the frame went through noise suppression already.
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
        queue.append((space_id, speaker_id, time.time() if at is None else at, data, suppressed))
        self.frames_fed += 1
        return True

    def tap(self, space_id: Key, speaker_id: Key, pcm: npt.NDArray[np.int16]) -> None:
        """``media.worker.AudioTap``: ``worker.add_audio_tap(recognizer.tap)``."""
        check = self.already_suppressed
        self.feed_frame(space_id, speaker_id, pcm, suppressed=check is not None and check(space_id))

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
                    space_id, speaker_id, at, data, suppressed = queue.popleft()
                except IndexError:
                    break
                if self.is_enabled(space_id, speaker_id):
                    batch.append(("a", space_id, speaker_id, at, data, suppressed))
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
