"""Profiles, follow, block and the follower/following lists under /api/v1/users/."""

from __future__ import annotations

import pytest

from accounts.models import Block, Follow, Notification
from tests.factories import BlockFactory, FollowFactory, UserFactory, make_followers
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


# --- Profile ----------------------------------------------------------------------------------


def test_profile_shows_counts_can_host_and_how_i_relate_to_them(auth_client, user, other_user):
    make_followers(other_user, 2)
    FollowFactory(follower=other_user, followee=user)

    response = auth_client.get("/api/v1/users/bob")

    assert response.status_code == 200
    assert response.json() == {
        "id": other_user.pk,
        "username": "bob",
        "display_name": "Bob",
        "bio": "",
        "follower_count": 2,
        "following_count": 1,
        "can_host": False,
        "is_followed": False,
        "follows_you": True,
        "is_blocked": False,
        "blocks_you": False,
    }


def test_profile_flags_follow_and_block_in_both_directions(auth_client, user, other_user):
    FollowFactory(follower=user, followee=other_user)
    carol = UserFactory(username="carol")
    BlockFactory(blocker=user, blocked=carol)
    dave = UserFactory(username="dave")
    BlockFactory(blocker=dave, blocked=user)

    bob = auth_client.get("/api/v1/users/bob").json()
    assert (bob["is_followed"], bob["is_blocked"], bob["blocks_you"]) == (True, False, False)
    carol_seen = auth_client.get("/api/v1/users/carol").json()
    assert (carol_seen["is_blocked"], carol_seen["blocks_you"]) == (True, False)
    dave_seen = auth_client.get("/api/v1/users/dave").json()
    assert (dave_seen["is_blocked"], dave_seen["blocks_you"]) == (False, True)


def test_profile_says_can_host_once_the_user_has_enough_followers(auth_client, host):
    response = auth_client.get("/api/v1/users/hostess")

    assert response.json()["can_host"] is True
    assert response.json()["follower_count"] == 600


def test_profile_lookup_ignores_the_case_of_the_username(auth_client, other_user):
    response = auth_client.get("/api/v1/users/BoB")

    assert response.status_code == 200
    assert response.json()["username"] == "bob"


def test_profile_of_an_unknown_user_is_404(auth_client):
    assert_error(auth_client.get("/api/v1/users/nobody"), 404, "not_found")


def test_profile_of_an_inactive_user_is_404(auth_client):
    UserFactory(username="gone", is_active=False)

    assert_error(auth_client.get("/api/v1/users/gone"), 404, "not_found")


def test_profile_needs_authentication(api_client, other_user):
    response = api_client.get("/api/v1/users/bob")

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"]


def test_profile_takes_one_query_however_many_followers(
    django_assert_num_queries, auth_client, other_user
):
    make_followers(other_user, 2)
    with django_assert_num_queries(1):
        assert auth_client.get("/api/v1/users/bob").json()["follower_count"] == 2

    make_followers(other_user, 40, prefix="more-")
    with django_assert_num_queries(1):
        assert auth_client.get("/api/v1/users/bob").json()["follower_count"] == 42


# --- Follow -----------------------------------------------------------------------------------


def test_follow_answers_201_with_the_updated_profile_and_notifies_them(
    auth_client, user, other_user
):
    response = auth_client.post("/api/v1/users/bob/follow")

    assert response.status_code == 201
    assert response.json()["is_followed"] is True
    assert response.json()["follower_count"] == 1
    assert Follow.objects.filter(follower=user, followee=other_user).count() == 1
    notification = Notification.objects.get(recipient=other_user)
    assert notification.kind == Notification.Kind.FOLLOW
    assert notification.payload["user"] == "alice"


def test_following_twice_answers_200_and_keeps_one_follow_and_one_notification(
    auth_client, user, other_user
):
    first = auth_client.post("/api/v1/users/bob/follow")
    second = auth_client.post("/api/v1/users/bob/follow")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["is_followed"] is True
    assert second.json()["follower_count"] == 1
    assert Follow.objects.filter(follower=user, followee=other_user).count() == 1
    assert Notification.objects.filter(recipient=other_user).count() == 1


def test_follow_lookup_ignores_the_case_of_the_username(auth_client, user, other_user):
    response = auth_client.post("/api/v1/users/BOB/follow")

    assert response.status_code == 201
    assert Follow.objects.filter(follower=user, followee=other_user).exists()


@pytest.mark.parametrize("spelling", ["alice", "ALICE"])
def test_following_yourself_is_400_cannot_follow_self(auth_client, spelling):
    assert_error(auth_client.post(f"/api/v1/users/{spelling}/follow"), 400, "cannot_follow_self")
    assert not Follow.objects.exists()


def test_following_someone_who_blocked_you_is_403_blocked(auth_client, user, other_user):
    BlockFactory(blocker=other_user, blocked=user)

    assert_error(auth_client.post("/api/v1/users/bob/follow"), 403, "blocked")
    assert not Follow.objects.exists()
    assert not Notification.objects.exists()


def test_following_someone_you_blocked_is_403_you_blocked(auth_client, user, other_user):
    BlockFactory(blocker=user, blocked=other_user)

    assert_error(auth_client.post("/api/v1/users/bob/follow"), 403, "you_blocked")
    assert not Follow.objects.exists()


def test_following_an_unknown_or_inactive_user_is_404(auth_client):
    UserFactory(username="gone", is_active=False)

    assert_error(auth_client.post("/api/v1/users/nobody/follow"), 404, "not_found")
    assert_error(auth_client.post("/api/v1/users/gone/follow"), 404, "not_found")
    assert not Follow.objects.exists()


def test_follow_needs_authentication(api_client, other_user):
    assert_error(api_client.post("/api/v1/users/bob/follow"), 401, "not_authenticated")
    assert_error(api_client.delete("/api/v1/users/bob/follow"), 401, "not_authenticated")
    assert not Follow.objects.exists()


def test_unfollow_answers_204_and_again_204(auth_client, user, other_user):
    FollowFactory(follower=user, followee=other_user)

    first = auth_client.delete("/api/v1/users/bob/follow")
    second = auth_client.delete("/api/v1/users/bob/follow")

    assert (first.status_code, second.status_code) == (204, 204)
    assert first.content == b""
    assert not Follow.objects.exists()


def test_unfollow_leaves_other_follows_alone(auth_client, user, other_user):
    FollowFactory(follower=user, followee=other_user)
    FollowFactory(follower=other_user, followee=user)
    carol = UserFactory(username="carol")
    FollowFactory(follower=user, followee=carol)

    auth_client.delete("/api/v1/users/bob/follow")

    pairs = set(Follow.objects.values_list("follower__username", "followee__username"))
    assert pairs == {("bob", "alice"), ("alice", "carol")}


def test_unfollowing_an_unknown_user_is_404(auth_client):
    assert_error(auth_client.delete("/api/v1/users/nobody/follow"), 404, "not_found")


# --- Block ------------------------------------------------------------------------------------


def test_block_answers_201_and_removes_follows_both_ways(auth_client, user, other_user):
    FollowFactory(follower=user, followee=other_user)
    FollowFactory(follower=other_user, followee=user)

    response = auth_client.post("/api/v1/users/bob/block")

    assert response.status_code == 201
    body = response.json()
    assert (body["is_blocked"], body["is_followed"], body["follows_you"]) == (True, False, False)
    assert Block.objects.filter(blocker=user, blocked=other_user).exists()
    assert not Follow.objects.exists()


def test_blocking_twice_answers_200_and_keeps_one_block(auth_client, user, other_user):
    first = auth_client.post("/api/v1/users/bob/block")
    second = auth_client.post("/api/v1/users/bob/block")

    assert (first.status_code, second.status_code) == (201, 200)
    assert Block.objects.filter(blocker=user, blocked=other_user).count() == 1


def test_blocked_user_can_no_longer_follow_the_blocker(auth_client, client_for, other_user):
    auth_client.post("/api/v1/users/bob/block")

    response = client_for(other_user).post("/api/v1/users/alice/follow")

    assert_error(response, 403, "blocked")


def test_blocking_yourself_is_400_cannot_block_self(auth_client):
    assert_error(auth_client.post("/api/v1/users/Alice/block"), 400, "cannot_block_self")
    assert not Block.objects.exists()


def test_blocking_an_unknown_user_is_404(auth_client):
    assert_error(auth_client.post("/api/v1/users/nobody/block"), 404, "not_found")
    assert_error(auth_client.delete("/api/v1/users/nobody/block"), 404, "not_found")


def test_block_needs_authentication(api_client, other_user):
    assert_error(api_client.post("/api/v1/users/bob/block"), 401, "not_authenticated")
    assert_error(api_client.delete("/api/v1/users/bob/block"), 401, "not_authenticated")
    assert not Block.objects.exists()


def test_unblock_answers_204_twice_and_lets_them_follow_again(
    auth_client, client_for, user, other_user
):
    BlockFactory(blocker=user, blocked=other_user)

    first = auth_client.delete("/api/v1/users/BOB/block")
    second = auth_client.delete("/api/v1/users/bob/block")

    assert (first.status_code, second.status_code) == (204, 204)
    assert not Block.objects.exists()
    assert client_for(other_user).post("/api/v1/users/alice/follow").status_code == 201


def test_unblock_leaves_the_other_persons_block_in_place(auth_client, user, other_user):
    BlockFactory(blocker=user, blocked=other_user)
    BlockFactory(blocker=other_user, blocked=user)

    auth_client.delete("/api/v1/users/bob/block")

    assert list(Block.objects.values_list("blocker__username", flat=True)) == ["bob"]


# --- Follower and following lists -------------------------------------------------------------


def test_followers_lists_people_newest_first_with_my_relation_to_each(
    auth_client, user, other_user
):
    carol = UserFactory(username="carol")
    dave = UserFactory(username="dave")
    FollowFactory(follower=carol, followee=other_user)
    FollowFactory(follower=dave, followee=other_user)
    FollowFactory(follower=user, followee=carol)  # I follow carol
    FollowFactory(follower=dave, followee=user)  # dave follows me

    response = auth_client.get("/api/v1/users/bob/followers")

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert [p["username"] for p in body["results"]] == ["dave", "carol"]
    dave_row, carol_row = body["results"]
    assert (dave_row["id"], carol_row["id"]) == (dave.pk, carol.pk)
    assert (carol_row["is_followed"], carol_row["follows_you"]) == (True, False)
    assert (dave_row["is_followed"], dave_row["follows_you"]) == (False, True)
    assert dave_row["following_count"] == 2
    assert carol_row["follower_count"] == 1
    assert dave_row["followed_at"]


def test_following_lists_whom_the_user_follows(auth_client, other_user):
    for name in ("carol", "dave", "erin"):
        FollowFactory(follower=other_user, followee=UserFactory(username=name))

    response = auth_client.get("/api/v1/users/Bob/following")

    assert response.status_code == 200
    assert [p["username"] for p in response.json()["results"]] == ["erin", "dave", "carol"]


def test_follow_lists_leave_out_inactive_users(auth_client, other_user):
    FollowFactory(follower=UserFactory(username="gone", is_active=False), followee=other_user)
    FollowFactory(follower=other_user, followee=UserFactory(username="left", is_active=False))

    assert auth_client.get("/api/v1/users/bob/followers").json()["results"] == []
    assert auth_client.get("/api/v1/users/bob/following").json()["results"] == []


def test_followers_are_paged_by_cursor_without_gaps_or_repeats(auth_client, other_user):
    fans = make_followers(other_user, 7)

    seen: list[str] = []
    url = "/api/v1/users/bob/followers?page_size=3"
    pages = 0
    while url:
        body = auth_client.get(url).json()
        assert len(body["results"]) <= 3
        seen.extend(p["username"] for p in body["results"])
        url = body["next"]
        pages += 1

    assert pages == 3
    assert sorted(seen) == sorted(f.username for f in fans)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("which", ["followers", "following"])
def test_follow_lists_take_three_queries_however_long_the_page(
    django_assert_num_queries, auth_client, other_user, which
):
    def grow(count: int, prefix: str) -> None:
        for i in range(count):
            person = UserFactory(username=f"{prefix}{i}")
            if which == "followers":
                FollowFactory(follower=person, followee=other_user)
            else:
                FollowFactory(follower=other_user, followee=person)
            make_followers(person, 2, prefix=f"{prefix}{i}-fan-")

    grow(2, "few")
    # the user, the page of follows, the people on it with their counts and flags
    with django_assert_num_queries(3):
        assert len(auth_client.get(f"/api/v1/users/bob/{which}").json()["results"]) == 2

    grow(25, "many")
    with django_assert_num_queries(3):
        rows = auth_client.get(f"/api/v1/users/bob/{which}").json()["results"]
    assert len(rows) == 27
    # each listed person has their 2 fans, plus bob when bob follows them
    assert {row["follower_count"] for row in rows} == {2 if which == "followers" else 3}


@pytest.mark.parametrize("which", ["followers", "following"])
def test_follow_lists_of_someone_who_blocked_you_are_403_blocked(
    auth_client, user, other_user, which
):
    BlockFactory(blocker=other_user, blocked=user)

    assert_error(auth_client.get(f"/api/v1/users/bob/{which}"), 403, "blocked")


@pytest.mark.parametrize("which", ["followers", "following"])
def test_follow_lists_of_an_unknown_user_are_404(auth_client, which):
    assert_error(auth_client.get(f"/api/v1/users/nobody/{which}"), 404, "not_found")


@pytest.mark.parametrize("which", ["followers", "following"])
def test_follow_lists_need_authentication(api_client, other_user, which):
    assert_error(api_client.get(f"/api/v1/users/bob/{which}"), 401, "not_authenticated")


def test_a_forged_cursor_is_404_not_found(auth_client, other_user):
    response = auth_client.get("/api/v1/users/bob/followers?cursor=not-a-cursor")

    assert_error(response, 404, "not_found")
