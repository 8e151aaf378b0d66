"""Hooks: how a lower layer asks a higher one without importing it.

The apps stack up (ticketing over scheduling over spaces over accounts, pyproject.toml's import
contracts), and a lower app never imports a higher one, not even inside a function. When a rule
of a higher app must run inside a lower app's use case (a cancelled Space refunds its tickets; a
ticketed Space admits only ticket holders), the lower app declares a `Hook` in its `hooks.py`
and calls what is registered there; the higher app registers its function from its
`AppConfig.ready()`, which Django (and pytest-django) runs before any request, task or test.

A hook is a typed, ordered set of callables: registering the same function twice keeps one.
Iterating takes a snapshot, so a hook that unregisters itself while running is safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

F = TypeVar("F", bound=Callable[..., object])


class Hook(Generic[F]):
    """Callables of one signature `F` that a higher app registers and a lower one calls."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._registered: list[F] = []

    def register(self, fn: F) -> F:
        """Add `fn` (once) and return it, so it also works as a decorator."""
        if fn not in self._registered:
            self._registered.append(fn)
        return fn

    def unregister(self, fn: F) -> None:
        if fn in self._registered:
            self._registered.remove(fn)

    def __iter__(self) -> Iterator[F]:
        return iter(list(self._registered))

    def __len__(self) -> int:
        return len(self._registered)

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._registered)} registered>"
