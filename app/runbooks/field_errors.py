"""The validator's errors in words for the execute form: "required", "must match …".

The JSON API keeps the validator's own messages (`'service' is a required property`, SPEC
appendix A); the form shows each next to its field, after the field's label ("Service:
required"), so a message here names no property and no JSON pointer.
"""

import json
from collections.abc import Sequence
from typing import Any

from jsonschema.exceptions import ValidationError

_TYPES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "empty (null)",
}
_FORMATS = {
    "date-time": "a date and time",
    "date": "a date (YYYY-MM-DD)",
    "time": "a time",
    "email": "an email address",
    "idn-email": "an email address",
    "hostname": "a host name",
    "ipv4": "an IPv4 address",
    "ipv6": "an IPv6 address",
    "uri": "a URI",
    "uuid": "a UUID",
    "duration": "a duration",
    "regex": "a regular expression",
}


def readable(error: ValidationError, *, unit: str = "item") -> str:
    """The error in words, for the field it concerns; `unit` names a list's entries."""
    keyword, expected = error.validator, error.validator_value
    if keyword == "required":
        missing = _missing(error)
        return f"needs the key {missing}" if missing else "required"
    if keyword == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return "must be " + " or ".join(_TYPES.get(str(kind), str(kind)) for kind in kinds)
    if keyword == "enum" and isinstance(expected, list):
        return "must be one of " + ", ".join(_shown(value) for value in expected)
    if keyword == "const":
        return f"must be {_shown(expected)}"
    if keyword == "pattern":
        return f"must match the pattern {expected}"
    if keyword == "format":
        return f"must be {_FORMATS.get(str(expected), f'a valid {expected}')}"
    counted = _counted(keyword, expected, unit)
    if counted is not None:
        return counted
    bound = _bound(keyword, expected)
    if bound is not None:
        return bound
    if keyword == "uniqueItems":
        return f"must not repeat an {unit}" if unit[0] in "aeiou" else f"must not repeat a {unit}"
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        return "has keys the schema does not allow"
    if keyword == "oneOf" and _many(error):
        return "matches more than one of the allowed forms"
    if keyword == "anyOf" or keyword == "oneOf":
        return "matches none of the allowed forms"
    if keyword == "not":
        return "is a value the schema excludes"
    if keyword is None:  # a `false` schema: nothing is allowed here
        return "is not allowed"
    return error.message


def where(path: Sequence[str | int]) -> str:
    """A place inside a field's value in words: `level`, `item 2 of hosts` → "hosts, item 2"."""
    return ", ".join(f"item {part + 1}" if isinstance(part, int) else str(part) for part in path)


def _missing(error: ValidationError) -> str:
    """The missing property of a `required` error about a nested object ("" at the top)."""
    if not error.absolute_path:
        return ""
    message = error.message
    if message.endswith(" is a required property"):
        return message.removesuffix(" is a required property")
    return ""


def _counted(keyword: Any, expected: Any, unit: str) -> str | None:
    if not isinstance(expected, int):
        return None
    nouns = {
        "minLength": ("at least", "character"),
        "maxLength": ("at most", "character"),
        "minItems": ("at least", unit),
        "maxItems": ("at most", unit),
        "minProperties": ("at least", "key"),
        "maxProperties": ("at most", "key"),
    }
    if keyword not in nouns:
        return None
    how, noun = nouns[keyword]
    verb = "must be" if keyword.endswith("Length") else "must have"
    return f"{verb} {how} {expected} {noun}{'' if expected == 1 else 's'}"


def _bound(keyword: Any, expected: Any) -> str | None:
    words = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "greater than",
        "exclusiveMaximum": "less than",
        "multipleOf": "a multiple of",
    }
    if keyword not in words:
        return None
    return f"must be {words[keyword]} {_shown(expected)}"


def _many(error: ValidationError) -> bool:
    """A oneOf error because several branches matched (not none)."""
    return "is valid under each of" in error.message


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
