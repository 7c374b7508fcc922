"""stacks/__main__.py, the CLI's entry point, run under mocks on the example stack files."""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
from pathlib import Path

import pulumi
import pytest
import yaml

from orchestrator.site import parse_site
from stacks.testing.mocks import PROJECT, PROJECT_DIR, run_under_mocks
from stacks.testing.policies import Deployment, check
from tests.stacks.conftest import APPLIANCE_KEY, PULUMI_AWS_DEPRECATIONS, SFTP_KEY, RecordingMocks

SECRETS = {f"{PROJECT}:appliancePrivateKey": APPLIANCE_KEY, f"{PROJECT}:sftpPrivateKey": SFTP_KEY}

pytestmark = PULUMI_AWS_DEPRECATIONS


def _run_main(stack_file: Path, extra: dict | None = None, monkeypatch=None) -> tuple[dict, RecordingMocks]:
    """Run __main__.py with the stack file's config (as the CLI would pass it) and collect its exports."""
    config = yaml.safe_load(stack_file.read_text())["config"] | (extra or {})
    as_strings = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    exported: dict = {}
    monkeypatch.setattr(pulumi, "export", lambda name, value: exported.__setitem__(name, value))
    pulumi.runtime.set_all_config({**as_strings, **SECRETS}, secret_keys=list(SECRETS))
    mocks = RecordingMocks()
    try:
        outputs = run_under_mocks(
            lambda: (runpy.run_path(str(PROJECT_DIR / "__main__.py")), exported)[1],
            mocks,
            stack=stack_file.stem,
        )
    finally:
        pulumi.runtime.set_all_config({}, secret_keys=[])
    return outputs, mocks


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_example_stack_exports_a_policy_clean_site_file(stack, monkeypatch):
    """Each example Pulumi.<stack>.yaml, run through __main__.py, exports a policy-clean site file."""
    stack_file = PROJECT_DIR / f"Pulumi.{stack}.yaml"
    outputs, mocks = _run_main(stack_file, monkeypatch=monkeypatch)
    site = parse_site(outputs)
    assert site.region == "us-west-2"
    primary = yaml.safe_load(stack_file.read_text())["config"][f"{PROJECT}:network"]["primary_cidrs"]
    dep = Deployment(mocks.resources, outputs, primary_cidrs=primary, secret_values=list(SECRETS.values()))
    assert check(dep) == []
    versions = mocks.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert len(versions) == 2


def test_plain_text_private_key_in_stack_config_is_refused(monkeypatch):
    """A private key put in plain stack config (not `--secret`) stops the program with the fix named."""
    stack_file = PROJECT_DIR / "Pulumi.dev.yaml"
    vpn = yaml.safe_load(stack_file.read_text())["config"][f"{PROJECT}:vpn"]
    vpn["appliance"]["private_key"] = APPLIANCE_KEY
    with pytest.raises(pulumi.RunError, match="config set --secret appliancePrivateKey"):
        _run_main(stack_file, {f"{PROJECT}:vpn": vpn}, monkeypatch=monkeypatch)


def test_run_pulumi_without_the_cli_says_what_to_install(tmp_path):
    """stacks/run-pulumi.sh exits 127 naming the Pulumi CLI when it is not on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "cat"):  # all the script needs before it looks for pulumi
        (bin_dir / tool).symlink_to(shutil.which(tool))
    result = subprocess.run(
        ["/bin/bash", str(PROJECT_DIR / "run-pulumi.sh"), "preview", "dev"],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 127
    assert "Pulumi CLI is not installed" in result.stderr
    assert "get.pulumi.com" in result.stderr


def test_run_pulumi_preview_and_up_pass_the_policy_pack(tmp_path):
    """With the Pulumi CLI on PATH, `make preview` / `make up` run it with `--policy-pack stacks/policy`."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    for action in ("preview", "up"):
        result = subprocess.run(["/bin/bash", str(PROJECT_DIR / "run-pulumi.sh"), action, "dev"],
                                env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
    lines = calls.read_text().splitlines()
    assert [line.split()[2] for line in lines] == ["preview", "up"]
    assert all(f"--policy-pack {PROJECT_DIR / 'policy'}" in line for line in lines)


def test_the_prod_example_is_an_amazon_connect_site(monkeypatch):
    """Pulumi.prod.yaml's `connect` block goes through __main__.py into the site file's connect key."""
    outputs, mocks = _run_main(PROJECT_DIR / "Pulumi.prod.yaml", monkeypatch=monkeypatch)
    connect = parse_site(outputs).connect
    assert connect is not None and connect.announcement is not None
    assert (connect.primary_region, connect.secondary_region, connect.min_agents_available) == (
        "us-east-1", "us-west-2", 5)
    assert connect.announcement.override_name == "dr-outage-announcement"
    assert connect.shift_guard is not None and (connect.shift_guard.contacts_in_queue,
                                                connect.shift_guard.oldest_contact_age_seconds) == (20, 60)
    assert "aws:connect/getInstance:getInstance" in [token for token, _ in mocks.calls]


def test_the_dev_example_has_no_connect(monkeypatch):
    """Without `connect` in the stack config (a SIP/DNS site) the site file has no connect key."""
    outputs, _ = _run_main(PROJECT_DIR / "Pulumi.dev.yaml", monkeypatch=monkeypatch)
    assert "connect" not in outputs and parse_site(outputs).connect is None


def test_the_optional_sections_go_through_main(monkeypatch):
    """`primary`, `watcher` (prod), `secondary` (dev) and `evidence` in stack config reach the program through
    __main__.py: the site file gets primary/secondary/evidence, the prod stack declares its watcher."""
    outputs, mocks = _run_main(PROJECT_DIR / "Pulumi.prod.yaml", monkeypatch=monkeypatch)
    site = parse_site(outputs)
    assert site.primary is not None and [p.name for p in site.primary.probes] == ["sbc", "agents", "primary-health"]
    assert [r.inputs["name"] for r in mocks.of_type("aws:autoscaling/group:Group")
            if r.inputs["name"].endswith("-watcher")] == ["cc-dr-west-watcher"]
    evidence = {"bucket": "cc-dr-dev-evidence-123456789012", "retention_days": 400}
    dev, _ = _run_main(PROJECT_DIR / "Pulumi.dev.yaml", {f"{PROJECT}:evidence": evidence}, monkeypatch=monkeypatch)
    assert parse_site(dev).secondary is not None and "primary" not in dev
    assert dev["evidence"] == evidence
