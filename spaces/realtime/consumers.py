"""The Space socket, /ws/spaces/<id>/: room events out, room actions and signaling in.

Opening the socket joins the Space (as a listener, or back into the role the user still holds),
then the server sends `space.state`. Closing it does not leave: presence is a heartbeat timestamp
that the server refreshes while a socket is open (spaces/realtime/hub.py), so a reload or a network
blip keeps a speaker on stage, and the presence sweep (spaces/realtime/presence.py) lets go of
people whose sockets are gone. Leaving is the `leave` action (docs/realtime.md).

Without an account (issue 20) the socket is a guest's: for a live, public, non-ticketed Space
whose host lets guests in, it sends the room as anyone sees it (`space.state` with `guest: true`
and the live HLS playlist) and every room event, takes `heartbeat` and `snapshot`, and answers
every other action `sign_in_required`. A guest is no participant: the hub counts guest sockets
(spaces/realtime/guests.py), within limits per client address.

ORM work happens only in the small `database_sync_to_async` methods; room events reach the socket
through the process's hub, never through a database call.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import User
from spaces.permissions import guest_refusal
from spaces.realtime import guests, limits, protocol, wsframes
from spaces.realtime.hub import hub
from spaces.realtime.protocol import Close, Incoming, ProtocolError, SignalContext
from spaces_project.dbthreads import socket_db
from spaces_project.errors import ApplicationError
from spaces_project.languages import language_for_scope
from spaces_project.ws_auth import client_address

logger = logging.getLogger(__name__)

FLOOD_LIMIT = 50  # rate-limited messages in a row before the socket is closed
SELF_REFRESH_DELAY = 0.05

# Events after which the subject's own view (role, `can`, open hand or invitation) is re-sent.
REFRESHES_SUBJECT = frozenset(
    {
        "role.changed",
        "cohost.added",
        "cohost.removed",
        "hand.raised",
        "hand.withdrawn",
        "request.approved",
        "request.denied",
        "speaker.invited",
        "cohost.invited",
        "invitation.declined",
        "participant.muted",
        "participant.unmuted",
    }
)


def socket_user(scope: dict[str, Any]) -> User | None:
    user: Any = scope.get("user")
    user = getattr(user, "_wrapped", user)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def revocation_close(
    scope: dict[str, Any], message: dict[str, Any]
) -> tuple[dict[str, Any], int] | None:
    """The error and close code a message on the user's group ends this socket with, if any:
    a logout of the session that signed the socket in (4401; the user's other sessions stay),
    or a ban (4403, every socket). accounts/services.py publishes both after commit."""
    kind = message.get("type")
    if kind == "session.revoked":
        session = message.get("event", {}).get("session")
        if session and session == scope.get("auth_session"):
            return (
                protocol.error_message("not_authenticated", _("You signed out; sign in again.")),
                Close.NOT_AUTHENTICATED,
            )
    elif kind == "user.banned":
        return banned_close()
    return None


def banned_close() -> tuple[dict[str, Any], int]:
    return (
        protocol.error_message("account_disabled", _("This account has been disabled.")),
        Close.FORBIDDEN,
    )


def subject_id(event: dict[str, Any]) -> int | None:
    """The user an event is about, if any."""
    for path in (
        ("participant", "user", "id"),
        ("user", "id"),
        ("request", "user", "id"),
        ("invitation", "invitee", "id"),
    ):
        value: Any = event
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int):
            return value
    return None


class SpaceConsumer(AsyncJsonWebsocketConsumer):
    # Room events that need more than forwarding, by event type (the rest: `forward`).
    room_handlers = {
        "participant.removed": "participant_removed",
        "participant.left": "participant_left",
        "space.ended": "space_ended",
        "guests.changed": "guests_changed",
    }

    user: User
    user_id: int = 0  # 0 until signed in; stays 0 for a guest (hub.GUEST)
    space_id: int
    guest: bool = False

    async def connect(self) -> None:
        # For the rest of this socket's task: its refusals and `error` frames, and the services
        # its actions run (their threads copy the context), speak the person's language.
        translation.activate(language_for_scope(self.scope))
        self.space_id = int(self.scope["url_route"]["kwargs"]["space_id"])
        self.user_id = 0
        self.seat: limits.Seat | None = None
        self.bucket = protocol.bucket()
        self.flooding = 0
        self.floor = 0  # seq of the newest snapshot sent: older events are in it
        self.building = 0  # snapshots being built: events wait in `held` meanwhile
        self.held: list[dict[str, Any]] = []
        self.last_state: dict[str, Any] | None = None  # the newest snapshot sent, without `id`
        self.subscribed = False
        self.closing = False
        self.leaving = False
        self.in_action = False
        # People this user blocked: their comments reach this socket as `hidden` stubs, which
        # keep the `seq` numbering whole (a dropped event would read as a gap).
        self.hidden_authors: frozenset[int] = frozenset()
        self.deferred_close: tuple[dict[str, Any], int] | None = None
        self.refresh_task: asyncio.Task[None] | None = None
        self.refresh_wanted = False
        # Under Daphne: room events go out as the frame the hub built once
        # (spaces/realtime/wsframes.py).
        self.write_frame: wsframes.FrameWriter | None = self.scope.get(wsframes.SCOPE_KEY)
        await self.accept()
        user = socket_user(self.scope)
        if user is None and self.scope.get("credentials_refused"):
            # A bad token, or a cookie without Origin: the client meant to sign in.
            await self.refuse(
                protocol.error_message("not_authenticated", _("Sign in first.")),
                Close.NOT_AUTHENTICATED,
            )
            return
        if user is None:
            await self.connect_guest()
            return
        seat = await sync_to_async(limits.seat_take, thread_sensitive=False)(self.space_id, user.pk)
        if seat is None:
            await self.refuse(
                protocol.error_message(
                    "too_many_sockets",
                    _("At most %(count)s open sockets per Space; close one first.")
                    % {"count": limits.max_sockets()},
                ),
                Close.TOO_MANY_SOCKETS,
            )
            return
        self.seat = seat
        self.user, self.user_id = user, user.pk
        # Subscribe before reading seq and the database: nothing can fall between the two.
        self.building += 1
        await self.subscribe()
        try:
            state = await self.join_and_snapshot()
        except ApplicationError as exc:
            self.building -= 1
            await self.refuse(protocol.error_from(exc), protocol.close_code_for(exc))
            return
        except Exception:
            # Never leave a socket in the hub that no `disconnect` will take out (its presence
            # would be refreshed for ever).
            logger.exception("space %s: could not open a socket for %s", self.space_id, user.pk)
            self.building -= 1
            await self.refuse(
                protocol.error_message("internal", _("Something went wrong; reconnect.")), 1011
            )
            return
        await self.send_state(state)

    async def connect_guest(self) -> None:
        """A socket without an account: a listen-only guest, if the Space takes guests and the
        address is within its limits (spaces/realtime/guests.py); else an `error` and a close
        (docs/realtime.md, "Guests")."""
        self.guest = True
        address = client_address(self.scope)
        try:
            await sync_to_async(guests.connect_take, thread_sensitive=False)(address)
        except ApplicationError as exc:
            await self.refuse(protocol.error_from(exc), Close.TOO_MANY_MESSAGES)
            return
        seat = await sync_to_async(guests.seat_take, thread_sensitive=False)(self.space_id, address)
        if seat is None:
            await self.refuse(
                protocol.error_message(
                    "too_many_sockets",
                    _(
                        "At most %(count)s guest sockets per address in a Space; close one "
                        "first, or sign in."
                    )
                    % {"count": guests.max_sockets_per_address()},
                ),
                Close.TOO_MANY_SOCKETS,
            )
            return
        self.seat = seat
        self.building += 1
        await self.subscribe()
        try:
            state = await self.guest_snapshot()
        except ApplicationError as exc:
            self.building -= 1
            await self.refuse(protocol.error_from(exc), protocol.close_code_for(exc))
            return
        except Exception:
            logger.exception("space %s: could not open a guest socket", self.space_id)
            self.building -= 1
            await self.refuse(
                protocol.error_message("internal", _("Something went wrong; reconnect.")), 1011
            )
            return
        await self.send_state(state)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if self.refresh_task is not None:
            self.refresh_task.cancel()
        await self.unsubscribe()
        if self.seat is not None:
            seat, self.seat = self.seat, None
            try:
                await sync_to_async(limits.seat_release, thread_sensitive=False)(seat)
            except Exception:
                logger.warning("space %s: could not free a socket seat", self.space_id)

    async def subscribe(self) -> None:
        await hub().join(self.space_id, self)
        self.subscribed = True

    async def unsubscribe(self) -> None:
        if self.subscribed:
            self.subscribed = False
            await hub().leave(self.space_id, self)

    async def refuse(self, error: dict[str, Any], code: int) -> None:
        await self.unsubscribe()
        await self.close_with(error, code)

    async def close_with(self, error: dict[str, Any] | None, code: int) -> None:
        """Say why, then close; after the reply if an action of this socket is running."""
        if self.in_action:
            self.deferred_close = (error or {}, code)
            return
        if self.closing:
            return
        self.closing = True
        if error:
            await self.send_json(error)
        # int(): autobahn refuses a close code whose type is not exactly int (an IntEnum
        # member), and daphne would then leave the socket open.
        await self.close(int(code))

    # -- database ---------------------------------------------------------------------------

    @socket_db
    def join_and_snapshot(self) -> dict[str, Any]:
        state = protocol.join_and_snapshot(user=self.user, space_id=self.space_id)
        self.hidden_authors = protocol.hidden_authors(self.user)
        return state

    @socket_db
    def guest_snapshot(self) -> dict[str, Any]:
        return protocol.guest_state(space_id=self.space_id)

    @socket_db
    def snapshot(self) -> dict[str, Any]:
        if self.guest:
            return protocol.guest_state(space_id=self.space_id)
        state = protocol.space_state(viewer=self.user, space_id=self.space_id)
        # With every snapshot: one taken after blocking someone hides them from then on.
        self.hidden_authors = protocol.hidden_authors(self.user)
        return state

    @socket_db
    def act(self, action: str, args: dict[str, Any]) -> dict[str, Any]:
        return protocol.ACTIONS[action](self.user, self.space_id, args)

    # -- snapshots ----------------------------------------------------------------------------

    async def send_state(self, state: dict[str, Any], request_id: Any = None) -> None:
        """Send `state`, then the events held while it was built. An unasked snapshot equal to
        the last one sent is not sent again: a refresh coalesced behind another (two changes to
        this user in a row) reads the same state, and the client already has it."""
        if request_id is not None:
            await self.send_json({**state, "id": request_id})
        elif state != self.last_state:
            await self.send_json(state)
        self.last_state = state
        self.floor = max(self.floor, int(state["seq"]))
        self.building -= 1
        if self.building == 0:
            held, self.held = self.held, []
            for message in sorted(held, key=lambda m: m["event"].get("seq", 0)):
                await self.deliver(message)

    async def resync(self, request_id: Any = None) -> bool:
        """Send a fresh `space.state`; events that arrive meanwhile follow it, older ones are
        dropped. False when the user may no longer see the Space (the socket is closed)."""
        self.building += 1
        try:
            state = await self.snapshot()
        except ApplicationError as exc:
            self.building -= 1
            await self.close_with(
                protocol.error_from(exc, request_id), protocol.close_code_for(exc)
            )
            return False
        except BaseException:
            self.building -= 1
            raise
        await self.send_state(state, request_id)
        return True

    async def events_lost(self, space_id: int) -> None:
        """The hub's layer lost Redis for a while (spaces_project/layers.py): re-read the room."""
        await self.refresh_later()

    async def refresh_later(self) -> None:
        """Re-send this user's own view soon; coalesced, and re-run if asked again while a
        refresh is being read (it may have read the database before the latest change)."""
        self.refresh_wanted = True
        if self.refresh_task is None or self.refresh_task.done():
            self.refresh_task = asyncio.get_running_loop().create_task(self._refresh())

    async def _refresh(self) -> None:
        while self.refresh_wanted and not self.closing:
            self.refresh_wanted = False
            await asyncio.sleep(SELF_REFRESH_DELAY)
            if not self.closing and not await self.resync():
                return

    # -- room events --------------------------------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Layer messages carrying an event go through `room_message`; no per-message thread
        hop to close database connections (the database methods do that themselves)."""
        if "event" in message and "text" in message:
            await self.room_message(message)
            return
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def revoked(self, message: dict[str, Any]) -> None:
        """A logout or a ban of this user, carried by the hub: end this socket if it applies."""
        ending = revocation_close(self.scope, message)
        if ending is not None and not self.closing:
            await self.refuse(*ending)

    def room_frame(self, message: dict[str, Any], frame: wsframes.Frame) -> bool:
        """The common case, without a coroutine: an event only to forward, to an open socket
        that is not resyncing, written as `frame`. False: the hub calls `room_message`."""
        if self.write_frame is None or self.closing or self.building:
            return False
        event = message["event"]
        seq = event.get("seq")
        if isinstance(seq, int) and seq <= self.floor:
            return True  # in the snapshot already: `deliver` drops it too
        if message["type"] in self.room_handlers or (
            event.get("type") in REFRESHES_SUBJECT and subject_id(event) == self.user_id
        ):
            return False
        if self.hidden_authors and protocol.comment_author(event) in self.hidden_authors:
            return False
        return self.write_frame(frame)

    async def room_message(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        if self.building:
            self.held.append(message)
            return
        await self.deliver(message)

    async def deliver(self, message: dict[str, Any]) -> None:
        event = message["event"]
        seq = event.get("seq")
        if isinstance(seq, int) and seq <= self.floor:
            return
        name = self.room_handlers.get(message["type"])
        await (getattr(self, name) if name else self.forward)(message)

    async def forward(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if self.hidden_authors and protocol.comment_author(event) in self.hidden_authors:
            await self.send_json(protocol.hidden_comment(event))
            return
        await self.send(text_data=message["text"])
        if event.get("type") in REFRESHES_SUBJECT and subject_id(event) == self.user_id:
            await self.refresh_later()

    async def participant_removed(self, message: dict[str, Any]) -> None:
        await self.forward(message)
        if subject_id(message["event"]) == self.user_id:
            await self.close_with(
                protocol.error_message("removed", _("You were removed from this Space.")),
                Close.FORBIDDEN,
            )

    @socket_db
    def account_disabled(self) -> bool:
        return not User.objects.filter(pk=self.user_id, is_active=True).exists()

    async def participant_left(self, message: dict[str, Any]) -> None:
        await self.forward(message)
        if subject_id(message["event"]) == self.user_id and not self.leaving:
            # A ban lets the user go from the Space too, and that event may overtake
            # `user.banned` (another group, another pub/sub channel): the ban's code must win.
            if await self.account_disabled():
                await self.close_with(*banned_close())
                return
            await self.close_with(
                protocol.error_message(
                    "not_in_space",
                    _(
                        "You are no longer in this Space (you left elsewhere, or your connection "
                        "timed out). Reconnect to join again."
                    ),
                ),
                Close.GONE,
            )

    async def space_ended(self, message: dict[str, Any]) -> None:
        await self.forward(message)
        await self.close_with(
            protocol.error_message("space_ended", _("This Space has ended.")), Close.NOT_LIVE
        )

    async def guests_changed(self, message: dict[str, Any]) -> None:
        """The host stopped guests: a guest's socket says why and closes (4401: sign in)."""
        await self.forward(message)
        if self.guest and message["event"].get("guests_allowed") is False:
            await self.close_with(
                protocol.error_message(
                    "guests_off", _("The host lets only people with an account listen: sign in.")
                ),
                Close.NOT_AUTHENTICATED,
            )

    async def signal_relay(self, message: dict[str, Any]) -> None:
        """A media worker answers this socket through its channel (protocol.SignalContext)."""
        payload = message.get("payload")
        if isinstance(payload, dict) and not self.closing:
            await self.send_json({**payload, "type": "signal"})

    # -- client messages ----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        wait = self.bucket.take() or await user_wait(self.user_id)
        if wait:
            self.flooding += 1
            if self.flooding > FLOOD_LIMIT:
                await self.close_with(
                    protocol.error_message("rate_limited", _("Too many messages.")),
                    Close.TOO_MANY_MESSAGES,
                )
                return
            await self.send_json(
                protocol.error_message(
                    "rate_limited",
                    _("Too many messages; slow down."),
                    request_id=peek_id(text_data),
                    retry_after=wait,
                )
            )
            return
        self.flooding = 0
        try:
            incoming = protocol.parse(text_data, bytes_data, protocol.SCHEMAS)
        except ProtocolError as exc:
            await self.send_json(
                protocol.error_message(
                    exc.code, exc.message, request_id=exc.request_id, fields=exc.fields
                )
            )
            return
        try:
            await self.handle(incoming)
        except Exception:
            logger.exception("space %s: action %s failed", self.space_id, incoming.action)
            await self.send_json(
                protocol.error_message(
                    "internal",
                    _("Something went wrong; try again."),
                    request_id=incoming.request_id,
                )
            )

    async def handle(self, incoming: Incoming) -> None:
        rid = incoming.request_id
        if self.guest and incoming.action not in protocol.GUEST_ACTIONS:
            await self.send_json(protocol.error_from(guest_refusal(), rid))
            return
        if self.guest and incoming.action == "heartbeat":
            # A guest has no presence to refresh: their socket is what counts them.
            await self.send_json(protocol.ack_message(rid, "heartbeat", {}))
            return
        if incoming.action == "snapshot":
            if await self.resync(rid):
                await self.send_json(protocol.ack_message(rid, "snapshot", {"seq": self.floor}))
            return
        if incoming.action == "signal":
            await self.signal(incoming)
            return
        self.leaving = incoming.action == "leave"
        self.in_action = True
        try:
            result = await self.act(incoming.action, incoming.args)
        except ApplicationError as exc:
            self.leaving = False
            self.in_action = False
            await self.send_json(protocol.error_from(exc, rid))
            if incoming.action == "heartbeat" and exc.code == "not_in_space":
                await self.close_with(None, Close.GONE)
            await self.after_action()
            return
        finally:
            self.in_action = False
        await self.send_json(protocol.ack_message(rid, incoming.action, result))
        if incoming.action == "leave":
            await self.close_with(None, 1000)
        await self.after_action()

    async def after_action(self) -> None:
        if self.deferred_close is not None:
            error, code = self.deferred_close
            self.deferred_close = None
            await self.close_with(error or None, code)

    async def signal(self, incoming: Incoming) -> None:
        rid, args = incoming.request_id, incoming.args
        kind = args["kind"]
        if kind in ("offer", "answer") and not args.get("sdp"):
            await self.send_json(
                protocol.error_message(
                    "invalid",
                    _("An offer or answer carries its SDP."),
                    request_id=rid,
                    fields={"sdp": [_("Required.")]},
                )
            )
            return
        if kind == "ice" and "candidate" not in args:
            await self.send_json(
                protocol.error_message(
                    "invalid",
                    _("An ICE message carries a candidate (null: end of candidates)."),
                    request_id=rid,
                    fields={"candidate": [_("Required.")]},
                )
            )
            return
        handler = protocol.signal_handler()
        if handler is None:
            await self.send_json(
                protocol.error_message(
                    "media_unavailable",
                    _("Audio is not available on this server yet."),
                    request_id=rid,
                )
            )
            return
        context = SignalContext(self.user_id, self.space_id, self.channel_name, self.send_json)
        try:
            result = await handler(context, dict(args))
        except ApplicationError as exc:
            await self.send_json(protocol.error_from(exc, rid))
            return
        await self.send_json(protocol.ack_message(rid, "signal", result or {}))


async def user_wait(user_id: int) -> float:
    """The user's own limit, over all their sockets and processes (spaces/realtime/limits.py):
    0.0 to pass, else seconds to wait."""
    if not user_id:
        return 0.0
    return await sync_to_async(limits.user_message_take, thread_sensitive=False)(user_id)


def peek_id(text: str | None) -> Any:
    """The request id of a message we will not process, if it is cheap to read."""
    if not text or len(text) > protocol.MAX_MESSAGE_BYTES:
        return None
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return protocol.request_id_of(message) if isinstance(message, dict) else None


class NotFoundConsumer(AsyncJsonWebsocketConsumer):
    """Any other socket path: accepted only to say 4404, so clients get a code, not a 500."""

    async def connect(self) -> None:
        translation.activate(language_for_scope(self.scope))
        await self.accept()
        await self.send_json(protocol.error_message("not_found", _("No such socket.")))
        await self.close(int(Close.NOT_FOUND))  # exactly int: see close_with
