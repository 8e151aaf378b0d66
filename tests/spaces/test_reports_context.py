"""Reports of a comment, and the context every report keeps for staff: the comments and caption
lines of a minute around it, copied (spaces/services/reports.py). Through the service, the API
and the site's report form; bad input is refused with its code and stores nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from spaces import services
from spaces.models import CaptionLine, Comment, Report, Space
from spaces.services.reports import REPORT_CONTEXT_ROWS
from spaces_project.errors import ApplicationError
from tests.factories import SpaceFactory, ended_space, join, make_speaker
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def say(space: Space, who: User, text: str, at: datetime, *, deleted: bool = False) -> Comment:
    """A comment posted at `at` (the service stamps now; a test needs other moments)."""
    comment = Comment.objects.create(space=space, author=who, text=text, parts=[{"text": text}])
    Comment.objects.filter(pk=comment.pk).update(
        created_at=at, deleted_at=at + timedelta(seconds=1) if deleted else None
    )
    comment.refresh_from_db()
    return comment


def caption(space: Space, who: User | None, text: str, at: datetime) -> CaptionLine:
    return CaptionLine.objects.create(space=space, speaker=who, text=text, started_at=at)


def refusal(call) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError) as exc:
        call()
    return str(exc.value.code), exc.value.status


@pytest.fixture
def room(space: Space) -> tuple[Space, User, User]:
    """A live Space, a listener who reports, and a speaker who comments."""
    return space, join(space), make_speaker(space)


# --- A comment's report ---------------------------------------------------------------------


def test_a_comment_report_targets_its_author_and_keeps_the_minute_around_it(room):
    space, reporter, alice = room
    t = timezone.now() - timedelta(minutes=5)
    bob = join(space)
    early = say(space, bob, "too early", t - timedelta(seconds=61))
    before = say(space, bob, "before it", t - timedelta(seconds=30))
    gone = say(space, bob, "said then deleted", t - timedelta(seconds=10), deleted=True)
    bad = say(space, alice, "the bad one", t)
    after = say(space, reporter, "after it", t + timedelta(seconds=59))
    late = say(space, bob, "too late", t + timedelta(seconds=61))
    caption(space, alice, "out of the window", t - timedelta(seconds=90))
    said = caption(space, alice, "spoken words", t - timedelta(seconds=5))
    caption(space, None, "someone unknown", t + timedelta(seconds=20))

    report = services.report_create(
        reporter=reporter, space_id=space.pk, reason="harassment", comment_id=bad.pk
    )

    assert (report.target, report.comment) == (alice, bad)
    context = report.context
    assert context["comment_id"] == bad.pk
    assert context["at"] == bad.created_at.isoformat().replace("+00:00", "Z")
    assert [c["id"] for c in context["comments"]] == [before.pk, gone.pk, bad.pk, after.pk]
    assert early.pk not in [c["id"] for c in context["comments"]]
    assert late.pk not in [c["id"] for c in context["comments"]]
    reported = next(c for c in context["comments"] if c["reported"])
    assert reported == {
        "id": bad.pk,
        "at": context["at"],
        "author_id": alice.pk,
        "author_username": alice.username,
        "text": "the bad one",
        "deleted": False,
        "reported": True,
    }
    assert [c["deleted"] for c in context["comments"]] == [False, True, False, False]
    assert [(c["text"], c["speaker_username"]) for c in context["captions"]] == [
        ("spoken words", alice.username),
        ("someone unknown", None),
    ]
    assert context["captions"][0]["id"] == said.pk
    assert (context["more_comments"], context["more_captions"]) == (False, False)


def test_the_context_is_a_copy_that_outlives_the_comment(room):
    space, reporter, alice = room
    comment = services.comment_post(user=alice, space_id=space.pk, text="regret this")
    report = services.report_create(
        reporter=reporter, space_id=space.pk, reason="spam", comment_id=comment.pk
    )

    services.comment_delete(actor=alice, space_id=space.pk, comment_id=comment.pk)
    Comment.objects.filter(pk=comment.pk).update(text="edited away")

    report.refresh_from_db()
    assert [(c["text"], c["deleted"]) for c in report.context["comments"]] == [
        ("regret this", False)
    ]


def test_a_deleted_comment_can_still_be_reported(room):
    space, reporter, alice = room
    comment = say(space, alice, "deleted fast", timezone.now(), deleted=True)

    report = services.report_create(
        reporter=reporter, space_id=space.pk, reason="spam", comment_id=comment.pk
    )

    assert report.comment == comment
    assert report.context["comments"][0]["deleted"] is True


def test_naming_the_author_too_is_the_same_report(room):
    space, reporter, alice = room
    comment = say(space, alice, "hello", timezone.now())

    report = services.report_create(
        reporter=reporter,
        space_id=space.pk,
        reason="spam",
        comment_id=comment.pk,
        target_user_id=alice.pk,
    )

    assert (report.target, report.comment) == (alice, comment)


def test_the_context_keeps_the_nearest_rows_and_always_the_reported_comment(room):
    space, reporter, alice = room
    t = timezone.now() - timedelta(minutes=5)
    bob = join(space)
    # 130 comments at the very same instant as the reported one, with higher ids (a burst):
    # the reported comment stays, and 100 rows are kept in all.
    bad = say(space, alice, "the bad one", t)
    burst = Comment.objects.bulk_create(
        [Comment(space=space, author=bob, text=f"c{n}", parts=[]) for n in range(130)]
    )
    Comment.objects.filter(pk__in=[c.pk for c in burst]).update(created_at=t)
    far = say(space, bob, "far but inside", t + timedelta(seconds=50))
    for n in range(REPORT_CONTEXT_ROWS + 5):
        caption(space, alice, f"line {n}", t + timedelta(milliseconds=100 * n))

    report = services.report_create(
        reporter=reporter, space_id=space.pk, reason="spam", comment_id=bad.pk
    )

    ids = [c["id"] for c in report.context["comments"]]
    assert len(ids) == REPORT_CONTEXT_ROWS
    assert bad.pk in ids
    assert far.pk not in ids  # the nearest are kept: the burst is nearer
    assert report.context["more_comments"] is True
    lines = [c["text"] for c in report.context["captions"]]
    assert len(lines) == REPORT_CONTEXT_ROWS
    assert lines[0] == "line 0"  # the nearest: from the moment on
    assert report.context["more_captions"] is True


# --- A person's report, the Space's ----------------------------------------------------------


def test_a_person_report_keeps_the_last_minute_up_to_now(room):
    space, reporter, alice = room
    now = timezone.now()
    old = say(space, alice, "long ago", now - timedelta(minutes=3))
    recent = say(space, alice, "just now", now - timedelta(seconds=20))

    report = services.report_create(
        reporter=reporter, space_id=space.pk, reason="harassment", target_user_id=alice.pk
    )

    assert report.comment is None
    assert report.context["comment_id"] is None
    ids = [c["id"] for c in report.context["comments"]]
    assert recent.pk in ids
    assert old.pk not in ids
    assert not any(c["reported"] for c in report.context["comments"])


def test_a_report_after_the_end_looks_at_the_end(room):
    space, reporter, alice = room
    end = timezone.now() - timedelta(hours=2)
    Space.objects.filter(pk=space.pk).update(state=Space.State.ENDED, ended_at=end)
    last = say(space, alice, "last words", end - timedelta(seconds=30))
    say(space, alice, "an hour before", end - timedelta(hours=1))

    report = services.report_create(
        reporter=reporter, space_id=space.pk, reason="spam", target_user_id=alice.pk
    )

    assert report.context["at"] == end.isoformat().replace("+00:00", "Z")
    assert [c["id"] for c in report.context["comments"]] == [last.pk]


def test_a_report_of_the_space_keeps_context_too(room):
    """The decision: what was said when someone reported the Space is the best evidence of
    why, so a Space report keeps the same minute."""
    space, reporter, alice = room
    comment = say(space, alice, "hateful thing", timezone.now() - timedelta(seconds=5))

    report = services.report_create(reporter=reporter, space_id=space.pk, reason="hate")

    assert (report.target, report.comment) == (None, None)
    assert [c["id"] for c in report.context["comments"]] == [comment.pk]


# --- Refusals: nothing stored --------------------------------------------------------------------


def test_your_own_comment_cannot_be_reported(room):
    space, reporter, _ = room
    mine = say(space, reporter, "mine", timezone.now())

    assert refusal(
        lambda: services.report_create(
            reporter=reporter, space_id=space.pk, reason="spam", comment_id=mine.pk
        )
    ) == ("cannot_target_self", 400)
    assert not Report.objects.exists()


def test_a_comment_of_another_space_or_none_is_not_found(room):
    space, reporter, _ = room
    other = SpaceFactory()
    elsewhere = say(other, join(other), "elsewhere", timezone.now())

    for comment_id in (elsewhere.pk, elsewhere.pk + 1000, 2**53 - 1):
        assert refusal(
            lambda comment_id=comment_id: services.report_create(
                reporter=reporter, space_id=space.pk, reason="spam", comment_id=comment_id
            )
        ) == ("comment_not_found", 404)
    assert not Report.objects.exists()


def test_naming_someone_else_than_the_author_is_invalid(room):
    space, reporter, alice = room
    comment = say(space, alice, "hello", timezone.now())
    bob = join(space)

    with pytest.raises(ApplicationError) as exc:
        services.report_create(
            reporter=reporter,
            space_id=space.pk,
            reason="spam",
            comment_id=comment.pk,
            target_user_id=bob.pk,
        )
    assert (exc.value.code, exc.value.status) == ("invalid", 400)
    assert "comment_id" in exc.value.fields
    assert not Report.objects.exists()


@pytest.mark.parametrize("bad", [0, -1, 2**53, 2**64, "12", 1.0, True, [1]])
def test_a_comment_id_that_is_not_an_id_is_invalid(room, bad):
    space, reporter, _ = room
    with pytest.raises(ApplicationError) as exc:
        services.report_create(reporter=reporter, space_id=space.pk, reason="spam", comment_id=bad)
    assert (exc.value.code, exc.value.status, list(exc.value.fields)) == (
        "invalid",
        400,
        ["comment_id"],
    )
    assert not Report.objects.exists()


def test_someone_never_in_the_space_cannot_report_its_comments(room, user):
    space, _, alice = room
    comment = say(space, alice, "hello", timezone.now())
    assert refusal(
        lambda: services.report_create(
            reporter=user, space_id=space.pk, reason="spam", comment_id=comment.pk
        )
    ) == ("not_in_space", 403)


# --- The API -----------------------------------------------------------------------------------


def reports_url(space: Space) -> str:
    return f"/api/v1/spaces/{space.pk}/reports"


def test_a_comment_report_over_the_api(client_for, room):
    space, reporter, alice = room
    comment = say(space, alice, "rude", timezone.now())

    response = client_for(reporter).post(
        reports_url(space), {"reason": "harassment", "comment_id": comment.pk}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["target_id"], body["comment_id"]) == (alice.pk, comment.pk)
    assert "context" not in body  # staff only: it may hold deleted comments
    assert Report.objects.get().context["comment_id"] == comment.pk


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"comment_id": "1"}, 400, "invalid"),
        ({"comment_id": True}, 400, "invalid"),
        ({"comment_id": 1.5}, 400, "invalid"),
        ({"comment_id": 0}, 400, "invalid"),
        ({"comment_id": 2**63}, 400, "invalid"),
        ({"comment_id": [1]}, 400, "invalid"),
        ({"comment_id": 1, "details": "a\x00b"}, 400, "invalid"),
        ({"comment_id": 1, "details": "a\x1bb"}, 400, "invalid_text"),
        ({"comment_id": 1, "extra": 1}, 400, "invalid"),
        ({"comment_id": 2**53 - 1}, 404, "comment_not_found"),
    ],
)
def test_bad_comment_reports_over_the_api(client_for, room, payload, status, code):
    space, reporter, alice = room
    say(space, alice, "hello", timezone.now())
    response = client_for(reporter).post(
        reports_url(space), {"reason": "spam", **payload}, format="json"
    )
    assert_error(response, status, code)
    assert not Report.objects.exists()


def test_the_api_refuses_another_spaces_comment_and_your_own(client_for, room):
    space, reporter, alice = room
    other = SpaceFactory()
    elsewhere = say(other, join(other), "elsewhere", timezone.now())
    mine = say(space, reporter, "mine", timezone.now())
    hers = say(space, alice, "hers", timezone.now())
    client = client_for(reporter)

    assert_error(
        client.post(
            reports_url(space), {"reason": "spam", "comment_id": elsewhere.pk}, format="json"
        ),
        404,
        "comment_not_found",
    )
    assert_error(
        client.post(reports_url(space), {"reason": "spam", "comment_id": mine.pk}, format="json"),
        400,
        "cannot_target_self",
    )
    assert_error(
        client.post(
            reports_url(space),
            {"reason": "spam", "comment_id": hers.pk, "user_id": reporter.pk},
            format="json",
        ),
        400,
        "cannot_target_self",
    )
    assert not Report.objects.exists()


def test_the_schema_documents_the_comment_report():
    schema = Client().get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/spaces/{space_id}/reports"]["post"]
    assert "comment_not_found" in operation["responses"]["404"]["description"]
    body = schema["components"]["schemas"]["SpaceReportCreateRequest"]["properties"]
    assert "comment_id" in body
    assert "comment_id" in schema["components"]["schemas"]["SpaceReport"]["properties"]


# --- The site's report form --------------------------------------------------------------------


def site_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_report_form_reports_a_comment(room):
    space, reporter, alice = room
    comment = say(space, alice, "rude", timezone.now())

    response = site_client(reporter).post(
        reverse("space_report", args=[space.pk]),
        {"reason": "harassment", "comment_id": str(comment.pk), "target": ""},
        follow=True,
    )

    assert messages_of(response) == ["Thanks. Your report was sent to our moderators."]
    report = Report.objects.get()
    assert (report.comment, report.target) == (comment, alice)


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5", str(2**53), str(2**70), "1\x00"])
def test_the_report_form_refuses_a_bad_comment_id(room, value):
    space, reporter, _ = room
    response = site_client(reporter).post(
        reverse("space_report", args=[space.pk]),
        {"reason": "spam", "comment_id": value},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "comment_id" in response.json()["error"]["fields"]
    assert not Report.objects.exists()


def test_the_report_form_refuses_a_huge_target_without_a_500(room):
    space, reporter, _ = room
    response = site_client(reporter).post(
        reverse("space_report", args=[space.pk]),
        {"reason": "spam", "target": str(2**70)},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert not Report.objects.exists()


def test_the_report_form_says_when_the_comment_is_gone(room):
    space, reporter, _ = room
    ended = ended_space()
    elsewhere = say(ended, ended.host, "elsewhere", timezone.now())
    response = site_client(reporter).post(
        reverse("space_report", args=[space.pk]),
        {"reason": "spam", "comment_id": str(elsewhere.pk)},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "comment_not_found"
    assert not Report.objects.exists()
