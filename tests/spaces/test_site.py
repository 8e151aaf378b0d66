"""The Spaces pages of the site: every page for every role, every action as a plain POST form
calling the same service as the API (and answering JSON for the page's script), the buttons each
role is offered (exactly what `can` allows), and query counts that do not grow with the room."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Block, DirectMessage, Follow, Notification, User
from accounts.services import block_create
from spaces import services
from spaces.models import (
    Invitation,
    ModerationAction,
    Participant,
    Pin,
    Report,
    Space,
    SpeakerRequest,
)
from spaces.selectors import reaction_counts_for
from spaces.templatetags.spaces_site import compact, duration
from tests.factories import (
    SpaceFactory,
    UserFactory,
    ended_space,
    fresh,
    join,
    make_cohost,
    make_followers,
    make_speaker,
    participant,
)

pytestmark = pytest.mark.django_db

Role = Participant.Role


class SiteClient(Client):
    """Posts follow the redirect back to the page by default, as a browser does, so each
    response's messages are exactly the ones its own action added."""

    def post(self, path, data=None, follow=True, **extra):  # type: ignore[override]
        return super().post(path, data, follow=follow, **extra)


def client_for(user: User) -> Client:
    c = SiteClient()
    c.force_login(user)
    return c


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def url(name: str, space: Space, *args: object) -> str:
    return reverse(name, args=[space.pk, *args])


def page(user: User, space: Space) -> str:
    response = client_for(user).get(url("space_detail", space))
    assert response.status_code == 200
    return response.content.decode()


def embedded_state(body: str) -> dict:
    match = re.search(
        r'<script id="space-state" type="application/json">(.*?)</script>', body, re.S
    )
    assert match, "the page embeds its space.state snapshot"
    return json.loads(match.group(1))


def action_urls(body: str) -> set[str]:
    """Where the page's POST forms go."""
    tags = [t for t in re.findall(r"<form\b[^>]*>", body) if 'method="post"' in t]
    return {m.group(1) for t in tags if (m := re.search(r'action="([^"]+)"', t))}


@pytest.fixture
def roles(space):
    """One person in each role of the Space, through the real services."""
    return {
        "host": space.host,
        "cohost": make_cohost(space, UserFactory(username="cohostess")),
        "speaker": make_speaker(space, UserFactory(username="speakerine")),
        "listener": join(space, UserFactory(username="lissy")),
    }


# --- Anonymous --------------------------------------------------------------------------------


# A live public Space's own page is open to guests (tests/spaces/test_guests.py).
@pytest.mark.parametrize(
    "path",
    ["/spaces/", "/spaces/ended/", "/spaces/new/", "/spaces/{id}/transcript/"],
)
def test_anonymous_visitors_are_sent_to_log_in_first(client, space, path):
    path = path.format(id=space.pk)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert "next=" in response["Location"]


def test_an_anonymous_post_to_an_action_changes_nothing_and_asks_to_log_in(client, space):
    response = client.post(url("space_join", space))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert fresh(space).listener_count == 0


# --- The Space page for each role ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["host", "cohost", "speaker", "listener"])
def test_the_space_page_renders_for_each_role_with_its_snapshot(space, roles, role):
    body = page(roles[role], space)

    assert space.title in body
    assert 'id="stage-grid"' in body
    for who in ("host", "cohost", "speaker"):
        assert f'data-user-id="{roles[who].pk}" data-role="{who}"' in body
    assert f'data-user-id="{roles["listener"].pk}" data-role="listener"' in body
    state = embedded_state(body)
    assert state["type"] == "space.state"
    assert state["me"]["role"] == role
    assert [p["role"] for p in state["stage"]] == ["host", "cohost", "speaker"]
    assert state["requests"] == ([] if role in ("host", "cohost") else None)
    assert 'aria-live="polite"' in body  # captions and counts
    assert "js/space.js" in body


def test_a_visitor_not_in_the_space_is_offered_start_listening_and_nothing_else(space, user):
    body = page(user, space)
    urls = action_urls(body)

    assert url("space_join", space) in urls
    assert "Start listening" in body
    for name in ("space_leave", "space_react", "space_hand_raise", "space_end", "space_me_mute"):
        assert url(name, space) not in urls
    assert url("space_share", space) in urls  # anyone who can see it may share it
    assert embedded_state(body)["me"] is None


def test_a_listener_sees_request_to_speak_leave_react_share_but_no_host_controls(space, roles):
    listener_user = roles["listener"]
    SpeakerRequest.objects.create(space=space, user=roles["speaker"])  # a hand to approve
    body = page(listener_user, space)
    urls = action_urls(body)

    for name in ("space_hand_raise", "space_leave", "space_react", "space_share", "space_report"):
        assert url(name, space) in urls, name
    for name in ("space_end", "space_captions", "space_invite", "space_cohost_invite"):
        assert url(name, space) not in urls, name
    assert not any("/approve/" in u or "/people/" in u for u in urls)
    assert "Requests to speak" not in body
    assert "Moderation log" not in body
    assert url("space_join", space) not in urls
    assert url("space_me_unmute", space) not in urls


def test_the_host_sees_end_the_requests_queue_mic_and_every_moderation_control(space, roles):
    host = roles["host"]
    request, _ = services.speaker_request_create(user=roles["listener"], space_id=space.pk)
    body = page(host, space)
    urls = action_urls(body)

    assert url("space_end", space) in urls
    assert url("space_leave", space) in urls  # handing over to the connected co-host
    assert url("space_request_approve", space, request.pk) in urls
    assert url("space_request_deny", space, request.pk) in urls
    assert url("space_me_unmute", space) in urls  # the host starts muted
    assert url("space_captions", space) in urls
    assert url("space_cohost_invite", space) in urls
    speaker_id, cohost_id, _listener_id = (roles[r].pk for r in ("speaker", "cohost", "listener"))
    for action in ("demote", "remove", "block"):
        assert url("space_participant_action", space, speaker_id, action) in urls
    assert url("space_participant_action", space, cohost_id, "cohost-revoke") in urls
    # Nobody acts on the host, nor mutes someone already muted (speakers come on stage muted).
    assert url("space_participant_action", space, speaker_id, "mute") not in urls
    assert not any(f"/people/{host.pk}/" in u for u in urls)
    assert url("space_hand_raise", space) not in urls
    assert "Moderation log" in body


def test_a_cohost_moderates_speakers_but_cannot_end_nor_touch_cohosts_or_the_host(space, roles):
    services.participant_unmute(
        actor=roles["speaker"], space_id=space.pk, user_id=roles["speaker"].pk
    )
    request, _ = services.speaker_request_create(user=roles["listener"], space_id=space.pk)
    body = page(roles["cohost"], space)
    urls = action_urls(body)

    assert url("space_request_approve", space, request.pk) in urls
    assert url("space_participant_action", space, roles["speaker"].pk, "mute") in urls
    assert url("space_participant_action", space, roles["speaker"].pk, "remove") in urls
    assert url("space_end", space) not in urls
    assert url("space_cohost_invite", space) not in urls
    assert not any("/block/" in u or "/cohost-revoke/" in u for u in urls)
    assert not any(f"/people/{roles['host'].pk}/" in u for u in urls)
    assert url("space_leave", space) in urls
    assert url("space_me_step_down", space) in urls


def test_a_speaker_gets_the_mic_toggle_and_can_go_back_to_the_audience(space, roles):
    speaker_user = roles["speaker"]
    body = page(speaker_user, space)
    urls = action_urls(body)
    assert url("space_me_unmute", space) in urls
    assert url("space_me_mute", space) not in urls
    assert url("space_me_step_down", space) in urls
    assert url("space_hand_raise", space) not in urls

    services.participant_unmute(actor=speaker_user, space_id=space.pk, user_id=speaker_user.pk)
    urls = action_urls(page(speaker_user, space))
    assert url("space_me_mute", space) in urls
    assert url("space_me_unmute", space) not in urls


def test_a_raised_hand_turns_into_withdraw(space, roles):
    services.speaker_request_create(user=roles["listener"], space_id=space.pk)
    urls = action_urls(page(roles["listener"], space))
    assert url("space_hand_withdraw", space) in urls
    assert url("space_hand_raise", space) not in urls


def test_no_request_to_speak_when_only_invited_people_speak(user):
    space = SpaceFactory(speaking_policy=Space.SpeakingPolicy.INVITED_ONLY)
    join(space, user)
    assert url("space_hand_raise", space) not in action_urls(page(user, space))


def test_approve_and_invite_are_disabled_when_the_stage_is_full(user):
    space = SpaceFactory(max_speakers=1)
    make_speaker(space)
    waiting = join(space, user)
    request, _ = services.speaker_request_create(user=waiting, space_id=space.pk)
    body = page(space.host, space)

    approve = re.search(
        rf'action="{url("space_request_approve", space, request.pk)}".*?<button([^>]*)>', body, re.S
    )
    assert approve
    assert "disabled" in approve.group(1)
    assert "The stage is full" in body
    invite = re.search(r'<input id="invite-username"[^>]*>', body)
    assert invite
    assert "disabled" in invite.group(0)
    assert not any("/people/" in u and "invite" in u for u in action_urls(body))


def test_an_invited_listener_sees_accept_and_decline(space, roles):
    invitation, _ = services.invitation_create(
        actor=roles["host"],
        space_id=space.pk,
        invitee_id=roles["listener"].pk,
        kind=Invitation.Kind.SPEAKER,
    )
    body = page(roles["listener"], space)
    assert "invited you to speak" in body
    assert url("space_invitation_accept", space, invitation.pk) in action_urls(body)
    assert url("space_invitation_decline", space, invitation.pk) in action_urls(body)


def test_a_removed_user_is_told_and_offered_no_way_back(space, roles):
    services.participant_remove(
        actor=roles["host"], space_id=space.pk, user_id=roles["listener"].pk
    )
    body = page(roles["listener"], space)
    assert "You were removed from this Space" in body
    assert url("space_join", space) not in action_urls(body)


def test_the_page_shows_pins_captions_and_listener_avatars(space, roles):
    services.pin_create(
        user=roles["host"], space_id=space.pk, text="Read this", url="https://x.org"
    )
    services.captions_toggle(actor=roles["host"], space_id=space.pk, enabled=True)
    services.caption_append(space_id=space.pk, speaker_id=roles["host"].pk, text="Hello room")
    body = page(roles["listener"], space)
    assert "Read this" in body
    assert 'href="https://x.org"' in body
    assert "Hello room" in body
    assert 'id="caption-lines" aria-live="polite"' in body
    assert "Captions on" in body
    assert f'data-user-id="{roles["listener"].pk}" data-role="listener"' in body


def test_an_unknown_space_is_404_and_a_blocked_viewer_gets_403(space, user):
    c = client_for(user)
    assert c.get(reverse("space_detail", args=[987654])).status_code == 404
    block_create(blocker=space.host, blocked=user)
    response = c.get(url("space_detail", space))
    assert response.status_code == 403
    assert "The host has blocked you." in response.content.decode()


def test_the_page_answers_its_snapshot_as_json_for_the_script(space, roles):
    response = client_for(roles["host"]).get(
        url("space_detail", space), HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    state = response.json()
    assert state["type"] == "space.state"
    assert isinstance(state["seq"], int)
    assert state["can"]["end"] is True
    assert state["requests"] == []


# --- Ended Spaces -------------------------------------------------------------------------------


def test_an_ended_space_shows_the_end_with_counts_and_a_transcript_link_for_the_host(space, roles):
    services.space_end(actor=roles["host"], space_id=space.pk)

    host_body = page(roles["host"], space)
    assert "This Space has ended" in host_body
    assert "Peak listeners" in host_body
    assert "Tuned in" in host_body
    assert url("space_transcript", space) in host_body
    assert "Moderation log" in host_body
    assert action_urls(host_body) - {"/accounts/logout/"} == {url("space_report", space)}

    listener_body = page(roles["listener"], space)
    assert "This Space has ended" in listener_body
    assert url("space_transcript", space) not in listener_body
    assert "js/space.js" not in listener_body


def not_live_yet(state: str) -> Space:
    return SpaceFactory(
        host=UserFactory(username="hedy", display_name="Hedy"),
        title="Spread spectrum",
        state=state,
        started_at=None,
        scheduled_for=timezone.now() + timedelta(days=1),
    )


@pytest.mark.parametrize("state", [Space.State.SCHEDULED, Space.State.CANCELLED])
def test_the_room_of_a_space_not_started_sends_to_its_schedule_page(user, state):
    space = not_live_yet(state)
    client = client_for(user)

    response = client.get(url("space_detail", space))

    assert response.status_code == 302
    assert response["Location"] == reverse("scheduled_detail", args=[space.pk])
    schedule_page = client.get(response["Location"])  # which shows it, and sends nowhere else
    assert schedule_page.status_code == 200
    assert "Spread spectrum" in schedule_page.content.decode()
    assert "ENDED" not in schedule_page.content.decode()


def test_the_rooms_snapshot_of_a_scheduled_space_stays_json_for_the_script(user):
    space = not_live_yet(Space.State.SCHEDULED)
    response = client_for(user).get(url("space_detail", space), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["space"]["state"] == "scheduled"


def test_a_scheduled_space_of_a_host_who_blocked_you_is_refused_not_redirected(user):
    space = not_live_yet(Space.State.SCHEDULED)
    block_create(blocker=space.host, blocked=user)
    response = client_for(user).get(url("space_detail", space))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("state", "pill"), [(Space.State.SCHEDULED, "SCHEDULED"), (Space.State.CANCELLED, "CANCELLED")]
)
def test_without_scheduling_the_room_says_the_state_not_ended(user, settings, state, pill):
    settings.ROOT_URLCONF = "tests.spaces.urls_without_scheduling"
    space = not_live_yet(state)
    response = client_for(user).get(url("space_detail", space))
    assert response.status_code == 200
    body = response.content.decode()
    assert re.search(rf'<span class="live-pill ended-pill">\s*{pill}\s*</span>', body)
    assert "ENDED" not in body
    assert "This Space has ended" not in body


def test_the_transcript_page_lists_the_captions_in_order(space, roles):
    services.captions_toggle(actor=roles["host"], space_id=space.pk, enabled=True)
    services.caption_append(space_id=space.pk, speaker_id=roles["host"].pk, text="First line")
    services.caption_append(space_id=space.pk, speaker_id=roles["speaker"].pk, text="Second line")
    body = client_for(roles["host"]).get(url("space_transcript", space)).content.decode()
    assert body.index("First line") < body.index("Second line")


# --- Lists ----------------------------------------------------------------------------------------


def test_the_live_list_is_busiest_first_and_searches_titles_and_topics(user):
    quiet = SpaceFactory(title="Quiet one", topics=["Jazz"])
    busy = SpaceFactory(title="Busy one", topics=["News"])
    join(busy), join(busy)
    join(quiet)
    ended = ended_space(title="Over and done")
    c = client_for(user)

    body = c.get(reverse("space_list")).content.decode()
    assert body.index("Busy one") < body.index("Quiet one")
    assert ended.title not in body
    body = c.get(reverse("space_list"), {"q": "jazz"}).content.decode()
    assert "Quiet one" in body
    assert "Busy one" not in body
    body = c.get(reverse("space_list"), {"q": "nothing like it"}).content.decode()
    assert "No live Spaces match" in body


def test_the_ended_list_shows_recent_spaces_and_filters_by_host(user):
    ended_space(title="Ada's old one", host=UserFactory(username="adah"))
    ended_space(title="Someone else's")
    c = client_for(user)
    body = c.get(reverse("space_ended_list")).content.decode()
    assert "Ada&#x27;s old one" in body
    assert "Someone else&#x27;s" in body
    body = c.get(reverse("space_ended_list"), {"host": "adah"}).content.decode()
    assert "Ada&#x27;s old one" in body
    assert "Someone else" not in body
    assert c.get(reverse("space_ended_list"), {"host": "nobody-here"}).status_code == 404


# --- Home ---------------------------------------------------------------------------------------


def test_home_shows_the_bubble_of_a_followed_host_then_all_live_spaces(user):
    followed = SpaceFactory(title="From a friend", host=UserFactory(username="friend"))
    stranger = SpaceFactory(title="From a stranger")
    Follow.objects.create(follower=user, followee=followed.host)
    body = client_for(user).get("/").content.decode()

    bubbles = body[body.index('id="bubbles-region"') : body.index('id="all-live-title"')]
    assert f'href="{url("space_detail", followed)}"' in bubbles
    assert "bubble-ring" in bubbles
    assert "LIVE" in bubbles
    assert stranger.title not in bubbles
    live = body[body.index('id="all-live-title"') :]
    assert followed.title in live
    assert stranger.title in live
    assert reverse("space_list") in live  # search form
    assert "js/home.js" in body


def test_home_without_live_spaces_keeps_the_empty_states(user):
    body = client_for(user).get("/").content.decode()
    assert "Nobody you follow is live right now" in body
    assert "No Spaces are live" in body


def test_the_spaces_nav_item_points_at_the_live_list_and_is_current_there(user):
    c = client_for(user)
    nav = re.search(r'<nav aria-label="Main">.*?</nav>', c.get("/").content.decode(), re.S)
    assert nav
    assert f'href="{reverse("space_list")}"' in nav.group(0)
    nav = re.search(r'<nav aria-label="Main">.*?</nav>', c.get("/spaces/").content.decode(), re.S)
    assert nav
    assert re.search(r'href="/spaces/"\s+aria-current="page"', nav.group(0))


# --- Start a Space ---------------------------------------------------------------------------


def test_start_tells_someone_who_cannot_host_how_far_they_are_with_no_form(user, settings):
    settings.SPACES_HOST_MIN_FOLLOWERS = 1000
    make_followers(user, 723, prefix="few-")
    body = client_for(user).get(reverse("space_new")).content.decode()
    assert "Hosting opens at 1,000 followers — you have 723" in body
    assert "277 more followers" in body
    assert f'action="{reverse("space_new")}"' not in body
    assert "disabled" not in body
    assert f'href="{reverse("space_list")}"' in body

    response = client_for(user).post(
        reverse("space_new"), {"title": "Mine", "speaking_policy": "everyone"}
    )
    assert response.status_code == 200
    assert not Space.objects.filter(host=user).exists()
    assert "followers to host a Space" in response.content.decode()


def test_a_host_starts_a_space_with_topics_and_lands_on_it(host):
    response = client_for(host).post(
        reverse("space_new"),
        follow=False,
        data={
            "title": "  Talking   shop ",
            "topics": "Music, Tech ,",
            "speaking_policy": "followed_by_host",
            "captions_enabled": "on",
        },
    )
    space = Space.objects.get(host=host)
    assert response.status_code == 302
    assert response["Location"] == url("space_detail", space)
    assert (space.title, space.topics, space.speaking_policy) == (
        "Talking shop",
        ["Music", "Tech"],
        "followed_by_host",
    )
    assert space.captions_enabled
    assert space.state == Space.State.LIVE


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"title": "x" * 71}, "at most 70 characters"),
        ({"title": ""}, "This field is required"),
        ({"title": "Fine", "topics": "a, b, c, d"}, "At most 3 topics"),
        ({"title": "Fine", "topics": "y" * 31}, "at most 30 characters"),
    ],
)
def test_start_refuses_bad_input_with_field_errors(host, data, error):
    response = client_for(host).post(reverse("space_new"), {"speaking_policy": "everyone", **data})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Space.objects.filter(host=host).exists()


def test_a_host_already_live_is_pointed_at_their_space_and_cannot_start_another(host):
    live = services.space_start(host=host, title="Already on")
    c = client_for(host)
    body = c.get(reverse("space_new")).content.decode()
    assert "You\u2019re already live" in body
    assert url("space_detail", live) in body
    response = c.post(reverse("space_new"), {"title": "Second", "speaking_policy": "everyone"})
    assert "You already have a live Space." in response.content.decode()
    assert Space.objects.filter(host=host).count() == 1


# --- Actions: each POST does what the service does ------------------------------------------


def test_join_and_leave(space, user):
    c = client_for(user)
    response = c.post(url("space_join", space), follow=False)
    assert response.status_code == 302
    assert response["Location"] == url("space_detail", space)
    response = c.get(response["Location"])
    assert messages_of(response) == ["You joined the Space."]
    assert participant(space, user).state == Participant.State.PRESENT
    assert fresh(space).listener_count == 1

    response = c.post(url("space_leave", space))
    assert messages_of(response) == ["You left the Space."]
    assert participant(space, user).state == Participant.State.LEFT
    assert fresh(space).listener_count == 0


def test_the_host_cannot_leave_and_is_told_why(space):
    response = client_for(space.host).post(url("space_leave", space))
    assert messages_of(response) == ["The host cannot leave a live Space; end it instead."]
    assert participant(space, space.host).state == Participant.State.PRESENT


def test_joining_an_ended_space_is_refused_with_the_services_message(user):
    space = ended_space()
    response = client_for(user).post(url("space_join", space))
    assert messages_of(response) == ["This Space has ended."]
    assert not Participant.objects.filter(space=space, user=user).exists()


def test_raise_withdraw_approve_and_deny(space, roles):
    lis, host = roles["listener"], roles["host"]
    c = client_for(lis)
    c.post(url("space_hand_raise", space))
    request = SpeakerRequest.objects.get(space=space, user=lis, state="pending")
    c.post(url("space_hand_withdraw", space))
    assert fresh_request(request).state == SpeakerRequest.State.WITHDRAWN

    c.post(url("space_hand_raise", space))
    request = SpeakerRequest.objects.get(space=space, user=lis, state="pending")
    response = client_for(host).post(url("space_request_approve", space, request.pk))
    assert messages_of(response) == [f"{lis.name} is now a speaker."]
    assert participant(space, lis).role == Role.SPEAKER
    assert ModerationAction.objects.filter(space=space, action="request_approved").exists()

    other = join(space)
    request, _ = services.speaker_request_create(user=other, space_id=space.pk)
    client_for(host).post(url("space_request_deny", space, request.pk))
    assert fresh_request(request).state == SpeakerRequest.State.DENIED


def fresh_request(request: SpeakerRequest) -> SpeakerRequest:
    request.refresh_from_db()
    return request


def test_a_listener_approving_is_refused_and_nothing_changes(space, roles):
    request, _ = services.speaker_request_create(user=roles["listener"], space_id=space.pk)
    intruder = join(space)
    response = client_for(intruder).post(url("space_request_approve", space, request.pk))
    assert messages_of(response) == ["Only the host or a co-host can do this."]
    assert fresh_request(request).state == SpeakerRequest.State.PENDING
    assert participant(space, roles["listener"]).role == Role.LISTENER


def test_approving_onto_a_full_stage_shows_stage_full(user):
    space = SpaceFactory(max_speakers=1)
    make_speaker(space)
    request, _ = services.speaker_request_create(user=join(space, user), space_id=space.pk)
    response = client_for(space.host).post(url("space_request_approve", space, request.pk))
    assert messages_of(response) == ["The stage is full."]
    assert participant(space, user).role == Role.LISTENER


def test_invite_by_id_and_by_username_then_accept_and_decline(space, roles):
    host, lis = roles["host"], roles["listener"]
    response = client_for(host).post(url("space_invite", space), {"user_id": lis.pk})
    assert messages_of(response) == [f"You invited {lis.name} to speak."]
    invitation = Invitation.objects.get(space=space, invitee=lis, state="pending")
    client_for(lis).post(url("space_invitation_accept", space, invitation.pk))
    assert participant(space, lis).role == Role.SPEAKER

    other = join(space, UserFactory(username="OtherOne"))
    client_for(host).post(url("space_invite", space), {"username": "@otherone"})
    invitation = Invitation.objects.get(space=space, invitee=other, state="pending")
    client_for(other).post(url("space_invitation_decline", space, invitation.pk))
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.DECLINED

    response = client_for(host).post(url("space_invite", space), {"username": "ghost"})
    assert messages_of(response) == ["There is no account @ghost."]


def test_the_host_adds_and_revokes_a_cohost_but_a_cohost_cannot(space, roles):
    host, lis, co = roles["host"], roles["listener"], roles["cohost"]
    response = client_for(co).post(url("space_cohost_invite", space), {"user_id": lis.pk})
    assert messages_of(response) == ["Only the host can invite co-hosts."]

    client_for(host).post(url("space_cohost_invite", space), {"user_id": lis.pk})
    invitation = Invitation.objects.get(space=space, invitee=lis, kind="cohost")
    client_for(lis).post(url("space_invitation_accept", space, invitation.pk))
    assert participant(space, lis).role == Role.COHOST

    url_revoke = url("space_participant_action", space, lis.pk, "cohost-revoke")
    response = client_for(host).post(url_revoke)
    assert messages_of(response) == [f"{lis.name} is no longer a co-host."]
    assert participant(space, lis).role == Role.SPEAKER


def test_cancel_an_invitation(space, roles):
    invitation, _ = services.invitation_create(
        actor=roles["host"], space_id=space.pk, invitee_id=roles["listener"].pk, kind="speaker"
    )
    client_for(roles["host"]).post(url("space_invitation_cancel", space, invitation.pk))
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.CANCELLED


def test_mute_demote_remove_and_block(space, roles):
    host, spk = roles["host"], roles["speaker"]
    services.participant_unmute(actor=spk, space_id=space.pk, user_id=spk.pk)
    c = client_for(host)

    c.post(url("space_participant_action", space, spk.pk, "mute"))
    p = participant(space, spk)
    assert p.is_muted
    assert p.muted_by_host
    c.post(url("space_participant_action", space, spk.pk, "demote"))
    assert participant(space, spk).role == Role.LISTENER
    response = c.post(url("space_participant_action", space, spk.pk, "remove"))
    assert messages_of(response) == [f"{spk.name} was removed from the Space."]
    assert participant(space, spk).state == Participant.State.REMOVED

    lis = roles["listener"]
    c.post(url("space_participant_action", space, lis.pk, "block"))
    assert participant(space, lis).state == Participant.State.REMOVED
    assert Block.objects.filter(blocker=host, blocked=lis).exists()
    assert c.post(url("space_participant_action", space, lis.pk, "nonsense")).status_code == 404


def test_nobody_can_act_on_the_host(space, roles):
    response = client_for(roles["cohost"]).post(
        url("space_participant_action", space, roles["host"].pk, "remove")
    )
    assert messages_of(response) == ["Nobody can do this to the host."]
    assert participant(space, roles["host"]).state == Participant.State.PRESENT


def test_mic_on_off_and_step_down(space, roles):
    spk = roles["speaker"]
    c = client_for(spk)
    assert messages_of(c.post(url("space_me_unmute", space))) == ["Your mic is on."]
    assert participant(space, spk).is_muted is False
    assert messages_of(c.post(url("space_me_mute", space))) == ["Your mic is off."]
    assert participant(space, spk).is_muted is True
    c.post(url("space_me_step_down", space))
    assert participant(space, spk).role == Role.LISTENER
    assert messages_of(c.post(url("space_me_unmute", space))) == ["You are not on stage."]


def test_react_counts_the_tap_and_refuses_other_emoji(space, roles):
    c = client_for(roles["listener"])
    response = c.post(url("space_react", space), {"emoji": "clap"})
    assert messages_of(response) == ["You reacted 👏"]
    assert reaction_counts_for(space_id=space.pk)["clap"] == 1
    response = c.post(url("space_react", space), {"emoji": "🍕"})
    assert messages_of(response) == ["Not one of the reactions."]


def test_pin_and_unpin(space, roles):
    c = client_for(roles["speaker"])
    c.post(url("space_pin_create", space), {"text": "Our notes", "url": "https://example.org"})
    pin = Pin.objects.get(space=space)
    assert (pin.text, pin.url, pin.author) == ("Our notes", "https://example.org", roles["speaker"])
    response = client_for(roles["listener"]).post(url("space_pin_remove", space, pin.pk))
    assert messages_of(response) == ["Only the author, the host or a co-host can remove this pin."]
    client_for(roles["host"]).post(url("space_pin_remove", space, pin.pk))
    pin.refresh_from_db()
    assert pin.unpinned_at is not None
    response = client_for(roles["listener"]).post(url("space_pin_create", space), {"text": "Me"})
    assert messages_of(response) == ["Only the host, co-hosts and speakers can pin."]


def test_captions_on_and_off(space, roles):
    c = client_for(roles["cohost"])
    assert messages_of(c.post(url("space_captions", space), {"enabled": "1"})) == [
        "Captions are on."
    ]
    assert fresh(space).captions_enabled
    c.post(url("space_captions", space), {"enabled": "0"})
    assert not fresh(space).captions_enabled
    response = client_for(roles["listener"]).post(url("space_captions", space), {"enabled": "1"})
    assert messages_of(response) == ["Only the host or a co-host can do this."]


def test_the_moderation_log_says_which_way_captions_were_turned(space, roles):
    host = roles["host"]
    services.captions_toggle(actor=host, space_id=space.pk, enabled=True)
    services.captions_toggle(actor=host, space_id=space.pk, enabled=False)
    log = re.search(
        r'<details class="card side-details" id="moderation-log".*?</details>',
        client_for(host).get(url("space_detail", space)).content.decode(),
        re.S,
    )
    assert log
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", log.group(0)))
    assert "Captions turned on" in text
    assert "Captions turned off" in text
    assert "on or off" not in text
    assert "(on)" not in text
    assert "(off)" not in text


def test_share_to_usernames_by_direct_message_and_to_followers(space, roles):
    lis = roles["listener"]
    friend = UserFactory(username="friendly")
    fans = make_followers(lis, 3, prefix="lisfan-")
    c = client_for(lis)
    response = c.post(
        url("space_share", space),
        {"usernames": "@Friendly", "message": "Come!", "to_followers": "on"},
    )
    assert messages_of(response) == ["Sent to 1 person; shared with 3 followers."]
    dm = DirectMessage.objects.get(sender=lis, recipient=friend)
    assert dm.body == "Come!"
    assert dm.attachment == {"space_id": space.pk}
    assert Notification.objects.filter(recipient__in=fans, kind="space_shared").count() == 3

    response = c.post(url("space_share", space), {"usernames": "nobody-by-that-name"})
    assert messages_of(response) == ["No account with the username @nobody-by-that-name."]
    response = c.post(url("space_share", space), {})
    assert messages_of(response) == ["Choose people to send the Space to, or your followers."]


def test_report_the_space_or_a_participant(space, roles):
    c = client_for(roles["listener"])
    response = c.post(url("space_report", space), {"reason": "spam"})
    assert messages_of(response) == ["Thanks. Your report was sent to our moderators."]
    c.post(
        url("space_report", space),
        {"reason": "harassment", "details": "Rude", "target": roles["speaker"].pk},
    )
    reports = list(Report.objects.filter(space=space).order_by("pk"))
    assert [(r.reason, r.target) for r in reports] == [
        ("spam", None),
        ("harassment", roles["speaker"]),
    ]
    stranger = UserFactory()
    response = client_for(stranger).post(url("space_report", space), {"reason": "spam"})
    assert messages_of(response) == ["Only people in the Space can report it."]


def test_the_host_ends_the_space_and_a_cohost_cannot(space, roles):
    response = client_for(roles["cohost"]).post(url("space_end", space))
    assert messages_of(response) == ["Only the host can end the Space."]
    assert fresh(space).state == Space.State.LIVE
    response = client_for(roles["host"]).post(url("space_end", space))
    assert messages_of(response) == ["You ended the Space."]
    assert fresh(space).state == Space.State.ENDED


def test_the_host_of_one_space_cannot_act_on_another(space, roles):
    other = SpaceFactory()
    victim = join(other)
    response = client_for(roles["host"]).post(
        url("space_participant_action", other, victim.pk, "remove")
    )
    assert messages_of(response) == ["Only the host or a co-host can do this."]
    assert participant(other, victim).state == Participant.State.PRESENT


def test_a_safe_next_is_followed_and_an_outside_one_ignored(space, user):
    c = client_for(user)
    response = c.post(url("space_join", space), {"next": "/spaces/"}, follow=False)
    assert response["Location"] == "/spaces/"
    response = c.post(url("space_leave", space), {"next": "https://evil.example/"}, follow=False)
    assert response["Location"] == url("space_detail", space)


# --- Plumbing: methods, CSRF, JSON ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("space_join", ()),
        ("space_leave", ()),
        ("space_end", ()),
        ("space_hand_raise", ()),
        ("space_request_approve", (1,)),
        ("space_participant_action", (1, "mute")),
        ("space_me_unmute", ()),
        ("space_react", ()),
        ("space_share", ()),
        ("space_report", ()),
        ("space_captions", ()),
    ],
)
def test_get_on_an_action_is_405(space, user, name, extra):
    assert client_for(user).get(url(name, space, *extra)).status_code == 405


def test_csrf_is_enforced_on_actions(space, user):
    c = Client(enforce_csrf_checks=True)
    c.force_login(user)
    assert c.post(url("space_join", space)).status_code == 403
    assert not Participant.objects.filter(space=space, user=user).exists()

    c.get(url("space_detail", space))  # sets the CSRF cookie
    token = c.cookies[settings.CSRF_COOKIE_NAME].value
    response = c.post(url("space_join", space), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302  # a plain Client: the redirect is not followed
    assert participant(space, user).state == Participant.State.PRESENT


def test_actions_answer_json_with_the_fresh_snapshot(space, roles):
    c = client_for(roles["listener"])
    response = c.post(url("space_hand_raise", space), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["message"].startswith("You asked to speak")
    assert body["state"]["can"]["withdraw_hand"] is True
    assert body["state"]["pending_request_id"] is not None


def test_a_refusal_answers_json_with_the_services_status_and_code(user):
    space = SpaceFactory(max_speakers=1)
    make_speaker(space)
    request, _ = services.speaker_request_create(user=join(space, user), space_id=space.pk)
    response = client_for(space.host).post(
        url("space_request_approve", space, request.pk), HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 409
    assert response.json() == {
        "ok": False,
        "error": {"code": "stage_full", "message": "The stage is full.", "fields": {}},
    }
    response = client_for(user).post(url("space_end", space), HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "host_only"


# --- Query counts -------------------------------------------------------------------------------


def _count(c: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert c.get(path).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("role", ["host", "listener"])
def test_the_space_page_reads_a_fixed_number_of_queries_however_many_listeners(space, roles, role):
    services.captions_toggle(actor=roles["host"], space_id=space.pk, enabled=True)
    services.pin_create(user=roles["host"], space_id=space.pk, text="A pin")
    services.speaker_request_create(user=roles["listener"], space_id=space.pk)
    c = client_for(roles[role])
    path = url("space_detail", space)
    before = _count(c, path)
    for _ in range(15):
        services.speaker_request_create(user=join(space), space_id=space.pk)
    services.caption_append(space_id=space.pk, speaker_id=roles["host"].pk, text="More words")
    for n in range(3):
        services.comment_post(user=roles["listener"], space_id=space.pk, text=f"comment {n}")
    assert _count(c, path) == before
    # +1 since #16: the snapshot's `last_host_change` (one query, however many listeners);
    # +1 since #21: the latest comments.
    assert before <= (20 if role == "host" else 15)


def test_home_reads_a_fixed_number_of_queries_however_many_live_spaces(user):
    c = client_for(user)

    def add_spaces(n: int) -> None:
        for _ in range(n):
            space = SpaceFactory()
            Follow.objects.create(follower=user, followee=space.host)
            make_speaker(space)
            join(space)

    add_spaces(2)
    before = _count(c, "/")
    add_spaces(5)
    assert _count(c, "/") == before


def test_the_live_list_reads_a_fixed_number_of_queries(user):
    c = client_for(user)
    SpaceFactory()
    before = _count(c, reverse("space_list"))
    for _ in range(6):
        join(SpaceFactory())
    assert _count(c, reverse("space_list")) == before


# --- Template helpers ----------------------------------------------------------------------------


def test_compact_counts_and_durations():
    from datetime import timedelta

    assert [compact(n) for n in (0, 999, 1000, 1234, 12_345, 2_500_000)] == [
        "0",
        "999",
        "1K",
        "1.2K",
        "12K",
        "2.5M",
    ]
    assert duration(timedelta(seconds=30)) == "under a minute"
    assert duration(timedelta(minutes=65)) == "1 h 5 min"
    assert duration(timedelta(minutes=12)) == "12 min"
