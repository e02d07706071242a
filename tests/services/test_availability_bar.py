"""The status bar's HTML (app/availability/bar.py): a cell a day, classes by uptime, the days
holding an outage linked to it, everything escaped."""

import re
from datetime import UTC, datetime, timedelta

from app.availability.bar import bar_html, duration_text, percent_text
from app.availability.compute import SEGMENTS
from app.availability.intervals import Interval
from app.availability.service import SubjectTime, Uptime, uptime_of

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _uptime(outages: list[Interval]) -> Uptime:
    known = [Interval(NOW - timedelta(days=90), NOW)]
    return uptime_of(SubjectTime(down=outages, maintenance=[], known=known), NOW)


def test_a_cell_a_day_and_the_outage_days_link_to_their_outage() -> None:
    outage = Interval(NOW - timedelta(days=12), NOW - timedelta(days=12) + timedelta(minutes=133))
    html = str(bar_html(_uptime([outage]), '/agents/a"<b>', compact=True))
    assert html.startswith('<div class="uptime-bar compact" role="img"')
    assert "1 outage" in html and "outages" not in html.split("aria-label")[1].split('"')[1]
    assert html.count('class="uptime-cell') == SEGMENTS
    links = re.findall(r'<a class="uptime-cell (\w+)" href="([^"]+)"', html)
    assert links == [("down", "/agents/a&#34;&lt;b&gt;#outage-0")]
    assert "down 2 h 13 min" in html
    assert html.count('class="uptime-cell up"') == SEGMENTS - 1


def test_figures_read_as_the_pages_write_them() -> None:
    assert (percent_text(None), percent_text(100.0), percent_text(99.6921)) == (
        "—",
        "100 %",
        "99.692 %",
    )
    assert [duration_text(s) for s in (12, 2820, 7980, 90000)] == [
        "12 s",
        "47 min 0 s",
        "2 h 13 min",
        "1 d 1 h",
    ]
