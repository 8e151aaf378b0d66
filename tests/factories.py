"""Rows for tests, and scenario builders that put people in place through the real services (so
counters, logs and constraints stay as production keeps them). Sync: an async socket test calls
them through `tests.realtime.helpers.db`."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import factory
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from accounts.models import Block, Follow, Notification, User
from spaces import services
from spaces.models import Invitation, Participant, Recording, Space, recording_prefix
from spaces_project import storage

PASSWORD = "correct-horse-battery"
_HASHED: dict[str, str] = {}


def _hashed(password: str) -> str:
    # Hashing once per run keeps factories fast even with the production hasher.
    if password not in _HASHED:
        _HASHED[password] = make_password(password)
    return _HASHED[password]


# --- Accounts ------------------------------------------------------------------------------------


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    display_name = factory.LazyAttribute(lambda u: u.username.title())
    password = factory.LazyFunction(lambda: _hashed(PASSWORD))


class FollowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Follow

    follower = factory.SubFactory(UserFactory)
    followee = factory.SubFactory(UserFactory)


class BlockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Block

    blocker = factory.SubFactory(UserFactory)
    blocked = factory.SubFactory(UserFactory)


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    kind = Notification.Kind.FOLLOW
    payload = factory.LazyFunction(dict)


def make_followers(user: User, count: int, *, prefix: str | None = None) -> list[User]:
    """Bulk-create `count` users who follow `user`: two INSERTs, not 2 x count."""
    prefix = prefix or f"fan-of-{user.username}-"
    password = _hashed(PASSWORD)
    fans = User.objects.bulk_create(
        [
            User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com", password=password)
            for i in range(count)
        ]
    )
    if fans and fans[0].pk is None:  # backends that do not return ids from bulk_create
        fans = list(User.objects.filter(username__startswith=prefix).order_by("pk"))
    Follow.objects.bulk_create([Follow(follower=fan, followee=user) for fan in fans])
    return fans


# --- Spaces --------------------------------------------------------------------------------------


class SpaceFactory(factory.django.DjangoModelFactory):
    """A live Space with its host present (use `ended_space` for an ended one)."""

    class Meta:
        model = Space
        skip_postgeneration_save = True

    host = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Space number {n}")
    state = Space.State.LIVE
    started_at = factory.LazyFunction(timezone.now)
    max_speakers = factory.LazyFunction(lambda: settings.SPACES_MAX_SPEAKERS)
    max_cohosts = factory.LazyFunction(lambda: settings.SPACES_MAX_COHOSTS)
    total_joined_count = 1

    @factory.post_generation
    def host_participant(obj: Space, create: bool, extracted: object, **kwargs: object) -> None:
        if not create:
            return
        now = timezone.now()
        Participant.objects.create(
            space=obj,
            user=obj.host,
            role=Participant.Role.HOST,
            state=Participant.State.PRESENT if obj.is_live else Participant.State.LEFT,
            joined_at=now,
            last_seen_at=now,
            role_since=now,
        )


def ended_space(**kwargs: object) -> Space:
    return SpaceFactory(state=Space.State.ENDED, ended_at=timezone.now(), **kwargs)


def join(space: Space, who: User | None = None) -> User:
    """`who` (a new user if None) joins `space` as a listener."""
    who = who or UserFactory()
    services.space_join(user=who, space_id=space.pk)
    return who


def raise_hand(space: Space, who: User) -> int:
    """The id of `who`'s speaker request."""
    request, _ = services.speaker_request_create(user=who, space_id=space.pk)
    return request.pk


def make_speaker(space: Space, who: User | None = None, *, unmuted: bool = False) -> User:
    """Join, raise a hand and get approved by the host (then unmute, if asked)."""
    who = join(space, who)
    request_id = raise_hand(space, who)
    services.speaker_request_approve(actor=space.host, space_id=space.pk, request_id=request_id)
    if unmuted:
        services.participant_unmute(actor=who, space_id=space.pk, user_id=who.pk)
    return who


def invite(space: Space, who: User, kind: str = Invitation.Kind.SPEAKER) -> int:
    """The id of the host's invitation of `who`."""
    invitation, _ = services.invitation_create(
        actor=space.host, space_id=space.pk, invitee_id=who.pk, kind=kind
    )
    return invitation.pk


def make_cohost(space: Space, who: User | None = None) -> User:
    """Join, be invited to co-host by the host, accept."""
    who = join(space, who)
    invitation_id = invite(space, who, Invitation.Kind.COHOST)
    services.invitation_accept(user=who, space_id=space.pk, invitation_id=invitation_id)
    return who


def participant(space: Space, who: User) -> Participant:
    return Participant.objects.get(space=space, user=who)


def fresh(space: Space) -> Space:
    space.refresh_from_db()
    return space


def age(space: Space, who: User, seconds: float) -> None:
    """Time travel: `who` was last seen `seconds` ago (their socket died then)."""
    Participant.objects.filter(space=space, user=who).update(
        last_seen_at=timezone.now() - timedelta(seconds=seconds)
    )


def past_grace() -> float:
    """Older than the host's grace plus one presence refresh: the host is surely gone."""
    return settings.SPACES_HOST_GRACE_SECONDS + settings.SPACES_PRESENCE_TOUCH_SECONDS + 5


def every_page_type(*, host_name: str, listener_name: str) -> dict[str, Any]:
    """One of each thing a page shows: a host able to sell tickets, a listener in a live Space,
    an ended Space, a scheduled one and a ticketed one. For tests that visit every page type.
    The caller sets SPACES_HOST_MIN_FOLLOWERS and SPACES_TICKETED_MIN_FOLLOWERS to 1 and keeps
    scheduling's sweep from being kicked (`schedule._kick_sweep`)."""
    from scheduling import services as scheduling_services
    from ticketing import services as ticketing_services

    host = UserFactory(username=host_name, display_name="The Host")
    make_followers(host, 2)
    listener = UserFactory(username=listener_name, display_name="Lis")
    live = SpaceFactory(host=host)
    join(live, listener)
    soon = timezone.now() + timedelta(hours=3)
    return {
        "host": host,
        "listener": listener,
        "live": live,
        "ended": ended_space(),
        "scheduled": scheduling_services.scheduled_space_create(
            host=host, title="Later", scheduled_for=soon
        ),
        "ticketed": ticketing_services.ticketed_space_create(
            host=host,
            title="Paid",
            scheduled_for=soon,
            price=settings.TICKET_PRICE_MIN,
            capacity=3,
        ),
    }


# --- Recordings ----------------------------------------------------------------------------------

_LEVELS_TICKS = 10  # a levels window of 200 ms, as the origin's


class _ThisThreadSink:
    """`StorageSink`'s files, but its domain calls left to the test's own thread: the writer
    thread's database connection would not see rows of a test's open transaction."""

    def __init__(self, space_id: int) -> None:
        from spaces.audio.recording import StorageSink

        self.files = StorageSink(space_id)
        self.wall_start: float | None = None
        self.segments = 0

    def write(self, part: str, name: str, data: bytes) -> None:
        self.files.write(part, name, data)
        if name.endswith(".m4s"):
            self.segments += 1

    def started(self, part: str, wall_start: float) -> None:
        self.wall_start = wall_start

    def closed(self, summary: object) -> None:
        pass


def make_replay(
    space: Space,
    *,
    seconds: float = 6.0,
    tone_hz: float = 440.0,
    speakers: list[User] | None = None,
) -> Recording:
    """A real recording of `space`: `seconds` of a tone encoded with Opus and stored as HLS by
    the media worker's own recorder, starting at `space.started_at` (so caption lines and
    reactions stamped inside that window land on the replay). `speakers` (default: the host)
    speak in equal turns: the replay's "who spoke" and chapters. An ended Space gets a ready
    replay; a live one a recording still `recording` (what a live clip cuts from). Returns the
    `spaces.Recording`."""
    import numpy as np

    from media import fmp4
    from media.dsp import OpusEncoder
    from media.recording import QUEUE_SEGMENTS, SEGMENT_TICKS, Recorder
    from replays import services as replays_services

    speakers = speakers if speakers is not None else [space.host]
    # A rolled-back test gives its Space ids out again (SQLite): its files must not join ours.
    storage.delete_tree(storage.recordings(), recording_prefix(space.pk))
    started = space.started_at or timezone.now() - timedelta(seconds=seconds)
    wall = started.timestamp()
    sink = _ThisThreadSink(space.pk)
    recorder = Recorder(
        sink, part=f"{int(wall * 1000):013d}-0000abcd", wall_start=wall, first_index=0
    )
    ticks = round(seconds * fmp4.SAMPLE_RATE / fmp4.FRAME_SAMPLES)
    n = fmp4.FRAME_SAMPLES
    t = np.arange(ticks * n)
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * tone_hz * t / fmp4.SAMPLE_RATE)).astype(np.int16)
    encoder = OpusEncoder()
    packets = [p for i in range(ticks) for p in encoder.encode(pcm[i * n : (i + 1) * n])]
    turn = max(1, len(packets) // max(1, len(speakers)))
    for i, payload in enumerate(packets):
        if i and i % SEGMENT_TICKS == 0:
            # Faster than real time: let the writer keep up, or the recorder drops segments.
            deadline = time.monotonic() + 30
            while i // SEGMENT_TICKS - sink.segments > QUEUE_SEGMENTS // 2:
                assert time.monotonic() < deadline, "the recorder's writer is stuck"
                time.sleep(0.002)
        recorder.add(i, payload)
        if speakers and i % _LEVELS_TICKS == _LEVELS_TICKS - 1:
            who = speakers[min(i // turn, len(speakers) - 1)]
            recorder.note_speaking([who.pk], _LEVELS_TICKS * n / fmp4.SAMPLE_RATE, i)
    recorder.close()
    assert recorder.wait_closed(30), "the recorder's writer never finished"
    assert sink.wall_start is not None, "no segment was stored"
    services.recording_mark_started(space_id=space.pk, started_at=started)
    space.refresh_from_db()
    if space.state == Space.State.ENDED:
        replays_services.recording_finalize(space_id=space.pk)
    return Recording.objects.get(space=space)
