"""The tap ledger: a tap is committed before it is acknowledged, and taps in flight together
share one write (group commit)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from spaces import reactions, selectors, services
from spaces.models import ReactionCount
from spaces.reactions import TapLedger
from tests.factories import SpaceFactory, join

WAIT = 10.0


class HeldWrites:
    """Stands in for the upsert: records each batch, and holds the first write until released,
    so that taps arriving meanwhile gather behind it."""

    def __init__(self) -> None:
        self.batches: list[Counter[tuple[int, str]]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()
        self.fail_with: BaseException | None = None

    def __call__(self, counts: Counter[tuple[int, str]]) -> None:
        self.batches.append(Counter(counts))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release.wait(WAIT)
        if self.fail_with is not None and len(self.batches) > 1:
            raise self.fail_with


def _tap_in_threads(
    ledger: TapLedger, taps: list[tuple[int, str]]
) -> tuple[list[BaseException | None], list[threading.Thread]]:
    outcomes: list[BaseException | None] = [None] * len(taps)

    def tap(i: int, space_id: int, code: str) -> None:
        try:
            ledger.record(space_id, code)
        except BaseException as error:
            outcomes[i] = error

    threads = [threading.Thread(target=tap, args=(i, *t)) for i, t in enumerate(taps)]
    for thread in threads:
        thread.start()
    return outcomes, threads


def _wait_until_gathered(ledger: TapLedger, n: int) -> None:
    for _ in range(1000):
        with ledger._cond:
            gathering = ledger._gathering
            if gathering is not None and sum(gathering.counts.values()) == n:
                return
        threading.Event().wait(0.01)
    raise AssertionError(f"{n} taps never gathered")


def test_taps_arriving_during_a_write_share_the_next_write(monkeypatch):
    writes = HeldWrites()
    monkeypatch.setattr(reactions, "upsert_counts", writes)
    ledger = TapLedger()

    first, first_threads = _tap_in_threads(ledger, [(1, "clap")])
    assert writes.first_started.wait(WAIT)
    crowd = [(1, "clap")] * 5 + [(1, "fire")] * 3 + [(2, "clap")] * 2
    outcomes, threads = _tap_in_threads(ledger, crowd)
    _wait_until_gathered(ledger, len(crowd))
    writes.release.set()
    for thread in first_threads + threads:
        thread.join(WAIT)

    assert first == [None]
    assert outcomes == [None] * len(crowd)
    assert writes.batches == [
        Counter({(1, "clap"): 1}),
        Counter({(1, "clap"): 5, (1, "fire"): 3, (2, "clap"): 2}),
    ]


def test_every_tap_of_a_failed_write_hears_of_it_and_the_next_batch_still_goes(monkeypatch):
    writes = HeldWrites()
    writes.fail_with = OSError("database gone")
    monkeypatch.setattr(reactions, "upsert_counts", writes)
    ledger = TapLedger()

    first, first_threads = _tap_in_threads(ledger, [(1, "clap")])
    assert writes.first_started.wait(WAIT)
    outcomes, threads = _tap_in_threads(ledger, [(1, "fire")] * 4)
    _wait_until_gathered(ledger, 4)
    writes.release.set()
    for thread in first_threads + threads:
        thread.join(WAIT)

    assert first == [None]
    assert all(isinstance(o, OSError) for o in outcomes)
    writes.fail_with = None
    ledger.record(1, "heart")  # the ledger is not stuck
    assert writes.batches[-1] == Counter({(1, "heart"): 1})


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_tap_is_committed_through_the_ledger(settings):
    settings.SPACES_REACTION_RATE = "1000/hour"
    space = SpaceFactory()
    who = join(space)
    for emoji in ("clap", "clap", "fire"):
        services.reaction_send(user=who, space_id=space.pk, emoji=emoji)

    rows = dict(ReactionCount.objects.filter(space=space).values_list("code", "count"))
    assert rows == {"clap": 2, "fire": 1}
    assert selectors.reaction_counts_for(space_id=space.pk)["clap"] == 2


@pytest.mark.django_db(transaction=True)
def test_one_upsert_adds_to_existing_rows_and_creates_missing_ones():
    one, two = SpaceFactory(), SpaceFactory()
    ReactionCount.objects.create(space=one, code="clap", count=7)

    reactions.upsert_counts({(one.pk, "clap"): 3, (one.pk, "fire"): 2, (two.pk, "clap"): 1})

    rows = set(ReactionCount.objects.values_list("space_id", "code", "count"))
    assert rows == {(one.pk, "clap", 10), (one.pk, "fire", 2), (two.pk, "clap", 1)}
