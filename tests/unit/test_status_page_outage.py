"""The primary's outage page (contract 1.2, detection): "Primary site unreachable since HH:MM UTC" while
every probe fails, "answers again" after; words and times only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from orchestrator.status_page.outage import down_view, render_outage, up_view

NOW = datetime(2026, 12, 7, 3, 20, tzinfo=UTC)


def test_the_down_page_says_since_when_how_many_checks_fail_and_what_happens_next():
    view = down_view("cc-dr-west", NOW - timedelta(minutes=8), 2, 3, NOW - timedelta(seconds=30), NOW, None)
    assert view.phase == "Primary site unreachable since 03:12 UTC" and view.tone == "paused"
    assert view.detail == "Our checks of the main site have had no answer for 8 min."
    assert view.checks == "2 of 3 failing" and view.checked_at == "2026-12-07 03:19 UTC"
    assert "decides whether to move calls" in view.next
    staged = down_view("cc-dr-west", NOW - timedelta(minutes=8), 3, 3, NOW, NOW, "run-1")
    assert "A failover to the backup site is being prepared" in staged.next and "run-1" not in render_outage(staged)


def test_the_time_is_said_in_utc_whatever_the_offset_it_was_read_with():
    since = datetime(2026, 12, 7, 5, 12, tzinfo=timezone(timedelta(hours=2)))
    assert down_view("s", since, 1, 1, NOW, NOW, None).phase == "Primary site unreachable since 03:12 UTC"


def test_the_up_page_says_how_long_the_outage_lasted_and_that_calls_stayed():
    view = up_view("cc-dr-west", NOW - timedelta(minutes=28), NOW, 3, 1, NOW)
    assert view.phase == "Primary site answers again since 03:20 UTC" and view.tone == "done"
    assert view.detail == ("The main site was unreachable from 02:52 to 03:20 UTC (28 min). "
                           "Calls stay on the main site.")
    assert view.checks == "1 of 3 answering"


def test_the_outage_page_is_self_contained_escaped_and_forbids_every_request():
    html = render_outage(down_view("<site>", NOW - timedelta(minutes=1), 1, 1, NOW, NOW, None))
    assert "default-src 'none'" in html and "<script" not in html and not re.search(r"https?://", html)
    assert "&lt;site&gt;" in html and "<site>" not in html
    assert html.count("Primary site unreachable since 03:19 UTC") == 2  # title and headline
