"""Every page type at 390, 768 and 1280 px, as the host, a speaker, a listener and logged out:
nothing sticks out of its box (a card, a pill, a button, whatever clips it) and no page scrolls
sideways. The check runs in the page (overflow_check.js says exactly what it judges); a failure
names each offender by a selector path. The pages are the table in site_pages.py.

Each page and width is saved to test-artifacts/screenshots/layout/<who>-<page>-<width>.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scheduling.services import schedule as scheduling_schedule
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.site_pages import EVERYONE, build_site, pages_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(600),
]

WIDTHS = (390, 768, 1280)
HEIGHT = {390: 844, 768: 1024, 1280: 800}
CHECK = (Path(__file__).parent / "overflow_check.js").read_text()
LAYOUT_SHOTS = SCREENSHOTS / "layout"


def settle(page: Any) -> None:
    """The page's scripts have drawn it (the Space page redraws from its snapshot at load)."""
    page.wait_for_load_state("load")
    page.evaluate("() => document.fonts.ready.then(() => new Promise(requestAnimationFrame))")


def layout_problems(page: Any) -> list[str]:
    found = page.evaluate(CHECK)
    problems = list(found["offenders"])
    if found["more"]:
        problems.append(f"... and {found['more']} more")
    if found["sideways"]:
        s = found["sideways"]
        problems.append(
            f"the page scrolls sideways: scrollWidth {s['scrollWidth']} > {s['innerWidth']}"
        )
    return problems


@pytest.mark.parametrize("who", EVERYONE)
def test_nothing_sticks_out_on_any_page_at_any_width(
    who: str, new_page: Any, console: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduling_schedule, "_kick_sweep", lambda: None)
    world = build_site(settings)
    page = new_page(who, world[who], viewport={"width": WIDTHS[-1], "height": HEIGHT[WIDTHS[-1]]})
    LAYOUT_SHOTS.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for name, path in pages_for(who):
        logged = len(console.errors)
        page.goto(path(world))
        if name == "not-found":  # the browser logs the page's own 404 status: that one is meant
            console.errors[logged:] = [e for e in console.errors[logged:] if "404" not in e]
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": HEIGHT[width]})
            settle(page)
            page.screenshot(
                path=str(LAYOUT_SHOTS / f"{who}-{name}-{width}.png"),
                full_page=True,
                animations="disabled",
            )
            failures += [f"{name} at {width}px: {p}" for p in layout_problems(page)]
    assert not failures, f"as {who}:\n" + "\n".join(failures)
    assert console.errors == []
