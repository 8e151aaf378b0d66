"""`manage.py seed_demo`: known users, real audiences, the same data however often it runs."""

from __future__ import annotations

from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.test import Client

from accounts.management.commands.seed_demo import PASSWORD
from accounts.models import Block, DirectMessage, Follow, Notification, User

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "follows": Follow.objects.count(),
        "notifications": Notification.objects.count(),
        "emails": EmailAddress.objects.count(),
        "messages": DirectMessage.objects.count(),
    }


def test_seed_creates_hosts_with_real_followers_and_prints_how_to_log_in():
    output = seed()

    ada = User.objects.with_follow_counts().get(username="ada")
    grace = User.objects.with_follow_counts().get(username="grace")
    assert ada.display_name == "Ada Lovelace"
    assert ada.bio
    assert ada.can_host is True
    assert ada.follower_count >= 600
    assert grace.can_host is True
    for listener in ("linus", "margaret"):
        person = User.objects.with_follow_counts().get(username=listener)
        assert person.can_host is False
        assert Follow.objects.filter(follower=person, followee=ada).exists()
    admin = User.objects.get(username="admin")
    assert admin.is_staff
    assert admin.is_superuser

    assert "http://127.0.0.1:8000" in output
    assert PASSWORD in output
    for name in ("ada", "grace", "linus", "margaret", "admin"):
        assert name in output


def test_seed_gives_the_inbox_conversations_sent_through_the_service():
    seed()

    linus, ada = User.objects.get(username="linus"), User.objects.get(username="ada")
    thread = DirectMessage.objects.filter(
        sender__in=[linus, ada], recipient__in=[linus, ada]
    ).order_by("created_at", "id")
    assert [(m.sender.username, m.is_read) for m in thread] == [("linus", True), ("ada", False)]
    # The service notified each recipient, as for any message (the badge, the inbox line).
    assert Notification.objects.filter(recipient=linus, kind="message", is_read=False).count() == 1
    assert DirectMessage.objects.filter(
        sender__username="margaret", recipient__username="grace"
    ).exists()

    client = Client()
    client.force_login(linus)
    inbox = client.get("/messages/").content.decode()
    assert "Ada Lovelace" in inbox
    assert "Note G" in inbox  # the last message's preview
    thread_page = client.get("/messages/ada/").content.decode()
    assert "Analytical Engine" in thread_page


def test_seed_twice_gives_the_same_data():
    seed()
    first = counts()
    ada_followers = set(
        Follow.objects.filter(followee__username="ada").values_list("follower_id", flat=True)
    )

    seed()

    assert counts() == first
    assert (
        set(Follow.objects.filter(followee__username="ada").values_list("follower_id", flat=True))
        == ada_followers
    )
    assert first["users"] >= 1000


@pytest.mark.parametrize("login", ["ada", "ada@example.com", "fan0001", "admin"])
def test_seeded_users_can_log_in_with_the_printed_password(login):
    seed()
    client = Client()
    response = client.post("/accounts/login/", {"login": login, "password": PASSWORD})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_seed_keeps_the_data_people_changed_while_demoing():
    seed()
    ada = User.objects.get(username="ada")
    ada.set_password("changed-by-ada")
    ada.save()
    Block.objects.create(blocker=ada, blocked=User.objects.get(username="linus"))

    seed()  # must not fail on the block, nor reset what is not its business

    assert User.objects.get(username="ada").check_password("changed-by-ada")
    assert User.objects.get(username="ada").display_name == "Ada Lovelace"


def test_seed_writes_fans_and_follows_in_bulk_not_one_query_per_row(
    django_assert_max_num_queries,
):
    # About 130 queries for the five named accounts and their follows through the service, and
    # about 30 for their four messages through theirs; the 1000 fans and ~1700 follow rows are
    # a few bulk INSERTs on top.
    with django_assert_max_num_queries(180):
        seed()
    assert User.objects.filter(username__startswith="fan").count() == 1000
