"""What the core checks of a schema derived from a type: never more than the type system itself.

The Rust check is the fast first filter; the type system's own JSON decoding decides after it.
Some JSON Schema keywords that the libraries emit are stricter than the libraries themselves,
and a message the core refuses never reaches the type system, so those keywords are removed
from derived schemas (measured by the differential test, ``tests/test_type_contract.py``):

- ``format``, except ``date``: pydantic and msgspec accept naive ``date-time`` and ``time``
  strings and UUIDs without hyphens, which RFC 3339 / RFC 4122 formats refuse;
- ``pattern``: the libraries match with Python's ``re`` or Rust's ``regex``, not ECMA 262;
- ``uniqueItems``: a JSON array with duplicates is a valid ``set``;
- ``multipleOf`` with a fractional divisor (floating-point remainders differ);
- ``oneOf`` becomes ``anyOf`` (a value matching two members is still one the type may take);
- ``contentEncoding`` / ``contentMediaType`` (the library decodes base64 itself);
- ``enum`` / ``const`` with integers (and the ``type`` beside them): pydantic takes ``true``
  and ``1.0`` for the literal ``1``.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["relax"]

_KEPT_FORMATS: Final = frozenset({"date"})
_DROPPED: Final = frozenset({"pattern", "uniqueItems", "contentEncoding", "contentMediaType"})
_NAMED: Final = frozenset({"properties", "$defs", "definitions", "patternProperties", "dependentSchemas"})
_ONE: Final = frozenset(
    {
        "items",
        "additionalProperties",
        "unevaluatedProperties",
        "unevaluatedItems",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
    }
)
_MANY: Final = frozenset({"anyOf", "allOf", "oneOf", "prefixItems"})


def relax(schema: Any) -> Any:
    """A copy of ``schema`` without the keywords the type systems are laxer about."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    values = schema.get("enum", [schema["const"]] if "const" in schema else [])
    if any(type(value) is int for value in values):
        schema = {k: v for k, v in schema.items() if k not in ("enum", "const", "type")}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key == "format" and value not in _KEPT_FORMATS:
            continue
        if key == "multipleOf" and not isinstance(value, int):
            continue
        if key in _NAMED and isinstance(value, dict):
            out[key] = {name: relax(sub) for name, sub in value.items()}
        elif key in _ONE:
            out[key] = relax(value)
        elif key == "oneOf" and isinstance(value, list) and "anyOf" in schema:
            out.setdefault("allOf", []).append({"anyOf": [relax(sub) for sub in value]})
        elif key in _MANY and isinstance(value, list):
            out["anyOf" if key == "oneOf" else key] = [relax(sub) for sub in value]
        else:
            out[key] = value
    return out
