"""-device/-object/-audiodev JSON, read with vmd's one JSON reader (`vmd.json.stream`).

QEMU reads command-line JSON with the parser that reads QMP input (qobject/json-parser.c,
through qobject_from_json), so vmd does too: `parse_one` gives the value or QEMU's error
text, which becomes the option's error ("-device {bad: JSON parse error, invalid keyword
'bad'").  argv reaches Python with bytes that are not UTF-8 as lone surrogates; they go back
to bytes before parsing, and errors quote input bytes the way QEMU prints them.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import cast

from vmd.cli.errors import Invalid
from vmd.config import JsonValue
from vmd.json.stream import JsonParseError, parse_one

__all__ = ["freeze_json", "json_members"]


def json_members(text: str) -> dict[str, object]:
    """The members of the JSON object `text` (which starts with "{")."""
    value = parse_one(text.encode("utf-8", "surrogateescape"))
    if isinstance(value, JsonParseError):
        raise Invalid(value.desc)
    assert isinstance(value, dict)  # the text starts with "{"
    return cast(dict[str, object], value)


def freeze_json(value: object) -> JsonValue:
    if isinstance(value, dict):
        return MappingProxyType({key: freeze_json(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(freeze_json(item) for item in value)
    return cast(JsonValue, value)
