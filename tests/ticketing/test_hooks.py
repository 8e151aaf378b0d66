"""Ticketing's rules reach the lower apps only through their hooks (spaces_project/hooks.py),
registered when Django starts, as it does under pytest-django."""

from __future__ import annotations

from collections.abc import Callable

from scheduling import hooks as scheduling_hooks
from spaces import hooks as spaces_hooks
from spaces_project.hooks import Hook
from ticketing.selectors import ticket_admits
from ticketing.services import tickets_refund_for_space


def test_ticketing_registers_its_entry_rule_and_its_refunds_when_django_starts():
    assert list(spaces_hooks.entry_rules) == [ticket_admits]
    assert list(scheduling_hooks.space_cancelled) == [tickets_refund_for_space]


def test_a_hook_keeps_one_of_each_function_in_order_and_iterates_over_a_snapshot():
    hook: Hook[Callable[[], None]] = Hook("test")
    calls: list[str] = []

    def first() -> None:
        calls.append("first")
        hook.unregister(first)

    def second() -> None:
        calls.append("second")

    assert hook.register(first) is first
    hook.register(second)
    hook.register(first)
    for fn in hook:
        fn()

    assert calls == ["first", "second"]
    assert list(hook) == [second]
