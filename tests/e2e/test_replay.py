"""Replays and clips in a real browser: Chromium plays a replay (its own HLS, and hls.js over
Media Source Extensions as a browser without native HLS would) and a clip, a transcript line
seeks the player, a clip made on the page appears in its list; and on a live Space being
recorded, REC shows by itself, a speaker's "Don't record my voice" marks their seat for
everyone, and a clip made live is announced to the room.

The replays are real: the media worker's recorder stored them (tests.factories.make_replay), the
live one is recorded by the server's own origin. No page may log a console error or throw.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from replays import services as replays_services
from replays.models import Clip
from spaces import services
from spaces.models import Participant, Recording
from tests.conftest import IN_CI
from tests.e2e.conftest import screenshot, wait_for_js
from tests.factories import SpaceFactory, UserFactory, make_followers, make_replay
from tests.servers import ROOT

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

HLS_JS = ROOT / "static" / "vendor" / "hls.light.min.js"
REPLAY_SECONDS = 12.0
LINES = ("Welcome, everyone.", "The loops still read as new.", "Note G, then.")
# Where the lines were said, seconds into the Space (and so into its replay).
SAID_AT = (1, 4, 8)
PLAYER = "document.getElementById('replay-audio')"

# A browser without native HLS (Chromium before it had it, Firefox): the page must use hls.js.
NO_NATIVE_HLS = """
(() => {
  const canPlayType = HTMLMediaElement.prototype.canPlayType;
  HTMLMediaElement.prototype.canPlayType = function (type) {
    return /mpegurl/i.test(type) ? "" : canPlayType.call(this, type);
  };
})();
"""


@pytest.fixture
def world() -> dict[str, Any]:
    host = UserFactory(username="ada", display_name="Ada Lovelace")
    listener = UserFactory(username="lis", display_name="Lis")
    started = timezone.now().replace(microsecond=0) - timedelta(minutes=3)
    space = SpaceFactory(
        host=host, title="Notes on the engine", captions_enabled=True, started_at=started
    )
    for at, text in zip(SAID_AT, LINES, strict=True):
        services.caption_append(
            space_id=space.pk,
            speaker_id=host.pk,
            text=text,
            started_at=started + timedelta(seconds=at),
        )
    services.space_end(actor=host, space_id=space.pk)
    space.refresh_from_db()
    recording = make_replay(space, seconds=REPLAY_SECONDS)
    assert recording.status == Recording.Status.READY
    clip = replays_services.clip_create(
        actor=listener, space_id=space.pk, start_ms=2000, end_ms=9000, title="Loops"
    )
    return {"host": host, "listener": listener, "space": space, "clip": clip}


def player(page: Any) -> dict[str, Any]:
    return page.evaluate(
        f"""() => {{ const a = {PLAYER};
        return {{ time: a.currentTime, duration: a.duration, paused: a.paused,
                 error: a.error && a.error.code,
                 how: document.getElementById('replay-root').dataset.player }}; }}"""
    )


def need_hls_js() -> None:
    if not HLS_JS.exists():
        message = f"needs {HLS_JS.relative_to(ROOT)}: run `make vendor` (npm ci, then the copy)"
        if IN_CI:
            pytest.fail(f"CI=true and this test {message}", pytrace=False)
        pytest.skip(message)


@pytest.mark.parametrize("how", ["native", "hls.js"])
def test_chromium_plays_the_replay_and_a_transcript_line_seeks(
    how: str, world: dict[str, Any], new_page: Any, console: Any
) -> None:
    page = new_page("listener", world["listener"])
    if how == "hls.js":
        need_hls_js()
        page.add_init_script(NO_NATIVE_HLS)
    page.goto(reverse("replay_detail", args=[world["space"].pk]))
    wait_for_js(page, "document.getElementById('replay-root').dataset.player")
    if how == "native" and player(page)["how"] != "native":
        pytest.skip("this Chromium has no native HLS (the hls.js case covers it)")
    assert player(page)["how"] == how

    # The first line: the player seeks there and plays on.
    page.locator(".cue").first.click()
    wait_for_js(page, f"{PLAYER}.currentTime > {SAID_AT[0] + 1.5}")
    state = player(page)
    assert state["error"] is None
    assert not state["paused"]
    assert abs(state["duration"] - REPLAY_SECONDS) < 0.3
    assert "is-current" in (page.locator(".cue").first.get_attribute("class") or "")

    # The last line: a seek forward, over segments not loaded yet, marks that line.
    page.locator(".cue").nth(2).click()
    wait_for_js(page, f"{PLAYER}.currentTime >= {SAID_AT[2]} && !{PLAYER}.seeking")
    assert abs(player(page)["time"] - SAID_AT[2]) < 1.0
    current = page.locator(".cue.is-current")
    assert current.count() == 1
    assert LINES[2] in current.inner_text()
    assert page.locator(".cue.is-current").get_attribute("aria-current") == "true"
    # Chapters: one speaker, one chapter, marked as it plays.
    assert page.locator(".chapter.is-current").count() == 1
    if how == "native":
        screenshot(page, "replay")
        screenshot(page, "replay", phone=True)
    assert console.errors == []


def test_chromium_plays_a_clip(
    world: dict[str, Any], new_page: Any, console: Any, base_url: str
) -> None:
    clip: Clip = world["clip"]
    page = new_page("host", world["host"])
    page.goto(reverse("clip_detail", args=[clip.slug]))

    # Its share link on the clipboard, said in the button and a toast (the shared lib.js code).
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page.get_by_role("button", name="Copy link").click()
    page.get_by_role("button", name="Link copied").wait_for()
    page.get_by_role("status").filter(has_text="Link copied").first.wait_for()
    assert page.evaluate("navigator.clipboard.readText()").endswith(f"/clips/{clip.slug}/")

    page.evaluate("() => document.getElementById('clip-audio').play()")
    wait_for_js(page, "document.getElementById('clip-audio').currentTime > 1.5")
    state = page.evaluate(
        """() => { const a = document.getElementById('clip-audio');
        return { duration: a.duration, error: a.error && a.error.code, paused: a.paused }; }"""
    )
    assert state["error"] is None
    assert not state["paused"]
    assert abs(state["duration"] - clip.duration_ms / 1000) < 0.3
    assert page.locator(".cue").count() >= 2  # what was said in it
    screenshot(page, "clip")
    screenshot(page, "clip", phone=True)
    assert console.errors == []


def test_a_clip_made_on_the_replay_page_appears_with_its_link(
    world: dict[str, Any], new_page: Any, console: Any
) -> None:
    page = new_page("listener", world["listener"])
    page.goto(reverse("replay_detail", args=[world["space"].pk]))
    page.locator(".cue").nth(1).click()  # to 0:04
    wait_for_js(page, f"{PLAYER}.currentTime >= {SAID_AT[1]} && !{PLAYER}.seeking")
    page.evaluate(f"() => {PLAYER}.pause()")

    page.get_by_role("button", name="Start here").click()
    start = float(page.locator("#id_start").input_value())
    end = float(page.locator("#id_end").input_value())
    assert SAID_AT[1] <= start < SAID_AT[1] + 1.5
    assert end == pytest.approx(min(REPLAY_SECONDS, start + 30), abs=0.11)
    page.locator("#id_title").fill("From here")
    page.get_by_role("button", name="Make clip").click()

    link = page.locator("#clip-made a")
    link.wait_for()
    made = Clip.objects.get(space=world["space"], title="From here")
    assert link.get_attribute("href") == f"/clips/{made.slug}/"
    assert made.start_ms == round(start * 1000)
    row = page.locator(f'#clip-list a[href="/clips/{made.slug}/"]')
    assert row.locator(".clip-title").inner_text() == "From here"
    assert page.locator("#clip-count").inner_text() == "2"
    assert console.errors == []


@pytest.mark.media
@pytest.mark.timeout(240)
def test_a_recorded_live_space_shows_rec_consent_and_clips_live(
    new_page: Any, console: Any
) -> None:
    host = UserFactory(username="hedy", display_name="Hedy")
    make_followers(host, settings.SPACES_HOST_MIN_FOLLOWERS)
    listener = UserFactory(username="lou", display_name="Lou")
    space = SpaceFactory(host=host, title="Recorded live")
    assert space.recording_enabled
    href = reverse("space_detail", args=[space.pk])

    host_page = new_page("host", host)
    host_page.goto(href)
    listener_page = new_page("listener", listener)
    listener_page.goto(href)
    listener_page.get_by_role("button", name="Start listening").click()

    # The origin records from its first tick: REC appears on both pages, no reload.
    for page in (host_page, listener_page):
        page.locator("#rec-badge").wait_for(state="visible", timeout=30_000)
    assert Recording.objects.get(space=space).status == Recording.Status.RECORDING

    # The host keeps their voice out: their seat says so on the listener's page.
    host_page.get_by_role(
        "button", name="Don\N{RIGHT SINGLE QUOTATION MARK}t record my voice"
    ).click()
    host_page.get_by_role("button", name="Record my voice", exact=True).wait_for()
    mark = listener_page.locator(f'#stage-grid li[data-user-id="{host.pk}"] .rec-off-badge')
    mark.wait_for()
    assert not Participant.objects.get(space=space, user=host).voice_recorded

    # The listener clips the last seconds: their link, and the room is told.
    listener_page.get_by_role("button", name="Clip last 30 s").click()
    link = listener_page.locator("#clip-done a")
    link.wait_for()
    clip = Clip.objects.get(space=space)
    assert link.get_attribute("href") == f"/clips/{clip.slug}/"
    host_page.locator(".toast-region", has_text="Lou clipped this Space").wait_for()
    screenshot(listener_page, "space-recorded")
    screenshot(listener_page, "space-recorded", phone=True)

    services.space_end(actor=host, space_id=space.pk)
    assert console.errors == []
