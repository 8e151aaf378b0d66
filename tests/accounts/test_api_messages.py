"""Direct messages in the API: the conversations, a thread, sending.

The endpoints call the services and selectors the site's inbox uses
(`accounts.services.direct_message_send`, `direct_messages_mark_read`,
`accounts.selectors.conversation_list`, `thread_messages`), so the refusals here are the
site's, with the API's stable codes.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from accounts import services
from accounts.models import DirectMessage, Notification, User
from tests.clock import frozen
from tests.factories import BlockFactory, SpaceFactory, UserFactory, ended_space
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

INBOX = "/api/v1/messages"


def thread(username: str) -> str:
    return f"/api/v1/messages/{username}"


def send(sender: User, recipient: User, body: str, **kwargs) -> DirectMessage:
    return services.direct_message_send(sender=sender, recipient=recipient, body=body, **kwargs)


def brief(u: User) -> dict:
    return {"id": u.pk, "username": u.username, "display_name": u.display_name, "name": u.name}


# --- Conversations --------------------------------------------------------------------------


def test_conversations_are_one_row_per_person_newest_first_with_preview_and_unread(
    auth_client, user, other_user
):
    carol = UserFactory(username="carol", display_name="")
    with frozen() as clock:
        send(other_user, user, "first from bob")
        clock.advance(seconds=20)
        send(other_user, user, "second from bob")
        clock.advance(seconds=20)
        send(carol, user, "hi from carol")
        clock.advance(seconds=20)
        last_to_carol = send(user, carol, "x" * 300)
        send(other_user, UserFactory(username="dave"), "not for alice")

    response = auth_client.get(INBOX)

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert body["unread_count"] == 3
    assert [c["user"] for c in body["results"]] == [brief(carol), brief(other_user)]
    with_carol, with_bob = body["results"]
    assert with_carol["unread_count"] == 1
    assert with_carol["last_message"] == {
        "id": last_to_carol.pk,
        "mine": True,
        "preview": "x" * 119 + "…",
        "created_at": with_carol["last_message"]["created_at"],
        "is_read": False,
        "space_id": None,
    }
    assert with_carol["updated_at"] == with_carol["last_message"]["created_at"]
    datetime.fromisoformat(with_carol["updated_at"])
    assert with_bob["unread_count"] == 2
    assert with_bob["last_message"]["preview"] == "second from bob"
    assert with_bob["last_message"]["mine"] is False


def test_a_conversation_sharing_a_space_says_so_in_its_preview(auth_client, user, other_user):
    space = SpaceFactory(host=other_user)
    send(other_user, user, "Listen", attachment={"space_id": space.pk})

    row = auth_client.get(INBOX).json()["results"][0]

    assert row["last_message"]["space_id"] == space.pk


@pytest.mark.parametrize("url", [INBOX, thread("bob")])
def test_a_cursor_the_api_did_not_give_is_404(auth_client, other_user, url):
    assert_error(auth_client.get(url, {"cursor": "forged"}), 404, "not_found")


def test_conversations_with_a_banned_account_leave_the_list_and_the_badge(auth_client, user):
    spammer = UserFactory(username="spammer")
    send(spammer, user, "buy now")
    spammer.is_active = False
    spammer.save()

    body = auth_client.get(INBOX).json()

    assert body["results"] == []
    assert body["unread_count"] == 0


def test_conversations_are_cursor_paged_without_gaps_or_repeats(auth_client, user):
    people = [UserFactory(username=f"p{i}") for i in range(5)]
    for person in people:
        send(person, user, f"hi from {person.username}")

    first = auth_client.get(INBOX, {"page_size": 2}).json()
    names = [c["user"]["username"] for c in first["results"]]
    url = first["next"]
    while url:
        page = auth_client.get(url).json()
        names += [c["user"]["username"] for c in page["results"]]
        url = page["next"]

    assert names == ["p4", "p3", "p2", "p1", "p0"]
    assert first["unread_count"] == 5


def test_the_conversation_list_reads_a_bounded_number_of_queries(
    auth_client, user, django_assert_max_num_queries
):
    for i in range(12):
        person = UserFactory(username=f"q{i}")
        send(person, user, f"hello {i}")
        send(user, person, f"hello back {i}")

    # Session-less auth: the grouped page, the people, the last messages, the unread count.
    with django_assert_max_num_queries(4):
        response = auth_client.get(INBOX)

    assert len(response.json()["results"]) == 12


# --- A thread -------------------------------------------------------------------------------


def test_a_thread_is_both_sides_newest_first_and_marks_theirs_read(auth_client, user, other_user):
    with frozen() as clock:
        theirs = send(other_user, user, "Hi Alice")
        clock.advance(seconds=20)
        mine = send(user, other_user, "Hi Bob")
    send(other_user, UserFactory(username="carol"), "not in this thread")

    response = auth_client.get(thread("BOB"))

    assert response.status_code == 200
    body = response.json()
    assert [m["id"] for m in body["results"]] == [mine.pk, theirs.pk]
    newest = body["results"][0]
    assert newest == {
        "id": mine.pk,
        "sender": brief(user),
        "mine": True,
        "body": "Hi Bob",
        "created_at": newest["created_at"],
        "is_read": False,
        "space_id": None,
        "space": None,
    }
    assert datetime.fromisoformat(newest["created_at"]).tzinfo is not None
    assert body["results"][1]["sender"] == brief(other_user)
    assert body["partner"] == {
        **brief(other_user),
        "can_send": True,
        "is_blocked": False,
        "blocks_you": False,
    }
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.is_read is True
    assert mine.is_read is False  # only the recipient opening it reads it
    assert not Notification.objects.filter(
        recipient=user, kind=Notification.Kind.MESSAGE, is_read=False
    ).exists()
    assert auth_client.get(INBOX).json()["unread_count"] == 0


def test_opening_a_thread_leaves_other_conversations_unread(auth_client, user, other_user):
    carol = UserFactory(username="carol")
    send(other_user, user, "from bob")
    from_carol = send(carol, user, "from carol")

    auth_client.get(thread("bob"))

    from_carol.refresh_from_db()
    assert from_carol.is_read is False
    assert auth_client.get(INBOX).json()["unread_count"] == 1


def test_a_thread_with_nobody_yet_is_an_empty_page(auth_client, other_user):
    body = auth_client.get(thread("bob")).json()

    assert body["results"] == []
    assert body["partner"]["username"] == "bob"


def test_a_thread_shows_only_the_viewers_own_conversation(client_for, user, other_user):
    carol = UserFactory(username="carol")
    send(other_user, carol, "Bob to Carol")
    send(user, other_user, "Alice to Bob")

    as_carol = client_for(carol).get(thread("bob")).json()
    as_alice = client_for(user).get(thread("carol")).json()

    assert [m["body"] for m in as_carol["results"]] == ["Bob to Carol"]
    assert as_alice["results"] == []


@pytest.mark.parametrize("who", ["nobody", "banned", "alice"])
def test_threads_with_no_one_a_banned_account_or_yourself_are_404(auth_client, who):
    UserFactory(username="banned", is_active=False)

    assert_error(auth_client.get(thread(who)), 404, "user_not_found")


def test_a_thread_is_cursor_paged_newest_page_first(auth_client, user, other_user):
    with frozen() as clock:
        for i in range(5):
            send(other_user, user, f"message {i}")
            clock.advance(seconds=20)

    newest = auth_client.get(thread("bob"), {"page_size": 3}).json()
    older = auth_client.get(newest["next"]).json()

    assert [m["body"] for m in newest["results"]] == ["message 4", "message 3", "message 2"]
    assert [m["body"] for m in older["results"]] == ["message 1", "message 0"]
    assert older["next"] is None
    assert older["partner"]["username"] == "bob"


def test_a_shared_space_is_a_card_and_one_you_cannot_see_is_only_an_id(
    auth_client, user, other_user
):
    hedy = UserFactory(username="hedy", display_name="Hedy")
    live = SpaceFactory(host=hedy, title="Radio")
    hidden = SpaceFactory(host=UserFactory(username="mallory"), title="Hidden title")
    done = ended_space(host=other_user, title="Yesterday")
    with frozen() as clock:
        send(other_user, user, "Listen", attachment={"space_id": live.pk})
        clock.advance(seconds=20)
        send(other_user, user, "Look", attachment={"space_id": hidden.pk})
        clock.advance(seconds=20)
        send(other_user, user, "Missed it", attachment={"space_id": done.pk})
    BlockFactory(blocker=hidden.host, blocked=user)

    response = auth_client.get(thread("bob"))

    assert "Hidden title" not in response.content.decode()
    ended, unavailable, card = response.json()["results"]
    assert card["space_id"] == live.pk
    assert card["space"] == {
        "id": live.pk,
        "url": card["space"]["url"],
        "title": "Radio",
        "state": "live",
        "host_name": "Hedy",
        "host_username": "hedy",
        "listeners": live.listener_count,
        "when": card["space"]["when"],
    }
    assert card["space"]["url"].startswith("/")
    assert (unavailable["space_id"], unavailable["space"]) == (hidden.pk, None)
    assert unavailable["body"] == "Look"
    assert ended["space"]["state"] == "ended"


def test_the_thread_reads_a_bounded_number_of_queries(
    auth_client, user, other_user, django_assert_max_num_queries
):
    for i in range(8):
        space = SpaceFactory(host=UserFactory(username=f"h{i}"))
        send(other_user, user, f"more {i}", attachment={"space_id": space.pk})
        send(user, other_user, f"reply {i}")

    # The partner, marking read (messages, notifications), the page, the Space cards.
    with django_assert_max_num_queries(5):
        response = auth_client.get(thread("bob"))

    assert len(response.json()["results"]) == 16


@pytest.mark.parametrize("direction", ["they_blocked_you", "you_blocked_them"])
def test_a_blocked_thread_keeps_its_history_and_says_you_cannot_send(
    auth_client, user, other_user, direction
):
    send(other_user, user, "before the block")
    if direction == "they_blocked_you":
        BlockFactory(blocker=other_user, blocked=user)
    else:
        BlockFactory(blocker=user, blocked=other_user)

    body = auth_client.get(thread("bob")).json()

    assert [m["body"] for m in body["results"]] == ["before the block"]
    assert body["partner"]["can_send"] is False
    assert body["partner"]["blocks_you"] is (direction == "they_blocked_you")
    assert body["partner"]["is_blocked"] is (direction == "you_blocked_them")


# --- Sending --------------------------------------------------------------------------------


def test_sending_answers_201_with_the_message_and_notifies(auth_client, user, other_user):
    response = auth_client.post(thread("bob"), {"body": "  Hi Bob!\r\nSee you.  "}, format="json")

    assert response.status_code == 201
    sent = DirectMessage.objects.get(sender=user)
    assert (sent.recipient, sent.body) == (other_user, "Hi Bob!\nSee you.")
    data = response.json()
    assert data == {
        "id": sent.pk,
        "sender": brief(user),
        "mine": True,
        "body": "Hi Bob!\nSee you.",
        "created_at": data["created_at"],
        "is_read": False,
        "space_id": None,
        "space": None,
    }
    note = Notification.objects.get(recipient=other_user, kind=Notification.Kind.MESSAGE)
    assert note.payload["message_id"] == sent.pk


def test_the_new_message_reaches_the_recipients_home_socket(
    auth_client, other_user, published, committed
):
    with committed():
        auth_client.post(thread("bob"), {"body": "Hi"}, format="json")

    events = [event for _, event in published if event["type"] == "notification.created"]
    assert [e["notification"]["kind"] for e in events] == ["message"]


def test_sending_with_a_space_shares_it_as_a_card(client_for, user, other_user):
    space = SpaceFactory(host=UserFactory(username="hedy"), title="Radio")

    response = client_for(user).post(
        thread("bob"), {"body": "Come", "space_id": space.pk}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["space"]["title"] == "Radio"
    assert DirectMessage.objects.get(sender=user).attachment == {"space_id": space.pk}
    received = client_for(other_user).get(thread("alice")).json()["results"][0]
    assert (received["space"]["id"], received["mine"]) == (space.pk, False)


@pytest.mark.parametrize("why", ["missing", "host_blocked_you"])
def test_sharing_a_space_you_cannot_see_is_refused(auth_client, user, other_user, why):
    space = SpaceFactory(host=UserFactory(username="hedy"))
    space_id = space.pk
    if why == "missing":
        space.delete()
    else:
        BlockFactory(blocker=space.host, blocked=user)

    response = auth_client.post(
        thread("bob"), {"body": "Come", "space_id": space_id}, format="json"
    )

    error = assert_error(response, 400, "invalid")
    assert "space_id" in error["fields"]
    assert not DirectMessage.objects.exists()


def test_a_double_submit_answers_the_same_message(auth_client, user, other_user):
    first = auth_client.post(thread("bob"), {"body": "Hello"}, format="json")
    second = auth_client.post(thread("bob"), {"body": "Hello"}, format="json")

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert DirectMessage.objects.filter(sender=user).count() == 1
    assert Notification.objects.filter(recipient=other_user).count() == 1


def test_the_same_words_later_are_a_new_message(auth_client, user, other_user):
    with frozen() as clock:
        first = auth_client.post(thread("bob"), {"body": "Hello"}, format="json").json()
        clock.advance(seconds=services.MESSAGE_REPEAT_SECONDS + 1)
        second = auth_client.post(thread("bob"), {"body": "Hello"}, format="json").json()

    assert first["id"] != second["id"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "body"),
        ({"body": ""}, "body"),
        ({"body": "   \n  "}, "body"),
        ({"body": "a\x00b"}, "body"),
        ({"body": "x" * 1001}, "body"),
        ({"body": 5}, "body"),
        ({"body": ["hi"]}, "body"),
        ({"body": None}, "body"),
        ({"body": "hi", "space_id": "12"}, "space_id"),
        ({"body": "hi", "space_id": True}, "space_id"),
        ({"body": "hi", "space_id": 1.5}, "space_id"),
        ({"body": "hi", "space_id": 0}, "space_id"),
        ({"body": "hi", "space_id": 2**63}, "space_id"),
        ({"body": "hi", "to": "carol"}, "to"),
    ],
)
def test_bad_input_is_400_with_the_field_and_nothing_is_sent(
    auth_client, other_user, payload, field
):
    response = auth_client.post(thread("bob"), payload, format="json")

    error = assert_error(response, 400, "invalid")
    assert field in error["fields"], error
    assert not DirectMessage.objects.exists()


def test_a_body_that_is_not_an_object_is_refused(auth_client, other_user):
    response = auth_client.post(thread("bob"), ["hi"], format="json")

    assert_error(response, 400, "invalid")
    assert not DirectMessage.objects.exists()


def test_malformed_json_is_refused(auth_client, other_user):
    response = auth_client.post(thread("bob"), "{nope", content_type="application/json")

    assert_error(response, 400, "malformed_request")


def test_a_huge_request_is_413(auth_client, other_user, settings):
    body = {"body": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)}

    response = auth_client.post(thread("bob"), body, format="json")

    assert_error(response, 413, "request_too_large")
    assert not DirectMessage.objects.exists()


def test_messaging_yourself_is_refused(auth_client, user):
    response = auth_client.post(thread("ALICE"), {"body": "Hi me"}, format="json")

    assert_error(response, 400, "cannot_message_self")


@pytest.mark.parametrize("who", ["nobody", "banned"])
def test_messaging_no_one_or_a_banned_account_is_404(auth_client, who):
    UserFactory(username="banned", is_active=False)

    response = auth_client.post(thread(who), {"body": "Hi"}, format="json")

    assert_error(response, 404, "user_not_found")
    assert not DirectMessage.objects.exists()


@pytest.mark.parametrize("direction", ["they_blocked_you", "you_blocked_them"])
def test_a_block_either_way_stops_messages(auth_client, user, other_user, direction):
    if direction == "they_blocked_you":
        BlockFactory(blocker=other_user, blocked=user)
    else:
        BlockFactory(blocker=user, blocked=other_user)

    response = auth_client.post(thread("bob"), {"body": "Hi"}, format="json")

    assert_error(response, 403, "blocked")
    assert not DirectMessage.objects.exists()


def test_sending_too_fast_is_429_with_retry_after(auth_client, user, other_user, monkeypatch):
    monkeypatch.setattr(services, "MESSAGE_RATE_LIMIT", 3)
    for i in range(3):
        assert auth_client.post(thread("bob"), {"body": f"m{i}"}, format="json").status_code == 201

    response = auth_client.post(thread("bob"), {"body": "one more"}, format="json")

    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= services.MESSAGE_RATE_PERIOD
    assert DirectMessage.objects.filter(sender=user).count() == 3


# --- Signed out -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", INBOX), ("get", thread("bob")), ("post", thread("bob"))],
)
def test_signed_out_is_401(api_client, other_user, method, url):
    response = getattr(api_client, method)(url, {"body": "Hi"} if method == "post" else None)

    assert_error(response, 401, "not_authenticated")
    assert not DirectMessage.objects.exists()


# --- The schema -----------------------------------------------------------------------------

MESSAGE_OPERATIONS = {
    ("/api/v1/messages", "get"): ("message_conversation_list", {"200", "401", "404"}),
    ("/api/v1/messages/{username}", "get"): ("message_thread", {"200", "401", "404"}),
    ("/api/v1/messages/{username}", "post"): (
        "message_send",
        {"201", "400", "401", "403", "404", "413", "415", "429"},
    ),
}


@pytest.fixture
def schema(api_client) -> dict:
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def component(schema: dict, ref: str) -> dict:
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_the_schema_documents_every_message_operation_and_its_answers(schema):
    for (url, method), (operation_id, codes) in MESSAGE_OPERATIONS.items():
        operation = schema["paths"][url][method]
        assert operation["operationId"] == operation_id
        assert set(operation["responses"]) == codes, (url, method)
        for code in codes - {"200", "201"}:
            body = operation["responses"][code]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/Error"}, (url, method, code)


def test_the_schema_names_the_send_refusals_by_code(schema):
    responses = schema["paths"]["/api/v1/messages/{username}"]["post"]["responses"]

    assert "cannot_message_self" in responses["400"]["description"]
    assert "blocked" in responses["403"]["description"]
    assert "user_not_found" in responses["404"]["description"]
    assert "Retry-After" in responses["429"]["description"]
    sent = responses["201"]["content"]["application/json"]["schema"]["$ref"]
    assert {"id", "sender", "body", "created_at", "is_read", "space_id", "space"} <= set(
        component(schema, sent)["properties"]
    )


def test_the_schema_documents_both_pages(schema):
    listing = schema["paths"]["/api/v1/messages"]["get"]
    thread_get = schema["paths"]["/api/v1/messages/{username}"]["get"]

    for operation in (listing, thread_get):
        assert {"cursor", "page_size"} <= {p["name"] for p in operation["parameters"]}
    inbox = component(
        schema, listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    )
    page = component(
        schema, thread_get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    )
    assert {"next", "previous", "results", "unread_count"} <= set(inbox["properties"])
    assert {"next", "previous", "results", "partner"} <= set(page["properties"])
    assert "marks" in thread_get["description"]


def test_every_reference_in_the_schema_resolves(schema):
    def refs(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    names = set(schema["components"]["schemas"])
    dangling = {r for r in refs(schema) if r.startswith("#/components/schemas/")} - {
        f"#/components/schemas/{n}" for n in names
    }
    assert not dangling
