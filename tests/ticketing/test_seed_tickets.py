"""`manage.py seed_tickets` after `seed_demo`: a demo host who may sell, one Space on sale,
the same rows however often it runs."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.models import DirectMessage, User
from ticketing.models import Guest, TicketOffer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _real_bars(settings):
    # The ticketing conftest lowers the bars; the demo must clear the real ones.
    settings.SPACES_HOST_MIN_FOLLOWERS = 600
    settings.SPACES_TICKETED_MIN_FOLLOWERS = 1000


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=StringIO(), stderr=StringIO())
    call_command("seed_tickets", stdout=out, stderr=out)
    return out.getvalue()


def test_the_demo_has_a_host_who_may_sell_and_a_space_on_sale():
    output = seed()

    ada = User.objects.with_follow_counts().get(username="ada")
    assert ada.follower_count >= settings.SPACES_TICKETED_MIN_FOLLOWERS
    offer = TicketOffer.objects.select_related("space").get()
    assert offer.space.host == ada
    assert offer.space.state == "scheduled"
    assert offer.space.is_ticketed
    assert Guest.objects.filter(offer=offer, user__username="grace").exists()
    assert f"/spaces/{offer.pk}/tickets/" in output


def test_seeding_twice_keeps_one_space_on_sale():
    seed()
    seed()

    assert TicketOffer.objects.count() == 1
    assert (
        DirectMessage.objects.filter(sender__username="grace", recipient__username="linus").count()
        == 1
    )


def test_grace_shares_the_space_on_sale_with_linus_as_a_card_in_his_inbox(client):
    seed()

    offer = TicketOffer.objects.get()
    [shared] = DirectMessage.objects.filter(sender__username="grace", recipient__username="linus")
    assert shared.attachment == {"space_id": offer.space_id}
    assert not shared.is_read

    client.force_login(User.objects.get(username="linus"))
    thread = client.get("/messages/grace/").content.decode()
    # The card leads to the schedule page of the Space, which is not live yet.
    assert f'href="/spaces/scheduled/{offer.space_id}/"' in thread
    assert offer.space.title in thread
