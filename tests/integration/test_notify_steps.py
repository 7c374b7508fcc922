"""notify.milestone and publish_event: structured messages through SNS to an SQS subscription; a
failure to notify never fails the step."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from structlog.testing import capture_logs

from orchestrator.clock import iso
from orchestrator.steps.notify import Milestone, publish_event
from tests.fixtures.aws import make_step_context, received_notifications, run_step

pytestmark = pytest.mark.integration


def throttle(**kwargs):
    raise ClientError(
        {
            "Error": {"Code": "Throttling", "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "Publish",
    )


def test_milestone_is_received_through_sqs(moto_site, clock):
    """The milestone arrives as JSON with run, step, site, milestone, status, elapsed and RTO so far."""
    ctx = make_step_context(Milestone, moto_site, clock, params={"milestone": "dns cut over"}, step_id="m1")
    ctx.run_started_at = iso(clock.now())
    clock.advance(42)
    assert run_step(Milestone(), ctx)
    [note] = received_notifications(moto_site)
    body = note["body"]
    assert body["event"] == "milestone" and body["milestone"] == "dns cut over"
    assert (body["run_id"], body["step_id"], body["site"], body["status"]) == (
        "run-test",
        "m1",
        "cc-dr-west",
        "reached",
    )
    assert body["elapsed_seconds"] == 42 and body["rto_seconds_so_far"] == 42
    assert body["rto_objective_seconds"] == 900
    assert note["Subject"] == "[cc-dr-west] milestone: dns cut over"
    assert note["MessageAttributes"]["event"]["Value"] == "milestone"
    assert ctx.state["delivered"] is True


def test_elapsed_is_none_without_run_start(moto_site, clock):
    """Without run start information the message says elapsed null rather than inventing one."""
    ctx = make_step_context(Milestone, moto_site, clock, params={"milestone": "x"})
    run_step(Milestone(), ctx)
    assert received_notifications(moto_site)[0]["body"]["elapsed_seconds"] is None


def test_deleted_topic_does_not_fail_the_step(moto_site, clock):
    """Publishing to a topic that no longer exists is logged; the step succeeds with delivered false."""
    ctx = make_step_context(Milestone, moto_site, clock, params={"milestone": "seats up"})
    ctx.services.aws.call("sns", "delete_topic", TopicArn=moto_site.notify.topic_arn)
    with capture_logs() as logs:
        assert run_step(Milestone(), ctx)
    assert ctx.state["delivered"] is False
    assert any(e["event"] == "notify.failed" and e["log_level"] == "warning" for e in logs)


def test_throttled_forever_is_retried_then_given_up(moto_site, clock):
    """Throttling is retried under the notify policy (each retry logged), then the step still succeeds."""
    ctx = make_step_context(Milestone, moto_site, clock, params={"milestone": "vpn up"})
    ctx.services.aws.add_event_hook("before-call.sns.Publish", throttle)
    with capture_logs() as logs:
        run_step(Milestone(), ctx)
    retries = [e for e in logs if e["event"] == "retry" and e["what"] == "sns.publish"]
    assert len(retries) == 3  # policy "notify": 4 attempts
    assert ctx.state["delivered"] is False
    assert received_notifications(moto_site) == []
    assert clock.sleeps  # backoff went through the fake clock


def test_throttled_once_then_delivered(moto_site, clock):
    """One throttled publish is retried and the notification arrives once."""
    ctx = make_step_context(Milestone, moto_site, clock, params={"milestone": "restore done"})
    calls = []

    def throttle_first(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            throttle()

    ctx.services.aws.add_event_hook("before-call.sns.Publish", throttle_first)
    run_step(Milestone(), ctx)
    assert ctx.state["delivered"] is True
    assert len(received_notifications(moto_site)) == 1


def test_publish_event_for_run_start_and_failure(moto_site, clock):
    """The engine's notifier publishes run events with arbitrary fields; failures return None."""
    from orchestrator.adapters import Services

    services = Services(moto_site, clock)
    assert publish_event(services, moto_site, "run-1", "run_started", kind="failover")
    bodies = [n["body"] for n in received_notifications(moto_site)]
    assert bodies == [
        {
            "event": "run_started",
            "run_id": "run-1",
            "site": "cc-dr-west",
            "at": "2026-11-23T03:00:00.000Z",
            "kind": "failover",
        }
    ]
    services.aws.call("sns", "delete_topic", TopicArn=moto_site.notify.topic_arn)
    assert publish_event(services, moto_site, "run-1", "run_failed", error="boom") is None
