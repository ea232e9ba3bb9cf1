"""The standard-library type system, for installs with neither pydantic nor msgspec.

One walk of the annotation gives both the JSON Schema and the converter, so the two cannot
drift. The converter follows pydantic's strict JSON rule for what it supports: ``int`` takes
JSON integers only (not ``1.0``), ``float`` integers and floats, ``datetime``/``date``/``time``
ISO 8601 strings, ``UUID`` its string forms, ``tuple``/``set``/``frozenset`` arrays, enums and
``Literal`` their values (same JSON type), TypedDicts dicts of their declared keys (others are
dropped), dataclasses instances (``InitVar`` fields included). ``Annotated`` constraints from
``annotated_types`` (``Gt``, ``Ge``, ``Lt``, ``Le``, ``MultipleOf``, ``MinLen``, ``MaxLen``,
``Len``, ``Interval``) are in the schema and checked. Named types (TypedDict, dataclass, enum)
go to ``$defs`` under their module-qualified name, so recursive types validate and two
classes of one name never collide.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import enum
import re
import sys
import types
import typing
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

from spikard._pointer import BIG_INTEGER_MESSAGE, follow, is_big_integer
from spikard._relax import relax
from spikard.errors import FieldError, InvalidMessage, SchemaExtractionError

__all__ = ["decoder", "json_schema"]

JsonSchema = dict[str, Any]
Convert = Callable[[Any], Any]

_NONE = type(None)
_UNIONS: tuple[object, ...] = (Union, types.UnionType)
_SEQUENCES: tuple[object, ...] = (list, collections.abc.Sequence, collections.abc.MutableSequence)
_SETS: tuple[object, ...] = (set, frozenset, collections.abc.Set, collections.abc.MutableSet)
_MAPPINGS: tuple[object, ...] = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_DATETIME = re.compile(
    r"\d{4}-\d\d-\d\d[Tt_ ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[Zz]|[+-]\d\d:?\d\d)?|-?\d+(?:\.\d+)?"
)
_TIME = re.compile(r"\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[Zz]|[+-]\d\d:?\d\d)?")
_DATE = re.compile(r"\d{4}-\d\d-\d\d|-?\d+(?:\.\d+)?")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class _Refused(Exception):
    """A value the type refuses; containers prepend their key or index to ``location``."""

    def __init__(self, message: str, keyword: str = "type") -> None:
        super().__init__(message)
        self.message = message
        self.keyword = keyword
        self.location: list[Any] = []


def json_schema(annotation: Any, mode: Literal["validation", "serialization"]) -> JsonSchema:
    """The schema of ``annotation`` (one schema for both directions)."""
    walker = _Walker()
    schema, _ = walker.walk_root(annotation)
    return relax(schema)  # type: ignore[no-any-return]


def decoder(annotation: Any) -> Convert:
    """A function turning a message the core parsed into the value the annotation describes,
    raising :class:`InvalidMessage` where the type refuses it."""
    _, convert = _Walker().walk_root(annotation)

    def decode(value: Any) -> Any:
        try:
            return convert(value)
        except _Refused as exc:
            raise InvalidMessage([_field_error(exc, value)]) from None

    return decode


def _field_error(exc: _Refused, value: Any) -> FieldError:
    path, found = follow(value, exc.location, missing=exc.keyword == "required")
    message = BIG_INTEGER_MESSAGE if exc.keyword == "type" and is_big_integer(found) else exc.message
    return {"path": path, "message": message, "keyword": exc.keyword}


def _describe(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp).replace("typing.", "")


def _is_typeddict(tp: Any) -> bool:
    if typing.is_typeddict(tp):
        return True
    extensions = sys.modules.get("typing_extensions")
    return bool(extensions is not None and extensions.is_typeddict(tp))


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


def _exact(kind: type, name: str) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is not kind:
            raise _Refused(f"Input should be a valid {name}")
        return value

    return convert


def _to_float(value: Any) -> float:
    if type(value) is not float and type(value) is not int:
        raise _Refused("Input should be a valid number")
    return float(value)


def _to_none(value: Any) -> None:
    if value is not None:
        raise _Refused("Input should be None")


def _parser(pattern: re.Pattern[str], parse: Callable[[str], Any], name: str) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is not str:
            raise _Refused(f"Input should be a valid {name}")
        if pattern.fullmatch(value) is None:
            raise _Refused(f"Input should be a valid {name}", "format")
        try:
            return parse(value)
        except ValueError:
            raise _Refused(f"Input should be a valid {name}", "format") from None

    return convert


def _parse_datetime(text: str) -> datetime.datetime:
    if _TIMESTAMP.fullmatch(text):
        return _from_timestamp(text)
    text = text.upper().replace("_", "T")
    head, dot, rest = text.partition(".")
    if dot:  # Python takes at most 6 fraction digits; the rest is dropped, as pydantic does
        digits = re.match(r"\d+", rest)
        assert digits is not None
        text = f"{head}.{digits[0][:6]}{rest[len(digits[0]) :]}"
    return datetime.datetime.fromisoformat(text)


_TIMESTAMP = re.compile(r"-?\d+(?:\.\d+)?")
_MS_THRESHOLD = 2e10


def _from_timestamp(text: str) -> datetime.datetime:
    """A Unix timestamp in a string, as pydantic reads it (milliseconds beyond 2e10)."""
    seconds = float(text)
    if abs(seconds) > _MS_THRESHOLD:
        seconds /= 1000
    try:
        return datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(text) from None


def _parse_date(text: str) -> datetime.date:
    if _TIMESTAMP.fullmatch(text):
        moment = _from_timestamp(text)
        if moment.time() != datetime.time(0):
            raise ValueError(text)
        return moment.date()
    return datetime.date.fromisoformat(text)


def _parse_time(text: str) -> datetime.time:
    return _parse_datetime(f"2000-01-01T{text}").timetz()


def _parse_uuid(text: str) -> uuid.UUID:
    return uuid.UUID(text)


_UUID = re.compile(
    r"(?:urn:uuid:)?(?:\{[0-9a-fA-F-]{36}\}|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})"
)

_SIMPLE: dict[Any, tuple[JsonSchema, Convert]] = {
    str: ({"type": "string"}, _exact(str, "string")),
    int: ({"type": "integer"}, _exact(int, "integer")),
    float: ({"type": "number"}, _to_float),
    bool: ({"type": "boolean"}, _exact(bool, "boolean")),
    _NONE: ({"type": "null"}, _to_none),
    datetime.datetime: (
        {"type": "string", "format": "date-time"},
        _parser(_DATETIME, _parse_datetime, "datetime"),
    ),
    datetime.date: ({"type": "string", "format": "date"}, _parser(_DATE, _parse_date, "date")),
    datetime.time: ({"type": "string", "format": "time"}, _parser(_TIME, _parse_time, "time")),
    uuid.UUID: ({"type": "string", "format": "uuid"}, _parser(_UUID, _parse_uuid, "UUID")),
}


class _Walker:
    """Walks one annotation; named types go to ``$defs`` (so recursion works)."""

    def __init__(self) -> None:
        self.defs: dict[str, JsonSchema] = {}
        self.names: dict[Any, str] = {}
        self.converters: dict[Any, Convert] = {}

    def walk_root(self, root: Any) -> tuple[JsonSchema, Convert]:
        schema, convert = self.walk(root)
        if self.defs:
            schema = {**schema, "$defs": self.defs}
        return schema, convert

    def walk(self, tp: Any) -> tuple[JsonSchema, Convert]:
        if get_origin(tp) is Annotated:
            schema, convert = self.walk(get_args(tp)[0])
            return _constrained(schema, convert, tp.__metadata__)
        if tp is None:
            tp = _NONE
        if tp is Any or tp is object:
            return {}, _identity
        supertype = getattr(tp, "__supertype__", None)
        if supertype is not None:  # NewType
            return self.walk(supertype)
        simple = _SIMPLE.get(tp)
        if simple is not None:
            return dict(simple[0]), simple[1]
        if tp is dict:
            return {"type": "object"}, _exact(dict, "dictionary")
        if tp is list:
            return {"type": "array"}, _exact(list, "list")
        if _is_typeddict(tp) or dataclasses.is_dataclass(tp) or _is_enum(tp):
            return self.named(tp)
        origin, args = get_origin(tp), get_args(tp)
        if origin is Literal:
            return _literal(args)
        if origin in _UNIONS:
            return self.union(args)
        if origin in _SEQUENCES:
            return self.sequence(args[0] if args else Any, list, "list")
        if origin in _SETS:
            return self.sequence(
                args[0] if args else Any, set if origin is not frozenset else frozenset, "set"
            )
        if origin is tuple:
            return self.fixed_tuple(args)
        if origin in _MAPPINGS:
            return self.mapping(tp, args)
        if origin in (Required, NotRequired):
            raise SchemaExtractionError(f"{_describe(tp)} is only meaningful on a TypedDict field")
        raise SchemaExtractionError(f"unsupported annotation {_describe(tp)}")

    def union(self, members: tuple[Any, ...]) -> tuple[JsonSchema, Convert]:
        walked = [self.walk(member) for member in members]
        schemas = [schema for schema, _ in walked]
        converters = [convert for _, convert in walked]
        schema: JsonSchema = {} if any(s == {} for s in schemas) else {"anyOf": schemas}

        def convert(value: Any) -> Any:
            # pydantic's smart mode: a member that keeps the value's own type wins, else the
            # first member that takes it.
            taken: list[Any] = []
            first: _Refused | None = None
            for member in converters:
                try:
                    out = member(value)
                except _Refused as exc:
                    first = first or exc
                    continue
                if type(out) is type(value):
                    return out
                taken.append(out)
            if taken:
                return taken[0]
            raise first or _Refused("Input matches no member of the union")

        return schema, convert

    def sequence(self, item: Any, kind: type, name: str) -> tuple[JsonSchema, Convert]:
        item_schema, item_convert = self.walk(item)
        schema: JsonSchema = {"type": "array"}
        if item_schema:
            schema["items"] = item_schema

        def convert(value: Any) -> Any:
            if type(value) is not list:
                raise _Refused(f"Input should be a valid {name}")
            out = []
            for n, element in enumerate(value):
                try:
                    out.append(item_convert(element))
                except _Refused as exc:
                    exc.location.insert(0, n)
                    raise
            try:
                return out if kind is list else kind(out)
            except TypeError:
                raise _Refused("Set items should be hashable") from None

        return schema, convert

    def fixed_tuple(self, args: tuple[Any, ...]) -> tuple[JsonSchema, Convert]:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            items, convert_items = self.sequence(args[0] if args else Any, list, "tuple")
            return items, lambda value: tuple(convert_items(value))
        if args == ((),):
            args = ()
        walked = [self.walk(arg) for arg in args]
        schema: JsonSchema = {
            "type": "array",
            "prefixItems": [s for s, _ in walked],
            "items": False,
            "minItems": len(walked),
        }
        converters = [c for _, c in walked]

        def convert(value: Any) -> Any:
            if type(value) is not list:
                raise _Refused("Input should be a valid tuple")
            if len(value) != len(converters):
                raise _Refused(f"Tuple should have {len(converters)} items", "prefixItems")
            out = []
            for n, (element, item_convert) in enumerate(zip(value, converters, strict=True)):
                try:
                    out.append(item_convert(element))
                except _Refused as exc:
                    exc.location.insert(0, n)
                    raise
            return tuple(out)

        return schema, convert

    def mapping(self, tp: Any, args: tuple[Any, ...]) -> tuple[JsonSchema, Convert]:
        if not args:
            return {"type": "object"}, _exact(dict, "dictionary")
        key = args[0]
        while get_origin(key) is Annotated:
            key = get_args(key)[0]
        if key is not str:
            raise SchemaExtractionError(
                f"{_describe(tp)}: JSON object keys are strings, not {_describe(key)}"
            )
        values, value_convert = self.walk(args[1])
        schema: JsonSchema = {"type": "object"}
        if values:
            schema["additionalProperties"] = values

        def convert(value: Any) -> Any:
            if type(value) is not dict:
                raise _Refused("Input should be a valid dictionary")
            out = {}
            for name, element in value.items():
                try:
                    out[name] = value_convert(element)
                except _Refused as exc:
                    exc.location.insert(0, name)
                    raise
            return out

        return schema, convert

    def named(self, tp: Any) -> tuple[JsonSchema, Convert]:
        name = self.names.get(tp)
        if name is None:
            name = self.unique_name(tp)
            self.names[tp] = name
            self.defs[name] = {}
            cell: list[Convert] = []
            self.converters[tp] = lambda value: cell[0](value)
            if _is_enum(tp):
                body, convert = _enum(tp)
            elif _is_typeddict(tp):
                body, convert = self.typeddict(tp)
            else:
                body, convert = self.dataclass(tp)
            self.defs[name] = body
            cell.append(convert)
            self.converters[tp] = convert
        return {"$ref": f"#/$defs/{name}"}, self.converters[tp]

    def unique_name(self, tp: Any) -> str:
        base = _NAME_UNSAFE.sub("_", f"{tp.__module__}.{tp.__qualname__}")
        name, n = base, 2
        while name in self.defs:
            name, n = f"{base}_{n}", n + 1
        return name

    def hints(self, tp: Any) -> dict[str, Any]:
        try:
            return get_type_hints(tp, include_extras=True)
        except Exception as exc:
            raise SchemaExtractionError(f"cannot resolve the annotations of {_describe(tp)}: {exc}") from None

    def field(self, owner: Any, name: str, hint: Any) -> tuple[JsonSchema, Convert]:
        try:
            return self.walk(hint)
        except SchemaExtractionError as exc:
            if str(exc).startswith("field "):
                raise
            raise SchemaExtractionError(f"field {name!r} of {_describe(owner)}: {exc}") from None

    def typeddict(self, tp: Any) -> tuple[JsonSchema, Convert]:
        required_keys: frozenset[str] = getattr(tp, "__required_keys__", frozenset())
        properties: JsonSchema = {}
        required: list[str] = []
        fields: dict[str, Convert] = {}
        for key, hint in self.hints(tp).items():
            bare = hint
            while get_origin(bare) is Annotated:
                bare = get_args(bare)[0]
            if get_origin(bare) in (Required, NotRequired):
                is_required = get_origin(bare) is Required
                hint = get_args(bare)[0]
            else:
                is_required = key in required_keys
            properties[key], fields[key] = self.field(tp, key, hint)
            if is_required:
                required.append(key)
        schema: JsonSchema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema, _object_converter(fields, required, dict)

    def dataclass(self, tp: Any) -> tuple[JsonSchema, Convert]:
        hints = self.hints(tp)
        properties: JsonSchema = {}
        required: list[str] = []
        fields: dict[str, Convert] = {}
        for field in tp.__dataclass_fields__.values():
            if not field.init or field._field_type is dataclasses._FIELD_CLASSVAR:  # type: ignore[attr-defined]
                continue
            hint = hints.get(field.name, Any)
            if isinstance(hint, dataclasses.InitVar):
                hint = hint.type
            properties[field.name], fields[field.name] = self.field(tp, field.name, hint)
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                required.append(field.name)
        schema: JsonSchema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema, _object_converter(fields, required, tp)


def _identity(value: Any) -> Any:
    return value


def _object_converter(fields: dict[str, Convert], required: list[str], build: Callable[..., Any]) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is not dict:
            raise _Refused("Input should be a valid dictionary or instance", "type")
        for key in required:
            if key not in value:
                exc = _Refused("Field required", "required")
                exc.location.append(key)
                raise exc
        kwargs = {}
        for key, element in value.items():
            field = fields.get(key)
            if field is None:
                continue  # not a field: ignored, as pydantic's default does
            try:
                kwargs[key] = field(element)
            except _Refused as exc:
                exc.location.insert(0, key)
                raise
        return build(**kwargs)

    return convert


def _literal(values: tuple[Any, ...]) -> tuple[JsonSchema, Convert]:
    flat = [v.value if isinstance(v, enum.Enum) else v for v in values]
    for value in flat:
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise SchemaExtractionError(f"Literal value {value!r} is not a JSON value")
    # As pydantic: strings match strings only, other values by Python equality (``1.0`` and
    # ``true`` are the literal ``1``).
    allowed = {(type(v) is str, v): original for v, original in zip(flat, values, strict=True)}
    schema: JsonSchema = {"const": flat[0]} if len(flat) == 1 else {"enum": flat}

    def convert(value: Any) -> Any:
        try:
            return allowed[(type(value) is str, value)]
        except (KeyError, TypeError):
            raise _Refused("Input should be one of the literal values", "enum") from None

    return schema, convert


def _enum(tp: type[enum.Enum]) -> tuple[JsonSchema, Convert]:
    # As pydantic: an int (or str) enum takes exactly its values' JSON type, another enum
    # looks its value up by Python equality.
    base = int if issubclass(tp, int) else str if issubclass(tp, str) else None
    members = {(type(m.value) if base else type(m.value) is str, m.value): m for m in tp}
    schema, _ = _literal(tuple(m.value for m in tp))

    def convert(value: Any) -> Any:
        try:
            return members[(type(value) if base else type(value) is str, value)]
        except (KeyError, TypeError):
            raise _Refused("Input should be one of the enumeration's values", "enum") from None

    return schema, convert


def _constrained(
    schema: JsonSchema, convert: Convert, metadata: tuple[Any, ...]
) -> tuple[JsonSchema, Convert]:
    """``annotated_types`` constraints, in the schema and checked after conversion (other
    metadata is ignored)."""
    annotated_types = sys.modules.get("annotated_types")
    if annotated_types is None:
        return schema, convert
    checks: list[Callable[[Any], None]] = []
    schema = dict(schema)
    kind = schema.get("type")
    for meta in _flatten(metadata, annotated_types):
        for attr, keyword, holds, words in (
            ("gt", "exclusiveMinimum", lambda v, b: v > b, "greater than"),
            ("ge", "minimum", lambda v, b: v >= b, "greater than or equal to"),
            ("lt", "exclusiveMaximum", lambda v, b: v < b, "less than"),
            ("le", "maximum", lambda v, b: v <= b, "less than or equal to"),
        ):
            bound = getattr(meta, attr, None)
            if bound is not None and kind in ("integer", "number"):
                schema[keyword] = bound
                checks.append(_check(holds, bound, f"Input should be {words} {bound}", keyword))
        if isinstance(meta, annotated_types.MultipleOf) and kind in ("integer", "number"):
            schema["multipleOf"] = meta.multiple_of
            checks.append(
                _check(
                    lambda v, b: v % b == 0,
                    meta.multiple_of,
                    f"Input should be a multiple of {meta.multiple_of}",
                    "multipleOf",
                )
            )
        if isinstance(meta, (annotated_types.MinLen, annotated_types.MaxLen, annotated_types.Len)):
            low = getattr(meta, "min_length", 0)
            high = getattr(meta, "max_length", None)
            words, (min_kw, max_kw) = {
                "string": ("characters", ("minLength", "maxLength")),
                "object": ("items", ("minProperties", "maxProperties")),
            }.get(str(kind), ("items", ("minItems", "maxItems")))
            if low:
                schema[min_kw] = low
                checks.append(
                    _check(lambda v, b: len(v) >= b, low, f"Value should have at least {low} {words}", min_kw)
                )
            if high is not None:
                schema[max_kw] = high
                checks.append(
                    _check(
                        lambda v, b: len(v) <= b, high, f"Value should have at most {high} {words}", max_kw
                    )
                )
    if not checks:
        return schema, convert

    def constrained(value: Any) -> Any:
        out = convert(value)
        for check in checks:
            check(out)
        return out

    return schema, constrained


def _flatten(metadata: tuple[Any, ...], annotated_types: Any) -> list[Any]:
    out: list[Any] = []
    for meta in metadata:
        if isinstance(meta, annotated_types.GroupedMetadata):
            out.extend(meta)
        else:
            out.append(meta)
    return out


def _check(
    holds: Callable[[Any, Any], bool], bound: Any, message: str, keyword: str
) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not holds(value, bound):
            raise _Refused(message, keyword)

    return check
