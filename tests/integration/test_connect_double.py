"""The Amazon Connect double over HTTP with a real boto3 client (botocore's retries off): what the real API
refuses is refused with its error code and HTTP status, the state is left as it was, faults are injected."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from orchestrator.sandbox.connect.world import group_arn
from tests.fixtures.connect import PRIMARY, SECONDARY, seed

pytestmark = pytest.mark.integration


def client(region: str):
    return boto3.client("connect", region_name=region, config=Config(retries={"total_max_attempts": 1}))


def shares(to: str, percent: int, rest: str, other: int | None = None) -> dict:
    return {"Distributions": [{"Region": to, "Percentage": percent},
                              {"Region": rest, "Percentage": 100 - percent if other is None else other}]}


def refused(call) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def test_update_in_steps_is_read_back_from_either_region(connect_double):
    """An update made in the Region taking the traffic is what GetTrafficDistribution answers in both Regions
    (by id at home, by ARN in the replica)."""
    arn = group_arn(seed())
    client(SECONDARY).update_traffic_distribution(Id=arn, TelephonyConfig=shares(SECONDARY, 30, PRIMARY),
                                                  AgentConfig=shares(SECONDARY, 20, PRIMARY))
    home = client(PRIMARY).get_traffic_distribution(Id=seed().traffic_distribution_group_id)
    replica = client(SECONDARY).get_traffic_distribution(Id=arn)
    for answer in (home, replica):
        assert {d["Region"]: d["Percentage"] for d in answer["TelephonyConfig"]["Distributions"]} == \
            {PRIMARY: 70, SECONDARY: 30}
        assert {d["Region"]: d["Percentage"] for d in answer["AgentConfig"]["Distributions"]} == \
            {PRIMARY: 80, SECONDARY: 20}


@pytest.mark.parametrize(("telephony", "expected"), [
    (shares(SECONDARY, 60, PRIMARY, other=50), "adds up to 110 %"),
    (shares(SECONDARY, 15, PRIMARY), "not in 10 % increments"),
    ({"Distributions": [{"Region": SECONDARY, "Percentage": 50}, {"Region": "eu-west-2", "Percentage": 50}]},
     "eu-west-2 is not a Region of the traffic distribution group"),
    ({"Distributions": [{"Region": SECONDARY, "Percentage": 100}]}, "must name both linked Regions"),
    (shares(PRIMARY, 100, SECONDARY), "must be invoked in a Region that takes traffic"),
])
def test_refused_updates_carry_the_real_code_and_change_nothing(connect_double, telephony, expected):
    """Not summing to 100, not in 10 % steps, an unknown Region, one Region only, or made in a Region left without
    traffic: InvalidRequestException, HTTP 400, and the distribution unchanged."""
    before = connect_double.world.snapshot()
    code, status, message = refused(lambda: client(SECONDARY).update_traffic_distribution(
        Id=group_arn(seed()), TelephonyConfig=telephony))
    assert (code, status) == ("InvalidRequestException", 400)
    assert expected in message
    assert connect_double.world.snapshot() == before


def test_replica_region_needs_the_arn_and_unknown_ids_are_not_found(connect_double):
    """A bare group id in the replica Region, an unknown group and an unknown hours of operation:
    ResourceNotFoundException, HTTP 404."""
    bare = seed().traffic_distribution_group_id
    assert refused(lambda: client(SECONDARY).get_traffic_distribution(Id=bare))[:2] == \
        ("ResourceNotFoundException", 404)
    assert refused(lambda: client(PRIMARY).describe_traffic_distribution_group(
        TrafficDistributionGroupId="00000000-0000-4000-8000-000000000000"))[:2] == ("ResourceNotFoundException", 404)
    assert refused(lambda: client(PRIMARY).describe_hours_of_operation(
        InstanceId=seed().instance_id, HoursOfOperationId="nope"))[:2] == ("ResourceNotFoundException", 404)


def test_sign_in_change_refused_on_a_group_that_is_not_the_default(monkeypatch):
    """SignInConfig may change only on the default group: InvalidRequestException otherwise."""
    from orchestrator.sandbox.connect.server import ConnectDouble

    not_default = seed()
    not_default.group_is_default = False
    with ConnectDouble(not_default) as double:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", double.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        code, _, message = refused(lambda: client(PRIMARY).update_traffic_distribution(
            Id=not_default.traffic_distribution_group_id, TelephonyConfig=shares(PRIMARY, 100, SECONDARY),
            SignInConfig={"Distributions": [{"Region": SECONDARY, "Enabled": False}]}))
    assert code == "InvalidRequestException" and "default traffic distribution group" in message


def test_throttle_fault_answers_throttling_exception_then_recovers(connect_double):
    """The next N calls of an operation answer ThrottlingException (HTTP 429); the one after succeeds."""
    connect_double.service.faults.throttle["GetTrafficDistribution"] = 2
    connect = client(PRIMARY)
    group = seed().traffic_distribution_group_id
    for _ in range(2):
        assert refused(lambda: connect.get_traffic_distribution(Id=group))[:2] == ("ThrottlingException", 429)
    assert connect.get_traffic_distribution(Id=group)["Id"] == group


def test_duplicate_override_name_is_refused(connect_double):
    """A second override with the same name on the same hours: DuplicateResourceException (409)."""
    s = seed()
    kwargs = dict(InstanceId=s.instance_id, HoursOfOperationId=s.hours_of_operation_id, Name="outage", Config=[],
                  EffectiveFrom="2026-11-29", EffectiveTill="2026-12-06", OverrideType="CLOSED")
    client(SECONDARY).create_hours_of_operation_override(**kwargs)
    assert refused(lambda: client(SECONDARY).create_hours_of_operation_override(**kwargs))[:2] == \
        ("DuplicateResourceException", 409)
    primary = client(PRIMARY).list_hours_of_operation_overrides(InstanceId=s.instance_id,
                                                                HoursOfOperationId=s.hours_of_operation_id)
    assert primary["HoursOfOperationOverrideList"] == []  # per Region: the primary has none


def test_a_request_outside_the_model_is_refused(connect_double):
    """A body member the service model does not have (a drifted or hand-made request) is refused, not guessed."""
    import json
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{connect_double.endpoint}/traffic-distribution/{seed().traffic_distribution_group_id}"
    body = json.dumps({"TelephonyConfig": shares(PRIMARY, 100, SECONDARY), "Weights": [1]}).encode()
    request = AWSRequest(method="PUT", url=url, data=body)
    SigV4Auth(Credentials("testing", "testing"), "connect", PRIMARY).add_auth(request)
    prepared = urllib.request.Request(url, data=body, method="PUT", headers=dict(request.headers))  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(prepared, timeout=5)  # noqa: S310
    assert caught.value.code == 400
    assert caught.value.headers["x-amzn-ErrorType"] == "InvalidRequestException"
    assert "Weights" in caught.value.read().decode()


def test_an_answer_outside_the_model_is_a_defect_not_a_reply(connect_double, monkeypatch):
    """A field the output shape does not have is never sent: the client gets InternalServiceException (500) and
    the double records the defect (the fixture fails any test that leaves one)."""
    real = connect_double.world.describe_prompt
    monkeypatch.setattr(connect_double.world, "describe_prompt",
                        lambda region, params: {**real(region, params), "Voice": "Joanna"})
    code, status, _ = refused(lambda: client(PRIMARY).describe_prompt(InstanceId=seed().instance_id,
                                                                       PromptId=seed().prompt_id))
    assert (code, status) == ("InternalServiceException", 500)
    assert connect_double.service.defects == ["DescribePrompt: AssertionError: DescribePrompt: ['Voice'] not in "
                                              "the model's DescribePromptResponse"]
    connect_double.service.defects.clear()


def test_control_endpoint_injects_faults_latency_and_agents_over_http(connect_double):
    """Over /_double/: throttle the next call, add latency, set agents, read calls and state, reset to the seed."""
    import time

    from orchestrator.sandbox.connect.server import DoubleControl

    control = DoubleControl(connect_double.endpoint)
    control.throttle("GetCurrentMetricData", 1)
    control.latency("GetCurrentMetricData", 0.3)
    control.set_agents(SECONDARY, 3)
    s = seed()

    def agents() -> float:
        answer = client(SECONDARY).get_current_metric_data(
            InstanceId=s.instance_id, Filters={"Queues": s.queue_ids},
            CurrentMetrics=[{"Name": "AGENTS_AVAILABLE", "Unit": "COUNT"}])
        return answer["MetricResults"][0]["Collections"][0]["Value"]

    assert refused(agents)[:2] == ("ThrottlingException", 429)
    started = time.monotonic()
    assert agents() == 3.0
    assert time.monotonic() - started >= 0.3
    assert control.calls() == {"GetCurrentMetricData": 1}
    control.reset()
    assert agents() == 12.0 and control.state()["telephony"] == {PRIMARY: 100, SECONDARY: 0}
