from __future__ import annotations

import factory
from django.contrib.auth.hashers import make_password

from accounts.models import Block, Follow, Notification, User

PASSWORD = "correct-horse-battery"
_HASHED: dict[str, str] = {}


def _hashed(password: str) -> str:
    # Hashing once per run keeps factories fast even with the production hasher.
    if password not in _HASHED:
        _HASHED[password] = make_password(password)
    return _HASHED[password]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    display_name = factory.LazyAttribute(lambda u: u.username.title())
    password = factory.LazyFunction(lambda: _hashed(PASSWORD))


class FollowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Follow

    follower = factory.SubFactory(UserFactory)
    followee = factory.SubFactory(UserFactory)


class BlockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Block

    blocker = factory.SubFactory(UserFactory)
    blocked = factory.SubFactory(UserFactory)


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    kind = Notification.Kind.FOLLOW
    payload = factory.LazyFunction(dict)


def make_followers(user: User, count: int, *, prefix: str | None = None) -> list[User]:
    """Bulk-create `count` users who follow `user`: two INSERTs, not 2 x count."""
    prefix = prefix or f"fan-of-{user.username}-"
    password = _hashed(PASSWORD)
    fans = User.objects.bulk_create(
        [
            User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com", password=password)
            for i in range(count)
        ]
    )
    if fans and fans[0].pk is None:  # backends that do not return ids from bulk_create
        fans = list(User.objects.filter(username__startswith=prefix).order_by("pk"))
    Follow.objects.bulk_create([Follow(follower=fan, followee=user) for fan in fans])
    return fans
