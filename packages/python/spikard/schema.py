"""JSON Schemas from Python type annotations, and the values handlers receive.

Spikard derives a route's message schema from the annotation of the handler's ``message``
parameter and its response schema from the return annotation. The rule: a message reaches the
handler exactly when the annotation's type system accepts its JSON text, and the handler gets
the value that type system builds. The type system of an annotation is:

- **msgspec** when it names msgspec types (a ``Struct``, ``msgspec.Meta`` constraints):
  ``msgspec.json.schema`` gives the schema, ``msgspec.json.decode(raw, type=T)`` the value;
- else **pydantic** when installed: ``TypeAdapter(T).json_schema()`` and
  ``TypeAdapter(T).validate_json(raw, strict=True)`` (TypedDicts, dataclasses, pydantic models
  and dataclasses, plain annotations, with ``Annotated`` / ``Field`` / ``annotated_types``
  constraints);
- else **msgspec** when installed;
- else the standard-library walker of this module, which follows pydantic's rule for what it
  supports (TypedDict, dataclasses, enums, ``Literal``, unions, containers, ``datetime``,
  ``date``, ``time``, ``UUID``, ``annotated_types`` constraints).

The core checks the schema first (fast, in Rust, without Python); the type system then
decodes and has the last word: what it refuses gets a ``validation_failed`` envelope
(:class:`~spikard.errors.InvalidMessage`). Derived schemas leave out the keywords the libraries
are laxer about (see :mod:`spikard._relax`), so the core never refuses what the type accepts.

A bare ``dict``, ``Any``, ``object`` or no annotation means "no schema" (no validation work).
Anything else without a schema raises :class:`~spikard.errors.SchemaExtractionError`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import sys
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

from spikard.errors import SchemaExtractionError

__all__ = ["Converter", "JsonSchema", "TypeSystem", "converter_for", "json_schema", "type_system"]

JsonSchema = dict[str, Any]
Mode = Literal["validation", "serialization"]
TypeSystem = Literal["pydantic", "msgspec", "stdlib"]
Converter = Callable[[Any], Any]


def json_schema(annotation: Any, *, mode: Mode = "validation") -> JsonSchema | None:
    """The JSON Schema the core checks for ``annotation``, or ``None`` when it means
    "anything" (a bare ``dict``, ``Any``, ``object``, or no annotation).

    ``mode`` picks the validation or serialization schema (messages are validated, replies
    are serialised).

    Raises:
        SchemaExtractionError: the annotation (or a type inside it) has no JSON Schema.
    """
    if _means_anything(annotation):
        return None
    schema: JsonSchema = _module(type_system(annotation)).json_schema(annotation, mode)
    return schema


def converter_for(annotation: Any) -> Converter | None:
    """The function turning a message that passed the core's check into the value the
    annotation's type system builds from its JSON text (raising
    :class:`~spikard.errors.InvalidMessage` where that type system refuses it), or ``None`` when
    the annotation means "anything" and the JSON value is passed as is.

    Raises:
        SchemaExtractionError: the annotation has no type system that can decode it.
    """
    if _means_anything(annotation):
        return None
    decode: Converter = _module(type_system(annotation)).decoder(annotation)
    return decode


def type_system(annotation: Any, installed: frozenset[str] | None = None) -> TypeSystem:
    """Which type system decides for ``annotation`` (see the module's documentation).
    ``installed`` overrides which of ``pydantic`` and ``msgspec`` count as installed.

    Raises:
        SchemaExtractionError: the annotation names both pydantic and msgspec types.
    """
    have = _installed() if installed is None else installed
    found = _libraries_named(annotation)
    if found == {"pydantic", "msgspec"}:
        raise SchemaExtractionError(
            f"{_describe(annotation)} mixes pydantic and msgspec types: one type system must decode a message"
        )
    if "msgspec" in found:
        return "msgspec"
    if "pydantic" in have:
        return "pydantic"
    if "msgspec" in have:
        return "msgspec"
    return "stdlib"


def _module(system: TypeSystem) -> Any:
    if system == "pydantic":
        from spikard import _pydantic

        return _pydantic
    if system == "msgspec":
        from spikard import _msgspec

        return _msgspec
    from spikard import _stdlib

    return _stdlib


_INSTALLED: frozenset[str] | None = None


def _installed() -> frozenset[str]:
    global _INSTALLED
    if _INSTALLED is None:
        _INSTALLED = frozenset(name for name in ("pydantic", "msgspec") if importlib.util.find_spec(name))
    return _INSTALLED


def _means_anything(annotation: Any) -> bool:
    return (
        annotation is Any
        or annotation is object
        or annotation is dict
        or annotation is inspect.Parameter.empty
    )


def _describe(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


def _libraries_named(annotation: Any) -> set[str]:
    """The libraries (``pydantic``, ``msgspec``) whose types or constraints ``annotation``
    names, anywhere inside it."""
    found: set[str] = set()
    seen: set[int] = set()
    todo = [annotation]
    while todo:
        tp = todo.pop()
        if id(tp) in seen:
            continue
        seen.add(id(tp))
        library = _library_of(tp)
        if library is not None:
            found.add(library)
            if library == "pydantic" and isinstance(tp, type):
                continue  # a model's fields are pydantic's to decode
        if get_origin(tp) is Annotated:
            todo.extend(_library_marker(meta) for meta in tp.__metadata__)
        todo.extend(get_args(tp))
        if isinstance(tp, type) and (_is_typeddict(tp) or dataclasses.is_dataclass(tp)):
            try:
                todo.extend(get_type_hints(tp, include_extras=True).values())
            except Exception:
                continue
    return found


def _is_typeddict(tp: Any) -> bool:
    if typing.is_typeddict(tp):
        return True
    extensions = sys.modules.get("typing_extensions")
    return bool(extensions is not None and extensions.is_typeddict(tp))


class _Marker:
    """Stands for a library named in ``Annotated`` metadata."""

    def __init__(self, library: str) -> None:
        self.library = library


def _library_marker(meta: Any) -> Any:
    module = type(meta).__module__.partition(".")[0]
    return _Marker(module) if module in ("pydantic", "msgspec", "pydantic_core") else None


def _library_of(tp: Any) -> str | None:
    if isinstance(tp, _Marker):
        return "pydantic" if tp.library == "pydantic_core" else tp.library
    if isinstance(tp, type):
        module = sys.modules.get("msgspec")
        if module is not None and issubclass(tp, module.Struct):
            return "msgspec"
        pydantic = sys.modules.get("pydantic")
        if pydantic is not None and (
            issubclass(tp, pydantic.BaseModel) or "__pydantic_validator__" in tp.__dict__
        ):
            return "pydantic"
    return None
