"""Live HLS listening in real browsers: Chromium pages for a host and a listener, a daphne
serving the site, the sockets and the audio (media embedded), and nginx serving the live HLS
folder the media origin writes (`deploy/nginx/live-hls.conf`, as in production: another origin
than the site's, so the page fetches it across origins).

1. With `SPACES_WEBRTC_LISTENERS_MAX=0` every listener hears the Space over HLS: the page says
   "Delayed · N s" with a sane N, its <audio> plays the host's voice through hls.js (time moves
   on, no fatal error) and there is no WebRTC connection; asking for real time is refused
   kindly (`webrtc_full`); reactions and a raised hand still reach the host. Approved, the
   listener speaks over WebRTC ("Live", connected, hears the host); stepping down, they are back
   on HLS, playing. The end stops the player.
2. With room for real-time listeners, a listener hears the Space live and switches to "Listen
   with a delay, use less data" and back, one path at a time.

Screenshots of the Space page in each mode (desktop and phone width) go to
test-artifacts/screenshots/. No page may log a console error or throw (a Content-Security-Policy
violation included: the page must be allowed to fetch the HLS origin).
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from spaces.models import Participant, Space
from tests.conftest import IN_CI
from tests.e2e.conftest import screenshot, site_server, wait_for_js
from tests.e2e.test_space_in_browsers import assert_hears, hears
from tests.factories import SpaceFactory, UserFactory
from tests.servers import ROOT, running_nginx

pytestmark = [
    pytest.mark.browser,
    pytest.mark.media,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

HLS_JS = ROOT / "static" / "vendor" / "hls.light.min.js"
AUDIO = "window.spaces.audio"
PLAYER = "document.getElementById('room-audio')"
MODE = "document.getElementById('listen-mode').dataset.mode"
# hls.js, for the page to load when it first needs it (static/js/hls-player.js loadHlsJs).
HLS_SCRIPT = "document.getElementById('space-root').dataset.hlsScript"
# The delay a listener of 1 s segments may be shown: the player starts two segments behind the
# newest, and the newest is at most a segment old. More than this is a player that fell behind.
MAX_DELAY_SECONDS = 12.0
# What static/js/hls-player.js and audio.js log when hls.js has a fatal error (recovered in place
# or not) and when the player gave up.
FATAL = ("hls.js fatal error", "the delayed audio stopped")
SWITCH = "Listen with a delay, use less data"
PLAYLIST_TIMEOUT_SECONDS = 20

# Playing over HLS: the <audio> element's time moves on by `seconds` while it decodes audio
# (Chromium's decoded byte count grows), with no media error; returns what it saw.
PLAYS = """
async ({seconds, timeout}) => {
  const player = document.getElementById("room-audio");
  const start = performance.now();
  let first = null;
  while (performance.now() - start < timeout) {
    if (!player.paused && player.currentTime > 0) {
      first = first || {time: player.currentTime, bytes: player.webkitAudioDecodedByteCount || 0};
      if (player.currentTime - first.time >= seconds) break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const audio = window.spaces.audio;
  return {
    how: audio.live ? audio.live.how : null,
    pc: !!audio.pc,
    srcObject: !!player.srcObject,
    paused: player.paused,
    error: player.error && player.error.code,
    moved: first ? player.currentTime - first.time : 0,
    decoded: first ? (player.webkitAudioDecodedByteCount || 0) - first.bytes : 0,
    delay: audio.delaySeconds(),
    status: document.getElementById("audio-status").textContent,
    hls: window.spaces.page.state.hls,
  };
}
"""


def need_hls_js() -> None:
    if not HLS_JS.exists():
        message = f"needs {HLS_JS.relative_to(ROOT)}: run `make vendor` (npm ci, then the copy)"
        if IN_CI:
            pytest.fail(f"CI=true and this test {message}", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def live_hls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The recordings root the media origin writes `live/` into, and nginx serving it."""
    need_hls_js()
    recordings = tmp_path_factory.mktemp("recordings")
    live = recordings / "live"
    live.mkdir()
    with running_nginx(live) as url:
        yield {"SPACES_RECORDINGS_ROOT": str(recordings), "SPACES_HLS_URL": url}


@pytest.fixture(scope="module")
def base_url(
    request: pytest.FixtureRequest,
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
    live_hls: dict[str, str],
) -> Iterator[str]:
    """The site, with at most `request.param` real-time listeners per Space."""
    limit = str(request.param)
    with site_server(
        tmp_path_factory, f"live-hls-max{limit}", SPACES_WEBRTC_LISTENERS_MAX=limit, **live_hls
    ) as url:
        yield url


def plays(page: Any, *, seconds: float = 2.0, timeout_ms: int = 25_000) -> dict[str, Any]:
    return page.evaluate(PLAYS, {"seconds": seconds, "timeout": timeout_ms})


def assert_plays_hls(page: Any) -> dict[str, Any]:
    """Delayed, through hls.js, playing, and no WebRTC at the same time."""
    heard = plays(page)
    assert heard["how"] == "hls.js", heard
    assert not heard["pc"], heard
    assert not heard["srcObject"], heard
    assert not heard["paused"], heard
    assert heard["error"] is None, heard
    assert heard["moved"] >= 2.0, heard
    assert heard["decoded"] > 0, heard
    return heard


def shown_delay(page: Any) -> int:
    """The figure in "Delayed · N s", once there is one."""
    page.locator("#listen-delay", has_text=re.compile(r"\d")).wait_for()
    label = page.locator("#listen-mode-label").text_content()
    delay = page.locator("#listen-delay").text_content() or ""
    match = re.fullmatch(r" · (\d+) s", delay)
    assert label == "Delayed", label
    assert match, delay
    return int(match.group(1))


def host_speaks(host_page: Any, space: Space) -> None:
    """The host opens the Space and turns the (fake, beeping) microphone on: the media origin
    starts, mixes them and writes the live HLS. Returns once its playlist names two segments
    (a listener who came earlier would first find no playlist: audio.js tries again, but the
    tests want playback with no failure at all)."""
    host_page.goto(f"/spaces/{space.pk}/")
    host_page.get_by_role("button", name="Mic off: turn it on").click()
    host_page.get_by_role("button", name="Mic on: turn it off").wait_for()
    wait_for_js(host_page, f"!!{AUDIO}.pc && {AUDIO}.pc.connectionState === 'connected'")
    playlist = host_page.evaluate("window.spaces.page.state.hls.url")
    deadline = time.monotonic() + PLAYLIST_TIMEOUT_SECONDS
    text = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(playlist, timeout=2) as response:
                text = response.read().decode()
        except urllib.error.HTTPError:
            text = ""
        if text.count("#EXTINF") >= 2:
            return
        time.sleep(0.2)
    raise AssertionError(f"no live playlist with two segments at {playlist}: {text!r}")


def watch_fatal(page: Any) -> list[str]:
    """The page's reports that its HLS player gave up (audio.js logs each with console.info)."""
    said: list[str] = []
    page.on("console", lambda m: said.append(m.text) if any(f in m.text for f in FATAL) else None)
    return said


@pytest.mark.parametrize("base_url", [0], indirect=True, ids=["webrtc-listeners-max-0"])
def test_a_listener_past_the_real_time_limit_hears_the_space_delayed_and_speaks_live(
    new_page: Any, console: Any
) -> None:
    host = UserFactory(username="hlshost", display_name="Hedy Host")
    listener = UserFactory(username="hlslis", display_name="Lin Delayed")
    space = SpaceFactory(host=host, title="Radio without the radio")
    host_page = new_page("host", host)
    listener_page = new_page("listener", listener)
    fatal = watch_fatal(listener_page)
    host_speaks(host_page, space)

    # The listener joins: no room for real time, so HLS, a few seconds behind, through hls.js.
    listener_page.goto(f"/spaces/{space.pk}/")
    assert listener_page.evaluate(HLS_SCRIPT), "the Space page names no hls.js (hls_script_url)"
    listener_page.get_by_role("button", name="Start listening").click()
    listener_page.locator('#listen-mode[data-mode="hls"]').wait_for()
    assert Participant.objects.get(space=space, user=listener).listen_mode == "hls"
    heard = assert_plays_hls(listener_page)
    assert 0.5 <= heard["delay"] <= MAX_DELAY_SECONDS, heard
    assert 1 <= shown_delay(listener_page) <= MAX_DELAY_SECONDS
    switch = listener_page.get_by_role("switch", name=SWITCH)
    assert switch.is_checked()
    screenshot(listener_page, "space-live-hls")
    screenshot(listener_page, "space-live-hls", phone=True)

    # Real time is full: asking for it is refused kindly, and the delayed audio plays on.
    switch.click()
    note = listener_page.locator("#listen-note")
    note.get_by_text("Real-time listening is full right now").wait_for()
    assert switch.is_checked()
    assert listener_page.evaluate(MODE) == "hls"
    screenshot(listener_page, "space-live-hls-full", phone=True)
    assert_plays_hls(listener_page)

    # Reactions and a raised hand travel over the Space's socket as for everyone.
    listener_page.locator('summary[aria-label="React"]').click()
    listener_page.get_by_role("button", name="React with 👏").click()
    host_page.locator("#reaction-layer .float-emoji", has_text="👏").first.wait_for(
        state="attached"
    )
    listener_page.get_by_role("button", name="Request to speak").click()
    approve = host_page.get_by_role("button", name="Approve Lin Delayed")
    approve.wait_for()

    # On stage: real time over WebRTC, the HLS player gone; the host is heard live.
    approve.click()
    listener_page.get_by_role("button", name="Mic off: turn it on").wait_for()
    listener_page.locator('#listen-mode[data-mode="webrtc"]').wait_for()
    assert listener_page.locator("#listen-mode-label").inner_text() == "Live"
    assert listener_page.locator("#listen-switch").is_hidden()
    assert_hears(listener_page, hears(listener_page))
    assert listener_page.evaluate(f"{AUDIO}.live === null && !{PLAYER}.getAttribute('src')")
    screenshot(listener_page, "space-live-hls-on-stage", phone=True)

    # Back in the audience: HLS again (the participant says so), playing, the connection closed.
    listener_page.get_by_role("button", name="Go to audience").click()
    listener_page.get_by_role("button", name="Request to speak").wait_for()
    listener_page.locator('#listen-mode[data-mode="hls"]').wait_for()
    wait_for_js(listener_page, f"{AUDIO}.pc === null && {AUDIO}.mic === null")
    assert_plays_hls(listener_page)
    assert 1 <= shown_delay(listener_page) <= MAX_DELAY_SECONDS

    # The end stops the player.
    host_page.locator("#end-confirm summary").click()
    host_page.get_by_role("button", name="End for everyone").click()
    listener_page.locator(".ended-pill").wait_for()
    assert fatal == []
    assert console.errors == []


@pytest.mark.parametrize("base_url", [2000], indirect=True, ids=["webrtc-listeners-max-2000"])
def test_a_listener_switches_to_the_delayed_stream_and_back(new_page: Any, console: Any) -> None:
    host = UserFactory(username="rthost", display_name="Rita Host")
    listener = UserFactory(username="rtlis", display_name="Tom Switch")
    space = SpaceFactory(host=host, title="Less data, same room")
    host_page = new_page("host", host)
    listener_page = new_page("listener", listener, viewport={"width": 390, "height": 844})
    fatal = watch_fatal(listener_page)
    host_speaks(host_page, space)

    listener_page.goto(f"/spaces/{space.pk}/")
    assert listener_page.evaluate(HLS_SCRIPT), "the Space page names no hls.js (hls_script_url)"
    listener_page.get_by_role("button", name="Start listening").click()
    listener_page.locator('#listen-mode[data-mode="webrtc"]').wait_for()
    assert_hears(listener_page, hears(listener_page))
    switch = listener_page.get_by_role("switch", name=SWITCH)
    assert not switch.is_checked()
    screenshot(listener_page, "space-live-webrtc-switch", phone=True)
    screenshot(listener_page, "space-live-webrtc-switch")

    # Delayed: the server closes the WebRTC connection, hls.js plays; one path at a time.
    switch.click()
    listener_page.locator('#listen-mode[data-mode="hls"]').wait_for()
    assert switch.is_checked()
    heard = assert_plays_hls(listener_page)
    assert 0.5 <= heard["delay"] <= MAX_DELAY_SECONDS, heard
    assert 1 <= shown_delay(listener_page) <= MAX_DELAY_SECONDS
    participant = Participant.objects.get(space=space, user=listener)
    assert (participant.listen_mode, participant.listen_delay) == ("hls", True)

    # And back to real time: WebRTC again, the HLS player gone.
    switch.click()
    listener_page.locator('#listen-mode[data-mode="webrtc"]').wait_for()
    assert not switch.is_checked()
    assert_hears(listener_page, hears(listener_page))
    assert listener_page.evaluate(f"{AUDIO}.live === null && !{PLAYER}.getAttribute('src')")
    assert Participant.objects.get(space=space, user=listener).listen_mode == "webrtc"
    assert fatal == []
    assert console.errors == []
