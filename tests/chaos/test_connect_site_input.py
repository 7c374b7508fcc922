"""Blank Amazon Connect keys in a site file, typed as a user would (issue 23, item 14): the console script
refuses them with exit 2 naming the file and the key, before anything is sent to AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SITE

pytestmark = pytest.mark.chaos

ORCHESTRATOR = Path(sys.executable).with_name("orchestrator")
CONNECT = {
    "instance_id": "0f4a7c1e-5b2d-4c8e-9a3f-1d2e3f4a5b6c",
    "instance_arn": "arn:aws:connect:us-east-1:123456789012:instance/0f4a7c1e-5b2d-4c8e-9a3f-1d2e3f4a5b6c",
    "traffic_distribution_group_id": "7c2b9e4d-1a3f-4b5c-8d6e-9f0a1b2c3d4e",
    "primary_region": "us-east-1", "secondary_region": "us-west-2",
    "announcement": {"hours_of_operation_id": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"},
}


@pytest.mark.parametrize(("key", "edit"), [
    ("connect.instance_id", {"instance_id": " "}),
    ("connect.traffic_distribution_group_id", {"traffic_distribution_group_id": "\t"}),
    ("connect.announcement.hours_of_operation_id", {"announcement": {"hours_of_operation_id": "  "}}),
])
@pytest.mark.parametrize("command", [["failover", "--dry-run"], ["readiness"], ["failback", "--dry-run"]])
def test_a_blank_connect_key_exits_2_naming_the_file_and_key(tmp_path, key, edit, command):
    site = tmp_path / "site.json"
    site.write_text(json.dumps({**json.loads(SITE.read_text()), "connect": {**CONNECT, **edit}}))
    done = subprocess.run([str(ORCHESTRATOR), *command[:1], "--site", str(site), *command[1:]], cwd=tmp_path,
                          env={**os.environ, "ORCHESTRATOR_STATE_DIR": str(tmp_path / "state")},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-1500:]
    assert f"{site}:{key}: cannot be blank" in done.stderr, done.stderr[-1500:]
    assert "Traceback" not in done.stderr
