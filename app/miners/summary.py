"""A miner's charts as words: the time range shown, and each series' latest, min and max.

This is the text a chart shows without JavaScript (and its accessible description). The
figures come from SQL over the same window and the same expressions as the chart's series
(series.py), so the words and the picture never disagree.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from app.core.downsampling import resolve_window
from app.core.errors import UnprocessableError
from app.core.timeutil import parse_datetime
from app.miners.series import SERIES_NAMES, metric_expressions  # the charts' own SQL
from app.miners.tiles import (
    NONE,
    TEMPERATURE_CRITICAL_FROM,
    TEMPERATURE_WARNING_FROM,
    format_hashrate,
    format_temperature,
)
from app.models import MinerSample

# The time-range picker's presets, in the order shown.
RANGES: Mapping[str, tuple[str, timedelta]] = {
    "15m": ("15 min", timedelta(minutes=15)),
    "1h": ("1 h", timedelta(hours=1)),
    "6h": ("6 h", timedelta(hours=6)),
    "24h": ("24 h", timedelta(hours=24)),
    "7d": ("7 d", timedelta(days=7)),
    "30d": ("30 d", timedelta(days=30)),
}
DEFAULT_RANGE = "24h"


@dataclass(frozen=True)
class Window:
    """The time range a miner's charts show: [since, until), named by a preset or custom."""

    since: datetime
    until: datetime
    preset: str | None

    @property
    def label(self) -> str:
        """`24 h` for a preset, else both ends in UTC."""
        if self.preset is not None:
            return RANGES[self.preset][0]
        start, end = self.since.strftime("%Y-%m-%d %H:%M"), self.until.strftime("%Y-%m-%d %H:%M")
        return f"{start} to {end} UTC"


def resolve_range(
    *, preset: str | None, since: str | None, until: str | None, now: datetime
) -> Window:
    """The window of a page URL: custom ends when given, else a preset (24 h by default).

    Raises UnprocessableError("<field>: ...") naming `range`, `since` or `until`.
    """
    # Whole seconds, rounded up so a sample of this very second is in: the chart URLs built
    # from the window stay short and readable.
    if now.microsecond:
        now = now.replace(microsecond=0) + timedelta(seconds=1)
    if since or until:
        start, end = _parse_end("since", since), _parse_end("until", until)
        try:
            start, end = resolve_window(start, end, now)
        except UnprocessableError:
            # Worded for the page, whose fields read From and To.
            raise UnprocessableError("since: the start must be before the end") from None
        except OverflowError:  # only `until` in year 1: no day before it
            raise UnprocessableError("until: out of range") from None
        return Window(since=start, until=end, preset=None)
    chosen = preset or DEFAULT_RANGE
    if chosen not in RANGES:
        raise UnprocessableError(f"range: choose one of {', '.join(RANGES)}")
    return Window(since=now - RANGES[chosen][1], until=now, preset=chosen)


def _parse_end(field: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        raise UnprocessableError(
            f"{field}: not a date and time (use YYYY-MM-DD HH:MM, in UTC)"
        ) from None


@dataclass(frozen=True)
class SeriesFigures:
    latest: float | None
    minimum: float | None
    maximum: float | None


@dataclass(frozen=True)
class WindowFigures:
    """Per series (SERIES_NAMES): the newest sample's value, the min and the max."""

    samples: int
    series: dict[str, SeriesFigures]


def window_figures(
    *, session: Session, miner_id: str, since: datetime, until: datetime
) -> WindowFigures:
    """Latest, min and max of every chart series over [since, until), in two queries."""
    expressions = metric_expressions()
    in_window = and_(
        col(MinerSample.miner_id) == miner_id,
        col(MinerSample.recorded_at) >= since,
        col(MinerSample.recorded_at) < until,
    )
    aggregates: list[Any] = [func.count()]
    aggregates += [func.min(expression) for expression in expressions]
    aggregates += [func.max(expression) for expression in expressions]
    totals = session.exec(select(*aggregates).where(in_window)).one()
    newest = session.exec(
        select(*expressions)
        .where(in_window)
        .order_by(col(MinerSample.recorded_at).desc(), col(MinerSample.id).desc())
        .limit(1)
    ).first()
    count = len(expressions)
    series = {
        name: SeriesFigures(
            latest=newest[index] if newest is not None else None,
            minimum=totals[1 + index],
            maximum=totals[1 + count + index],
        )
        for index, name in enumerate(SERIES_NAMES)
    }
    return WindowFigures(samples=int(totals[0]), series=series)


def format_count(value: float | None) -> str:
    return NONE if value is None else f"{round(value):,}"


def format_latency(value: float | None) -> str:
    return NONE if value is None else f"{value:,.1f} ms"


def _format_unit(unit: str, digits: int) -> Callable[[float | None], str]:
    def format_value(value: float | None) -> str:
        return NONE if value is None else f"{value:,.{digits}f} {unit}"

    return format_value


# What a chart draws as its line from each bucket's min, avg and max: the side where trouble
# shows (a hashrate drop is in the minimum, a heat or latency spike in the maximum). The
# whole min-max range is drawn as a band around it.
LineStat = Literal["min", "avg", "max"]
# "level": the value itself; "counter": a cumulative counter drawn as its rate per minute.
SeriesKind = Literal["level", "counter"]


@dataclass(frozen=True)
class SeriesSpec:
    key: str
    label: str
    unit: str
    format: Callable[[float | None], str]
    # Drawn only once the legend turns it on (the quantities read less often).
    hidden: bool = False
    # The fallback text's name, when the chart draws something else (a rate of a counter).
    summary_label: str | None = None


@dataclass(frozen=True)
class Threshold:
    value: float
    label: str
    level: Literal["warning", "critical"]


@dataclass(frozen=True)
class ChartSpec:
    """One chart of a miner's page; value_format names a charts.js value format."""

    id: str
    title: str
    series: tuple[SeriesSpec, ...]
    axis: str  # the y axis' label, with its unit
    value_format: str | None = None
    line: LineStat = "avg"
    kind: SeriesKind = "level"
    thresholds: tuple[Threshold, ...] = ()
    # Counters only: also draw rejected / (accepted + rejected) in % on a right axis.
    reject_percent: bool = False


CHARTS = (
    ChartSpec(
        "chart-hashrate",
        "Hashrate",
        (
            SeriesSpec("effectiveHashrate", "Effective hashrate", "H/s", format_hashrate),
            SeriesSpec("hashrate1m", "Reported 1m", "H/s", format_hashrate, hidden=True),
            SeriesSpec("hashrate15m", "Reported 15m", "H/s", format_hashrate, hidden=True),
        ),
        axis="Hashrate",
        value_format="hashrate",  # 1.52 kH/s, as the tiles write it (the ticks carry the unit)
        line="min",
    ),
    ChartSpec(
        "chart-temperature",
        "Temperature",
        (SeriesSpec("temperatureC", "Temperature", "°C", format_temperature),),
        axis="°C",
        line="max",
        # The temperature tile's own limits (tiles.py).
        thresholds=(
            Threshold(TEMPERATURE_WARNING_FROM, "Warning", "warning"),
            Threshold(TEMPERATURE_CRITICAL_FROM, "Critical", "critical"),
        ),
    ),
    ChartSpec(
        "chart-shares",
        "Shares",
        (
            SeriesSpec(
                "sharesAccepted",
                "Accepted",
                "shares/min",
                format_count,
                summary_label="Accepted shares",
            ),
            SeriesSpec(
                "sharesRejected",
                "Rejected",
                "shares/min",
                format_count,
                summary_label="Rejected shares",
            ),
            SeriesSpec(
                "sharesStale", "Stale", "shares/min", format_count, summary_label="Stale shares"
            ),
        ),
        axis="shares/min",
        kind="counter",
        reject_percent=True,
    ),
    ChartSpec(
        "chart-latency",
        "Latency",
        (SeriesSpec("latencyMs", "Latency", "ms", format_latency),),
        axis="ms",
        line="max",
    ),
    ChartSpec(
        "chart-power",
        "Power",
        (SeriesSpec("powerW", "Power", "W", _format_unit("W", 0)),),
        axis="W",
    ),
    ChartSpec(
        "chart-fans",
        "Fans",
        (SeriesSpec("fanRpm", "Fan speed", "rpm", _format_unit("rpm", 0)),),
        axis="rpm",
        line="min",  # a failing fan slows down
    ),
    ChartSpec(
        "chart-efficiency",
        "Efficiency",
        (SeriesSpec("efficiencyJPerTH", "Efficiency", "J/TH", _format_unit("J/TH", 1)),),
        axis="J/TH",
        line="max",  # more joules per terahash is worse
    ),
)


def summary_lines(chart: ChartSpec, figures: WindowFigures, window: Window) -> list[str]:
    """`Hashrate 1m: latest 1.52 kH/s, min 1.20 kH/s, max 9.80 kH/s over 24 h`, per series."""
    if figures.samples == 0:
        return [f"No samples over {window.label}."]
    lines = []
    for spec in chart.series:
        label = spec.summary_label or spec.label
        # A series the figures do not know yet (power before the series carry it) is unreported.
        values = figures.series.get(spec.key)
        if values is None or values.minimum is None:
            lines.append(f"{label}: not reported over {window.label}")
            continue
        lines.append(
            f"{label}: latest {spec.format(values.latest)}, min {spec.format(values.minimum)}"
            f", max {spec.format(values.maximum)} over {window.label}"
        )
    return lines
