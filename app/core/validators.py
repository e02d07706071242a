"""String types shared by the API schemas: what the console database can store exactly as sent.

PostgreSQL refuses NUL in text (a 500 if it ever reached an INSERT), and control characters
in an id or a one-line name only ever come from a client bug, yet would be stored, shown
and matched as they are. Every schema reuses these types, so the rule reads the same and
each refusal is a 422 naming the field. Each type also states its rule in the OpenAPI
document (a `pattern`), so a client that follows the document is never refused.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# C0 controls, DEL and C1 controls: never part of an id or a one-line name. Lone surrogates
# too: no encoding can store them (pydantic refuses them in str fields already, but decoded
# JSON such as a pagination cursor can carry them).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Multi-line text keeps tab, newline and carriage return; NUL and the rest are refused.
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# The same rules as JSON Schema patterns (ECMA-262 and Python read them alike).
_CONTROLS = r"\x00-\x1f\x7f-\x9f"
ONE_LINE_PATTERN = rf"^[^{_CONTROLS}]*$"
MULTI_LINE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# What pydantic's strip_whitespace removes, besides the controls (Unicode White_Space).
_SPACES = r"\x20\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NON_BLANK_ONE_LINE_PATTERN = rf"^[^{_CONTROLS}]*[^{_CONTROLS}{_SPACES}][^{_CONTROLS}]*$"

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


@dataclass(frozen=True)
class StringRule:
    """An Annotated marker: validates a str after its other constraints, and documents the
    rule in its JSON Schema (a `pattern`, and `not` for values the pattern cannot exclude)."""

    check: Any  # Callable[[str], str]; Any keeps the frozen dataclass hashable for pydantic
    pattern: str
    excluded: tuple[str, ...] = ()

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        if self.excluded:
            json_schema["not"] = {"enum": list(self.excluded)}
        return json_schema


def _one_line(value: str) -> str:
    return _refuse(value, first_control_character(value))


def _multiline(value: str) -> str:
    return _refuse(value, first_control_character(value, multiline=True))


OneLine = StringRule(_one_line, ONE_LINE_PATTERN)
"""Add to an Annotated[str, ...]: refuses every control character (ids, names, titles)."""
NonBlankOneLine = StringRule(_one_line, NON_BLANK_ONE_LINE_PATTERN)
"""OneLine for a stripped value with min_length=1: the schema also asks for a visible
character, since a value of only whitespace is stripped to nothing and refused."""
MultiLine = StringRule(_multiline, MULTI_LINE_PATTERN)
"""Add to an Annotated[str, ...]: refuses NUL and control characters but tab and newlines."""

# --- The one id rule ---------------------------------------------------------------------
# Agent, miner, runbook and metric ids and setting keys travel in URL paths
# (/api/agents/{id}, /miners/{id}, ...), so every id must be addressable there: no '/'
# (it would split the path), no control characters, no whitespace (Unicode's, listed
# explicitly so every regex engine reads the class alike), and not '.' or '..' (clients
# remove those path segments before sending). The query filters that name ids stay plain
# one-line strings: an empty or unknown value there filters, it is not an address.
ID_REFUSED = rf"/{_CONTROLS}{_SPACES}\ufeff"  # and the invisible zero-width no-break space
ID_PATTERN = rf"^[^{ID_REFUSED}]{{1,{MAX_ID_LENGTH}}}$"
DOT_SEGMENTS = (".", "..")
ID_RULE = "1-128 characters, no whitespace, control characters or '/', and not '.' or '..'"
_ID_REFUSED_CHARACTER = re.compile(rf"[{ID_REFUSED}\ud800-\udfff]")
_ID_REGEX = re.compile(ID_PATTERN)


def is_valid_id(value: str) -> bool:
    """Whether `value` obeys the id rule (for ids that do not come through a schema)."""
    return (
        _ID_REGEX.fullmatch(value) is not None
        and _ID_REFUSED_CHARACTER.search(value) is None
        and value not in DOT_SEGMENTS
    )


def check_id(value: str) -> str:
    """The id rule as a validator: the value, or an error naming what is wrong."""
    _refuse(value, first_control_character(value))  # the same error as every other field
    found = _ID_REFUSED_CHARACTER.search(value)
    if found is not None:
        character = found.group()
        raise PydanticCustomError(
            "id_character",
            "An id must not contain {what} (found {character} at index {index})",
            {
                "what": "'/'" if character == "/" else "whitespace",
                "character": f"U+{ord(character):04X}",
                "index": found.start(),
            },
        )
    if value in DOT_SEGMENTS:
        raise PydanticCustomError(
            "id_dot_segment", "An id must not be '.' or '..': no URL can address it"
        )
    return value


SafeId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH),
    StringRule(check_id, ID_PATTERN, excluded=DOT_SEGMENTS),
]
"""The one caller-chosen id type, in bodies and paths alike: see ID_RULE."""
SafeName = Annotated[str, StringConstraints(max_length=200), OneLine]
"""A one-line name or label stored in a VARCHAR(200) column."""
SafeText = Annotated[str, MultiLine]
"""Free text in an unbounded column (its size is bounded by the request body limit)."""

# --- Partial updates -----------------------------------------------------------------------


def _not_nullable(schema: dict[str, Any]) -> None:
    branches = [branch for branch in schema.pop("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:
        schema.update({**branches[0], **schema})
    elif branches:
        schema["anyOf"] = branches
    if "default" in schema and schema["default"] is None:
        del schema["default"]


def omittable(**field: Any) -> Any:
    """The default of `field: X | None` in a partial update: the key may be left out, but
    its schema offers no null (the model refuses an explicit null: it would blank a NOT
    NULL column)."""
    return Field(default=None, json_schema_extra=_not_nullable, **field)


# --- Numbers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberAsText:
    """An Annotated marker for a Strict() int or float that also reads the number written as
    text, in exactly the forms `pattern` allows (earlier clients send `"100"`), and says so
    in its schema. Booleans and other text are refused; so is a float for an int unless its
    fraction is zero (JSON Schema counts 1.0 as an integer)."""

    pattern: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        text = re.compile(self.pattern)
        as_int = source is int

        def read(value: Any) -> Any:
            if isinstance(value, str) and text.fullmatch(value):
                return int(value) if as_int else float(value)
            if as_int and isinstance(value, float) and value.is_integer():
                return int(value)
            return value

        return core_schema.no_info_before_validator_function(read, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"anyOf": [handler(schema), {"type": "string", "pattern": self.pattern}]}
