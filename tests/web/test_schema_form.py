"""JSON Schema → form fields, and submitted form values → typed, validated runbook input."""

from typing import Any

import pytest

from app.models import inputs_schema
from app.runbooks.html_pattern import html_pattern
from app.runbooks.schema_form import (
    MAX_IDEMPOTENCY_KEY,
    FormField,
    form_fields,
    initial_values,
    parse_submission,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["service", "count"],
    "properties": {
        "service": {
            "type": "string",
            "title": "Service name",
            "description": "The service to restart.",
            "minLength": 2,
            "maxLength": 20,
            "pattern": "^[a-z-]+$",
        },
        "count": {"type": "integer", "minimum": 1, "exclusiveMaximum": 10},
        "ratio": {"type": "number", "maximum": 1.5},
        "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
        "dry_run": {"type": "boolean", "default": True},
        "window": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "hosts": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "ports": {"type": "array", "items": {"type": "integer", "maximum": 65535}},
        "options": {"type": "object", "required": ["level"]},
        "note": {"type": ["string", "null"]},
    },
}


def by_name(schema: dict[str, Any] = SCHEMA) -> dict[str, FormField]:
    return {field.name: field for field in form_fields(schema)}


def form(**values: str) -> dict[str, str]:
    """Form data as the browser posts it (schema fields carry the input. prefix)."""
    return {f"input.{name}": value for name, value in values.items()}


VALID = form(service="api", count="3")


def test_each_property_gets_the_control_its_type_asks_for() -> None:
    kinds = {name: field.kind for name, field in by_name().items()}
    assert kinds == {
        "service": "text",
        "count": "integer",
        "ratio": "number",
        "mode": "select",
        "dry_run": "checkbox",
        "window": "datetime",
        "day": "date",
        "hosts": "lines",
        "ports": "lines",
        "options": "json",
        "note": "text",
    }
    assert by_name()["window"].input_type == "datetime-local"
    assert by_name()["day"].input_type == "date"
    assert by_name()["count"].input_type == "number"


def test_fields_keep_the_schema_order_and_know_what_is_required() -> None:
    fields = form_fields(SCHEMA)
    assert [field.name for field in fields] == list(SCHEMA["properties"])
    assert {field.name for field in fields if field.required} == {"service", "count"}


def test_title_labels_the_field_and_description_helps() -> None:
    service = by_name()["service"]
    assert service.label == "Service name"
    assert service.help.startswith("The service to restart.")
    assert by_name()["count"].label == "count"


def test_string_constraints_become_html_attributes() -> None:
    attrs = dict(by_name()["service"].attrs)
    assert attrs["minlength"] == "2"
    assert attrs["maxlength"] == "20"
    # HTML patterns match the whole value while JSON Schema patterns search; and the
    # browser's `v` flag wants the `-` inside a class escaped.
    assert attrs["pattern"] == "[\\s\\S]*(?:^[a-z\\-]+$)[\\s\\S]*"
    assert by_name()["service"].help.endswith("Must match the pattern ^[a-z-]+$.")


def test_a_pattern_the_browser_cannot_check_is_left_to_the_server_and_says_so() -> None:
    field = by_name({"properties": {"code": {"type": "string", "pattern": "(?i)^ab$"}}})["code"]
    assert "pattern" not in dict(field.attrs)
    assert field.help == "Must match the pattern (?i)^ab$ (checked when you submit)."
    refused = parse_submission(
        {"properties": {"code": {"type": "string", "pattern": "(?i)^ab$"}}}, form(code="xy")
    )
    assert refused.errors == {"code": "must match the pattern (?i)^ab$"}


def test_number_bounds_become_min_and_max() -> None:
    count = dict(by_name()["count"].attrs)
    assert (count["min"], count["max"], count["step"]) == ("1", "9", "1")
    ratio = dict(by_name()["ratio"].attrs)
    assert (ratio["max"], ratio["step"]) == ("1.5", "any")
    assert "min" not in ratio


def test_enum_values_are_the_select_options() -> None:
    assert by_name()["mode"].options == (("fast", "fast"), ("safe", "safe"))
    numbers = by_name({"properties": {"level": {"enum": [1, 2, "x"]}}})["level"]
    assert numbers.kind == "select"
    assert [value for value, _ in numbers.options] == ["1", "2", "x"]


@pytest.mark.parametrize(
    "schema",
    [
        {},
        {"type": "object"},
        {"type": "string"},
        True,
        {"properties": "not a mapping"},
    ],
)
def test_schemas_without_properties_have_no_fields(schema: Any) -> None:
    assert form_fields(schema) == []


def test_unsupported_property_schemas_fall_back_to_json() -> None:
    fields = by_name(
        {
            "properties": {
                "anything": True,
                "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "pairs": {"type": "array", "items": {"type": "array"}},
                "ref": {"$ref": "#/$defs/x"},
            }
        }
    )
    assert {field.kind for field in fields.values()} == {"json"}


def test_dom_ids_are_safe_and_unique() -> None:
    fields = form_fields({"properties": {"a b": {}, "a-b": {}, "": {}}})
    ids = [field.dom_id for field in fields]
    assert ids == ["field-a-b", "field-a-b-2", "field-x"]
    assert [field.form_name for field in fields] == ["input.a b", "input.a-b", "input."]


def test_defaults_are_the_initial_values() -> None:
    values = initial_values(
        form_fields(
            {
                "properties": {
                    "mode": {"enum": ["fast", "safe"], "default": "safe"},
                    "dry_run": {"type": "boolean", "default": True},
                    "hosts": {"type": "array", "items": {"type": "string"}, "default": ["a", "b"]},
                    "at": {"type": "string", "format": "date-time", "default": "2026-01-05T10:30Z"},
                    "extra": {"type": "object", "default": {"k": 1}},
                    "count": {"type": "integer", "default": 3},
                }
            }
        )
    )
    assert values == {
        "mode": "safe",
        "dry_run": "on",
        "hosts": "a\nb",
        "at": "2026-01-05T10:30",
        "extra": '{\n  "k": 1\n}',
        "count": "3",
    }


def test_text_becomes_typed_json() -> None:
    submission = parse_submission(
        SCHEMA,
        form(
            service="api",
            count="5",
            ratio="0.25",
            mode="fast",
            dry_run="on",
            window="2026-01-05T10:00",
            day="2026-01-05",
            hosts="web-1\n\n  web-2  \n",
            ports="80\n443",
            options='{"level": 2}',
        ),
    )
    assert submission.ok, submission.errors
    assert submission.data == {
        "service": "api",
        "count": 5,
        "ratio": 0.25,
        "mode": "fast",
        "dry_run": True,
        "window": "2026-01-05T10:00:00Z",
        "day": "2026-01-05",
        "hosts": ["web-1", "web-2"],
        "ports": [80, 443],
        "options": {"level": 2},
    }


def test_empty_optional_fields_are_left_out_and_an_unticked_box_is_false() -> None:
    submission = parse_submission(SCHEMA, {**VALID, "input.ratio": "", "input.hosts": " \n"})
    assert submission.ok
    assert submission.data == {"service": "api", "count": 3, "dry_run": False}


def test_a_datetime_with_an_offset_is_converted_to_utc() -> None:
    submission = parse_submission(SCHEMA, {**VALID, "input.window": "2026-01-05T12:00+02:00"})
    assert submission.data["window"] == "2026-01-05T10:00:00Z"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("count", "5.5", "must be a whole number"),
        ("count", "five", "must be a whole number"),
        ("ratio", "abc", "must be a number"),
        ("ratio", "inf", "must be a finite number"),
        ("window", "yesterday", "must be a date and time"),
        ("day", "2026-13-01", "must be a date"),
        ("ports", "80\nhttp", "line 2: must be a whole number"),
        ("options", "{level: 2}", "not valid JSON"),
        ("mode", "turbo", "must be one of fast, safe"),
    ],
)
def test_text_that_cannot_be_converted_is_an_error_on_its_field(
    name: str, text: str, message: str
) -> None:
    submission = parse_submission(SCHEMA, {**VALID, f"input.{name}": text})
    assert not submission.ok
    assert submission.errors[name].startswith(message)
    assert set(submission.errors) == {name}
    assert submission.values[name] == text  # kept to show again


def test_schema_violations_are_mapped_to_their_fields() -> None:
    submission = parse_submission(
        SCHEMA,
        form(service="API!", count="12", ratio="2", ports="80\n70000", options="{}"),
    )
    # In words, for the field's label to precede: no property names, no JSON pointers.
    assert submission.errors == {
        "service": "must match the pattern ^[a-z-]+$",
        "count": "must be less than 10",
        "ratio": "must be at most 1.5",
        "ports": "line 2: must be at most 65535",
        "options": "needs the key 'level'",
    }


@pytest.mark.parametrize(
    ("prop", "text", "message"),
    [
        ({"type": "string", "minLength": 3}, "ab", "must be at least 3 characters"),
        ({"type": "string", "maxLength": 1}, "ab", "must be at most 1 character"),
        ({"type": "string", "format": "email"}, "nobody", "must be an email address"),
        ({"type": "string", "const": "yes"}, "no", "must be yes"),
        ({"type": "integer", "multipleOf": 5}, "7", "must be a multiple of 5"),
        ({"type": "integer", "exclusiveMinimum": 0}, "0", "must be greater than 0"),
        (
            {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "a",
            "must have at least 2 lines",
        ),
        (
            {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "a\na",
            "must not repeat a line",
        ),
        (
            {"type": "object", "properties": {"n": {"type": "integer"}}},
            '{"n": "x"}',
            "n: must be a whole number",
        ),
        (
            {"type": "array", "items": {"type": "object", "required": ["id"]}},
            "[{}]",
            "item 1: needs the key 'id'",
        ),
        (
            {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "[]",
            "matches none of the allowed forms",
        ),
    ],
)
def test_each_kind_of_violation_reads_in_words(
    prop: dict[str, Any], text: str, message: str
) -> None:
    schema = {"type": "object", "properties": {"x": prop}}
    submission = parse_submission(schema, form(x=text))
    assert submission.errors == {"x": message}


def test_missing_required_fields_get_the_validators_message() -> None:
    submission = parse_submission(SCHEMA, {})
    assert submission.errors == {"service": "required", "count": "required"}
    assert submission.form_errors == []


def test_a_conversion_error_is_not_replaced_by_required() -> None:
    submission = parse_submission(SCHEMA, form(service="api", count="many"))
    assert submission.errors == {"count": "must be a whole number"}


def test_errors_no_field_owns_are_for_the_whole_form() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "minProperties": 1,
    }
    submission = parse_submission(schema, {})
    assert submission.errors == {}
    assert submission.form_errors == ["Fill in at least 1 field."]


def test_dependent_required_names_the_missing_field() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "dependentRequired": {"a": ["b"]},
    }
    submission = parse_submission(schema, form(a="x"))
    assert submission.errors == {"b": "required when a is set"}


def test_the_idempotency_key_is_trimmed_and_limited() -> None:
    assert parse_submission(SCHEMA, {**VALID, "idempotency_key": " deploy-9 "}).idempotency_key == (
        "deploy-9"
    )
    long_key = parse_submission(
        SCHEMA, {**VALID, "idempotency_key": "k" * (MAX_IDEMPOTENCY_KEY + 1)}
    )
    assert not long_key.ok
    assert long_key.idempotency_error == f"must be at most {MAX_IDEMPOTENCY_KEY} characters"


def test_a_property_named_like_a_form_control_does_not_clash() -> None:
    schema = {
        "type": "object",
        "required": ["idempotency_key"],
        "properties": {"idempotency_key": {"type": "string"}, "csrf_token": {"type": "string"}},
    }
    submission = parse_submission(
        schema,
        {"input.idempotency_key": "inner", "idempotency_key": "outer", "csrf_token": "t"},
    )
    assert submission.data == {"idempotency_key": "inner"}
    assert submission.idempotency_key == "outer"


def test_a_lone_surrogate_in_a_json_field_is_an_error_on_that_field() -> None:
    # The textarea's text is JSON: "\ud800" would decode to a string no page could show.
    submission = parse_submission(SCHEMA, {**VALID, "input.options": '{"level": ["\\ud800"]}'})
    assert not submission.ok
    assert submission.errors["options"].startswith("String must not contain a lone surrogate")
    assert submission.errors["options"].endswith("(at /level/0)")
    assert "options" not in submission.data


def test_validation_over_its_deadline_is_a_form_error(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(range(0, 10**6, 10))  # every reading of the clock is ten seconds later
    monkeypatch.setattr(inputs_schema, "clock", lambda: float(next(ticks)))
    submission = parse_submission(SCHEMA, VALID)
    assert not submission.ok
    assert submission.errors == {}
    assert submission.form_errors[0].startswith("validation against inputsSchema took longer")


# --- JSON Schema patterns as browser patterns (the `v` flag's syntax, RE2's meaning) --------
# tests/browser/test_runbook_patterns.py checks in Chromium that these compile and match
# exactly the values the server's RE2 accepts.


@pytest.mark.parametrize(
    ("pattern", "translated"),
    [
        (r"^[a-z0-9-]+$", r"^[a-z0-9\-]+$"),
        (r"^[\w.-]+@[\w-]+\.[a-z]{2,}$", r"^[\w\.\-]+@[\w\-]+\.[a-z]{2,}$"),
        (r"^(foo|bar)$", r"^(?:foo|bar)$"),
        ("[[]", r"[\[]"),
        (r"^\p{L}+$", r"^\p{L}+$"),
        (r"\p{Greek}", r"\p{Script=Greek}"),  # RE2 names scripts alone
        (r"\Aa.b\z", r"^a[^\n]b$"),  # RE2's dot leaves out only a newline
        ("[]a]", r"[\]a]"),  # a "]" first in a class is itself in RE2
        ("a{,3}", r"a\{,3\}"),  # not a repetition in RE2: literal braces
        (r"\s", r"[\t\n\f\r ]"),  # RE2's \s: ASCII, no \v
        (r"(?P<x>a)", "(?:a)"),
        (r"\Q(x)\E", r"(?:\(x\))"),
        (r"[!#%,:;<=>@`~&]", r"[\!\#\%\,\:\;\<\=\>\@\`\~\&]"),  # `v`'s reserved punctuators
    ],
)
def test_patterns_are_written_in_the_browsers_syntax(pattern: str, translated: str) -> None:
    assert html_pattern(pattern) == f"[\\s\\S]*(?:{translated})[\\s\\S]*"


@pytest.mark.parametrize(
    "pattern", ["(?i)^ab$", "[[:alpha:]]+", r"\C", r"\012", "^*", "(" * 600 + "a" + ")" * 600]
)
def test_patterns_without_an_exact_browser_equivalent_are_left_out(pattern: str) -> None:
    assert html_pattern(pattern) is None
