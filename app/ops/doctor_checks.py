"""What every check of `prism db doctor` is made of: the Check record and its wording helpers."""

from dataclasses import dataclass
from typing import Literal

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One finding: its status, what was seen, and what to do about it (None on a pass)."""

    name: str
    status: Status
    detail: str
    advice: str | None = None


def passed(name: str, detail: str) -> Check:
    return Check(name, "pass", detail)


def warned(name: str, detail: str, advice: str) -> Check:
    return Check(name, "warn", detail, advice)


def failed(name: str, detail: str, advice: str) -> Check:
    return Check(name, "fail", detail, advice)


def first_line(error: BaseException) -> str:
    """A driver error's first line (no SQL, no parameters)."""
    source = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(source).splitlines() if line.strip()]
    return lines[0] if lines else type(source).__name__


def size_text(size: float) -> str:
    """'512 bytes', '12.3 MiB': sizes in the details."""
    amount = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if amount < 1024:
            return f"{amount:,.0f} {unit}" if unit == "bytes" else f"{amount:,.1f} {unit}"
        amount /= 1024
    return f"{amount:,.1f} TiB"


def age_text(seconds: float) -> str:
    """'45 s', '12 min', '5.5 h', '3.0 days'."""
    if seconds < 120:
        return f"{seconds:,.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:,.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds / 86400:,.1f} days"


def names(items: list[str], limit: int = 5) -> str:
    """'a, b, c' or 'a, b, c, d, e and 3 more'."""
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown
