"""Entry at the door of a ticketed live Space: the host, co-hosts, speakers and ticket holders
get in, nobody else, whether through the API or the socket."""

from __future__ import annotations

import pytest

from scheduling import services as scheduling_services
from spaces import services as spaces_services
from spaces.models import Invitation, Participant
from tests.factories import SpaceFactory, UserFactory
from tests.ticketing.conftest import buy
from ticketing import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(seller, space):
    scheduling_services.scheduled_space_start(actor=seller, space_id=space.pk)
    space.refresh_from_db()
    return space


def join(client, space):
    return client.post(f"/api/v1/spaces/{space.pk}/join")


def test_a_ticket_holder_joins_the_live_space(client_for, seller, space):
    holder = UserFactory()
    buy(space, holder)
    scheduling_services.scheduled_space_start(actor=seller, space_id=space.pk)

    response = join(client_for(holder), space)

    assert response.status_code == 200, response.json()
    assert Participant.objects.get(space=space, user=holder).state == "present"


def test_joining_without_a_ticket_is_refused(client_for, live):
    stranger = UserFactory()

    response = join(client_for(stranger), live)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ticket_required"
    assert not Participant.objects.filter(space=live, user=stranger).exists()


def test_the_detail_offers_join_to_a_ticket_holder_and_not_to_a_stranger(client_for, seller, space):
    holder, stranger = UserFactory(), UserFactory()
    buy(space, holder)
    scheduling_services.scheduled_space_start(actor=seller, space_id=space.pk)

    holder_can = client_for(holder).get(f"/api/v1/spaces/{space.pk}").json()["can"]
    stranger_can = client_for(stranger).get(f"/api/v1/spaces/{space.pk}").json()["can"]

    # The page enables Join exactly when the service would let them in.
    assert holder_can["join"] is True
    assert stranger_can["join"] is False
    assert join(client_for(stranger), space).json()["error"]["code"] == "ticket_required"


def test_a_reservation_that_was_never_paid_does_not_let_you_in(client_for, seller, space):
    buyer = UserFactory()
    services.ticket_reserve(buyer=buyer, space_id=space.pk, provider="offline")
    scheduling_services.scheduled_space_start(actor=seller, space_id=space.pk)

    response = join(client_for(buyer), space)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ticket_required"


def test_the_host_needs_no_ticket(client_for, seller, live):
    response = join(client_for(seller), live)

    assert response.status_code == 200


def test_a_guest_the_host_named_joins_without_a_ticket_and_can_co_host(client_for, seller, live):
    guest = UserFactory()
    client_for(seller).put(f"/api/v1/spaces/{live.pk}/tickets/guests/{guest.pk}")

    assert join(client_for(guest), live).status_code == 200
    cohost = Invitation.Kind.COHOST
    invitation, _ = spaces_services.invitation_create(
        actor=seller, space_id=live.pk, invitee_id=guest.pk, kind=cohost
    )
    spaces_services.invitation_accept(user=guest, space_id=live.pk, invitation_id=invitation.pk)
    assert Participant.objects.get(space=live, user=guest).role == Participant.Role.COHOST


def test_a_guest_taken_off_the_list_needs_a_ticket(client_for, seller, live):
    guest = UserFactory()
    client = client_for(seller)
    client.put(f"/api/v1/spaces/{live.pk}/tickets/guests/{guest.pk}")
    removed = client.delete(f"/api/v1/spaces/{live.pk}/tickets/guests/{guest.pk}")

    assert removed.status_code == 204
    assert join(client_for(guest), live).status_code == 403


def test_only_the_host_names_guests(client_for, live):
    stranger = UserFactory()

    response = client_for(stranger).put(f"/api/v1/spaces/{live.pk}/tickets/guests/{stranger.pk}")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_host"
    assert join(client_for(stranger), live).status_code == 403


def test_someone_invited_to_speak_gets_in_without_a_ticket(live):
    guest = UserFactory()
    Invitation.objects.create(
        space=live, kind=Invitation.Kind.SPEAKER, inviter=live.host, invitee=guest
    )

    participant = spaces_services.space_join(user=guest, space_id=live.pk)

    assert participant.state == Participant.State.PRESENT


def test_a_refunded_ticket_no_longer_lets_you_in(client_for, seller, space, clock):
    holder = UserFactory()
    order = buy(space, holder)
    order.state = "refunded"
    order.save(update_fields=["state"])
    scheduling_services.scheduled_space_start(actor=seller, space_id=space.pk)

    assert join(client_for(holder), space).status_code == 403


def test_a_space_that_is_not_ticketed_admits_anyone(client_for):
    space = SpaceFactory()

    assert join(client_for(UserFactory()), space).status_code == 200
