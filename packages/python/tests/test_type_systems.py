"""Which type system decides, what the core is given, and what a refusal looks like."""

from __future__ import annotations

import dataclasses
import datetime
import typing
from typing import Annotated, Any, TypedDict

import annotated_types as at
import jsonschema
import msgspec
import pydantic
import pytest
from pydantic import ConfigDict, Field, with_config

from spikard import InvalidMessage, SchemaExtractionError, Spikard, websocket
from spikard._relax import relax
from spikard.schema import converter_for, json_schema, type_system
from spikard.testing import TestClient

NONE: frozenset[str] = frozenset()


def valid(schema: Any, instance: Any) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(instance)


def refusal(annotation: Any, value: Any) -> list[Any]:
    convert = converter_for(annotation)
    assert convert is not None
    with pytest.raises(InvalidMessage) as err:
        convert(value)
    return err.value.errors


class Move(msgspec.Struct):
    x: int


class Item(pydantic.BaseModel):
    name: str


class WithMeta(TypedDict):
    name: Annotated[str, msgspec.Meta(max_length=5)]


def test_the_type_system_of_an_annotation() -> None:
    both = frozenset({"pydantic", "msgspec"})
    assert type_system(Move, both) == "msgspec"
    assert type_system(list[Move], both) == "msgspec"
    assert type_system(WithMeta, both) == "msgspec"
    assert type_system(Item, both) == "pydantic"
    assert type_system(int, both) == "pydantic"
    assert type_system(int, frozenset({"msgspec"})) == "msgspec"
    assert type_system(int, NONE) == "stdlib"


def test_pydantic_and_msgspec_in_one_annotation_are_refused() -> None:
    class Mixed(TypedDict):
        item: Item
        move: Move

    with pytest.raises(SchemaExtractionError, match="mixes pydantic and msgspec"):
        json_schema(Mixed)


def _inner(kind: type) -> type[pydantic.BaseModel]:
    class Inner(pydantic.BaseModel):
        v: kind  # type: ignore[valid-type]

    return Inner


IntInner, StrInner = _inner(int), _inner(str)


class Node(pydantic.BaseModel):
    value: int
    children: list[Node] = []


class Holder(TypedDict):
    a: IntInner  # type: ignore[valid-type]
    b: StrInner  # type: ignore[valid-type]
    tree: Node


def test_same_named_classes_and_recursion_below_the_top() -> None:
    schema = json_schema(Holder)
    assert schema is not None
    good = {"a": {"v": 1}, "b": {"v": "x"}, "tree": {"value": 1, "children": [{"value": 2}]}}
    assert valid(schema, good)
    assert not valid(schema, {**good, "a": {"v": "x"}})
    assert not valid(schema, {**good, "b": {"v": 1}})
    assert not valid(schema, {**good, "tree": 1})
    assert not valid(schema, {**good, "tree": {"value": 1, "children": [{"value": "2"}]}})


@dataclasses.dataclass
class Rec:
    value: Annotated[int, at.Ge(0)]
    next: Rec | None = None


def _stdlib_inner(kind: type) -> type:
    class Inner:
        pass

    Inner.__annotations__ = {"v": kind}
    return dataclasses.dataclass(Inner)


@dataclasses.dataclass
class Pair:
    a: _stdlib_inner(int)  # type: ignore[valid-type]
    b: _stdlib_inner(str)  # type: ignore[valid-type]


def test_stdlib_walker_names_defs_by_qualified_name_and_recurses(monkeypatch: pytest.MonkeyPatch) -> None:
    from spikard import schema as schema_module

    monkeypatch.setattr(schema_module, "_INSTALLED", NONE)
    schema = json_schema(Pair)
    assert schema is not None
    assert any(name.endswith("_stdlib_inner._locals_.Inner") for name in schema["$defs"])
    assert valid(schema, {"a": {"v": 1}, "b": {"v": "x"}})
    assert not valid(schema, {"a": {"v": "x"}, "b": {"v": "x"}})
    rec = json_schema(Rec)
    assert rec is not None
    assert valid(rec, {"value": 1, "next": {"value": 2}})
    assert not valid(rec, {"value": 1, "next": {"value": -2}})
    convert = converter_for(Rec)
    assert convert is not None
    assert convert({"value": 1, "next": {"value": 2}}) == Rec(1, Rec(2))
    assert refusal(Rec, {"value": 1, "next": {"value": -2}}) == [
        {"path": "/next/value", "message": "Input should be greater than or equal to 0", "keyword": "minimum"}
    ]


class Constrained(TypedDict):
    age: Annotated[int, Field(ge=0, le=150)]
    name: Annotated[str, at.MaxLen(5)]


@with_config(ConfigDict(extra="forbid"))
class Closed(typing.TypedDict):
    a: int


@pydantic.dataclasses.dataclass
class PydanticDC:
    age: int = Field(ge=0)


def test_constraints_and_config_reach_the_schema() -> None:
    schema = json_schema(Constrained)
    assert schema is not None
    assert not valid(schema, {"age": 151, "name": "ann"})
    assert not valid(schema, {"age": 1, "name": "annabel"})
    closed = json_schema(Closed)
    assert closed is not None
    assert not valid(closed, {"a": 1, "b": 2})
    dc = json_schema(PydanticDC)
    assert dc is not None
    assert dc["required"] == ["age"]
    assert not valid(dc, {"age": -1})


def test_formats_the_libraries_take_more_loosely_are_left_to_them() -> None:
    schema = json_schema(dict[str, datetime.datetime])
    assert schema == {"type": "object", "additionalProperties": {"type": "string"}}
    assert relax({"type": "string", "format": "date"}) == {"type": "string", "format": "date"}
    assert relax({"items": {"uniqueItems": True, "pattern": "x", "oneOf": [{"const": "a"}]}}) == {
        "items": {"anyOf": [{"const": "a"}]}
    }
    assert relax({"properties": {"pattern": {"type": "string"}}}) == {
        "properties": {"pattern": {"type": "string"}}
    }


class Strict(pydantic.BaseModel):
    model_config = ConfigDict(strict=True)
    when: datetime.datetime
    pair: tuple[int, str]


def test_strict_models_get_json_mode_values() -> None:
    convert = converter_for(Strict)
    assert convert is not None
    assert convert({"when": "2024-02-29T10:20:30Z", "pair": [1, "a"]}) == Strict(
        when=datetime.datetime(2024, 2, 29, 10, 20, 30, tzinfo=datetime.UTC), pair=(1, "a")
    )


def test_refusals_point_at_the_value_and_never_echo_it() -> None:
    assert refusal(list[Item], [{"name": "a"}, {"name": 1.0}]) == [
        {"path": "/1/name", "message": "Input should be a valid string", "keyword": "type"}
    ]
    assert refusal(dict[str, int], {"a/b": 1.0}) == [
        {"path": "/a~1b", "message": "Input should be a valid integer", "keyword": "type"}
    ]
    assert refusal(Constrained, {"name": "x"})[0] == {
        "path": "/age",
        "message": "Field required",
        "keyword": "required",
    }
    assert refusal(list[Move], [{"x": 1}, {"x": 1.0}]) == [
        {"path": "/1/x", "message": "Expected `int`, got `float`", "keyword": "type"}
    ]
    errors = refusal(Annotated[str, msgspec.Meta(pattern="^a")], "secret-value")
    assert "secret" not in errors[0]["message"]


def test_integers_beyond_64_bits_are_refused_clearly() -> None:
    # The core reads 2**70 as a float; int refuses it with this message, not a type error.
    (error,) = refusal(dict[str, int], {"n": float(2**70)})
    assert error["path"] == "/n"
    assert "64-bit" in error["message"]


def test_type_refusals_are_validation_failed_envelopes() -> None:
    @websocket("/counts")
    async def counts(message: dict[str, int]) -> int:
        return sum(message.values())

    @websocket("/own")
    async def own(message: dict[str, Any]) -> None:
        raise InvalidMessage([{"path": "/x", "message": "x is taken", "keyword": "unique"}])

    with TestClient(Spikard(routes=[counts, own])) as client:
        with client.connect("/counts") as ws:
            ws.send_text('{"a": 1, "b/c": 1.0}')  # 1.0 is a JSON Schema integer, not a pydantic int
            refused = ws.receive_json()
            ws.send_text('{"a": 1, "b": 2}')
            assert ws.receive_json() == 3
        with client.connect("/own") as ws:
            ws.send_json({})
            own_refusal = ws.receive_json()
    assert refused["code"] == "validation_failed"
    assert refused["errors"] == [
        {"path": "/b~1c", "message": "Input should be a valid integer", "keyword": "type"}
    ]
    assert own_refusal["code"] == "validation_failed"
    assert own_refusal["errors"] == [{"path": "/x", "message": "x is taken", "keyword": "unique"}]
