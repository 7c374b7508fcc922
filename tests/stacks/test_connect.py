"""The optional Amazon Connect pieces of the stack (issue 16): declared or looked up under Pulumi mocks,
written to the site file's `connect` key (validated by the orchestrator's own model), policy rules for
them, and the roles' Connect permissions."""

from __future__ import annotations

import copy
import json

import pytest

from orchestrator.site import Connect, ConnectAnnouncement, parse_site
from stacks.testing.policies import check
from stacks.warm_site import config as config_module
from stacks.warm_site.access import ConnectArns
from tests.stacks.conftest import (
    CREATED_INSTANCE_ID,
    DECLARED_HOURS_ID,
    EXISTING_HOURS_ID,
    EXISTING_INSTANCE_ID,
    LOOKED_UP_PROMPT_ID,
    PULUMI_AWS_DEPRECATIONS,
    TDG_ID,
    connect_config,
    declare,
    deployment_of,
    good_config,
)

pytestmark = PULUMI_AWS_DEPRECATIONS

INSTANCE = "aws:connect/instance:Instance"
HOURS = "aws:connect/hoursOfOperation:HoursOfOperation"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
CONNECT_POLICIES = ["connect-flow-logs", "connect-regions", "connect-agent-gate", "connect-hours"]
CREATED = {
    "instance": {"alias": "cc-dr-test"},
    "instance_id": None,
    "announcement": {
        "hours_of_operation": {
            "name": "cc-dr-test outage announcement base", "time_zone": "America/New_York",
            "open": [{"day": "MONDAY", "start": "08:00", "end": "18:00"},
                     {"day": "SATURDAY", "start": "09:30", "end": "13:00"}],
        },
        "prompt_id": "pppppppp-0000-0000-0000-0000000000aa",
    },
}


def _config(**connect_changes) -> dict:
    config = good_config()
    config["connect"] = {k: v for k, v in connect_config(**connect_changes).items() if v is not None}
    return config


@pytest.fixture(scope="module")
def existing():
    """The good config with an existing Connect instance (declared once for the module)."""
    config = _config()
    outputs, mocks = declare(config)
    return config, outputs, mocks


@pytest.fixture(scope="module")
def created():
    """The good config with a Connect instance and hours of operation the stack creates."""
    config = _config(**copy.deepcopy(CREATED))
    outputs, mocks = declare(config)
    return config, outputs, mocks


def _policy(mocks, purpose: str) -> dict:
    (found,) = [r.inputs for r in mocks.resources if r.type == ROLE_POLICY and purpose in r.name]
    return json.loads(found["policy"])


def _connect_grants(policy: dict) -> dict[str, list[str]]:
    """action -> resources, for the Connect actions of a policy document."""
    grants: dict[str, list[str]] = {}
    for statement in policy["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in statement["Action"]:
            if action.startswith("connect:"):
                grants[action] = sorted(resources)
    return grants


# -- without Connect ----------------------------------------------------------------------------------------


def test_without_connect_config_nothing_is_created_and_no_key_is_written():
    """No `connect` in the stack config: no Connect resource, no lookup, no `connect` key, no permission."""
    outputs, mocks = declare(good_config())
    assert "connect" not in outputs
    assert not [r for r in mocks.resources if r.type.startswith(("aws:connect", "cc-dr:site:Connect"))]
    assert mocks.calls == []
    assert _connect_grants(_policy(mocks, "orchestrator")) == {} == _connect_grants(_policy(mocks, "readiness"))


# -- the site file's connect key ----------------------------------------------------------------------------


def test_an_existing_instance_is_looked_up_and_written_to_the_site_file(existing):
    """With an existing instance id the stack looks up the instance, the announcement's hours and the prompt
    by name in the primary Region (nothing created) and writes every field of the site file's Connect model."""
    _, outputs, mocks = existing
    assert not [r for r in mocks.resources if r.type.startswith("aws:connect")]
    assert [(token.split(":")[-1], args["region"]) for token, args in mocks.calls] == [
        ("getInstance", "us-east-1"), ("getHoursOfOperation", "us-east-1"), ("getPrompt", "us-east-1")]
    connect = outputs["connect"]
    assert set(connect) == set(Connect.model_fields)
    assert set(connect["announcement"]) == set(ConnectAnnouncement.model_fields)
    site = parse_site(outputs).connect
    assert site is not None and site.announcement is not None
    assert (site.instance_id, site.traffic_distribution_group_id) == (EXISTING_INSTANCE_ID, TDG_ID)
    assert site.instance_arn == f"arn:aws:connect:us-east-1:123456789012:instance/{EXISTING_INSTANCE_ID}"
    assert (site.primary_region, site.secondary_region) == ("us-east-1", "us-west-2")
    assert (site.announcement.hours_of_operation_id, site.announcement.prompt_id) == (
        EXISTING_HOURS_ID, LOOKED_UP_PROMPT_ID)
    assert site.announcement.override_name == "dr-outage-announcement"
    assert (site.min_agents_available, site.queue_ids) == (5, ["qqqqqqqq-0000-0000-0000-000000000001"])


def test_a_created_instance_and_hours_of_operation_are_declared_in_the_primary_region(created):
    """`instance` and `hours_of_operation` in config create them (flow logs on, tagged) in the primary Region;
    the hours' periods become the provider's hours/minutes, and the site file names the created ids."""
    _, outputs, mocks = created
    (instance,) = mocks.of_type(INSTANCE)
    assert instance.inputs["region"] == "us-east-1" and instance.inputs["contactFlowLogsEnabled"] is True
    assert instance.inputs["instanceAlias"] == "cc-dr-test" and instance.inputs["tags"]["site"] == "cc-dr-test"
    (hours,) = mocks.of_type(HOURS)
    assert (hours.inputs["instanceId"], hours.inputs["region"]) == (CREATED_INSTANCE_ID, "us-east-1")
    assert hours.inputs["configs"][1] == {"day": "SATURDAY", "startTime": {"hours": 9, "minutes": 30},
                                          "endTime": {"hours": 13, "minutes": 0}}
    site = parse_site(outputs).connect
    assert site is not None and site.announcement is not None
    assert (site.instance_id, site.announcement.hours_of_operation_id) == (CREATED_INSTANCE_ID, DECLARED_HOURS_ID)
    assert site.announcement.prompt_id == "pppppppp-0000-0000-0000-0000000000aa" and mocks.calls == []


def test_without_an_announcement_the_key_is_null_and_nothing_is_looked_up():
    """No announcement in config: `connect.announcement` is null, no hours or prompt lookup."""
    outputs, mocks = declare(_config(announcement=None))
    assert outputs["connect"]["announcement"] is None
    assert [token.split(":")[-1] for token, _ in mocks.calls] == ["getInstance"]
    assert parse_site(outputs).connect is not None


@pytest.mark.parametrize(("change", "expected"), [
    ({"instance": {"alias": "x"}}, "exactly one of instance_id"),
    ({"instance_id": None}, "exactly one of instance_id"),
    ({"announcement": {"text": "hello"}}, "exactly one of hours_of_operation_id"),
    ({"announcement": {"hours_of_operation_id": "h", "prompt_id": "p", "prompt_name": "n"}}, "at most one"),
    ({"min_agents_available": -1}, r"connect\.min_agents_available"),
    ({"queue": ["q"]}, r"connect\.queue"),
])
def test_bad_connect_config_is_refused_naming_the_key(change, expected):
    """A malformed `connect` block fails before anything is declared, naming the key."""
    config = good_config()
    config["connect"] = {k: v for k, v in (connect_config() | change).items() if v is not None}
    with pytest.raises(config_module.ConfigError, match=expected):
        config_module.parse_config(config)


# -- IAM ----------------------------------------------------------------------------------------------------


def _arns(region_resource: str) -> list[str]:
    return sorted(f"arn:aws:connect:{r}:123456789012:{region_resource}" for r in ("us-east-1", "us-west-2"))


def test_the_orchestrator_role_gets_exactly_the_connect_actions_scoped_to_their_arns(existing):
    """The orchestrator role: the nine Connect actions, each on what IAM scopes it to: the traffic distribution
    group's one ARN (the instance's Region), the instance and hours, prompt, queues in both Regions; never "*"."""
    _, _, mocks = existing
    instance = f"instance/{EXISTING_INSTANCE_ID}"
    tdg = [f"arn:aws:connect:us-east-1:123456789012:traffic-distribution-group/{TDG_ID}"]
    hours = _arns(f"{instance}/operating-hours/{EXISTING_HOURS_ID}")
    overrides = sorted([*_arns(instance), *hours])
    assert _connect_grants(_policy(mocks, "orchestrator")) == {
        "connect:DescribeTrafficDistributionGroup": tdg,
        "connect:GetTrafficDistribution": tdg,
        "connect:UpdateTrafficDistribution": tdg,
        "connect:CreateHoursOfOperationOverride": overrides,
        "connect:ListHoursOfOperationOverrides": overrides,
        "connect:DeleteHoursOfOperationOverride": overrides,
        "connect:DescribeHoursOfOperation": hours,
        "connect:DescribePrompt": _arns(f"{instance}/prompt/{LOOKED_UP_PROMPT_ID}"),
        "connect:GetCurrentMetricData": _arns(f"{instance}/queue/qqqqqqqq-0000-0000-0000-000000000001"),
    }


def test_the_readiness_role_gets_only_the_connect_reads(existing):
    """The readiness role: the same resources, only what readiness reads (no Update, Create or Delete; the
    overrides' list, to warn before the announcement lapses)."""
    _, _, mocks = existing
    orchestrator = _connect_grants(_policy(mocks, "orchestrator"))
    readiness = _connect_grants(_policy(mocks, "readiness"))
    writes = {"connect:UpdateTrafficDistribution", "connect:CreateHoursOfOperationOverride",
              "connect:DeleteHoursOfOperationOverride"}
    assert readiness == {action: resources for action, resources in orchestrator.items() if action not in writes}


def test_connect_permissions_follow_what_the_site_uses():
    """No announcement: no hours or prompt action; no agent minimum: no metrics action (only the shift)."""
    _, mocks = declare(_config(announcement=None, min_agents_available=0))
    assert sorted(_connect_grants(_policy(mocks, "orchestrator"))) == [
        "connect:DescribeTrafficDistributionGroup", "connect:GetTrafficDistribution",
        "connect:UpdateTrafficDistribution"]


def test_connect_arns_come_from_the_instance_arn():
    """Partition, account, instance id and the group's home Region are read from the instance's ARN
    (GovCloud included); a group given as an ARN is used as it is."""
    arns = ConnectArns.of("arn:aws-us-gov:connect:us-gov-west-1:210987654321:instance/abc", regions=(
        "us-gov-west-1", "us-gov-east-1"), traffic_distribution_group_id="t")
    assert arns.instance_arns == ["arn:aws-us-gov:connect:us-gov-west-1:210987654321:instance/abc",
                                  "arn:aws-us-gov:connect:us-gov-east-1:210987654321:instance/abc"]
    assert arns.traffic_distribution_group_arns == [
        "arn:aws-us-gov:connect:us-gov-west-1:210987654321:traffic-distribution-group/t"]
    given = "arn:aws:connect:us-east-1:1:traffic-distribution-group/t"
    assert ConnectArns.of("arn:aws:connect:us-east-1:1:instance/i", regions=("us-east-1",),
                          traffic_distribution_group_id=given).traffic_distribution_group_arns == [given]


# -- policy rules -------------------------------------------------------------------------------------------


def test_connect_sites_pass_every_policy(existing, created):
    """Both Connect configs (existing instance, created instance and hours) pass the whole pack."""
    for config, outputs, mocks in (existing, created):
        assert check(deployment_of(config, outputs, mocks.resources)) == []


def _violations(config: dict, outputs: dict, resources, policy: str) -> list[str]:
    return [v.message for v in check(deployment_of(config, outputs, resources), only=[policy])]


def test_connect_flow_logs_rule_fails_an_instance_without_flow_logs():
    """connect-flow-logs: a created instance with contact flow logs off is a violation."""
    config = _config(**copy.deepcopy(CREATED))
    config["connect"]["instance"]["contact_flow_logs"] = False
    outputs, mocks = declare(config)
    assert _violations(config, outputs, mocks.resources, "connect-flow-logs") == [
        "cc-dr-test-connect-instance: contactFlowLogsEnabled is not true"]


def test_connect_regions_rule_fails_when_traffic_goes_away_from_the_warm_site(existing):
    """connect-regions: a secondary Region other than the warm site's region is a violation (and the same
    Region twice, which the site-file model also refuses)."""
    config, outputs, mocks = existing
    moved = copy.deepcopy(outputs)
    moved["connect"]["secondary_region"] = "eu-west-2"
    assert _violations(config, moved, mocks.resources, "connect-regions") == [
        "connect: secondary_region 'eu-west-2' is not the warm site's region 'us-west-2'"]
    moved["connect"]["primary_region"] = "us-west-2"
    moved["connect"]["secondary_region"] = "us-west-2"
    assert _violations(config, moved, mocks.resources, "connect-regions") == [
        "connect: primary_region and secondary_region are both 'us-west-2'"]


def test_connect_agent_gate_rule_fails_a_minimum_without_queues():
    """connect-agent-gate: agents required but no queue named to count them is a violation."""
    config = _config(queue_ids=[])
    outputs, mocks = declare(config)
    assert _violations(config, outputs, mocks.resources, "connect-agent-gate") == [
        "connect: min_agents_available is 5 but queue_ids is empty"]


def test_connect_hours_rule_fails_hours_never_open_or_on_another_instance(created):
    """connect-hours: declared hours with no opening, a bad time, or on another instance are violations."""
    config, outputs, mocks = created
    resources = []
    for r in mocks.resources:
        if r.type == HOURS:
            inputs = dict(r.inputs) | {"instanceId": "someone-elses", "configs": []}
            r = r._replace(inputs=inputs)
        resources.append(r)
    assert _violations(config, outputs, resources, "connect-hours") == [
        f"cc-dr-test-connect-hours: on instance 'someone-elses', not the site's {CREATED_INSTANCE_ID!r}",
        "cc-dr-test-connect-hours: never open (no configs): the flow would always announce"]
    bad_time = [r._replace(inputs=dict(r.inputs) | {"configs": [{"day": "MONDAY", "startTime": {"hours": 24,
                "minutes": 0}, "endTime": {"hours": 18, "minutes": 0}}]}) if r.type == HOURS else r
                for r in mocks.resources]
    assert _violations(config, outputs, bad_time, "connect-hours") == [
        "cc-dr-test-connect-hours: MONDAY: startTime {'hours': 24, 'minutes': 0} is not a time of day"]


def test_connect_rules_are_in_the_pack():
    """The four Connect rules are part of the pack `pulumi preview --policy-pack stacks/policy` runs."""
    from stacks.policy.rules import POLICIES

    assert set(CONNECT_POLICIES) <= {p.name for p in POLICIES}


def test_a_lookup_that_finds_nothing_fails_the_deployment():
    """An existing instance id AWS does not know fails the program (here: the lookup answers an error, as the
    provider does for a wrong id), so no site file names an instance that is not there."""
    from stacks.testing.mocks import run_under_mocks
    from stacks.warm_site import program as program_module
    from tests.stacks.conftest import RecordingMocks

    class NoSuchInstance(RecordingMocks):
        def call(self, args):
            if args.token == "aws:connect/getInstance:getInstance":
                raise LookupError(f"no Connect instance {args.args['instanceId']}")
            return super().call(args)

    cfg = config_module.parse_config(_config())
    with pytest.raises(Exception, match="no Connect instance 11111111"):
        run_under_mocks(lambda: program_module.build_site(cfg), NoSuchInstance(), stack=cfg.site)


TEST_CALL = {"contact_flow_id": "ffffffff-0000-0000-0000-0000000000c1",
             "queue_id": "qqqqqqqq-0000-0000-0000-0000000000c1", "destination_phone_number": "+15550100199"}
TEST_CALL_ACTIONS = ("connect:StartOutboundVoiceContact", "connect:DescribeContact", "connect:StopContact")


def test_a_test_call_grants_the_orchestrator_its_three_contact_actions_and_readiness_none():
    """With ``connect.test_call`` the orchestrator role may place, follow and hang up the test call, on the
    instance's contacts in both Regions (a contact's id exists only once placed) and nothing wider; readiness
    gets none of it; the site file carries the test call."""
    outputs, mocks = declare(_config(test_call=dict(TEST_CALL)))
    contacts = _arns(f"instance/{EXISTING_INSTANCE_ID}/contact/*")
    grants = _connect_grants(_policy(mocks, "orchestrator"))
    assert {action: grants[action] for action in TEST_CALL_ACTIONS} == dict.fromkeys(TEST_CALL_ACTIONS, contacts)
    assert not set(TEST_CALL_ACTIONS) & set(_connect_grants(_policy(mocks, "readiness")))
    assert outputs["connect"]["test_call"]["contact_flow_id"] == TEST_CALL["contact_flow_id"]


def test_without_a_test_call_no_contact_action_is_granted(existing):
    """No ``connect.test_call``: the role cannot place a call."""
    _, _, mocks = existing
    assert not set(TEST_CALL_ACTIONS) & set(_connect_grants(_policy(mocks, "orchestrator")))


SHIFT_GUARD = {"contacts_in_queue": 20, "oldest_contact_age_seconds": 60, "hold_limit_seconds": 300}


def test_queue_thresholds_reach_the_site_file_and_grant_the_queue_metrics():
    """With ``connect.shift_guard`` and no agent minimum, the site file carries the thresholds (and loads) and
    both roles may read the queues' metrics (each shift step reads their load), scoped to the site's queues."""
    from orchestrator.site import parse_site

    outputs, mocks = declare(_config(min_agents_available=0, shift_guard=dict(SHIFT_GUARD)))
    assert outputs["connect"]["shift_guard"] == SHIFT_GUARD
    assert parse_site(outputs).connect.shift_guard.contacts_in_queue == 20
    queues = _arns(f"instance/{EXISTING_INSTANCE_ID}/queue/qqqqqqqq-0000-0000-0000-000000000001")
    for role in ("orchestrator", "readiness"):
        assert _connect_grants(_policy(mocks, role))["connect:GetCurrentMetricData"] == queues


def test_connect_agent_gate_rule_fails_thresholds_without_queues():
    """connect-agent-gate: queue thresholds with no queue named to watch are a violation."""
    config = _config(min_agents_available=0, queue_ids=[], shift_guard=dict(SHIFT_GUARD))
    outputs, mocks = declare(config)
    assert _violations(config, outputs, mocks.resources, "connect-agent-gate") == [
        "connect: shift_guard watches queues but queue_ids is empty"]
