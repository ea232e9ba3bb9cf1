"""Schema extraction per type system, checked against the jsonschema library."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Any, Literal, NewType, NotRequired, Optional, Required, TypedDict

import jsonschema
import msgspec
import pydantic
import pytest
from future_types import Thread

from spikard import SchemaCompileError, SchemaExtractionError, WebSocket, _stdlib, websocket
from spikard.schema import converter_for, json_schema


def valid(schema: Any, instance: Any) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(instance)


class ChatMessage(TypedDict):
    text: str
    user: str


class Address(TypedDict):
    city: str
    zip: NotRequired[str]


class Person(TypedDict, total=False):
    name: Required[str]
    age: int
    tags: list[str]
    scores: dict[str, float]
    address: Address
    role: Literal["admin", "user"]
    nickname: Optional[str]  # noqa: UP045 - the typing form is what is tested
    pair: tuple[int, str]
    many: tuple[int, ...]


class Employee(Person):
    company: str


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


UserId = NewType("UserId", int)


class Node(TypedDict):
    value: int
    children: list[Node]


def test_seed_typeddict() -> None:
    schema = json_schema(ChatMessage)
    assert schema is not None
    assert schema["type"] == "object"
    assert sorted(schema["required"]) == ["text", "user"]
    assert valid(schema, {"text": "hi", "user": "ann"})
    assert not valid(schema, {"text": 1, "user": "ann"})


def test_typeddict_nested_optional_literal_containers() -> None:
    schema = json_schema(Person)
    assert schema is not None
    assert schema["required"] == ["name"]
    good = {
        "name": "ann",
        "age": 3,
        "tags": ["a"],
        "scores": {"x": 1.5},
        "address": {"city": "Oslo"},
        "role": "admin",
        "nickname": None,
        "pair": [1, "a"],
        "many": [1, 2, 3],
    }
    assert valid(schema, good)
    for key, bad in [
        ("name", None),
        ("age", "3"),
        ("tags", [1]),
        ("scores", {"x": "no"}),
        ("address", {"zip": "1"}),
        ("role", "root"),
        ("nickname", 3),
        ("pair", [1, 2]),
        ("pair", [1, "a", 3]),
        ("many", ["x"]),
    ]:
        assert not valid(schema, {**good, key: bad}), (key, bad)
    assert valid(schema, {"name": "only"})
    assert not valid(schema, {"age": 1})


def test_typeddict_inheritance_keeps_each_class_totality() -> None:
    schema = json_schema(Employee)
    assert schema is not None
    assert sorted(schema["required"]) == ["company", "name"]


def test_postponed_annotations_and_recursion() -> None:
    schema = json_schema(Thread)
    assert schema is not None
    for key in ("parent", "replies", "title"):
        whole = {"title": "t", "replies": [], "parent": None}
        del whole[key]
        assert not valid(schema, whole), key
    reply = {"kind": "reply", "text": "hi"}
    assert valid(schema, {"title": "t", "replies": [reply], "parent": None})
    assert valid(
        schema, {"title": "t", "replies": [], "parent": {"title": "p", "replies": [], "parent": None}}
    )
    assert not valid(schema, {"title": "t", "replies": [{"kind": "other", "text": "x"}], "parent": None})
    assert not valid(
        schema, {"title": "t", "replies": [], "parent": {"title": 1, "replies": [], "parent": None}}
    )


def test_recursive_typeddict_refers_to_root() -> None:
    schema = json_schema(Node)
    assert schema is not None
    assert valid(schema, {"value": 1, "children": [{"value": 2, "children": []}]})
    assert not valid(schema, {"value": 1, "children": [{"value": "2", "children": []}]})


def test_scalars_enums_newtype_annotated() -> None:
    assert json_schema(str) == {"type": "string"}
    assert json_schema(bool) == {"type": "boolean"}
    assert json_schema(UserId) == {"type": "integer"}
    assert json_schema(Annotated[float, "meta"]) == {"type": "number"}
    literal = json_schema(Literal["a"])
    assert literal is not None
    assert literal["const"] == "a"
    colour = json_schema(Colour)
    assert colour is not None
    assert colour["enum"] == ["red", "blue"]
    assert json_schema(list[int] | None) == {
        "anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]
    }


def test_anything_means_no_schema() -> None:
    assert json_schema(dict) is None
    assert json_schema(Any) is None
    assert json_schema(object) is None


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


@dataclasses.dataclass
class Shape:
    name: str
    points: list[Point]
    centre: Point | None = None


def test_dataclass_schema_and_instances() -> None:
    schema = json_schema(Shape)
    assert schema is not None
    assert schema["required"] == ["name", "points"]
    assert valid(schema, {"name": "s", "points": [{"x": 1}], "centre": {"x": 1, "y": 2}})
    assert not valid(schema, {"name": "s", "points": [{"y": 1}]})
    convert = converter_for(Shape)
    assert convert is not None
    assert convert({"name": "s", "points": [{"x": 1}], "centre": {"x": 2, "y": 3}}) == Shape(
        "s", [Point(1)], Point(2, 3)
    )


class Item(pydantic.BaseModel):
    name: str
    quantity: int = 1


class Order(pydantic.BaseModel):
    items: list[Item]
    note: str | None = None


def test_pydantic_model() -> None:
    schema = json_schema(Order)
    assert schema is not None
    assert valid(schema, {"items": [{"name": "a"}]})
    assert not valid(schema, {"items": [{"quantity": 2}]})
    convert = converter_for(Order)
    assert convert is not None
    assert convert({"items": [{"name": "a"}]}) == Order(items=[Item(name="a")])


class Basket(TypedDict):
    order: Order
    owner: str


def test_pydantic_model_inside_typeddict() -> None:
    schema = json_schema(Basket)
    assert schema is not None
    assert valid(schema, {"order": {"items": [{"name": "a"}]}, "owner": "x"})
    assert not valid(schema, {"order": {"items": [{"name": 1}]}, "owner": "x"})


class Move(msgspec.Struct):
    x: int
    y: int
    label: str = ""


def test_msgspec_struct() -> None:
    schema = json_schema(Move)
    assert schema is not None
    assert valid(schema, {"x": 1, "y": 2})
    assert not valid(schema, {"x": 1})
    convert = converter_for(Move)
    assert convert is not None
    assert convert({"x": 1, "y": 2}) == Move(1, 2)


def test_msgspec_struct_inside_typeddict() -> None:
    class Game(TypedDict):
        moves: list[Move]

    schema = json_schema(Game)
    assert schema is not None
    assert valid(schema, {"moves": [{"x": 1, "y": 2}]})
    assert not valid(schema, {"moves": [{"x": "1", "y": 2}]})


def test_handler_annotations_give_route_schemas() -> None:
    @websocket("/chat")
    async def chat(message: ChatMessage, ws: WebSocket) -> Item:
        return Item(name=message["text"])

    assert chat.message_schema == json_schema(ChatMessage)
    assert chat.response_schema == Item.model_json_schema(mode="serialization")


def test_dict_and_missing_annotations_mean_no_schema() -> None:
    @websocket("/a")
    async def a(message: dict) -> dict:  # type: ignore[type-arg]
        return message

    @websocket("/b")
    async def b(message):  # type: ignore[no-untyped-def]
        return message

    @websocket("/c")
    async def c(message: dict[str, Any]) -> None:
        return None

    for route in (a, b):
        assert route.message_schema is None
        assert route.response_schema is None
    assert c.message_schema is not None
    assert c.message_schema["type"] == "object"
    assert c.response_schema is None


def test_optional_return_drops_none() -> None:
    @websocket("/maybe")
    async def maybe(message: dict) -> ChatMessage | None:  # type: ignore[type-arg]
        return None

    assert maybe.response_schema == json_schema(ChatMessage)


def test_explicit_schemas_win() -> None:
    schema = {"type": "object", "required": ["text"]}

    @websocket("/chat", message_schema=schema, response_schema={"type": "object"})
    async def chat(message: ChatMessage) -> str:
        return "x"

    assert chat.message_schema == schema
    assert chat.response_schema == {"type": "object"}


def test_unsupported_annotation_names_the_handler() -> None:
    class Opaque:
        pass

    with pytest.raises(
        SchemaExtractionError, match=r"route /x: .*message schema of handler .*opaque.*Opaque"
    ):

        @websocket("/x")
        async def opaque(message: Opaque) -> None: ...

    class Bad(TypedDict):
        when: Opaque

    with pytest.raises(SchemaExtractionError, match=r"route /y: .*Opaque") as err:

        @websocket("/y")
        async def nested(message: Bad) -> None: ...

    assert "nested" in str(err.value)
    assert err.value.route == "/y"
    assert err.value.code == "schema_extraction"


def test_non_string_dict_keys_are_refused_by_the_stdlib_walker() -> None:
    with pytest.raises(SchemaExtractionError, match="keys are strings"):
        _stdlib.json_schema(dict[int, str], "validation")


def test_unfillable_parameter_is_refused() -> None:
    with pytest.raises(SchemaExtractionError, match=r"parameter 'extra'"):

        @websocket("/x")
        async def handler(message: dict, extra: int) -> None: ...  # type: ignore[type-arg]


def test_invalid_raw_schema_names_the_route() -> None:
    with pytest.raises(SchemaCompileError, match="route /bad: message schema") as err:

        @websocket("/bad", message_schema={"type": "no-such-type"})
        async def bad(message: dict) -> None: ...  # type: ignore[type-arg]

    assert err.value.route == "/bad"
