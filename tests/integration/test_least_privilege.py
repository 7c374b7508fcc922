"""Least privilege, proven against an AWS that enforces IAM: the embedded site (team mode) deployed with its
access component into a moto server that authorizes every call (tests/support/moto_iam.py), then every
command run through the CLI under an IAM user whose only permission is the policy the stack gave a role.

One enforced server and one deployed site serve the whole module (small snapshots); every test leaves the
site warm (records at primary, seats at warm) for the next.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from orchestrator.sandbox import motoserver
from orchestrator.sandbox import site as embedded
from orchestrator.sandbox import stack as sandbox_stack
from stacks.warm_site.access import SiteArns, orchestrator_policy, readiness_policy, watcher_policy
from tests.e2e_helpers import aws_state, cli
from tests.fixtures.sandbox import EmbeddedSite
from tests.support import moto_iam

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

TEAM_TABLE = "cc-dr-iam-runs"
OPERATOR = "arn:aws:iam::123456789012:role/dr-operator"
ACCESS = {"principals": [OPERATOR], "github": {"repository": "example-org/cc-dr", "branch": "main"}}
#: the sandbox's small size (tests/fixtures/sandbox.py), smaller still: IAM is what is under test here
OPTIONS = embedded.SandboxOptions(size_mb=4, days=2, files=12, seats=6, tunnel_seconds=0.0, team_table=TEAM_TABLE)
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass
class Principal(EmbeddedSite):
    """The embedded site seen through one IAM user's access key (for the CLI and for boto3)."""

    keys: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.keys}

    def client(self, service: str):
        return boto3.client(service, region_name=self.state["region"], endpoint_url=self.state["moto"]["endpoint"],
                            aws_access_key_id=self.keys["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.keys["AWS_SECRET_ACCESS_KEY"])


@dataclass
class Enforced:
    folder: Path
    state: dict
    action_log: Path
    policies: dict[str, dict]  # role purpose -> its policy document, as read back from IAM
    admin: Principal
    _users: int = 0

    def principal(self, policy: dict) -> Principal:
        """A new IAM user whose only permission is ``policy`` (created by the admin: IAM is enforced)."""
        self._users += 1
        name = f"lp-user-{self._users}"
        keys = moto_iam.user_with_policy(self.admin.client("iam"), name, policy)
        return Principal(self.folder, self.state, keys)

    def decisions(self, principal: Principal) -> list[tuple[str, str, str, str]]:
        """Every authorization decision moto took for ``principal`` so far."""
        name = principal.client("sts").get_caller_identity()["Arn"]
        return [d for d in moto_iam.read_action_log(self.action_log) if d[0] == name]


@pytest.fixture(scope="module")
def enforced(tmp_path_factory) -> Iterator[Enforced]:
    """The embedded site (team mode, with its access component) in an IAM-enforcing moto server."""
    folder = tmp_path_factory.mktemp("least-privilege")
    action_log = folder / "iam-decisions.tsv"
    deploy = sandbox_stack.deploy
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(motoserver, "start", lambda **kw: moto_iam.start(action_log=action_log, **kw))
        patch.setattr(sandbox_stack, "deploy", lambda config, endpoint: deploy({**config, "access": ACCESS}, endpoint))
        state = embedded.up(folder, OPTIONS)
    try:
        endpoint, site = state["moto"]["endpoint"], json.loads(Path(state["site_file"]).read_text())
        iam = boto3.client("iam", region_name=state["region"], endpoint_url=endpoint,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        policies = {purpose: iam.get_role_policy(RoleName=f"{site['site']}-{purpose}",
                                                 PolicyName=f"{site['site']}-{purpose}-scoped")["PolicyDocument"]
                    for purpose in ("orchestrator", "readiness")}
        admin = Principal(folder, state, moto_iam.user_with_policy(iam, "lp-admin", ADMIN_POLICY))
        moto_iam.enforce(endpoint)
        yield Enforced(folder, state, action_log, policies, admin)
    finally:
        embedded.down(folder)


def _warm(enforced: Enforced) -> dict:
    """Put the site back at warm (as the admin) and return what a failover may change."""
    site = enforced.admin.site
    r53 = enforced.admin.client("route53")
    changes = [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": r["name"], "Type": r["type"], "TTL": r["ttl"],
        "ResourceRecords": [{"Value": v} for v in _values(r["primary"])]}}
        for r in site["dns"]["records"]]
    r53.change_resource_record_sets(HostedZoneId=site["dns"]["zone_id"], ChangeBatch={"Changes": changes})
    enforced.admin.client("autoscaling").set_desired_capacity(
        AutoScalingGroupName=site["seats"]["asg_name"], DesiredCapacity=site["seats"]["warm"])
    return aws_state(enforced.admin)


def _run(principal: Principal, state_dir: Path, *args: str):
    return cli(principal, state_dir, *args, "--site", str(principal.site_file))


def _at_secondary(state: dict, site: dict) -> bool:
    return all(state["records"][(r["name"], r["type"])] in (sorted(_values(r["secondary"])),
                                                          sorted(v.rstrip(".") for v in _values(r["secondary"])))
               for r in site["dns"]["records"])


def _values(value) -> list[str]:
    return value if isinstance(value, list) else [value]


def _site_arns(enforced: Enforced) -> SiteArns:
    """The ARNs of what was deployed, as the stack scopes the roles to them."""
    site, admin = enforced.admin.site, enforced.admin
    (group,) = admin.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[site["seats"]["asg_name"]])["AutoScalingGroups"]
    secrets = admin.client("secretsmanager")
    return SiteArns(
        zone_id=site["dns"]["zone_id"], group_arn=group["AutoScalingGroupARN"],
        bucket_arn=f"arn:aws:s3:::{site['backup']['bucket']}", prefix=site["backup"]["prefix"],
        topic_arn=site["notify"]["topic_arn"],
        secret_arns=tuple(secrets.describe_secret(SecretId=s)["ARN"] for s in (
            site["vpn"]["appliance"]["private_key_secret"], site["backup"]["sftp"]["private_key_secret"])),
        table_arn=admin.client("dynamodb").describe_table(TableName=TEAM_TABLE)["Table"]["TableArn"],
    )


def test_the_roles_policies_are_the_declared_ones_scoped_to_this_sites_resources(enforced):
    """The role policies in IAM are exactly the stack's, built from the ARNs of the resources deployed."""
    site, admin = enforced.admin.site, enforced.admin
    arns = _site_arns(enforced)
    assert enforced.policies["orchestrator"] == orchestrator_policy(arns)
    assert enforced.policies["readiness"] == readiness_policy(arns)
    roles = {r["RoleName"]: r["Arn"] for r in admin.client("iam").list_roles()["Roles"]}
    assert site["access"] == {"orchestrator_role_arn": roles[f"{site['site']}-orchestrator"],
                              "readiness_role_arn": roles[f"{site['site']}-readiness"]}


def _stale_upload(enforced: Enforced) -> tuple[str, str]:
    """An unfinished multipart upload under the newest snapshot's prefix, as a crashed run leaves one."""
    site, s3 = enforced.admin.site, enforced.admin.client("s3")
    newest = sorted(p.name for p in enforced.admin.exports.iterdir() if (p / "SHA256SUMS").exists())[-1]
    key = f"{site['backup']['prefix']}{newest}/stale-part-of-a-crashed-run.bin"
    s3.create_multipart_upload(Bucket=site["backup"]["bucket"], Key=key)
    return site["backup"]["bucket"], f"{site['backup']['prefix']}{newest}/"


def test_failover_then_failback_succeed_under_the_orchestrator_policy_alone(enforced, tmp_path):
    """failover (cleaning up a crashed run's upload) moves the site to secondary and failback brings it
    back, as a principal holding only the orchestrator role's policy."""
    _warm(enforced)
    bucket, prefix = _stale_upload(enforced)
    operator = enforced.principal(enforced.policies["orchestrator"])
    result = _run(operator, tmp_path, "failover", "--yes")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not enforced.admin.client("s3").list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads")
    after = aws_state(enforced.admin)
    assert _at_secondary(after, operator.site) and after["desired"] == operator.site["seats"]["target"]
    back = _run(operator, tmp_path, "failback", "--yes")
    assert back.returncode == 0, back.stderr[-3000:]
    assert aws_state(enforced.admin)["desired"] == operator.site["seats"]["warm"]
    assert not [d for d in enforced.decisions(operator) if d[3] == "denied"]


def _no_restored_data(enforced: Enforced) -> None:
    """Empty the restore bucket (as the admin): the drill then restores, and its clean-up deletes."""
    s3, bucket = enforced.admin.client("s3"), enforced.admin.site["backup"]["bucket"]
    keys = [{"Key": o["Key"]} for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    if keys:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def test_drill_succeeds_under_the_orchestrator_policy_alone(enforced, tmp_path):
    """A whole drill (failover with a restore, verify, failback, clean-up of what it restored) as the
    orchestrator policy's principal."""
    _no_restored_data(enforced)
    before = _warm(enforced)
    operator = enforced.principal(enforced.policies["orchestrator"])
    result = cli(operator, tmp_path, "drill", "--site", str(operator.site_file))
    assert result.returncode == 0, result.stderr[-3000:]
    after = aws_state(enforced.admin)
    assert after["records"] == before["records"] and after["desired"] == before["desired"]
    assert after["keys"] == before["keys"] == []
    allowed = [d for d in enforced.decisions(operator) if d[3] == "allowed"]
    assert {"s3:PutObject", "s3:DeleteObject"} <= {d[1] for d in allowed}
    # issue 23 #15: what a drill deletes is under PREFIX/drills/ only (its own copy), nothing else
    prefix = f"arn:aws:s3:::{operator.site['backup']['bucket']}/{operator.site['backup']['prefix']}drills/"
    deleted = [d[2] for d in allowed if d[1] == "s3:DeleteObject"]
    assert deleted and all(resource.startswith(prefix) for resource in deleted), deleted


def test_resume_succeeds_under_the_orchestrator_policy_alone(enforced, tmp_path):
    """A failover stopped at its approval gate (exit 4) is resumed with the approval, as the same principal."""
    _warm(enforced)
    operator = enforced.principal(enforced.policies["orchestrator"])
    stopped = _run(operator, tmp_path, "failover")
    assert stopped.returncode == 4, stopped.stderr[-3000:]
    status = cli(operator, tmp_path, "status", "--site", str(operator.site_file), "--json")
    assert status.returncode == 0, status.stdout + status.stderr[-2000:]
    run_id = json.loads(status.stdout)["runs"][0]["run_id"]
    resumed = cli(operator, tmp_path, "resume", run_id, "--site", str(operator.site_file), "--yes")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _at_secondary(aws_state(enforced.admin), operator.site)
    assert _run(operator, tmp_path, "failback", "--yes").returncode == 0


def test_readiness_succeeds_under_the_readiness_policy(enforced, tmp_path):
    """readiness (the read-only role) finds the warm site ready; it checks the appliance's and the SFTP
    account's host keys without logging in, and says that what needs a login was not checked and why."""
    _warm(enforced)
    reader = enforced.principal(enforced.policies["readiness"])
    result = _run(reader, tmp_path, "readiness", "--json")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    answer = json.loads(result.stdout)
    assert answer["ready"] is True
    checks = {c["name"]: c for c in answer["checks"]}
    for name in ("backup.sftp.host_key", "vpn.appliance.host_key"):
        assert checks[name]["ok"] and "presents the pinned ssh-ed25519 host key" in checks[name]["detail"], checks[name]
    for name in ("backup.snapshot", "backup.critical", "vpn.appliance", "vpn.probe", "restore.estimate"):
        assert (checks[name]["ok"], checks[name]["blocking"]) == (False, False), checks[name]
        assert checks[name]["detail"].startswith("not checked: these credentials may not read the SSH key")
    assert checks["secrets"]["ok"]  # DescribeSecret: the key secrets exist
    assert set(answer["warnings"]) >= {"backup.snapshot", "vpn.appliance"}


def test_the_readiness_policy_reads_no_ssh_key(enforced):
    """issue 23 #15: the read-only role cannot read either SSH private key (Secrets Manager refuses it)."""
    reader = enforced.principal(enforced.policies["readiness"])
    site = reader.site
    for secret in (site["vpn"]["appliance"]["private_key_secret"], site["backup"]["sftp"]["private_key_secret"]):
        with pytest.raises(ClientError, match="AccessDenied"):
            reader.client("secretsmanager").get_secret_value(SecretId=secret)
        reader.client("secretsmanager").describe_secret(SecretId=secret)  # that it exists: allowed
    granted = {a for s in enforced.policies["readiness"]["Statement"] for a in s["Action"]}
    assert "secretsmanager:GetSecretValue" not in granted


def test_failover_under_the_readiness_policy_fails_at_the_first_write_and_changes_nothing(enforced, tmp_path):
    """The read-only role cannot fail over: one clear line names the denied action, the call is not
    retried, and AWS is as it was."""
    before = _warm(enforced)
    runs_before = enforced.admin.client("dynamodb").scan(TableName=TEAM_TABLE)["Count"]
    reader = enforced.principal(enforced.policies["readiness"])
    result = _run(reader, tmp_path, "failover", "--yes")
    assert result.returncode != 0
    denied = [d for d in enforced.decisions(reader) if d[3] == "denied"]
    # AccessDenied is fatal: each asked once, never retried. First the read of the SFTP key by the check that
    # every backup.critical pattern matches a file (before the run is created; denied, it is left to the
    # preflight step and logged as a warning), then the first write: in team mode the run record.
    assert [d[1] for d in denied] == ["secretsmanager:GetSecretValue", "dynamodb:PutItem"], denied
    action, who = denied[1][1], denied[1][0]
    assert "preflight.critical_patterns_unchecked" in result.stderr
    lines = [line for line in result.stderr.splitlines() if "AccessDenied" in line and "error:" in line]
    assert lines == [f"error: dynamodb.put_item: AccessDeniedException: User: {who} is not authorized "
                     f"to perform: {action} on resource: *"], result.stderr[-3000:]
    assert aws_state(enforced.admin) == before
    assert enforced.admin.client("dynamodb").scan(TableName=TEAM_TABLE)["Count"] == runs_before


def _without(policy: dict, sid: str) -> dict:
    return {**policy, "Statement": [s for s in policy["Statement"] if s["Sid"] != sid]}


ORCHESTRATOR_SIDS = ["DnsRecords", "DnsChanges", "SeatsGroup", "DescribeUnscopable", "RestoreBucket",
                     "RestoreObjects", "DrillCleanup", "Notify", "KeySecrets", "TeamState"]
#: statements only a drill needs (a failover never deletes restored data): the minimality test drills
DRILL_ONLY_SIDS = {"DrillCleanup"}
#: statements a run survives losing, by design, and still needs: without Notify no milestone reaches anyone,
#: but a notification never fails a run (nor, issue 23 #15, a deleted topic its preflight)
SURVIVABLE_SIDS = {"Notify"}


def test_the_minimality_cases_cover_every_statement(enforced):
    """The parametrized minimality test removes each statement the orchestrator policy has, no fewer."""
    assert [s["Sid"] for s in enforced.policies["orchestrator"]["Statement"]] == ORCHESTRATOR_SIDS


@pytest.mark.parametrize("sid", ORCHESTRATOR_SIDS)
def test_every_statement_of_the_orchestrator_policy_is_needed(enforced, tmp_path, sid):
    """Without any one statement a failover (a drill, for what only a drill does) fails, on a call that
    statement allows; without the notification statement it succeeds, its notifications denied."""
    _warm(enforced)
    if sid in DRILL_ONLY_SIDS:
        _no_restored_data(enforced)
    policy = enforced.policies["orchestrator"]
    (removed,) = [s for s in policy["Statement"] if s["Sid"] == sid]
    principal = enforced.principal(_without(policy, sid))
    command = ("drill",) if sid in DRILL_ONLY_SIDS else ("failover", "--yes")
    result = _run(principal, tmp_path, *command)
    if sid in SURVIVABLE_SIDS:
        assert result.returncode == 0, f"{command[0]} failed without statement {sid}: {result.stderr[-2000:]}"
    else:
        assert result.returncode != 0, f"{command[0]} succeeded without statement {sid}"
    denied = {d[1] for d in enforced.decisions(principal) if d[3] == "denied"}
    assert denied & set(removed["Action"]), (denied, result.stderr[-2000:])


def test_every_action_granted_to_the_orchestrator_is_used(enforced):
    """Across the runs above, the orchestrator principals were authorized for every action of its policy
    (run after the commands: they are this module's earlier tests)."""
    granted = {a for s in enforced.policies["orchestrator"]["Statement"] for a in s["Action"]}
    used = {d[1] for d in moto_iam.read_action_log(enforced.action_log) if d[3] == "allowed"}
    assert granted - used == set()


def test_watch_opens_the_incident_under_the_watcher_policy_alone(enforced, tmp_path):
    """The stack's watcher role (no stage): a `watch --once` round whose probes all fail (a refused TCP port,
    a CloudWatch alarm in ALARM) opens the incident in the team table and sends primary-down; every call it
    made was allowed (the alarm's ARN in the policy: tests/stacks/test_watcher_stack.py)."""
    import socket

    alarm = "cc-primary-health-lp"
    cloudwatch = enforced.admin.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName=alarm, MetricName="HealthCheckStatus", Namespace="AWS/Route53",
                                Statistic="Minimum", Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="LessThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="the primary's health check")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        refused = free.getsockname()[1]
    site = {**enforced.admin.site, "primary": {"probes": [{"name": "sbc", "tcp": f"127.0.0.1:{refused}"},
                                                          {"name": "health", "alarm": alarm}],
                                               "down_after_seconds": 0}}
    site_file = tmp_path / "site-watched.json"
    site_file.write_text(json.dumps(site))
    watcher = enforced.principal(watcher_policy(_site_arns(enforced), (alarm,)))
    result = cli(watcher, tmp_path / "state", "watch", "--once", "--site", str(site_file))
    assert result.returncode == 4, result.stdout + result.stderr[-3000:]
    assert "health" in result.stdout and "sbc" in result.stdout
    decisions = enforced.decisions(watcher)
    assert not [d for d in decisions if d[3] == "denied"], decisions
    assert {d[1] for d in decisions} == {"sts:GetCallerIdentity", "cloudwatch:DescribeAlarms", "dynamodb:GetItem",
                                         "dynamodb:Query", "dynamodb:PutItem", "sns:Publish"}
