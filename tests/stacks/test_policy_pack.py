"""The CrossGuard policy pack (stacks/policy) run on the program under mocks: the good site passes every
policy, and each policy fails on a deliberately bad input."""

from __future__ import annotations

import copy
import json
import runpy
from collections.abc import Callable

import pytest
import yaml
from pulumi_policy import EnforcementLevel, StackValidationPolicy

from stacks.testing.mocks import Resource
from stacks.testing.policies import POLICIES, Deployment, check
from tests.stacks.conftest import (
    PULUMI_AWS_DEPRECATIONS,
    SFTP_KEY,
    connect_config,
    declare,
    deployment_of,
    good_config,
)

pytestmark = PULUMI_AWS_DEPRECATIONS


@pytest.fixture(scope="module")
def good_site() -> tuple[dict, dict, list[Resource]]:
    """The good config, its outputs and its declared resources (declared once for the module)."""
    config = good_config()
    outputs, mocks = declare(config)
    return config, outputs, mocks.resources


def test_the_good_site_passes_every_policy(good_site):
    """A correct config yields no violation at all."""
    config, outputs, resources = good_site
    assert check(deployment_of(config, outputs, resources)) == []


def _set(path: str, value) -> Callable[[dict], None]:
    def mutate(config: dict) -> None:
        *parents, leaf = path.split(".")
        node = config
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(leaf) if leaf.isdigit() else leaf] = value

    return mutate


def _both(*mutations: Callable[[dict], None]) -> Callable[[dict], None]:
    def mutate(config: dict) -> None:
        for m in mutations:
            m(config)

    return mutate


BAD_CONFIGS = [
    (
        "cidrs",
        "vpc-overlaps-primary",
        _both(
            _set("network.vpc_cidr", "10.10.0.0/16"),
            _set("network.subnet_cidrs", ["10.10.1.0/24", "10.10.2.0/24"]),
        ),
    ),
    ("cidrs", "vpc-not-a-cidr", _set("network.vpc_cidr", "not-a-cidr")),
    ("cidrs", "subnet-outside-vpc", _set("network.subnet_cidrs", ["10.80.1.0/24", "10.81.2.0/24"])),
    ("cidrs", "subnets-overlap", _set("network.subnet_cidrs", ["10.80.1.0/24", "10.80.1.128/25"])),
    ("cidrs", "primary-not-a-cidr", _set("network.primary_cidrs", ["10.10.0.0/33"])),
    (
        "cidrs",
        "subnet-overlaps-second-primary",
        _set("network.primary_cidrs", ["10.10.0.0/16", "10.80.2.0/24"]),
    ),
    ("ingress", "seats-open-to-the-internet", _set("seats.ingress.0.cidrs", ["0.0.0.0/0"])),
    ("ingress", "seats-open-to-ipv6-internet", _set("seats.ingress.0.cidrs", ["10.10.0.0/16", "::/0"])),
    ("tags", "empty-owner", _set("owner", "")),
    ("seats", "max-below-target", _set("seats.max", 7)),
    ("seats", "warm-above-target", _set("seats.warm", 9)),
    ("site-file", "host-key-not-a-key", _set("vpn.appliance.host_key", "AAAAC3NzaC1lZDI1NTE5")),
    ("site-file", "a-record-with-a-hostname", _set("dns.records.1.primary", "sip.primary.example.net")),
    ("secrets", "private-key-pasted-as-host-key", _set("backup.sftp.host_key", SFTP_KEY)),
    ("connect-flow-logs", "instance-without-flow-logs", _set("connect", connect_config(
        instance_id=None, instance={"alias": "cc-dr-test", "contact_flow_logs": False}, announcement=None))),
    ("connect-regions", "traffic-shifted-away-from-the-warm-site",
     _set("connect", connect_config(primary_region="us-west-2", secondary_region="us-east-1"))),
    ("connect-agent-gate", "agents-required-in-no-queue", _set("connect", connect_config(queue_ids=[]))),
]


@pytest.mark.parametrize(
    ("policy", "mutate"),
    [(p, m) for p, _, m in BAD_CONFIGS],
    ids=[f"{p}:{name}" for p, name, _ in BAD_CONFIGS],
)
def test_policy_fails_on_a_bad_config(policy, mutate):
    """Each deliberately bad config is caught by the policy it breaks."""
    config = good_config()
    mutate(config)
    outputs, mocks = declare(config)
    violations = check(deployment_of(config, outputs, mocks.resources), only=[policy])
    assert violations, f"policy {policy!r} let a bad config through"
    assert {v.policy for v in violations} == {policy}


def _edit(type_: str, change: Callable[[dict], None]) -> Callable[[list[Resource]], list[Resource]]:
    def mutate(resources: list[Resource]) -> list[Resource]:
        out = []
        for r in resources:
            inputs = copy.deepcopy(dict(r.inputs))
            if r.type == type_:
                change(inputs)
            out.append(Resource(r.type, r.name, inputs))
        return out

    return mutate


def _drop(type_: str) -> Callable[[list[Resource]], list[Resource]]:
    return lambda resources: [r for r in resources if r.type != type_]


def _add(resource: Resource) -> Callable[[list[Resource]], list[Resource]]:
    return lambda resources: [*resources, resource]


def _iam_edit(type_: str, key: str, change: Callable[[dict], None], role: str = "orchestrator"):
    """Edit the JSON policy document ``key`` of the ``role``'s resource of ``type_`` (a bad declaration)."""

    def edit(inputs: dict) -> None:
        if role in str(inputs.get("name") or inputs.get("role")):
            document = json.loads(inputs[key])
            change(document)
            inputs[key] = json.dumps(document)

    return _edit(type_, edit)


def _statement(sid: str, **fields) -> Callable[[dict], None]:
    def change(document: dict) -> None:
        for statement in document["Statement"]:
            if statement.get("Sid") == sid:
                statement.update(fields)

    return change


ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"

# Knobs that config cannot turn off are guarded against code regressions: the same policies, fed a
# declared site with one safety taken out.
BAD_DECLARATIONS = [
    ("encryption", "bucket-encryption-removed", _drop(SSE)),
    (
        "encryption",
        "bucket-encryption-none",
        _edit(SSE, lambda i: i["rules"][0]["applyServerSideEncryptionByDefault"].update(sseAlgorithm="NONE")),
    ),
    (
        "encryption",
        "table-encryption-off",
        _edit("aws:dynamodb/table:Table", lambda i: i.update(serverSideEncryption={"enabled": False})),
    ),
    ("public-access", "public-policy-allowed", _edit(PAB, lambda i: i.update(blockPublicPolicy=False))),
    ("tls-only", "bucket-policy-removed", _drop("aws:s3/bucketPolicy:BucketPolicy")),
    ("tls-only", "objects-left-out", _edit("aws:s3/bucketPolicy:BucketPolicy", lambda i: i.update(
        policy=i["policy"].replace('/*"', '"')))),
    ("public-access", "public-access-block-removed", _drop(PAB)),
    (
        "versioning",
        "versioning-suspended",
        _edit(
            "aws:s3/bucketVersioning:BucketVersioning",
            lambda i: i.update(versioningConfiguration={"status": "Suspended"}),
        ),
    ),
    ("tags", "vpc-untagged", _edit("aws:ec2/vpc:Vpc", lambda i: i.pop("tags"))),
    (
        "tags",
        "asg-wrong-site",
        _edit("aws:autoscaling/group:Group", lambda i: i.update(tags=[{"key": "site", "value": "other"}])),
    ),
    (
        "ingress",
        "open-rule-resource",
        _add(
            Resource(
                "aws:ec2/securityGroupRule:SecurityGroupRule",
                "ssh-anywhere",
                {
                    "type": "ingress",
                    "protocol": "tcp",
                    "fromPort": 22,
                    "toPort": 22,
                    "cidrBlocks": ["0.0.0.0/0"],
                },
            )
        ),
    ),
    ("seats", "seat-group-renamed", _edit("aws:autoscaling/group:Group", lambda i: i.update(name="other"))),
    ("link-session", "orchestrator-session-shorter-than-the-links",
     _edit(ROLE, lambda i: i.update(maxSessionDuration=3600) if "orchestrator" in str(i.get("name")) else None)),
    ("link-session", "orchestrator-role-not-declared", _edit(ROLE, lambda i: i.update(name="someone-else"))),
    ("iam-actions", "action-star", _iam_edit(ROLE_POLICY, "policy", _statement("Notify", Action="*"))),
    ("iam-actions", "service-star",
     _iam_edit(ROLE_POLICY, "policy", _statement("NotifyRead", Action=["sns:*"]), role="readiness")),
    ("iam-actions", "not-action", _iam_edit(ROLE_POLICY, "policy", lambda d: d["Statement"].append(
        {"Sid": "Everything", "Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::x"}))),
    ("iam-resources", "resource-star-on-a-scopable-action",
     _iam_edit(ROLE_POLICY, "policy", _statement("DnsRecords", Resource="*"))),
    ("iam-resources", "scopable-action-added-to-the-unscopable-statement",
     _iam_edit(ROLE_POLICY, "policy", lambda d: d["Statement"][3]["Action"].append("s3:GetObject"))),
    ("iam-principals", "principal-star", _iam_edit(ROLE, "assumeRolePolicy", _statement("Operators", Principal="*"))),
    ("iam-principals", "aws-star",
     _iam_edit(ROLE, "assumeRolePolicy", _statement("Operators", Principal={"AWS": ["*"]}), role="readiness")),
    # issue 23 #15: a condition that lets a whole account (or every role of it) assume the role
    ("iam-principals", "principal-arn-account-wildcard", _iam_edit(ROLE, "assumeRolePolicy", _statement(
        "Operators", Condition={"ArnLike": {"aws:PrincipalArn": ["arn:aws:iam::123456789012:*"]}}))),
    ("iam-principals", "principal-arn-every-role", _iam_edit(ROLE, "assumeRolePolicy", _statement(
        "Operators", Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/*"}}),
        role="readiness")),
    ("iam-principals", "principal-arn-name-prefix", _iam_edit(ROLE, "assumeRolePolicy", _statement(
        "Operators", Condition={"StringLike": {"aws:PrincipalArn": ["arn:aws:iam::123456789012:role/dr-?perator"]}}))),
    ("iam-principals", "account-root-without-principal-arn", _iam_edit(ROLE, "assumeRolePolicy", _statement(
        "Operators", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}))),
    ("iam-principals", "github-subject-wildcard", _iam_edit(ROLE, "assumeRolePolicy", _statement(
        "GitHubActions", Condition={"StringLike": {"token.actions.githubusercontent.com:sub": "repo:example-org/*",
                                                   "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}))),
    ("iam-trust", "trust-without-condition",
     _iam_edit(ROLE, "assumeRolePolicy", lambda d: d["Statement"][0].pop("Condition"))),
    ("iam-trust", "github-trust-without-condition",
     _iam_edit(ROLE, "assumeRolePolicy", _statement("GitHubActions", Condition={}))),
    ("queue-encryption", "work-queue-unencrypted",
     _add(Resource("aws:sqs/queue:Queue", "plain-queue", {"name": "plain-queue", "tags": {}}))),
    ("queue-encryption", "work-queue-sse-off",
     _add(Resource("aws:sqs/queue:Queue", "sse-off", {"name": "sse-off", "sqsManagedSseEnabled": False, "tags": {}}))),
    ("evidence-lock", "object-locked-bucket-in-governance-mode",
     lambda resources: [*resources,
                        Resource("aws:s3/bucket:Bucket", "kept-bucket", {"bucket": "kept", "objectLockEnabled": True}),
                        Resource(OBJECT_LOCK, "kept-object-lock", {"bucket": "kept", "rule": {
                            "defaultRetention": {"mode": "GOVERNANCE", "days": 30}}})]),
    ("connect-hours", "announcement-hours-never-open",
     _add(Resource("aws:connect/hoursOfOperation:HoursOfOperation", "never-open",
                   {"instanceId": "i-1", "timeZone": "UTC", "configs": [], "tags": {}}))),
]


@pytest.mark.parametrize(
    ("policy", "mutate"),
    [(p, m) for p, _, m in BAD_DECLARATIONS],
    ids=[f"{p}:{name}" for p, name, _ in BAD_DECLARATIONS],
)
def test_policy_fails_on_a_bad_declaration(good_site, policy, mutate):
    """Each safety removed from the declared resources is caught by its policy."""
    config, outputs, resources = good_site
    violations = check(deployment_of(config, outputs, mutate(list(resources))), only=[policy])
    assert violations, f"policy {policy!r} let a bad declaration through"
    assert {v.policy for v in violations} == {policy}


def test_secret_values_in_outputs_are_caught_even_without_key_markers(good_site):
    """A known secret value anywhere in the outputs is a violation, whatever it looks like."""
    _, outputs, resources = good_site
    leaked = copy.deepcopy(outputs)
    leaked["notify"]["note"] = "hunter2-secret-token"
    dep = Deployment(resources, leaked, secret_values=["hunter2-secret-token"])
    assert [v.policy for v in check(dep, only=["secrets"])] == ["secrets"]


def test_every_policy_has_a_failing_case():
    """No policy goes untested: each one appears in a bad config or a bad declaration."""
    covered = {p for p, _, _ in BAD_CONFIGS} | {p for p, _, _ in BAD_DECLARATIONS}
    assert covered == set(POLICIES)


def test_policies_accept_plain_tuples(good_site):
    """The policies take plain (type, name, inputs) tuples, e.g. a recording of another deployment."""
    config, outputs, resources = good_site
    tuples = [(r.type, r.name, dict(r.inputs)) for r in resources if r.type != PAB]
    dep = Deployment.of(tuples, outputs, primary_cidrs=config["network"]["primary_cidrs"])
    # both buckets (restore, status page) lost their public access block: one violation each
    assert sorted((v.policy, v.resource) for v in check(dep)) == [
        ("public-access", "cc-dr-test-restore-bucket"), ("public-access", "cc-dr-test-status-page-bucket")]


def test_the_pack_serves_exactly_the_rules_checked_here(monkeypatch):
    """stacks/policy/__main__.py (what the Pulumi CLI runs) serves the very policy objects CI runs, mandatory."""
    import pulumi_policy

    from stacks.policy import rules
    from stacks.testing.mocks import PROJECT_DIR

    served = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kw: served.update(kw))
    runpy.run_path(str(PROJECT_DIR / "policy" / "__main__.py"), run_name="__main__")
    assert served["policies"] == rules.POLICIES and served["enforcement_level"] is EnforcementLevel.MANDATORY
    assert {p.name for p in served["policies"]} == set(POLICIES)
    stack_rules = {p.name for p in served["policies"] if isinstance(p, StackValidationPolicy)}
    resource_rules = {"ingress", "connect-flow-logs", "iam-actions", "iam-resources", "iam-principals", "iam-trust",
                      "queue-encryption"}
    assert {p.name for p in served["policies"]} - stack_rules == resource_rules


def test_pulumi_policy_yaml_runs_the_pack_in_the_projects_venv():
    """PulumiPolicy.yaml declares a Python pack whose virtualenv is the repository's .venv (where `stacks` is)."""
    from stacks.testing.mocks import PROJECT_DIR

    manifest = yaml.safe_load((PROJECT_DIR / "policy" / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    venv = (PROJECT_DIR / "policy" / manifest["runtime"]["options"]["virtualenv"]).resolve()
    assert venv == PROJECT_DIR.parent / ".venv"


def test_rules_needing_the_site_file_are_not_applicable_without_outputs(good_site):
    """A preview has no stack outputs: the site-file, seats and secrets rules say so instead of passing."""
    _, _, resources = good_site
    found = check(Deployment(resources, {}), only=["site-file", "seats", "secrets"])
    assert [(v.policy, v.message.split(":")[0]) for v in found] == [
        ("site-file", "not applicable"), ("seats", "not applicable"), ("secrets", "not applicable")]


def test_bucket_rules_follow_pulumis_property_dependencies():
    """With the engine's property dependencies (a preview, the bucket name not known yet), the encryption rule
    joins the configuration to its bucket through them, not through the name."""
    from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, StackValidationArgs

    from stacks.policy.rules import BUCKET_ENCRYPTION, validate_encryption

    opts = PolicyResourceOptions(False, [], False, [], PolicyCustomTimeouts(0, 0, 0), [])

    def resource(type_: str, name: str, props: dict, deps: dict | None = None) -> PolicyResource:
        return PolicyResource(type_, props, f"urn:{name}", name, opts, None, None, [], deps or {})

    bucket = resource("aws:s3/bucket:Bucket", "restore", {"bucket": "restore-bucket"})
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    linked = resource(BUCKET_ENCRYPTION, "sse", {"bucket": None, "rules": rules}, {"bucket": [bucket]})
    unlinked = resource(BUCKET_ENCRYPTION, "sse", {"bucket": None, "rules": rules})
    for sse, expected in ((linked, []), (unlinked, ["urn:restore"])):
        reported: list = []
        validate_encryption(StackValidationArgs([bucket, sse]), lambda msg, urn=None, out=reported: out.append(urn))
        assert reported == expected


def test_tags_without_outputs_require_one_site_everywhere(good_site):
    """In a preview (no site file yet) the tags rule still holds every resource to one, non-empty site tag."""
    _, _, resources = good_site
    assert check(Deployment(resources, {}), only=["tags"]) == []
    other = _edit("aws:ec2/vpc:Vpc", lambda i: i["tags"].update(site="another-site"))(list(resources))
    found = check(Deployment(other, {}), only=["tags"])
    assert [v.resource for v in found] == [r.name for r in resources if r.type == "aws:ec2/vpc:Vpc"]


# -- the status-page bucket (issue 15): covered by the same bucket rules as the restore bucket -----------------

STATUS_PAGE = "status-page"


def _status_page_only(type_: str, change: Callable[[dict], None]) -> Callable[[list[Resource]], list[Resource]]:
    """Edit (``change``) or, with change=None, drop the status page's resource of ``type_``; nothing else."""

    def mutate(resources: list[Resource]) -> list[Resource]:
        out = []
        for r in resources:
            inputs = copy.deepcopy(dict(r.inputs))
            if r.type == type_ and STATUS_PAGE in r.name:
                change(inputs)
            out.append(Resource(r.type, r.name, inputs))
        return out

    return mutate


def test_the_status_page_bucket_is_declared_and_passes_the_bucket_rules(good_site):
    """The good site declares a status-page bucket with its own versioning, encryption, public access block
    and TLS-only policy, and the bucket rules find nothing to report on it."""
    config, outputs, resources = good_site
    buckets = [r for r in resources if r.type == "aws:s3/bucket:Bucket" and STATUS_PAGE in r.name]
    assert [b.inputs["bucket"] for b in buckets] == ["cc-dr-test-status"]
    for kind in ("bucketVersioning", "bucketServerSideEncryptionConfiguration", "bucketPublicAccessBlock",
                 "bucketPolicy"):
        assert any(STATUS_PAGE in r.name and f"/{kind}:" in r.type for r in resources), kind
    assert check(deployment_of(config, outputs, resources),
                 only=["encryption", "versioning", "public-access", "tls-only"]) == []


STATUS_PAGE_BREAKS = [
    ("tls-only", "status-page-without-tls-policy",
     lambda resources: [r for r in resources
                        if not (r.type == "aws:s3/bucketPolicy:BucketPolicy" and STATUS_PAGE in r.name)]),
    ("tls-only", "status-page-policy-allowing-plain-http",
     _status_page_only("aws:s3/bucketPolicy:BucketPolicy", lambda i: i.update(policy=json.dumps(
         {"Statement": [{**json.loads(i["policy"])["Statement"][0], "Effect": "Allow"}]})))),
    ("public-access", "status-page-public",
     _status_page_only("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                       lambda i: i.update(blockPublicPolicy=False, restrictPublicBuckets=False))),
    ("encryption", "status-page-unencrypted",
     _status_page_only("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                       lambda i: i.update(rules=[]))),
    ("versioning", "status-page-unversioned",
     _status_page_only("aws:s3/bucketVersioning:BucketVersioning",
                       lambda i: i.update(versioningConfiguration={"status": "Suspended"}))),
]


@pytest.mark.parametrize(("policy", "mutate"), [(p, m) for p, _, m in STATUS_PAGE_BREAKS],
                         ids=[name for _, name, _ in STATUS_PAGE_BREAKS])
def test_a_public_or_unencrypted_status_page_bucket_fails(good_site, policy, mutate):
    """A status-page bucket made public, unencrypted, unversioned or reachable over plain HTTP is reported,
    naming that bucket."""
    config, outputs, resources = good_site
    violations = check(deployment_of(config, outputs, mutate(list(resources))), only=[policy])
    assert violations and all(STATUS_PAGE in v.message for v in violations), violations


# -- the evidence bucket (contract 1.2) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def evidence_site() -> tuple[dict, dict, list[Resource]]:
    config = good_config()
    config["evidence"] = {"bucket": "cc-dr-test-evidence", "retention_days": 30}
    outputs, mocks = declare(config)
    return config, outputs, mocks.resources


def test_the_evidence_bucket_is_object_locked_in_compliance_mode_and_passes_every_policy(evidence_site):
    """The site with an evidence bucket: Object Lock at creation, COMPLIANCE default retention, the bucket rules
    of every bucket, the site file's ``evidence`` key; the orchestrator role may put objects and their retention
    and read them, never delete."""
    config, outputs, resources = evidence_site
    assert check(deployment_of(config, outputs, resources)) == []
    assert outputs["evidence"] == {"bucket": "cc-dr-test-evidence", "retention_days": 30}
    (bucket,) = [r for r in resources if r.type == "aws:s3/bucket:Bucket" and "evidence" in r.name]
    assert bucket.inputs["objectLockEnabled"] is True
    (lock,) = [r for r in resources if r.type == OBJECT_LOCK]
    assert lock.inputs["rule"]["defaultRetention"]["mode"] == "COMPLIANCE"
    (policy,) = [r for r in resources if r.type == ROLE_POLICY and "orchestrator" in str(r.inputs.get("name"))]
    actions = {a for st in json.loads(policy.inputs["policy"])["Statement"] if st["Sid"].startswith("Evidence")
               for a in st["Action"]}
    assert actions == {"s3:ListBucket", "s3:PutObject", "s3:PutObjectRetention", "s3:GetObject",
                       "s3:GetObjectRetention"}


EVIDENCE_BREAKS = [
    ("governance-mode", _edit(OBJECT_LOCK, lambda i: i["rule"]["defaultRetention"].update(mode="GOVERNANCE"))),
    ("no-lock-configuration", _drop(OBJECT_LOCK)),
    ("lock-not-enabled", lambda resources: [
        Resource(r.type, r.name, {**r.inputs, "objectLockEnabled": False}) if "evidence-bucket" in r.name else r
        for r in resources]),
    ("role-may-delete-evidence", _iam_edit(ROLE_POLICY, "policy", _statement(
        "EvidenceObjects", Action=["s3:PutObject", "s3:DeleteObjectVersion"]))),
    ("role-may-bypass-retention", _iam_edit(ROLE_POLICY, "policy", _statement(
        "EvidenceObjects", Action=["s3:PutObject", "s3:Bypass*"]))),
]


@pytest.mark.parametrize("mutate", [m for _, m in EVIDENCE_BREAKS], ids=[n for n, _ in EVIDENCE_BREAKS])
def test_an_evidence_bucket_that_could_lose_evidence_fails(evidence_site, mutate):
    config, outputs, resources = evidence_site
    violations = check(deployment_of(config, outputs, mutate(list(resources))), only=["evidence-lock"])
    assert violations and all("evidence" in v.message for v in violations), violations
