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
