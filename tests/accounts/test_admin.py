"""The Django admin for accounts: every page loads, lists do not grow queries, bans stick."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Block, DirectMessage, Follow, Notification, User
from tests.factories import BlockFactory, FollowFactory, NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db

MODELS = [User, Follow, Block, Notification, DirectMessage]


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_superuser("root", "root@example.com", "pw-for-root")


@pytest.fixture
def admin_client(client: Client, staff: User) -> Client:
    client.force_login(staff)
    return client


@pytest.fixture
def rows(user: User, other_user: User) -> dict[type, object]:
    return {
        User: user,
        Follow: FollowFactory(follower=user, followee=other_user),
        Block: BlockFactory(blocker=other_user, blocked=UserFactory(username="carol")),
        Notification: NotificationFactory(recipient=user, payload={"user": "bob"}),
        DirectMessage: DirectMessage.objects.create(sender=user, recipient=other_user, body="hi"),
    }


def _url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_accounts_model_is_registered():
    for model in MODELS:
        assert admin.site.is_registered(model)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_add_and_change_pages_load(admin_client, rows, model):
    obj = rows[model]
    assert admin_client.get(_url(model, "changelist")).status_code == 200
    assert admin_client.get(_url(model, "add")).status_code == 200
    assert admin_client.get(_url(model, "change", obj.pk)).status_code == 200


def test_user_changelist_search_and_filters(admin_client, user, other_user):
    url = _url(User, "changelist")
    response = admin_client.get(url, {"q": "alice"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [user]
    response = admin_client.get(url, {"is_active__exact": "1", "is_staff__exact": "0"})
    assert set(response.context["cl"].result_list) == {user, other_user}


def test_notification_filters_load(admin_client, rows):
    url = _url(Notification, "changelist")
    response = admin_client.get(url, {"kind__exact": "follow", "is_read__exact": "0"})
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1


def test_user_autocomplete_for_the_raw_user_fields(admin_client, user):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "accounts", "model_name": "follow", "field_name": "follower", "term": "ali"},
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["alice"]


def test_user_changelist_shows_follower_counts_without_a_query_per_row(admin_client, host):
    url = _url(User, "changelist")

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = admin_client.get(url, {"o": "-4"})  # sort by the follower count
            assert response.status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    UserFactory.create_batch(30)
    assert queries() == few
    response = admin_client.get(url, {"o": "-4"})
    top = response.context["cl"].result_list[0]
    assert (top.username, top.follower_count) == ("hostess", 600)


def test_the_user_change_page_shows_the_audience(admin_client, host):
    body = admin_client.get(_url(User, "change", host.pk)).content.decode()
    assert "600" in body
    assert "Can host Spaces" in body


def test_ban_action_deactivates_and_ends_sessions(admin_client, staff, user, other_user):
    victim_client = Client()
    victim_client.force_login(user)
    bystander = Client()
    bystander.force_login(other_user)
    sessions_before = Session.objects.count()

    response = admin_client.post(
        _url(User, "changelist"),
        {"action": "ban_users", "_selected_action": [user.pk, staff.pk]},
        follow=True,
    )

    assert response.status_code == 200
    user.refresh_from_db()
    staff.refresh_from_db()
    assert user.is_active is False
    assert staff.is_active is True  # you cannot ban yourself
    assert Session.objects.count() == sessions_before - 1
    assert "_auth_user_id" not in victim_client.session
    assert victim_client.get(reverse("notifications")).status_code == 302  # logged out
    assert bystander.get(reverse("notifications")).status_code == 200
    body = response.content.decode()
    assert "Banned 1 user" in body
    assert "You cannot ban yourself." in body


def test_admin_requires_staff(client, user):
    client.force_login(user)
    response = client.get(_url(User, "changelist"))
    assert response.status_code == 302
