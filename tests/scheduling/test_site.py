"""The scheduling pages: schedule, list with Set reminder toggles, detail, edit, cancel, start,
and the partials other pages include."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.template import Context, Template
from django.test import Client, RequestFactory

from accounts.models import Follow
from scheduling import services
from scheduling.models import Reminder
from spaces.models import Space
from tests.scheduling.helpers import holders

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


def local(dt):
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def test_pages_need_a_login(schedule):
    space = schedule()
    for url in ("/spaces/scheduled/", "/spaces/scheduled/new/"):
        response = Client().get(url)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]
    # A scheduled Space's own page shows its link preview and asks to log in
    # (tests/scheduling/test_previews.py).
    detail = f"/spaces/scheduled/{space.pk}/"
    response = Client().get(detail)
    assert response.status_code == 200
    assert f"/accounts/login/?next={detail}" in response.content.decode()
    assert f"{detail}reminder/" not in response.content.decode()  # no reminder form


def test_a_host_schedules_a_space_from_the_form(browser, host, clock):
    page = browser(host).get("/spaces/scheduled/new/")
    assert page.status_code == 200
    when = clock.now + timedelta(hours=3)

    response = browser(host).post(
        "/spaces/scheduled/new/",
        {
            "title": "Evening chat",
            "scheduled_for": local(when),
            "topics": "Jazz, Soul",
            "speaking_policy": "everyone",
        },
    )

    space = Space.objects.get(title="Evening chat")
    assert response.status_code == 302
    assert response["Location"] == f"/spaces/scheduled/{space.pk}/"
    assert (space.state, space.topics, space.scheduled_for) == ("scheduled", ["Jazz", "Soul"], when)


def test_the_form_shows_the_services_field_errors(browser, host, clock):
    response = browser(host).post(
        "/spaces/scheduled/new/",
        {
            "title": "Too soon",
            "scheduled_for": local(clock.now + timedelta(minutes=5)),
            "speaking_policy": "everyone",
        },
    )
    assert response.status_code == 200
    assert "at least 15 minutes" in response.content.decode()
    assert not Space.objects.filter(title="Too soon").exists()


def test_the_list_shows_followed_hosts_with_a_set_reminder_toggle(browser, schedule, host, user):
    space = schedule(title="Followed show")
    Follow.objects.create(follower=user, followee=host)
    client = browser(user)

    page = client.get("/spaces/scheduled/").content.decode()
    assert "Followed show" in page
    assert "Set reminder" in page

    response = client.post(
        f"/spaces/scheduled/{space.pk}/reminder/",
        {"action": "set", "next": "/spaces/scheduled/"},
    )
    assert response["Location"] == "/spaces/scheduled/"
    assert Reminder.objects.filter(user=user, space=space).exists()
    assert "Reminder set" in client.get("/spaces/scheduled/").content.decode()

    client.post(f"/spaces/scheduled/{space.pk}/reminder/", {"action": "unset"})
    assert not Reminder.objects.filter(user=user, space=space).exists()


def test_a_refused_reminder_becomes_a_message(browser, schedule, host, user):
    space = schedule()
    services.scheduled_space_cancel(actor=host, space_id=space.pk)
    client = browser(user)
    response = client.post(
        f"/spaces/scheduled/{space.pk}/reminder/", {"action": "set"}, follow=True
    )
    assert "was cancelled" in response.content.decode()
    assert not Reminder.objects.exists()


def test_the_host_edits_cancels_and_starts_from_the_pages(browser, schedule, host, clock):
    first, second = schedule(minutes=60, title="First"), schedule(minutes=90, title="Second")
    client = browser(host)
    detail = client.get(f"/spaces/scheduled/{first.pk}/").content.decode()
    assert "Start now" in detail
    assert "Cancel Space" in detail

    when = clock.now + timedelta(hours=4)
    response = client.post(
        f"/spaces/scheduled/{first.pk}/edit/",
        {"title": "First, renamed", "scheduled_for": local(when), "speaking_policy": "everyone"},
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.title, first.scheduled_for) == ("First, renamed", when)

    client.post(f"/spaces/scheduled/{second.pk}/cancel/")
    assert Space.objects.get(pk=second.pk).state == "cancelled"
    assert "Cancelled" in client.get(f"/spaces/scheduled/{second.pk}/").content.decode()

    response = client.post(f"/spaces/scheduled/{first.pk}/start/")
    assert Space.objects.get(pk=first.pk).state == "live"
    assert response["Location"] == f"/spaces/{first.pk}/"
    # Once live, the scheduled page sends people to the room.
    assert client.get(f"/spaces/scheduled/{first.pk}/")["Location"] == f"/spaces/{first.pk}/"


def test_someone_else_cannot_edit_cancel_or_start(browser, schedule, user):
    space = schedule()
    client = browser(user)
    assert "Start now" not in client.get(f"/spaces/scheduled/{space.pk}/").content.decode()
    client.get(f"/spaces/scheduled/{space.pk}/edit/")
    client.post(f"/spaces/scheduled/{space.pk}/edit/", {"title": "Hijacked"})
    client.post(f"/spaces/scheduled/{space.pk}/cancel/")
    client.post(f"/spaces/scheduled/{space.pk}/start/")
    space.refresh_from_db()
    assert (space.title, space.state) == ("Morning show", "scheduled")


def test_an_unknown_space_page_is_404(browser, user):
    assert browser(user).get("/spaces/scheduled/999999/").status_code == 404


def _render(source, user, **context):
    request = RequestFactory().get("/")
    request.user = user
    return Template(source).render(Context({"request": request, "user": user, **context}))


def test_the_home_partial_lists_upcoming_spaces_of_people_i_follow(schedule, host, user):
    space = schedule(title="Partial show")
    holders(space, 2)
    Follow.objects.create(follower=user, followee=host)
    html = _render('{% include "scheduling/_upcoming.html" %}', user)
    assert "Partial show" in html
    assert "2 reminders" in html


def test_the_profile_partial_lists_a_hosts_upcoming_spaces(schedule, host, user, other_user):
    schedule(title="On my profile")
    partial = '{% include "scheduling/_host_upcoming.html" %}'
    assert "On my profile" in _render(partial, user, person=host)
    assert _render(partial, user, person=other_user).strip() == ""
    assert "no upcoming Spaces" in _render(partial, user, person=user)
