"""Intruders and contention through the real CLI against the embedded site: an unknown or changed SSH host
key (appliance or SFTP provider) is refused, clearly and without a retry storm; planted secrets appear in
no log line, report, journal row, audit line or error; the deployed site passes the stack policies read
back from moto; two failovers at once: exactly one runs, the other exits 3."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.sandbox import sshd
from stacks.testing.policies import Deployment, check
from tests.chaos.support import audit_events, back_to_warm, fast_runbook, trials
from tests.e2e_helpers import aws_state, cli
from tests.helpers import REPO

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

CANARY_AWS_SECRET = "CanaryAwsSecretKey-7f3e9c1d-DO-NOT-LOG"


def site_with(site, tmp_path: Path, section: str, **changes) -> Path:
    """A copy of the site file with ``changes`` in the appliance ("appliance") or SFTP ("sftp") section."""
    data = site.site
    target = data["vpn"]["appliance"] if section == "appliance" else data["backup"]["sftp"]
    target.update(changes)
    path = tmp_path / f"site-{section}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("section", ["appliance", "sftp"])
def test_changed_host_key_is_refused_through_a_full_failover(chaos_site, warm_group, tmp_path, section):
    """A server presenting another host key than the pinned one: the failover exits 1 naming the host key
    problem, tries it once per check (no retry storm) and changes nothing."""
    back_to_warm(chaos_site, warm_group)
    before = aws_state(chaos_site)
    intruder = sshd.generate_keypair("intruder").public_line
    site_file = site_with(chaos_site, tmp_path, section, host_key=intruder)
    result = cli(chaos_site, tmp_path / "state", "failover", "--site", str(site_file), "--yes",
                 "--runbook", str(fast_runbook(tmp_path)), timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "host key" in result.stderr.lower() and "Traceback" not in result.stderr
    events = audit_events(tmp_path / "state")
    host_key_retries = [e for e in events if e.get("event") == "retry" and "host key" in str(e.get("error")).lower()]
    assert host_key_retries == []
    assert sum(1 for e in events if e.get("event") == "attempt_failed") <= 2
    assert aws_state(chaos_site) == before


def secret_values(site) -> list[str]:
    """The SSH private keys the site's secrets hold (whole and line by line) and the planted AWS secret."""
    manager = site.client("secretsmanager")
    names = {site.site["vpn"]["appliance"]["private_key_secret"], site.site["backup"]["sftp"]["private_key_secret"]}
    keys = [manager.get_secret_value(SecretId=name)["SecretString"] for name in names]
    lines = [line for key in keys for line in key.splitlines() if len(line) >= 24 and "-----" not in line]
    return [*keys, *lines, CANARY_AWS_SECRET]


def leaks(text: str, secrets: list[str]) -> list[str]:
    return [secret[:12] + "..." for secret in secrets if secret in text]


def everything_written(state_dir: Path) -> str:
    """Every text the runs left behind: report files, audit logs, and a full SQL dump of the journal."""
    parts = [p.read_bytes().decode("utf-8", "replace") for p in state_dir.rglob("*")
             if p.is_file() and p.suffix in (".json", ".jsonl", ".md", ".xml", ".png", ".txt")]
    with sqlite3.connect(state_dir / "journal.sqlite") as db:
        parts += list(db.iterdump())
    return "\n".join(parts)


def test_secrets_never_appear_in_logs_reports_journal_or_errors(chaos_site, warm_group, tmp_path):
    """With debug JSON logs, a successful failover and a failing one (a refused host key, so an error
    text is produced): no private key (nor any line of it) and no AWS secret key appear in stderr, stdout,
    reports, audit logs or the journal dump."""
    secrets = secret_values(chaos_site)
    state = tmp_path / "state"
    runs = []
    back_to_warm(chaos_site, warm_group)
    canary = {**chaos_site.env, "AWS_SECRET_ACCESS_KEY": CANARY_AWS_SECRET}
    good = type("Env", (), {"env": canary})()
    runs.append(cli(good, state, "failover", "--site", str(chaos_site.site_file), "--yes", "--log-level", "debug",
                    "--log-format", "json", "--runbook", str(fast_runbook(tmp_path))))
    assert runs[0].returncode == 0, runs[0].stderr[-2000:]
    back_to_warm(chaos_site, warm_group)
    bad_site = site_with(chaos_site, tmp_path, "sftp", host_key=sshd.generate_keypair().public_line)
    runs.append(cli(good, state, "failover", "--site", str(bad_site), "--yes", "--log-level", "debug",
                    "--log-format", "json"))
    assert runs[1].returncode == 1
    assert len(runs[0].stderr.splitlines()) > 50  # debug logging was really on
    for result in runs:
        assert leaks(result.stderr + result.stdout, secrets) == []
    assert leaks(everything_written(state), secrets) == []


def live_deployment(site) -> Deployment:
    """The deployed site read back from moto as policy input (resources as their inputs would declare)."""
    s3, ec2 = site.client("s3"), site.client("ec2")
    bucket = site.site["backup"]["bucket"]
    resources = [("aws:s3/bucket:Bucket", bucket, {"bucket": bucket})]
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    resources.append(("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                      f"{bucket}-sse", {"bucket": bucket, "rules": [
                          {"applyServerSideEncryptionByDefault": {"sseAlgorithm": r[
                              "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]}} for r in rules]}))
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    resources.append(("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{bucket}-pab",
                      {"bucket": bucket, **{k[0].lower() + k[1:]: v for k, v in block.items()}}))
    for group in ec2.describe_security_groups()["SecurityGroups"]:
        ingress = [{"protocol": p.get("IpProtocol"), "fromPort": p.get("FromPort"), "toPort": p.get("ToPort"),
                    "cidrBlocks": [r["CidrIp"] for r in p.get("IpRanges", [])],
                    "ipv6CidrBlocks": [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]}
                   for p in group.get("IpPermissions", [])]
        resources.append(("aws:ec2/securityGroup:SecurityGroup", group["GroupId"], {"ingress": ingress}))
    return Deployment.of(resources, site.site, secret_values=secret_values(site))


def test_deployed_site_passes_the_policies_read_back_from_moto(chaos_site):
    """Read back from moto: the restore bucket is encrypted and blocks public access on all four settings, no
    security group admits 0.0.0.0/0 or ::/0, the outputs are a valid site file holding no secret; the stack
    defines no IAM role (nothing to check for least privilege), which moto confirms."""
    dep = live_deployment(chaos_site)
    bucket = chaos_site.site["backup"]["bucket"]
    block = chaos_site.client("s3").get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    for resource in dep.of_type("aws:ec2/securityGroup:SecurityGroup"):
        for rule in resource.inputs["ingress"]:
            assert "0.0.0.0/0" not in rule["cidrBlocks"] and "::/0" not in rule["ipv6CidrBlocks"]
    assert check(dep, only=["encryption", "public-access", "ingress", "site-file", "secrets"]) == []
    assert chaos_site.client("iam").list_roles()["Roles"] == []


def test_two_failovers_at_once_exactly_one_runs(chaos_site, warm_group, tmp_path, request):
    """Two `orchestrator failover` started together on one site and state dir: one succeeds, the other exits
    3 naming the holder; AWS ends as after one failover."""
    for number in range(trials(request.config, fast=1, full=5)):
        back_to_warm(chaos_site, warm_group)
        state, book = tmp_path / f"state{number}", fast_runbook(tmp_path)
        env = {**chaos_site.env, "ORCHESTRATOR_STATE_DIR": str(state)}
        command = [sys.executable, "-m", "orchestrator", "failover", "--site", str(chaos_site.site_file), "--yes",
                   "--runbook", str(book)]
        procs = [subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            outputs = [p.communicate(timeout=180) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=10)
        codes = sorted(p.returncode for p in procs)
        assert codes == [0, 3], [o[1][-1500:] for o in outputs]
        loser = outputs[[p.returncode for p in procs].index(3)][1]
        assert "locked by run" in loser and "Traceback" not in loser
        assert aws_state(chaos_site)["desired"] == chaos_site.site["seats"]["target"]
