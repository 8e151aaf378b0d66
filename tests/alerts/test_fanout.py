"""The go-live fan-out: who is told, exactly once, in chunks, and what is never done twice.

Runs on SQLite and on PostgreSQL (the distributed shape's suite runs it again there); the
killed-worker test with real Celery workers is test_celery_e2e.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.core import mail
from django.db import transaction

from accounts.models import Block, Follow, Notification, User
from alerts import services
from alerts.models import GoLiveAlert, GoLiveChunk
from scheduling import services as scheduling_services
from spaces.models import Space
from tests.alerts.conftest import Pushes
from tests.factories import UserFactory, make_followers

pytestmark = pytest.mark.django_db

KIND = Notification.Kind.FOLLOWED_LIVE
FOLLOWERS = 12
CHUNK = 5


@pytest.fixture(autouse=True)
def small(settings: Any) -> None:
    settings.SPACES_HOST_MIN_FOLLOWERS = 1
    settings.SPACES_GOLIVE_CHUNK = CHUNK
    settings.SPACES_GOLIVE_PUSH_BATCH = 4


@pytest.fixture
def star(db: None) -> User:
    return UserFactory(username="star", display_name="The Star")


@pytest.fixture
def fans(star: User) -> list[User]:
    return make_followers(star, FOLLOWERS)


def told(space: Space) -> Counter[int]:
    """How many go-live inbox rows each person has for `space`."""
    rows = Notification.objects.filter(kind=KIND).values_list("recipient_id", "payload")
    return Counter(uid for uid, payload in rows if payload.get("space_id") == space.pk)


def test_every_follower_gets_one_inbox_row_written_in_chunks(star, fans, go_live, pushes):
    space = go_live(star)

    assert told(space) == Counter({fan.pk: 1 for fan in fans})
    alert = GoLiveAlert.objects.get(space=space)
    assert alert.status == GoLiveAlert.Status.DONE
    assert alert.cursor == max(fan.pk for fan in fans)
    assert alert.inbox_count == FOLLOWERS
    chunks = list(alert.chunk_set.order_by("after_id"))
    assert len(chunks) == 3  # 5 + 5 + 2
    # The ranges follow one another: nobody in two chunks, nobody between two.
    assert chunks[0].after_id == 0
    assert all(a.last_id == b.after_id for a, b in pairwise(chunks))
    note = Notification.objects.filter(kind=KIND, recipient=fans[0]).get()
    assert note.payload == {
        "host": "star",
        "host_name": "The Star",
        "title": "Morning show",
        "space_id": space.pk,
    }
    assert not note.is_read


def test_push_goes_to_each_follower_once_in_batches(star, fans, go_live, pushes: Pushes):
    space = go_live(star)

    assert sorted(pushes.users()) == sorted(fan.pk for fan in fans)
    assert max(len(call["user_ids"]) for call in pushes.calls) <= 4
    call = pushes.calls[0]
    assert call["topic"] == f"space-{space.pk}"
    assert call["payload"]["url"] == f"/spaces/{space.pk}/"
    assert call["payload"]["title"] == "The Star is live"
    assert call["payload"]["body"] == "Morning show"
    alert = GoLiveAlert.objects.get(space=space)
    assert sum(alert.chunk_set.values_list("pushed_count", flat=True)) == FOLLOWERS
    assert set(alert.chunk_set.values_list("push_state", flat=True)) == {"sent"}


def test_the_bell_the_switch_and_deactivated_accounts_are_honoured(star, fans, go_live):
    bell_off, switch_off, gone, *others = fans
    Follow.objects.filter(follower=bell_off, followee=star).update(alerts=Follow.Alerts.NONE)
    User.objects.filter(pk=switch_off.pk).update(live_alerts=False)
    User.objects.filter(pk=gone.pk).update(is_active=False)

    space = go_live(star)

    assert told(space) == Counter({fan.pk: 1 for fan in others})


def test_blocked_either_way_is_left_out(star, fans, go_live, pushes):
    # Rows as a block made while the fan-out runs leaves them (block_create drops the follows).
    blocked_by_host, blocked_the_host, *others = fans
    Block.objects.create(blocker=star, blocked=blocked_by_host)
    Block.objects.create(blocker=blocked_the_host, blocked=star)

    space = go_live(star)

    assert told(space) == Counter({fan.pk: 1 for fan in others})
    assert blocked_by_host.pk not in pushes.users()
    assert blocked_the_host.pk not in pushes.users()


def test_a_follower_holding_a_reminder_gets_one_inbox_row_for_the_go_live(
    star, fans, committed, clock
):
    holder, *others = fans
    space = scheduling_services.scheduled_space_create(
        host=star, title="Planned", scheduled_for=clock.now + timedelta(hours=1)
    )
    scheduling_services.reminder_set(user=holder, space_id=space.pk)
    with committed():
        scheduling_services.scheduled_space_start(actor=star, space_id=space.pk)
    with committed():
        scheduling_services.deliveries_send_due()

    assert told(space) == Counter({fan.pk: 1 for fan in others})
    # The holder hears it once, from scheduling's "live now".
    kinds = list(Notification.objects.filter(recipient=holder).values_list("kind", flat=True))
    assert kinds == [Notification.Kind.SPACE_LIVE]


def test_a_restart_within_the_window_alerts_nobody_again(star, fans, go_live, end, clock):
    first = go_live(star)
    end(first)
    clock.advance(minutes=5)
    second = go_live(star, title="Morning show, again")

    assert GoLiveAlert.objects.get(space=second).status == GoLiveAlert.Status.REPEAT
    assert told(second) == Counter()
    assert told(first) == Counter({fan.pk: 1 for fan in fans})


def test_a_host_live_again_after_the_window_alerts_again(star, fans, go_live, end, clock):
    first = go_live(star)
    end(first)
    clock.advance(minutes=11)
    second = go_live(star, title="Evening show")

    assert GoLiveAlert.objects.get(space=second).status == GoLiveAlert.Status.DONE
    assert told(second) == Counter({fan.pk: 1 for fan in fans})


def test_past_the_hourly_limit_nobody_is_alerted(star, fans, go_live, end, clock, settings):
    settings.SPACES_GOLIVE_ALERTS_PER_HOUR = 2
    settings.SPACES_GOLIVE_REPEAT_SECONDS = 0
    statuses = []
    for n in range(3):
        space = go_live(star, title=f"Show {n}")
        statuses.append(GoLiveAlert.objects.get(space=space).status)
        end(space)
        clock.advance(minutes=1)

    assert statuses == ["done", "done", "rate_limited"]
    assert Notification.objects.filter(kind=KIND).count() == 2 * FOLLOWERS


def test_the_feed_hears_one_message_for_all_the_followers(star, fans, go_live, published):
    space = go_live(star)

    alerts = [(group, event) for group, event in published if event["type"] == "alert.live"]
    assert alerts == [
        (
            f"following.{star.pk}",
            {
                "type": "alert.live",
                "space": {"id": space.pk, "title": "Morning show"},
                "host": {"id": star.pk, "username": "star", "name": "The Star"},
            },
        )
    ]


def test_a_rolled_back_go_live_alerts_nobody(star, fans, committed, published):
    from spaces import services as spaces_services

    def start_then_fail() -> None:
        with transaction.atomic():
            spaces_services.space_start(host=star, title="Never")
            raise RuntimeError("the request failed after the start")

    with committed(), pytest.raises(RuntimeError):
        start_then_fail()

    assert not GoLiveAlert.objects.exists()
    assert not Notification.objects.filter(kind=KIND).exists()
    assert not [e for _, e in published if e["type"] == "alert.live"]


def test_a_chunk_that_fails_mid_way_leaves_nothing_and_the_resume_misses_nobody(
    star, fans, go_live, monkeypatch
):
    # The second chunk dies after its inbox INSERT, before it commits (as a killed worker).
    real_create = GoLiveChunk.objects.create
    calls = {"n": 0}

    def dying_create(**kwargs: Any) -> GoLiveChunk:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker lost")
        return real_create(**kwargs)

    monkeypatch.setattr(GoLiveChunk.objects, "create", dying_create)
    go_live(star)  # the failure is logged: the host's start is not hurt by it
    space = Space.objects.get(host=star, state=Space.State.LIVE)
    alert = GoLiveAlert.objects.get(space=space)
    assert alert.status == GoLiveAlert.Status.RUNNING
    assert alert.chunks == 1
    assert sum(told(space).values()) == CHUNK  # the first chunk only: the second rolled back

    services.golive_fanout(alert_id=alert.pk)  # as the sweep's resume would

    assert told(space) == Counter({fan.pk: 1 for fan in fans})
    alert.refresh_from_db()
    assert (alert.status, alert.chunks, alert.inbox_count) == ("done", 3, FOLLOWERS)


def test_the_sweep_resumes_a_stalled_fan_out(star, fans, go_live, monkeypatch, clock):
    queued: list[int] = []
    monkeypatch.setattr(services, "queue_fanout", queued.append)
    space = go_live(star)
    alert = GoLiveAlert.objects.get(space=space)
    assert queued == [alert.pk]  # queued after commit, then lost with its worker
    assert told(space) == Counter()

    assert services.golive_sweep()["resumed"] == 0  # not stalled yet
    clock.advance(seconds=31)
    assert services.golive_sweep()["resumed"] == 1
    assert queued == [alert.pk, alert.pk]
    services.golive_fanout(alert_id=alert.pk)

    assert told(space) == Counter({fan.pk: 1 for fan in fans})


def test_a_send_task_that_runs_twice_pushes_and_mails_nobody_twice(
    star, fans, go_live, pushes: Pushes
):
    User.objects.filter(pk__in=[fans[0].pk, fans[1].pk]).update(live_alert_emails=True)
    User.objects.filter(pk=fans[1].pk).update(email_notifications=False)  # the master switch
    space = go_live(star)
    chunk_ids = list(GoLiveChunk.objects.values_list("pk", flat=True))

    for chunk_id in chunk_ids:  # a redelivered task, a second copy
        assert services.golive_chunk_send(chunk_id=chunk_id) == {"pushed": 0, "emailed": 0}

    assert Counter(pushes.users()) == Counter({fan.pk: 1 for fan in fans})
    assert [m.to for m in mail.outbox] == [[fans[0].email]]
    message = mail.outbox[0]
    assert message.subject == "The Star is live: “Morning show”"
    assert f"/spaces/{space.pk}/" in message.body
    assert sum(GoLiveChunk.objects.values_list("emailed_count", flat=True)) == 1


def test_a_send_claimed_by_a_worker_that_died_is_marked_lost_not_sent_again(
    star, fans, go_live, pushes: Pushes, monkeypatch, clock
):
    monkeypatch.setattr(services, "queue_send", lambda chunk_id: None)
    go_live(star)
    chunk = GoLiveChunk.objects.order_by("after_id").first()
    assert chunk is not None
    # A worker claimed the push, then died before marking it sent.
    assert services._claim(chunk.pk, "push_state")

    clock.advance(seconds=601)
    swept = services.golive_sweep()
    assert swept["lost"] == 1
    services.golive_chunk_send(chunk_id=chunk.pk)

    chunk.refresh_from_db()
    assert chunk.push_state == "lost"
    assert chunk.email_state == "sent"
    assert pushes.users() == []


def test_a_space_that_ended_before_the_fan_out_stops_it(star, fans, go_live, end, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(services, "queue_fanout", queued.append)
    space = go_live(star)
    end(space)

    services.golive_fanout(alert_id=queued[0])

    assert GoLiveAlert.objects.get(space=space).status == GoLiveAlert.Status.ENDED
    assert told(space) == Counter()


def test_the_alert_hook_is_idempotent(star, fans, go_live):
    space = go_live(star)
    again = services.golive_alert_start(space_id=space.pk)

    assert again is not None
    assert GoLiveAlert.objects.count() == 1
    assert told(space) == Counter({fan.pk: 1 for fan in fans})


def test_an_alert_with_nobody_to_tell_finishes(star, go_live: Callable[..., Space]):
    make_followers(star, 1)
    Follow.objects.filter(followee=star).update(alerts=Follow.Alerts.NONE)
    space = go_live(star)
    alert = GoLiveAlert.objects.get(space=space)
    # The one follow is walked (a chunk) but writes no row.
    assert (alert.status, alert.chunks, alert.inbox_count) == ("done", 1, 0)
    assert not Notification.objects.filter(kind=KIND).exists()
