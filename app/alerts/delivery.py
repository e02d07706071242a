"""Delivery of the outbox through Apprise (SPEC §11 "Delivery"): at least once, and never
twice at the same time.

A worker runs on every replica (app/alerts/delivery_worker.py). A step claims due rows:
pending, next_attempt_at reached, claimed by nobody or by a claim that ran out. The claim
is one UPDATE ... RETURNING over a SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL
(replicas claim disjoint rows without waiting for each other); on SQLite the UPDATE takes
the one write lock, so claims are serialized. A claim holds a row for lease_seconds(),
longer than a send may take, and is committed before anything is sent: a process killed
mid-send leaves the row claimed, and it is sent again (same id) once the claim ran out.

Each message is sent in a thread of the worker's own small pool (never the event loop,
never the request thread pool: a receiver that hangs holds one of those threads until
PRISM_NOTIFY_TIMEOUT_SECONDS, nothing else). Webhooks (json://, form://, xml://) carry the
notification id in an X-Prism-Notification-Id header, every message in its text. The
outcome is recorded only if the claim is still ours: sent (channel last_sent_at, a
"notified" entry on each incident), or a retry after PRISM_NOTIFY_RETRY_SECONDS doubling
per attempt (at most an hour apart), and after PRISM_NOTIFY_MAX_ATTEMPTS failed, with the
error on the row, the channel and each incident's timeline ("notify_failed").

Errors are masked where they are made: Apprise's log lines pass through the masking filter
of app/alerts/apprise_urls.py, and the error kept is scrubbed of the channel URL's parts.
"""

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import apprise
from sqlalchemy import Engine, func, or_, update
from sqlmodel import Session, col, select

from app.alerts.apprise_urls import apprise_url_error, instantiate, schema_of, scrub_text, sending
from app.alerts.messages import Message, build_message, channel_test_message
from app.core.config import Settings
from app.core.timeutil import as_utc, parse_datetime, utcnow
from app.models.alerts import Channel, Incident, IncidentEvent, Notification

logger = logging.getLogger("prism.alerts.delivery")

# Messages in flight per process: a few slow receivers cannot hold more threads than this.
SEND_THREADS = 4
CLAIM_BATCH = 50
# How often a worker looks for rows other replicas wrote (its own wake it at once).
POLL_SECONDS = 2.0
MAX_RETRY_SECONDS = 3600.0
MAX_ERROR_CHARS = 500
# A channel's lastSentAt is kept to within this many seconds (see _mark_channel_sent).
CHANNEL_SENT_PRECISION = 1.0
WEBHOOK_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
NOTIFICATION_ID_HEADER = "X-Prism-Notification-Id"
_ERROR_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})

Outcome = str  # "sent" | "retry" | "failed" | "lost" (the claim ran out and was taken over)


def lease_seconds(settings: Settings) -> float:
    """How long a claim holds a row: longer than one send may take (its connect and its
    read may each take PRISM_NOTIFY_TIMEOUT_SECONDS), so a live sender is never overtaken."""
    return 3 * settings.notify_timeout_seconds


def retry_delay(settings: Settings, attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: 10, 20, 40 … at most 1 h."""
    exponent = min(max(attempts - 1, 0), 32)
    return float(min(MAX_RETRY_SECONDS, settings.notify_retry_seconds * 2**exponent))


@dataclass(frozen=True)
class Claim:
    """One row taken for sending, with what the send needs (read in the claim)."""

    notification_id: str
    claimed_until: datetime
    channel_id: str
    message: Message
    url: str = field(repr=False)  # may hold a password: never in a repr or a log


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0
    # When the next pending row falls due (or a claim on one runs out); None: nothing left.
    next_due: datetime | None = None

    def count(self, outcome: Outcome) -> None:
        if outcome == "sent":
            self.sent += 1
        elif outcome == "retry":
            self.retried += 1
        elif outcome == "failed":
            self.failed += 1
        else:
            self.lost += 1


# --- One step ------------------------------------------------------------------------------


def deliver_due(
    engine: Engine, settings: Settings, *, now: datetime, limit: int = CLAIM_BATCH
) -> DeliveryReport:
    """Claim up to `limit` due rows, send them (SEND_THREADS at a time), record each outcome
    at `now`; blocking, for tests and tools (the worker runs the same parts without waiting)."""
    report = DeliveryReport()
    claims = claim_due(engine, settings, now=now, limit=limit, report=report)
    if claims:
        threads = min(SEND_THREADS, len(claims))
        with ThreadPoolExecutor(threads, thread_name_prefix="prism-notify-step") as pool:
            futures = [
                pool.submit(deliver_claim, engine, settings, claim, clock=lambda: now)
                for claim in claims
            ]
            for future in futures:
                report.count(future.result())
    report.next_due = next_due(engine)
    return report


def claim_due(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    limit: int,
    report: DeliveryReport | None = None,
) -> list[Claim]:
    """Take due rows for lease_seconds() and read what sending them needs; committed."""
    report = report if report is not None else DeliveryReport()
    until = now + timedelta(seconds=lease_seconds(settings))
    due = (
        select(Notification.id)
        .where(
            col(Notification.status) == "pending",
            col(Notification.next_attempt_at) <= now,
            or_(col(Notification.claimed_until).is_(None), col(Notification.claimed_until) <= now),
        )
        .order_by(col(Notification.next_attempt_at), col(Notification.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claims: list[Claim] = []
    with Session(engine, expire_on_commit=False) as session:
        ids = list(
            session.execute(
                update(Notification)
                .where(col(Notification.id).in_(due.scalar_subquery()))
                .values(claimed_until=until)
                .returning(col(Notification.id))
                .execution_options(synchronize_session=False)
            ).scalars()
        )
        if not ids:
            session.commit()
            return []
        rows = session.exec(
            select(Notification)
            .where(col(Notification.id).in_(ids))
            .order_by(col(Notification.next_attempt_at), col(Notification.id))
        ).all()
        for row in rows:
            report.claimed += 1
            channel = session.get(Channel, row.channel_id)
            if channel is None or not channel.enabled:
                # Disabled since the row was written: it is not sent, and says why.
                _finish_failed(session, row, channel, "the channel is disabled", now=now)
                report.failed += 1
                continue
            message = build_message(session, row, public_url=settings.public_url)
            claims.append(Claim(row.id, until, channel.id, message, channel.url))
        session.commit()
    return claims


def next_due(engine: Engine) -> datetime | None:
    """When a pending row next needs a worker: its next attempt, or its claim running out."""
    with Session(engine) as session:
        pending = col(Notification.status) == "pending"
        unclaimed = session.exec(
            select(func.min(Notification.next_attempt_at)).where(
                pending, col(Notification.claimed_until).is_(None)
            )
        ).one()
        claimed = session.exec(
            select(func.min(Notification.claimed_until)).where(
                pending, col(Notification.claimed_until).is_not(None)
            )
        ).one()
    moments = [moment for moment in (unclaimed, claimed) if moment is not None]
    if not moments:
        return None
    # Aggregates lose the column's type on SQLite (naive text): read back as UTC.
    return min(_as_aware(moment) for moment in moments)


def _as_aware(moment: datetime | str) -> datetime:
    return as_utc(moment) if isinstance(moment, datetime) else parse_datetime(moment)


def deliver_claim(
    engine: Engine, settings: Settings, claim: Claim, *, clock: Callable[[], datetime] = utcnow
) -> Outcome:
    """Send one claimed row and record the outcome (at `clock()` once the send is over)."""
    ok, error = send_message(
        claim.url,
        claim.message,
        notification_id=claim.notification_id,
        timeout=settings.notify_timeout_seconds,
    )
    outcome = record_outcome(engine, settings, claim, ok=ok, error=error, now=clock())
    if outcome in ("retry", "failed"):
        logger.warning(
            "notification %s to channel %s %s: %s",
            claim.notification_id,
            claim.channel_id,
            "failed for good" if outcome == "failed" else "failed, will retry",
            error,
        )
    elif outcome == "lost":
        logger.warning(
            "notification %s: its claim ran out while sending; another worker has it",
            claim.notification_id,
        )
    return outcome


def record_outcome(
    engine: Engine,
    settings: Settings,
    claim: Claim,
    *,
    ok: bool,
    error: str | None,
    now: datetime,
) -> Outcome:
    """Write a send's outcome, if the row is still held by this claim."""
    with Session(engine, expire_on_commit=False) as session:
        row = session.exec(
            select(Notification)
            .where(col(Notification.id) == claim.notification_id)
            .with_for_update()
        ).first()
        if row is None or row.status != "pending" or row.claimed_until != claim.claimed_until:
            return "lost"
        row.attempts += 1
        row.claimed_until = None
        if ok:
            row.status = "sent"
            row.sent_at = now
            _mark_channel_sent(session, row.channel_id, now)
            _timeline(session, row, "notified", now=now)
            outcome: Outcome = "sent"
        else:
            text = error or "not delivered"
            if row.attempts >= settings.notify_max_attempts:
                channel = session.get(Channel, row.channel_id)
                _finish_failed(session, row, channel, text, now=now)
                outcome = "failed"
            else:
                row.last_error = text
                row.next_attempt_at = now + timedelta(seconds=retry_delay(settings, row.attempts))
                outcome = "retry"
        session.add(row)
        session.commit()
    return outcome


def _mark_channel_sent(session: Session, channel_id: str, now: datetime) -> None:
    """last_sent_at = now and the error cleared; skipped when it was set under a second ago
    with no error: every sender of a busy channel would otherwise queue on its row's lock."""
    session.execute(
        update(Channel)
        .where(
            col(Channel.id) == channel_id,
            or_(
                col(Channel.last_error).is_not(None),
                col(Channel.last_sent_at).is_(None),
                col(Channel.last_sent_at) <= now - timedelta(seconds=CHANNEL_SENT_PRECISION),
            ),
        )
        .values(last_sent_at=now, last_error=None)
        .execution_options(synchronize_session=False)
    )


def _finish_failed(
    session: Session, row: Notification, channel: Channel | None, error: str, *, now: datetime
) -> None:
    row.status = "failed"
    row.last_error = error
    row.claimed_until = None
    session.add(row)
    if channel is not None:
        channel.last_error = error
        session.add(channel)
    _timeline(session, row, "notify_failed", now=now, error=error)


def _timeline(
    session: Session, row: Notification, kind: str, *, now: datetime, error: str | None = None
) -> None:
    """A timeline entry on each of the row's incidents still kept."""
    if not row.incident_ids:
        return
    kept = session.exec(select(Incident.id).where(col(Incident.id).in_(row.incident_ids))).all()
    detail: dict[str, object] = {
        "notificationId": row.id,
        "channelId": row.channel_id,
        "event": row.event,
        "attempts": row.attempts,
    }
    if error is not None:
        detail["error"] = error
    session.add_all(
        IncidentEvent(incident_id=incident_id, at=now, type=kind, detail=detail)
        for incident_id in kept
        if incident_id is not None
    )


# --- Sending -------------------------------------------------------------------------------


def send_test(url: str, *, timeout: float) -> tuple[bool, str | None]:
    """Send a test message now (blocking: call it off the event loop); the error is masked."""
    notification_id = str(uuid.uuid4())
    return send_message(
        url, channel_test_message(notification_id), notification_id=notification_id,
        timeout=timeout,
    )  # fmt: skip


def send_message(
    url: str, message: Message, *, notification_id: str, timeout: float
) -> tuple[bool, str | None]:
    """Send through Apprise within `timeout` per connect and per read: (ok, masked error)."""
    target = _with_id_header(url, notification_id)
    with sending(url):
        try:
            error = _send(target, message, timeout=timeout)
        except Exception as exc:  # a plugin bug must not end the worker
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            return True, None
        return False, _one_line(scrub_text(error, [target, url]))


def _send(target: str, message: Message, *, timeout: float) -> str | None:
    # Sequential dispatch: the send runs in this (the caller's) thread, not Apprise's pool.
    asset = apprise.AppriseAsset(async_mode=False)
    try:
        plugin = instantiate(target, asset=asset)
    except Exception:
        plugin = None
    if plugin is None:
        return apprise_url_error(target) or "the channel URL is not valid"
    plugin.socket_connect_timeout = timeout
    plugin.socket_read_timeout = timeout
    notifier = apprise.Apprise(asset=asset)
    notifier.add(plugin)
    with notifier.notify(
        body=message.body,
        title=message.title,
        notify_type=apprise.NotifyType(message.notify_type),
        body_format=apprise.NotifyFormat.TEXT,
    ) as result:
        if result:
            return None
        problems = [entry.message for entry in result.logs() if entry.level in _ERROR_LEVELS]
        status, elapsed = result.status.name.lower(), result.elapsed
    text = "; ".join(dict.fromkeys(problems)) or f"not delivered ({status})"
    if elapsed >= timeout:
        # Apprise reports a read timeout as a connection error: say which.
        text += f" (no answer within {timeout:g} s)"
    return text


def _with_id_header(url: str, notification_id: str) -> str:
    """Webhook URLs get the id header through Apprise's `+Header=value` query syntax."""
    if schema_of(url) not in WEBHOOK_SCHEMES:
        return url
    base, hash_mark, fragment = url.strip().partition("#")
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}+{NOTIFICATION_ID_HEADER}={notification_id}{hash_mark}{fragment}"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"
