"""The admin's report review and comments in Chromium: the context of a comment's report as two
tables side by side, the reported comment marked; the comments list with its search, filters and
actions. Staff pages; looked at at desktop width. No console error, no CSP violation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from spaces import services
from spaces.models import CaptionLine, Comment, Report
from tests.e2e.conftest import SCREENSHOTS, screenshot
from tests.factories import SpaceFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

SAID = (
    (-40, "bea", "Welcome everyone, glad you're here"),
    (-25, "cal", "can we talk about the engine already"),
    (-12, "cal", "this is boring, you are all idiots"),
    (0, "cal", "get off the stage or else, I know where you live"),
    (4, "bea", "That's not OK. Reported."),
    (20, "dee", "Let's keep it kind, please"),
)
SPOKEN = ((-30, "ada", "So the loops read the cards again."), (2, "ada", "Hm, let's move on."))


@pytest.fixture
def world() -> dict[str, Any]:
    host = UserFactory(username="ada", display_name="Ada Lovelace")
    staff = UserFactory(username="moderator", is_staff=True, is_superuser=True)
    people = {n: UserFactory(username=n) for n in ("bea", "cal", "dee")}
    space = SpaceFactory(host=host, title="Notes on the engine")
    for who in people.values():
        services.space_join(user=who, space_id=space.pk)
    t = timezone.now() - timedelta(minutes=2)
    bad = None
    for offset, name, text in SAID:
        comment = services.comment_post(user=people[name], space_id=space.pk, text=text)
        Comment.objects.filter(pk=comment.pk).update(created_at=t + timedelta(seconds=offset))
        if offset == 0:
            bad = comment
    for offset, _, text in SPOKEN:
        CaptionLine.objects.create(
            space=space, speaker=host, text=text, started_at=t + timedelta(seconds=offset)
        )
    services.comment_delete(actor=host, space_id=space.pk, comment_id=bad.pk)
    report = services.report_create(
        reporter=people["bea"],
        space_id=space.pk,
        reason="harassment",
        details="A threat in the comments.",
        comment_id=bad.pk,
    )
    return {"staff": staff, "report": report, "bad": bad}


def test_staff_review_a_comment_report_and_find_the_comment(
    world: dict[str, Any], new_page: Any, console: Any
) -> None:
    page = new_page("staff", world["staff"])
    report: Report = world["report"]
    page.goto(reverse("admin:spaces_report_change", args=[report.pk]))

    reported = page.locator("tr.rc-reported")
    assert reported.count() == 1
    assert "I know where you live" in reported.inner_text()
    assert "Deleted" in reported.inner_text()
    background = reported.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")  # the stylesheet loaded
    assert page.locator(".rc-columns table").count() == 2
    screenshot(page, "admin-report-review")
    page.screenshot(path=str(SCREENSHOTS / "admin-report-review-full.png"), full_page=True)

    page.get_by_role("link", name=f"#{world['bad'].pk}").click()
    page.get_by_text("Reports of this comment").wait_for()
    page.goto(reverse("admin:spaces_comment_changelist") + "?q=cal&deleted=yes")
    assert page.locator("#result_list tbody tr").count() == 1
    screenshot(page, "admin-comments")
    assert console.errors == []
