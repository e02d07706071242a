"""String types shared by the API schemas: what the console database can store exactly as sent.

PostgreSQL refuses NUL in text (a 500 if it ever reached an INSERT), and control characters
in an id or a one-line name only ever come from a client bug, yet would be stored, shown
and matched as they are. Every schema reuses these types, so the rule reads the same and
each refusal is a 422 naming the field.
"""

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

# C0 controls, DEL and C1 controls: never part of an id or a one-line name. Lone surrogates
# too: no encoding can store them (pydantic refuses them in str fields already, but decoded
# JSON such as a pagination cursor can carry them).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Multi-line text keeps tab, newline and carriage return; NUL and the rest are refused.
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

MAX_ID_LENGTH = 128  # every caller-chosen id column is VARCHAR(128)


def first_control_character(value: str, *, multiline: bool = False) -> int | None:
    """Index of the first character refused in an id/name (or multi-line text), else None."""
    match = (_TEXT_CONTROL if multiline else _CONTROL).search(value)
    return None if match is None else match.start()


def _refuse(value: str, position: int | None) -> str:
    if position is None:
        return value
    raise PydanticCustomError(
        "string_control_character",
        "String must not contain control characters (found {character} at index {index})",
        {"character": f"U+{ord(value[position]):04X}", "index": position},
    )


def _one_line(value: str) -> str:
    return _refuse(value, first_control_character(value))


def _multiline(value: str) -> str:
    return _refuse(value, first_control_character(value, multiline=True))


OneLine = AfterValidator(_one_line)
"""Add to an Annotated[str, ...]: refuses every control character (ids, names, titles)."""
MultiLine = AfterValidator(_multiline)
"""Add to an Annotated[str, ...]: refuses NUL and control characters but tab and newlines."""

SafeId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH), OneLine]
"""A caller-chosen id: 1-128 characters, no control characters (NUL, tab, newline, DEL...)."""
SafeName = Annotated[str, StringConstraints(max_length=200), OneLine]
"""A one-line name or label stored in a VARCHAR(200) column."""
SafeText = Annotated[str, MultiLine]
"""Free text in an unbounded column (its size is bounded by the request body limit)."""
