"""JSON pointers to the place in a message that a type system's error location names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["BIG_INTEGER_MESSAGE", "follow", "is_big_integer"]

_INT64_LIMIT = 2**63


def follow(value: Any, location: Iterable[Any], *, missing: bool = False) -> tuple[str, Any]:
    """The JSON pointer along ``location`` inside ``value`` and the value found there.

    Location items that are not a key or an index of the value at that point (the labels some
    libraries give union members, ``"[key]"`` markers) are skipped. With ``missing``, a last
    string item that is not a key is kept: it names a required property that is absent.
    """
    parts: list[str] = []
    items = list(location)
    current = value
    for n, item in enumerate(items):
        if isinstance(current, dict) and isinstance(item, str):
            if item in current:
                parts.append(item)
                current = current[item]
            elif missing and n == len(items) - 1:
                parts.append(item)
                current = None
        elif isinstance(current, list) and type(item) is int and 0 <= item < len(current):
            parts.append(str(item))
            current = current[item]
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts), current


def is_big_integer(value: Any) -> bool:
    """``True`` for a float the core made of a JSON integer beyond 64 bits."""
    return isinstance(value, float) and value.is_integer() and abs(value) >= _INT64_LIMIT


BIG_INTEGER_MESSAGE = "integer out of the 64-bit range (Spikard reads JSON integers as 64-bit)"
"""The message of a refused integer literal beyond 64 bits."""
