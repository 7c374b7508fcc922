"""connect.test_call (contract 1.2, answered calls) against the Connect double over HTTP with the real boto3
client: answered at once, no agent (fails after its bound, saying what it saw), an agent who logs in late
(answered when they do), a resumed step (a new call, one answer); waits on a FakeClock."""

from __future__ import annotations

import pytest

from orchestrator.errors import FatalError, StepTimeout
from orchestrator.steps.connect import TestCall
from tests.fixtures.aws import make_step_context, run_step
from tests.fixtures.connect import SECONDARY, with_connect

pytestmark = pytest.mark.integration


def calls(double) -> list[dict]:
    return [r for r in double.service.accepted if r["operation"] == "StartOutboundVoiceContact"]


def test_the_call_is_placed_in_the_secondary_region_and_answered_by_an_agent(connect_site, connect_double, clock):
    """One StartOutboundVoiceContact in the secondary Region through the site's flow and queue; the agent's
    answer (DescribeContact's ConnectedToAgentTimestamp) is recorded with the time it took."""
    ctx = make_step_context(TestCall, connect_site, clock)
    assert run_step(TestCall(), ctx)
    (placed,) = calls(connect_double)
    test_call = connect_site.connect.test_call
    assert placed["region"] == SECONDARY
    assert placed["params"]["ContactFlowId"] == test_call.contact_flow_id
    assert placed["params"]["DestinationPhoneNumber"] == test_call.destination_phone_number
    (contact,) = connect_double.world.contacts()
    assert ctx.state["contact_id"] == contact["Id"] and ctx.state["agent_id"] == contact["AgentInfo"]["Id"]
    assert ctx.state["answered_at"] and ctx.state["answer_seconds"] >= 0


def test_no_agent_available_fails_after_its_bound_saying_the_call_waits_in_the_queue(connect_site, connect_double,
                                                                                       clock):
    """No agent in the secondary Region: the step fails once answer_within_seconds have passed (fake clock),
    naming what it saw (queued, nobody answered); nothing is recorded as answered."""
    connect_double.world.set_agents(SECONDARY, 0)
    site = with_connect(connect_site, test_call={**connect_site.connect.test_call.model_dump(),
                                                 "answer_within_seconds": 30})
    ctx = make_step_context(TestCall, site, clock)
    with pytest.raises(StepTimeout, match="queued, no agent has answered"):
        TestCall().apply(ctx)
    assert ctx.state["answered_at"] is None and not TestCall().verify(ctx)
    assert clock.monotonic() <= 31


def test_an_agent_who_logs_in_late_answers_the_waiting_call(connect_site, connect_double, clock):
    """The call waits in the queue; 20 s (fake clock) later an agent becomes available: the call is answered
    then, and the step passes; the answer time is the double's, after the call was placed."""
    connect_double.world.set_agents(SECONDARY, 0)
    ticks = []
    real_sleep = clock.sleep

    def sleep(seconds):
        real_sleep(seconds)
        ticks.append(clock.monotonic())
        if clock.monotonic() >= 20 and not any(t >= 20 for t in ticks[:-1]):  # the agent logs in, once
            connect_double.world.set_agents(SECONDARY, 3)

    clock.sleep = sleep
    ctx = make_step_context(TestCall, connect_site, clock)
    assert run_step(TestCall(), ctx)
    assert any(t >= 20 for t in ticks)
    (contact,) = connect_double.world.contacts()
    assert contact["AgentInfo"]["ConnectedToAgentTimestamp"] > contact["InitiationTimestamp"]


def test_a_resumed_step_places_a_new_call_and_stops_the_one_nobody_answered(connect_site, connect_double, clock):
    """An attempt placed a call nobody answered (the process died); the resumed step stops that one, places
    a new call and records one answer; the first is kept as abandoned."""
    connect_double.world.set_agents(SECONDARY, 0)
    site = with_connect(connect_site, test_call={**connect_site.connect.test_call.model_dump(),
                                                 "answer_within_seconds": 5})
    ctx = make_step_context(TestCall, site, clock)
    with pytest.raises(StepTimeout):
        TestCall().apply(ctx)
    first = ctx.state["contact_id"]
    connect_double.world.set_agents(SECONDARY, 2)
    resumed = make_step_context(TestCall, site, clock, state=dict(ctx.state))
    assert run_step(TestCall(), resumed)
    assert resumed.state["contact_id"] != first and resumed.state["abandoned"] == [first]
    contacts = {c["Id"]: c for c in connect_double.world.contacts()}
    assert "DisconnectTimestamp" in contacts[first] and "AgentInfo" not in contacts[first]
    assert "AgentInfo" in contacts[resumed.state["contact_id"]]


def test_a_site_without_a_test_call_is_refused_by_the_step(connect_site, clock):
    """The kind needs connect.test_call (the default runbook leaves the step out on sites without it)."""
    site = with_connect(connect_site, test_call=None)
    with pytest.raises(FatalError, match=r"no connect\.test_call"):
        TestCall().apply(make_step_context(TestCall, site, clock))
