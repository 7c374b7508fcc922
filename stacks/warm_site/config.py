"""The knobs an SRE sets for one warm site, as typed, validated data.

``__main__.py`` assembles a plain dict from ``pulumi.Config`` and the sandbox passes the same dict shape to
``deploy_into_moto``; both go through :func:`parse_config`, so the two paths cannot drift apart.
Only structure and types are checked here. Whether the values are *safe* (CIDRs disjoint from the primary,
no ingress from anywhere, max seats above target...) is the job of the policy checks, which look at the
resources the program actually declares.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.site import Primary, Probe, Secondary, probe_address
from stacks.warm_site.principals import principal_arn_problem


class _Knobs(BaseModel):
    # Typos in a stack config must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class ObjectivesConfig(_Knobs):
    rto_seconds: int = Field(gt=0)
    rpo_seconds: int = Field(gt=0)


class NetworkConfig(_Knobs):
    vpc_cidr: str
    subnet_cidrs: list[str] = Field(min_length=2)
    primary_cidrs: list[str] = Field(min_length=1)
    availability_zones: list[str] | None = None

    @field_validator("primary_cidrs", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class RecordConfig(_Knobs):
    name: str
    type: Literal["A", "AAAA", "CNAME", "TXT"]
    ttl: int = Field(default=60, ge=0)
    primary: list[str]
    secondary: list[str]

    @field_validator("primary", "secondary", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _fqdn(cls, value: str) -> str:
        return value if value.endswith(".") else value + "."


class DnsConfig(_Knobs):
    zone_name: str
    zone_id: str | None = None
    create_zone: bool = False
    records: list[RecordConfig] = Field(min_length=1)


class SshEndpointConfig(_Knobs):
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    username: str
    host_key: str
    private_key_secret: str = Field(min_length=1)
    # The key text (a plain str in the sandbox, a pulumi secret Output from `pulumi config set --secret`),
    # or None: the secret is then created without a value and the operator puts it (see stacks/README.md).
    private_key: Any = None


class ApplianceConfig(SshEndpointConfig):
    kind: Literal["strongswan"] = "strongswan"
    connections: list[str] = Field(min_length=1)
    swanctl: str = "swanctl"
    # An address on the far side of the tunnel (e.g. a host in this VPC) that the appliance pings to prove
    # traffic passes: passed through to the site file's vpn.appliance.probe. Without it, SA state only.
    probe: str | None = None

    @field_validator("probe")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        return probe_address(value)  # the site file's own rule, so the stack never outputs what it would refuse


class VpnConfig(_Knobs):
    customer_gateway_ip: str
    bgp_asn: int = Field(default=65000, ge=1)
    appliance: ApplianceConfig


class SftpConfig(SshEndpointConfig):
    path: str = Field(min_length=1)


class WorkersConfig(_Knobs):
    """Restore workers (contract 1.2): the bulk tier's queue and the fleet that drains it."""

    queue_name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,75}$")
    #: receives of one work unit before it goes to the dead-letter queue
    max_receives: int = Field(default=3, ge=1, le=1000)
    visibility_seconds: int = Field(default=300, ge=30, le=43200)
    max_workers: int = Field(default=8, ge=1, le=100)
    instance_type: str = "c7i.large"
    ami: str


class BackupConfig(_Knobs):
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = "restored/"
    kms_key_id: str | None = None
    sftp: SftpConfig
    # The tiered restore's critical tier: globs relative to the snapshot directory, passed through to the
    # site file's backup.critical (the site file's own validation checks each pattern).
    critical: list[str] | None = None
    # Restore workers for the bulk tier (optional): the site file's backup.workers from the stack's queue.
    workers: WorkersConfig | None = None


class IngressConfig(_Knobs):
    description: str
    protocol: Literal["tcp", "udp", "icmp", "-1"] = "tcp"
    from_port: int
    to_port: int
    cidrs: list[str] = Field(min_length=1)


class SeatsConfig(_Knobs):
    asg_name: str
    warm: int = Field(ge=0)
    target: int = Field(ge=1)
    max: int = Field(ge=1)
    instance_type: str
    ami: str
    ingress: list[IngressConfig] = Field(default_factory=list)


#: a link signed by a role session dies with it: with the stack's roles, no link lives longer than IAM's
#: longest role session (stacks/warm_site/access.py MAX_SESSION_SECONDS)
MAX_LINK_WITH_ROLES = 43200


class StatusPageConfig(_Knobs):
    """The live status page's bucket (created private, versioned, encrypted) and object key (issue 15)."""

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(default="status/index.html", min_length=1, max_length=1024)
    #: how long a milestone message's presigned link stays valid (S3 allows at most 7 days; with the stack's
    #: roles at most 12 h, and the orchestrator role's sessions are made this long: see SiteConfig)
    link_expiry_seconds: int = Field(default=12 * 3600, gt=0, le=7 * 24 * 3600)
    kms_key_id: str | None = None


class NotifyConfig(_Knobs):
    topic_name: str
    status_page: StatusPageConfig | None = None


class EvidenceConfig(_Knobs):
    """The bucket that keeps each run's evidence pack under S3 Object Lock, compliance mode (contract 1.2)."""

    bucket: str = Field(min_length=3, max_length=63)
    #: how long each uploaded version can be neither deleted nor overwritten, by anyone (root included)
    retention_days: int = Field(default=400, ge=1, le=36500)
    kms_key_id: str | None = None


class StateConfig(_Knobs):
    table: str = Field(min_length=3)


class GithubOidcConfig(_Knobs):
    """GitHub Actions may assume the roles from this repository's workflows on this branch only."""

    repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    branch: str = Field(default="main", min_length=1, pattern=r"^[^*?\s]+$")
    # The account's existing provider for token.actions.githubusercontent.com (one per account); else created.
    provider_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/")


class AccessConfig(_Knobs):
    """Who may assume the orchestrator and readiness roles (see stacks/warm_site/access.py)."""

    principals: list[str] = Field(default_factory=list)
    github: GithubOidcConfig | None = None

    @field_validator("principals")
    @classmethod
    def _principal_arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            problem = principal_arn_problem(arn)
            if problem:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _someone_can_assume(self):
        if not self.principals and self.github is None:
            raise ValueError("give principals, github, or both: a role nobody can assume is useless")
        return self


HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class OpenPeriodConfig(_Knobs):
    """One day's opening of the hours of operation: ``{day: MONDAY, start: "08:00", end: "18:00"}``."""

    day: Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
    start: str = Field(pattern=HHMM)
    end: str = Field(pattern=HHMM)


class HoursOfOperationConfig(_Knobs):
    """Hours of operation the stack declares: the base the contact flow's "Check hours of operation" block
    reads, on which the orchestrator creates the outage override."""

    name: str = Field(min_length=1, max_length=127)
    time_zone: str = Field(min_length=1)
    description: str | None = None
    open: list[OpenPeriodConfig] = Field(min_length=1)


class AnnouncementConfig(_Knobs):
    """The outage announcement the contact flow already carries: the hours of operation it checks (an
    existing id, or declared here), the override's name, and the prompt it plays (an id, or a prompt's name
    looked up on the instance: pulumi-aws has no prompt resource)."""

    hours_of_operation_id: str | None = None
    hours_of_operation: HoursOfOperationConfig | None = None
    override_name: str = Field(default="dr-outage-announcement", min_length=1, max_length=127)
    prompt_id: str | None = None
    prompt_name: str | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _one_base_one_prompt(self):
        if (self.hours_of_operation_id is None) == (self.hours_of_operation is None):
            raise ValueError("give exactly one of hours_of_operation_id (existing) or hours_of_operation (declared)")
        if self.prompt_id is not None and self.prompt_name is not None:
            raise ValueError("give at most one of prompt_id or prompt_name")
        return self


class ConnectInstanceConfig(_Knobs):
    """An Amazon Connect instance the stack creates (in ``primary_region``)."""

    alias: str = Field(min_length=1, max_length=45)
    identity_management_type: Literal["CONNECT_MANAGED", "SAML", "EXISTING_DIRECTORY"] = "CONNECT_MANAGED"
    directory_id: str | None = None
    inbound_calls: bool = True
    outbound_calls: bool = True
    contact_flow_logs: bool = True


class ConnectConfig(_Knobs):
    """Amazon Connect (optional): the instance (an existing ``instance_id``, looked up, or ``instance`` to
    create), its Global Resiliency pair of Regions and traffic distribution group, the announcement, and the
    agents the traffic shift waits for."""

    instance_id: str | None = None
    instance: ConnectInstanceConfig | None = None
    primary_region: str
    secondary_region: str
    # pulumi-aws declares no traffic distribution group (nor the instance's replica): both are made with
    # ReplicateInstance / CreateTrafficDistributionGroup outside the stack (stacks/README.md), the id comes here.
    traffic_distribution_group_id: str = Field(min_length=1)
    announcement: AnnouncementConfig | None = None
    min_agents_available: int = Field(default=0, ge=0)
    queue_ids: list[str] = Field(default_factory=list)
    #: 1.2: the test call's contact flow, queue and numbers (the site file's ``connect.test_call``), written to
    #: the site file as given; made outside the stack (the DR test line, its flow, the synthetic agent)
    test_call: dict[str, Any] | None = None
    #: issue 27: the queue thresholds each traffic shift step waits on (the site file's ``connect.shift_guard``),
    #: written to the site file as given (the site file's model validates them)
    shift_guard: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_instance(self):
        if (self.instance_id is None) == (self.instance is None):
            raise ValueError("give exactly one of instance_id (existing) or instance (created by the stack)")
        return self


class WatcherConfig(_Knobs):
    """Detection in the warm site (contract 1.2, ``orchestrator watch``): one instance in the private subnets
    running the watch loop under systemd, with a role of its own (docs/permissions.md)."""

    #: seconds between two rounds of the loop (``watch --interval``)
    interval_seconds: int = Field(default=30, ge=10, le=3600)
    #: ``watch --stage``: when the primary is down, start a failover that holds at its gate (the role then
    #: also holds the orchestrator's permissions: staging runs the failover's steps up to the decision)
    stage: bool = False
    instance_type: str = "t3.micro"
    #: an image with ``orchestrator`` on its PATH (as the restore workers' image)
    ami: str


class SiteConfig(_Knobs):
    site: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    owner: str
    region: str
    objectives: ObjectivesConfig
    network: NetworkConfig
    dns: DnsConfig
    vpn: VpnConfig
    backup: BackupConfig
    seats: SeatsConfig
    notify: NotifyConfig
    state: StateConfig | None = None
    access: AccessConfig | None = None
    connect: ConnectConfig | None = None
    evidence: EvidenceConfig | None = None
    # Detection (contract 1.2): the primary's probes and the secondary's, passed through to the site file
    # (validated by the site file's own models), and the watcher that runs `orchestrator watch` in the warm site.
    primary: Primary | None = None
    secondary: Secondary | None = None
    watcher: WatcherConfig | None = None

    @field_validator("primary", "secondary", mode="before")
    @classmethod
    def _no_unknown_probe_keys(cls, value: Any, info: Any) -> Any:
        """The site file tolerates unknown keys (newer stacks' extensions); a stack config's typo fails here."""
        if not isinstance(value, dict):
            return value
        allowed = {"primary": set(Primary.model_fields), "secondary": set(Secondary.model_fields)}[info.field_name]
        problems = [f"unknown key {k!r}" for k in value if k not in allowed]
        for i, probe in enumerate(value.get("probes") or []):
            if isinstance(probe, dict):
                problems += [f"probes.{i}: unknown key {k!r} (a probe has {', '.join(sorted(Probe.model_fields))})"
                             for k in probe if k not in Probe.model_fields]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _watcher_needs(self):
        if self.watcher is None:
            return self
        if self.primary is None:
            raise ValueError("watcher: needs primary.probes (what the watcher probes)")
        if self.state is None:
            raise ValueError("watcher: needs state.table (team mode): an instance replaced by its group would "
                             "otherwise forget the outage it was counting, and a second watcher would open a "
                             "second incident")
        return self

    @model_validator(mode="after")
    def _evidence_bucket_apart(self):
        page = self.notify.status_page
        if self.evidence is not None and self.evidence.bucket in (self.backup.bucket, page.bucket if page else None):
            raise ValueError(f"evidence.bucket: {self.evidence.bucket!r} is the restore or the status page bucket; "
                             "evidence gets its own bucket (Object Lock applies to a whole bucket)")
        return self

    @model_validator(mode="after")
    def _status_page_fits(self):
        page = self.notify.status_page
        if page is None:
            return self
        if page.bucket == self.backup.bucket:
            raise ValueError(f"notify.status_page.bucket: {page.bucket!r} is the restore bucket (backup.bucket); "
                             "the status page gets its own bucket (the restore writes and a drill deletes there)")
        if self.access is not None and page.link_expiry_seconds > MAX_LINK_WITH_ROLES:
            raise ValueError(
                f"notify.status_page.link_expiry_seconds: {page.link_expiry_seconds} is longer than an IAM role "
                f"session can last ({MAX_LINK_WITH_ROLES} s = 12 h): the links are signed by the orchestrator "
                "role's session and die with it")
        return self


class ConfigError(ValueError):
    """The stack configuration is malformed; the message names every bad key."""


def parse_config(raw: dict[str, Any]) -> SiteConfig:
    """Validate a stack configuration dict; raises ConfigError naming each bad key path."""
    try:
        return SiteConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid stack configuration: {problems}") from None
