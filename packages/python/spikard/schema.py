"""JSON Schemas from Python type annotations.

Spikard derives a route's message schema from the annotation of the handler's ``message``
parameter and its response schema from the return annotation. Supported:

- ``TypedDict`` (nested, ``Required``/``NotRequired``, totality, inheritance), walked with
  :func:`typing.get_type_hints` (no Pydantic involved, so ``typing.TypedDict`` works on every
  Python version);
- dataclasses (fields without a default are required);
- Pydantic v2 models (``model_json_schema``) and msgspec Structs (``msgspec.json.schema``), when
  those libraries are installed (neither is a dependency);
- ``str``, ``int``, ``float``, ``bool``, ``None``, ``Literal``, ``Enum`` classes, ``Optional``
  and unions, ``list``/``Sequence``, ``tuple``, ``dict``/``Mapping`` with ``str`` keys,
  ``Annotated`` (metadata ignored) and ``NewType``.

A bare ``dict``, ``Any``, ``object`` or no annotation means "no schema" (no validation work).
Anything else raises :class:`~spikard.errors.SchemaExtractionError`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

from spikard.errors import SchemaExtractionError

__all__ = ["converter_for", "json_schema"]

JsonSchema = dict[str, Any]
Mode = Literal["validation", "serialization"]

_NONE_TYPE = type(None)
_UNIONS: tuple[object, ...] = (Union, types.UnionType)
_SEQUENCES: tuple[object, ...] = (list, collections.abc.Sequence, collections.abc.MutableSequence)
_MAPPINGS: tuple[object, ...] = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_SCALARS: dict[object, JsonSchema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    _NONE_TYPE: {"type": "null"},
}


class _Unsupported(Exception):
    """An annotation (or a part of it) has no JSON Schema."""


def json_schema(annotation: Any, *, mode: Mode = "validation") -> JsonSchema | None:
    """The JSON Schema of ``annotation``, or ``None`` when it means "anything" (a bare
    ``dict``, ``Any``, ``object``, or no annotation).

    ``mode`` picks Pydantic's validation or serialization schema (messages are validated,
    replies are serialised).

    Raises:
        SchemaExtractionError: the annotation (or a type inside it) has no JSON Schema.
    """
    if _means_anything(annotation) or annotation is dict:
        return None
    try:
        return _Builder(annotation, mode).build()
    except _Unsupported as exc:
        raise SchemaExtractionError(str(exc)) from None


def _means_anything(annotation: Any) -> bool:
    return annotation is Any or annotation is object or annotation is inspect.Parameter.empty


def _is_typeddict(tp: Any) -> bool:
    if typing.is_typeddict(tp):
        return True
    extensions = sys.modules.get("typing_extensions")
    return bool(extensions is not None and extensions.is_typeddict(tp))


def _pydantic_model(tp: Any) -> bool:
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def _msgspec_struct(tp: Any) -> bool:
    msgspec = sys.modules.get("msgspec")
    return msgspec is not None and isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _describe(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


def _strip_annotated(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


class _Builder:
    """Builds one schema; named types (TypedDicts, dataclasses, enums, models) nested inside go
    to ``$defs`` so that recursive types work."""

    def __init__(self, root: Any, mode: Mode) -> None:
        self.root = root
        self.mode = mode
        self.defs: dict[str, JsonSchema] = {}
        self.names: dict[Any, str] = {}

    def build(self) -> JsonSchema:
        root = _strip_annotated(self.root)
        if _pydantic_model(root):
            schema: JsonSchema = root.model_json_schema(mode=self.mode)
            return schema
        if _msgspec_struct(root):
            return dict(sys.modules["msgspec"].json.schema(root))
        schema = self.named_body(root) if self.is_named(root) else self.schema(root)
        if self.defs:
            schema = {**schema, "$defs": self.defs}
        return schema

    def is_named(self, tp: Any) -> bool:
        return (
            _is_typeddict(tp)
            or dataclasses.is_dataclass(tp)
            or (isinstance(tp, type) and issubclass(tp, enum.Enum))
        )

    def schema(self, tp: Any) -> JsonSchema:
        tp = _strip_annotated(tp)
        if tp is None:
            tp = _NONE_TYPE
        if _means_anything(tp):
            return {}
        supertype = getattr(tp, "__supertype__", None)
        if supertype is not None:  # NewType
            return self.schema(supertype)
        scalar = _SCALARS.get(tp)
        if scalar is not None:
            return dict(scalar)
        if tp is dict:
            return {"type": "object"}
        if tp is list:
            return {"type": "array"}
        if _pydantic_model(tp) or _msgspec_struct(tp) or self.is_named(tp):
            return self.reference(tp)
        origin = get_origin(tp)
        args = get_args(tp)
        if origin is Literal:
            return self.literal(args)
        if origin in _UNIONS:
            return self.union(args)
        if origin in _SEQUENCES:
            return {"type": "array", "items": self.schema(args[0])} if args else {"type": "array"}
        if origin is tuple:
            return self.fixed_tuple(args)
        if origin in _MAPPINGS:
            return self.mapping(tp, args)
        if origin in (Required, NotRequired):
            raise _Unsupported(f"{_describe(tp)} is only meaningful on a TypedDict field")
        raise _Unsupported(f"unsupported annotation {_describe(tp)}")

    def literal(self, values: tuple[Any, ...]) -> JsonSchema:
        flat = [v.value if isinstance(v, enum.Enum) else v for v in values]
        for value in flat:
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise _Unsupported(f"Literal value {value!r} is not a JSON value")
        return {"const": flat[0]} if len(flat) == 1 else {"enum": flat}

    def union(self, members: tuple[Any, ...]) -> JsonSchema:
        schemas = [self.schema(member) for member in members]
        if any(schema == {} for schema in schemas):
            return {}
        return {"anyOf": schemas}

    def fixed_tuple(self, args: tuple[Any, ...]) -> JsonSchema:
        if not args:
            return {"type": "array"}
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": self.schema(args[0])}
        if args == ((),):  # tuple[()]
            return {"type": "array", "maxItems": 0}
        items = [self.schema(arg) for arg in args]
        return {"type": "array", "prefixItems": items, "items": False, "minItems": len(items)}

    def mapping(self, tp: Any, args: tuple[Any, ...]) -> JsonSchema:
        if not args:
            return {"type": "object"}
        key = _strip_annotated(args[0])
        if key is not str:
            raise _Unsupported(f"{_describe(tp)}: JSON object keys are strings, not {_describe(key)}")
        values = self.schema(args[1])
        return {"type": "object"} if values == {} else {"type": "object", "additionalProperties": values}

    def reference(self, tp: Any) -> JsonSchema:
        if tp is _strip_annotated(self.root):
            return {"$ref": "#"}
        name = self.names.get(tp)
        if name is not None:
            return {"$ref": f"#/$defs/{name}"}
        if _msgspec_struct(tp):
            made = sys.modules["msgspec"].json.schema(tp)
            self.defs.update(made.get("$defs", {}))
            return {key: value for key, value in made.items() if key != "$defs"}
        name = self.unique_name(tp)
        self.names[tp] = name
        self.defs[name] = {}
        if _pydantic_model(tp):
            made = tp.model_json_schema(mode=self.mode, ref_template="#/$defs/{model}")
            self.defs.update(made.pop("$defs", {}))
            self.defs[name] = made
        else:
            self.defs[name] = self.named_body(tp)
        return {"$ref": f"#/$defs/{name}"}

    def unique_name(self, tp: Any) -> str:
        base = getattr(tp, "__name__", "Type")
        name, n = base, 2
        while name in self.defs:
            name, n = f"{base}{n}", n + 1
        return name

    def named_body(self, tp: Any) -> JsonSchema:
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self.literal(tuple(member.value for member in tp))
        if _is_typeddict(tp):
            return self.typeddict(tp)
        return self.dataclass(tp)

    def hints(self, tp: Any) -> dict[str, Any]:
        try:
            return get_type_hints(tp, include_extras=True)
        except Exception as exc:
            raise _Unsupported(f"cannot resolve the annotations of {_describe(tp)}: {exc}") from None

    def typeddict(self, tp: Any) -> JsonSchema:
        required_keys: frozenset[str] = getattr(tp, "__required_keys__", frozenset())
        properties: JsonSchema = {}
        required: list[str] = []
        for key, hint in self.hints(tp).items():
            hint = _strip_annotated(hint)
            origin = get_origin(hint)
            if origin is Required:
                is_required, hint = True, get_args(hint)[0]
            elif origin is NotRequired:
                is_required, hint = False, get_args(hint)[0]
            else:
                is_required = key in required_keys
            properties[key] = self.field(tp, key, hint)
            if is_required:
                required.append(key)
        schema: JsonSchema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def dataclass(self, tp: Any) -> JsonSchema:
        hints = self.hints(tp)
        properties: JsonSchema = {}
        required: list[str] = []
        for field in dataclasses.fields(tp):
            if not field.init:
                continue
            properties[field.name] = self.field(tp, field.name, hints.get(field.name, Any))
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                required.append(field.name)
        schema: JsonSchema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def field(self, owner: Any, name: str, hint: Any) -> JsonSchema:
        try:
            return self.schema(hint)
        except _Unsupported as exc:
            message = str(exc)
            if message.startswith("field "):
                raise
            raise _Unsupported(f"field {name!r} of {_describe(owner)}: {message}") from None


Converter = Callable[[Any], Any]


def converter_for(annotation: Any) -> Converter | None:
    """A function turning a validated JSON value into an instance of ``annotation`` (Pydantic
    model, msgspec Struct or dataclass, also inside ``list``, ``dict`` and ``Optional``), or
    ``None`` when the JSON value is passed as is."""
    return _converter(_strip_annotated(annotation), set())


def _converter(tp: Any, seen: set[Any]) -> Converter | None:
    if _pydantic_model(tp):
        validate: Converter = tp.model_validate
        return validate
    if _msgspec_struct(tp):
        convert = sys.modules["msgspec"].convert
        return lambda value: convert(value, tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass_converter(tp, seen)
    origin = get_origin(tp)
    args = tuple(_strip_annotated(arg) for arg in get_args(tp))
    if origin in _SEQUENCES and args:
        item = _converter(args[0], seen)
        if item is not None:
            return lambda value: [item(v) for v in value]
    if origin in _MAPPINGS and len(args) == 2:
        entry = _converter(args[1], seen)
        if entry is not None:
            return lambda value: {k: entry(v) for k, v in value.items()}
    if origin in _UNIONS:
        others = [arg for arg in args if arg is not _NONE_TYPE]
        if len(others) == 1:
            inner = _converter(others[0], seen)
            if inner is not None:
                return lambda value: None if value is None else inner(value)
    return None


def _dataclass_converter(cls: type[Any], seen: set[Any]) -> Converter:
    if cls in seen:
        # A recursive dataclass: build its converter lazily, when a value needs it.
        return lambda value: _dataclass_converter(cls, set())(value)
    seen = seen | {cls}
    hints = get_type_hints(cls, include_extras=True)
    fields: dict[str, Converter | None] = {
        field.name: _converter(_strip_annotated(hints.get(field.name, Any)), seen)
        for field in dataclasses.fields(cls)
        if field.init
    }

    def build(value: Any) -> Any:
        kwargs = {}
        for key, item in value.items():
            convert = fields.get(key, _MISSING)
            if convert is _MISSING:
                continue  # not a field: ignored, as unknown keys are elsewhere
            kwargs[key] = item if convert is None else convert(item)
        return cls(**kwargs)

    return build


_MISSING: Any = object()
