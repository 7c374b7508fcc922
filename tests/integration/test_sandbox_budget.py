"""The embedded site's failover budget: moto never frees a terminated seat's address, so the sandbox's subnets
are sized for hundreds of failovers and `failover_budget` computes what is left from moto's own counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from orchestrator.sandbox.stack import deploy, failover_budget, sandbox_config
from tests.stacks.conftest import APPLIANCE_KEY, HOST_KEY, SFTP_KEY

pytestmark = pytest.mark.integration

ENDPOINT = {"host": "127.0.0.1", "port": 2222, "username": "ccdr", "host_key": HOST_KEY}


def _config(**seats) -> dict:
    return sandbox_config(appliance={**ENDPOINT, "private_key": APPLIANCE_KEY},
                          sftp={**ENDPOINT, "private_key": SFTP_KEY, "path": "/exports"}, region="us-west-2",
                          **seats)


def _fail_over_and_back(site: dict, endpoint: str) -> None:
    """What a failover and its failback do to the seats group: scale to target, then back to warm."""
    autoscaling = boto3.client("autoscaling", endpoint_url=endpoint, region_name=site["region"])
    name = site["seats"]["asg_name"]
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=site["seats"]["target"])
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=site["seats"]["warm"])


def test_the_sandbox_takes_hundreds_of_failovers(aws_env):
    """The sandbox's stack (40 seats, two /17 subnets) has room for over 800 failovers; each takes one."""
    site = deploy(_config(target=40), aws_env)
    budget = failover_budget(site, aws_env)
    assert budget == (32768 - 5 - 1) // 38 == 862  # a /17 less moto's 5 and a warm seat; 38 new seats each
    _fail_over_and_back(site, aws_env)
    assert failover_budget(site, aws_env) == budget - 1


def test_the_budget_is_exactly_what_moto_allows(aws_env):
    """On small subnets the computed budget is measured: that many failovers work, the next one fails."""
    config = _config(target=12)
    config["network"]["subnet_cidrs"] = ["10.80.1.0/26", "10.80.2.0/26"]
    site = deploy(config, aws_env)
    budget = failover_budget(site, aws_env)
    assert budget == (64 - 5 - 1) // 10  # 59 free in a /26, less a warm seat; moto puts 10 new seats in one
    for _ in range(budget):
        _fail_over_and_back(site, aws_env)
    assert failover_budget(site, aws_env) == 0
    with pytest.raises(Exception):  # noqa: B017 (moto's HTML 500: out of addresses)
        _fail_over_and_back(site, aws_env)


def test_sandbox_up_says_how_many_failovers_it_can_take(tmp_path):
    """`orchestrator sandbox up` prints the budget computed from moto (10 seats: 8 addresses a failover)."""
    env = {**os.environ, "ORCHESTRATOR_SANDBOX_DIR": str(tmp_path / "sbx"), "ORCHESTRATOR_SANDBOX_MB": "1",
           "ORCHESTRATOR_SANDBOX_DAYS": "1", "ORCHESTRATOR_SANDBOX_FILES": "3", "ORCHESTRATOR_SANDBOX_SEATS": "10"}
    command = [sys.executable, "-m", "orchestrator", "sandbox"]
    try:
        up = subprocess.run([*command, "up"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
                            check=False)
        assert up.returncode == 0, up.stderr[-2000:]
        state = json.loads((tmp_path / "sbx" / "state.json").read_text())
        site = json.loads(Path(state["site_file"]).read_text())
        budget = failover_budget(site, state["moto"]["endpoint"])
    finally:
        subprocess.run([*command, "down"], env=env, cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert budget == (32768 - 5 - 1) // 8
    assert f"room for {budget} more failovers" in up.stdout
