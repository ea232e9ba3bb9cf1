"""Turning handler return values that are not JSON types into JSON-able values.

The native module converts ``dict``, ``list``, ``tuple``, ``str``, ``int``, ``float``, ``bool``
and ``None`` itself and calls :func:`to_jsonable` for anything else, then converts its result.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import sys
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["to_jsonable"]


def to_jsonable(obj: Any) -> Any:
    """One step towards JSON for ``obj``: Pydantic models, msgspec Structs, dataclasses, enums,
    mappings, sets, dates and UUIDs. Raises ``TypeError`` for anything else."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(obj, pydantic.BaseModel):
        return obj.model_dump(mode="json")
    msgspec = sys.modules.get("msgspec")
    if msgspec is not None and isinstance(obj, msgspec.Struct):
        return msgspec.to_builtins(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {field.name: getattr(obj, field.name) for field in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} cannot be sent as JSON")
