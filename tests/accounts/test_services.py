"""Account services: realtime events after commit, profile validation, the follow/block race."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection, transaction

from accounts import services
from accounts.models import Block, Follow, Notification, User
from spaces_project.errors import Forbidden, ValidationFailed
from tests.factories import FollowFactory, SpaceFactory, UserFactory

# --- Realtime ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_following_pushes_notification_created_to_the_followee_after_commit(
    django_capture_on_commit_callbacks, published, user, other_user
):
    with django_capture_on_commit_callbacks(execute=True):
        services.follow_create(follower=user, followee=other_user)
        assert published == []  # nothing leaves before the commit

    assert len(published) == 1
    group, event = published[0]
    assert group == f"user.{other_user.pk}"
    notification = Notification.objects.get(recipient=other_user)
    assert event["type"] == "notification.created"
    assert event["notification"]["id"] == notification.pk
    assert event["notification"]["kind"] == "follow"
    assert event["notification"]["payload"] == {"user": "alice", "name": "Alice"}


@pytest.mark.django_db
def test_a_rolled_back_follow_publishes_nothing(
    django_capture_on_commit_callbacks, published, user, other_user
):
    class Abort(Exception):
        pass

    def follow_then_fail() -> None:
        with transaction.atomic():
            services.follow_create(follower=user, followee=other_user)
            raise Abort

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Abort):
        follow_then_fail()

    assert callbacks == []
    assert published == []
    assert not Follow.objects.exists()
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_following_again_publishes_nothing_more(
    django_capture_on_commit_callbacks, published, user, other_user
):
    with django_capture_on_commit_callbacks(execute=True):
        services.follow_create(follower=user, followee=other_user)
    with django_capture_on_commit_callbacks(execute=True):
        _, created = services.follow_create(follower=user, followee=other_user)

    assert created is False
    assert len(published) == 1


@pytest.mark.django_db
def test_a_refused_follow_publishes_nothing(
    django_capture_on_commit_callbacks, published, user, other_user
):
    Block.objects.create(blocker=other_user, blocked=user)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Forbidden):
        services.follow_create(follower=user, followee=other_user)

    assert published == []


# --- Profiles and blocks ----------------------------------------------------------------------


@pytest.mark.django_db
def test_profile_update_refuses_an_over_long_name_with_a_field_error(user):
    with pytest.raises(ValidationFailed) as refused:
        services.user_update_profile(user=user, display_name="n" * 51)

    assert list(refused.value.fields) == ["display_name"]
    assert User.objects.get(pk=user.pk).display_name == "Alice"


@pytest.mark.django_db
def test_profile_update_validates_only_the_fields_it_changes(user):
    # An account from before e-mail validation must still be able to edit its bio.
    User.objects.filter(pk=user.pk).update(email="not-an-email")
    user.refresh_from_db()

    services.user_update_profile(user=user, bio="still here")

    assert User.objects.get(pk=user.pk).bio == "still here"


@pytest.mark.django_db
def test_blocking_removes_follows_both_ways_and_only_those(user, other_user):
    carol = UserFactory(username="carol")
    FollowFactory(follower=user, followee=other_user)
    FollowFactory(follower=other_user, followee=user)
    FollowFactory(follower=other_user, followee=carol)

    _, created = services.block_create(blocker=user, blocked=other_user)

    assert created is True
    assert set(Follow.objects.values_list("follower__username", "followee__username")) == {
        ("bob", "carol")
    }


# --- The follow/block race (PostgreSQL) -------------------------------------------------------
#
# Under READ COMMITTED a block and a follow between the same two people can interleave: the
# block deletes the follows it can see, the follow checks for a block it cannot see yet, and both
# commit. The services serialise on a per-pair lock. Each test holds the lock in one thread as
# the other service would, waits until the second thread is provably queued behind it (or has
# finished, which is what happens without the lock), then commits.


def _waiting_on_advisory_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT wait_event FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
            [pid],
        )
        row = cursor.fetchone()
    return row is not None and row[0] == "advisory"


def _race(first_writes, second_service) -> dict[str, object]:
    """Run `first_writes()` inside a transaction holding the pair lock, with `second_service()`
    started meanwhile in another thread; returns what the second one returned or raised."""
    outcome: dict[str, object] = {}
    second_pid: dict[str, int] = {}
    started = threading.Event()

    def second() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                second_pid["pid"] = cursor.fetchone()[0]
            started.set()
            outcome["result"] = second_service()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            started.set()
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=second)
    with transaction.atomic():
        first_writes()
        thread.start()
        assert started.wait(30)
        for _ in range(3000):
            if not thread.is_alive() or _waiting_on_advisory_lock(second_pid["pid"]):
                break
            thread.join(0.01)
        else:
            pytest.fail("the second service neither finished nor waited for the lock")
    thread.join(30)
    assert not thread.is_alive()
    return outcome


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_follow_racing_a_block_is_refused_once_the_block_commits():
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")

    def bob_blocks_alice() -> None:
        services._lock_pair(bob.pk, alice.pk)
        Follow.objects.filter(follower=alice, followee=bob).delete()
        Block.objects.create(blocker=bob, blocked=alice)

    outcome = _race(bob_blocks_alice, lambda: services.follow_create(follower=alice, followee=bob))

    assert isinstance(outcome.get("error"), Forbidden)
    assert outcome["error"].code == "blocked"
    assert not Follow.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_block_racing_a_follow_removes_it_once_the_follow_commits():
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")

    def alice_follows_bob() -> None:
        services._lock_pair(alice.pk, bob.pk)
        Follow.objects.create(follower=alice, followee=bob)

    outcome = _race(alice_follows_bob, lambda: services.block_create(blocker=bob, blocked=alice))

    assert "error" not in outcome
    assert Block.objects.filter(blocker=bob, blocked=alice).exists()
    assert not Follow.objects.exists()


@pytest.mark.django_db
def test_a_message_shares_only_a_space_its_sender_can_see():
    sender, recipient = UserFactory(), UserFactory()
    visible = SpaceFactory()
    hidden = SpaceFactory()
    Block.objects.create(blocker=hidden.host, blocked=sender)

    sent = services.direct_message_send(
        sender=sender, recipient=recipient, body="Listen", attachment={"space_id": visible.pk}
    )
    assert sent.attachment == {"space_id": visible.pk}
    for space_id in (hidden.pk, 987654321):
        with pytest.raises(ValidationFailed) as exc:
            services.direct_message_send(
                sender=sender, recipient=recipient, body="Look", attachment={"space_id": space_id}
            )
        assert "space_id" in (exc.value.fields or {})
