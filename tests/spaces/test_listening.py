"""Real time or live HLS for each listener (spaces/services/listening.py), the API and the
embedded server of the live files."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from spaces import events, selectors, services
from spaces.audio.bridge import Update, participant_media_standing, update_for
from spaces.models import Participant, Space, live_prefix
from spaces.services.listening import hls_url, live_sweep
from spaces_project import storage
from spaces_project.errors import ApplicationError
from tests.factories import (
    SpaceFactory,
    UserFactory,
    ended_space,
    fresh,
    join,
    make_speaker,
    participant,
)
from tests.helpers import assert_error, event_types

pytestmark = pytest.mark.django_db

API = "/api/v1"


def modes(space: Space) -> dict[int, str]:
    return dict(
        Participant.objects.filter(space=space, role="listener").values_list(
            "user_id", "listen_mode"
        )
    )


def refusal(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError) as exc:
        call()
    return str(exc.value.code)


def test_listeners_past_the_real_time_limit_get_hls(settings):
    settings.SPACES_WEBRTC_LISTENERS_MAX = 2
    space = SpaceFactory()
    first, second, third = join(space), join(space), join(space)
    assert modes(space) == {first.pk: "webrtc", second.pk: "webrtc", third.pk: "hls"}
    # A real-time listener who leaves frees a seat for whoever joins next, not for the third.
    services.space_leave(user=first, space_id=space.pk)
    fourth = join(space)
    assert modes(space)[fourth.pk] == "webrtc"
    assert modes(space)[third.pk] == "hls"


def test_a_listener_who_chose_the_delay_keeps_it_when_coming_back():
    space = SpaceFactory()
    listener = join(space)
    services.listen_mode_set(actor=listener, space_id=space.pk, mode="hls")
    services.space_leave(user=listener, space_id=space.pk)
    join(space, listener)
    row = participant(space, listener)
    assert (row.listen_mode, row.listen_delay) == ("hls", True)


def test_switching_back_to_real_time_needs_room_and_changes_nothing_when_full(settings):
    settings.SPACES_WEBRTC_LISTENERS_MAX = 1
    space = SpaceFactory()
    seated, waiting = join(space), join(space)
    assert modes(space)[waiting.pk] == "hls"
    code = refusal(
        lambda: services.listen_mode_set(actor=waiting, space_id=space.pk, mode="webrtc")
    )
    assert code == "webrtc_full"
    assert (participant(space, waiting).listen_mode, participant(space, waiting).listen_delay) == (
        "hls",
        False,
    )
    services.listen_mode_set(actor=seated, space_id=space.pk, mode="hls")
    services.listen_mode_set(actor=waiting, space_id=space.pk, mode="webrtc")
    assert modes(space) == {seated.pk: "hls", waiting.pk: "webrtc"}


def test_choosing_the_mode_you_have_publishes_nothing(published, committed):
    space = SpaceFactory()
    listener = join(space)
    with committed():
        services.listen_mode_set(actor=listener, space_id=space.pk, mode="hls")
        services.listen_mode_set(actor=listener, space_id=space.pk, mode="hls")
        services.listen_mode_set(actor=listener, space_id=space.pk, mode="webrtc")
    changes = [e for _, e in published if e["type"] == "listen_mode.changed"]
    assert [e["participant"]["listen_mode"] for e in changes] == ["hls", "webrtc"]
    assert event_types(published).count("listen_mode.changed") == 2


def test_the_stage_is_always_real_time_and_stepping_down_returns_to_hls():
    space = SpaceFactory()
    listener = join(space)
    services.listen_mode_set(actor=listener, space_id=space.pk, mode="hls")
    make_speaker(space, listener)
    row = participant(space, listener)
    assert row.effective_listen_mode == "webrtc"
    assert participant_media_standing(user_id=listener.pk, space_id=space.pk).role == "speaker"
    code = refusal(lambda: services.listen_mode_set(actor=listener, space_id=space.pk, mode="hls"))
    assert code == "not_listener"
    services.participant_step_down(user=listener, space_id=space.pk)
    assert participant(space, listener).effective_listen_mode == "hls"


@pytest.mark.parametrize(
    ("who", "code"),
    [("stranger", "not_in_space"), ("ended", "space_ended")],
)
def test_refusals(who, code):
    space = SpaceFactory()
    user = UserFactory()
    if who == "ended":
        join(space, user)
        services.space_end(actor=space.host, space_id=space.pk)
    assert refusal(lambda: services.listen_mode_set(actor=user, space_id=space.pk, mode="hls")) == (
        code
    )


def test_without_live_hls_everyone_is_real_time(settings):
    settings.SPACES_HLS_ENABLED = False
    settings.SPACES_WEBRTC_LISTENERS_MAX = 0
    space = SpaceFactory()
    listener = join(space)
    assert participant(space, listener).listen_mode == "webrtc"
    code = refusal(lambda: services.listen_mode_set(actor=listener, space_id=space.pk, mode="hls"))
    assert code == "hls_unavailable"
    assert selectors.space_detail(viewer=listener, space_id=space.pk).hls is None


def test_an_hls_listener_gets_no_webrtc_and_the_bridge_drops_them():
    space = SpaceFactory()
    listener = join(space)
    services.listen_mode_set(actor=listener, space_id=space.pk, mode="hls")
    code = refusal(lambda: participant_media_standing(user_id=listener.pk, space_id=space.pk))
    assert code == "listen_mode_hls"
    row = participant(space, listener)
    changed = {"type": "listen_mode.changed", "participant": events.participant(row)}
    assert update_for(changed) == Update(listener.pk, gone="hls")
    back = {**changed, "participant": {**events.participant(row), "listen_mode": "webrtc"}}
    assert update_for(back) is None


def test_the_playlist_goes_only_to_those_in_the_space():
    space = SpaceFactory()
    listener, outsider = join(space), UserFactory()
    inside = selectors.space_detail(viewer=listener, space_id=space.pk)
    outside = selectors.space_detail(viewer=outsider, space_id=space.pk)
    assert inside.listen_mode == "webrtc"
    assert inside.hls is not None
    assert inside.hls.url == f"/live/{live_prefix(space.pk).removeprefix('live/')}/index.m3u8"
    assert (outside.listen_mode, outside.hls) == (None, None)
    # Another Space's folder is another capability.
    assert live_prefix(space.pk) != live_prefix(space.pk + 1)


def test_the_api_switches_and_refuses_bad_input(client_for):
    space = SpaceFactory()
    listener = join(space)
    client = client_for(listener)
    url = f"{API}/spaces/{space.pk}/listen-mode"
    ok = client.post(url, {"mode": "hls"}, format="json")
    assert ok.status_code == 200
    assert ok.json()["listen_mode"] == "hls"
    detail = client.get(f"{API}/spaces/{space.pk}").json()
    assert detail["listen_mode"] == "hls"
    assert detail["hls"]["url"].endswith("/index.m3u8")
    assert detail["me"]["listen_mode"] == "hls"
    for bad in ({}, {"mode": "radio"}, {"mode": 1}, {"mode": "hls\x00"}, {"mode": "hls", "x": 1}):
        assert_error(client.post(url, bad, format="json"), 400, "invalid")
    assert_error(
        client_for(UserFactory()).post(url, {"mode": "hls"}, format="json"), 403, "not_in_space"
    )
    assert participant(space, listener).listen_mode == "hls"


def test_the_embedded_server_serves_only_the_live_files():
    space = SpaceFactory()
    folder = live_prefix(space.pk)
    store = storage.live()
    storage.put(store, f"{folder}/index.m3u8", b"#EXTM3U\n", public=True)
    storage.put(store, f"{folder}/0000abcd-000001.m4s", b"segment", public=True)
    storage.put(store, f"{folder}/live.json", b"{}", public=True)
    client = Client()  # no sign-in: the folder name is the capability
    playlist = client.get(hls_url(space.pk))
    assert playlist.status_code == 200
    assert playlist["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist["Cache-Control"] == "no-cache"
    base = hls_url(space.pk).rsplit("/", 1)[0]
    segment = client.get(f"{base}/0000abcd-000001.m4s")
    assert (segment.status_code, segment["Content-Type"]) == (200, "audio/mp4")
    assert "immutable" in segment["Cache-Control"]
    assert client.get(f"{base}/live.json").status_code == 404
    assert client.get(f"{base}/..%2f..%2fetc%2fpasswd").status_code == 404
    assert client.get(f"/live/{space.pk}-nothex/index.m3u8").status_code == 404
    assert client.post(hls_url(space.pk)).status_code == 405


@pytest.fixture
def own_storage(settings, tmp_path):
    """A recordings storage of this test's own: the sweep looks at every live folder there."""
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path, "base_url": None},
        },
    }


def test_the_sweep_deletes_live_folders_once_nobody_writes(own_storage):
    live = SpaceFactory()
    over = ended_space()
    store = storage.live()
    for space in (live, over):
        storage.put(store, f"{live_prefix(space.pk)}/index.m3u8", b"#EXTM3U\n")
    storage.put(store, "live/999999-deadbeef/index.m3u8", b"#EXTM3U\n")  # no such Space
    # Just ended: players may still fetch the last seconds.
    assert live_sweep(now=fresh(over).ended_at + timedelta(seconds=10)) == 1
    assert store.exists(f"{live_prefix(over.pk)}/index.m3u8")
    assert live_sweep(now=timezone.now() + timedelta(minutes=5)) == 1
    assert not store.exists(f"{live_prefix(over.pk)}/index.m3u8")
    assert store.exists(f"{live_prefix(live.pk)}/index.m3u8")
