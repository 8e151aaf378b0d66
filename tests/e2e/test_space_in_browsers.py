"""A Space from start to end, in real browsers: Chromium pages for a host and two listeners,
against a real daphne serving the site, the sockets and the audio.

One test walks the five steps in order, because each needs the room the previous one left:
1. the host starts a Space; the listener sees its bubble appear on the home page, no reload;
2. the listener joins and hears the host (inbound audio bytes grow, audio level above zero);
3. the listener raises a hand, the host approves, the listener speaks and the host hears them;
4. a reaction sent by one floats up for the other; the host mutes the speaker, who sees it;
5. the host ends the Space; the pages still in it show it ended.
Along the way: the socket drops and comes back (audio offered again), a page opened without a
gesture offers "Tap to turn on sound", a speaker sent back to the audience releases the
microphone, and a listener leaves.
Screenshots of the home page and the Space page (desktop and phone width) are saved under
test-artifacts/screenshots/. No page may log a console error or throw.

A second test hands a Space over: the host leaves, a co-host becomes the host on every page.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from accounts.models import Follow
from spaces import services
from spaces.models import Participant, Space
from tests.e2e.conftest import screenshot, wait_for_js
from tests.factories import SpaceFactory, UserFactory, join, make_cohost, make_followers

pytestmark = [
    pytest.mark.browser,
    pytest.mark.media,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

HOST_PASSWORD = "a-real-login-form-password"
AUDIO_TIMEOUT_MS = 25_000
# audioLevel is linear, 0..1. Silence encoded and decoded reads ~3e-5 (one LSB); the fake
# microphone's beep is far above this, -40 dBFS.
HEARD_LEVEL = 0.01

# Counts getUserMedia calls, so the test can tell when the microphone was asked for.
COUNT_MIC_REQUESTS = """
(() => {
  window.__micRequests = 0;
  const md = navigator.mediaDevices;
  if (!md) return;
  const original = md.getUserMedia.bind(md);
  md.getUserMedia = (constraints) => { window.__micRequests += 1; return original(constraints); };
})();
"""

# Browsers refuse sound before the page's first user gesture. Chromium's own check cannot be
# exercised here: every Playwright `evaluate` or wait counts as a user activation. So this page
# plays by that rule, stated: no sound before the first real (trusted) click on the page.
REFUSE_PLAY_WITHOUT_GESTURE = """
(() => {
  let clicked = false;
  addEventListener("click", (e) => { if (e.isTrusted) clicked = true; }, true);
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    if (clicked) return play.call(this);
    window.__playRefused = true;
    return Promise.reject(new DOMException("play() needs a user gesture", "NotAllowedError"));
  };
})();
"""

# Poll the page's audio connection until the inbound audio grows and is heard (level above
# zero), or the time is up; returns what it saw either way, for the assertion to judge.
HEARS = """
async ({timeout, minEnergy, minLevel}) => {
  const inbound = async (pc) => {
    let found = null;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") found = s;
    });
    return found;
  };
  const start = performance.now();
  let first = null, last = null, maxLevel = 0;
  while (performance.now() - start < timeout) {
    const pc = window.spaces && window.spaces.audio && window.spaces.audio.pc;
    if (pc && pc.connectionState === "connected") {
      const s = await inbound(pc);
      if (s) {
        first = first || s;
        last = s;
        maxLevel = Math.max(maxLevel, s.audioLevel || 0);
        if (s.bytesReceived > first.bytesReceived && maxLevel >= minLevel
            && (s.totalAudioEnergy || 0) > minEnergy) break;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const pc = window.spaces && window.spaces.audio && window.spaces.audio.pc;
  const player = document.getElementById("room-audio");
  return {
    state: pc ? pc.connectionState : null,
    firstBytes: first ? first.bytesReceived : null,
    lastBytes: last ? last.bytesReceived : null,
    maxLevel,
    energy: last ? (last.totalAudioEnergy || 0) : 0,
    playing: !!player && !!player.srcObject && !player.paused,
  };
}
"""

ENERGY = """
async () => {
  const pc = window.spaces.audio.pc;
  let energy = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") energy = s.totalAudioEnergy || 0;
  });
  return energy;
}
"""


def hears(page: Any, *, after_energy: float = 0.0) -> dict[str, Any]:
    return page.evaluate(
        HEARS, {"timeout": AUDIO_TIMEOUT_MS, "minEnergy": after_energy, "minLevel": HEARD_LEVEL}
    )


def assert_hears(page: Any, heard: dict[str, Any]) -> None:
    assert heard["state"] == "connected", heard
    assert heard["lastBytes"] > heard["firstBytes"], heard
    assert heard["maxLevel"] >= HEARD_LEVEL, heard
    assert heard["playing"], heard


def log_in_through_the_form(page: Any, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username or e-mail").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    assert page.locator(".signed-in").count() == 1


def test_a_space_from_start_to_end_with_a_host_and_a_listener(new_page, console) -> None:
    host = UserFactory(username="ada", display_name="Ada Host")
    # The server hashes with its own (production) hashers: store a hash it knows, cheaply.
    host.password = PBKDF2PasswordHasher().encode(HOST_PASSWORD, "e2esalt", iterations=1000)
    host.save(update_fields=["password"])
    make_followers(host, settings.SPACES_HOST_MIN_FOLLOWERS)
    listener = UserFactory(username="linus", display_name="Linus Listener")
    Follow.objects.create(follower=listener, followee=host)

    host_page = new_page("host")
    listener_page = new_page("listener", listener)
    for page in (host_page, listener_page):
        page.add_init_script(COUNT_MIC_REQUESTS)

    # 1. The listener waits on the home page; the host starts a Space; the bubble appears.
    listener_page.goto("/")
    listener_page.get_by_text("Nobody you follow is live right now").wait_for()
    log_in_through_the_form(host_page, "ada", HOST_PASSWORD)
    host_page.goto("/spaces/new/")
    host_page.get_by_label("What do you want to talk about?").fill("Compilers at breakfast")
    host_page.get_by_role("button", name="Start your Space").click()
    host_page.wait_for_url("**/spaces/*/")
    space = Space.objects.get(host=host, state=Space.State.LIVE)
    bubble = listener_page.locator(f'a.bubble[href="/spaces/{space.pk}/"]')
    bubble.wait_for()
    assert "Compilers at breakfast" in bubble.inner_text()
    # "Live now", empty when the page loaded, lists it too.
    listener_page.locator("#live-grid .live-card", has_text="Compilers at breakfast").wait_for()
    assert listener_page.get_by_text("No Spaces are live").is_hidden()
    screenshot(listener_page, "home")
    screenshot(listener_page, "home", phone=True)

    # A host starts muted, like everyone on stage: they turn their microphone on.
    host_page.get_by_role("button", name="Mic off: turn it on").click()
    host_page.get_by_role("button", name="Mic on: turn it off").wait_for()

    # 2. The listener joins and hears the host; the microphone is not asked for.
    bubble.click()
    listener_page.wait_for_url(f"**/spaces/{space.pk}/")
    listener_page.get_by_role("button", name="Start listening").click()
    listener_page.get_by_role("button", name="Request to speak").wait_for()
    assert_hears(listener_page, hears(listener_page))
    assert listener_page.evaluate("window.__micRequests") == 0
    assert host_page.evaluate("window.__micRequests") == 1
    # The socket drops under the page: it comes back by itself, the page resyncs from the
    # server's snapshot, and the audio is offered again on a new connection.
    listener_page.evaluate(
        "window.__firstPc = window.spaces.audio.pc; window.spaces.client.socket.ws.close()"
    )
    wait_for_js(
        listener_page,
        "window.spaces.client.opens === 2 && !!window.spaces.audio.pc"
        " && window.spaces.audio.pc !== window.__firstPc",
    )
    assert_hears(listener_page, hears(listener_page))

    # Someone already in the Space opens its page with no gesture (a link, a restored tab):
    # the browser refuses to play, so the page offers a button, and one tap brings the sound.
    late = UserFactory(username="grace", display_name="Grace Late")
    services.space_join(user=late, space_id=space.pk)
    late_page = new_page("late listener", late)
    late_page.add_init_script(REFUSE_PLAY_WITHOUT_GESTURE)
    late_page.goto(f"/spaces/{space.pk}/")
    wait_for_js(late_page, "!!window.spaces.audio.pc && !!window.__playRefused")
    assert late_page.evaluate("document.getElementById('room-audio').paused") is True
    late_page.get_by_role("button", name="Tap to turn on sound").click()
    assert_hears(late_page, hears(late_page))
    late_page.get_by_role("button", name="Tap to turn on sound").wait_for(state="hidden")

    # 3. The listener raises a hand, the host approves, the listener speaks, the host hears.
    # By keyboard: focus the control and press Enter, as someone without a mouse would.
    listener_page.get_by_role("button", name="Request to speak").focus()
    listener_page.keyboard.press("Enter")
    host_page.get_by_role("button", name="Approve Linus Listener").focus()
    host_page.keyboard.press("Enter")
    # On stage, muted at first (as the server says): the microphone is asked for now, silent.
    listener_page.get_by_role("button", name="Mic off: turn it on").wait_for()
    wait_for_js(listener_page, "window.__micRequests === 1 && !!window.spaces.audio.mic")
    assert listener_page.evaluate("window.spaces.audio.mic.enabled") is False
    assert Participant.objects.get(space=space, user=listener).role == Participant.Role.SPEAKER
    host_energy = host_page.evaluate(ENERGY)
    listener_page.get_by_role("button", name="Mic off: turn it on").click()
    listener_page.get_by_role("button", name="Mic on: turn it off").wait_for()
    assert listener_page.evaluate("window.spaces.audio.mic.enabled") is True
    assert_hears(host_page, hears(host_page, after_energy=host_energy))
    seat = f'#stage-grid li[data-user-id="{listener.pk}"]'
    host_page.locator(f"{seat}.talking").wait_for(state="attached")
    # The listener still hears the host now that they speak too.
    assert_hears(listener_page, hears(listener_page))

    # 4. A reaction floats up on the other page; the host mutes the speaker, who sees it.
    listener_page.locator('summary[aria-label="React"]').click()
    listener_page.get_by_role("button", name="React with 👏").click()
    host_page.locator("#reaction-layer .float-emoji", has_text="👏").first.wait_for(
        state="attached"
    )
    screenshot(host_page, "space")
    host_page.locator(f"{seat} summary").click()
    host_page.locator(seat).get_by_role("button", name="Mute").click()
    listener_page.locator(f"{seat}.is-muted .mic-badge").wait_for()
    unmute = listener_page.get_by_role("button", name="Mic off (muted by the host): turn it on")
    unmute.wait_for()
    wait_for_js(listener_page, "window.spaces.audio.mic.enabled === false")
    screenshot(listener_page, "space", phone=True)
    # Only the speaker can unmute: they do, and their microphone is live again.
    unmute.click()
    listener_page.get_by_role("button", name="Mic on: turn it off").wait_for()
    wait_for_js(listener_page, "window.spaces.audio.mic.enabled === true")
    host_page.locator(f"{seat}:not(.is-muted)").wait_for()

    # Back in the audience, the speaker's microphone is released (the browser's indicator off).
    listener_page.evaluate("window.__micTrack = window.spaces.audio.mic")
    host_page.locator(f"{seat} summary").click()
    host_page.locator(seat).get_by_role("button", name="Move to audience").click()
    listener_page.get_by_role("button", name="Request to speak").wait_for()
    wait_for_js(
        listener_page,
        "window.spaces.audio.mic === null && window.__micTrack.readyState === 'ended'",
    )
    # The late listener leaves: their audio connection closes, and they can join again.
    late_page.get_by_role("button", name="Leave").click()
    late_page.get_by_role("button", name="Join again").wait_for()
    wait_for_js(late_page, "window.spaces.audio.pc === null")

    # 5. The host ends the Space; the pages still in it show the end.
    host_page.locator("#end-confirm summary").click()
    host_page.get_by_role("button", name="End for everyone").click()
    for page in (host_page, listener_page):
        page.locator(".ended-pill").wait_for()
    space.refresh_from_db()
    assert space.state == Space.State.ENDED
    screenshot(listener_page, "space-ended")

    assert console.errors == []


def test_the_host_leaves_and_the_cohost_takes_over_for_everyone(new_page, console) -> None:
    """Host, co-host and listener in three browsers: the host leaves naming nobody; the
    co-host's page makes them the host (header, seat, End) without a reload; the listener sees
    the new host and hears them; the old host's page says they left, and learns of the end
    when it is looked at again."""
    host = UserFactory(username="hana", display_name="Hana Host")
    cohost_user = UserFactory(username="cora", display_name="Cora Cohost")
    listener_user = UserFactory(username="lena", display_name="Lena Listener")
    space = SpaceFactory(host=host, title="Handing over the mic")
    second = UserFactory(username="sam", display_name="Sam Second")
    make_cohost(space, cohost_user)
    make_cohost(space, second)  # no page, but connected (it just joined)
    join(space, listener_user)

    host_page = new_page("host", host)
    cohost_page = new_page("co-host", cohost_user)
    listener_page = new_page("listener", listener_user)
    for page in (host_page, cohost_page, listener_page):
        page.goto(f"/spaces/{space.pk}/")
        wait_for_js(page, "!!window.spaces && window.spaces.client.opens === 1")
    wait_for_js(
        listener_page,
        "!!window.spaces.audio.pc && window.spaces.audio.pc.connectionState === 'connected'",
    )
    cohost_seat = f'#stage-grid li[data-user-id="{cohost_user.pk}"]'
    assert "Hana Host" in listener_page.locator("#room-host-link").inner_text()
    # Before the handover the co-host may not end the Space, and the listener may only report.
    assert cohost_page.locator("#end-confirm").count() == 0
    listener_page.locator(f"{cohost_seat} summary").click()
    assert listener_page.locator(cohost_seat).get_by_role("button", name="Mute").count() == 0
    listener_page.keyboard.press("Escape")

    # With a second connected co-host the host's Leave asks who takes over, the longest-serving
    # co-host chosen.
    host_page.locator("#leave-confirm summary").click()
    choice = host_page.get_by_role("group", name="Who takes over as host?")
    assert choice.get_by_role("radio", name="Cora Cohost").is_checked()
    assert not choice.get_by_role("radio", name="Sam Second").is_checked()
    host_page.get_by_role("button", name="Leave and hand over").wait_for()
    screenshot(host_page, "handover-choose")
    host_page.keyboard.press("Escape")
    # The host takes Sam's co-host role back from his seat's menu (an action the server
    # listed for that seat): the page hears it from the room and offers a plain Leave again.
    second_seat = f'#stage-grid li[data-user-id="{second.pk}"]'
    host_page.locator(f"{second_seat} summary").click()
    host_page.locator(second_seat).get_by_role("button", name="Remove as co-host").click()
    host_page.locator("#leave-confirm").wait_for(state="detached")

    # The host leaves, naming nobody: one connected co-host, so a plain Leave hands over.
    host_page.get_by_role("button", name="Leave").click()
    host_page.get_by_text("You left this Space.").wait_for()
    host_page.get_by_role("button", name="Join again").wait_for()
    # Leaving is not news to the one who left: no "you are no longer in this Space".
    assert host_page.get_by_text("no longer in this Space").count() == 0
    assert host_page.get_by_text("You left and handed the Space to Cora Cohost.").count() == 1

    # The co-host's page: they are the host now, with End, without a reload.
    cohost_page.locator(f'{cohost_seat}[data-role="host"]').wait_for()
    cohost_page.locator("#end-confirm summary").wait_for()
    cohost_page.locator("#room-host-link", has_text="Cora Cohost").wait_for()
    assert cohost_page.evaluate("window.spaces.client.opens") == 1
    # The listener sees the new host, in the header and on the stage.
    listener_page.locator("#room-host-link", has_text="Cora Cohost").wait_for()
    listener_page.locator(f'{cohost_seat}[data-role="host"]').wait_for()
    assert listener_page.locator(f'#stage-grid li[data-user-id="{host.pk}"]').count() == 0
    space.refresh_from_db()
    assert space.host_id == cohost_user.pk
    screenshot(cohost_page, "handover-new-host")
    screenshot(host_page, "handover-left")

    # The new host speaks; the listener hears them (nobody else is on stage with a microphone).
    energy = listener_page.evaluate(ENERGY)
    cohost_page.get_by_role("button", name="Mic off: turn it on").click()
    cohost_page.get_by_role("button", name="Mic on: turn it off").wait_for()
    assert_hears(listener_page, hears(listener_page, after_energy=energy))

    # The new host ends the Space; the old host's page, with no socket, learns it when looked
    # at again (focus), not on the next 30 s tick.
    cohost_page.locator("#end-confirm summary").click()
    cohost_page.get_by_role("button", name="End for everyone").click()
    listener_page.locator(".ended-pill").wait_for()
    host_page.evaluate("window.dispatchEvent(new Event('focus'))")
    host_page.locator(".ended-pill").wait_for()

    assert console.errors == []
