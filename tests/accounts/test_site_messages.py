"""Direct messages on the site: the inbox, a thread, replying, and a Space shared in a message.

Sending goes through `accounts.services.direct_message_send`, the one service the share menu
also uses, so the refusals here (bad text, blocks, too fast) are the ones every entry point gives.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import DirectMessage, Notification, User
from spaces import services as spaces_services
from spaces.models import Space
from spaces_project.errors import ValidationFailed
from tests.clock import frozen
from tests.factories import BlockFactory, SpaceFactory, UserFactory, ended_space, join

pytestmark = pytest.mark.django_db

INBOX = "/messages/"


def thread_url(username: str) -> str:
    return reverse("message_thread", args=[username])


def send(sender: User, recipient: User, body: str, **kwargs) -> DirectMessage:
    return services.direct_message_send(sender=sender, recipient=recipient, body=body, **kwargs)


@pytest.fixture
def alice_client(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def body_of(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- The inbox ------------------------------------------------------------------------------


def test_the_urls_are_the_ones_the_navigation_links_to():
    assert reverse("messages") == INBOX
    assert thread_url("bob") == "/messages/bob/"


def test_anonymous_visitors_are_sent_to_log_in(client):
    for url in (INBOX, thread_url("bob")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


def test_inbox_has_one_row_per_person_newest_first_with_preview_and_unread_count(
    alice_client, user, other_user
):
    carol = UserFactory(username="carol", display_name="Carol")
    with frozen() as clock:
        send(other_user, user, "Bob's first")
        clock.advance(seconds=30)
        send(user, other_user, "Alice answers Bob")
        clock.advance(seconds=30)
        send(carol, user, "Carol one")
        clock.advance(seconds=30)
        send(carol, user, "Carol two, the newest")
        # Between two other people: never in Alice's inbox.
        send(carol, other_user, "Carol to Bob, private")

    response = alice_client.get(INBOX)

    assert response.status_code == 200
    rows = response.context["conversations"]
    assert [(c.other.username, c.last.body, c.unread) for c in rows] == [
        ("carol", "Carol two, the newest", 2),
        ("bob", "Alice answers Bob", 1),  # Bob's message, never opened in the thread
    ]
    html = body_of(response)
    assert "Carol to Bob, private" not in html
    assert f'href="{thread_url("carol")}"' in html
    assert 'class="avatar' in html
    assert "You:</span> Alice answers Bob" in html  # your own last message says so
    assert '<span class="count-badge dm-convo-count">2<span class="visually-hidden"> unread' in html


def test_inbox_reads_a_fixed_number_of_queries_whatever_the_number_of_conversations(
    alice_client, user
):
    def add(n: int, prefix: str) -> None:
        for i in range(n):
            send(UserFactory(username=f"{prefix}{i}"), user, f"hello {i}")

    add(2, "few")
    with CaptureQueriesContext(connection) as small:
        alice_client.get(INBOX)
    add(12, "many")
    with CaptureQueriesContext(connection) as large:
        response = alice_client.get(INBOX)
    assert len(response.context["conversations"]) == 14
    assert len(large) == len(small)


def test_inbox_is_paginated(alice_client, user, monkeypatch):
    monkeypatch.setattr("accounts.views.PAGE_SIZE", 3)
    for i in range(5):
        send(UserFactory(username=f"p{i}"), user, f"hi {i}")
    first = alice_client.get(INBOX)
    second = alice_client.get(INBOX, {"page": 2})
    assert [c.other.username for c in first.context["conversations"]] == ["p4", "p3", "p2"]
    assert [c.other.username for c in second.context["conversations"]] == ["p1", "p0"]
    assert 'rel="next"' in body_of(first)


def test_a_banned_persons_conversation_leaves_the_inbox_and_the_badge(alice_client, user):
    spammer = UserFactory(username="spammer")
    send(spammer, user, "buy now")
    User.objects.filter(pk=spammer.pk).update(is_active=False)
    response = alice_client.get(INBOX)
    assert response.context["conversations"] == []
    assert response.context["unread_messages"] == 0
    assert "No messages yet" in body_of(response)


def test_empty_inbox_says_how_to_start(alice_client):
    html = body_of(alice_client.get(INBOX))
    assert "No messages yet" in html
    assert 'name="to"' in html


def test_new_message_by_username_opens_the_thread(alice_client, other_user):
    response = alice_client.get(INBOX, {"to": "@BOB"})
    assert response.status_code == 302
    assert response["Location"] == thread_url("bob")


@pytest.mark.parametrize(
    ("to", "said"), [("nobody-here", "No one here is called @nobody-here."), ("alice", "yourself")]
)
def test_new_message_to_nobody_or_yourself_says_why(alice_client, to, said):
    response = alice_client.get(INBOX, {"to": to})
    assert response.status_code == 200
    assert any(said in m for m in messages_of(response))


def test_the_navigation_links_to_messages_with_an_unread_badge(alice_client, user, other_user):
    send(other_user, user, "one")
    send(other_user, user, "two")
    response = alice_client.get("/")
    html = body_of(response)
    assert response.context["unread_messages"] == 2
    link = re.search(r'<a href="/messages/"[^>]*>(.*?)</a>', html, re.S)
    assert link is not None
    assert "Messages" in link.group(1)
    assert '<span class="count-badge" aria-hidden="true" data-count="2">2</span>' in link.group(1)
    assert "(2 unread)" in link.group(1)


# --- A thread -------------------------------------------------------------------------------


def test_thread_shows_both_sides_in_order_and_marks_theirs_read(alice_client, user, other_user):
    with frozen() as clock:
        first = send(other_user, user, "Are you coming\non Friday?")
        clock.advance(minutes=1)
        send(user, other_user, "Yes!")
        clock.advance(minutes=1)
        send(other_user, user, "Great <b>news</b>")
    assert Notification.objects.filter(recipient=user, is_read=False).count() == 2

    response = alice_client.get(thread_url("bob"))

    assert response.status_code == 200
    items = response.context["items"]
    assert [(i.message.body, i.mine) for i in items] == [
        ("Are you coming\non Friday?", False),
        ("Yes!", True),
        ("Great <b>news</b>", False),
    ]
    html = body_of(response)
    assert f'id="m{first.pk}"' in html
    assert "Are you coming<br>on Friday?" in html
    assert "Great &lt;b&gt;news&lt;/b&gt;" in html  # text stays text
    assert 'name="body"' in html
    assert not DirectMessage.objects.filter(recipient=user, is_read=False).exists()
    # The "new message" notifications of this conversation are read too, and the badges say so.
    assert not Notification.objects.filter(recipient=user, is_read=False).exists()
    assert response.context["unread_messages"] == 0
    assert response.context["unread_notifications"] == 0


def test_opening_a_thread_leaves_other_conversations_unread(alice_client, user, other_user):
    carol = UserFactory(username="carol")
    send(other_user, user, "from bob")
    send(carol, user, "from carol")
    alice_client.get(thread_url("bob"))
    assert list(DirectMessage.objects.filter(is_read=False).values_list("body", flat=True)) == [
        "from carol"
    ]
    assert Notification.objects.filter(recipient=user, is_read=False).count() == 1


def test_a_thread_with_nobody_yet_invites_a_first_message(alice_client, other_user):
    response = alice_client.get(thread_url("bob"))
    assert response.status_code == 200
    assert "Say hello to Bob" in body_of(response)


def test_a_thread_shows_only_the_viewers_own_conversation(client, user, other_user):
    carol = UserFactory(username="carol")
    send(user, other_user, "Alice to Bob, private")
    send(other_user, user, "Bob to Alice, private")
    send(carol, other_user, "Carol to Bob")
    client.force_login(carol)

    response = client.get(thread_url("bob"))

    assert [i.message.body for i in response.context["items"]] == ["Carol to Bob"]
    assert "private" not in body_of(response)
    # Nor does Carol's visit mark anything of Alice's read.
    assert DirectMessage.objects.get(body="Bob to Alice, private").is_read is False


@pytest.mark.parametrize("who", ["nobody-at-all", "banned", "alice"])
def test_threads_with_no_one_a_banned_account_or_yourself_are_404(alice_client, who):
    UserFactory(username="banned", is_active=False)
    assert alice_client.get(thread_url(who)).status_code == 404
    assert alice_client.post(thread_url(who), {"body": "hi"}).status_code == 404
    assert not DirectMessage.objects.exists()


def test_a_long_thread_is_paged_newest_page_first(alice_client, user, other_user, monkeypatch):
    monkeypatch.setattr("accounts.views.PAGE_SIZE", 3)
    with frozen() as clock:
        for i in range(5):
            send(other_user, user, f"message {i}")
            clock.advance(seconds=20)
    newest = alice_client.get(thread_url("bob"))
    older = alice_client.get(thread_url("bob"), {"page": 2})
    assert [i.message.body for i in newest.context["items"]] == [
        "message 2",
        "message 3",
        "message 4",
    ]
    assert [i.message.body for i in older.context["items"]] == ["message 0", "message 1"]
    assert "Older messages" in body_of(newest)
    assert "Newer messages" in body_of(older)


def test_thread_reads_a_fixed_number_of_queries(alice_client, user, other_user):
    space = SpaceFactory(host=other_user)
    send(other_user, user, "one", attachment={"space_id": space.pk})
    with CaptureQueriesContext(connection) as small:
        alice_client.get(thread_url("bob"))
    for i in range(6):
        extra = SpaceFactory(host=UserFactory(username=f"h{i}"))
        send(other_user, user, f"more {i}", attachment={"space_id": extra.pk})
        send(user, other_user, f"reply {i}")
    with CaptureQueriesContext(connection) as large:
        response = alice_client.get(thread_url("bob"))
    assert len(response.context["items"]) == 13
    assert len(large) == len(small)


# --- Replying -------------------------------------------------------------------------------


def test_reply_is_sent_notified_and_lands_on_the_new_message(alice_client, user, other_user):
    send(other_user, user, "Hi Alice")

    response = alice_client.post(thread_url("bob"), {"body": "  Hi Bob!\r\nSee you.  "})

    sent = DirectMessage.objects.get(sender=user)
    assert sent.recipient == other_user
    assert sent.body == "Hi Bob!\nSee you."
    assert response.status_code == 302
    assert response["Location"] == f"{thread_url('bob')}#m{sent.pk}"
    note = Notification.objects.get(recipient=other_user, kind=Notification.Kind.MESSAGE)
    assert note.payload["from"] == "alice"
    assert note.payload["message_id"] == sent.pk
    page = alice_client.get(thread_url("bob"))
    assert [i.message.body for i in page.context["items"]][-1] == "Hi Bob!\nSee you."


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("", "This field is required."),
        ("   \n\t ", "This field is required."),
        ("Hello\x00world", "Null characters are not allowed."),
        ("Bell \x07 rings", "Contains control characters."),
        ("x" * 1001, "Ensure this value has at most 1000 characters"),
        ("y" * 200_000, "Ensure this value has at most 1000 characters"),
    ],
    ids=["empty", "blank", "nul", "control", "one-too-long", "huge"],
)
def test_bad_text_is_refused_with_a_form_error_and_nothing_sent(
    alice_client, other_user, body, error
):
    response = alice_client.post(thread_url("bob"), {"body": body})
    assert response.status_code == 200  # the page again, as every form of the site answers
    assert error in body_of(response)
    assert 'class="errorlist"' in body_of(response)
    assert not DirectMessage.objects.exists()
    assert not Notification.objects.exists()


def test_the_service_itself_refuses_what_the_form_would(user, other_user):
    # Every entry point calls the service: it must not rely on the page's form.
    for body, code in [("a\x00b", "invalid_text"), ("z" * 1001, "invalid"), ("  ", "invalid")]:
        with pytest.raises(ValidationFailed) as refused:
            send(user, other_user, body)
        assert refused.value.code == code
        assert "body" in refused.value.fields
    assert not DirectMessage.objects.exists()


def test_a_double_submit_sends_one_message(alice_client, user, other_user):
    first = alice_client.post(thread_url("bob"), {"body": "Only once, please"})
    second = alice_client.post(thread_url("bob"), {"body": "Only once, please"})
    assert DirectMessage.objects.filter(sender=user).count() == 1
    assert Notification.objects.filter(recipient=other_user).count() == 1
    assert first["Location"] == second["Location"]


def test_the_same_words_later_are_a_new_message(alice_client, user, other_user):
    with frozen() as clock:
        alice_client.post(thread_url("bob"), {"body": "ok"})
        clock.advance(seconds=services.MESSAGE_REPEAT_SECONDS + 1)
        alice_client.post(thread_url("bob"), {"body": "ok"})
    assert DirectMessage.objects.filter(sender=user, body="ok").count() == 2


def test_sending_too_fast_is_refused_with_a_form_error(alice_client, user, other_user):
    for i in range(services.MESSAGE_RATE_LIMIT):
        assert alice_client.post(thread_url("bob"), {"body": f"msg {i}"}).status_code == 302
    response = alice_client.post(thread_url("bob"), {"body": "one more"})
    assert response.status_code == 200
    assert "sending messages too fast" in body_of(response)
    assert "one more</textarea>" in body_of(response)  # the text is kept to send later
    assert DirectMessage.objects.filter(sender=user).count() == services.MESSAGE_RATE_LIMIT


# --- Blocks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["they_blocked_you", "you_blocked_them"])
def test_a_block_either_way_stops_messages_but_keeps_the_history(
    alice_client, user, other_user, direction
):
    send(other_user, user, "Before the block")
    if direction == "they_blocked_you":
        BlockFactory(blocker=other_user, blocked=user)
        said = "You can\u2019t message @bob."
    else:
        BlockFactory(blocker=user, blocked=other_user)
        said = "You blocked @bob."

    page = alice_client.get(thread_url("bob"))
    assert page.status_code == 200
    assert "Before the block" in body_of(page)
    assert said in body_of(page)
    assert 'name="body"' not in body_of(page)

    response = alice_client.post(thread_url("bob"), {"body": "Let me in"})
    assert response.status_code == 200
    assert "You cannot message this user." in body_of(response)
    assert not DirectMessage.objects.filter(sender=user).exists()


# --- A Space shared in a message ------------------------------------------------------------


def test_a_shared_live_space_is_a_card_with_the_senders_words(alice_client, user, other_user):
    space = SpaceFactory(host=UserFactory(username="hedy", display_name="Hedy"), title="Radio")
    join(space)
    join(space)
    spaces_services.space_share(
        user=other_user, space_id=space.pk, user_ids=[user.pk], message="Come listen!"
    )

    response = alice_client.get(thread_url("bob"))

    (item,) = response.context["items"]
    assert item.shares_space
    assert item.space.state == "live"
    html = body_of(response)
    assert f'class="dm-space dm-space-live" href="/spaces/{space.pk}/"' in html
    assert "LIVE" in html
    assert "2 listening" in html
    assert "Radio" in html
    assert "Hosted by Hedy" in html
    assert "Come listen!" in html


def test_a_shared_scheduled_space_links_to_its_schedule_page(alice_client, user, other_user):
    when = timezone.now() + timedelta(days=2)
    space = SpaceFactory(
        host=other_user, state=Space.State.SCHEDULED, started_at=None, scheduled_for=when
    )
    send(other_user, user, "Save the date", attachment={"space_id": space.pk})
    html = body_of(alice_client.get(thread_url("bob")))
    assert f'href="{reverse("scheduled_detail", args=[space.pk])}"' in html
    assert "Scheduled" in html
    assert "See the Space" in html


def test_a_shared_space_that_ended_says_so(alice_client, user, other_user):
    space = ended_space(host=other_user, title="Yesterday's talk")
    send(other_user, user, "You missed this", attachment={"space_id": space.pk})
    response = alice_client.get(thread_url("bob"))
    assert response.context["items"][0].space.state == "ended"
    assert "Ended" in body_of(response)


@pytest.mark.parametrize("gone", ["host_blocked_you", "deleted"])
def test_a_shared_space_you_cannot_see_shows_as_unavailable(alice_client, user, other_user, gone):
    host = UserFactory(username="hedy")
    space = SpaceFactory(host=host, title="Hidden title")
    send(other_user, user, "Look", attachment={"space_id": space.pk})
    if gone == "deleted":
        space.delete()
    else:
        BlockFactory(blocker=host, blocked=user)
    html = body_of(alice_client.get(thread_url("bob")))
    assert "This Space isn\u2019t available." in html
    assert "Hidden title" not in html
    assert "Look" in html


# --- Notifications --------------------------------------------------------------------------


def test_a_message_notification_quotes_the_words_and_links_to_the_thread(
    alice_client, user, other_user
):
    space = SpaceFactory(host=other_user)
    spaces_services.space_share(
        user=other_user, space_id=space.pk, user_ids=[user.pk], message="Join me <now>"
    )
    message = DirectMessage.objects.get()

    html = body_of(alice_client.get("/notifications/"))

    assert "shared a Space with you in a message." in html
    assert f'href="{thread_url("bob")}#m{message.pk}"' in html
    assert '<blockquote class="notif-quote">Join me &lt;now&gt;</blockquote>' in html


def test_notifications_never_quote_someone_elses_message(alice_client, user, other_user):
    private = send(other_user, UserFactory(username="carol"), "Not for Alice")
    Notification.objects.create(
        recipient=user,
        kind=Notification.Kind.MESSAGE,
        payload={"from": "bob", "message_id": private.pk},
    )
    assert "Not for Alice" not in body_of(alice_client.get("/notifications/"))


def test_a_space_shared_with_followers_quotes_the_sharers_words(alice_client, user, other_user):
    from accounts.models import Follow

    Follow.objects.create(follower=user, followee=other_user)
    space = SpaceFactory(host=UserFactory(username="hedy"), title="Radio")
    spaces_services.space_share(
        user=other_user, space_id=space.pk, to_followers=True, message="Worth your time"
    )
    html = body_of(alice_client.get("/notifications/"))
    assert "shared “Radio” with you." in html
    assert '<blockquote class="notif-quote">Worth your time</blockquote>' in html


def test_the_empty_notifications_page_promises_only_what_is_sent(alice_client):
    html = body_of(alice_client.get("/notifications/"))
    assert "Spaces going live" not in html
    assert "messages and Spaces shared with you" in html
    assert "set a reminder for" in html
