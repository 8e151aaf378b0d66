"""Socket-test helpers: the sync set-up of `tests.factories` from async code (`await db(fn)(...)`),
and what a client believes about the host."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from channels.db import database_sync_to_async

T = TypeVar("T")


def db(fn: Callable[..., T]) -> Callable[..., Any]:
    return database_sync_to_async(fn)


class HostBelief:
    """What one client believes about the host: its latest snapshot, then each event applied in
    `seq` order (an event at or below a snapshot's `seq` is not sent: the snapshot covers it).
    `max_hosts` is the most hosts it ever believed in at once; `changes` the `host.changed`
    events it saw, `states` the snapshots."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.max_hosts = 0
        self.changes: list[dict[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        self.reset(state)

    def reset(self, state: dict[str, Any]) -> None:
        assert state["type"] == "space.state", state
        self.hosts = {p["user"]["id"] for p in state["stage"] if p["role"] == "host"}
        self.host = state["space"]["host"]["id"]
        assert self.hosts == {self.host}, state
        self.states.append(state)
        self.max_hosts = max(self.max_hosts, len(self.hosts))

    def apply(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind in ("participant.left", "participant.removed"):
            self.hosts.discard(event["user"]["id"])
        elif kind in ("role.changed", "participant.joined"):
            uid = event["participant"]["user"]["id"]
            if event["participant"]["role"] == "host":
                self.hosts.add(uid)
            else:
                self.hosts.discard(uid)
        elif kind == "host.changed":
            assert self.hosts == {event["new_host"]["id"]}, (self.hosts, event)
            self.host = event["new_host"]["id"]
            self.changes.append(event)
        self.max_hosts = max(self.max_hosts, len(self.hosts))
