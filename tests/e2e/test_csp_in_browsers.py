"""Every page type under the Content-Security-Policy, in Chromium: each loads its styles, images
and scripts without one violation (the page fixture turns a violation into a console error),
Swagger UI still draws the API, and the policy is really enforced: an injected inline script
does not run. The live Space page, its socket and audio are covered under the same policy by
test_space_in_browsers.py and test_live_updates_in_browsers.py."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from scheduling.services import schedule as scheduling_schedule
from tests.factories import every_page_type

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]


def test_every_page_type_loads_with_no_policy_violation(
    new_page: Any, console: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduling_schedule, "_kick_sweep", lambda: None)
    settings.SPACES_HOST_MIN_FOLLOWERS = 1
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 1
    world = every_page_type(host_name="cspho", listener_name="csplis")
    host, listener, live = world["host"], world["listener"], world["live"]
    ended, scheduled, ticketed = world["ended"], world["scheduled"], world["ticketed"]

    anonymous = new_page("anonymous")
    for path in ("/", reverse("account_login"), reverse("account_signup"), "/admin/login/"):
        anonymous.goto(path)
        anonymous.wait_for_load_state("networkidle")

    anonymous.goto(reverse("api-docs"))
    anonymous.locator(".swagger-ui .info .title").wait_for()
    anonymous.locator(".opblock").first.wait_for()

    page = new_page("listener", listener)
    for path in (
        "/",
        reverse("space_list"),
        reverse("space_ended_list"),
        reverse("space_detail", args=[ended.pk]),
        reverse("space_detail", args=[live.pk]),
        reverse("scheduled_list"),
        reverse("scheduled_detail", args=[scheduled.pk]),
        reverse("ticket_buy", args=[ticketed.pk]),
        reverse("tickets_mine"),
        reverse("profile", args=[host.username]),
        reverse("settings_profile"),
        reverse("notifications"),
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    assert console.errors == []


def test_an_injected_inline_script_does_not_run(new_page: Any, console: Any) -> None:
    page = new_page("anonymous")
    page.goto("/")
    ran, directive = page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener(
                "securitypolicyviolation",
                (e) => resolve([window.__injected === true, e.effectiveDirective]),
                { once: true },
            );
            const s = document.createElement("script");
            s.textContent = "window.__injected = true";
            document.body.append(s);
        })"""
    )
    assert (ran, directive) == (False, "script-src-elem")
    assert any("Content Security Policy" in e for e in console.errors), console.errors
