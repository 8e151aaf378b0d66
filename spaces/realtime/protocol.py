"""The socket protocol: close codes, the schema of every incoming message, the per-connection
rate limit, the `space.state` snapshot, and the action table that maps each socket action to
the same service the API calls (docs/realtime.md is the reference for client developers).

Nothing here trusts what a client says about itself: an action names what the user wants, the
service decides whether this user may do it, with the user taken from the socket's session.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import blocked_ids
from spaces import events, services
from spaces.models import COMMENT_MAX_LENGTH, Invitation, Space
from spaces.serializers import guest_snapshot, space_snapshot
from spaces_project.errors import ApplicationError

MAX_MESSAGE_BYTES = 16 * 1024
MAX_ID_LENGTH = 64
MAX_INT = 2**53 - 1  # exact in every JSON client


class Close(IntEnum):
    """Close codes the server uses, always after an `error` message saying why."""

    NOT_AUTHENTICATED = 4401
    FORBIDDEN = 4403  # blocked by the host, removed from the Space, no ticket
    NOT_FOUND = 4404  # no such Space (or no such socket path)
    NOT_LIVE = 4409  # the Space ended, was cancelled or has not started
    GONE = 4410  # you left from elsewhere, or presence timed you out: rejoin to come back
    TOO_MANY_MESSAGES = 4429  # kept flooding past the rate limit
    TOO_MANY_SOCKETS = 4429  # (an alias) the user already holds SPACES_MAX_SOCKETS_PER_USER here


def close_code_for(error: ApplicationError) -> int:
    if error.status == 401:
        return Close.NOT_AUTHENTICATED
    if error.status == 404:
        return Close.NOT_FOUND
    if error.status == 409:
        return Close.NOT_LIVE
    return Close.FORBIDDEN


# --- Messages out -------------------------------------------------------------------------------


def error_message(
    code: str,
    message: str,
    *,
    request_id: Any = None,
    fields: dict[str, list[str]] | None = None,
    retry_after: float | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "error", "id": request_id, "code": code, "message": message}
    if fields:
        out["fields"] = fields
    if retry_after is not None:
        out["retry_after"] = round(retry_after, 3)
    return out


def error_from(exc: ApplicationError, request_id: Any = None) -> dict[str, Any]:
    retry_after = getattr(exc, "retry_after", None)
    return error_message(
        exc.code, exc.message, request_id=request_id, fields=exc.fields, retry_after=retry_after
    )


def ack_message(request_id: Any, action: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"type": "ack", "id": request_id, "action": action, **result}


class ProtocolError(Exception):
    """A message that does not fit the protocol; answered with an `error`, never a crash."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        request_id: Any = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.request_id = request_id


# --- Messages in: schema --------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    kind: str  # "id" (positive integer), "count" (0 or more), "str", "bool", "choice", "object"
    required: bool = True
    max_length: int = 0
    choices: tuple[str, ...] = ()
    nullable: bool = False


ID = Field("id")
NO_FIELDS: dict[str, Field] = {}

SIGNAL_KINDS = ("offer", "answer", "ice", "bye")
SPEAKING_POLICIES = tuple(Space.SpeakingPolicy.values)
MAX_SDP_LENGTH = 12 * 1024
MAX_CANDIDATE_BYTES = 2 * 1024

SCHEMAS: dict[str, dict[str, Field]] = {
    "raise_hand": NO_FIELDS,
    "withdraw_hand": NO_FIELDS,
    "approve": {"request_id": ID},
    "deny": {"request_id": ID},
    "invite": {"user_id": ID},
    "cancel_invitation": {"invitation_id": ID},
    "accept_invitation": {"invitation_id": ID},
    "decline_invitation": {"invitation_id": ID},
    "demote": {"user_id": ID},
    "mute": {"user_id": ID},
    "mute_self": NO_FIELDS,
    "unmute_self": NO_FIELDS,
    "step_down": NO_FIELDS,
    "remove": {"user_id": ID},
    "block": {"user_id": ID},
    "cohost_invite": {"user_id": ID},
    "cohost_revoke": {"user_id": ID},
    "react": {"emoji": Field("str", max_length=32)},
    "pin": {
        "text": Field("str", max_length=1000),
        "url": Field("str", required=False, max_length=500),
    },
    "unpin": {"pin_id": ID},
    "captions": {"enabled": Field("bool")},
    "recording.consent": {"recorded": Field("bool")},
    "listen_mode": {"mode": Field("choice", choices=("hls", "webrtc"))},
    # Text is checked by the service (length, blank, tags); the cap here only bounds the work.
    "comment": {"text": Field("str", max_length=4 * COMMENT_MAX_LENGTH)},
    "comment_delete": {"comment_id": ID},
    "comments": {
        "enabled": Field("bool", required=False),
        "slow_mode_seconds": Field("count", required=False),
    },
    "speaking_policy": {"speaking_policy": Field("choice", choices=SPEAKING_POLICIES)},
    "stage_lock": {"locked": Field("bool")},
    "guests": {"allowed": Field("bool")},
    "noise_suppression": {"enabled": Field("bool")},
    "mute_all": NO_FIELDS,
    # The host leaves by handing over: to `successor_id` (a co-host), else to the longest one.
    "leave": {"successor_id": Field("id", required=False)},
    "end": NO_FIELDS,
    "heartbeat": NO_FIELDS,
    "snapshot": NO_FIELDS,
    "signal": {
        "kind": Field("choice", choices=SIGNAL_KINDS),
        "sdp": Field("str", required=False, max_length=MAX_SDP_LENGTH),
        "candidate": Field("object", required=False, nullable=True),
    },
}

FEED_SCHEMAS: dict[str, dict[str, Field]] = {"heartbeat": NO_FIELDS, "bubbles": NO_FIELDS}


def _check_field(name: str, spec: Field, value: Any) -> str | None:
    """What is wrong with `value`, or None."""
    if value is None:
        return None if spec.nullable else _("May not be null.")
    if spec.kind == "id":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_INT:
            return _("A positive integer.")
    elif spec.kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
            return _("An integer, 0 or more.")
    elif spec.kind == "str":
        if not isinstance(value, str):
            return _("A string.")
        if spec.max_length and len(value) > spec.max_length:
            return _("At most %(count)s characters.") % {"count": spec.max_length}
    elif spec.kind == "bool":
        if not isinstance(value, bool):
            return _("true or false.")
    elif spec.kind == "choice":
        if value not in spec.choices:
            return _("One of: %(choices)s.") % {"choices": ", ".join(spec.choices)}
    elif spec.kind == "object":
        if not isinstance(value, dict):
            return _("An object.")
        if len(json.dumps(value)) > MAX_CANDIDATE_BYTES:
            return _("At most %(count)s bytes.") % {"count": MAX_CANDIDATE_BYTES}
    return None


def request_id_of(message: dict[str, Any]) -> Any:
    value = message.get("id")
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= MAX_ID_LENGTH:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INT:
        return value
    return None


@dataclass(frozen=True)
class Incoming:
    action: str
    request_id: Any
    args: dict[str, Any]


def parse(text: str | None, raw: bytes | None, schemas: dict[str, dict[str, Field]]) -> Incoming:
    """Decode and validate one client frame, or raise ProtocolError.

    The request id is echoed even when the rest of the message is wrong, whenever it can be read.
    """
    if text is None:
        size = len(raw or b"")
        if size > MAX_MESSAGE_BYTES:
            raise ProtocolError(
                "too_large",
                _("Messages are at most %(count)s bytes.") % {"count": MAX_MESSAGE_BYTES},
            )
        raise ProtocolError("malformed", _("Send JSON text frames, not binary ones."))
    if len(text) > MAX_MESSAGE_BYTES or len(text.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            "too_large",
            _("Messages are at most %(count)s bytes.") % {"count": MAX_MESSAGE_BYTES},
        )
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("malformed", _("Not valid JSON.")) from exc
    if not isinstance(message, dict):
        raise ProtocolError("malformed", _("A message is a JSON object."))
    request_id = request_id_of(message)
    try:
        return _validate(message, request_id, schemas)
    except ProtocolError as exc:
        exc.request_id = request_id
        raise


def _validate(
    message: dict[str, Any], request_id: Any, schemas: dict[str, dict[str, Field]]
) -> Incoming:
    if "id" in message and message["id"] is not None and request_id is None:
        raise ProtocolError(
            "invalid",
            _("The request id is a string or an integer."),
            fields={
                "id": [
                    _("A string of at most %(count)s characters, or an integer.")
                    % {"count": MAX_ID_LENGTH}
                ]
            },
        )
    action = message.get("action")
    if not isinstance(action, str) or not action:
        raise ProtocolError(
            "malformed", _("Every message names its action."), fields={"action": [_("Required.")]}
        )
    schema = schemas.get(action)
    if schema is None:
        raise ProtocolError(
            "unknown_action", _("Unknown action %(action)s.") % {"action": repr(action[:40])}
        )
    errors: dict[str, list[str]] = {}
    args: dict[str, Any] = {}
    for name, spec in schema.items():
        if name not in message:
            if spec.required:
                errors[name] = [_("Required.")]
            continue
        problem = _check_field(name, spec, message[name])
        if problem:
            errors[name] = [problem]
        else:
            args[name] = message[name]
    for name in message:
        if name not in schema and name not in ("action", "id"):
            errors[name[:40]] = [_("Unknown field.")]
    if errors:
        raise ProtocolError("invalid", _("The message has invalid fields."), fields=errors)
    return Incoming(action, request_id, args)


# --- Rate limit ---------------------------------------------------------------------------------


class TokenBucket:
    """`rate` messages per second on average, bursts of up to `burst`."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self) -> float:
        """0.0 when the message may pass, else the seconds until one would."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate if self.rate > 0 else math.inf


def bucket() -> TokenBucket:
    return TokenBucket(
        float(getattr(settings, "SPACES_WS_RATE", 10)),
        int(getattr(settings, "SPACES_WS_BURST", 20)),
    )


# --- Snapshot -----------------------------------------------------------------------------------


def space_state(*, viewer: User, space_id: int) -> dict[str, Any]:
    """The `space.state` message for `viewer`: the one snapshot the Space page sends too."""
    return space_snapshot(viewer=viewer, space_id=space_id).state


def guest_state(*, space_id: int) -> dict[str, Any]:
    """The `space.state` of a guest (no account): refused (ApplicationError) when the Space
    takes no guests (spaces.permissions.check_guest_listen)."""
    return guest_snapshot(space_id=space_id).state


# What a guest's socket does beyond listening: everything else is `sign_in_required`.
GUEST_ACTIONS = frozenset({"heartbeat", "snapshot"})


def join_and_snapshot(*, user: User, space_id: int) -> dict[str, Any]:
    """Opening the socket joins the Space (or attaches to the participation the user has)."""
    services.space_join(user=user, space_id=space_id)
    return space_state(viewer=user, space_id=space_id)


# --- Actions: the same services as the API ------------------------------------------------------

Result = dict[str, Any]
ActionHandler = Callable[[User, int, dict[str, Any]], Result]


def _raise_hand(user: User, space_id: int, a: dict[str, Any]) -> Result:
    request, created = services.speaker_request_create(user=user, space_id=space_id)
    return {"request_id": request.pk, "created": created}


def _withdraw_hand(user: User, space_id: int, a: dict[str, Any]) -> Result:
    request = services.speaker_request_withdraw(user=user, space_id=space_id)
    return {"request_id": request.pk if request else None}


def _approve(user: User, space_id: int, a: dict[str, Any]) -> Result:
    p = services.speaker_request_approve(actor=user, space_id=space_id, request_id=a["request_id"])
    return {"user_id": p.user_id, "role": p.role}


def _deny(user: User, space_id: int, a: dict[str, Any]) -> Result:
    r = services.speaker_request_deny(actor=user, space_id=space_id, request_id=a["request_id"])
    return {"request_id": r.pk}


def _invite(kind: str) -> ActionHandler:
    def handler(user: User, space_id: int, a: dict[str, Any]) -> Result:
        invitation, created = services.invitation_create(
            actor=user, space_id=space_id, invitee_id=a["user_id"], kind=kind
        )
        return {"invitation_id": invitation.pk, "created": created}

    return handler


def _cancel_invitation(user: User, space_id: int, a: dict[str, Any]) -> Result:
    i = services.invitation_cancel(actor=user, space_id=space_id, invitation_id=a["invitation_id"])
    return {"invitation_id": i.pk}


def _accept_invitation(user: User, space_id: int, a: dict[str, Any]) -> Result:
    p = services.invitation_accept(user=user, space_id=space_id, invitation_id=a["invitation_id"])
    return {"role": p.role}


def _decline_invitation(user: User, space_id: int, a: dict[str, Any]) -> Result:
    i = services.invitation_decline(user=user, space_id=space_id, invitation_id=a["invitation_id"])
    return {"invitation_id": i.pk}


def _on_participant(service: Callable[..., Any]) -> ActionHandler:
    def handler(user: User, space_id: int, a: dict[str, Any]) -> Result:
        p = service(actor=user, space_id=space_id, user_id=a["user_id"])
        return {"user_id": p.user_id, "role": p.role, "state": p.state}

    return handler


def _self(service: Callable[..., Any]) -> ActionHandler:
    def handler(user: User, space_id: int, a: dict[str, Any]) -> Result:
        p = service(user=user, space_id=space_id)
        return {"role": p.role, "is_muted": p.is_muted}

    return handler


def _unmute_self(user: User, space_id: int, a: dict[str, Any]) -> Result:
    p = services.participant_unmute(actor=user, space_id=space_id, user_id=user.pk)
    return {"role": p.role, "is_muted": p.is_muted}


def _react(user: User, space_id: int, a: dict[str, Any]) -> Result:
    return {"code": services.reaction_send(user=user, space_id=space_id, emoji=a["emoji"])}


def _pin(user: User, space_id: int, a: dict[str, Any]) -> Result:
    pin = services.pin_create(user=user, space_id=space_id, text=a["text"], url=a.get("url", ""))
    return {"pin_id": pin.pk}


def _unpin(user: User, space_id: int, a: dict[str, Any]) -> Result:
    pin = services.pin_remove(user=user, space_id=space_id, pin_id=a["pin_id"])
    return {"pin_id": pin.pk}


def _captions(user: User, space_id: int, a: dict[str, Any]) -> Result:
    space = services.captions_toggle(actor=user, space_id=space_id, enabled=a["enabled"])
    return {"enabled": space.captions_enabled}


def _recording_consent(user: User, space_id: int, a: dict[str, Any]) -> Result:
    p = services.recording_consent_set(actor=user, space_id=space_id, recorded=a["recorded"])
    return {"participant": events.participant(p)}


def _listen_mode(user: User, space_id: int, a: dict[str, Any]) -> Result:
    p = services.listen_mode_set(actor=user, space_id=space_id, mode=a["mode"])
    return {"listen_mode": p.effective_listen_mode, "participant": events.participant(p)}


def hidden_authors(user: User) -> frozenset[int]:
    """Whose comments `user` does not see: the people they blocked."""
    return frozenset(blocked_ids(blocker=user))


def comment_author(event: dict[str, Any]) -> int | None:
    """The author of a `comment.added` event, else None."""
    if event.get("type") != events.COMMENT_ADDED:
        return None
    author = (event.get("comment") or {}).get("author") or {}
    value = author.get("id")
    return value if isinstance(value, int) else None


def hidden_comment(event: dict[str, Any]) -> dict[str, Any]:
    """`comment.added` for someone who blocked its author: the event, its comment left out."""
    return {**event, "comment": {"id": event["comment"]["id"], "hidden": True}}


def _comment(user: User, space_id: int, a: dict[str, Any]) -> Result:
    comment = services.comment_post(user=user, space_id=space_id, text=a["text"])
    return {"comment_id": comment.pk}


def _comment_delete(user: User, space_id: int, a: dict[str, Any]) -> Result:
    comment = services.comment_delete(actor=user, space_id=space_id, comment_id=a["comment_id"])
    return {"comment_id": comment.pk}


def _comments(user: User, space_id: int, a: dict[str, Any]) -> Result:
    space = services.comments_configure(
        actor=user,
        space_id=space_id,
        enabled=a.get("enabled"),
        slow_mode_seconds=a.get("slow_mode_seconds"),
    )
    return {
        "comments_enabled": space.comments_enabled,
        "slow_mode_seconds": space.comment_slow_mode_seconds,
    }


def _speaking_policy(user: User, space_id: int, a: dict[str, Any]) -> Result:
    space = services.speaking_policy_set(actor=user, space_id=space_id, policy=a["speaking_policy"])
    return {"speaking_policy": space.speaking_policy}


def _stage_lock(user: User, space_id: int, a: dict[str, Any]) -> Result:
    space = services.stage_lock_set(actor=user, space_id=space_id, locked=a["locked"])
    return {"locked": space.stage_locked}


def _guests(user: User, space_id: int, a: dict[str, Any]) -> Result:
    space = services.guests_allowed_set(actor=user, space_id=space_id, allowed=a["allowed"])
    return {"guests_allowed": space.guests_allowed}


def _noise_suppression(user: User, space_id: int, a: dict[str, Any]) -> Result:
    space = services.noise_suppression_set(actor=user, space_id=space_id, enabled=a["enabled"])
    return {"noise_suppression": space.noise_suppression}


def _mute_all(user: User, space_id: int, a: dict[str, Any]) -> Result:
    muted = services.mute_all(actor=user, space_id=space_id)
    return {"muted": [p.user_id for p in muted]}


def _leave(user: User, space_id: int, a: dict[str, Any]) -> Result:
    services.space_leave(user=user, space_id=space_id, successor_id=a.get("successor_id"))
    return {}


def _end(user: User, space_id: int, a: dict[str, Any]) -> Result:
    services.space_end(actor=user, space_id=space_id)
    return {}


def _heartbeat(user: User, space_id: int, a: dict[str, Any]) -> Result:
    services.participant_heartbeat(user=user, space_id=space_id)
    return {}


ACTIONS: dict[str, ActionHandler] = {
    "raise_hand": _raise_hand,
    "withdraw_hand": _withdraw_hand,
    "approve": _approve,
    "deny": _deny,
    "invite": _invite(Invitation.Kind.SPEAKER),
    "cancel_invitation": _cancel_invitation,
    "accept_invitation": _accept_invitation,
    "decline_invitation": _decline_invitation,
    "demote": _on_participant(services.participant_demote),
    "mute": _on_participant(services.participant_mute),
    "mute_self": _self(services.participant_mute_self),
    "unmute_self": _unmute_self,
    "step_down": _self(services.participant_step_down),
    "remove": _on_participant(services.participant_remove),
    "block": _on_participant(services.participant_block),
    "cohost_invite": _invite(Invitation.Kind.COHOST),
    "cohost_revoke": _on_participant(services.cohost_revoke),
    "react": _react,
    "pin": _pin,
    "unpin": _unpin,
    "captions": _captions,
    "recording.consent": _recording_consent,
    "listen_mode": _listen_mode,
    "comment": _comment,
    "comment_delete": _comment_delete,
    "comments": _comments,
    "speaking_policy": _speaking_policy,
    "stage_lock": _stage_lock,
    "guests": _guests,
    "noise_suppression": _noise_suppression,
    "mute_all": _mute_all,
    "leave": _leave,
    "end": _end,
    "heartbeat": _heartbeat,
}
assert set(ACTIONS) | {"snapshot", "signal"} == set(SCHEMAS)


# --- WebRTC signaling: reserved for the media worker --------------------------------------------


@dataclass(frozen=True)
class SignalContext:
    """What a signaling handler may know about the socket: who, where, and how to answer.

    `send` pushes one message to this socket; `channel_name` is the socket's own channel on the
    layer, for a media worker in another process to answer through (`{"type": "signal.relay",
    "payload": {...}}` arrives as `{"type": "signal", ...payload}`).
    """

    user_id: int
    space_id: int
    channel_name: str | None
    send: Callable[[dict[str, Any]], Awaitable[None]]


SignalHandler = Callable[[SignalContext, dict[str, Any]], Awaitable[dict[str, Any] | None]]
_signal_handler: SignalHandler | None = None


def set_signal_handler(handler: SignalHandler | None) -> None:
    """Install the media issue's handler. It checks the user's role itself (through services);
    it returns the ack payload or raises ApplicationError."""
    global _signal_handler
    _signal_handler = handler


def signal_handler() -> SignalHandler | None:
    return _signal_handler
