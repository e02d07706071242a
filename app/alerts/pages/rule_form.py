"""The rule form: one per kind, its parameters generated from the kind's params model
(app/alerts/kinds.py: types, bounds, defaults), and the posted form turned back into the
body POST or PUT /api/alerts/rules takes (camelCase), so the API's own checks judge it.

Parameters left empty are left out of the rule: their default applies, and keeps following
the code and PRISM_AGENT_OFFLINE_AFTER, as a rule created through the API without them.
"""

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from app.alerts.kinds import KINDS, KindSpec
from app.alerts.pages.common import FormErrors, PostedForm
from app.alerts.schemas import TARGET_KEYS
from app.models.alerts import AlertRule

_INTEGER = re.compile(r"^[+-]?\d+$")
PARAM_LABELS = {
    "afterSeconds": "Silent for more than (seconds)",
    "statuses": "Reported status is one of",
    "count": "At least this many error events",
    "windowSeconds": "Within the last (seconds)",
    "belowPercent": "Below this % of the expected hashrate",
    "baselineHours": "Expected: its own median over (hours)",
    "aboveC": "Temperature at or above (°C)",
    "abovePercent": "Stale shares above (%)",
    "kinds": "Disagreements that count",
}
TARGET_LABELS = {
    "all": "Every subject of the kind",
    "agents": "These agents",
    "domains": "Agents of these domains",
    "miners": "These miners",
}
# Field names of the form, as the API names them: errors land next to their control.
RULE_FIELDS = (
    "id",
    "name",
    "kind",
    "severity",
    "forSeconds",
    "repeatMinutes",
    "channels",
    "runbookId",
    "runbookInput",
    "enabled",
    "target",
)


@dataclass(frozen=True)
class ParamField:
    """One parameter of a kind as a form control."""

    name: str
    label: str
    kind: str  # integer | number | choices
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    options: tuple[str, ...] = ()

    @property
    def form_name(self) -> str:
        return f"params.{self.name}"

    @property
    def dom_id(self) -> str:
        return f"rule-param-{self.name}"


def param_fields(kind: str, *, offline_after: int) -> list[ParamField]:
    """The kind's parameters, in the params model's order."""
    spec: KindSpec = KINDS[kind]
    schema = spec.params.model_json_schema()["properties"]
    defaults = spec.params().model_dump()
    fields = []
    for name, prop in schema.items():
        default = defaults.get(name)
        branches = prop.get("anyOf", [prop])
        types = {branch.get("type") for branch in branches} - {"null"}
        if prop.get("type") == "array":
            options = tuple(prop["items"]["enum"])
            fields.append(
                ParamField(
                    name,
                    PARAM_LABELS.get(name, name),
                    "choices",
                    default,
                    f"Default: {', '.join(default or [])}.",
                    options=options,
                )
            )
            continue
        bounds = [branch for branch in branches if "minimum" in branch] or [prop]
        minimum = bounds[0].get("minimum", prop.get("ge"))
        maximum = bounds[0].get("maximum", prop.get("le"))
        if default is None:
            help_text = f"Empty: the service setting PRISM_AGENT_OFFLINE_AFTER ({offline_after} s)."
        else:
            help_text = f"Empty: {default} (the default)."
        fields.append(
            ParamField(
                name,
                PARAM_LABELS.get(name, name),
                "integer" if types == {"integer"} else "number",
                default,
                help_text,
                minimum=minimum,
                maximum=maximum,
            )
        )
    return fields


def field_names(kind: str) -> tuple[str, ...]:
    """Every control of the kind's form (errors are placed by these names)."""
    return RULE_FIELDS + tuple(f"params.{name}" for name in KINDS[kind].params.model_fields)


def target_choices(kind: str) -> list[tuple[str, str]]:
    """(value, label) of the target select: every subject, or one of the kind's lists."""
    keys = ("all", *TARGET_KEYS[KINDS[kind].subject_type])
    return [(key, TARGET_LABELS[key]) for key in keys]


def initial_values(kind: str) -> dict[str, Any]:
    """A new rule's form: enabled, critical, every subject, the kind's choice defaults."""
    values: dict[str, Any] = {
        "id": "",
        "name": "",
        "severity": "critical",
        "forSeconds": "",
        "repeatMinutes": "",
        "channels": [],
        "runbookId": "",
        "runbookInput": "",
        "enabled": True,
        "targetKind": "all",
        "targetIds": "",
    }
    for param in param_fields(kind, offline_after=0):
        values[param.form_name] = list(param.default) if param.kind == "choices" else ""
    return values


def rule_values(rule: AlertRule) -> dict[str, Any]:
    """A stored rule as its edit form shows it (params it does not set are left empty)."""
    target_kind, target_ids = next(iter((rule.target or {}).items()), ("all", []))
    values: dict[str, Any] = {
        "id": rule.id,
        "name": rule.name,
        "severity": rule.severity,
        "forSeconds": str(rule.for_seconds),
        "repeatMinutes": str(rule.repeat_minutes),
        "channels": list(rule.channels),
        "runbookId": rule.runbook_id or "",
        "runbookInput": json.dumps(rule.runbook_input, indent=2, ensure_ascii=False)
        if rule.runbook_input is not None
        else "",
        "enabled": rule.enabled,
        "targetKind": target_kind,
        "targetIds": "\n".join(target_ids),
    }
    stored = rule.params or {}
    for param in param_fields(rule.kind, offline_after=0):
        value = stored.get(param.name)
        if param.kind == "choices":
            values[param.form_name] = list(value) if value is not None else list(param.default)
        else:
            values[param.form_name] = "" if value is None else _number_text(value)
    return values


def posted_values(kind: str, form: PostedForm) -> dict[str, Any]:
    """The form as submitted, to show again next to its errors."""
    values: dict[str, Any] = {
        "id": form.get("id"),
        "name": form.get("name"),
        "severity": form.get("severity"),
        "forSeconds": form.get("forSeconds"),
        "repeatMinutes": form.get("repeatMinutes"),
        "channels": form.getlist("channels"),
        "runbookId": form.get("runbookId"),
        "runbookInput": form.raw("runbookInput"),
        "enabled": form.has("enabled"),
        "targetKind": form.get("targetKind") or "all",
        "targetIds": form.raw("targetIds"),
    }
    for param in param_fields(kind, offline_after=0):
        if param.kind == "choices":
            values[param.form_name] = form.getlist(param.form_name)
        else:
            values[param.form_name] = form.get(param.form_name)
    return values


def rule_body(kind: str, form: PostedForm, errors: FormErrors) -> dict[str, Any]:
    """The API body of the posted form; what cannot even be read (a number that is not one,
    JSON that does not parse) goes into `errors` and is left out."""
    body: dict[str, Any] = {
        "name": form.get("name"),
        "kind": kind,
        "severity": form.get("severity"),
        "channels": form.getlist("channels"),
        "runbookId": form.get("runbookId") or None,
        "enabled": form.has("enabled"),
        "target": _target(form),
    }
    if form.get("id"):
        body["id"] = form.get("id")
    for name in ("forSeconds", "repeatMinutes"):
        number = _number(form.get(name), name, errors)
        if number is not None:
            body[name] = number
    params: dict[str, Any] = {}
    for param in param_fields(kind, offline_after=0):
        if param.kind == "choices":
            params[param.name] = form.getlist(param.form_name)
            continue
        number = _number(form.get(param.form_name), param.form_name, errors)
        if number is not None:
            params[param.name] = number
    body["params"] = params
    runbook_input = form.raw("runbookInput").strip()
    if runbook_input:
        try:
            body["runbookInput"] = json.loads(runbook_input)
        except ValueError:
            errors.add("runbookInput", 'must be a JSON object, e.g. {"miner": "{subject}"}')
    return body


def _target(form: PostedForm) -> dict[str, list[str]]:
    key = form.get("targetKind") or "all"
    if key == "all":
        return {}
    ids = [part.strip() for part in re.split(r"[\n,]", form.raw("targetIds")) if part.strip()]
    return {key: ids}


def _number(text: str, name: str, errors: FormErrors) -> int | float | None:
    if not text:
        return None
    if _INTEGER.match(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        errors.add(name, "must be a number")
        return None
    return number


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
