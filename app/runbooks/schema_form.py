"""A runbook's inputsSchema (JSON Schema 2020-12) as HTML form fields, and form data back to JSON.

The schema's top-level `properties` become fields: strings (select for `enum`, date and
date-time inputs for those formats, length and pattern as attributes), integers and numbers
(min/max), booleans (checkbox) and arrays of scalars (a textarea, one item per line).
Anything else (nested objects, `$ref`, combinators, several types) gets a JSON textarea, so
every schema stays executable. Submitted text is converted to typed JSON per field, then
validated with the same validator as the API; each error is mapped to the field it concerns.
"""

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

from jsonschema.exceptions import ValidationError, best_match

from app.core.json_input import lone_surrogates
from app.core.timeutil import datetime_local, isoformat, parse_datetime
from app.models.inputs_schema import InputValidationLimitError, input_errors
from app.runbooks.field_errors import readable, where
from app.runbooks.html_pattern import html_pattern

FIELD_PREFIX = "input."  # form names of schema fields: never clash with csrf_token & co.
IDEMPOTENCY_FIELD = "idempotency_key"
MAX_IDEMPOTENCY_KEY = 200  # RunbookRun.idempotency_key and the API's ExecuteRequest limit

FieldKind = Literal[
    "text",
    "email",
    "url",
    "select",
    "integer",
    "number",
    "checkbox",
    "date",
    "datetime",
    "lines",
    "json",
]
ItemKind = Literal["string", "integer", "number"]

_OMIT = object()  # an empty field: the property is left out of the input
_INTEGER = re.compile(r"^[+-]?\d+$")
_STRING_FORMATS: dict[str, FieldKind] = {
    "date-time": "datetime",
    "date": "date",
    "email": "email",
    "uri": "url",
}
_ITEM_KINDS: dict[str, ItemKind] = {"string": "string", "integer": "integer", "number": "number"}
_INPUT_TYPES: dict[FieldKind, str] = {
    "text": "text",
    "email": "email",
    "url": "url",
    "integer": "number",
    "number": "number",
    "date": "date",
    "datetime": "datetime-local",
}


@dataclass(frozen=True)
class FormField:
    """One top-level property of the schema as a form control."""

    name: str
    kind: FieldKind
    label: str
    required: bool
    dom_id: str
    schema: Any
    help: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (submitted value, shown text) for selects
    attrs: tuple[tuple[str, str], ...] = ()  # extra HTML attributes (min, maxlength, ...)
    item_kind: ItemKind = "string"

    @property
    def form_name(self) -> str:
        return FIELD_PREFIX + self.name

    @property
    def input_type(self) -> str:
        return _INPUT_TYPES.get(self.kind, "text")


@dataclass
class Submission:
    """A submitted execute form: the raw values (to redisplay), the typed input, the errors."""

    values: dict[str, str]  # property name → the text submitted
    data: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # property name → message
    form_errors: list[str] = field(default_factory=list)  # errors no single field owns
    idempotency_key: str = ""
    idempotency_error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and not self.form_errors and self.idempotency_error is None


def form_fields(schema: Any) -> list[FormField]:
    """The fields of an object schema, in the order of its `properties`."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return []
    required = schema.get("required")
    required_names = (
        {name for name in required if isinstance(name, str)}
        if isinstance(required, list)
        else set()
    )
    fields: list[FormField] = []
    used_ids: set[str] = set()
    for name, prop in schema["properties"].items():
        dom_id = _dom_id(name, used_ids)
        fields.append(_field(name, prop, required=name in required_names, dom_id=dom_id))
    return fields


def initial_values(fields: list[FormField]) -> dict[str, str]:
    """What the form shows before anything is submitted: each property's `default`."""
    values: dict[str, str] = {}
    for item in fields:
        if isinstance(item.schema, dict) and "default" in item.schema:
            values[item.name] = _as_text(item, item.schema["default"])
    return values


def parse_submission(schema: Any, form: Mapping[str, str]) -> Submission:
    """Typed input from submitted form values, with an error per field and nothing lost.

    The caller checks the schema itself first (app.runbooks.service.check_inputs_schema).
    """
    fields = form_fields(schema)
    values = {item.name: form.get(item.form_name, "") for item in fields}
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for item in fields:
        try:
            value = _coerce(item, values[item.name])
        except ValueError as exc:
            errors[item.name] = str(exc)
            continue
        if value is not _OMIT:
            data[item.name] = value
    field_errors, form_errors = validation_errors(schema, data, fields)
    for name, message in field_errors.items():
        errors.setdefault(name, message)
    key = form.get(IDEMPOTENCY_FIELD, "").strip()
    key_error = (
        f"must be at most {MAX_IDEMPOTENCY_KEY} characters"
        if len(key) > MAX_IDEMPOTENCY_KEY
        else None
    )
    return Submission(values, data, errors, form_errors, key, key_error)


def validation_errors(
    schema: Any, data: dict[str, Any], fields: list[FormField]
) -> tuple[dict[str, str], list[str]]:
    """The validator's messages (the API's validator), by field; the rest for the whole form."""
    by_name = {item.name: item for item in fields}
    by_field: dict[str, str] = {}
    general: list[str] = []
    try:
        errors = input_errors(schema, data)
    except InputValidationLimitError as exc:
        return by_field, [str(exc)]
    for error in errors:
        name, message = _owner(error, by_name)
        if name is None:
            if message not in general:
                general.append(message)
        else:
            by_field.setdefault(name, message)
    return by_field, general


def _owner(error: ValidationError, fields: dict[str, FormField]) -> tuple[str | None, str]:
    """Which field an error belongs to, and its message in words (located inside that field)."""
    error = best_match([error]) or error
    path = list(error.absolute_path)
    if path and path[0] in fields:
        name, inner = str(path[0]), path[1:]
        lines = fields[name].kind == "lines"
        message = readable(error, unit="line" if lines else "item")
        if not inner:
            return name, message
        if lines and isinstance(inner[0], int) and len(inner) == 1:
            return name, f"line {inner[0] + 1}: {message}"
        return name, f"{where(inner)}: {message}"
    if path:
        return None, f"Input {where(path)}: {readable(error)}"
    # `required` and `dependentRequired` name the missing property first in the message.
    for name in fields:
        if error.message.startswith(f"{name!r} is "):
            return name, _required_message(error, fields)
    if error.validator in ("minProperties", "maxProperties"):
        count = error.validator_value
        how = "at least" if error.validator == "minProperties" else "at most"
        return None, f"Fill in {how} {count} field{'' if count == 1 else 's'}."
    return None, f"The input {readable(error)}."


def _required_message(error: ValidationError, fields: dict[str, FormField]) -> str:
    """ "required", or which filled field requires this one (dependentRequired)."""
    if error.validator == "dependentRequired" and isinstance(error.validator_value, dict):
        instance = error.instance if isinstance(error.instance, dict) else {}
        for present in error.validator_value:
            if present in instance and present in fields:
                return f"required when {fields[present].label} is set"
    return "required"


def _dom_id(name: str, used: set[str]) -> str:
    base = "field-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "x")
    dom_id, n = base, 2
    while dom_id in used:
        dom_id, n = f"{base}-{n}", n + 1
    used.add(dom_id)
    return dom_id


def _single_type(schema: dict[str, Any]) -> str | None:
    """The schema's one type; ["string", "null"] counts as string (empty input = omitted)."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared
    if isinstance(declared, list):
        kinds = [kind for kind in declared if kind != "null"]
        if len(kinds) == 1 and isinstance(kinds[0], str):
            return kinds[0]
    return None


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _field(name: str, prop: Any, *, required: bool, dom_id: str) -> FormField:
    """The control for one property; a JSON textarea when no simpler control fits."""
    control = FormField(
        name=name,
        kind="json",
        label=name,
        required=required,
        dom_id=dom_id,
        schema=prop,
        help="A JSON value.",
    )
    if not isinstance(prop, dict):
        return control
    title, description = prop.get("title"), prop.get("description")
    description = description if isinstance(description, str) else ""
    control = replace(
        control,
        label=title if isinstance(title, str) and title.strip() else name,
        help=_join([description, "A JSON value."]),
    )
    kind = _single_type(prop)
    enum = prop.get("enum")
    if kind != "boolean" and isinstance(enum, list) and enum and all(map(_is_scalar, enum)):
        options = tuple((_enum_text(value), _enum_text(value)) for value in enum)
        return replace(control, kind="select", help=description, options=options)
    if kind == "string":
        string_kind = _STRING_FORMATS.get(str(prop.get("format")), "text")
        hints = [description]
        if string_kind == "datetime":
            hints.append("Time in UTC.")
        pattern = prop.get("pattern")
        if isinstance(pattern, str):
            # A pattern the browser cannot check is checked when the form is sent.
            checked = "" if html_pattern(pattern) is not None else " (checked when you submit)"
            hints.append(f"Must match the pattern {pattern}{checked}.")
        return replace(control, kind=string_kind, help=_join(hints), attrs=_string_attrs(prop))
    if kind == "integer" or kind == "number":
        number_kind: FieldKind = "integer" if kind == "integer" else "number"
        attrs = _number_attrs(prop, kind)
        return replace(control, kind=number_kind, help=description, attrs=attrs)
    if kind == "boolean":
        return replace(control, kind="checkbox", help=description)
    items = prop.get("items")
    if kind == "array" and isinstance(items, dict) and "enum" not in items:
        item_kind = _ITEM_KINDS.get(_single_type(items) or "")
        if item_kind is not None:
            hint = _join([description, "One value per line."])
            return replace(control, kind="lines", help=hint, item_kind=item_kind)
    return control


def _join(parts: list[str]) -> str:
    return " ".join(part.strip() for part in parts if part and part.strip())


def _string_attrs(prop: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    attrs: list[tuple[str, str]] = []
    for keyword, attribute in (("minLength", "minlength"), ("maxLength", "maxlength")):
        value = prop.get(keyword)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            attrs.append((attribute, str(value)))
    pattern = prop.get("pattern")
    browser_pattern = html_pattern(pattern) if isinstance(pattern, str) else None
    if browser_pattern is not None:
        attrs.append(("pattern", browser_pattern))
    return tuple(attrs)


def _number_attrs(prop: dict[str, Any], kind: str) -> tuple[tuple[str, str], ...]:
    def number(key: str) -> float | int | None:
        value = prop.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return value
        return None

    attrs: list[tuple[str, str]] = [("step", "1" if kind == "integer" else "any")]
    low, high = number("minimum"), number("maximum")
    if kind == "integer":
        # For whole numbers an exclusive bound is the next whole number inside it.
        exclusive_low, exclusive_high = number("exclusiveMinimum"), number("exclusiveMaximum")
        if exclusive_low is not None:
            bound = math.floor(exclusive_low) + 1
            low = bound if low is None else max(low, bound)
        if exclusive_high is not None:
            bound = math.ceil(exclusive_high) - 1
            high = bound if high is None else min(high, bound)
    if low is not None:
        attrs.append(("min", _number_text(low)))
    if high is not None:
        attrs.append(("max", _number_text(high)))
    return tuple(attrs)


def _number_text(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _enum_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _as_text(item: FormField, value: Any) -> str:
    """A JSON value as the text its control shows (for defaults)."""
    if item.kind == "checkbox":
        return "on" if value is True else ""
    if item.kind == "json":
        return json.dumps(value, indent=2)
    if item.kind == "lines" and isinstance(value, list):
        return "\n".join(_enum_text(entry) for entry in value)
    if item.kind == "datetime" and isinstance(value, str):
        try:
            return datetime_local(parse_datetime(value))
        except ValueError:
            return value
    return _enum_text(value)


def _coerce(item: FormField, text: str) -> Any:
    """The typed value of one field; _OMIT when left empty; ValueError says what is wrong."""
    if item.kind == "checkbox":
        return text.strip().lower() in ("on", "true", "1", "yes")
    if not text.strip():
        # Left empty: not sent, so a required field gets the validator's "is required".
        return _OMIT
    if item.kind == "select":
        for _, shown in item.options:
            if text == shown:
                return next(v for v in item.schema["enum"] if _enum_text(v) == shown)
        raise ValueError(f"must be one of {', '.join(shown for _, shown in item.options)}")
    if item.kind in ("integer", "number"):
        return _number(text.strip(), item.kind)
    if item.kind == "datetime":
        try:
            return isoformat(parse_datetime(text))
        except ValueError:
            raise ValueError("must be a date and time, e.g. 2026-01-05T10:00") from None
    if item.kind == "date":
        try:
            return date.fromisoformat(text.strip()).isoformat()
        except ValueError:
            raise ValueError("must be a date, e.g. 2026-01-05") from None
    if item.kind == "lines":
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if item.item_kind == "string":
            return lines
        parsed = []
        for number, line in enumerate(lines, start=1):
            try:
                parsed.append(_number(line, item.item_kind))
            except ValueError as exc:
                raise ValueError(f"line {number}: {exc}") from None
        return parsed
    if item.kind == "json":
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        # "\ud800" in the text decodes to a string no page or answer could show again.
        surrogate = next(lone_surrogates(value), None)
        if surrogate is not None:
            raise ValueError(_located_in_field(surrogate["msg"], surrogate["loc"]))
        return value
    return text


def _located_in_field(message: str, loc: list[str | int]) -> str:
    return f"{message} (at /{'/'.join(str(part) for part in loc)})" if loc else message


def _number(text: str, kind: str) -> int | float:
    if _INTEGER.match(text):
        return int(text)
    if kind == "integer":
        raise ValueError("must be a whole number")
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value
