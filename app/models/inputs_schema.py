"""A runbook's inputsSchema (JSON Schema 2020-12): what may be stored, and bounded validation.

A schema is written by an admin but evaluated on every execute, in the request's thread, so
it must not be able to make the server fetch a URL, loop for ever or backtrack for seconds:

- When it is stored (`schema_problem`): at most MAX_SCHEMA_DEPTH levels and MAX_SCHEMA_BYTES;
  a valid 2020-12 schema; every `$ref` / `$dynamicRef` resolves inside the schema (`#/...`,
  `$defs`, anchors, embedded `$id`s) or to a bundled meta-schema, never over the network;
  every pattern compiles with RE2; no reference loop that never descends into the input.
- When input is validated (`input_errors`): references resolve only locally (a remote URI is
  refused, never fetched); `pattern`, `patternProperties` and `additionalProperties` match
  with RE2 (linear time, no backtracking); `uniqueItems` runs in linear time; and the whole
  validation has a deadline of VALIDATION_SECONDS, checked at every keyword, so a schema whose
  combinators multiply the work answers a 4xx instead of holding a thread.
"""

import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any

import re2
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator
from jsonschema_specifications import REGISTRY as BUNDLED_SCHEMAS
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError
from referencing import Registry
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012

from app.core.json_input import lone_surrogates

MAX_SCHEMA_DEPTH = 64  # JSON nesting levels (an object property is two: properties, then it)
MAX_SCHEMA_BYTES = 64 * 1024  # as compact JSON
VALIDATION_SECONDS = 1.0

clock: Callable[[], float] = time.monotonic  # tests replace it to pass the deadline at will

# 2020-12's applicators: where a schema holds subschemas (as referencing.jsonschema lists them).
_IN_VALUE = (
    "additionalProperties",
    "contains",
    "contentSchema",
    "else",
    "if",
    "items",
    "not",
    "propertyNames",
    "then",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_IN_ARRAY = ("allOf", "anyOf", "oneOf", "prefixItems")
_IN_OBJECT = ("$defs", "definitions", "dependentSchemas", "patternProperties", "properties")
# The applicators that apply their subschemas to the same instance, not to a part of it: a
# loop made only of these (and references) never ends, whatever the input.
_IN_PLACE_VALUE = ("not", "if", "then", "else")
_IN_PLACE_ARRAY = ("allOf", "anyOf", "oneOf")
_REFERENCES = ("$ref", "$dynamicRef")

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported to the client, not to stderr


# The meta-schema's formats, less "regex": it would compile each `pattern` with Python's re,
# which refuses what RE2 runs (\p{L}) and warns on what it accepts ([[]). Patterns are
# checked by RE2 itself, the engine that matches them (_pattern_problem).
_SCHEMA_FORMATS = FormatChecker()
_SCHEMA_FORMATS.checkers = {
    name: check
    for name, check in Draft202012Validator.FORMAT_CHECKER.checkers.items()
    if name != "regex"
}


class InputValidationLimitError(Exception):
    """Validation could not finish: over the deadline, nested too deeply, or a bad reference."""


@dataclass(frozen=True)
class SchemaProblem:
    """Why a schema cannot be stored: a pydantic error type and a message naming the place."""

    kind: str
    message: str


def _refuse_remote(uri: str) -> Any:
    """The registry's retrieve: no URI is ever fetched, whatever its scheme."""
    raise NoSuchResource(uri)


# jsonschema adds the bundled meta-schemas to a registry it is given; nothing else resolves.
LOCAL_ONLY = Registry(retrieve=_refuse_remote)  # type: ignore[call-arg]
_LOCAL_WITH_META_SCHEMAS = BUNDLED_SCHEMAS.combine(LOCAL_ONLY)


# --- keywords: RE2 for every match, linear uniqueItems, a deadline -------------------------


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, options=_RE2_OPTIONS)


def _search(pattern: str, text: str) -> bool:
    return _compiled(pattern).search(text) is not None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, extra: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """jsonschema's additionalProperties, with the patternProperties matched by RE2."""
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = {
        key
        for key in instance
        if key not in properties and not any(_search(pattern, key) for pattern in patterns)
    }
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif not extra and extras:
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            shown = ", ".join(repr(each) for each in sorted(patterns))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {shown}")
        else:
            keys = sorted(extras, key=str)
            verb = "was" if len(keys) == 1 else "were"
            listed = ", ".join(repr(key) for key in keys)
            yield ValidationError(
                f"Additional properties are not allowed ({listed} {verb} unexpected)"
            )


def _canonical(value: Any) -> Any:
    """A hashable form equal exactly when JSON Schema calls two values equal (1 == 1.0)."""
    if isinstance(value, bool):
        return ("bool", value)  # true is not 1
    if isinstance(value, dict):
        return ("object", frozenset((key, _canonical(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_canonical(item) for item in value))
    return value


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    # jsonschema compares unhashable items pairwise: 20,000 objects took minutes.
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[Any] = set()
    for item in instance:
        key = _canonical(item)
        if key in seen:
            yield ValidationError(f"{instance!r} has non-unique elements")
            return
        seen.add(key)


_deadline: ContextVar[float | None] = ContextVar("inputs_schema_deadline", default=None)


def _within_deadline(keyword: Callable[..., Any]) -> Callable[..., Any]:
    def checked(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        deadline = _deadline.get()
        if deadline is not None and clock() > deadline:
            raise InputValidationLimitError(
                f"validation against inputsSchema took longer than {VALIDATION_SECONDS:g} s; "
                "simplify the schema or the input"
            )
        return keyword(validator, value, instance, schema)

    return checked


_KEYWORDS = {
    **Draft202012Validator.VALIDATORS,
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "uniqueItems": _unique_items,
}
InputValidator: type[Validator] = validators.extend(
    Draft202012Validator,
    validators={name: _within_deadline(keyword) for name, keyword in _KEYWORDS.items()},
)


def input_errors(schema: Any, instance: Any) -> list[ValidationError]:
    """Every error of `instance` against the schema; InputValidationLimitError if it cannot
    tell (over the deadline, nested too deeply). The schema must pass `schema_problem`."""
    validator = InputValidator(
        schema, registry=LOCAL_ONLY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    token = _deadline.set(clock() + VALIDATION_SECONDS)
    try:
        return list(validator.iter_errors(instance))
    except RecursionError:
        raise InputValidationLimitError(
            "the input is nested too deeply to validate against inputsSchema"
        ) from None
    except Unresolvable as exc:
        ref = getattr(exc, "ref", "")
        raise InputValidationLimitError(f"inputsSchema: cannot resolve {ref!r}") from None
    finally:
        _deadline.reset(token)


# --- what may be stored -------------------------------------------------------------------


def schema_problem(schema: Any) -> SchemaProblem | None:
    """Why `schema` cannot be a runbook's inputsSchema, or None when it can (see module doc)."""
    if _depth(schema) > MAX_SCHEMA_DEPTH:  # first: the checks below recurse
        return SchemaProblem(
            "json_schema_too_deep", f"nested more than {MAX_SCHEMA_DEPTH} levels deep"
        )
    surrogate = next(lone_surrogates(schema), None)
    if surrogate is not None:  # stored before they were refused: the API never takes one
        where = _child("", *surrogate["loc"])
        return SchemaProblem("string_unicode", f"holds a lone surrogate (at {where})")
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _problem_of_text(text)


@functools.lru_cache(maxsize=256)
def _problem_of_text(text: str) -> SchemaProblem | None:
    # Cached by the schema's text: executes re-check stored schemas (they may predate a rule).
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SCHEMA_BYTES:
        return SchemaProblem(
            "json_schema_too_large", f"larger than {MAX_SCHEMA_BYTES} bytes as JSON"
        )
    schema = json.loads(text)
    try:
        Draft202012Validator.check_schema(schema, format_checker=_SCHEMA_FORMATS)
    except SchemaError as exc:
        return SchemaProblem("json_schema_invalid", _located(exc.message, exc.path))
    return _reference_problem(schema)


def _depth(document: Any) -> int:
    """The JSON nesting depth (stopping past MAX_SCHEMA_DEPTH), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack and deepest <= MAX_SCHEMA_DEPTH:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return deepest


@dataclass
class _Node:
    contents: dict[str, Any]
    resolver: Any
    pointer: str
    in_place: list[int]  # ids of the subschemas applied to the same instance


def _reference_problem(schema: Any) -> SchemaProblem | None:
    """Remote or dangling references, patterns RE2 refuses, and endless reference loops."""
    if not isinstance(schema, dict):
        return None
    document_ids = _dict_ids(schema)
    root = _LOCAL_WITH_META_SCHEMAS.resolver_with_root(DRAFT202012.create_resource(schema))
    nodes: dict[int, _Node] = {}
    # (subschema, the resolver of its parent or, reached by a reference, its own, pointer)
    work: list[tuple[Any, Any, str, bool]] = [(schema, root, "", True)]
    while work:
        contents, resolver, pointer, entered = work.pop()
        if not isinstance(contents, dict) or id(contents) in nodes:
            continue
        if not entered:  # a subschema with its own $id changes the base of its references
            resolver = resolver.in_subresource(DRAFT202012.create_resource(contents))
        node = _Node(contents, resolver, pointer, [])
        nodes[id(contents)] = node
        problem = _pattern_problem(contents, pointer)
        if problem is not None:
            return problem
        for keyword in _REFERENCES:
            ref = contents.get(keyword)
            if not isinstance(ref, str):
                continue
            try:
                resolved = resolver.lookup(ref)
            except Unresolvable:
                return SchemaProblem(
                    "json_schema_reference",
                    f"{keyword} {ref!r} at {_child(pointer, keyword)} does not resolve inside "
                    "the schema: only local references (#/..., $defs, anchors) are followed, "
                    "nothing is fetched",
                )
            target = resolved.contents
            if isinstance(target, dict) and id(target) in document_ids:
                node.in_place.append(id(target))
                shown = ref[1:] if ref.startswith("#/") else ref
                work.append((target, resolved.resolver, shown, True))
        for path, child, in_place in _subschemas(contents):
            if isinstance(child, dict):
                if in_place:
                    node.in_place.append(id(child))
                work.append((child, resolver, _child(pointer, *path), False))
    if any("unevaluatedProperties" in node.contents for node in nodes.values()) and any(
        "patternProperties" in node.contents for node in nodes.values()
    ):
        # jsonschema matches those patterns itself, with Python's backtracking engine.
        return SchemaProblem(
            "json_schema_pattern",
            "unevaluatedProperties together with patternProperties is not supported "
            "(their patterns could not be matched in bounded time)",
        )
    return _loop_problem(nodes)


def _subschemas(contents: dict[str, Any]) -> Iterable[tuple[tuple[str | int, ...], Any, bool]]:
    """(path from `contents`, subschema, applied to the same instance?) for each subschema."""
    for keyword in _IN_VALUE:
        if keyword in contents:
            yield (keyword,), contents[keyword], keyword in _IN_PLACE_VALUE
    for keyword in _IN_ARRAY:
        items = contents.get(keyword)
        if isinstance(items, list):
            for index, item in enumerate(items):
                yield (keyword, index), item, keyword in _IN_PLACE_ARRAY
    for keyword in _IN_OBJECT:
        members = contents.get(keyword)
        if isinstance(members, dict):
            for name, item in members.items():
                yield (keyword, name), item, keyword == "dependentSchemas"


def _pattern_problem(contents: dict[str, Any], pointer: str) -> SchemaProblem | None:
    patterns = [(contents["pattern"], _child(pointer, "pattern"))] if "pattern" in contents else []
    members = contents.get("patternProperties")
    if isinstance(members, dict):
        patterns += [(key, _child(pointer, "patternProperties", key)) for key in members]
    for pattern, where in patterns:
        if not isinstance(pattern, str):
            continue
        try:
            _compiled(pattern)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            return SchemaProblem(
                "json_schema_pattern",
                f"pattern {pattern!r} at {where} is not supported ({reason}): patterns run "
                "on RE2, in linear time, without backreferences or lookaround",
            )
    return None


def _loop_problem(nodes: dict[int, _Node]) -> SchemaProblem | None:
    """A cycle of in-place applicators and references: validation would never return."""
    state: dict[int, int] = {}  # 1: on the current path, 2: done
    for start in nodes:
        if start in state:
            continue
        state[start] = 1
        path: list[tuple[int, Iterator[int]]] = [(start, iter(nodes[start].in_place))]
        while path:
            current, successors = path[-1]
            following = next(successors, None)
            if following is None:
                state[current] = 2
                path.pop()
            elif state.get(following) == 1:
                return SchemaProblem(
                    "json_schema_reference_loop",
                    f"the subschema at {nodes[following].pointer or '/'} applies itself again "
                    "without descending into the input (an endless loop)",
                )
            elif following not in state and following in nodes:
                state[following] = 1
                path.append((following, iter(nodes[following].in_place)))
    return None


def _dict_ids(document: Any) -> set[int]:
    found: set[int] = set()
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            found.add(id(value))
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _child(pointer: str, *parts: str | int) -> str:
    escaped = (str(part).replace("~", "~0").replace("/", "~1") for part in parts)
    return "/".join([pointer, *escaped])


def _located(message: str, path: Iterable[str | int]) -> str:
    parts = list(path)
    return f"{message} (at {_child('', *parts)})" if parts else message


def _checked(schema: dict[str, Any]) -> dict[str, Any]:
    problem = schema_problem(schema)
    if problem is not None:
        raise PydanticCustomError(
            problem.kind, "inputsSchema: {problem}", {"problem": problem.message}
        )
    return schema


InputsSchema = Annotated[dict[str, Any], AfterValidator(_checked)]
"""A runbook's inputsSchema as the API takes it: refused with a 422 naming it (see module doc)."""
