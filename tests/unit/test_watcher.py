"""The watch round's SNS message: a failed publish is logged and never fails the round."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import structlog
from structlog.testing import capture_logs

from orchestrator import detection, watcher


class _RefusingSns:
    def publish(self, *args: object) -> None:
        raise RuntimeError("SNS is down")


def test_a_failed_primary_down_message_is_logged_and_the_round_goes_on() -> None:
    """SNS refusing the message: ``watch.notify_failed`` names the message and the error; nothing raises."""
    site = cast(Any, SimpleNamespace(site="lab", notify=SimpleNamespace(topic_arn="arn:aws:sns:x:1:t")))
    services = cast(Any, SimpleNamespace(sns=_RefusingSns()))
    with capture_logs() as logs:
        watcher._publish(site, services, detection.PRIMARY_DOWN, {"down_since": "2026-12-07T03:00:00+00:00"},
                         structlog.get_logger("test"))
    failed = [entry for entry in logs if entry["event"] == "watch.notify_failed"]
    assert failed and failed[0]["notification"] == detection.PRIMARY_DOWN and "SNS is down" in failed[0]["error"]


def test_each_round_shows_its_time_and_a_down_round_names_the_staged_run() -> None:
    """At a terminal, every round starts with its time; while the primary is down a round after the staging
    one still names the staged failover and how to approve it or stand it down (said once per round)."""
    result = watcher.ProbeResult("sbc", "tcp", "127.0.0.1:1", False, "refused", 0.01)
    later = watcher.RoundOutcome("cc", True, [result], "2026-12-07T07:01:51.481Z", staged_run="RUN-1",
                                 at="2026-12-07T07:02:05.000Z")
    lines = watcher.describe(later)
    assert lines[0] == "07:02:05 UTC primary of cc: DOWN (every probe failing since 2026-12-07T07:01:51.481Z)"
    assert lines[-1].startswith("  staged failover RUN-1 (") and "orchestrator stand-down RUN-1" in lines[-1]
    staging = watcher.RoundOutcome("cc", True, [result], "2026-12-07T07:01:51.481Z", staged_run="RUN-1",
                                   notes=["staged failover RUN-1 waits at its gate"], at="2026-12-07T07:01:57.000Z")
    assert sum("RUN-1" in line for line in watcher.describe(staging)) == 1
    healthy = watcher.RoundOutcome("cc", False, [], None, at="2026-12-07T07:00:00.000Z")
    assert watcher.describe(healthy) == ["07:00:00 UTC primary of cc: healthy"]
