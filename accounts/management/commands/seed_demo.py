"""Demo data for a fresh checkout: a few named people, two hosts with real audiences.

Idempotent: each run converges on the same rows (users by username, follows by the unique
pair, a conversation once per pair), so running it twice changes nothing. Passwords are set
only when a user is created, so a second run does not end the sessions of people already logged
in. Fast: the password is hashed once, and the fans and their follows are written with a
handful of bulk INSERTs.
"""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q

from accounts.models import DirectMessage, Follow, User
from accounts.services import direct_message_send, direct_messages_mark_read, follow_create
from spaces_project.errors import ApplicationError

PASSWORD = "spaces-demo"
FANS = 1000
SITE_URL = "http://127.0.0.1:8000"

PEOPLE: list[dict[str, Any]] = [
    {
        "username": "ada",
        "display_name": "Ada Lovelace",
        "bio": "Host. Notes on the Analytical Engine, poetical science and what machines "
        "might compose. Live most Thursdays.",
    },
    {
        "username": "grace",
        "display_name": "Grace Hopper",
        "bio": "Host. Compilers, COBOL and nanoseconds. Ask me about the first actual bug.",
    },
    {
        "username": "linus",
        "display_name": "Linus",
        "bio": "Listener. Kernels, coffee and code review.",
    },
    {
        "username": "margaret",
        "display_name": "Margaret Hamilton",
        "bio": "Listener. Software engineering, from Apollo onwards.",
    },
]

# Which fans follow whom (1-based, inclusive): enough for both hosts to clear the bar,
# with an overlap, and a few for the listeners so "Who to follow" has a ranking. Ada clears the
# bar to sell tickets too (SPACES_TICKETED_MIN_FOLLOWERS; `manage.py seed_tickets`).
AUDIENCES = {
    "ada": (1, 1000),
    "grace": (301, 960),
    "linus": (1, 48),
    "margaret": (600, 631),
}
# Named people following each other, through the service (so they notify, as in real use).
FRIENDSHIPS = [
    ("linus", "ada"),
    ("margaret", "ada"),
    ("margaret", "grace"),
    ("grace", "ada"),
    ("ada", "grace"),
]
# Conversations for the inbox, each message in order through the service (it notifies, as in
# real use); whoever replies has read what came before, so only the last message is unread.
# Seeded once per pair: a pair that already has messages is left as it is. (Grace shares a
# Space with Linus in `seed_tickets`: Spaces sit above accounts.)
CONVERSATIONS: list[list[tuple[str, str, str]]] = [
    [
        (
            "linus",
            "ada",
            "Loved your Space on the Analytical Engine. "
            "Will you ever go through the Notes, line by line?",
        ),
        (
            "ada",
            "linus",
            "Funny you ask: I'm scheduling exactly that. Bring your Note G questions!",
        ),
    ],
    [
        ("margaret", "grace", "May I borrow one of your nanoseconds for a talk on Apollo?"),
        ("grace", "margaret", "Take two, they're cheap. The wire is in the mail."),
    ],
]


def fan_username(n: int) -> str:
    return f"fan{n:04d}"


class Command(BaseCommand):
    help = "Create demo users (hosts with 600+ followers, listeners, an admin). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        password = make_password(PASSWORD)
        with transaction.atomic():
            people = self._people(password)
            self._fans(password)
            self._audiences()
        for follower, followee in FRIENDSHIPS:
            try:
                follow_create(follower=people[follower], followee=people[followee])
            except ApplicationError as error:  # e.g. someone blocked the other while demoing
                self.stderr.write(f"  skipped {follower} → {followee}: {error.message}")
        self._conversations(people)
        self._report()

    def _people(self, password: str) -> dict[str, User]:
        people: dict[str, User] = {}
        for person in PEOPLE:
            fields = {
                "display_name": person["display_name"],
                "bio": person["bio"],
                "email": f"{person['username']}@example.com",
                "is_active": True,
            }
            user, _ = User.objects.update_or_create(
                username=person["username"],
                defaults=fields,
                create_defaults={**fields, "password": password},
            )
            people[user.username] = user
        fields = {
            "display_name": "Spaces Admin",
            "email": "admin@example.com",
            "is_active": True,
            "is_staff": True,
            "is_superuser": True,
        }
        admin, _ = User.objects.update_or_create(
            username="admin", defaults=fields, create_defaults={**fields, "password": password}
        )
        # Log in by e-mail works through allauth's address book as well as User.email.
        for user in [*people.values(), admin]:
            EmailAddress.objects.update_or_create(
                user=user, email=user.email, defaults={"verified": True, "primary": True}
            )
        return people

    def _fans(self, password: str) -> None:
        wanted = {fan_username(n) for n in range(1, FANS + 1)}
        existing = set(User.objects.filter(username__in=wanted).values_list("username", flat=True))
        User.objects.bulk_create(
            [
                User(
                    username=username,
                    email=f"{username}@example.com",
                    display_name=f"Fan {username[3:]}",
                    password=password,
                )
                for username in sorted(wanted - existing)
            ],
            batch_size=500,
            ignore_conflicts=True,
        )

    def _audiences(self) -> None:
        names = [*AUDIENCES, *(fan_username(n) for n in range(1, FANS + 1))]
        ids = dict(User.objects.filter(username__in=names).values_list("username", "pk"))
        Follow.objects.bulk_create(
            [
                Follow(follower_id=ids[fan_username(n)], followee_id=ids[host])
                for host, (first, last) in AUDIENCES.items()
                for n in range(first, last + 1)
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )

    def _conversations(self, people: dict[str, User]) -> None:
        for conversation in CONVERSATIONS:
            first, second = (people[name] for name in conversation[0][:2])
            pair = Q(sender=first, recipient=second) | Q(sender=second, recipient=first)
            if DirectMessage.objects.filter(pair).exists():
                continue
            for n, (sender, recipient, body) in enumerate(conversation):
                try:
                    if n:  # a reply: its sender has read what came before
                        direct_messages_mark_read(user=people[sender], other=people[recipient])
                    direct_message_send(
                        sender=people[sender], recipient=people[recipient], body=body
                    )
                except ApplicationError as error:  # e.g. a block made while demoing
                    self.stderr.write(f"  skipped {sender} ✉ {recipient}: {error.message}")
                    break

    def _report(self) -> None:
        counts = dict(
            User.objects.filter(username__in=[p["username"] for p in PEOPLE])
            .with_follow_counts()
            .values_list("username", "follower_count")
        )
        bar = settings.SPACES_HOST_MIN_FOLLOWERS
        out = self.stdout
        out.write(self.style.SUCCESS("Demo data is ready."))
        out.write("")
        out.write(f"  Open {SITE_URL} and log in with one of these (password: {PASSWORD})")
        out.write("")
        for person in PEOPLE:
            name = person["username"]
            role = "host" if counts.get(name, 0) >= bar else "listener"
            out.write(f"    {name:<10} {role:<9} {counts.get(name, 0):>5} followers")
        out.write(f"    {'admin':<10} staff     admin site at {SITE_URL}/admin/")
        out.write(f"    {fan_username(1)} … {fan_username(FANS)}  listeners (same password)")
        out.write("")
        out.write("  Log in with the username or with <username>@example.com.")
        out.write(f"  linus has unread messages: {SITE_URL}/messages/")
