"""Python ``TypedDict`` definitions for the messages of an AsyncAPI document
(``spikard asyncapi --typeddict app.py:app``), for Python clients of a Spikard app.

Each message of each channel (and each component message) becomes one definition named after
its channel and key (``ChatJoin``, ``ChatJoinReply``, ``Error``); nested objects get their own.
The JSON Schema keywords that have a Python type are followed (``type``, ``properties``,
``required``, ``allOf`` of objects, ``anyOf``/``oneOf``, ``const``, ``enum``, ``items``, local
``$ref``); anything else becomes ``Any``. The types say what the server accepts and sends; the
server's schemas (lengths, patterns, ...) still decide.
"""

from __future__ import annotations

import keyword
import re
from typing import Any

__all__ = ["typeddicts"]

_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", text) if part)


class _Writer:
    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.names: set[str] = set()

    def unique(self, name: str) -> str:
        name = name if name and not name[0].isdigit() else f"T{name}"
        found, n = name, 2
        while found in self.names:
            found, n = f"{name}{n}", n + 1
        self.names.add(found)
        return found

    def message(self, payload: dict[str, Any], name: str) -> None:
        """A definition named ``name`` (or the next free variant) for a message's payload: a
        TypedDict, or an alias when the payload is not an object with properties."""
        found = self.type_of(payload, name, payload)
        if found not in self.names:
            self.blocks.append(f"{self.unique(name)} = {found}")

    def type_of(self, schema: Any, name: str, root: Any) -> str:
        """The Python type for ``schema``; objects with properties become definitions."""
        if not isinstance(schema, dict):
            return "Any"
        if "$ref" in schema:
            target = _resolve(root, schema["$ref"])
            return "Any" if target is None else self.type_of(target, name, root)
        if "const" in schema:
            return f"Literal[{schema['const']!r}]"
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return "Literal[" + ", ".join(repr(v) for v in schema["enum"]) + "]"
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                options = [self.type_of(s, f"{name}{i}", root) for i, s in enumerate(schema[key], 1)]
                return " | ".join(dict.fromkeys(options))
        if isinstance(schema.get("allOf"), list) or "properties" in schema or "required" in schema:
            return self.object(schema, name, root)
        kind = schema.get("type")
        if isinstance(kind, list):
            return " | ".join(self.type_of({**schema, "type": k}, name, root) for k in kind)
        if kind == "array":
            return f"list[{self.type_of(schema.get('items', {}), f'{name}Item', root)}]"
        if kind == "object":
            return "dict[str, Any]"
        return _SCALARS.get(kind, "Any") if isinstance(kind, str) else "Any"

    def object(self, schema: dict[str, Any], name: str, root: Any) -> str:
        properties: dict[str, Any] = {}
        required: set[str] = set()
        for part in [schema, *schema.get("allOf", [])]:
            if isinstance(part, dict) and "$ref" in part:
                part = _resolve(root, part["$ref"]) or {}
            if not isinstance(part, dict):
                continue
            for field, sub in (part.get("properties") or {}).items():
                properties[field] = sub
            required.update(r for r in part.get("required", []) if isinstance(r, str))
        for field in required:
            properties.setdefault(field, {})
        if not properties:
            return "dict[str, Any]"
        name = self.unique(name)
        fields = []
        for field, sub in properties.items():
            tp = self.type_of(sub, name + _camel(field), root)
            fields.append((field, tp if field in required else f"NotRequired[{tp}]"))
        described = schema.get("description")
        if all(f.isidentifier() and not keyword.iskeyword(f) for f, _ in fields):
            lines = [f"class {name}(TypedDict):"]
            if isinstance(described, str):
                lines.append(f"    {_docstring(described)}")
                lines.append("")
            lines += [f"    {field}: {tp}" for field, tp in fields]
        else:
            items = ", ".join(f"{field!r}: {tp}" for field, tp in fields)
            lines = [f"{name} = TypedDict({name!r}, {{{items}}})"]
        self.blocks.append("\n".join(lines))
        return name


def _docstring(text: str) -> str:
    return '"""' + text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '"""'


def _resolve(root: Any, ref: Any) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return None
    node = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def typeddicts(document: dict[str, Any]) -> str:
    """Python source defining a ``TypedDict`` per message of the AsyncAPI ``document``."""
    writer = _Writer()
    for key, message in (document.get("components", {}).get("messages") or {}).items():
        payload = dict(message.get("payload") or {})
        if isinstance(message.get("summary"), str):
            payload.setdefault("description", message["summary"])
        writer.message(payload, _camel(key))
    for channel_id, channel in (document.get("channels") or {}).items():
        for key, message in (channel.get("messages") or {}).items():
            if "$ref" in message:
                continue
            payload = dict(message.get("payload") or {})
            objectish = payload.get("type") == "object" or "properties" in payload or "required" in payload
            if "correlationId" in message and objectish and "id" not in payload.get("properties", {}):
                # A reply to a message that carried an `id` carries it too.
                payload = {"allOf": [payload, {"properties": {"id": {"type": ["string", "integer"]}}}]}
            if isinstance(message.get("description"), str):
                payload.setdefault("description", message["description"])
            writer.message(payload, _camel(channel_id) + _camel(key))
    title = document.get("info", {}).get("title", "the app")
    header = [
        f'"""The messages of {title} (AsyncAPI {document.get("asyncapi", "?")}), as TypedDicts.',
        "",
        'Generated by `spikard asyncapi --typeddict`: do not edit."""',
        "",
        "from typing import Any, Literal, NotRequired, TypedDict",
    ]
    return "\n".join(header) + "\n\n\n" + "\n\n\n".join(writer.blocks) + "\n"
