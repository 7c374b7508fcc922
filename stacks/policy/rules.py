"""The warm site's rules as Pulumi CrossGuard policies: the mistakes a review should never let through.

One policy per rule. ``pulumi preview --policy-pack stacks/policy`` runs them through the Pulumi CLI
(``make preview`` does); ``stacks.testing.policies.check`` runs the very same policy objects in-process on
what the program declared under Pulumi's mocks or on what was deployed into moto.

What each kind of policy sees (Pulumi's rules): a ``ResourceValidationPolicy`` gets one resource's inputs
before it is created; a ``StackValidationPolicy`` gets every resource's outputs at the end, including the
root ``pulumi:pulumi:Stack`` resource whose outputs are the stack outputs -- the site file. Rules joining
resources (a bucket and its encryption) or reading the site file are therefore stack policies. During a
preview a value not known yet makes Pulumi report the policy as not runnable (advisory), and a preview
has no stack outputs: the site-file, seats and secrets rules say "not applicable" then.

Pulumi mocks and previews accept any value (``cidr_block="not-a-cidr"``), so every rule checks values.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from stacks.warm_site.access import UNSCOPABLE_ACTIONS
from stacks.warm_site.principals import WILDCARDS, is_account_root, principal_arn_problem

STACK = "pulumi:pulumi:Stack"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ASG = "aws:autoscaling/group:Group"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
TABLE = "aws:dynamodb/table:Table"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"  # noqa: S105 (a type token)
VPN_ROUTE = "aws:ec2/vpnConnectionRoute:VpnConnectionRoute"
ROLE = "aws:iam/role:Role"
CONNECT_INSTANCE = "aws:connect/instance:Instance"
CONNECT_HOURS = "aws:connect/hoursOfOperation:HoursOfOperation"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
QUEUE = "aws:sqs/queue:Queue"

#: what no identity policy may allow on the evidence bucket: its copies must outlive any credentials
EVIDENCE_FORBIDDEN = ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention",
                      "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning", "s3:DeleteBucket",
                      "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy")
#: resources whose ``policy`` input is an identity policy (what a principal may do)
IDENTITY_POLICY_TYPES = frozenset({ROLE_POLICY, "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy",
                                   "aws:iam/groupPolicy:GroupPolicy"})

# AWS resources that cannot carry tags. Everything else from the aws provider must be tagged: a new
# resource type is tagged-by-default-required, so forgetting tags on it fails CI.
UNTAGGABLE = frozenset(
    {
        "aws:ec2/route:Route",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        VPN_ROUTE,
        "aws:ec2/vpnGatewayAttachment:VpnGatewayAttachment",
        "aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation",
        SECRET_VERSION,
        BUCKET_VERSIONING,
        BUCKET_ENCRYPTION,
        BUCKET_PUBLIC_ACCESS,
        BUCKET_POLICY,
        BUCKET_OBJECT_LOCK,
        "aws:route53/record:Record",
        SECURITY_GROUP_RULE,
        ROLE_POLICY,
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
        "aws:autoscaling/policy:Policy",  # a scaling policy has no tags in AWS (the restore workers' fleet)
    }
)
GOOD_SSE = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
PUBLIC_ACCESS_SWITCHES = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PRIVATE_KEY_MARKERS = ("PRIVATE KEY-----", "PuTTY-User-Key-File")


# -- helpers ------------------------------------------------------------------------------------------------


def of_type(resources: Iterable[PolicyResource], type_: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == type_]


def stack_outputs(args: StackValidationArgs) -> Mapping[str, Any] | None:
    """The stack outputs (the root stack resource's outputs), or None when there are none (a preview)."""
    for root in of_type(args.resources, STACK):
        if root.props:
            return root.props
    return None


def _bucket_name(bucket: PolicyResource) -> Any:
    # A bucket's id is its name, and the other S3 resources reference it by id.
    return bucket.props.get("bucket") or bucket.name


def attached(resources: Sequence[PolicyResource], type_: str, bucket: PolicyResource) -> list[PolicyResource]:
    """The ``type_`` resources configuring ``bucket``: by Pulumi's recorded dependency of their ``bucket``
    property when the engine gives it, else by the bucket name they hold."""
    name = _bucket_name(bucket)
    found = []
    for resource in of_type(resources, type_):
        depends = resource.property_dependencies.get("bucket") or []
        if any(d is bucket for d in depends) or (not depends and resource.props.get("bucket") == name):
            found.append(resource)
    return found


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value, strict=True)
    except (TypeError, ValueError):
        return None


def _tags_of(resource: PolicyResource) -> dict[str, Any]:
    tags = resource.props.get("tags") or {}
    if isinstance(tags, list):  # Auto Scaling groups: [{key, value, propagateAtLaunch}]
        return {t.get("key"): t.get("value") for t in tags}
    return dict(tags)


# -- encryption, versioning, public access ------------------------------------------------------------------


def validate_encryption(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every bucket has default encryption with a real algorithm; every DynamoDB table asks for SSE."""
    for bucket in of_type(args.resources, BUCKET):
        found = [
            (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
            for config in attached(args.resources, BUCKET_ENCRYPTION, bucket)
            for rule in config.props.get("rules") or []
        ]
        if not found or not all(alg in GOOD_SSE for alg in found):
            report(f"{bucket.name}: no default encryption (found {found!r})", bucket.urn)
    for table in of_type(args.resources, TABLE):
        if not (table.props.get("serverSideEncryption") or {}).get("enabled"):
            report(f"{table.name}: serverSideEncryption.enabled is not true", table.urn)


def validate_versioning(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every bucket keeps versions (a bad restore must not destroy a good one)."""
    for bucket in of_type(args.resources, BUCKET):
        statuses = [
            (v.props.get("versioningConfiguration") or {}).get("status")
            for v in attached(args.resources, BUCKET_VERSIONING, bucket)
        ]
        if "Enabled" not in statuses:
            report(f"{bucket.name}: versioning is not enabled", bucket.urn)


def validate_public_access(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every bucket has a public access block with all four switches on."""
    for bucket in of_type(args.resources, BUCKET):
        blocks = attached(args.resources, BUCKET_PUBLIC_ACCESS, bucket)
        block = blocks[-1].props if blocks else {}
        off = [switch for switch in PUBLIC_ACCESS_SWITCHES if block.get(switch) is not True]
        if off:
            report(f"{bucket.name}: public access not blocked: {', '.join(off)}", bucket.urn)


def _denies_plain_http(statement: Mapping[str, Any]) -> bool:
    """A statement denying every S3 action to everyone when the request is not over TLS."""
    condition = (statement.get("Condition") or {}).get("Bool") or {}
    return (
        statement.get("Effect") == "Deny"
        and any(str(v) == "*" for v in _principal_values(statement.get("Principal")))
        and "s3:*" in _as_list(statement.get("Action"))
        and str(condition.get("aws:SecureTransport")).lower() == "false"
    )


def validate_tls_only(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every bucket's policy denies every request not made over TLS, on the bucket and on its objects."""
    for bucket in of_type(args.resources, BUCKET):
        denied: set[str] = set()
        for policy in attached(args.resources, BUCKET_POLICY, bucket):
            for statement in _statements(_document(policy.props.get("policy"))):
                if _denies_plain_http(statement):
                    denied.update("objects" if str(r).endswith("/*") else "bucket"
                                  for r in _as_list(statement.get("Resource")))
        missing = sorted({"bucket", "objects"} - denied)
        if missing:
            report(f"{bucket.name}: requests without TLS are not denied on its {' and '.join(missing)}", bucket.urn)


# -- ingress ------------------------------------------------------------------------------------------------


def _ingress_sources(args: ResourceValidationArgs) -> Iterator[Any]:
    props = args.props
    if args.resource_type == SECURITY_GROUP:
        for rule in props.get("ingress") or []:
            yield from [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])]
    elif args.resource_type == SECURITY_GROUP_RULE and props.get("type") == "ingress":
        yield from [*(props.get("cidrBlocks") or []), *(props.get("ipv6CidrBlocks") or [])]
    elif args.resource_type == INGRESS_RULE:
        yield from [props.get("cidrIpv4"), props.get("cidrIpv6")]


def validate_ingress(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No security group admits traffic from the whole internet (0.0.0.0/0 or ::/0)."""
    for source in _ingress_sources(args):
        net = _network(source) if source else None
        if net is not None and net.prefixlen == 0:
            report(f"{args.name}: ingress open to {source}", None)


# -- tags ---------------------------------------------------------------------------------------------------


def validate_tags(args: StackValidationArgs, report: ReportViolation) -> None:
    """Every taggable AWS resource carries ``site`` and a non-empty ``owner`` (= the config's ``owner`` when
    given). The site is the site file's, else the config's ``site``, else (a preview) the one most resources
    carry: a resource tagged for another site stands out."""
    config = args.get_config()
    outputs = stack_outputs(args) or {}
    taggable = [r for r in args.resources if r.resource_type.startswith("aws:") and r.resource_type not in UNTAGGABLE]
    carried = Counter(_tags_of(r).get("site") for r in taggable if _tags_of(r).get("site"))
    site = outputs.get("site") or config.get("site") or next(iter(carried.most_common(1)), (None, 0))[0]
    owner = config.get("owner")
    for resource in taggable:
        tags = _tags_of(resource)
        wrong_site = not tags.get("site") or tags.get("site") != site
        wrong_owner = not tags.get("owner") or (owner and tags["owner"] != owner)
        if wrong_site or wrong_owner:
            report(f"{resource.name}: needs site={site!r} and owner tags, has {tags!r}", resource.urn)


# -- seats --------------------------------------------------------------------------------------------------


def validate_seats(args: StackValidationArgs, report: ReportViolation) -> None:
    """The seat group can reach the target (warm <= target <= max) and is created at its warm size."""
    outputs = stack_outputs(args)
    if outputs is None:
        args.not_applicable("no stack outputs yet (a preview): the site file names the seats' sizes")
    seats = outputs.get("seats") or {}
    warm, target, name = seats.get("warm", 0), seats.get("target", 0), seats.get("asg_name")
    if warm > target:
        report(f"{name}: warm {warm} > target {target}", None)
    groups = [g for g in of_type(args.resources, ASG) if g.props.get("name") == name]
    for group in groups:
        size = {k: group.props.get(k) for k in ("minSize", "maxSize", "desiredCapacity")}
        if not isinstance(size["maxSize"], int | float) or size["maxSize"] < target:
            report(f"{group.name}: maxSize {size['maxSize']} < target {target}", group.urn)
        if size["desiredCapacity"] != warm or (size["minSize"] or 0) > warm:
            report(f"{group.name}: not created at warm size {warm}: {size}", group.urn)
    if not groups:
        report(f"{name}: the site file names no declared group", None)


# -- cidrs --------------------------------------------------------------------------------------------------


def _primary_networks(args: StackValidationArgs, report: ReportViolation) -> list[Any]:
    """The primary site's CIDRs: the VPN's static routes (what the stack routes to the primary) and the
    config's ``primary_cidrs``; each must parse."""
    sources = [r.props.get("destinationCidrBlock") for r in of_type(args.resources, VPN_ROUTE)]
    sources += list(args.get_config().get("primary_cidrs") or [])
    networks = []
    for cidr in dict.fromkeys(sources):
        net = _network(cidr)
        if net is None:
            report(f"primary: {cidr!r} is not a CIDR", None)
        else:
            networks.append(net)
    return networks


def validate_cidrs(args: StackValidationArgs, report: ReportViolation) -> None:
    """CIDRs parse; subnets sit inside the VPC without overlap; nothing overlaps the primary site."""
    primary = _primary_networks(args, report)
    vpcs = []
    for vpc in of_type(args.resources, VPC):
        net = _network(vpc.props.get("cidrBlock"))
        if net is None:
            report(f"{vpc.name}: {vpc.props.get('cidrBlock')!r} is not a CIDR", vpc.urn)
            continue
        vpcs.append(net)
        for p in primary:
            if net.overlaps(p):
                report(f"{vpc.name}: {net} overlaps the primary's {p}", vpc.urn)
    seen: list[Any] = []
    for subnet in of_type(args.resources, SUBNET):
        net = _network(subnet.props.get("cidrBlock"))
        if net is None:
            report(f"{subnet.name}: {subnet.props.get('cidrBlock')!r} is not a CIDR", subnet.urn)
            continue
        if not any(net.version == v.version and net.subnet_of(v) for v in vpcs):
            report(f"{subnet.name}: {net} is outside the VPC", subnet.urn)
        for other, what in [*((o, "subnet") for o in seen), *((p, "the primary's") for p in primary)]:
            if net.overlaps(other):
                report(f"{subnet.name}: {net} overlaps {what} {other}", subnet.urn)
        seen.append(net)


# -- the site file ------------------------------------------------------------------------------------------


def validate_site_file(args: StackValidationArgs, report: ReportViolation) -> None:
    """The stack outputs validate as a site file (contract schema 1)."""
    from orchestrator.errors import InvalidInput
    from orchestrator.site import parse_site

    outputs = stack_outputs(args)
    if outputs is None:
        args.not_applicable("no stack outputs yet (a preview)")
    try:
        parse_site(json.loads(json.dumps(outputs, default=str)), source="stack outputs")
    except InvalidInput as exc:
        report(str(exc), None)


def validate_no_secret_in_outputs(args: StackValidationArgs, report: ReportViolation) -> None:
    """No private key is in the outputs: neither a value the stack stores as a secret (or the config's
    ``secret_values``) nor anything shaped like a key."""
    outputs = stack_outputs(args)
    if outputs is None:
        args.not_applicable("no stack outputs yet (a preview)")
    text = json.dumps(outputs, default=str)
    stored = [v.props.get("secretString") for v in of_type(args.resources, SECRET_VERSION)]
    known = [*list(args.get_config().get("secret_values") or []), *stored]
    for number, value in enumerate(known):
        if isinstance(value, str) and value.strip() and value.strip() in text:
            report(f"outputs contain a secret value (secret #{number})", None)
    for marker in PRIVATE_KEY_MARKERS:
        if marker in text:
            report(f"outputs contain {marker!r}", None)


def validate_link_session(args: StackValidationArgs, report: ReportViolation) -> None:
    """A status page's presigned links are signed by the orchestrator role's session and die with it: that
    role's MaxSessionDuration is at least the site file's ``link_expiry_seconds``."""
    outputs = stack_outputs(args)
    if outputs is None:
        args.not_applicable("no stack outputs yet (a preview): the site file names the link expiry and the role")
    page = (outputs.get("notify") or {}).get("status_page") or {}
    role_arn = (outputs.get("access") or {}).get("orchestrator_role_arn")
    if not page or not role_arn:
        args.not_applicable("no status page, or no roles declared by the stack")
    expiry = page.get("link_expiry_seconds", 43200)
    name = str(role_arn).rsplit("/", 1)[-1]
    roles = [r for r in of_type(args.resources, ROLE) if r.props.get("name") == name or r.props.get("arn") == role_arn]
    if not roles:
        report(f"{name}: the site file's orchestrator role is not declared", None)
    for role in roles:
        duration = role.props.get("maxSessionDuration") or 3600
        if not isinstance(duration, int | float) or duration < expiry:
            report(f"{role.name}: maxSessionDuration {duration} s is shorter than the status page's "
                   f"link_expiry_seconds {expiry}: its links would die with the session", role.urn)


# -- Amazon Connect -----------------------------------------------------------------------------------------


def _connect_of(args: StackValidationArgs) -> Mapping[str, Any] | None:
    """The site file's ``connect`` key; not applicable without stack outputs (a preview)."""
    outputs = stack_outputs(args)
    if outputs is None:
        args.not_applicable("no stack outputs yet (a preview): the site file names the Connect settings")
    return outputs.get("connect") or None


def validate_connect_flow_logs(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A Connect instance the stack creates logs its contact flows: the record of what callers heard (the
    outage announcement) and where they went during an incident."""
    if args.resource_type == CONNECT_INSTANCE and args.props.get("contactFlowLogsEnabled") is not True:
        report(f"{args.name}: contactFlowLogsEnabled is not true", None)


def validate_connect_regions(args: StackValidationArgs, report: ReportViolation) -> None:
    """The Connect pair is two Regions, and the traffic goes where the warm site is: the secondary Region
    is the site's region (the seats and the restored data the agents need are there)."""
    connect = _connect_of(args)
    if connect is None:
        return
    primary, secondary = connect.get("primary_region"), connect.get("secondary_region")
    if primary == secondary:
        report(f"connect: primary_region and secondary_region are both {primary!r}", None)
    region = (stack_outputs(args) or {}).get("region")
    if secondary != region:
        report(f"connect: secondary_region {secondary!r} is not the warm site's region {region!r}", None)


def validate_connect_agent_gate(args: StackValidationArgs, report: ReportViolation) -> None:
    """A minimum of available agents, or queue thresholds (``shift_guard``), names the queues that count:
    without them the gates between traffic shift steps would read no metric (and the role would grant no
    queue)."""
    connect = _connect_of(args)
    if connect and (connect.get("min_agents_available") or 0) > 0 and not connect.get("queue_ids"):
        report(f"connect: min_agents_available is {connect['min_agents_available']} but queue_ids is empty", None)
    if connect and connect.get("shift_guard") and not connect.get("queue_ids"):
        report("connect: shift_guard watches queues but queue_ids is empty", None)


def _period_problem(config: Mapping[str, Any]) -> str | None:
    for end in ("startTime", "endTime"):
        time = config.get(end) or {}
        hours, minutes = time.get("hours"), time.get("minutes")
        if not (isinstance(hours, int | float) and 0 <= hours <= 23 and isinstance(minutes, int | float)
                and 0 <= minutes <= 59):
            return f"{config.get('day')}: {end} {time!r} is not a time of day"
    return None


def validate_connect_hours(args: StackValidationArgs, report: ReportViolation) -> None:
    """The hours of operation the announcement's override is based on are on the site's Connect instance,
    in a time zone, open at least once a week, every period a real time of day."""
    connect = _connect_of(args) or {}
    for hours in of_type(args.resources, CONNECT_HOURS):
        props = hours.props
        if connect.get("instance_id") and props.get("instanceId") != connect["instance_id"]:
            report(f"{hours.name}: on instance {props.get('instanceId')!r}, not the site's "
                   f"{connect['instance_id']!r}", hours.urn)
        if not props.get("timeZone"):
            report(f"{hours.name}: no timeZone", hours.urn)
        configs = props.get("configs") or []
        if not configs:
            report(f"{hours.name}: never open (no configs): the flow would always announce", hours.urn)
        for problem in filter(None, map(_period_problem, configs)):
            report(f"{hours.name}: {problem}", hours.urn)


# -- IAM ----------------------------------------------------------------------------------------------------


def _document(value: Any) -> dict[str, Any] | None:
    """A policy document from a resource input (a JSON string or an object); None when not known yet."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Sid": "<not JSON>"}]}
    return value if isinstance(value, dict) else None


def _statements(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not document:
        return []
    statements = document.get("Statement") or []
    return [statements] if isinstance(statements, dict) else [s for s in statements if isinstance(s, dict)]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _identity_documents(args: ResourceValidationArgs) -> list[dict[str, Any]]:
    """The identity policies a resource declares: its ``policy``, or a role's ``inlinePolicies``."""
    props = args.props
    if args.resource_type in IDENTITY_POLICY_TYPES:
        return [d for d in [_document(props.get("policy"))] if d]
    if args.resource_type == ROLE:
        return [d for d in (_document(p.get("policy")) for p in props.get("inlinePolicies") or []) if d]
    return []


def _where(args: ResourceValidationArgs, statement: Mapping[str, Any]) -> str:
    return f"{args.name}: statement {statement.get('Sid') or '(no Sid)'}"


def validate_iam_actions(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No identity policy allows every action (``*``) or every action of a service (``s3:*``), nor uses
    ``NotAction`` (which allows everything not listed)."""
    for document in _identity_documents(args):
        for statement in _statements(document):
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement:
                report(f"{_where(args, statement)}: NotAction allows everything it does not list", None)
            for action in _as_list(statement.get("Action")):
                if action == "*" or str(action).endswith(":*"):
                    report(f"{_where(args, statement)}: Action {action!r} allows every action", None)


def validate_iam_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No identity policy allows ``Resource: "*"`` (or ``NotResource``), except for the actions AWS cannot
    scope to a resource (``UNSCOPABLE_ACTIONS``)."""
    for document in _identity_documents(args):
        for statement in _statements(document):
            if statement.get("Effect") != "Allow":
                continue
            if "NotResource" in statement:
                report(f"{_where(args, statement)}: NotResource allows every resource it does not list", None)
            if "*" in _as_list(statement.get("Resource")):
                scopable = sorted(set(map(str, _as_list(statement.get("Action")))) - UNSCOPABLE_ACTIONS)
                if scopable:
                    report(f"{_where(args, statement)}: Resource \"*\" for {', '.join(scopable)} "
                           f"(only {', '.join(sorted(UNSCOPABLE_ACTIONS))} cannot be scoped)", None)


def _principal_values(principal: Any) -> list[Any]:
    if isinstance(principal, Mapping):
        return [v for value in principal.values() for v in _as_list(value)]
    return _as_list(principal)


def _trust_statements(args: ResourceValidationArgs) -> list[dict[str, Any]]:
    if args.resource_type != ROLE:
        return []
    return _statements(_document(args.props.get("assumeRolePolicy")))


def validate_iam_principals(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """No policy names a wildcard principal (``"*"``, ``{"AWS": "*"}``, a principal with ``*`` in it), nor lets
    one in through its conditions: a trust statement whose principal is an account (its root) names the
    principals by ``aws:PrincipalArn``, each one full role or user ARN (``arn:aws:iam::ACCOUNT:*`` or
    ``role/*`` there would let the whole account assume the role); GitHub's ``sub`` names one repository and
    branch, no wildcard."""
    statements = _trust_statements(args) + [s for d in _identity_documents(args) for s in _statements(d)]
    for statement in statements:
        for key in ("Principal", "NotPrincipal"):
            if key in statement and any("*" in str(v) for v in _principal_values(statement[key])):
                report(f"{_where(args, statement)}: {key} {statement[key]!r} is a wildcard", None)
    for statement in _trust_statements(args):
        if statement.get("Effect") != "Allow":
            continue
        named = _condition_values(statement, lambda key: key.lower() == "aws:principalarn")
        for arn in named:
            problem = principal_arn_problem(str(arn))
            if problem:
                report(f"{_where(args, statement)}: aws:PrincipalArn {problem}", None)
        principal = statement.get("Principal")
        accounts = [str(v) for v in _as_list(principal.get("AWS") if isinstance(principal, Mapping) else principal)
                    if is_account_root(str(v))]
        if accounts and not named:
            report(f"{_where(args, statement)}: Principal {', '.join(accounts)} with no aws:PrincipalArn condition "
                   "naming the roles or users: every principal of the account could assume it", None)
        for subject in _condition_values(statement, lambda key: key.lower().endswith(":sub")):
            if any(w in str(subject) for w in WILDCARDS):
                report(f"{_where(args, statement)}: OIDC subject {subject!r} has a wildcard (name one repository "
                       "and branch)", None)


def _condition_values(statement: Mapping[str, Any], wanted) -> list[Any]:
    """The values a statement's conditions give the keys ``wanted`` accepts, whatever the operator."""
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return []
    return [value for keys in condition.values() if isinstance(keys, Mapping)
            for key, values in keys.items() if wanted(str(key)) for value in _as_list(values)]


def validate_iam_trust(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Every statement of a role's trust policy that allows assuming it has a condition (which principal
    ARN, which repository and branch), and a role has at least one such statement."""
    statements = _trust_statements(args)
    if args.resource_type == ROLE and args.props.get("assumeRolePolicy") is not None and not statements:
        report(f"{args.name}: the trust policy has no statement", None)
    for statement in statements:
        if statement.get("Effect") == "Allow" and not statement.get("Condition"):
            report(f"{_where(args, statement)}: a trust statement without a Condition", None)


def validate_queue_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """An SQS queue (the restore workers' work and dead-letter queues) is encrypted at rest: SSE-SQS or a KMS
    key (work units name the files of a backup)."""
    if args.resource_type != QUEUE:
        return
    if args.props.get("sqsManagedSseEnabled") is not True and not args.props.get("kmsMasterKeyId"):
        report(f"{args.name}: the queue is not encrypted (sqsManagedSseEnabled or kmsMasterKeyId)", None)


def _evidence_buckets(args: StackValidationArgs) -> list[PolicyResource]:
    """The buckets holding evidence: the one the site file names (``evidence.bucket``), and any bucket with
    Object Lock enabled (it was made to keep things)."""
    named = ((stack_outputs(args) or {}).get("evidence") or {}).get("bucket")
    return [b for b in of_type(args.resources, BUCKET)
            if b.props.get("objectLockEnabled") or (named and _bucket_name(b) == named)]


def _grants(action: Any, forbidden: str) -> bool:
    actions = [a.lower() for a in _as_list(action) if isinstance(a, str)]
    wanted = forbidden.lower()
    return any(a == wanted or (a.endswith("*") and wanted.startswith(a[:-1])) for a in actions)


def validate_evidence_lock(args: StackValidationArgs, report: ReportViolation) -> None:
    """The evidence bucket: Object Lock enabled, a default retention in COMPLIANCE mode (governance mode can be
    bypassed) of at least a day; no identity policy may delete its objects, bypass or change its lock, or
    loosen the bucket (versioning, lifecycle, policy)."""
    for bucket in _evidence_buckets(args):
        if not bucket.props.get("objectLockEnabled"):
            report(f"{bucket.name}: the evidence bucket has no Object Lock (objectLockEnabled is not true)",
                   bucket.urn)
        rules = [(c.props.get("rule") or {}).get("defaultRetention") or {}
                 for c in attached(args.resources, BUCKET_OBJECT_LOCK, bucket)]
        good = [r for r in rules if r.get("mode") == "COMPLIANCE" and ((r.get("days") or 0) >= 1
                                                                      or (r.get("years") or 0) >= 1)]
        if not good:
            report(f"{bucket.name}: no default Object Lock retention in COMPLIANCE mode of a day or more "
                   f"(found {rules!r})", bucket.urn)
        name = _bucket_name(bucket)
        for resource in args.resources:
            for document in _identity_documents(resource):  # type: ignore[arg-type]
                for statement in _statements(document):
                    if statement.get("Effect") != "Allow":
                        continue
                    resources = [r for r in _as_list(statement.get("Resource")) if isinstance(r, str)]
                    if not any(r == "*" or (r.startswith("arn:") and (r.split(":")[-1].split("/")[0] == name))
                               for r in resources):
                        continue
                    for action in EVIDENCE_FORBIDDEN:
                        if _grants(statement.get("Action"), action):
                            report(f"{resource.name}: statement {statement.get('Sid') or '(no Sid)'} allows "
                                   f"{action} on the evidence bucket {name}", resource.urn)


def _strings(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    StackValidationPolicy(name="encryption", description="Buckets and tables are encrypted at rest.",
                          validate=validate_encryption),
    StackValidationPolicy(name="versioning", description="Buckets keep object versions.",
                          validate=validate_versioning),
    StackValidationPolicy(name="public-access", description="Buckets block every kind of public access.",
                          validate=validate_public_access),
    StackValidationPolicy(name="tls-only", description="Buckets refuse every request not made over TLS.",
                          validate=validate_tls_only),
    ResourceValidationPolicy(name="ingress", description="No ingress from 0.0.0.0/0 or ::/0.",
                             validate=validate_ingress),
    StackValidationPolicy(
        name="tags", description="Every taggable resource carries the site and owner tags.",
        validate=validate_tags,
        config_schema=PolicyConfigSchema({"site": {"type": "string"}, "owner": {"type": "string"}})),
    StackValidationPolicy(name="seats", description="warm <= target <= max; the group starts at warm size.",
                          validate=validate_seats),
    StackValidationPolicy(
        name="cidrs", description="CIDRs parse; subnets inside the VPC, disjoint, away from the primary.",
        validate=validate_cidrs,
        config_schema=PolicyConfigSchema({"primary_cidrs": _strings("the primary site's networks")})),
    StackValidationPolicy(name="link-session",
                          description="The orchestrator role's sessions outlive the status page's links.",
                          validate=validate_link_session),
    StackValidationPolicy(name="site-file", description="The stack outputs are a valid site file.",
                          validate=validate_site_file),
    StackValidationPolicy(
        name="secrets", description="No key material in the stack outputs.",
        validate=validate_no_secret_in_outputs,
        config_schema=PolicyConfigSchema({"secret_values": _strings("values that must never be output")})),
    ResourceValidationPolicy(name="connect-flow-logs", description="Connect instances log their contact flows.",
                             validate=validate_connect_flow_logs),
    StackValidationPolicy(name="connect-regions",
                          description="Connect's two Regions differ; the secondary is the warm site's region.",
                          validate=validate_connect_regions),
    StackValidationPolicy(name="connect-agent-gate",
                          description="A minimum of available agents names the queues that count.",
                          validate=validate_connect_agent_gate),
    StackValidationPolicy(name="connect-hours",
                          description="The announcement's hours of operation: site's instance, time zone, open.",
                          validate=validate_connect_hours),
    ResourceValidationPolicy(name="queue-encryption", description="SQS queues are encrypted at rest.",
                             validate=validate_queue_encryption),
    StackValidationPolicy(name="evidence-lock",
                          description="The evidence bucket is Object-Locked (compliance); nobody may delete in it.",
                          validate=validate_evidence_lock),
    ResourceValidationPolicy(name="iam-actions", description="No IAM policy allows * or service:* actions.",
                             validate=validate_iam_actions),
    ResourceValidationPolicy(name="iam-resources",
                             description="No IAM Resource * except for the actions AWS cannot scope.",
                             validate=validate_iam_resources),
    ResourceValidationPolicy(name="iam-principals", description="No wildcard principal in any IAM policy.",
                             validate=validate_iam_principals),
    ResourceValidationPolicy(name="iam-trust", description="Every role trust statement has a condition.",
                             validate=validate_iam_trust),
]

#: a violation of any rule fails `pulumi preview` / `pulumi up`
ENFORCEMENT = EnforcementLevel.MANDATORY
