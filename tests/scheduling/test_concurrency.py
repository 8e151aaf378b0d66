"""Two sweeps at the same moment, against real PostgreSQL (pretix-style: prove the double send
exists without the claim, then that the claim stops it).

Sweep A claims a batch, writes its notifications and is held, transaction open, until sweep B
(another thread, another connection: another worker) has run to the end. Then A commits.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from accounts import services as accounts_services
from accounts.models import Notification
from scheduling import services
from scheduling.models import Delivery
from scheduling.services import delivery
from tests.scheduling.helpers import bulk_holders

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HOLDERS = 30
TIMEOUT = 30


@pytest.fixture
def live_with_holders(schedule, host) -> int:
    space = schedule(minutes=60)
    bulk_holders(space, HOLDERS)
    services.scheduled_space_start(actor=host, space_id=space.pk)
    assert Delivery.objects.filter(kind="live", state="pending").count() == HOLDERS
    return space.pk


def run_a_then_b_inside_a(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Sweep A pauses right after inserting its notifications; sweep B runs meanwhile."""
    a_inserted, b_done = threading.Event(), threading.Event()
    real_bulk = accounts_services.notifications_create_bulk
    results: dict[str, Any] = {}

    def held(**kwargs: Any) -> int:
        count = real_bulk(**kwargs)
        if threading.current_thread().name == "sweep-a" and not a_inserted.is_set():
            a_inserted.set()
            assert b_done.wait(TIMEOUT), "sweep B never finished"
        return count

    monkeypatch.setattr(accounts_services, "notifications_create_bulk", held)

    def sweep(name: str, before: Callable[[], None], after: Callable[[], None]) -> None:
        try:
            before()
            results[name] = services.deliveries_send_due()
        except Exception as exc:  # reported by the assertions on the results
            results[name] = exc
        finally:
            after()
            connection.close()

    connection.close()
    a = threading.Thread(
        target=sweep, args=("a", lambda: None, lambda: None), name="sweep-a", daemon=True
    )
    b = threading.Thread(
        target=sweep,
        args=("b", lambda: a_inserted.wait(TIMEOUT), b_done.set),
        name="sweep-b",
        daemon=True,
    )
    a.start()
    b.start()
    a.join(TIMEOUT * 2)
    b.join(TIMEOUT * 2)
    assert not a.is_alive()
    assert not b.is_alive()
    return results


def per_recipient() -> Counter[int]:
    return Counter(
        Notification.objects.filter(kind="space_live").values_list("recipient_id", flat=True)
    )


def test_two_sweeps_at_once_send_each_notification_exactly_once(live_with_holders, monkeypatch):
    results = run_a_then_b_inside_a(monkeypatch)

    assert (results["a"].sent, results["b"].sent) == (HOLDERS, 0), results
    counts = per_recipient()
    assert len(counts) == HOLDERS
    assert set(counts.values()) == {1}
    assert Delivery.objects.filter(state="sent").count() == HOLDERS


def test_without_the_lock_the_conditional_update_alone_still_sends_once(
    live_with_holders, monkeypatch
):
    """B reads the same rows A holds (no SKIP LOCKED) and sends them; A's conditional update
    then finds them taken and rolls A's whole batch back, notifications included."""
    monkeypatch.setattr(delivery, "claim_rows", lambda qs: qs)

    results = run_a_then_b_inside_a(monkeypatch)

    assert results["b"].sent == HOLDERS, results
    assert results["a"].sent == 0, results
    assert set(per_recipient().values()) == {1}
    assert len(per_recipient()) == HOLDERS


def test_control_without_claim_or_conditional_update_every_holder_is_told_twice(
    live_with_holders, monkeypatch
):
    """The race is real: with neither the row lock nor `WHERE state = 'pending'`, both sweeps
    send the same batch."""
    monkeypatch.setattr(delivery, "claim_rows", lambda qs: qs)
    monkeypatch.setattr(
        delivery,
        "mark_sent",
        lambda ids, now: Delivery.objects.filter(pk__in=ids).update(state="sent", sent_at=now),
    )

    results = run_a_then_b_inside_a(monkeypatch)

    assert (results["a"].sent, results["b"].sent) == (HOLDERS, HOLDERS), results
    assert set(per_recipient().values()) == {2}
