"""Access: the IAM roles that run this site's failover (``orchestrator``) and check it (``readiness``).

Every permission is scoped by ARN to this site's resources: its hosted zone, its seat group, its restore
bucket and prefix, its topic, its two key secrets, (team mode) its state table and (with a status page) the
page's one object. The only ``"*"``
resources are the actions AWS itself cannot scope (:data:`UNSCOPABLE_ACTIONS`); the policy pack refuses
any other ``"*"``. The policies are built by plain functions (:func:`orchestrator_policy`,
:func:`readiness_policy`) from the site's ARNs, so the stack, docs/permissions.md (scripts/permissions_doc.py)
and the tests all read the same statements.

Trust: the roles can be assumed by the principals given in config (an operator role, an SSO permission
set's role: each one full IAM role or user ARN, matched with ``ArnEquals``; a wildcard, which would let every
matching principal of the account in, is refused: :func:`principal_arn_problem`) and, optionally, by GitHub
Actions through its OIDC provider, restricted to one repository and branch (the scheduled drill).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.warm_site.config import MAX_LINK_WITH_ROLES
from stacks.warm_site.principals import principal_arn_problem
from stacks.warm_site.tags import Tags

POLICY_VERSION = "2012-10-17"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"

#: IAM's bounds of a role's MaxSessionDuration (1 h default, 12 h at most)
MIN_SESSION_SECONDS = 3600
MAX_SESSION_SECONDS = MAX_LINK_WITH_ROLES


def session_seconds(link_expiry_seconds: int | None) -> int:
    """The orchestrator role's MaxSessionDuration: long enough for the status page's presigned links (a link
    signed with a role session dies with the session), within IAM's 1-12 h."""
    return min(MAX_SESSION_SECONDS, max(MIN_SESSION_SECONDS, link_expiry_seconds or 0))


#: Actions AWS does not let a policy scope to a resource: they need ``"Resource": "*"``. Auto Scaling's and
#: EC2's Describe* calls support no resource-level permissions at all (the service authorization reference
#: lists no resource type for them), so the group and the VPN connections cannot be named here.
UNSCOPABLE_ACTIONS = frozenset({"autoscaling:DescribeAutoScalingGroups", "ec2:DescribeVpnConnections"})
#: the folder under the restore prefix where drills restore (orchestrator/backup/contract.py DRILL_FOLDER;
#: tests/stacks/test_access.py checks that both agree)
DRILL_FOLDER = "drills"
#: where restore workers record each unit's result under the restore prefix (orchestrator/backup/work.py
#: RESULTS_DIR)
WORK_FOLDER = "_restore_work"


@dataclass(frozen=True)
class Grant:
    """One action of a statement and why it is there: what the orchestrator does with it, in which step."""

    action: str
    why: str
    steps: str


@dataclass(frozen=True)
class Statement:
    sid: str
    grants: tuple[Grant, ...]
    resources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        resource: Any = list(self.resources) if len(self.resources) > 1 else self.resources[0]
        return {"Sid": self.sid, "Effect": "Allow", "Action": sorted(g.action for g in self.grants),
                "Resource": resource}


@dataclass(frozen=True)
class ConnectArns:
    """The Amazon Connect resources the roles are scoped to, in both Regions of the Global Resiliency pair:
    the replica keeps the instance's id (and replicated resources theirs), so each instance-level ARN is named
    once per Region; the traffic distribution group has one ARN, in its home Region. Resource types per action
    are those of the Service Authorization Reference (docs/connect.md)."""

    partition: str
    account: str
    instance_id: str
    #: the instance's own Region (its ARN's): where the traffic distribution group lives
    home_region: str
    regions: tuple[str, ...]
    #: the group's id, or its ARN
    traffic_distribution_group_id: str
    hours_of_operation_id: str | None = None
    prompt_id: str | None = None
    #: the queues whose agents the traffic shift counts (empty: no agent gate, no metrics read)
    queue_ids: tuple[str, ...] = ()
    #: 1.2: the site has a test call (``connect.test_call``): its contacts are placed, read and stopped
    test_call: bool = False

    @classmethod
    def of(cls, instance_arn: str, **kw: Any) -> ConnectArns:
        """From the instance's ARN (``arn:PARTITION:connect:REGION:ACCOUNT:instance/ID``) and the rest."""
        parts = instance_arn.split(":")
        return cls(partition=parts[1], account=parts[4], instance_id=parts[5].split("/", 1)[1],
                   home_region=parts[3], **kw)

    def _in_each_region(self, resource: str) -> list[str]:
        return [f"arn:{self.partition}:connect:{r}:{self.account}:{resource}" for r in self.regions]

    @property
    def instance_arns(self) -> list[str]:
        return self._in_each_region(f"instance/{self.instance_id}")

    @property
    def traffic_distribution_group_arns(self) -> list[str]:
        """The group's one ARN, in its home Region: a call made in the other Region names the group by that
        ARN (the API requires it there), so IAM sees the same resource whichever Region is called."""
        given = self.traffic_distribution_group_id
        if given.startswith("arn:"):
            return [given]
        return [f"arn:{self.partition}:connect:{self.home_region}:{self.account}:traffic-distribution-group/{given}"]

    @property
    def hours_arns(self) -> list[str]:
        return self._in_each_region(f"instance/{self.instance_id}/operating-hours/{self.hours_of_operation_id}")

    @property
    def prompt_arns(self) -> list[str]:
        return self._in_each_region(f"instance/{self.instance_id}/prompt/{self.prompt_id}")

    @property
    def contact_arns(self) -> list[str]:
        """The instance's contacts: a contact's id exists only once the call is placed, so IAM can scope the
        test call no closer than the instance's ``contact/*`` (StartOutboundVoiceContact, DescribeContact and
        StopContact all act on the ``contact`` resource type)."""
        return self._in_each_region(f"instance/{self.instance_id}/contact/*")

    @property
    def queue_arns(self) -> list[str]:
        return [a for q in self.queue_ids for a in self._in_each_region(f"instance/{self.instance_id}/queue/{q}")]


@dataclass(frozen=True)
class SiteArns:
    """The ARNs of the site's resources the roles are scoped to (plain strings once resolved)."""

    zone_id: str
    group_arn: str
    bucket_arn: str
    prefix: str
    topic_arn: str
    secret_arns: tuple[str, ...]
    table_arn: str | None = None
    connect: ConnectArns | None = None
    #: the status page's object (``arn:aws:s3:::BUCKET/KEY``) when the site publishes one
    status_page_arn: str | None = None
    #: the restore workers' queue (``backup.workers``, contract 1.2) when the site has one
    work_queue_arn: str | None = None
    #: the evidence bucket (``arn:aws:s3:::BUCKET``, Object Lock) when the site keeps an uploaded copy (1.2)
    evidence_bucket_arn: str | None = None

    @property
    def zone_arn(self) -> str:
        return f"arn:aws:route53:::hostedzone/{self.zone_id}"

    @property
    def objects_arn(self) -> str:
        # the prefix as the orchestrator normalizes it (orchestrator/site.py: "restored" -> "restored/")
        prefix = self.prefix.strip("/")
        return f"{self.bucket_arn}/{prefix}/*" if prefix else f"{self.bucket_arn}/*"

    @property
    def drill_objects_arn(self) -> str:
        """What drills restore and then delete: ``PREFIX/drills/RUN_ID/...`` (orchestrator/backup/contract.py,
        ``DRILL_FOLDER``). Nothing else is ever deleted: a failover's restored copy is kept."""
        prefix = self.prefix.strip("/")
        return f"{self.bucket_arn}/{prefix}/{DRILL_FOLDER}/*" if prefix else f"{self.bucket_arn}/{DRILL_FOLDER}/*"


def _statement(sid: str, resources: list[str] | tuple[str, ...], *grants: Grant) -> Statement:
    return Statement(sid, tuple(grants), tuple(resources))


def orchestrator_statements(arns: SiteArns) -> list[Statement]:
    """Everything failover, failback, drill and resume need, and nothing else (one statement per resource)."""
    statements = [
        _statement("DnsRecords", [arns.zone_arn],
                   Grant("route53:GetHostedZone", "the zone exists; its name servers", "preflight, readiness"),
                   Grant("route53:ListResourceRecordSets", "read each record before changing it (journaled for "
                         "rollback) and verify it after", "preflight, dns-cutover, dns-cutback, smoke"),
                   Grant("route53:ChangeResourceRecordSets", "UPSERT the records to the secondary (and back)",
                         "dns-cutover, dns-cutback, rollback")),
        _statement("DnsChanges", ["arn:aws:route53:::change/*"],
                   Grant("route53:GetChange", "wait until a record change is INSYNC", "dns-cutover, dns-cutback")),
        _statement("SeatsGroup", [arns.group_arn],
                   Grant("autoscaling:SetDesiredCapacity", "raise the seats to target (and back to warm)",
                         "seats-up, seats-down, rollback")),
        # AWS cannot scope Describe calls of Auto Scaling and EC2 to a resource: "*" is the only choice.
        _statement("DescribeUnscopable", ["*"],
                   Grant("autoscaling:DescribeAutoScalingGroups", "the group's size and its instances' health",
                         "preflight, seats-up, seats-down, smoke"),
                   Grant("ec2:DescribeVpnConnections", "the VPN connections are available",
                         "preflight, vpn-up, vpn-down")),
        _statement("RestoreBucket", [arns.bucket_arn],
                   Grant("s3:ListBucket", "the bucket exists; list what is already restored (resume sends "
                         "nothing twice)", "preflight, restore-critical, restore-bulk"),
                   Grant("s3:ListBucketMultipartUploads", "find multipart uploads a killed run left behind",
                         "restore-critical, restore-bulk")),
        _statement("RestoreObjects", [arns.objects_arn],
                   Grant("s3:PutObject", "upload restored files (multipart) and the restore markers",
                         "restore-critical, restore-bulk"),
                   Grant("s3:GetObject", "read the restore markers", "restore-critical, restore-bulk, smoke, cleanup"),
                   Grant("s3:AbortMultipartUpload", "abort a killed run's uploads", "restore-critical, restore-bulk")),
        _statement("DrillCleanup", [arns.drill_objects_arn],
                   Grant("s3:DeleteObject", "a drill deletes the copy it restored under PREFIX/drills/, marker first "
                         "(a failover's restored copy is never deleted)", "cleanup (drill)")),
        _statement("Notify", [arns.topic_arn],
                   Grant("sns:Publish", "milestones, failures, the end of the run", "announce, every milestone"),
                   Grant("sns:GetTopicAttributes", "the topic exists", "preflight")),
        _statement("KeySecrets", list(arns.secret_arns),
                   Grant("secretsmanager:GetSecretValue", "the appliance's and the SFTP account's SSH keys",
                         "preflight, vpn-up, restore-*"),
                   Grant("secretsmanager:DescribeSecret", "the key secrets exist", "preflight")),
    ]
    if arns.status_page_arn:
        statements.append(_statement(
            "StatusPage", [arns.status_page_arn],
            Grant("s3:PutObject", "publish the live status page at every milestone", "every milestone, the end"),
            Grant("s3:GetObject", "the presigned link in each milestone message is a GET signed by this role",
                  "every milestone"),
        ))
    if arns.work_queue_arn:
        prefix = arns.prefix.strip("/")
        results = f"{arns.bucket_arn}/{prefix}/{WORK_FOLDER}/*" if prefix else f"{arns.bucket_arn}/{WORK_FOLDER}/*"
        statements.append(_statement(
            "WorkQueue", [arns.work_queue_arn],
            Grant("sqs:SendMessage", "enqueue the bulk tier's work units for the restore workers", "restore-bulk"),
            Grant("sqs:GetQueueAttributes", "the queue's redrive policy (its dead-letter queue, named when a unit "
                  "fails its last try)", "restore-bulk")))
        statements.append(_statement(
            "WorkResults", [results],
            Grant("s3:DeleteObject", "remove the run's results record once the complete marker is written, and a "
                  "unit's last failure when a resume queues it again", "restore-bulk")))
    if arns.evidence_bucket_arn:
        # put and read only: no s3:DeleteObject*, no s3:BypassGovernanceRetention, no bucket lock change; a
        # compliance-mode retention cannot be shortened by anyone (the policy pack's evidence-lock rule)
        statements += [
            _statement("EvidenceBucket", [arns.evidence_bucket_arn],
                       Grant("s3:ListBucket", "`evidence verify --site` lists the uploaded copy", "evidence verify")),
            _statement("EvidenceObjects", [f"{arns.evidence_bucket_arn}/*"],
                       Grant("s3:PutObject", "upload each file of the run's evidence pack", "the end of every run"),
                       Grant("s3:PutObjectRetention", "each object's compliance-mode retention, set as it is put",
                             "the end of every run"),
                       Grant("s3:GetObject", "`evidence verify --site` compares the copy", "evidence verify"),
                       Grant("s3:GetObjectRetention", "`evidence verify --site` checks the retention",
                             "evidence verify")),
        ]
    if arns.table_arn:
        statements.append(_statement(
            "TeamState", [arns.table_arn],
            Grant("dynamodb:GetItem", "read a run, a step, the lock", "every command (team mode)"),
            Grant("dynamodb:Query", "list runs, steps, events, drills", "every command (team mode)"),
            Grant("dynamodb:PutItem", "create a run, journal steps and events, take a free lock",
                  "every command (team mode)"),
            Grant("dynamodb:UpdateItem", "update a run, heartbeat the lock", "every command (team mode)"),
            Grant("dynamodb:DeleteItem", "release the lock", "end of every run (team mode)"),
            Grant("dynamodb:ConditionCheckItem", "fence journal writes on the lock's token (transactions)",
                  "every step (team mode)"),
        ))
    if arns.connect is not None:
        statements += connect_statements(arns.connect)
    return statements


SHIFT_STEPS = "connect.shift_traffic, connect.shift_back, rollback"
ANNOUNCE_STEPS = "connect.announce, connect.unannounce"


def connect_statements(connect: ConnectArns) -> list[Statement]:
    """The Connect operations of the traffic shift and the announcement, each on what IAM scopes it to."""
    statements = [_statement(
        "ConnectTraffic", connect.traffic_distribution_group_arns,
        Grant("connect:DescribeTrafficDistributionGroup", "the group exists and is ACTIVE (replicated)",
              f"{SHIFT_STEPS}, readiness"),
        Grant("connect:GetTrafficDistribution", "read the distribution before changing it (journaled for rollback) "
              "and verify each step", f"{SHIFT_STEPS}, readiness"),
        Grant("connect:UpdateTrafficDistribution", "move telephony and agents step by step (and back)",
              SHIFT_STEPS),
    )]
    if connect.hours_of_operation_id is not None:
        statements.append(_statement(
            "ConnectAnnouncement", [*connect.instance_arns, *connect.hours_arns],
            Grant("connect:CreateHoursOfOperationOverride", "switch the outage announcement on", ANNOUNCE_STEPS),
            Grant("connect:ListHoursOfOperationOverrides", "find the announcement's override and its dates (verify, "
                  "idempotence; readiness warns before it lapses)", f"{ANNOUNCE_STEPS}, readiness"),
            Grant("connect:DeleteHoursOfOperationOverride", "switch the announcement off", ANNOUNCE_STEPS),
        ))
        statements.append(_statement(
            "ConnectHours", connect.hours_arns,
            Grant("connect:DescribeHoursOfOperation", "the override's base hours exist; their time zone (the "
                  "override's dates are its days)", "preflight, readiness, connect.announce"),
        ))
    if connect.test_call:
        statements.append(_statement(
            "ConnectTestCall", connect.contact_arns,
            Grant("connect:StartOutboundVoiceContact", "place the test call to the DR test line (the RTO ends "
                  "when an agent answers it)", "connect.test_call"),
            Grant("connect:DescribeContact", "follow the test call until an agent answers (or its bound)",
                  "connect.test_call"),
            Grant("connect:StopContact", "hang up the test call (answered, timed out, or left by a resumed run)",
                  "connect.test_call"),
        ))
    statements += _connect_reads(connect)
    return statements


def _connect_reads(connect: ConnectArns, suffix: str = "", readiness_only: bool = False) -> list[Statement]:
    """The prompt and the agent count: read by the steps and by readiness alike."""
    def steps(of_steps: str) -> str:
        return "readiness" if readiness_only else f"{of_steps}, readiness"

    statements = []
    if connect.prompt_id is not None:
        statements.append(_statement(
            f"ConnectPrompt{suffix}", connect.prompt_arns,
            Grant("connect:DescribePrompt", "the announcement's prompt exists", steps("preflight"))))
    if connect.queue_ids:
        statements.append(_statement(
            f"ConnectAgents{suffix}", connect.queue_arns,
            Grant("connect:GetCurrentMetricData", "agents available and the queues' load (contacts in queue, "
                  "the oldest contact's age) in the Region taking the calls: the gates between shift steps",
                  steps("connect.shift_traffic, connect.shift_back"))))
    return statements


def connect_read_statements(connect: ConnectArns) -> list[Statement]:
    """What readiness reads of Connect: the group, the distribution, the override's base and the overrides (an
    announcement in effect that lapses soon is a warning), prompt, agents."""
    return [
        _statement("ConnectTrafficRead", connect.traffic_distribution_group_arns,
                   Grant("connect:DescribeTrafficDistributionGroup", "the group exists and is replicated", "readiness"),
                   Grant("connect:GetTrafficDistribution", "where telephony and agents are now", "readiness")),
        *([_statement("ConnectHoursRead", connect.hours_arns,
                      Grant("connect:DescribeHoursOfOperation", "the override's base exists (its time zone)",
                            "readiness")),
           _statement("ConnectAnnouncementRead", [*connect.instance_arns, *connect.hours_arns],
                      Grant("connect:ListHoursOfOperationOverrides", "the announcement's override and its last day "
                            "(a warning before it lapses)", "readiness"))]
          if connect.hours_of_operation_id is not None else []),
        *_connect_reads(connect, "Read", readiness_only=True),
    ]


def readiness_statements(arns: SiteArns) -> list[Statement]:
    """Read-only: what ``orchestrator readiness`` and ``status``/``drills`` read, on the same resources."""
    statements = [
        _statement("DnsRead", [arns.zone_arn],
                   Grant("route53:GetHostedZone", "the zone exists", "readiness"),
                   Grant("route53:ListResourceRecordSets", "records at primary or secondary", "readiness")),
        _statement("DescribeUnscopable", ["*"],
                   Grant("autoscaling:DescribeAutoScalingGroups", "the group at its warm size", "readiness"),
                   Grant("ec2:DescribeVpnConnections", "the VPN connections", "readiness")),
        _statement("RestoreBucketRead", [arns.bucket_arn],
                   Grant("s3:ListBucket", "the bucket exists", "readiness"),
                   Grant("s3:GetBucketVersioning", "versioning still on (drift)", "readiness"),
                   Grant("s3:GetEncryptionConfiguration", "default encryption still on (drift)", "readiness"),
                   Grant("s3:GetBucketPublicAccessBlock", "public access still blocked (drift)", "readiness")),
        _statement("NotifyRead", [arns.topic_arn],
                   Grant("sns:GetTopicAttributes", "the topic exists", "readiness")),
        # Not the keys' values: readiness checks the appliance's and the SFTP account's host keys by the SSH
        # key exchange alone, without logging in (orchestrator/readiness.py).
        _statement("KeySecretsRead", list(arns.secret_arns),
                   Grant("secretsmanager:DescribeSecret", "the key secrets exist (their values are never read: the "
                         "host keys are checked without logging in)", "readiness")),
    ]
    if arns.table_arn:
        statements.append(_statement(
            "TeamStateRead", [arns.table_arn],
            Grant("dynamodb:GetItem", "read a run", "status (team mode)"),
            Grant("dynamodb:Query", "list runs and drills", "readiness, status, drills (team mode)"),
        ))
    if arns.connect is not None:
        statements += connect_read_statements(arns.connect)
    return statements


def watcher_statements(arns: SiteArns, alarm_names: tuple[str, ...] = (), stage: bool = False) -> list[Statement]:
    """What ``orchestrator watch`` does in the warm site: read the alarms its probes name, keep its rounds and
    the incident in the team table, send ``primary-down``/``primary-up``, publish the outage page. With
    ``stage`` it also starts the failover that holds at its gate: the orchestrator's statements, nothing more
    (the cutover itself waits for a person's ``approve``)."""
    statements = orchestrator_statements(arns) if stage else [
        _statement("Notify", [arns.topic_arn],
                   Grant("sns:Publish", "one primary-down and one primary-up message per outage", "watch")),
    ]
    if alarm_names:
        region, account = arns.topic_arn.split(":")[3:5]
        statements.append(_statement(
            "WatchAlarms", [f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}" for name in alarm_names],
            Grant("cloudwatch:DescribeAlarms", "the state of each alarm probe of primary.probes", "watch")))
    if stage:
        return statements
    if arns.status_page_arn:
        statements.append(_statement(
            "StatusPage", [arns.status_page_arn],
            Grant("s3:PutObject", "the outage page (\"Primary site unreachable since\") while no run publishes one",
                  "watch"),
            Grant("s3:GetObject", "the presigned link in primary-down is a GET signed by this role", "watch")))
    if arns.table_arn:
        statements.append(_statement(
            "TeamState", [arns.table_arn],
            Grant("dynamodb:GetItem", "the watch record (rounds, the open incident) and a run", "watch"),
            Grant("dynamodb:Query", "the site's runs (is a failover already under way?)", "watch"),
            Grant("dynamodb:PutItem", "the next version of the watch record (conditional: two watchers, one "
                  "incident)", "watch")))
    return statements


def policy_document(statements: list[Statement]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": [s.to_json() for s in statements]}


def orchestrator_policy(arns: SiteArns) -> dict[str, Any]:
    return policy_document(orchestrator_statements(arns))


def readiness_policy(arns: SiteArns) -> dict[str, Any]:
    return policy_document(readiness_statements(arns))


def watcher_policy(arns: SiteArns, alarm_names: tuple[str, ...] = (), stage: bool = False) -> dict[str, Any]:
    return policy_document(watcher_statements(arns, alarm_names, stage))


def trust_policy(principals: list[str], github_provider_arn: str | None = None,
                 github_subject: str | None = None) -> dict[str, Any]:
    """Who may assume the roles: the configured principals (by ``aws:PrincipalArn``, within their own
    accounts) and GitHub Actions of one repository and branch (by the OIDC token's ``sub`` and ``aud``).
    Every statement has a condition; no principal is a wildcard (ValueError for one)."""
    problems = [problem for p in principals if (problem := principal_arn_problem(p))]
    if problems:
        raise ValueError("; ".join(problems))
    statements: list[dict[str, Any]] = []
    if principals:
        accounts = sorted({_account_of(p) for p in principals})
        statements.append({
            "Sid": "Operators", "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in accounts]},
            # ArnEquals: no principal holds a wildcard, and none could slip in through this condition
            "Condition": {"ArnEquals": {"aws:PrincipalArn": sorted(principals)}},
        })
    if github_provider_arn and github_subject:
        statements.append({
            "Sid": "GitHubActions", "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": github_provider_arn},
            "Condition": {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
                                           f"{GITHUB_OIDC_HOST}:sub": github_subject}},
        })
    return {"Version": POLICY_VERSION, "Statement": statements}


def github_subject(repository: str, branch: str) -> str:
    """The OIDC token subject of a workflow run on ``branch`` of ``repository`` (GitHub's format)."""
    return f"repo:{repository}:ref:refs/heads/{branch}"


def _account_of(principal_arn: str) -> str:
    return principal_arn.split(":")[4]


@dataclass
class AccessArgs:
    site: str
    arns: pulumi.Output  # of SiteArns
    principals: list[str]
    tags: Tags
    github_repository: str | None = None
    github_branch: str = "main"
    github_provider_arn: str | None = None
    #: the orchestrator role's MaxSessionDuration (:func:`session_seconds` of the status page's link expiry)
    orchestrator_session_seconds: int = MIN_SESSION_SECONDS


class Access(pulumi.ComponentResource):
    """The ``orchestrator`` and ``readiness`` roles (and, when asked, GitHub's OIDC provider)."""

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:Access", name, None, opts)
        provider_arn = self._github_provider(name, args)
        subject = github_subject(args.github_repository, args.github_branch) if args.github_repository else None
        trust = pulumi.Output.from_input(provider_arn).apply(
            lambda arn: json.dumps(trust_policy(list(args.principals), arn, subject)))
        # the orchestrator role signs the status page's links: its sessions last as long as they must live
        self.orchestrator_role = self._role(name, args, "orchestrator", trust,
                                            args.arns.apply(lambda a: json.dumps(orchestrator_policy(a))),
                                            args.orchestrator_session_seconds)
        self.readiness_role = self._role(name, args, "readiness", trust,
                                         args.arns.apply(lambda a: json.dumps(readiness_policy(a))),
                                         MIN_SESSION_SECONDS)
        self.orchestrator_role_arn = self.orchestrator_role.arn
        self.readiness_role_arn = self.readiness_role.arn
        self.register_outputs({"orchestrator_role_arn": self.orchestrator_role_arn,
                               "readiness_role_arn": self.readiness_role_arn})

    def _github_provider(self, name: str, args: AccessArgs) -> Any:
        if not args.github_repository:
            return None
        if args.github_provider_arn:  # one provider per URL per account: reuse the account's own
            return args.github_provider_arn
        provider = aws.iam.OpenIdConnectProvider(
            f"{name}-github-oidc", url=GITHUB_OIDC_URL, client_id_lists=["sts.amazonaws.com"],
            tags=args.tags.of(f"{args.site}-github-oidc"), opts=pulumi.ResourceOptions(parent=self))
        return provider.arn

    def _role(self, name: str, args: AccessArgs, purpose: str, trust: pulumi.Output,
              policy: pulumi.Output, max_session_seconds: int) -> aws.iam.Role:
        role_name = f"{args.site}-{purpose}"
        role = aws.iam.Role(
            f"{name}-{purpose}", name=role_name, assume_role_policy=trust, max_session_duration=max_session_seconds,
            description=f"cc-dr {purpose} of site {args.site} (scoped to its resources)",
            tags=args.tags.of(role_name), opts=pulumi.ResourceOptions(parent=self))
        aws.iam.RolePolicy(f"{name}-{purpose}-policy", name=f"{role_name}-scoped", role=role.id, policy=policy,
                           opts=pulumi.ResourceOptions(parent=self))
        return role
