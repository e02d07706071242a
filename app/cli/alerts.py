"""`prism alerts …`: what is wrong now, the rules, and a test message through a channel."""

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import typer

from app.alerts import channels, current, rules
from app.alerts.apprise_urls import mask_url
from app.audit.service import cli_actor
from app.cli.support import fail, load_settings, one_line_errors, open_session, say
from app.core.timeutil import isoformat, utcnow

alerts = typer.Typer(
    name="alerts",
    help="Alerts: current problems, rules, channel tests.",
    no_args_is_help=True,
)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    lines = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    for line in lines:
        say("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _when(moment: datetime | None) -> str:
    return isoformat(moment.replace(microsecond=0)) if moment else "-"


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@alerts.command("list")
@one_line_errors
def list_command() -> None:
    """Current alerts (pending or firing): firing first, worst severity first, then oldest."""
    with open_session(load_settings()) as session:
        items = current.current_alerts(session, now=utcnow())
    if not items:
        say("No alerts: every rule is ok for every subject.")
        return
    _table(
        ("STATE", "SEVERITY", "RULE", "SUBJECT", "SINCE", "VALUE", "SILENCED", "INCIDENT"),
        [
            (
                item.state,
                item.severity,
                item.rule_id,
                f"{item.subject_type}:{item.subject}",
                _when(item.since),
                _value(item.value),
                "yes" if item.silenced else "no",
                str(item.incident_id) if item.incident_id is not None else "-",
            )
            for item in items
        ],
    )


@alerts.command("rules")
@one_line_errors
def rules_command() -> None:
    """Alert rules by id: kind, severity, enabled and the channels they notify."""
    with open_session(load_settings()) as session:
        rows, _ = rules.list_rules(session=session)
    if not rows:
        say("No alert rules.")
        return
    _table(
        ("ID", "KIND", "SEVERITY", "ENABLED", "CHANNELS"),
        [
            (
                rule.id,
                rule.kind,
                rule.severity,
                "yes" if rule.enabled else "no",
                ",".join(rule.channels) or "-",
            )
            for rule in rows
        ],
    )


@alerts.command("test-channel")
@one_line_errors
def test_channel_command(
    channel_id: Annotated[str, typer.Argument(metavar="ID", help="The channel's id.")],
) -> None:
    """Send a test message through a channel now; exit 1 with the (masked) error on failure."""
    settings = load_settings()
    with open_session(settings) as session:
        channel = channels.get_channel(session=session, channel_id=channel_id)
        masked = mask_url(channel.url)
        ok, error = channels.send_channel_test(
            session=session,
            channel_id=channel_id,
            actor=cli_actor(),
            now=utcnow,
            timeout=settings.notify_timeout_seconds,
        )
    if not ok:
        fail(f"channel {channel_id} ({masked}): {error}")
    say(f"Sent a test message through {channel_id} ({masked}).")
