"""What a rule's condition finds (Match) and how its target narrows the subjects: as SQL on
the agent or miner table (target_clause, Scope), or for a subject in hand (in_target)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false

# A SELECT of any columns (Select is generic in the types of its columns).
Statement = Select[*tuple[Any, ...]]
AnySelect = TypeVar("AnySelect", bound=Statement)


@dataclass(frozen=True)
class Match:
    """One subject for which a rule's condition holds."""

    subject: str
    value: float | None
    since: datetime
    domain: str | None = None


@dataclass(frozen=True)
class Scope:
    """The rule's target as a condition on the agent or miner table (None: everyone)."""

    clause: ColumnElement[bool] | None

    def apply(self, statement: AnySelect) -> AnySelect:
        return statement if self.clause is None else statement.where(self.clause)


def target_clause(
    target: Mapping[str, Any],
    subject_type: str,
    subject: ColumnElement[Any],
    domain: ColumnElement[Any] | None,
) -> ColumnElement[bool] | None:
    """SQL for the rule's target: None for {} (every subject); every list given must hold."""
    clauses: list[ColumnElement[bool]] = []
    for key, names in _target_lists(target):
        if key == f"{subject_type}s":
            clauses.append(subject.in_(names))
        elif key == "domains" and domain is not None:
            clauses.append(domain.in_(names))
        else:
            clauses.append(false())
    return and_(*clauses) if clauses else None


def in_target(
    target: Mapping[str, Any], subject_type: str, subject: str, domain: str | None
) -> bool:
    """target_clause() for a subject in hand (fleet_drift is judged outside SQL)."""
    for key, names in _target_lists(target):
        if key == f"{subject_type}s":
            if subject not in names:
                return False
        elif key != "domains" or domain is None or domain not in names:
            return False
    return True


def _target_lists(target: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    return [
        (key, [str(name) for name in values] if isinstance(values, list) else [])
        for key, values in target.items()
    ]
