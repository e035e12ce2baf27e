"""Bounds on ids that come from a request, in one place.

Every row id (projects, images, masks, runs, models, review items) and mask version in a URL
goes through the `id` converter: 1 to 2**31 - 1, the range of PostgreSQL's integer column and
well inside SQLite's. A number past it does not match the pattern, so Django answers 404
instead of letting the database driver overflow. `parse_id` does the same for ids that
arrive as query parameters (page cursors).
"""

import re

from django.urls import register_converter

MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also accepts "²" and other digits int() refuses


class IdConverter:
    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError(f"{value} is not an id")  # no match: the URL answers 404
        return number

    def to_url(self, value) -> str:
        return str(int(value))


def parse_id(value: str | None) -> int | None:
    """An id from a query parameter, or None when it is missing, not a number or out of range."""
    if value is None or not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


register_converter(IdConverter, "id")
