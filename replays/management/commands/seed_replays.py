"""A demo replay: one ended Space of Grace's, recorded, with chapters, a transcript, reactions,
a speaker who kept their voice out for a while, and two clips. Runs after `seed_demo` (the
people) and `seed_tickets`; `make seed` runs all three.

The audio is made here, with no speech synthesizer (a fresh machine has only Python): each
speaker is a voice-like sound of their own pitch (harmonics under a pitch contour, syllables,
words and pauses), and they take turns as in a conversation. It goes through the media worker's
own recorder and storage sink into the `recordings` storage, and the replay is finalized by the
replays service, so the demo shows what a recorded Space really leaves behind.

The Space is lived through the services (start, join, the stage, consent, captions, end) in a
second or two, then its clock is set back so that it lasted as long as its recording: the rows
that carry a time (the Space's start and end, the moderation log, presence) are moved onto the
recording's wall time, where the replay places them.

Grace publishes her replays as a podcast: the first run turns her feed on (a later run leaves
her choice alone) and builds the replay's single-file audio, so `/u/grace/podcast.xml` lists it.

Idempotent: while the demo replay is there (ready), a second run only makes sure its two clips
and its podcast audio exist. Deleted (by the host, staff or the retention period), the next run
records a new one.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum

from accounts.models import User
from media.config import MediaConfig
from media.dsp import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, OpusEncoder, dbov_one
from media.recording import QUEUE_SEGMENTS, SEGMENT_TICKS, PartSummary, Recorder
from replays import services as replays
from replays.models import Clip, PodcastFeed, ReplayAudio
from spaces import services
from spaces.audio.recording import StorageSink
from spaces.models import (
    Comment,
    ModerationAction,
    Participant,
    Reaction,
    ReactionBucket,
    ReactionCount,
    Recording,
    Space,
)
from spaces_project.errors import ApplicationError

HOST = "grace"
SPEAKERS = ["ada", "linus"]
LISTENERS = ["margaret", *(f"fan{n:04d}" for n in range(301, 313))]
OPTED_OUT = "linus"
TITLE = "Nanoseconds, moths and the first compilers"
TOPICS = ["History", "Computing"]

# Seconds from the recording's start. Each turn: who, from, to, and what the captions said.
TURNS: list[tuple[str, float, float, list[str]]] = [
    (
        "grace",
        0.5,
        13.0,
        [
            "Welcome, everyone. Tonight: nanoseconds, moths and the very first compilers.",
            "I brought a length of wire, to show you how far light goes in a billionth "
            "of a second.",
        ],
    ),
    (
        "ada",
        13.5,
        25.0,
        [
            "Thank you, Grace. I want to begin with the Notes, and the idea that a machine "
            "could act on more than numbers.",
            "Music, for instance, if its rules could be written down.",
        ],
    ),
    (
        "linus",
        25.5,
        34.5,
        ["From the kernel side: the first bug story still comes up in every code review."],
    ),
    (
        "grace",
        35.0,
        45.5,
        [
            "That moth was taped into the log book in 1947.",
            "First actual case of bug being found. We kept the page.",
        ],
    ),
    (
        "linus",
        46.0,
        52.0,
        ["Let me tell you what our scheduler did last week. Off the record, please."],
    ),
    (
        "ada",
        52.5,
        64.0,
        [
            "Which brings us back to Note G: the first published program had a bug of its own.",
            "An operand swapped in the table. Nobody ran it for a century.",
        ],
    ),
    (
        "grace",
        64.5,
        74.5,
        ["That's our time. Thank you Ada, thank you Linus, and thank you all for listening."],
    ),
]
DURATION = 75.0
# Comments posted while it was live, in seconds from the start: the replay shows them in place.
COMMENTS: list[tuple[str, float, str]] = [
    ("margaret", 6.0, "Joining from the lab, hello everyone!"),
    ("fan0301", 14.5, "@grace the nanosecond wire story never gets old"),
    (
        "fan0302",
        27.0,
        "Here is the bug in the logbook: https://en.wikipedia.org/wiki/Bug_(engineering)",
    ),
    ("margaret", 41.0, "@ada what would you have compiled first?"),
    ("fan0303", 58.5, "Clipping this part for my students"),
    ("fan0304", 70.0, "Thank you, this was wonderful"),
]
# Linus keeps his voice out from here to there: listeners heard him, the replay does not.
OPT_OUT = (45.8, 52.2)
# Before the recording (everyone joining) and after it (goodbyes), in seconds.
LEAD, TAIL = 4.0, 3.0
# Fundamental frequency of each voice, in Hz.
PITCH = {"grace": 205.0, "ada": 180.0, "linus": 118.0}
CLIPS: list[tuple[str, int, int, str]] = [
    ("grace", 35_000, 46_000, "The first actual bug"),
    ("margaret", 52_500, 64_000, "Note G had a bug too"),
]
# Reactions per 10-second window of the recording (the windows that fit in it): a trickle,
# laughs at the moth, applause at the end.
REACTIONS: dict[str, list[int]] = {
    Reaction.WAVE: [9, 2, 0, 0, 0, 0, 3],
    Reaction.HEART: [2, 3, 4, 2, 3, 5, 8],
    Reaction.JOY: [0, 1, 0, 6, 14, 2, 0],
    Reaction.HUNDRED: [0, 0, 2, 1, 3, 6, 2],
    Reaction.CLAP: [1, 0, 1, 0, 2, 3, 21],
}
LEVELS_TICKS = round(MediaConfig().levels_interval / FRAME_SECONDS)
WITHIN = 60.0
"""Seconds the recorder's writer may take to catch up: a bound for a broken disk, no more."""

Pcm = npt.NDArray[np.float64]
Action = ModerationAction.Action


class Command(BaseCommand):
    help = "Record a demo replay of a Space of Grace's, with clips (after seed_demo). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        names = [HOST, *SPEAKERS, *LISTENERS]
        people = {u.username: u for u in User.objects.filter(username__in=names)}
        missing = [n for n in [HOST, *SPEAKERS, "margaret"] if n not in people]
        if missing:
            raise CommandError(f"No user {missing[0]!r}: run `manage.py seed_demo` first.")
        host = people[HOST]
        space = (
            Space.objects.filter(
                host=host,
                title=TITLE,
                state=Space.State.ENDED,
                recording__status=Recording.Status.READY,
            )
            .order_by("-ended_at")
            .first()
        )
        made = space is None
        if space is None:
            try:
                space = self._record(people)
            except ApplicationError as error:  # e.g. Grace is live in the demo right now
                self.stderr.write(f"  no demo replay: {error.message}")
                return
        clips = self._clips(space, people)
        recording = Recording.objects.get(space=space)
        minutes, seconds = divmod(round(recording.duration_ms / 1000), 60)
        self.stdout.write(
            f"  Replay {'recorded' if made else 'already there'}: “{space.title}” by {HOST}, "
            f"{minutes}:{seconds:02d}, {len(recording.turns)} chapters, {clips} clips, "
            f"/spaces/{space.pk}/replay/"
        )
        self._podcast(host, recording)

    def _podcast(self, host: User, recording: Recording) -> None:
        """Grace's podcast on (the first time only) and the demo replay's audio built."""
        if not PodcastFeed.objects.filter(user=host).exists():
            replays.podcast_feed_update(user=host, enabled=True, category="Technology")
        if not PodcastFeed.objects.filter(user=host, enabled=True).exists():
            self.stdout.write(f"  Podcast of {HOST}: off (turned off in her settings)")
            return
        if not ReplayAudio.objects.filter(recording=recording).exists():
            replays.replay_audio_build(space_id=recording.space_id)
        self.stdout.write(f"  Podcast of {HOST}: /u/{HOST}/podcast.xml")

    # -- the Space, lived through the services --

    def _record(self, people: dict[str, User]) -> Space:
        host = people[HOST]
        # A run that died half-way left the host live: end that first (one live Space a host).
        for stale in Space.objects.filter(host=host, title=TITLE, state=Space.State.LIVE):
            services.space_end(actor=host, space_id=stale.pk)
        space = services.space_start(
            host=host,
            title=TITLE,
            topics=TOPICS,
            captions_enabled=True,
            recording_enabled=True,
            clips_enabled=True,
        )
        services.participant_unmute(actor=host, space_id=space.pk, user_id=host.pk)
        for name in SPEAKERS:
            speaker = people[name]
            services.space_join(user=speaker, space_id=space.pk)
            request, _ = services.speaker_request_create(user=speaker, space_id=space.pk)
            services.speaker_request_approve(actor=host, space_id=space.pk, request_id=request.pk)
            services.participant_unmute(actor=speaker, space_id=space.pk, user_id=speaker.pk)
        for name in LISTENERS:
            if name in people:
                services.space_join(user=people[name], space_id=space.pk)
        opted_out = people[OPTED_OUT]
        services.recording_consent_set(actor=opted_out, space_id=space.pk, recorded=False)
        services.recording_consent_set(actor=opted_out, space_id=space.pk, recorded=True)

        wall = time.time() - DURATION - TAIL
        for name, start, end, lines in TURNS:
            step = (end - start) / len(lines)
            for n, text in enumerate(lines):
                services.caption_append(
                    space_id=space.pk,
                    speaker_id=people[name].pk,
                    text=text,
                    started_at=_at(wall + start + n * step),
                )
        for name, at, text in COMMENTS:
            if name in people:
                comment = services.comment_post(user=people[name], space_id=space.pk, text=text)
                Comment.objects.filter(pk=comment.pk).update(created_at=_at(wall + at))
        summary = _record_audio(space.pk, people, wall)
        services.space_end(actor=host, space_id=space.pk)
        self._set_clock_back(space, people, wall)
        if replays.recording_finalize(space_id=space.pk) is None:
            raise CommandError("the demo recording could not be finalized")
        self._reactions(space, wall)
        if summary.dropped_segments:
            self.stderr.write(f"  {summary.dropped_segments} segments dropped")
        space.refresh_from_db()
        return space

    def _set_clock_back(self, space: Space, people: dict[str, User], wall: float) -> None:
        started, ended = _at(wall - LEAD), _at(wall + DURATION + TAIL)
        Space.objects.filter(pk=space.pk).update(started_at=started, ended_at=ended)
        Participant.objects.filter(space=space).update(
            created_at=started,
            joined_at=started,
            role_since=started,
            left_at=ended,
            last_seen_at=ended,
        )
        log = ModerationAction.objects.filter(space=space)
        log.exclude(action__in=[Action.RECORDING_CONSENT, Action.SPACE_ENDED]).update(
            created_at=started + timedelta(seconds=1)
        )
        log.filter(action=Action.SPACE_ENDED).update(created_at=ended)
        consent = log.filter(action=Action.RECORDING_CONSENT, target=people[OPTED_OUT])
        for recorded, at in ((False, OPT_OUT[0]), (True, OPT_OUT[1])):
            consent.filter(details__recorded=recorded).update(created_at=_at(wall + at))

    def _reactions(self, space: Space, wall: float) -> None:
        # Windows wholly inside the recording: the replay places a window by its start.
        first = math.ceil(wall / ReactionBucket.SECONDS) * ReactionBucket.SECONDS
        ReactionBucket.objects.bulk_create(
            [
                ReactionBucket(
                    space=space,
                    at=_at(first + n * ReactionBucket.SECONDS),
                    code=code,
                    count=count,
                )
                for code, counts in REACTIONS.items()
                for n, count in enumerate(counts)
                if count
            ],
            ignore_conflicts=True,
        )
        totals = ReactionBucket.objects.filter(space=space).values("code").annotate(n=Sum("count"))
        for row in totals:
            ReactionCount.objects.update_or_create(
                space=space, code=row["code"], defaults={"count": row["n"]}
            )

    def _clips(self, space: Space, people: dict[str, User]) -> int:
        """Make the demo clips that are not there (their authors' clips of those ranges)."""
        for author, start_ms, end_ms, title in CLIPS:
            exists = Clip.objects.filter(
                space=space,
                author=people[author],
                start_ms=start_ms,
                deleted_at__isnull=True,
            ).exists()
            if exists:
                continue
            try:
                replays.clip_create(
                    actor=people[author],
                    space_id=space.pk,
                    start_ms=start_ms,
                    end_ms=end_ms,
                    title=title,
                )
            except ApplicationError as error:  # e.g. a block made while demoing
                self.stderr.write(f"  {author} did not clip the replay: {error.message}")
        return Clip.objects.filter(space=space, deleted_at__isnull=True).count()


def _at(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, UTC)


# --- The recording --------------------------------------------------------------------------------


class _PacedSink:
    """The media worker's sink, counting the segments it stored: the seeder makes audio far
    faster than real time, and waits for storage rather than let the recorder drop segments."""

    def __init__(self, sink: StorageSink) -> None:
        self.sink = sink
        self.segments = 0
        self._stored = threading.Condition()

    def write(self, part: str, name: str, data: bytes) -> None:
        self.sink.write(part, name, data)
        if name.endswith(".m4s"):
            with self._stored:
                self.segments += 1
                self._stored.notify_all()

    def started(self, part: str, wall_start: float) -> None:
        self.sink.started(part, wall_start)

    def closed(self, summary: PartSummary) -> None:
        self.sink.closed(summary)

    def wait_for(self, segments: int) -> None:
        with self._stored:
            if not self._stored.wait_for(lambda: self.segments >= segments, WITHIN):
                raise CommandError("the recordings storage is too slow for the demo")


def _record_audio(space_id: int, people: dict[str, User], wall: float) -> PartSummary:
    """The conversation through the recorder, tick by tick, as the media origin would: the mix
    without the opted-out speaker while they are out, and each levels window's speakers."""
    ticks = round(DURATION / FRAME_SECONDS)
    voices = _voices(ticks * FRAME_SAMPLES)
    sink = _PacedSink(StorageSink(space_id))
    recorder = Recorder(
        sink,
        part=f"{int(wall * 1000):013d}-{random.randrange(1 << 32):08x}",
        wall_start=wall,
        first_index=0,
    )
    out_from, out_to = (round(s / FRAME_SECONDS) for s in OPT_OUT)
    threshold = MediaConfig().speaking_threshold_dbov
    encoder = OpusEncoder()
    peaks = dict.fromkeys(voices, -127.0)
    for tick in range(ticks):
        if tick and tick % SEGMENT_TICKS == 0:
            sink.wait_for(tick // SEGMENT_TICKS - QUEUE_SEGMENTS // 2)
        if tick == out_from:
            recorder.note_left_out({people[OPTED_OUT].pk})
        left_out = OPTED_OUT if out_from <= tick < out_to else None
        frame = slice(tick * FRAME_SAMPLES, (tick + 1) * FRAME_SAMPLES)
        mix = np.zeros(FRAME_SAMPLES, dtype=np.float64)
        for name, voice in voices.items():
            pcm = voice[frame]
            peaks[name] = max(peaks[name], dbov_one(pcm.astype(np.float32)))
            if name != left_out:
                mix += pcm
        for payload in encoder.encode(np.clip(mix, -32767, 32767).astype(np.int16)):
            recorder.add(tick, payload)
        if tick % LEVELS_TICKS == LEVELS_TICKS - 1:
            speaking = sorted(
                (n for n in peaks if peaks[n] > threshold and n != left_out),
                key=lambda n: -peaks[n],
            )
            recorder.note_speaking(
                [people[n].pk for n in speaking], LEVELS_TICKS * FRAME_SECONDS, tick
            )
            peaks = dict.fromkeys(voices, -127.0)
    recorder.close()
    if not recorder.wait_closed(WITHIN):
        raise CommandError("the demo recording was not stored in time")
    return recorder.summary


@dataclass(frozen=True)
class _Syllable:
    start: int
    length: int
    pitch: float  # Hz at its start
    glide: float  # its pitch at the end, relative to the start
    loudness: float
    brightness: float  # how much of the upper harmonics (an open or a closed vowel)


def _voices(samples: int) -> dict[str, Pcm]:
    """Each speaker's track over the whole recording (int16 scale, silence outside their turns).

    A voice is a sum of harmonics of a pitch that moves (a little per syllable, falling over a
    phrase, as speech does), shaped by syllables of 120 to 260 ms with gaps, words and longer
    pauses between phrases. Seeded: every run makes the same audio."""
    rng = np.random.default_rng(1947)
    tracks = {name: np.zeros(samples, dtype=np.float64) for name in PITCH}
    for name, start, end, _ in TURNS:
        _sing(tracks[name], _syllables(rng, PITCH[name], start, end))
    return tracks


def _syllables(rng: np.random.Generator, pitch: float, start: float, end: float) -> list[_Syllable]:
    out: list[_Syllable] = []
    t = start
    while t < end - 0.4:
        phrase = int(rng.integers(7, 15))
        for n in range(phrase):
            length = float(rng.uniform(0.12, 0.26))
            if t + length > end:
                break
            fall = 1.12 - 0.22 * n / phrase  # declination over the phrase
            out.append(
                _Syllable(
                    start=round(t * SAMPLE_RATE),
                    length=round(length * SAMPLE_RATE),
                    pitch=pitch * fall * float(rng.uniform(0.94, 1.08)),
                    glide=float(rng.uniform(0.93, 1.05)),
                    loudness=float(rng.uniform(0.55, 1.0)),
                    brightness=float(rng.uniform(0.4, 1.0)),
                )
            )
            t += length + float(rng.uniform(0.02, 0.06))
            if rng.random() < 0.3:  # the end of a word
                t += float(rng.uniform(0.06, 0.16))
        t += float(rng.uniform(0.35, 0.7))  # a breath between phrases
    return out


def _sing(track: Pcm, syllables: list[_Syllable]) -> None:
    for s in syllables:
        n = min(s.length, len(track) - s.start)
        if n <= 0:
            continue
        x = np.arange(n) / s.length
        frequency = s.pitch * (1.0 + (s.glide - 1.0) * x)
        phase = 2.0 * np.pi * np.cumsum(frequency) / SAMPLE_RATE
        envelope = np.sin(np.pi * x) ** 0.6 * s.loudness
        sound = np.zeros(n, dtype=np.float64)
        for harmonic in range(1, 9):
            # A vowel-like tilt: strong low harmonics, the upper ones by the vowel's brightness.
            weight = harmonic**-1.1 * (1.0 if harmonic < 3 else s.brightness)
            if harmonic * s.pitch < SAMPLE_RATE / 2:
                sound += weight * np.sin(harmonic * phase)
        track[s.start : s.start + n] += 0.2 * 32767 * envelope * sound
