"""The watcher in the stack (contract 1.2, detection; issue 26 item 4): the site file's ``primary`` and
``secondary`` from the stack config, one instance in the private subnets running `orchestrator watch` under
systemd, its least-privilege role (read-only but for the topic, the page and its watch record; the
orchestrator's statements only with ``stage``). Under Pulumi mocks, checked by the policy pack too."""

from __future__ import annotations

import base64
import json

import pytest

from orchestrator.site import parse_site
from stacks.testing.policies import check
from stacks.warm_site.access import SiteArns, orchestrator_statements, watcher_policy
from stacks.warm_site.config import ConfigError, parse_config
from tests.stacks.conftest import APPLIANCE_KEY, PULUMI_AWS_DEPRECATIONS, SFTP_KEY, declare, deployment_of, good_config

pytestmark = PULUMI_AWS_DEPRECATIONS

PRIMARY = {"probes": [{"name": "sbc", "sip": "sbc.primary.example.net:5060", "transport": "udp"},
                      {"name": "agents", "http": "https://agents.primary.example.net/health"},
                      {"name": "health", "alarm": "cc-primary-route53-health"}],
           "down_after_seconds": 120}
WATCHER = {"interval_seconds": 20, "ami": "ami-0123456789abcdef0"}


def with_watcher(**watcher) -> dict:
    config = good_config()
    config["primary"] = json.loads(json.dumps(PRIMARY))
    config["secondary"] = {"probes": [{"name": "dr-sbc", "sip": "sbc.dr.example.net:5060"}]}
    config["watcher"] = {**WATCHER, **watcher}
    return config


def _watcher_policy(mocks) -> dict:
    [policy] = [json.loads(r.inputs["policy"]) for r in mocks.of_type("aws:iam/rolePolicy:RolePolicy")
                if r.inputs.get("name") == "cc-dr-test-watcher-scoped"]
    return policy


def _user_data(mocks) -> str:
    [template] = [r.inputs for r in mocks.of_type("aws:ec2/launchTemplate:LaunchTemplate")
                  if r.inputs["name"] == "cc-dr-test-watcher-lt"]
    assert template["metadataOptions"]["httpTokens"] == "required"
    return base64.b64decode(template["userData"]).decode()


def test_the_site_file_gets_primary_and_secondary_and_the_stack_passes_the_policy_pack():
    config = with_watcher()
    outputs, mocks = declare(config)
    site = parse_site(outputs)
    assert site.primary is not None and site.primary.down_after_seconds == 120
    assert [(p.name, p.kind) for p in site.primary.probes] == [("sbc", "sip"), ("agents", "http"),
                                                                ("health", "alarm")]
    assert site.secondary is not None and [p.target for p in site.secondary.probes] == ["sbc.dr.example.net:5060"]
    assert check(deployment_of(config, outputs, mocks.resources)) == []
    without, bare = declare(good_config())
    assert "primary" not in without and "secondary" not in without
    assert not [r for r in bare.of_type("aws:autoscaling/group:Group") if "watcher" in r.inputs["name"]]


def test_one_instance_in_the_private_subnets_runs_the_watch_loop_under_systemd():
    """A group of exactly one (replaced when it fails); the user data writes the site file (no secret in it)
    and a unit that runs `watch --interval N` and restarts it; `--stage` only when asked."""
    _, mocks = declare(with_watcher())
    [group] = [r.inputs for r in mocks.of_type("aws:autoscaling/group:Group")
               if r.inputs["name"] == "cc-dr-test-watcher"]
    assert (group["minSize"], group["maxSize"], group["desiredCapacity"]) == (1, 1, 1)
    assert len(group["vpcZoneIdentifiers"]) == 2
    script = _user_data(mocks)
    assert "ExecStart=/usr/bin/env orchestrator watch --site /etc/cc-dr/site.json --interval 20 --log-format json" \
        in script
    assert "Restart=always" in script and "systemctl enable --now cc-dr-watch.service" in script
    assert "--stage" not in script and '"probes"' in script
    assert APPLIANCE_KEY not in script and SFTP_KEY not in script
    site_json = script.split("<<'SITE'\n", 1)[1].split("\nSITE", 1)[0]
    assert parse_site(json.loads(site_json)).primary is not None  # the instance's site file parses
    [sg] = [r.inputs for r in mocks.of_type("aws:ec2/securityGroup:SecurityGroup") if r.name == "cc-dr-test-watcher-sg"]
    assert sg["ingress"] == []
    _, staged = declare(with_watcher(stage=True))
    assert "--interval 20 --stage --log-format json" in _user_data(staged)


def test_the_watchers_role_reads_and_tells_and_may_not_fail_over():
    """Without stage: publish to the topic, describe the one alarm its probes name, the page's object, the watch
    record in the team table (get, query, conditional put); no DNS, seats, restore, keys, no delete."""
    _, mocks = declare(with_watcher())
    policy = _watcher_policy(mocks)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert set(by_sid) == {"Notify", "WatchAlarms", "StatusPage", "TeamState"}
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {"sns:Publish", "cloudwatch:DescribeAlarms", "s3:PutObject", "s3:GetObject",
                       "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"}
    assert by_sid["WatchAlarms"]["Resource"] == \
        "arn:aws:cloudwatch:us-west-2:123456789012:alarm:cc-primary-route53-health"
    assert by_sid["StatusPage"]["Resource"].endswith("cc-dr-test-status/status/index.html")
    assert all(s["Resource"] != "*" for s in policy["Statement"])
    [trust] = [json.loads(r.inputs["assumeRolePolicy"]) for r in mocks.of_type("aws:iam/role:Role")
               if r.inputs["name"] == "cc-dr-test-watcher"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_a_staging_watcher_holds_the_orchestrators_statements_and_its_alarm_reads():
    _, mocks = declare(with_watcher(stage=True))
    policy = _watcher_policy(mocks)
    [orchestrator] = [json.loads(r.inputs["policy"]) for r in mocks.of_type("aws:iam/rolePolicy:RolePolicy")
                      if r.inputs.get("name") == "cc-dr-test-orchestrator-scoped"]
    assert policy["Statement"][:-1] == orchestrator["Statement"]
    assert policy["Statement"][-1]["Sid"] == "WatchAlarms"


def test_watcher_policy_without_alarms_reads_no_alarm():
    arns = SiteArns(zone_id="Z1", group_arn="arn:aws:autoscaling:us-west-2:1:g", bucket_arn="arn:aws:s3:::b",
                    prefix="restored/", topic_arn="arn:aws:sns:us-west-2:123456789012:t", secret_arns=("s1", "s2"))
    assert [s["Sid"] for s in watcher_policy(arns)["Statement"]] == ["Notify"]
    assert len(watcher_policy(arns, stage=True)["Statement"]) == len(orchestrator_statements(arns))


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.pop("state"), "watcher: needs state.table"),
    (lambda c: c.pop("primary"), "watcher: needs primary.probes"),
    (lambda c: c["primary"]["probes"][0].update(tranport="tcp"),
     "primary: Value error, probes.0: unknown key 'tranport'"),
    (lambda c: c["primary"].update(down_after=60), "primary: Value error, unknown key 'down_after'"),
    (lambda c: c["watcher"].update(interval_seconds=5), "watcher.interval_seconds"),
    (lambda c: c["primary"]["probes"].append({"name": "sbc", "tcp": "10.0.0.1:5060"}), "sbc"),
])
def test_a_bad_detection_config_names_the_key(change, message):
    config = with_watcher()
    change(config)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_config(config)


def test_the_user_data_is_valid_bash_and_the_unit_passes_systemd_analyze(tmp_path):
    """What the instance runs at boot: `bash -n` accepts the user data; `systemd-analyze verify` (Debian's
    systemd) finds no unknown key or bad value in the unit, with or without --stage."""
    import shutil
    import subprocess

    from stacks.warm_site.watcher import UNIT, systemd_unit, user_data

    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze (Debian's systemd) is not installed: make system-deps installs it")
    for stage in (False, True):
        script = user_data(json.dumps({"site": "cc-dr-test"}), 30, stage)
        checked = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        unit = tmp_path / UNIT
        unit.write_text(systemd_unit(30, stage))
        assert f"cat > /etc/systemd/system/{UNIT} <<'UNIT'\n{unit.read_text()}UNIT" in script
        verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                                  timeout=60)
        assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr
    unit.write_text(systemd_unit(30, False).replace("Restart=always", "Restart=sometimes"))
    wrong = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert "restart specifier" in wrong.stderr  # the check can fail
