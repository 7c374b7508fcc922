"""Policy checks over a declared or deployed warm site: the mistakes a review should never let through.

Input is deliberately plain: a list of ``(type, name, inputs)`` resources (Pulumi type tokens, camelCase
inputs, exactly what ``pulumi.runtime.Mocks.new_resource`` receives) plus the stack outputs (the site file).
So the same checks run in CI under Pulumi mocks, against what was deployed into moto, and on a recording
of any other deployment. Pulumi mocks accept any value (``cidr_block="not-a-cidr"``), so every check
validates values itself.

Each policy is a function ``(Deployment) -> list[Violation]``; :func:`check` runs them all.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from orchestrator.errors import InvalidInput
from orchestrator.site import parse_site

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ASG = "aws:autoscaling/group:Group"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
TABLE = "aws:dynamodb/table:Table"

# AWS resources that cannot carry tags. Everything else from the aws provider must be tagged: a new
# resource type is tagged-by-default-required, so forgetting tags on it fails CI.
UNTAGGABLE = frozenset(
    {
        "aws:ec2/route:Route",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/vpnConnectionRoute:VpnConnectionRoute",
        "aws:ec2/vpnGatewayAttachment:VpnGatewayAttachment",
        "aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation",
        "aws:secretsmanager/secretVersion:SecretVersion",
        BUCKET_VERSIONING,
        BUCKET_ENCRYPTION,
        BUCKET_PUBLIC_ACCESS,
        "aws:route53/record:Record",
        SECURITY_GROUP_RULE,
    }
)
GOOD_SSE = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
PUBLIC_ACCESS_SWITCHES = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
PRIVATE_KEY_MARKERS = ("PRIVATE KEY-----", "PuTTY-User-Key-File")


class Resource(NamedTuple):
    """One declared resource: Pulumi type token, logical name, camelCase inputs."""

    type: str
    name: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource}: {self.message}"


@dataclass(frozen=True)
class Deployment:
    """What the policies look at. ``secret_values`` are texts that must never appear in the outputs."""

    resources: Sequence[Resource]
    outputs: Mapping[str, Any]
    primary_cidrs: Sequence[str] = ()
    owner: str | None = None
    secret_values: Sequence[str] = field(default_factory=tuple)

    @classmethod
    def of(cls, resources: Iterable[tuple[str, str, Mapping[str, Any]]], outputs: Mapping[str, Any], **kw):
        """Build from plain ``(type, name, inputs)`` tuples."""
        return cls(resources=[Resource(*r) for r in resources], outputs=outputs, **kw)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]


Policy = Callable[[Deployment], list[Violation]]


def bucket_encrypted(dep: Deployment) -> list[Violation]:
    """Every bucket has default encryption with a real algorithm."""
    algorithms = {
        r.inputs.get("bucket"): [
            (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
            for rule in r.inputs.get("rules") or []
        ]
        for r in dep.of_type(BUCKET_ENCRYPTION)
    }
    out = []
    for bucket in dep.of_type(BUCKET):
        found = algorithms.get(_bucket_name(bucket))
        if not found or not all(alg in GOOD_SSE for alg in found):
            out.append(Violation("encryption", bucket.name, f"no default encryption (found {found!r})"))
    return out


def table_encrypted(dep: Deployment) -> list[Violation]:
    """Every DynamoDB table asks for server-side encryption explicitly."""
    return [
        Violation("encryption", t.name, "serverSideEncryption.enabled is not true")
        for t in dep.of_type(TABLE)
        if not (t.inputs.get("serverSideEncryption") or {}).get("enabled")
    ]


def bucket_versioned(dep: Deployment) -> list[Violation]:
    """Every bucket keeps versions (a bad restore must not destroy a good one)."""
    enabled = {
        r.inputs.get("bucket")
        for r in dep.of_type(BUCKET_VERSIONING)
        if (r.inputs.get("versioningConfiguration") or {}).get("status") == "Enabled"
    }
    return [
        Violation("versioning", b.name, "versioning is not enabled")
        for b in dep.of_type(BUCKET)
        if _bucket_name(b) not in enabled
    ]


def public_access_blocked(dep: Deployment) -> list[Violation]:
    """Every bucket has a public access block with all four switches on."""
    blocks = {r.inputs.get("bucket"): r.inputs for r in dep.of_type(BUCKET_PUBLIC_ACCESS)}
    out = []
    for bucket in dep.of_type(BUCKET):
        block = blocks.get(_bucket_name(bucket)) or {}
        off = [switch for switch in PUBLIC_ACCESS_SWITCHES if block.get(switch) is not True]
        if off:
            out.append(
                Violation("public-access", bucket.name, f"public access not blocked: {', '.join(off)}")
            )
    return out


def no_open_ingress(dep: Deployment) -> list[Violation]:
    """No security group admits traffic from the whole internet (0.0.0.0/0 or ::/0)."""
    out = []
    for sg in dep.of_type(SECURITY_GROUP):
        for rule in sg.inputs.get("ingress") or []:
            out += _open_sources(sg.name, [*rule.get("cidrBlocks", []), *rule.get("ipv6CidrBlocks", [])])
    for rule in dep.of_type(SECURITY_GROUP_RULE):
        if rule.inputs.get("type") == "ingress":
            out += _open_sources(rule.name, rule.inputs.get("cidrBlocks") or [])
    for rule in dep.of_type(INGRESS_RULE):
        out += _open_sources(rule.name, [rule.inputs.get("cidrIpv4"), rule.inputs.get("cidrIpv6")])
    return out


def tagged(dep: Deployment) -> list[Violation]:
    """Every taggable AWS resource carries ``site`` (= the site file's site) and a non-empty ``owner``."""
    site = dep.outputs.get("site")
    out = []
    for r in dep.resources:
        if not r.type.startswith("aws:") or r.type in UNTAGGABLE:
            continue
        tags = _tags_of(r)
        if tags.get("site") != site or not tags.get("owner") or (dep.owner and tags["owner"] != dep.owner):
            out.append(Violation("tags", r.name, f"needs site={site!r} and owner tags, has {tags!r}"))
    return out


def seats_capacity(dep: Deployment) -> list[Violation]:
    """The seat group can reach the target (warm <= target <= max) and is created at its warm size."""
    seats = dep.outputs.get("seats") or {}
    out = []
    if seats.get("warm", 0) > seats.get("target", 0):
        out.append(Violation("seats", str(seats.get("asg_name")), f"warm {seats.get('warm')} > target"))
    for asg in dep.of_type(ASG):
        if asg.inputs.get("name") != seats.get("asg_name"):
            continue
        size = {k: asg.inputs.get(k) for k in ("minSize", "maxSize", "desiredCapacity")}
        if not isinstance(size["maxSize"], int | float) or size["maxSize"] < seats.get("target", 0):
            out.append(
                Violation("seats", asg.name, f"maxSize {size['maxSize']} < target {seats.get('target')}")
            )
        if size["desiredCapacity"] != seats.get("warm") or (size["minSize"] or 0) > seats.get("warm", 0):
            out.append(Violation("seats", asg.name, f"not created at warm size {seats.get('warm')}: {size}"))
    if not any(a.inputs.get("name") == seats.get("asg_name") for a in dep.of_type(ASG)):
        out.append(Violation("seats", str(seats.get("asg_name")), "the site file names no declared group"))
    return out


def cidrs_sound(dep: Deployment) -> list[Violation]:
    """CIDRs parse; subnets sit inside the VPC without overlap; nothing overlaps the primary site."""
    out, primary = [], []
    for cidr in dep.primary_cidrs:
        net = _network(cidr)
        if net is None:
            out.append(Violation("cidrs", "primary", f"{cidr!r} is not a CIDR"))
        else:
            primary.append(net)
    vpcs = {}
    for vpc in dep.of_type(VPC):
        net = _network(vpc.inputs.get("cidrBlock"))
        if net is None:
            out.append(Violation("cidrs", vpc.name, f"{vpc.inputs.get('cidrBlock')!r} is not a CIDR"))
            continue
        vpcs[vpc.name] = net
        out += [
            Violation("cidrs", vpc.name, f"{net} overlaps the primary's {p}")
            for p in primary
            if net.overlaps(p)
        ]
    out += _subnets_sound(dep, vpcs, primary)
    return out


def site_file_valid(dep: Deployment) -> list[Violation]:
    """The outputs validate as a site file (contract schema 1)."""
    try:
        parse_site(dict(dep.outputs), source="stack outputs")
    except InvalidInput as exc:
        return [Violation("site-file", "outputs", str(exc))]
    return []


def no_secret_in_outputs(dep: Deployment) -> list[Violation]:
    """No private key (neither a known secret value nor anything shaped like a key) is in the outputs."""
    text = json.dumps(dep.outputs, default=str)
    out = [
        Violation("secrets", "outputs", f"contains a secret value (secret #{i})")
        for i, value in enumerate(dep.secret_values)
        if value and value.strip() and value.strip() in text
    ]
    out += [Violation("secrets", "outputs", f"contains {m!r}") for m in PRIVATE_KEY_MARKERS if m in text]
    return out


POLICIES: dict[str, Policy] = {
    "encryption": lambda dep: bucket_encrypted(dep) + table_encrypted(dep),
    "versioning": bucket_versioned,
    "public-access": public_access_blocked,
    "ingress": no_open_ingress,
    "tags": tagged,
    "seats": seats_capacity,
    "cidrs": cidrs_sound,
    "site-file": site_file_valid,
    "secrets": no_secret_in_outputs,
}


def check(dep: Deployment, only: Iterable[str] | None = None) -> list[Violation]:
    """Run every policy (or the named ones); an empty list means the site passes."""
    names = list(only) if only is not None else list(POLICIES)
    return [v for name in names for v in POLICIES[name](dep)]


def _bucket_name(bucket: Resource) -> Any:
    # A bucket's id is its name, and the other S3 resources reference it by id.
    return bucket.inputs.get("bucket") or bucket.name


def _open_sources(where: str, sources: Iterable[Any]) -> list[Violation]:
    out = []
    for source in sources:
        net = _network(source) if source else None
        if net is not None and net.prefixlen == 0:
            out.append(Violation("ingress", where, f"ingress open to {source}"))
    return out


def _tags_of(resource: Resource) -> dict[str, Any]:
    tags = resource.inputs.get("tags") or {}
    if isinstance(tags, list):  # Auto Scaling groups: [{key, value, propagateAtLaunch}]
        return {t.get("key"): t.get("value") for t in tags}
    return dict(tags)


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value, strict=True)
    except (TypeError, ValueError):
        return None


def _subnets_sound(dep: Deployment, vpcs: Mapping[str, Any], primary: list) -> list[Violation]:
    out, seen = [], []
    all_vpc_nets = list(vpcs.values())
    for subnet in dep.of_type(SUBNET):
        net = _network(subnet.inputs.get("cidrBlock"))
        if net is None:
            out.append(Violation("cidrs", subnet.name, f"{subnet.inputs.get('cidrBlock')!r} is not a CIDR"))
            continue
        if not any(net.version == v.version and net.subnet_of(v) for v in all_vpc_nets):
            out.append(Violation("cidrs", subnet.name, f"{net} is outside the VPC"))
        out += [
            Violation("cidrs", subnet.name, f"{net} overlaps subnet {o}") for o in seen if net.overlaps(o)
        ]
        out += [
            Violation("cidrs", subnet.name, f"{net} overlaps the primary's {p}")
            for p in primary
            if net.overlaps(p)
        ]
        seen.append(net)
    return out
