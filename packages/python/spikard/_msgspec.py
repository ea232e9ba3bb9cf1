"""The msgspec type system: schemas from ``msgspec.json.schema`` and messages decoded as
``msgspec.json.decode(raw, type=T)`` builds them.

Used for annotations that name msgspec types (Structs, ``msgspec.Meta``), and for the others
when msgspec is installed and pydantic is not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from spikard._pointer import BIG_INTEGER_MESSAGE, follow, is_big_integer
from spikard._relax import relax
from spikard.errors import FieldError, InvalidMessage, SchemaExtractionError

__all__ = ["decoder", "json_schema"]

_AT = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>\$.*)`)?$", re.DOTALL)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_ECHOING = ("Invalid enum value", "Invalid value")


def json_schema(annotation: Any, mode: Literal["validation", "serialization"]) -> dict[str, Any]:
    """The schema the core checks: msgspec's own, relaxed where msgspec is laxer (msgspec has
    one schema for both directions)."""
    try:
        schema = msgspec.json.schema(annotation)
    except (TypeError, ValueError) as exc:
        raise SchemaExtractionError(f"msgspec cannot use {annotation!r}: {exc}") from None
    relaxed: dict[str, Any] = relax(schema)
    return relaxed


def decoder(annotation: Any) -> Callable[[Any], Any]:
    """A function turning a message the core parsed into what ``msgspec.json.decode(raw,
    type=T)`` builds from its text, raising :class:`InvalidMessage` where msgspec refuses.

    The message is re-encoded with ``msgspec.json.encode`` and decoded by a
    ``msgspec.json.Decoder`` of the type (``msgspec.convert`` of the Python value is not the same
    function: it takes ``bytes`` values as they are, for one).
    """
    try:
        decode_json = msgspec.json.Decoder(annotation).decode
    except (TypeError, ValueError) as exc:
        raise SchemaExtractionError(f"msgspec cannot use {annotation!r}: {exc}") from None
    encode = msgspec.json.encode
    refused = msgspec.ValidationError

    def decode(value: Any) -> Any:
        try:
            return decode_json(encode(value))
        except refused as exc:
            raise InvalidMessage([_field_error(str(exc), value)]) from None

    return decode


def _field_error(text: str, value: Any) -> FieldError:
    """msgspec's one error (``Expected `int`, got `float` - at `$.a[0]` ``) as a field error."""
    match = _AT.match(text)
    message, where = (match["message"], match["path"]) if match else (text, None)
    location: list[Any] = []
    for name, index in _STEP.findall(where[1:] if where else ""):
        if index == "...":
            break  # a map's key: msgspec does not say which one
        location.append(int(index) if index else name)
    missing = message.startswith("Object missing required field")
    if missing or message.startswith("Object contains unknown field"):
        location.append(message.split("`")[1])
    path, found = follow(value, location, missing=missing)
    if message.startswith("Expected `int`") and is_big_integer(found):
        message = BIG_INTEGER_MESSAGE
    for prefix in _ECHOING:
        if message.startswith(prefix):
            message = prefix  # the rest is the input value
    return {"path": path, "message": message, "keyword": _keyword(message)}


def _keyword(message: str) -> str:
    if message.startswith("Expected `"):
        return "type"
    if message.startswith("Object missing required field"):
        return "required"
    if message.startswith("Object contains unknown field"):
        return "additionalProperties"
    return "msgspec"
