"""Staff moderation in the admin goes through the services."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from spaces import services
from spaces.models import CaptionLine, Comment, ModerationAction, Report, Space
from spaces_project.errors import ApplicationError
from tests.factories import SpaceFactory, UserFactory, ended_space, join, make_speaker

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    staff = UserFactory(username="moderator", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    client.staff = staff  # type: ignore[attr-defined]
    return client


def act(client, model, action, ids):
    return client.post(
        reverse(f"admin:spaces_{model}_changelist"),
        {"action": action, "_selected_action": [str(i) for i in ids]},
    )


def test_the_space_list_filters_and_searches(staff_client, space):
    SpaceFactory(title="Other thing")
    url = reverse("admin:spaces_space_changelist")
    assert staff_client.get(url, {"state": "live"}).status_code == 200
    page = staff_client.get(url, {"q": space.title}).content.decode()
    assert space.title in page
    assert "Other thing" not in page


def test_the_space_page_shows_the_moderation_log_inline(staff_client, space):
    make_speaker(space)
    page = staff_client.get(reverse("admin:spaces_space_change", args=[space.pk]))
    assert page.status_code == 200
    assert "Moderation log" in page.content.decode()


def test_end_selected_spaces_ends_them_as_staff_and_logs_it(staff_client, space):
    other = SpaceFactory()

    response = act(staff_client, "space", "end_selected", [space.pk, other.pk])

    assert response.status_code == 302
    assert set(Space.objects.values_list("state", flat=True)) == {"ended"}
    log = ModerationAction.objects.get(space=space, action="space_ended")
    assert (log.actor, log.details) == (staff_client.staff, {"by_staff": True})


def test_ban_hosts_deactivates_the_hosts_and_ends_their_spaces(staff_client, space, space_host):
    act(staff_client, "space", "ban_hosts", [space.pk])

    space_host.refresh_from_db()
    assert not space_host.is_active
    assert Space.objects.get(pk=space.pk).state == "ended"
    assert ModerationAction.objects.filter(space=space, action="host_banned").exists()


def test_the_reports_queue_marks_reports_resolved(staff_client, space):
    who = join(space)
    report = services.report_create(reporter=who, space_id=space.pk, reason="spam")
    url = reverse("admin:spaces_report_changelist")
    assert staff_client.get(url, {"status__exact": "open"}).status_code == 200

    act(staff_client, "report", "mark_resolved", [report.pk])

    report.refresh_from_db()
    assert (report.status, report.resolved_by) == (Report.Status.RESOLVED, staff_client.staff)


def test_the_reports_queue_bans_reported_users(staff_client, space):
    who, alice = join(space), make_speaker(space)
    report = services.report_create(
        reporter=who, space_id=space.pk, reason="harassment", target_user_id=alice.pk
    )

    act(staff_client, "report", "ban_reported_users", [report.pk])

    alice.refresh_from_db()
    assert not alice.is_active


@pytest.mark.parametrize(
    "model",
    ["participant", "moderationaction", "pin", "captionline", "speakerrequest", "invitation"],
)
def test_every_spaces_admin_list_opens(staff_client, space, model):
    make_speaker(space)
    assert staff_client.get(reverse(f"admin:spaces_{model}_changelist")).status_code == 200


# --- Reports with context, comments ------------------------------------------------------------


def say(space, who, text, at=None, *, deleted=False):
    """A comment posted at `at` (default now)."""
    at = at or timezone.now()
    comment = Comment.objects.create(space=space, author=who, text=text, parts=[{"text": text}])
    Comment.objects.filter(pk=comment.pk).update(created_at=at, deleted_at=at if deleted else None)
    comment.refresh_from_db()
    return comment


def test_the_review_page_shows_what_was_said_around_a_comment_report(staff_client, space):
    who, alice = join(space), make_speaker(space)
    t = timezone.now() - timedelta(seconds=30)
    say(space, who, "before <b>it</b>", t - timedelta(seconds=12))
    bad = say(space, alice, "the reported words", t)
    say(space, alice, "since deleted", t + timedelta(seconds=3), deleted=True)
    CaptionLine.objects.create(space=space, speaker=alice, text="spoken aloud", started_at=t)
    report = services.report_create(
        reporter=who, space_id=space.pk, reason="harassment", comment_id=bad.pk
    )

    page = staff_client.get(reverse("admin:spaces_report_change", args=[report.pk]))

    assert page.status_code == 200
    body = page.content.decode()
    assert "What was said around it" in body
    row = re.search(r'<tr class="rc-reported[^"]*">(.*?)</tr>', body, re.S)
    assert row
    assert "the reported words" in row.group(1)
    assert "Reported" in row.group(1)
    assert re.search(r'<tr class="rc-target rc-deleted">.*?since deleted', body, re.S)
    assert "-0:12" in body
    assert "+0:03" in body
    assert "spoken aloud" in body
    assert "before &lt;b&gt;it&lt;/b&gt;" in body  # text, never HTML
    assert reverse("admin:spaces_comment_change", args=[bad.pk]) in body
    assert reverse("admin:accounts_user_change", args=[alice.pk]) in body
    # The context and the comment are a record: not fields to edit.
    assert 'name="context"' not in body
    assert 'name="comment"' not in body


def test_a_report_without_context_still_opens(staff_client, space):
    who = join(space)
    report = Report.objects.create(space=space, reporter=who, reason="spam")
    page = staff_client.get(reverse("admin:spaces_report_change", args=[report.pk]))
    assert page.status_code == 200
    assert "No context was kept with this report" in page.content.decode()


def test_the_reports_queue_deletes_reported_comments(staff_client, space):
    who, alice = join(space), make_speaker(space)
    bad = say(space, alice, "bad")
    report = services.report_create(
        reporter=who, space_id=space.pk, reason="spam", comment_id=bad.pk
    )

    act(staff_client, "report", "delete_reported_comments", [report.pk])

    bad.refresh_from_db()
    assert (bad.is_deleted, bad.deleted_by) == (True, staff_client.staff)
    log = ModerationAction.objects.get(space=space, action="comment_deleted")
    assert log.details["reason"] == f"Report #{report.pk}"


def test_the_comment_list_searches_text_author_and_space_and_filters(staff_client, space):
    alice = make_speaker(space)
    other = SpaceFactory(title="Gardening hour")
    say(space, alice, "needle in the text")
    say(other, other.host, "about tomatoes", deleted=True)
    url = reverse("admin:spaces_comment_changelist")

    def shown(**params):
        return staff_client.get(url, params).content.decode()

    assert "needle in the text" in shown(q="needle")
    assert "about tomatoes" not in shown(q="needle")
    assert "needle in the text" in shown(q=alice.username)
    assert "about tomatoes" in shown(q="Gardening")
    assert "about tomatoes" not in shown(deleted="no")
    assert "about tomatoes" in shown(deleted="yes")
    assert "needle in the text" in shown(space_state="live")
    assert "needle in the text" not in shown(space_state="ended")


def test_a_comment_page_is_read_only_and_lists_its_reports(staff_client, space):
    who, alice = join(space), make_speaker(space)
    bad = say(space, alice, "bad words")
    services.report_create(reporter=who, space_id=space.pk, reason="spam", comment_id=bad.pk)
    url = reverse("admin:spaces_comment_change", args=[bad.pk])

    page = staff_client.get(url)

    assert page.status_code == 200
    body = page.content.decode()
    assert "Reports of this comment" in body
    assert "bad words" in body
    assert 'name="text"' not in body
    assert staff_client.post(url, {"text": "changed"}).status_code == 403
    assert Comment.objects.get(pk=bad.pk).text == "bad words"


def test_delete_selected_comments_takes_them_down_logged_and_told_to_the_room(
    staff_client, space, published, committed
):
    alice = make_speaker(space)
    live_one = say(space, alice, "live bad")
    ended = ended_space()
    old_one = say(ended, ended.host, "old bad")

    with committed():
        staff_client.post(
            reverse("admin:spaces_comment_changelist"),
            {
                "action": "delete_comments",
                "_selected_action": [str(live_one.pk), str(old_one.pk)],
                "reason": "Spam wave",
            },
        )

    for comment in (live_one, old_one):
        comment.refresh_from_db()
        assert (comment.is_deleted, comment.deleted_by) == (True, staff_client.staff)
    log = ModerationAction.objects.get(space=space, action="comment_deleted")
    assert (log.actor, log.target) == (staff_client.staff, alice)
    assert log.details == {
        "comment_id": live_one.pk,
        "text": "live bad",
        "by_staff": True,
        "reason": "Spam wave",
    }
    deleted = [
        {k: v for k, v in e.items() if k != "seq"}
        for _, e in published
        if e["type"] == "comment.deleted"
    ]
    # Only the live Space hears of it, and the moderator's account is not named to the room.
    assert deleted == [
        {
            "type": "comment.deleted",
            "space_id": space.pk,
            "comment_id": live_one.pk,
            "by": None,
            "by_staff": True,
        }
    ]

    act(staff_client, "comment", "delete_comments", [live_one.pk])  # again: nothing more
    assert ModerationAction.objects.filter(action="comment_deleted").count() == 2


def test_ban_the_authors_bans_them_but_never_the_staff_member(staff_client, space):
    alice = make_speaker(space)
    mine = say(space, staff_client.staff, "staff note")
    hers = say(space, alice, "bad")

    act(staff_client, "comment", "ban_authors", [mine.pk, hers.pk])

    alice.refresh_from_db()
    staff_client.staff.refresh_from_db()
    assert (alice.is_active, staff_client.staff.is_active) == (False, True)


def test_comment_take_down_is_for_staff_only_and_idempotent(space):
    alice = make_speaker(space)
    comment = say(space, alice, "bad")
    staff = UserFactory(is_staff=True)

    with pytest.raises(ApplicationError) as exc:
        services.comment_take_down(staff=alice, comment_id=comment.pk)
    assert (exc.value.code, exc.value.status) == ("staff_only", 403)
    for missing in (comment.pk + 100, 2**63, 2**80, 0):
        with pytest.raises(ApplicationError) as exc:
            services.comment_take_down(staff=staff, comment_id=missing)
        assert (exc.value.code, exc.value.status) == ("comment_not_found", 404)
    with pytest.raises(ApplicationError) as exc:
        services.comment_take_down(staff=staff, comment_id=comment.pk, reason="bad\x00")
    assert exc.value.code == "invalid_text"
    assert not Comment.objects.get(pk=comment.pk).is_deleted

    services.comment_take_down(staff=staff, comment_id=comment.pk)
    services.comment_take_down(staff=staff, comment_id=comment.pk)

    assert ModerationAction.objects.filter(action="comment_deleted").count() == 1


def test_a_comment_its_author_deleted_is_not_taken_down_again(space):
    alice = make_speaker(space)
    comment = services.comment_post(user=alice, space_id=space.pk, text="oops")
    services.comment_delete(actor=alice, space_id=space.pk, comment_id=comment.pk)

    taken = services.comment_take_down(staff=UserFactory(is_staff=True), comment_id=comment.pk)

    assert taken.deleted_by == alice
    assert not ModerationAction.objects.filter(action="comment_deleted").exists()


def test_the_comment_list_opens(staff_client, space):
    say(space, make_speaker(space), "hello")
    assert staff_client.get(reverse("admin:spaces_comment_changelist")).status_code == 200
