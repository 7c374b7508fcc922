"""The status page's one line on the outage announcement (issue 23): when callers stop hearing it, fed from
the connect.announce step's output (``until``), a warning when that day is near or past (the override lasts a
fixed number of days, so a long outage outlives it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.model import RunStatus, StepStatus
from orchestrator.report import from_json
from orchestrator.status_page import build_view, render_page

NOW = datetime(2026, 11, 29, 3, 10, tzinfo=UTC)


def _report(*steps: dict, status: str = RunStatus.RUNNING) -> dict:
    return {"run_id": "r1", "kind": "failover", "site": "cc-dr-west", "status": status,
            "started_at": "2026-11-29T03:00:00.000Z", "finished_at": None, "rto_objective_seconds": 900,
            "rpo_objective_seconds": 86400, "rto_seconds": None, "rpo_seconds": None, "timeline": [],
            "steps": [{"owner": "incident-commander", "finished_at": None, "rto": True, **s} for s in steps]}


def _announce(until: dict[str, str], status: str = StepStatus.SUCCEEDED) -> dict:
    return {"id": "connect-announce", "uses": "connect.announce", "status": status,
            "outputs": {"created": {}, "failed": {}, "until": until}}


def _view(*steps: dict, status: str = RunStatus.RUNNING):
    return build_view(from_json(_report(*steps, status=status)), {"steps": []}, None, NOW)


@pytest.mark.parametrize(("until", "notice"), [
    ({"us-west-2": "2026-12-06", "us-east-1": "2026-12-06"},
     "Callers hear the outage announcement until the end of 2026-12-06 (7 days from now); it stops then unless "
     "it is extended."),
    ({"us-west-2": "2026-11-30", "us-east-1": "2026-12-06"},
     "Warning: the outage announcement to callers ends after 2026-11-30 (tomorrow); unless it is extended, "
     "callers stop hearing it then."),
    ({"us-west-2": "2026-11-29"},
     "Warning: the outage announcement to callers ends after 2026-11-29 (today); unless it is extended, callers "
     "stop hearing it then."),
    ({"us-west-2": "2026-11-27"},
     "Warning: the outage announcement to callers ended on 2026-11-27; callers no longer hear it."),
])
def test_the_page_says_when_the_announcement_ends_and_warns_before_it_lapses(until, notice):
    """The earliest last day of any Region; a warning from the day before it on, and once it is past."""
    view = _view(_announce(until), status=RunStatus.SUCCEEDED)
    assert view.notice == notice
    html = render_page(view)
    assert f'<p class="notice" id="announcement">{notice}</p>' in html


def test_no_line_without_an_announcement_or_once_it_is_removed():
    """No announce step (a SIP/DNS site), or one that recorded no day, or a later unannounce: no line."""
    assert _view().notice is None
    assert 'id="announcement"' not in render_page(_view())
    assert _view(_announce({})).notice is None
    unannounce = {"id": "connect-unannounce", "uses": "connect.unannounce", "status": StepStatus.SUCCEEDED}
    assert _view(_announce({"us-west-2": "2026-11-30"}), unannounce).notice is None


def test_a_partly_failed_announcement_still_says_when_it_ends_where_it_is_on():
    """The announce step failed in one Region (on_failure: continue): the Region it reached still has a day."""
    view = _view(_announce({"us-west-2": "2026-12-06"}, status=StepStatus.FAILED))
    assert view.notice is not None and "2026-12-06" in view.notice
