"""Staff and replays in the admin: take-downs and clip deletions go through the services, and
the storage each host uses is listed."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from replays import services
from replays.models import Clip
from spaces import services as spaces_services
from spaces.models import ModerationAction, Recording
from tests.factories import SpaceFactory, UserFactory, ended_space, make_replay, make_speaker
from tests.replays.conftest import stored_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    staff = UserFactory(username="moderator", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    client.staff = staff  # type: ignore[attr-defined]
    return client


def act(client: Client, model: str, action: str, ids: list[int], **extra: str):
    return client.post(
        reverse(f"admin:{model}_changelist"),
        {"action": action, "_selected_action": [str(i) for i in ids], **extra},
        follow=True,
    )


def test_the_recordings_list_shows_host_length_size_and_who_was_left_out(staff_client, host):
    space = SpaceFactory(host=host)
    shy = make_speaker(space, UserFactory(username="shy"))
    spaces_services.recording_consent_set(actor=shy, space_id=space.pk, recorded=False)
    make_replay(space, seconds=4.0)
    spaces_services.space_end(actor=host, space_id=space.pk)
    recording = services.recording_finalize(space_id=space.pk)
    assert recording is not None

    page = staff_client.get(reverse("admin:spaces_recording_changelist")).content.decode()

    assert host.username in page
    assert "0:04" in page
    assert "KB" in page  # bytes for people
    assert "shy" in page
    detail = staff_client.get(reverse("admin:spaces_recording_change", args=[recording.pk]))
    assert detail.status_code == 200
    assert staff_client.get(reverse("admin:spaces_recording_add")).status_code == 403


def test_a_take_down_needs_a_reason(staff_client, ended):
    recording = Recording.objects.get(space=ended)

    page = act(staff_client, "spaces_recording", "take_down", [recording.pk]).content.decode()

    assert "Give a reason" in page
    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY
    assert stored_files(ended)


def test_staff_take_a_replay_down_with_its_files_and_the_log_says_why(
    staff_client, ended, listener
):
    services.clip_create(actor=listener, space_id=ended.pk, start_ms=0, end_ms=2000)
    recording = Recording.objects.get(space=ended)

    page = act(
        staff_client, "spaces_recording", "take_down", [recording.pk], reason="Copyright claim"
    ).content.decode()

    assert "1 replay(s) taken down" in page
    recording.refresh_from_db()
    assert (recording.status, recording.deleted_by, recording.reason) == (
        Recording.Status.DELETED,
        Recording.DeletedBy.STAFF,
        "Copyright claim",
    )
    assert stored_files(ended) == []
    assert Clip.objects.get().deleted_by == Clip.DeletedBy.REPLAY
    logged = ModerationAction.objects.get(space=ended, action="replay_deleted")
    assert (logged.actor, logged.details) == (
        staff_client.staff,
        {"by": "staff", "reason": "Copyright claim"},
    )
    again = act(
        staff_client, "spaces_recording", "take_down", [recording.pk], reason="Twice"
    ).content.decode()
    assert "This replay was deleted." in again


def test_staff_delete_clips_through_the_service_not_the_queryset(staff_client, ended, listener):
    clip = services.clip_create(actor=listener, space_id=ended.pk, start_ms=0, end_ms=2000)
    changelist = staff_client.get(reverse("admin:replays_clip_changelist")).content.decode()
    assert clip.slug in changelist
    assert 'value="delete_selected"' not in changelist

    page = act(staff_client, "replays_clip", "delete_clips", [clip.pk]).content.decode()

    assert "1 clip(s) deleted" in page
    clip.refresh_from_db()
    assert (clip.is_deleted, clip.deleted_by) == (True, Clip.DeletedBy.STAFF)
    assert clip.file_name not in stored_files(ended)
    logged = ModerationAction.objects.get(space=ended, action="clip_deleted")
    assert (logged.actor, logged.target) == (staff_client.staff, listener)
    assert staff_client.get(reverse("admin:replays_clip_add")).status_code == 403


def test_storage_by_host_lists_hosts_by_the_bytes_they_keep(staff_client, ended, listener):
    services.clip_create(actor=listener, space_id=ended.pk, start_ms=0, end_ms=3000)
    small = ended_space(host=UserFactory(username="smallhost"))
    make_replay(small, seconds=1.0)
    emptied = ended_space(host=UserFactory(username="emptiedhost"))
    make_replay(emptied, seconds=1.0)
    services.replay_delete(actor=emptied.host, space_id=emptied.pk)

    page = staff_client.get(reverse("admin:replays_hoststorage_changelist")).content.decode()

    assert page.index(ended.host.username) < page.index("smallhost")
    assert "emptiedhost" not in page
    assert "KB" in page
    assert staff_client.get(reverse("admin:replays_hoststorage_add")).status_code == 403
