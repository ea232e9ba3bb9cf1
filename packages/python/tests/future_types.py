"""Types declared with postponed annotations (``from __future__ import annotations``): on
Python 3.11, ``typing.TypedDict`` then cannot see ``NotRequired`` itself."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class Reply(TypedDict):
    kind: Literal["reply"]
    text: str
    mood: NotRequired[str]


class Thread(TypedDict):
    title: str
    replies: list[Reply]
    parent: Thread | None
