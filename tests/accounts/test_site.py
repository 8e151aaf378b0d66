"""The server-rendered site for accounts: pages, POST forms without JavaScript, allauth pages."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import Block, Follow, Notification, User
from tests.factories import (
    PASSWORD,
    BlockFactory,
    NotificationFactory,
    UserFactory,
    make_followers,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- Layout and home ------------------------------------------------------------------------


def test_anonymous_home_explains_spaces_and_offers_sign_up_and_log_in(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Live audio rooms" in body
    assert f'href="{reverse("account_signup")}"' in body
    assert f'href="{reverse("account_login")}"' in body
    assert "Skip to content" in body
    assert "Log out" not in body


def test_the_landing_pages_start_listening_is_a_real_way_in_beside_no_made_up_count(
    client, settings
):
    settings.SPACES_HOST_MIN_FOLLOWERS = 750
    body = client.get("/").content.decode()
    live = reverse("space_list")
    link = re.search(r'<a [^>]*href="([^"]+)"[^>]*>Start listening</a>', body)
    assert link
    href = urlsplit(link.group(1))
    assert (href.path, parse_qs(href.query)) == (reverse("account_login"), {"next": [live]})
    assert "listening</span>" not in body  # the made-up "1,204 listening" is gone
    assert "Once 750 people follow you" in body


def test_signed_in_home_shows_live_placeholder_and_who_to_follow(alice_client, user, host):
    followed = UserFactory(username="followed")
    make_followers(followed, 3, prefix="f-")
    Follow.objects.create(follower=user, followee=followed)
    blocked = UserFactory(username="blockedone")
    make_followers(blocked, 2, prefix="b-")
    Block.objects.create(blocker=user, blocked=blocked)
    blocker = UserFactory(username="blockerone")
    make_followers(blocker, 2, prefix="c-")
    Block.objects.create(blocker=blocker, blocked=user)

    response = alice_client.get("/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "Live now from people you follow" in body
    assert "Nobody you follow is live right now" in body
    suggested = [u.username for u in response.context["who_to_follow"]]
    assert suggested[0] == host.username  # most followers first
    assert not {"alice", "followed", "blockedone", "blockerone"} & set(suggested)
    assert 'action="/accounts/logout/"' in body


def test_home_reads_a_fixed_number_of_queries(alice_client, django_assert_max_num_queries, host):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_followers(UserFactory(username="another"), 5, prefix="a-")
    with CaptureQueriesContext(connection) as small:
        alice_client.get("/")
    make_followers(UserFactory(username="more"), 40, prefix="m-")
    # Session, user, unread badge, who-to-follow, the live section and the upcoming section.
    with django_assert_max_num_queries(9), CaptureQueriesContext(connection) as large:
        alice_client.get("/")
    assert len(large) == len(small)


def test_favicon_ico_points_at_the_svg_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith(".svg")


def test_navigation_shows_the_unread_badge(alice_client, user):
    NotificationFactory.create_batch(3, recipient=user)
    body = alice_client.get("/").content.decode()
    assert 'class="count-badge"' in body
    assert "(3 unread)" in body


def nav_link(body: str, href: str) -> str:
    nav = re.search(r'<nav aria-label="Main">.*?</nav>', body, re.S)
    assert nav is not None
    link = re.search(rf'<a href="{re.escape(href)}"[^>]*>(.*?)</a>', nav.group(0), re.S)
    assert link is not None
    return link.group(1)


def test_each_nav_badge_has_the_one_screen_reader_count_that_home_js_updates(
    alice_client, user, other_user
):
    # static/js/home.js bumpBadge finds the count by these classes and the exact number by
    # data-count (the badge says 99+); drawn otherwise, it adds a second "(n unread)" beside it.
    NotificationFactory.create_batch(120, recipient=user)
    services.direct_message_send(sender=other_user, recipient=user, body="Hello")
    body = alice_client.get("/").content.decode()
    for href, count in [("/notifications/", 121), ("/messages/", 1)]:
        link = nav_link(body, href)
        assert len(re.findall(r"unread\)", link)) == 1
        assert f'<span class="visually-hidden unread">({count} unread)</span>' in link
        badge = re.search(r'<span class="count-badge"[^>]*>([^<]*)</span>', link)
        assert badge is not None
        assert f'data-count="{count}"' in badge.group(0)
        assert badge.group(1) == ("99+" if count > 99 else str(count))


# --- allauth pages in the site's layout -----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["account_login", "account_signup", "account_reset_password", "account_reset_password_done"],
)
def test_entrance_pages_render_in_the_layout(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="topbar"' in body
    assert 'class="card auth-card"' in body


@pytest.mark.parametrize("name", ["account_logout", "account_change_password", "account_email"])
def test_account_management_pages_render_in_the_layout(alice_client, name):
    response = alice_client.get(reverse(name))
    assert response.status_code == 200
    assert 'class="topbar"' in response.content.decode()


def test_password_reset_from_key_page_renders_for_a_bad_key(client, user):
    response = client.get("/accounts/password/reset/key/1-bad-key/", follow=True)
    assert response.status_code == 200
    assert "Bad Token" in response.content.decode()


def test_signup_through_the_site_form_creates_the_user_and_logs_in(client):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "new@example.com",
            "username": "newbie",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    new = User.objects.get(username="newbie")
    assert new.email == "new@example.com"
    assert client.session["_auth_user_id"] == str(new.pk)
    assert "Nobody you follow is live" in client.get("/").content.decode()


def test_signup_form_shows_errors_in_place(client, user):
    response = client.post(
        reverse("account_signup"),
        {"email": "x@example.com", "username": "alice", "password1": "a", "password2": "b"},
    )
    assert response.status_code == 200
    assert 'class="errorlist"' in response.content.decode()
    assert not User.objects.filter(email="x@example.com").exists()


@pytest.mark.parametrize("login", ["alice", "alice@example.com"])
def test_log_in_with_username_or_email(client, user, login):
    response = client.post(reverse("account_login"), {"login": login, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_wrong_password_shows_an_error(client, user):
    response = client.post(reverse("account_login"), {"login": "alice", "password": "nope"})
    assert response.status_code == 200
    assert 'class="alert alert-error"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_log_out_is_a_post(alice_client):
    response = alice_client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in alice_client.session


# --- Profiles -------------------------------------------------------------------------------


def test_profile_shows_name_handle_bio_counts_and_host_badge(client, host):
    host.bio = "I host things."
    host.save()
    response = client.get(reverse("profile", args=["HOSTESS"]))  # usernames are case-blind
    assert response.status_code == 200
    body = response.content.decode()
    assert "The Host" in body
    assert "@hostess" in body
    assert "I host things." in body
    assert "<strong>600</strong> Followers" in body
    assert "Can host Spaces" in body
    assert reverse("profile_followers", args=["hostess"]) in body
    # Anonymous: following means logging in first, and coming back here.
    assert f"{reverse('account_login')}?next=/u/HOSTESS/" in body


def test_profile_of_a_listener_has_no_host_badge(client, other_user):
    body = client.get(reverse("profile", args=["bob"])).content.decode()
    assert "Can host Spaces" not in body


def test_profile_of_missing_or_banned_user_is_404(client, other_user):
    response = client.get(reverse("profile", args=["nobody"]))
    assert response.status_code == 404
    assert "This page doesn\u2019t exist" in response.content.decode()
    other_user.is_active = False
    other_user.save()
    assert client.get(reverse("profile", args=["bob"])).status_code == 404


def test_own_profile_offers_edit_instead_of_follow(alice_client):
    body = alice_client.get(reverse("profile", args=["alice"])).content.decode()
    assert reverse("settings_profile") in body
    assert reverse("profile_follow", args=["alice"]) not in body


def test_other_profile_offers_follow_and_block_forms(alice_client, other_user):
    body = alice_client.get(reverse("profile", args=["bob"])).content.decode()
    assert f'action="{reverse("profile_follow", args=["bob"])}"' in body
    assert f'action="{reverse("profile_block", args=["bob"])}"' in body
    assert "csrfmiddlewaretoken" in body


def message_links(body: str, username: str) -> list[str]:
    href = re.escape(reverse("message_thread", args=[username]))
    return re.findall(rf'<a [^>]*href="{href}"[^>]*>.*?</a>', body, re.S)


def test_other_profile_offers_a_message_button_to_the_thread(alice_client, other_user):
    body = alice_client.get(reverse("profile", args=["bob"])).content.decode()
    [link] = message_links(body, "bob")
    assert 'class="btn btn-outline btn-sm' in link  # the size and shape of the Follow button
    assert "Message" in link
    assert "Bob" in link  # the accessible name says whom


def test_signed_out_visitors_get_the_message_button_too_and_log_in_first(client, other_user):
    body = client.get(reverse("profile", args=["bob"])).content.decode()
    assert len(message_links(body, "bob")) == 1
    # The thread is behind the log-in page, which comes back to it.
    response = client.get(reverse("message_thread", args=["bob"]))
    assert response["Location"].startswith(reverse("account_login"))


def test_own_profile_has_no_message_button(alice_client):
    body = alice_client.get(reverse("profile", args=["alice"])).content.decode()
    assert message_links(body, "alice") == []


@pytest.mark.parametrize("who_blocks", ["viewer", "person"])
def test_no_message_button_when_a_block_exists_either_way(
    alice_client, user, other_user, who_blocks
):
    if who_blocks == "viewer":
        BlockFactory(blocker=user, blocked=other_user)
    else:
        BlockFactory(blocker=other_user, blocked=user)
    body = alice_client.get(reverse("profile", args=["bob"])).content.decode()
    assert message_links(body, "bob") == []


# --- Follow, unfollow, block through POST forms ---------------------------------------------


def test_follow_then_unfollow_through_the_forms(alice_client, user, other_user):
    response = alice_client.post(reverse("profile_follow", args=["bob"]))
    assert response.status_code == 302
    assert response["Location"] == reverse("profile", args=["bob"])
    assert Follow.objects.filter(follower=user, followee=other_user).exists()
    assert "You now follow Bob." in messages_of(response)

    body = alice_client.get(reverse("profile", args=["bob"])).content.decode()
    assert f'action="{reverse("profile_unfollow", args=["bob"])}"' in body

    alice_client.post(reverse("profile_unfollow", args=["bob"]))
    assert not Follow.objects.filter(follower=user, followee=other_user).exists()


def test_follow_returns_to_the_page_it_came_from_but_never_off_site(alice_client, other_user):
    url = reverse("profile_follow", args=["bob"])
    response = alice_client.post(url, {"next": "/u/bob/followers/?page=2"})
    assert response["Location"] == "/u/bob/followers/?page=2"
    response = alice_client.post(
        reverse("profile_unfollow", args=["bob"]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("profile", args=["bob"])


@pytest.mark.parametrize(
    "name", ["profile_follow", "profile_unfollow", "profile_block", "profile_unblock"]
)
def test_get_cannot_change_the_follow_graph(alice_client, user, other_user, name):
    Follow.objects.create(follower=user, followee=other_user)
    response = alice_client.get(reverse(name, args=["bob"]))
    assert response.status_code == 405
    assert Follow.objects.filter(follower=user, followee=other_user).exists()
    assert not Block.objects.exists()


def test_anonymous_post_is_sent_to_log_in_and_changes_nothing(client, other_user):
    response = client.post(reverse("profile_follow", args=["bob"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not Follow.objects.exists()


def test_block_removes_follows_both_ways_and_unblock_lifts_it(alice_client, user, other_user):
    Follow.objects.create(follower=user, followee=other_user)
    Follow.objects.create(follower=other_user, followee=user)

    response = alice_client.post(reverse("profile_block", args=["bob"]))

    assert response.status_code == 302
    assert Block.objects.filter(blocker=user, blocked=other_user).exists()
    assert not Follow.objects.exists()
    body = alice_client.get(reverse("profile", args=["bob"])).content.decode()
    assert "You blocked @bob" in body
    assert f'action="{reverse("profile_unblock", args=["bob"])}"' in body

    alice_client.post(reverse("profile_unblock", args=["bob"]))
    assert not Block.objects.exists()


def test_following_someone_who_blocked_you_shows_the_error_and_changes_nothing(
    alice_client, user, other_user
):
    BlockFactory(blocker=other_user, blocked=user)

    response = alice_client.post(reverse("profile_follow", args=["bob"]), follow=True)

    assert response.status_code == 200
    assert not Follow.objects.filter(follower=user).exists()
    body = response.content.decode()
    assert "This user has blocked you." in body
    assert 'class="msg msg-error"' in body
    assert "@bob has blocked you" in body  # and the profile says so, without a Follow button
    assert f'action="{reverse("profile_follow", args=["bob"])}"' not in body


def test_following_yourself_is_refused_with_a_message(alice_client, user):
    response = alice_client.post(reverse("profile_follow", args=["alice"]))
    assert "You cannot follow yourself." in messages_of(response)
    assert not Follow.objects.exists()


def test_csrf_is_enforced_on_the_forms(user, other_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    url = reverse("profile_follow", args=["bob"])

    refused = client.post(url)
    assert refused.status_code == 403
    assert "That form had expired" in refused.content.decode()
    assert not Follow.objects.exists()

    client.get(reverse("profile", args=["bob"]))  # sets the CSRF cookie, as a browser would
    token = client.cookies["csrftoken"].value
    assert client.post(url, {"csrfmiddlewaretoken": token}).status_code == 302
    assert Follow.objects.filter(follower=user, followee=other_user).exists()


# --- Followers and following lists ----------------------------------------------------------


def test_followers_list_is_paginated_fifty_per_page(client, user):
    make_followers(user, 60, prefix="fan-")
    first = client.get(reverse("profile_followers", args=["alice"]))
    assert first.status_code == 200
    assert len(first.context["people"]) == 50
    assert 'rel="next"' in first.content.decode()
    second = client.get(reverse("profile_followers", args=["alice"]) + "?page=2")
    assert len(second.context["people"]) == 10


def test_followers_list_marks_who_i_follow_and_who_follows_me(alice_client, user, other_user):
    carol = UserFactory(username="carol")
    for follower in (other_user, carol):
        Follow.objects.create(follower=follower, followee=user)
    Follow.objects.create(follower=user, followee=other_user)

    body = alice_client.get(reverse("profile_followers", args=["alice"])).content.decode()

    assert f'action="{reverse("profile_unfollow", args=["bob"])}"' in body
    assert f'action="{reverse("profile_follow", args=["carol"])}"' in body
    assert "Follow back" in body


def test_following_list_shows_whom_they_follow(client, user, other_user):
    Follow.objects.create(follower=user, followee=other_user)
    response = client.get(reverse("profile_following", args=["alice"]))
    assert [u.username for u in response.context["people"]] == ["bob"]
    empty = client.get(reverse("profile_following", args=["bob"]))
    assert "Not following anyone yet" in empty.content.decode()


def test_follow_lists_of_someone_who_blocked_you_are_refused(alice_client, user, other_user):
    BlockFactory(blocker=other_user, blocked=user)
    response = alice_client.get(reverse("profile_followers", args=["bob"]))
    assert response.status_code == 302
    assert "This user has blocked you." in messages_of(response)


@pytest.mark.parametrize("tab", ["profile_followers", "profile_following"])
def test_follow_list_query_count_does_not_grow_with_rows(
    alice_client, django_assert_num_queries, user, other_user, tab
):
    def fill(n: int, prefix: str) -> None:
        fans = make_followers(other_user, n, prefix=prefix)
        if tab == "profile_following":
            Follow.objects.bulk_create([Follow(follower=other_user, followee=fan) for fan in fans])

    url = reverse(tab, args=["bob"])
    fill(3, "few-")
    # session, user, unread badge, profile, page count, page rows, the rows' users
    with django_assert_num_queries(7):
        alice_client.get(url)
    fill(70, "many-")
    with django_assert_num_queries(7):
        response = alice_client.get(url)
    assert len(response.context["people"]) == 50


# --- Settings -------------------------------------------------------------------------------


def test_settings_page_requires_login(client):
    response = client.get(reverse("settings_profile"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_edit_profile_saves_through_the_service(alice_client, user):
    form = alice_client.get(reverse("settings_profile"))
    assert form.status_code == 200
    assert 'value="Alice"' in form.content.decode()

    response = alice_client.post(
        reverse("settings_profile"),
        {"display_name": "  Alice L.  ", "bio": "Listens a lot.", "email_notifications": ""},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("profile", args=["alice"])
    user.refresh_from_db()
    assert (user.display_name, user.bio, user.email_notifications) == (
        "Alice L.",
        "Listens a lot.",
        False,
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"display_name": "x" * 51, "bio": ""}, "display_name"),
        ({"display_name": "Alice", "bio": "y" * 161}, "bio"),
    ],
)
def test_edit_profile_shows_validation_errors_and_saves_nothing(alice_client, user, data, field):
    response = alice_client.post(reverse("settings_profile"), data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert 'class="errorlist"' in response.content.decode()
    user.refresh_from_db()
    assert (user.display_name, user.bio) == ("Alice", "")


# --- Notifications --------------------------------------------------------------------------


def test_notifications_page_lists_mine_newest_first_as_sentences(alice_client, user, other_user):
    NotificationFactory(
        recipient=user, kind=Notification.Kind.FOLLOW, payload={"user": "bob", "name": "Bob"}
    )
    NotificationFactory(
        recipient=user,
        kind=Notification.Kind.SPACE_LIVE,
        payload={"host": "bob", "host_name": "Bob", "title": "Late night jazz", "url": "/s/1/"},
    )
    NotificationFactory(recipient=other_user, payload={"user": "zed", "name": "Zed"})

    response = alice_client.get(reverse("notifications"))

    assert response.status_code == 200
    lines = response.context["lines"]
    assert [line.notification.kind for line in lines] == ["space_live", "follow"]
    body = response.content.decode()
    assert "is live now: \u201cLate night jazz\u201d." in body
    assert 'href="/s/1/"' in body
    assert "followed you." in body
    assert 'href="/u/bob/"' in body
    assert "Zed" not in body


def test_every_notification_kind_renders(alice_client, user):
    for kind in Notification.Kind.values:
        NotificationFactory(recipient=user, kind=kind, payload={"title": "Talk"})
    NotificationFactory(recipient=user, kind=Notification.Kind.MESSAGE, payload={"from": "bob"})
    response = alice_client.get(reverse("notifications"))
    assert response.status_code == 200
    assert all(line.text for line in response.context["lines"])


def test_notifications_with_only_a_username_show_the_display_name(alice_client, user):
    NotificationFactory(recipient=user, kind=Notification.Kind.MESSAGE, payload={"from": "bob"})
    UserFactory(username="bob", display_name="Bob Builder")
    body = alice_client.get(reverse("notifications")).content.decode()
    assert "Bob Builder</a>" in body
    assert "sent you a message." in body


def test_empty_notifications_page(alice_client):
    body = alice_client.get(reverse("notifications")).content.decode()
    assert "Nothing here yet" in body
    assert "Mark all read" not in body


def test_mark_all_read_touches_only_my_notifications(alice_client, user, other_user):
    NotificationFactory.create_batch(2, recipient=user)
    theirs = NotificationFactory(recipient=other_user)

    assert alice_client.get(reverse("notifications_mark_all_read")).status_code == 405
    response = alice_client.post(reverse("notifications_mark_all_read"))

    assert response.status_code == 302
    assert response["Location"] == reverse("notifications")
    assert not Notification.objects.filter(recipient=user, is_read=False).exists()
    theirs.refresh_from_db()
    assert theirs.is_read is False


def test_notifications_require_login(client):
    assert client.get(reverse("notifications")).status_code == 302
    assert client.post(reverse("notifications_mark_all_read")).status_code == 302


def test_follow_via_site_notifies_the_followee(alice_client, other_user):
    alice_client.post(reverse("profile_follow", args=["bob"]))
    note = Notification.objects.get(recipient=other_user)
    assert note.kind == Notification.Kind.FOLLOW
    assert note.payload["user"] == "alice"
