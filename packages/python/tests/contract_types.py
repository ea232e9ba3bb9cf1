"""The annotation types of the differential test (``test_type_contract.py``): each with the
type system whose own JSON decoding is the reference, and seed messages it accepts."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import typing
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, Required

import annotated_types as at
import msgspec
import pydantic
import typing_extensions
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator, with_config

Oracle = Literal["pydantic", "msgspec"]


@dataclass(frozen=True)
class Case:
    """One annotation under test."""

    name: str
    annotation: Any
    oracle: Oracle
    seeds: tuple[Any, ...]
    reference: Any = None
    """The type the reference decodes with, when it differs (``typing.TypedDict`` before 3.12)."""
    exception: str | None = None
    """The documented exception this case illustrates (see docs/python.md), if any."""

    @property
    def reference_type(self) -> Any:
        return self.annotation if self.reference is None else self.reference


TypedDict = typing_extensions.TypedDict


# --- pydantic models -----------------------------------------------------------------------
class Node(BaseModel):
    value: int
    children: list[Node] = []


def _inner_int() -> type[BaseModel]:
    class Inner(BaseModel):
        v: int

    return Inner


def _inner_str() -> type[BaseModel]:
    class Inner(BaseModel):
        v: str
        w: float = 0.0

    return Inner


InnerA = _inner_int()
InnerB = _inner_str()


class Outer(BaseModel):
    a: InnerA  # type: ignore[valid-type]
    b: InnerB  # type: ignore[valid-type]


class Item(BaseModel):
    name: str
    quantity: int = 1


class Order(BaseModel):
    items: list[Item]
    note: str | None = None


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True)
    when: datetime.datetime
    pair: tuple[int, str]
    tags: set[str]
    id: uuid.UUID


class Aliased(BaseModel):
    user_name: str = Field(alias="userName")
    age: int = 0


class Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: int
    b: str = ""


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: Annotated[int, Field(ge=0, le=9)]


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Pet(BaseModel):
    pet: Cat | Dog = Field(discriminator="kind")


class After(BaseModel):
    even: int

    @field_validator("even")
    @classmethod
    def must_be_even(cls, v: int) -> int:
        if v % 2:
            raise ValueError("must be even")
        return v


class Before(BaseModel):
    count: int

    @field_validator("count", mode="before")
    @classmethod
    def from_text(cls, v: Any) -> Any:
        return len(v) if isinstance(v, str) else v


class WholeBefore(BaseModel):
    a: int

    @model_validator(mode="before")
    @classmethod
    def wrap_scalars(cls, v: Any) -> Any:
        return {"a": v} if isinstance(v, int) and not isinstance(v, bool) else v


class Choices(BaseModel):
    name: str = Field(validation_alias=AliasChoices("name", "fullName"))


class Numbers(BaseModel):
    n: int | float
    f: float
    big: int
    d: decimal.Decimal


class Constrained(BaseModel):
    age: int = Field(ge=0, le=150)
    code: str = Field(min_length=2, max_length=4)
    ratio: float = Field(gt=0, lt=1)
    items: list[int] = Field(max_length=3)


# --- TypedDicts ----------------------------------------------------------------------------
class ChatMessage(TypedDict):
    text: str
    user: str


class Person(TypedDict, total=False):
    name: Required[str]
    age: int
    tags: list[str]
    nickname: str | None


class Address(TypedDict):
    city: str
    zip: NotRequired[str]


class WithAddress(TypedDict):
    address: Address
    role: Literal["admin", "user"]


@with_config(ConfigDict(extra="forbid"))
class ForbidTD(TypedDict):
    a: int
    b: NotRequired[str]


class FieldTD(TypedDict):
    age: Annotated[int, Field(ge=0, le=150)]
    name: Annotated[str, Field(max_length=5)]


class AnnotatedTypesTD(TypedDict):
    name: Annotated[str, at.MaxLen(5)]
    score: Annotated[float, at.Ge(0), at.Le(1)]
    tags: Annotated[list[str], at.MinLen(1)]


class TreeTD(TypedDict):
    tree: Node


class ForestTD(TypedDict):
    forest: list[Node]


class Collide(TypedDict):
    a: InnerA  # type: ignore[valid-type]
    b: InnerB  # type: ignore[valid-type]


class RecTD(TypedDict):
    value: int
    children: list[RecTD]


class TimesTD(TypedDict):
    when: datetime.datetime
    day: datetime.date
    at: datetime.time
    id: uuid.UUID


class PetsTD(TypedDict):
    pet: Cat | Dog
    pair: tuple[Item, Item]


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class EnumTD(TypedDict):
    colour: Colour
    level: Level


class SetTD(TypedDict):
    ids: set[int]
    names: frozenset[str]


class Employee(Person):
    company: str


class PlainTD(typing.TypedDict):
    text: str
    count: NotRequired[int]


class PlainTDTwin(TypedDict):
    text: str
    count: NotRequired[int]


class MetaTD(TypedDict):
    name: Annotated[str, msgspec.Meta(max_length=5)]
    n: Annotated[int, msgspec.Meta(ge=0)]


class StructInTD(TypedDict):
    move: Move


# --- dataclasses ---------------------------------------------------------------------------
@dataclass
class Point:
    x: int
    y: int = 0


@dataclass
class Shape:
    name: str
    points: list[Point]
    centre: Point | None = None


@dataclass
class WithInit:
    a: int
    scale: dataclasses.InitVar[int]

    def __post_init__(self, scale: int) -> None:
        self.a *= scale


@dataclass
class ConstrainedDC:
    age: Annotated[int, at.Interval(ge=0, le=150)]
    name: Annotated[str, at.MaxLen(5)]


@pydantic.dataclasses.dataclass
class PydanticDC:
    age: int = Field(ge=0)
    name: str = Field(max_length=5, default="x")


@dataclass(frozen=True)
class FrozenDC:
    pair: tuple[int, int]
    when: datetime.date


@dataclass
class Link:
    value: int
    next: Link | None = None


@dataclass
class MetaDC:
    n: Annotated[int, msgspec.Meta(ge=0, le=10)]
    s: str = ""


# --- msgspec -------------------------------------------------------------------------------
class Move(msgspec.Struct):
    x: int
    y: int
    label: str = ""


class ForbidStruct(msgspec.Struct, forbid_unknown_fields=True):
    a: int
    b: str = ""


class MetaStruct(msgspec.Struct):
    age: Annotated[int, msgspec.Meta(ge=0, le=150)]
    code: Annotated[str, msgspec.Meta(min_length=2, max_length=4)]
    ratio: Annotated[float, msgspec.Meta(gt=0, lt=1)]


class Circle(msgspec.Struct, tag="circle"):
    r: float


class Square(msgspec.Struct, tag="square"):
    side: float


class Drawing(msgspec.Struct):
    shapes: list[Circle | Square]


class TimesStruct(msgspec.Struct):
    when: datetime.datetime
    day: datetime.date
    id: uuid.UUID
    blob: bytes


class Camel(msgspec.Struct, rename="camel"):
    user_name: str
    is_admin: bool = False


class RecStruct(msgspec.Struct):
    value: int
    children: list[RecStruct] = []


class SetsStruct(msgspec.Struct):
    ids: set[int]
    pair: tuple[int, str]


class Row(msgspec.Struct, array_like=True):
    a: int
    b: str


def _struct_int() -> type[msgspec.Struct]:
    class Inner(msgspec.Struct):
        v: int

    return Inner


def _struct_str() -> type[msgspec.Struct]:
    class Inner(msgspec.Struct):
        v: str

    return Inner


SInnerA = _struct_int()
SInnerB = _struct_str()


class SOuter(msgspec.Struct):
    a: SInnerA  # type: ignore[valid-type]
    b: SInnerB  # type: ignore[valid-type]


NOW = "2024-02-29T10:20:30Z"
UUID = "12345678-1234-5678-1234-567812345678"

P: Oracle = "pydantic"
M: Oracle = "msgspec"

CASES: tuple[Case, ...] = (
    # plain annotations
    Case("int", int, P, (1, -5, 0)),
    Case("float", float, P, (1.5, 2)),
    Case("str", str, P, ("hello",)),
    Case("bool", bool, P, (True,)),
    Case("none", None, P, (None,)),
    Case("list_int", list[int], P, ([1, 2, 3],)),
    Case("dict_str_int", dict[str, int], P, ({"a": 1},)),
    Case("tuple_fixed", tuple[int, str], P, ([1, "a"],)),
    Case("tuple_var", tuple[int, ...], P, ([1, 2],)),
    Case("set_int", set[int], P, ([1, 2],)),
    Case("frozenset_str", frozenset[str], P, (["a", "b"],)),
    Case("optional_int", int | None, P, (1, None)),
    Case("int_or_str", int | str, P, (1, "a")),
    Case("float_or_int", float | int, P, (1, 1.5)),
    Case("literal_str", Literal["a", "b"], P, ("a",)),
    Case("literal_int", Literal[1, 2], P, (1,)),
    Case("datetime", datetime.datetime, P, (NOW, "2024-02-29T10:20:30")),
    Case("date", datetime.date, P, ("2024-02-29",)),
    Case("time", datetime.time, P, ("10:20:30", "10:20:30+01:00")),
    Case("uuid", uuid.UUID, P, (UUID,)),
    Case("field_bounds", Annotated[int, Field(ge=0, le=150)], P, (30,)),
    Case("maxlen_str", Annotated[str, at.MaxLen(5)], P, ("abc",)),
    Case("gt_int", Annotated[int, at.Gt(0)], P, (3,)),
    Case("minlen_list", Annotated[list[int], at.MinLen(1)], P, ([1],)),
    Case("enum", Colour, P, ("red",)),
    Case("int_enum", Level, P, (1,)),
    Case("interval_float", Annotated[float, at.Interval(ge=0, lt=1)], P, (0.5,)),
    Case("bytes", bytes, P, ("AAE=",)),
    Case("decimal", decimal.Decimal, P, ("1.5", 2)),
    Case("dict_of_datetimes", dict[str, list[datetime.datetime]], P, ({"a": [NOW]},)),
    Case("pattern", Annotated[str, Field(pattern=r"^\d+$")], P, ("123",)),
    Case("msgspec_meta_str", Annotated[str, msgspec.Meta(max_length=5)], M, ("abc",)),
    # TypedDicts
    Case("td_chat", ChatMessage, P, ({"text": "hi", "user": "ann"},)),
    Case("td_total_false", Person, P, ({"name": "a", "age": 3, "tags": ["x"], "nickname": None},)),
    Case("td_nested", WithAddress, P, ({"address": {"city": "Oslo", "zip": "1"}, "role": "admin"},)),
    Case("td_extra_forbid", ForbidTD, P, ({"a": 1, "b": "x"},)),
    Case("td_field_constraints", FieldTD, P, ({"age": 30, "name": "ann"},)),
    Case("td_annotated_types", AnnotatedTypesTD, P, ({"name": "ann", "score": 0.5, "tags": ["a"]},)),
    Case("td_recursive_model", TreeTD, P, ({"tree": {"value": 1, "children": [{"value": 2}]}},)),
    Case("td_list_of_models", ForestTD, P, ({"forest": [{"value": 1, "children": []}]},)),
    Case("td_name_collision", Collide, P, ({"a": {"v": 1}, "b": {"v": "x", "w": 1.5}},)),
    Case("td_recursive", RecTD, P, ({"value": 1, "children": [{"value": 2, "children": []}]},)),
    Case("td_times", TimesTD, P, ({"when": NOW, "day": "2024-02-29", "at": "10:20:30", "id": UUID},)),
    Case(
        "td_model_unions",
        PetsTD,
        P,
        ({"pet": {"kind": "cat", "lives": 9}, "pair": [{"name": "a"}, {"name": "b", "quantity": 2}]},),
    ),
    Case("td_enums", EnumTD, P, ({"colour": "red", "level": 2},)),
    Case("td_sets", SetTD, P, ({"ids": [1, 2], "names": ["a"]},)),
    Case("td_inheritance", Employee, P, ({"name": "a", "company": "c"},)),
    Case("typing_typeddict", PlainTD, P, ({"text": "hi", "count": 1},), reference=PlainTDTwin),
    Case("td_msgspec_meta", MetaTD, M, ({"name": "abc", "n": 1},)),
    Case("td_with_struct", StructInTD, M, ({"move": {"x": 1, "y": 2}},)),
    # dataclasses
    Case("dc_point", Point, P, ({"x": 1, "y": 2},)),
    Case("dc_nested", Shape, P, ({"name": "s", "points": [{"x": 1}], "centre": {"x": 2, "y": 3}},)),
    Case("dc_initvar", WithInit, P, ({"a": 2, "scale": 3},)),
    Case("dc_annotated_types", ConstrainedDC, P, ({"age": 30, "name": "ann"},)),
    Case("pydantic_dataclass", PydanticDC, P, ({"age": 3, "name": "ann"},)),
    Case("dc_frozen", FrozenDC, P, ({"pair": [1, 2], "when": "2024-02-29"},)),
    Case("dc_recursive", Link, P, ({"value": 1, "next": {"value": 2, "next": None}},)),
    Case("dc_msgspec_meta", MetaDC, M, ({"n": 3, "s": "x"},)),
    # pydantic models
    Case("model_order", Order, P, ({"items": [{"name": "a", "quantity": 2}], "note": None},)),
    Case(
        "model_strict",
        StrictModel,
        P,
        ({"when": NOW, "pair": [1, "a"], "tags": ["x", "x"], "id": UUID},),
    ),
    Case("model_alias", Aliased, P, ({"userName": "ann", "age": 3},)),
    Case("model_extra_forbid", Forbid, P, ({"a": 1, "b": "x"},)),
    Case("model_discriminated", Pet, P, ({"pet": {"kind": "dog", "good": True}},)),
    Case("model_after_validator", After, P, ({"even": 2},)),
    Case("model_before_validator", Before, P, ({"count": 3}, {"count": "abc"})),
    Case("model_before_model_validator", WholeBefore, P, ({"a": 1}, 5)),
    Case("model_alias_choices", Choices, P, ({"name": "a"}, {"fullName": "b"}), exception="alias_choices"),
    Case("model_name_collision", Outer, P, ({"a": {"v": 1}, "b": {"v": "x"}},)),
    Case("model_recursive", Node, P, ({"value": 1, "children": [{"value": 2, "children": []}]},)),
    Case("list_of_models", list[Node], P, ([{"value": 1}],)),
    Case("model_numbers", Numbers, P, ({"n": 1, "f": 2, "big": 3, "d": "1.25"},)),
    Case("model_constraints", Constrained, P, ({"age": 3, "code": "ab", "ratio": 0.5, "items": [1]},)),
    # msgspec
    Case("struct_move", Move, M, ({"x": 1, "y": 2, "label": "a"},)),
    Case("struct_forbid", ForbidStruct, M, ({"a": 1, "b": "x"},)),
    Case("struct_meta", MetaStruct, M, ({"age": 3, "code": "ab", "ratio": 0.5},)),
    Case(
        "struct_tagged_union",
        Drawing,
        M,
        ({"shapes": [{"type": "circle", "r": 1.0}, {"type": "square", "side": 2}]},),
    ),
    Case("struct_times", TimesStruct, M, ({"when": NOW, "day": "2024-02-29", "id": UUID, "blob": "AAE="},)),
    Case("struct_rename", Camel, M, ({"userName": "ann", "isAdmin": True},)),
    Case("struct_recursive", RecStruct, M, ({"value": 1, "children": [{"value": 2}]},)),
    Case("struct_sets", SetsStruct, M, ({"ids": [1, 1, 2], "pair": [1, "a"]},)),
    Case("struct_array_like", Row, M, ([1, "a"],)),
    Case("struct_name_collision", SOuter, M, ({"a": {"v": 1}, "b": {"v": "x"}},)),
)

STDLIB_CASES: tuple[str, ...] = (
    "int",
    "float",
    "str",
    "list_int",
    "dict_str_int",
    "tuple_fixed",
    "tuple_var",
    "set_int",
    "optional_int",
    "int_or_str",
    "float_or_int",
    "literal_str",
    "literal_int",
    "datetime",
    "date",
    "time",
    "uuid",
    "maxlen_str",
    "gt_int",
    "minlen_list",
    "enum",
    "int_enum",
    "interval_float",
    "td_chat",
    "td_total_false",
    "td_nested",
    "td_annotated_types",
    "td_recursive",
    "td_enums",
    "td_sets",
    "td_inheritance",
    "typing_typeddict",
    "dc_point",
    "dc_nested",
    "dc_initvar",
    "dc_annotated_types",
    "dc_frozen",
    "dc_recursive",
)
"""Cases the standard-library walker supports: served with neither library counted as
installed, and still judged against pydantic's decoding."""
