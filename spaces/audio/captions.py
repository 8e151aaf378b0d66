"""Live captions in the running product: stage members' decoded audio → the recognizer →
``caption.partial`` room events, and finals stored by ``services.caption_append``.

The media bridge (``spaces.media``) owns one :class:`SpaceCaptions` next to its worker and calls
five hooks, all on the worker's loop: ``attach`` (a worker was created), ``on_join`` (an offer was
answered), ``on_event`` (a room event of :data:`EVENTS`), ``close`` / ``detach`` (shutdown, or the
loop went away). Whichever process owns a Space's worker runs its captions.

One recognizer per media process, not per Space. The recognizer already multiplexes speakers of
any number of Spaces over one recognition process (``media.captions.recognizer``), and its cost
is per second of speech, not per Space; a recognition process per Space would add ~1 s of start
and a loaded model (tens of MB) for every Space with captions on, and more processes than cores.
The measured budget is 3 simultaneous speakers per core (bench/RESULTS.md, Captions): beyond
that the recognizer's bounded queue drops the oldest audio rather than delay the media loop.

Lazy: nothing starts until a Space served here has captions on, so ``make run`` and the tests
that do not use captions never start the recognition process. The recognizer is fed only by the
origin's audio tap, which passes only members who are mixed (on stage and unmuted): a muted or
demoted speaker produces no audio for it. An open utterance ends on its own after the speaker's
frames stop (the recognizer's ``idle_end``) and is stored if the speaker is still on stage; a
speaker who leaves the stage, leaves or is removed has the open utterance discarded, and is not
decoded again until a `role.changed` (or the host's `participant.joined`) puts them back on stage.

Never on the media loop: the ORM (finals and the initial "are captions on" read go through
``socket_db``), the engine (another process), and the recognizer's start and close (a thread).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse

from media.captions import (
    Caption,
    CaptionRecognizer,
    configured_engine_name,
    transcript_text,
    transcript_webvtt,
)
from media.worker import MediaWorker
from spaces import services
from spaces.models import STAGE_ROLES, CaptionLine, Space
from spaces_project import bus
from spaces_project.dbthreads import socket_db
from spaces_project.errors import ApplicationError

logger = logging.getLogger(__name__)

CAPTION_PARTIAL = "caption.partial"
CAPTIONS_TOGGLED = "captions.toggled"
# The room events the captions react to (the bridge hands these to ``on_event``).
EVENTS = frozenset(
    (
        CAPTIONS_TOGGLED,
        "role.changed",
        "participant.joined",
        "participant.left",
        "participant.removed",
        "space.ended",
    )
)
RecognizerFactory = Callable[..., CaptionRecognizer]
START_SECONDS = 60.0


def captions_on(space_id: int) -> bool:
    return Space.objects.filter(pk=space_id, state=Space.State.LIVE, captions_enabled=True).exists()


_captions_on = socket_db(captions_on)
_append = socket_db(services.caption_append)


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def partial_event(caption: Caption) -> dict[str, Any]:
    """The ``caption.partial`` room event: an utterance in progress (not stored). Empty text
    clears the speaker's partial (the utterance came to nothing, or was discarded)."""
    return {
        "type": CAPTION_PARTIAL,
        "space_id": caption.space_id,
        "speaker_id": caption.speaker_id,
        "text": caption.text,
        "utterance": caption.utterance,
        "started_at": _when(caption.started_at).isoformat(),
        "ended_at": _when(caption.ended_at).isoformat(),
    }


@dataclass
class _Outbox:
    """One Space's captions waiting to leave, sent one at a time in order: finals first, then
    the newest partial of each speaker (an older one is never worth sending)."""

    finals: collections.deque[Caption] = field(default_factory=collections.deque)
    partials: dict[Any, Caption] = field(default_factory=dict)
    sending: bool = False


class SpaceCaptions:
    """The captions of every Space served by one media worker; see the module docstring."""

    def __init__(
        self,
        *,
        engine: str | None = None,
        recognizer_factory: RecognizerFactory = CaptionRecognizer,
    ) -> None:
        self._engine = engine
        self._factory = recognizer_factory
        self.worker: MediaWorker | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.recognizer: CaptionRecognizer | None = None
        self._starting: asyncio.Task[None] | None = None
        self._remove_tap: Callable[[], None] | None = None
        self._known: set[int] = set()  # Spaces whose captions state this process follows
        self._enabled: set[int] = set()
        self._changes: collections.Counter[int] = collections.Counter()
        self._shown: set[tuple[Any, Any]] = set()  # (space, speaker) with a partial on screen
        self._outboxes: dict[int, _Outbox] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- hooks (the worker's loop) --

    def attach(self, worker: MediaWorker) -> None:
        """A new worker on the running loop: captions start from scratch for it."""
        self.detach()
        self.worker = worker
        self.loop = asyncio.get_running_loop()

    def on_join(self, space_id: int) -> None:
        """Someone's media joined Space ``space_id`` here: learn whether its captions are on."""
        if space_id in self._known or self.worker is None:
            return
        self._known.add(space_id)
        self._spawn(self._read_state(space_id, self._changes[space_id]))

    def on_event(self, event: dict[str, Any]) -> None:
        space_id = event.get("space_id")
        kind = event.get("type")
        if not isinstance(space_id, int) or space_id not in self._known:
            return
        if kind == CAPTIONS_TOGGLED:
            self._changes[space_id] += 1
            self._apply(space_id, bool(event.get("enabled")))
        elif kind == "space.ended":
            self._apply(space_id, False)
            self._known.discard(space_id)
            self._changes.pop(space_id, None)
        elif self.recognizer is not None and (user_id := _user_id(event)) is not None:
            role = (event.get("participant") or {}).get("role")
            if kind in ("role.changed", "participant.joined") and role in STAGE_ROLES:
                self.recognizer.set_enabled(space_id, True, speaker_id=user_id)
            elif kind == "role.changed" or event.get("previous_role") in STAGE_ROLES:
                self._leave_stage(space_id, user_id)

    async def close(self) -> None:
        """Stop recognition and forget everything (on the worker's loop)."""
        recognizer, starting, tasks = self.recognizer, self._starting, list(self._tasks)
        self._reset()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if starting is not None and not starting.done():
            # A start cannot be interrupted; once done, the task sees it is no longer wanted
            # and closes the recognizer itself.
            await asyncio.wait({starting}, timeout=START_SECONDS)
        elif recognizer is not None:
            await asyncio.to_thread(recognizer.close)

    def detach(self) -> None:
        """Forget everything without waiting (the loop is gone): close in the background."""
        recognizer = self.recognizer
        self._reset()
        if recognizer is not None:
            threading.Thread(target=recognizer.close, name="captions-close", daemon=True).start()

    def is_on(self, space_id: int) -> bool:
        return space_id in self._enabled

    # -- state --

    def _reset(self) -> None:
        if self._remove_tap is not None:
            self._remove_tap()
        self._remove_tap = None
        self.recognizer = None
        self._starting = None
        self.worker = self.loop = None
        self._known.clear()
        self._enabled.clear()
        self._changes.clear()
        self._shown.clear()
        self._outboxes.clear()
        self._tasks.clear()

    async def _read_state(self, space_id: int, changes: int) -> None:
        try:
            enabled = await _captions_on(space_id)
        except Exception:
            logger.exception("space %s: cannot read whether captions are on", space_id)
            self._known.discard(space_id)  # the next join asks again
            return
        # A `captions.toggled` applied meanwhile is newer than what was read.
        if space_id in self._known and self._changes[space_id] == changes:
            self._apply(space_id, enabled)

    def _apply(self, space_id: int, enabled: bool) -> None:
        if enabled:
            recognizer = self._recognizer()
            if recognizer is None:
                return
            self._enabled.add(space_id)
            recognizer.set_enabled(space_id, True)
            return
        self._enabled.discard(space_id)
        self._outboxes.pop(space_id, None)
        self._shown = {key for key in self._shown if key[0] != space_id}
        if self.recognizer is not None:
            self.recognizer.set_enabled(space_id, False)

    def _recognizer(self) -> CaptionRecognizer | None:
        """The process's recognizer, started on first use. Frames queue (bounded) while the
        engine loads, so the first words are not lost."""
        if self.recognizer is not None:
            return self.recognizer
        worker, loop = self.worker, self.loop
        if worker is None or loop is None:
            return None
        engine = self._engine or configured_engine_name()
        recognizer = self._factory(self._on_caption, loop=loop, engine=engine)
        recognizer.already_suppressed = worker.suppressing  # no second RNNoise pass for those
        self.recognizer = recognizer
        self._remove_tap = worker.add_audio_tap(recognizer.tap)
        self._starting = loop.create_task(self._start(recognizer))
        return recognizer

    async def _start(self, recognizer: CaptionRecognizer) -> None:
        try:
            await asyncio.to_thread(recognizer.start, within=START_SECONDS)
        except Exception as exc:  # EngineUnavailable, or the process could not be spawned
            logger.error("captions cannot run: %s", exc)
            if self.recognizer is recognizer:
                # Nothing is captioned; the next `captions.toggled` on tries again.
                if self._remove_tap is not None:
                    self._remove_tap()
                self._remove_tap = self.recognizer = self._starting = None
                self._enabled.clear()
            return
        if self.recognizer is not recognizer:  # closed or detached while it started
            await asyncio.to_thread(recognizer.close)

    def _leave_stage(self, space_id: int, user_id: int) -> None:
        """Someone left the stage: drop their open utterance (no final is stored) and decode
        nothing more of theirs until they are back on stage. Not just "drop": the worker stops
        mixing them a moment after this event, and the audio of that moment must not start a
        new utterance."""
        recognizer = self.recognizer
        if recognizer is not None:
            recognizer.set_enabled(space_id, False, speaker_id=user_id)
        outbox = self._outboxes.get(space_id)
        if outbox is not None:
            outbox.partials.pop(user_id, None)
        if (space_id, user_id) in self._shown:
            now = time.time()
            self._queue(Caption(user_id, "", True, now, now, space_id, 0))

    # -- captions out --

    def _on_caption(self, caption: Caption) -> None:
        """From the recognizer, on the worker's loop."""
        if caption.space_id not in self._enabled:
            return
        self._queue(caption)

    def _queue(self, caption: Caption) -> None:
        space_id = _space_of(caption)
        outbox = self._outboxes.setdefault(space_id, _Outbox())
        if caption.is_final:
            outbox.partials.pop(caption.speaker_id, None)
            outbox.finals.append(caption)
        else:
            outbox.partials[caption.speaker_id] = caption
        if not outbox.sending:
            outbox.sending = True
            self._spawn(self._send(space_id, outbox))

    async def _send(self, space_id: int, outbox: _Outbox) -> None:
        try:
            while self._outboxes.get(space_id) is outbox:
                if outbox.finals:
                    await self._store(outbox.finals.popleft())
                elif outbox.partials:
                    speaker_id = next(iter(outbox.partials))
                    caption = outbox.partials.pop(speaker_id)
                    self._shown.add((space_id, speaker_id))
                    await bus.adeliver(bus.space_group(space_id), partial_event(caption))
                else:
                    break
        except Exception:
            logger.exception("space %s: captions could not be sent", space_id)
        finally:
            outbox.sending = False

    async def _store(self, caption: Caption) -> None:
        key = (caption.space_id, caption.speaker_id)
        stored = False
        if caption.text:
            try:
                await _append(
                    space_id=caption.space_id,
                    speaker_id=caption.speaker_id,
                    text=caption.text,
                    started_at=_when(caption.started_at),
                )
                stored = True  # its `caption.added` replaces the speaker's partial
            except ApplicationError as exc:
                # Captions turned off, the speaker left the stage, the Space ended: the service
                # is the judge, and a refused line is simply not part of the transcript.
                logger.info("space %s: caption not stored (%s)", caption.space_id, exc.code)
        if key in self._shown:
            self._shown.discard(key)
            if not stored:
                clear = Caption(
                    caption.speaker_id,
                    "",
                    False,
                    caption.started_at,
                    caption.ended_at,
                    caption.space_id,
                    caption.utterance,
                )
                await bus.adeliver(bus.space_group(_space_of(caption)), partial_event(clear))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _space_of(caption: Caption) -> int:
    # The bridge keys the worker (and so the recognizer) by Space primary key.
    assert isinstance(caption.space_id, int), caption.space_id
    return caption.space_id


def _user_id(event: dict[str, Any]) -> int | None:
    for holder in (event.get("participant"), event):
        user = holder.get("user") if isinstance(holder, dict) else None
        if isinstance(user, dict) and isinstance(user.get("id"), int):
            return int(user["id"])
    return None


# --- Transcript files ---------------------------------------------------------------------------

TRANSCRIPT_FORMATS = {
    "vtt": "text/vtt; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
}
# A line is stored when the speaker's silence ends the utterance (the recognizer's hangover), so
# its end is about then; the model keeps no end time. Bounded like the recognizer's utterances.
HANGOVER_SECONDS = 0.5
MIN_CUE_SECONDS = 0.5
MAX_CUE_SECONDS = 15.0


@dataclass(frozen=True)
class TranscriptFile:
    content: str
    content_type: str
    filename: str


def transcript_segments(lines: list[CaptionLine]) -> list[tuple[str, str, float, float]]:
    """(speaker, text, start, end) in epoch seconds; the end estimated from when the line was
    stored, never past the same speaker's next line."""
    segments = []
    next_start: dict[int | None, float] = {}  # each speaker's next line, walking backwards
    for line in reversed(lines):
        start = line.started_at.timestamp()
        end = line.created_at.timestamp() - HANGOVER_SECONDS
        end = min(max(end, start + MIN_CUE_SECONDS), start + MAX_CUE_SECONDS)
        following = next_start.get(line.speaker_id)
        if following is not None and following > start:
            end = min(end, following)
        next_start[line.speaker_id] = start
        speaker = line.speaker.name if line.speaker is not None else ""
        segments.append((speaker or "Someone", line.text, start, end))
    segments.reverse()
    return segments


def transcript_file(space: Space, lines: list[CaptionLine], fmt: str) -> TranscriptFile:
    """The transcript as WebVTT or plain text, times counted from when the Space went live."""
    if fmt not in TRANSCRIPT_FORMATS:
        raise ValueError(f"unknown transcript format {fmt!r}")
    segments = transcript_segments(lines)
    if space.started_at is not None:
        origin = space.started_at.timestamp()
    else:
        origin = min((segment[2] for segment in segments), default=0.0)
    render = transcript_webvtt if fmt == "vtt" else transcript_text
    return TranscriptFile(
        content=render(segments, origin=origin),
        content_type=TRANSCRIPT_FORMATS[fmt],
        filename=f"space-{space.pk}-transcript.{fmt}",
    )


def transcript_response(space: Space, lines: list[CaptionLine], fmt: str) -> HttpResponse:
    """The file as a download, for the API and the site alike."""
    document = transcript_file(space, lines, fmt)
    response = HttpResponse(document.content, content_type=document.content_type)
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
