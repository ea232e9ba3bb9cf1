"""The pydantic type system: schemas from ``TypeAdapter(T).json_schema`` and messages decoded as
``TypeAdapter(T).validate_json(raw, strict=True)`` builds them.

Imported only when pydantic is installed and the annotation is not msgspec's.
"""

from __future__ import annotations

import functools
import operator
import sys
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, NotRequired, Required, get_args, get_origin, get_type_hints

import pydantic
import pydantic_core
import typing_extensions
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from spikard._pointer import BIG_INTEGER_MESSAGE, follow, is_big_integer
from spikard._relax import relax
from spikard.errors import FieldError, InvalidMessage, SchemaExtractionError

__all__ = ["decoder", "json_schema"]

_TYPEDDICT_NEEDS_BACKPORT = sys.version_info < (3, 12)


class _Generator(GenerateJsonSchema):
    """Pydantic's generator, except where a validator function sees the raw input first
    (``mode="before"``, ``"wrap"``, ``"plain"``): no schema can say what that function
    accepts, so the core lets anything through there and pydantic decides."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        return {}

    def function_wrap_schema(self, schema: core_schema.WrapValidatorFunctionSchema) -> JsonSchemaValue:
        return {}

    def function_plain_schema(self, schema: core_schema.PlainValidatorFunctionSchema) -> JsonSchemaValue:
        return {}


def _adapter(annotation: Any) -> pydantic.TypeAdapter[Any]:
    try:
        return pydantic.TypeAdapter(_backported(annotation, {}))
    except pydantic.PydanticUserError as exc:
        raise SchemaExtractionError(f"pydantic cannot use {annotation!r}: {exc.message}") from None
    except (pydantic.PydanticSchemaGenerationError, TypeError, NameError) as exc:
        raise SchemaExtractionError(f"pydantic cannot use {annotation!r}: {exc}") from None


def json_schema(annotation: Any, mode: typing.Literal["validation", "serialization"]) -> dict[str, Any]:
    """The schema the core checks: pydantic's own, relaxed where pydantic is laxer."""
    schema = _adapter(annotation).json_schema(mode=mode, schema_generator=_Generator)
    relaxed: dict[str, Any] = relax(schema)
    return relaxed


def decoder(annotation: Any) -> Callable[[Any], Any]:
    """A function turning a message the core parsed into what ``validate_json(raw,
    strict=True)`` builds from its text, raising :class:`InvalidMessage` where pydantic refuses.

    The message is re-encoded with ``pydantic_core.to_json`` (the text's values, in JSON's
    shapes) rather than validated as Python: pydantic's strict Python mode refuses ISO strings
    for datetimes and lists for tuples, its lax mode takes ``"1"`` for an ``int``.
    """
    validate = _adapter(annotation).validator.validate_json
    to_json = pydantic_core.to_json
    refused = pydantic.ValidationError

    def decode(value: Any) -> Any:
        try:
            return validate(to_json(value), strict=True)
        except refused as exc:
            raise InvalidMessage(_field_errors(exc, value)) from None

    return decode


def _field_errors(exc: pydantic.ValidationError, value: Any) -> list[FieldError]:
    out: list[FieldError] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        kind = error["type"]
        path, found = follow(value, error["loc"], missing=kind == "missing")
        message = error["msg"]
        if kind in ("int_type", "int_from_float") and is_big_integer(found):
            message = BIG_INTEGER_MESSAGE
        out.append({"path": path, "message": message, "keyword": _keyword(kind)})
    return out


def _keyword(kind: str) -> str:
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "additionalProperties"
    if kind.endswith("_type") or kind == "int_from_float":
        return "type"
    return kind


def _backported(tp: Any, done: dict[Any, Any]) -> Any:
    """``tp`` with every ``typing.TypedDict`` reachable through generic arguments replaced by
    an equivalent ``typing_extensions.TypedDict`` (pydantic refuses the former before Python
    3.12). Same keys, required keys, module, qualified name and pydantic config."""
    if not _TYPEDDICT_NEEDS_BACKPORT:
        return tp
    if isinstance(tp, type) and typing.is_typeddict(tp) and type(tp).__module__ == "typing":
        return _backport_typeddict(tp, done)
    origin, args = get_origin(tp), get_args(tp)
    if origin is None or not args:
        return tp
    if origin is Annotated:
        return Annotated[(_backported(args[0], done), *tp.__metadata__)]
    if origin is typing.Literal:
        return tp
    new = tuple(_backported(arg, done) for arg in args)
    if new == args:
        return tp
    if origin is types.UnionType:
        return functools.reduce(operator.or_, new)
    if isinstance(tp, types.GenericAlias):
        return types.GenericAlias(origin, new)
    return tp.copy_with(new)


def _backport_typeddict(tp: Any, done: dict[Any, Any]) -> Any:
    if tp in done:
        return done[tp]
    make: Any = typing_extensions.TypedDict
    twin: Any = make(tp.__name__, {})
    done[tp] = twin
    try:
        hints = get_type_hints(tp, include_extras=True)
    except Exception as exc:
        raise SchemaExtractionError(f"cannot resolve the annotations of {tp.__qualname__}: {exc}") from None
    required_keys: frozenset[str] = getattr(tp, "__required_keys__", frozenset())
    annotations: dict[str, Any] = {}
    required: set[str] = set()
    for key, hint in hints.items():
        bare = hint
        while get_origin(bare) is Annotated:
            bare = get_args(bare)[0]
        if get_origin(bare) is Required or (get_origin(bare) is not NotRequired and key in required_keys):
            required.add(key)
        annotations[key] = _backported(hint, done)
    twin.__annotations__ = annotations
    twin.__required_keys__ = frozenset(required)
    twin.__optional_keys__ = frozenset(annotations) - frozenset(required)
    twin.__total__ = getattr(tp, "__total__", True)
    twin.__module__ = tp.__module__
    twin.__qualname__ = tp.__qualname__
    config = getattr(tp, "__pydantic_config__", None)
    if config is not None:
        twin.__pydantic_config__ = config
    return twin
