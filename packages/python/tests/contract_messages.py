"""Messages for the differential test of the type contract (``test_type_contract.py``): drawn
from each case's seeds by hypothesis, and judged by the case's own type system."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from typing import Any

import msgspec
import pydantic
from contract_types import Case
from hypothesis import strategies as st

INT64 = 2**63

# --- messages ------------------------------------------------------------------------------
SPECIAL: list[Any] = [
    0,
    1,
    -1,
    1.0,
    -0.5,
    2.5,
    1e20,
    2**63,
    2**64,
    -(2**63) - 1,
    2**70,
    10**30,
    True,
    False,
    None,
    "",
    "a",
    "1",
    "abc",
    "abcdefgh",
    "red",
    "cat",
    "dog",
    "circle",
    "2024-02-29T10:20:30Z",
    "2024-02-29T10:20:30",
    "2024-02-30T10:20:30Z",
    "2024-02-29",
    "2023-02-29",
    "2024-02-29t10:20:30z",
    "2024-02-29 10:20:30+01:00",
    "10:20:30",
    "25:00:00",
    "10:20:30.123456789Z",
    "12345678-1234-5678-1234-567812345678",
    "12345678123456781234567812345678",
    "{12345678-1234-5678-1234-567812345678}",
    "not-a-uuid",
    "ann@example.com",
    "AAE=",
    "%%%",
    [],
    {},
    [1, 1],
    [1, "a"],
    ["a", "a"],
    {"v": 1},
    {"value": 1},
    {"kind": "cat", "lives": 3},
]
KEYS = ["extra", "v", "value", "name", "kind", "type", "a", "b", "userName", "fullName", "user_name", "scale"]

leaves = st.one_of(
    st.sampled_from(SPECIAL),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-3, max_value=200),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


def _locations(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _locations(item, (*at, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _locations(item, (*at, n))


def _get(value: Any, at: tuple[Any, ...]) -> Any:
    for step in at:
        value = value[step]
    return value


@st.composite
def _mutated(draw: st.DrawFn, value: Any) -> Any:
    at = draw(st.sampled_from(list(_locations(value))))
    node = _get(value, at)
    ops = ["leaf", "leaf", "similar"]
    if isinstance(node, dict):
        ops += ["drop_key", "extra_key"] if node else ["extra_key"]
    if isinstance(node, list):
        ops += ["duplicate", "drop_item"] if node else []
    op = draw(st.sampled_from(ops))
    if op == "leaf":
        new: Any = draw(leaves)
    elif op == "similar":
        new = draw(_similar(node))
    elif op == "drop_key":
        new = dict(node)
        del new[draw(st.sampled_from(sorted(new)))]
    elif op == "extra_key":
        new = {**node, draw(st.sampled_from(KEYS)): draw(leaves)}
    elif op == "duplicate":
        new = [*node, node[draw(st.integers(0, len(node) - 1))]]
    else:
        new = list(node)
        del new[draw(st.integers(0, len(new) - 1))]
    if not at:
        return new
    parent = _get(value, at[:-1])
    parent[at[-1]] = new
    return value


def _similar(node: Any) -> st.SearchStrategy[Any]:
    """A value of the same JSON type (often still valid)."""
    if isinstance(node, bool):
        return st.booleans()
    if isinstance(node, int):
        return st.one_of(st.integers(-3, 200), st.integers(-(2**70), 2**70))
    if isinstance(node, float):
        return st.floats(allow_nan=False, allow_infinity=False, min_value=-2, max_value=2)
    if isinstance(node, str):
        return st.one_of(st.text(max_size=8), st.sampled_from([s for s in SPECIAL if isinstance(s, str)]))
    return leaves


@st.composite
def messages(draw: st.DrawFn, case: Case) -> str:
    value = copy.deepcopy(draw(st.sampled_from(case.seeds)))
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3]))):
        value = draw(_mutated(value))
    return json.dumps(value)


# --- the reference -------------------------------------------------------------------------
def reference(case: Case, raw: str) -> tuple[bool, Any]:
    """(accepted, value) by the case's type system's own JSON decoding."""
    if case.oracle == "pydantic":
        try:
            return True, pydantic.TypeAdapter(case.reference_type).validate_json(raw, strict=True)
        except pydantic.ValidationError:
            return False, None
    try:
        return True, msgspec.json.decode(raw, type=case.reference_type)
    except msgspec.ValidationError:
        return False, None


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (``1 == 1.0 == True`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def _has_big_integer(raw: str) -> bool:
    def walk(value: Any) -> bool:
        if isinstance(value, dict):
            return any(walk(v) for v in value.values())
        if isinstance(value, list):
            return any(walk(v) for v in value)
        return type(value) is int and not -INT64 <= value < 2**64

    return walk(json.loads(raw))


def documented(case: Case, raw: str, verdict: str) -> str | None:
    """The documented exception explaining a disagreement, if one does."""
    if _has_big_integer(raw):
        return "big_integer"
    if case.exception is not None and verdict == "refused_valid":
        return case.exception
    return None
