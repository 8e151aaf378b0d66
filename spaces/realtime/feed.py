"""The home feed socket, /ws/feed/: new notifications, and the live bubbles of people you follow.

Subscribe-side fan-out: on connect the socket joins `user.<id>` (its notifications),
`following.<id>` for up to `SPACES_FEED_MAX_FOLLOWED` people it follows (hosts first, then the
most recently followed), and `bubble.space.<id>` for each Space its bubble shows. When a Space
starts or ends, or someone goes on or off a stage, a small `bubbles.changed` hint goes to those
groups with the event (spaces/realtime/hints.py); the socket then re-reads the viewer's bubble (two
queries, and one more for the ticket badges when one is ticketed: spaces.hooks; at most once per
`SPACES_FEED_DEBOUNCE_MS`) and sends `bubbles` only if it changed. A
periodic refresh (`SPACES_FEED_REFRESH_SECONDS`) catches what hints cannot: follows made since
connecting, followed people beyond the cap, and listener counts.

Why not publish-side fan-out (one message per follower when a host goes live)? A host with
100,000 followers would cost 100,000 group sends per stage change, mostly to people who are not
online; here the cost is one hint per group, reaching only the feed sockets that are open.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import Follow, User
from spaces.models import Space
from spaces.realtime import hints, protocol
from spaces.realtime.consumers import peek_id, revocation_close, socket_user, user_wait
from spaces.realtime.protocol import Close, ProtocolError
from spaces_project import bus, layers
from spaces_project.dbthreads import socket_db
from spaces_project.languages import language_for_scope

logger = logging.getLogger(__name__)

MAX_BUBBLES = 50


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


class FeedConsumer(AsyncJsonWebsocketConsumer):
    user: User

    async def connect(self) -> None:
        translation.activate(language_for_scope(self.scope))
        self.joined: set[str] = set()
        self.alerts_wanted: set[int] = set()
        self.last_bubbles: str | None = None
        self.pending: asyncio.Task[None] | None = None
        self.refresher: asyncio.Task[None] | None = None
        self.unhook: Callable[[], None] = lambda: None
        self.bucket = protocol.bucket()
        self.closing = False
        await self.accept()
        user = socket_user(self.scope)
        if user is None:
            self.closing = True
            await self.send_json(protocol.error_message("not_authenticated", _("Sign in first.")))
            await self.close(int(Close.NOT_AUTHENTICATED))  # exactly int: autobahn
            return
        self.user = user
        await self.join(bus.user_group(user.pk))
        await self.sync_groups(await self.followed_ids())
        await self.send_bubbles(force=True)
        self.refresher = asyncio.get_running_loop().create_task(self.refresh_forever())
        # Hints published while Redis was away are lost: re-read the bubbles when it is back.
        self.unhook = layers.on_resubscribed(self.channel_layer, self.resubscribed)

    async def resubscribed(self) -> None:
        await self.bubbles_changed({})

    async def disconnect(self, code: int) -> None:
        self.closing = True
        self.unhook()
        for task in (self.pending, self.refresher):
            if task is not None:
                task.cancel()
        for group in list(self.joined):
            await self.leave(group)

    async def join(self, group: str) -> None:
        if group not in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.add(group)

    async def leave(self, group: str) -> None:
        if group in self.joined:
            self.joined.discard(group)
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.warning("feed: could not leave %s", group, exc_info=True)

    async def sync_groups(self, followed: list[int], space_ids: list[int] | None = None) -> None:
        wanted = {hints.following_group(uid) for uid in followed}
        current = {g for g in self.joined if g.startswith("following.")}
        if space_ids is not None:
            wanted |= {hints.bubble_space_group(sid) for sid in space_ids}
            current |= {g for g in self.joined if g.startswith("bubble.space.")}
        for group in sorted(current - wanted):
            await self.leave(group)
        for group in sorted(wanted - current):
            await self.join(group)

    # -- database -----------------------------------------------------------------------------

    @socket_db
    def followed(self) -> list[tuple[int, str, bool]]:
        """(followee id, the bell on them, the viewer's go-live alert switch) per follow."""
        hosted = Exists(Space.objects.filter(host=OuterRef("followee")))
        cap = int(_setting("SPACES_FEED_MAX_FOLLOWED", 500))
        return list(
            Follow.objects.filter(follower=self.user, followee__is_active=True)
            .annotate(hosted=hosted)
            .order_by("-hosted", "-created_at", "-id")
            .values_list("followee_id", "alerts", "follower__live_alerts")[:cap]
        )

    async def followed_ids(self) -> list[int]:
        rows = await self.followed()
        # Whose `alert.live` this viewer wants (alerts/): read with the follows, never per alert.
        self.alerts_wanted = {uid for uid, bell, on in rows if on and bell == Follow.Alerts.ALL}
        return [uid for uid, _, _ in rows]

    @socket_db
    def bubbles(self) -> tuple[list[dict[str, Any]], list[int]]:
        from spaces.selectors import space_list_following
        from spaces.serializers import bubbles_data

        spaces = list(space_list_following(viewer=self.user)[:MAX_BUBBLES])
        data = json.loads(json.dumps(bubbles_data(spaces, self.user), default=str))
        return data, [s.pk for s in spaces]

    # -- bubbles ------------------------------------------------------------------------------

    async def send_bubbles(self, *, force: bool = False) -> None:
        data, space_ids = await self.bubbles()
        await self.sync_groups(
            [int(g.split(".")[1]) for g in self.joined if g.startswith("following.")], space_ids
        )
        text = json.dumps(data, sort_keys=True)
        if force or text != self.last_bubbles:
            self.last_bubbles = text
            if not self.closing:
                await self.send_json({"type": "bubbles", "spaces": data})

    async def bubbles_changed(self, message: dict[str, Any]) -> None:
        if self.pending is None or self.pending.done():
            self.pending = asyncio.get_running_loop().create_task(self._debounced())

    async def _debounced(self) -> None:
        await asyncio.sleep(_setting("SPACES_FEED_DEBOUNCE_MS", 300) / 1000.0)
        try:
            await self.send_bubbles()
        except Exception:
            logger.exception("feed: could not refresh the bubbles of %s", self.user.pk)

    async def refresh_forever(self) -> None:
        interval = _setting("SPACES_FEED_REFRESH_SECONDS", 60)
        while not self.closing:
            await asyncio.sleep(interval)
            try:
                await self.sync_groups(await self.followed_ids())
                await self.send_bubbles()
            except Exception:
                logger.exception("feed: periodic refresh failed for %s", self.user.pk)

    # -- events and messages ------------------------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        ending = revocation_close(self.scope, message)
        if ending is not None:
            await self.close_for(*ending)
            return
        if message.get("type") in ("session.revoked", "user.banned"):
            return  # another session's logout: not for this socket, nor for the client
        handler = getattr(self, get_handler_name(message), None)
        if handler is not None:
            await handler(message)
        elif "text" in message:
            await self.forward(message)  # anything else addressed to this user
        else:
            logger.warning("feed: no handler for %s", message.get("type"))

    async def close_for(self, error: dict[str, Any], code: int) -> None:
        if self.closing:
            return
        self.closing = True
        await self.send_json(error)
        await self.close(int(code))  # exactly int: autobahn

    async def forward(self, message: dict[str, Any]) -> None:
        if not self.closing:
            await self.send(text_data=message["text"])

    async def notification_created(self, message: dict[str, Any]) -> None:
        await self.forward(message)

    async def alert_live(self, message: dict[str, Any]) -> None:
        """A followed host went live (alerts/services.py): one message to `following.<host>`,
        shown only to a viewer whose bell on the host and global switch are on."""
        host = (message.get("event") or {}).get("host") or {}
        if host.get("id") in self.alerts_wanted:
            await self.forward(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        wait = self.bucket.take() or await user_wait(self.user.pk)
        if wait:
            await self.send_json(
                protocol.error_message(
                    "rate_limited",
                    _("Too many messages; slow down."),
                    request_id=peek_id(text_data),
                    retry_after=wait,
                )
            )
            return
        try:
            incoming = protocol.parse(text_data, bytes_data, protocol.FEED_SCHEMAS)
        except ProtocolError as exc:
            await self.send_json(
                protocol.error_message(
                    exc.code, exc.message, request_id=exc.request_id, fields=exc.fields
                )
            )
            return
        if incoming.action == "bubbles":
            await self.send_bubbles(force=True)
        await self.send_json(protocol.ack_message(incoming.request_id, incoming.action, {}))
