"""Path converters. Importing this module registers them (once: Django refuses a converter
name registered twice)."""

from __future__ import annotations

from django.urls import register_converter


class DbIdConverter:
    """A row id in a path: like `int`, but at most 18 digits.

    Every id column is a 64-bit integer. A longer number cannot name a row, and on SQLite
    comparing a foreign key with it raises OverflowError (a 500) instead of matching
    nothing, so such a path does not resolve: 404 `not_found`, like any unknown id."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(DbIdConverter, "id")
