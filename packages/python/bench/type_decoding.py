"""What decoding a message in its type system costs (docs/decisions.md, the type contract):
re-encoding the parsed value and decoding it in JSON mode (what Spikard does), against decoding
the raw text and against pydantic's Python modes (which follow another rule).

    python packages/python/bench/type_decoding.py
"""

from __future__ import annotations

import datetime
import json
import timeit
from collections.abc import Callable
from typing import Any

import msgspec
import pydantic
import pydantic_core
import typing_extensions


class Chat(typing_extensions.TypedDict):
    text: str
    user: str


class ChatStruct(msgspec.Struct):
    text: str
    user: str


class Item(pydantic.BaseModel):
    name: str
    quantity: int = 1
    when: datetime.datetime


class Order(pydantic.BaseModel):
    items: list[Item]
    note: str | None = None


CHAT = '{"text":"hello from the benchmark, a chat line of about a hundred bytes!","user":"bench-user-0001"}'
ORDER = json.dumps(
    {
        "items": [{"name": f"n{i}", "quantity": i, "when": "2024-02-29T10:20:30Z"} for i in range(5)],
        "note": "x",
    }
)


def report(label: str, call: Callable[[], Any], number: int) -> None:
    ns = min(timeit.repeat(call, number=number, repeat=3)) / number * 1e9
    print(f"{label:58s} {ns:8.0f} ns")


def pydantic_rows(name: str, annotation: Any, raw: str, number: int) -> None:
    validator = pydantic.TypeAdapter(annotation).validator
    value = json.loads(raw)
    to_json = pydantic_core.to_json
    report(
        f"{name}: validate_json(to_json(value), strict)",
        lambda: validator.validate_json(to_json(value), strict=True),
        number,
    )
    report(
        f"{name}: validate_json(raw text, strict)", lambda: validator.validate_json(raw, strict=True), number
    )
    report(
        f"{name}: validate_python(value), lax: another rule", lambda: validator.validate_python(value), number
    )


def main() -> None:
    pydantic_rows("chat TypedDict", Chat, CHAT, 200_000)
    pydantic_rows("order model, 5 items", Order, ORDER, 50_000)
    decode = msgspec.json.Decoder(ChatStruct).decode
    encode = msgspec.json.encode
    value = json.loads(CHAT)
    report("chat Struct: decode(encode(value))", lambda: decode(encode(value)), 200_000)
    report(
        "chat Struct: msgspec.convert(value): another rule",
        lambda: msgspec.convert(value, ChatStruct),
        200_000,
    )
    report("chat Struct: decode(raw text)", lambda: decode(CHAT), 200_000)


if __name__ == "__main__":
    main()
