"""The text of a notification (SPEC §11 "Delivery"): built from its outbox row when it is
sent, so a grouped row names every incident that joined it.

Short enough for a chat line: a title with the severity, rule and how many subjects; one
line per subject with its value and since, and its incident's console link when
PRISM_PUBLIC_URL is set; the notification id last, so a receiver (or a person comparing
two messages) can tell a repeat after a crash from a new message.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from app.core.timeutil import isoformat
from app.models.alerts import AlertRule, Incident, Notification

# Longer groups name the first ones and count the rest: the console lists them all.
MAX_LISTED_SUBJECTS = 100

# Apprise's notify types (apprise.NotifyType values), chosen per event and severity.
_TYPE_OF_SEVERITY = {"critical": "failure", "warning": "warning", "info": "info"}
_HEADLINE = {
    "firing": "firing",
    "reminder": "still firing",
    "resolved": "resolved",
    "acknowledged": "acknowledged",
}


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    notify_type: str  # apprise NotifyType value: info, success, warning, failure


def channel_test_message(notification_id: str) -> Message:
    """What a channel test sends."""
    return Message(
        title="Prism Console test message",
        body="This is a test message from Prism Console: the channel works.\n"
        f"Notification {notification_id}",
        notify_type="info",
    )


def build_message(session: Session, row: Notification, *, public_url: str = "") -> Message:
    """The message of an outbox row (incidents pruned meanwhile are left out)."""
    if row.message is not None or row.event == "test":
        text = row.message or "This is a test message from Prism Console."
        return Message(
            title="Prism Console", body=f"{text}\nNotification {row.id}", notify_type="info"
        )
    incidents = _incidents(session, row.incident_ids)
    rule = session.get(AlertRule, row.rule_id) if row.rule_id else None
    rule_name = rule.name if rule else (incidents[0].rule_name if incidents else row.rule_id)
    severity = incidents[0].severity if incidents else (rule.severity if rule else "info")
    kind = incidents[0].kind if incidents else (rule.kind if rule else "")
    subject_type = incidents[0].subject_type if incidents else "subject"
    headline = _HEADLINE.get(row.event, row.event)
    count = len(incidents)
    about = f"on {incidents[0].subject}" if count == 1 else f"for {count} {subject_type}s"
    title = f"[{severity.upper()}] {rule_name}: {headline} {about}"
    lines = []
    for incident in incidents[:MAX_LISTED_SUBJECTS]:
        lines.append(_subject_line(incident, row.event, public_url))
    if count > MAX_LISTED_SUBJECTS:
        lines.append(f"… and {count - MAX_LISTED_SUBJECTS} more")
    if not incidents:
        lines.append("(the incidents of this message are no longer kept)")
    lines.append(f"Rule {row.rule_id} ({kind}, {severity}) · Notification {row.id}")
    if row.event == "resolved":
        notify_type = "success"
    elif row.event == "acknowledged":
        notify_type = "info"
    else:
        notify_type = _TYPE_OF_SEVERITY.get(severity, "info")
    return Message(title=title, body="\n".join(lines), notify_type=notify_type)


def _incidents(session: Session, ids: Sequence[int]) -> list[Incident]:
    if not ids:
        return []
    rows = session.exec(select(Incident).where(col(Incident.id).in_(list(ids)))).all()
    by_id = {incident.id: incident for incident in rows}
    return [by_id[incident_id] for incident_id in ids if incident_id in by_id]


def _subject_line(incident: Incident, event: str, public_url: str) -> str:
    parts = [f"• {incident.subject}"]
    value = incident.last_value if incident.last_value is not None else incident.value
    shown = format_value(incident.kind, value)
    if shown:
        parts.append(shown)
    if event == "resolved" and incident.resolved_at is not None:
        parts.append(f"resolved {_when(incident.resolved_at)}")
    else:
        parts.append(f"since {_when(incident.started_at)}")
    if event == "acknowledged" and incident.acknowledged_by:
        parts.append(f"acknowledged by {incident.acknowledged_by}")
    if public_url:
        parts.append(f"{public_url}/incidents/{incident.id}")
    return " — ".join(parts)


def _when(moment: datetime) -> str:
    return isoformat(moment.replace(microsecond=0))


def format_value(kind: str, value: float | None) -> str:
    """A condition's value in its unit (what conditions.py reports for each kind)."""
    if value is None:
        return ""
    if kind in ("agent_offline", "miner_silent"):
        return f"silent {_duration(value)}"
    if kind == "agent_errors":
        return f"{value:g} errors"
    if kind == "miner_temperature":
        return f"{value:.1f} °C"
    if kind == "miner_stale_rate":
        return f"{value:.1f} % stale"
    if kind == "miner_hashrate":
        return _hashrate(value)
    return f"value {value:g}"


def _duration(seconds: float) -> str:
    total = max(0, int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _hashrate(value: float) -> str:
    for unit, scale in (
        ("PH/s", 1e15),
        ("TH/s", 1e12),
        ("GH/s", 1e9),
        ("MH/s", 1e6),
        ("kH/s", 1e3),
    ):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:g} H/s"
