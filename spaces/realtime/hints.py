"""Feed hints: which feed sockets hear `bubbles.changed` when a Space's event changes who is
live or on stage (the socket, spaces/realtime/feed.py, then re-reads the viewer's bubble).

A hint goes to `following.<user id>` (the feed sockets of that user's followers) and to
`bubble.space.<space id>` (feed sockets currently showing that Space). `bubble_hints` is a hook
of the bus (`spaces_project.bus.hint_hooks`), registered in `SpacesConfig.ready`.
"""

from __future__ import annotations

from typing import Any

from spaces.models import STAGE_ROLES
from spaces_project import bus

BUBBLES_CHANGED = "bubbles.changed"


def following_group(user_id: int) -> str:
    """Feed sockets of the people who follow `user_id`."""
    return f"following.{user_id}"


def bubble_space_group(space_id: int | str) -> str:
    """Feed sockets whose bubble currently shows Space `space_id`."""
    return f"bubble.space.{space_id}"


def _user_id(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, int) else None


def _hint_groups(space_id: str, event: bus.Event) -> list[str]:
    kind = event.get("type")
    participant = event.get("participant") or {}
    if kind == "space.started":
        return [following_group(uid) for uid in [_user_id(event.get("host"))] if uid]
    if kind in ("space.ended", "host.changed"):
        hosts = [_user_id(event.get(key)) for key in ("host", "previous_host", "new_host")]
        return [bubble_space_group(space_id), *(following_group(uid) for uid in hosts if uid)]
    # Someone went on or off a stage: their followers' bubbles, and bubbles showing the Space.
    uid: int | None = None
    if kind == "role.changed":
        uid = _user_id(participant.get("user"))
    elif kind in ("participant.left", "participant.removed"):
        uid = _user_id(event.get("user")) if event.get("previous_role") in STAGE_ROLES else None
    elif kind == "participant.joined" and participant.get("role") in STAGE_ROLES:
        return [following_group(uid)] if (uid := _user_id(participant.get("user"))) else []
    return [following_group(uid), bubble_space_group(space_id)] if uid else []


def bubble_hints(group: str, event: bus.Event) -> list[tuple[str, bus.Message]]:
    """The `bubbles.changed` hints an event of a Space implies (module docstring)."""
    space_id = bus.space_id_of(group)
    if space_id is None:
        return []
    hint = {"type": BUBBLES_CHANGED, "space_id": int(space_id), "cause": event.get("type")}
    return [
        (g, {"type": BUBBLES_CHANGED, "group": g, "event": hint})
        for g in _hint_groups(space_id, event)
    ]
