"""The site file (contract schema 1): the warm-site stack's outputs as typed, validated data.

The same models validate `pulumi stack output --json` in the stack tests, so the stack and the
orchestrator cannot drift apart.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from orchestrator.backup.contract import RESERVED_NAMES, pattern_problem
from orchestrator.dns_names import normal_name
from orchestrator.errors import InvalidInput
from orchestrator.inputs import decode_json, read_text
from orchestrator.validation import fail_at, raise_invalid

HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-256",
    "rsa-sha2-512",
)


def _not_a_boolean(value: object) -> object:
    # pydantic takes true/false for 1/0; in a site file that is a mistake ("warm": true), not a number
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


#: a whole number, never a boolean
Int = Annotated[int, BeforeValidator(_not_a_boolean)]


def _connection_name(value: str) -> str:
    """A strongSwan CHILD SA name as swanctl is given it: one word, and never read as an option."""
    if not value:
        raise ValueError("a connection name cannot be empty")
    if value.startswith("-"):
        raise ValueError("a connection name cannot start with '-' (swanctl would read it as an option)")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("a connection name cannot contain spaces, newlines or control characters")
    return value


ConnectionName = Annotated[str, Field(max_length=128), AfterValidator(_connection_name)]


def _fail_on_repeats(keys: Sequence[Hashable], shown: Sequence[object], where: str, what: str) -> None:
    """fail_at the first item whose key an earlier item already has (``shown`` is what the user wrote)."""
    first: dict[Hashable, int] = {}
    for index, key in enumerate(keys):
        if key in first:
            fail_at((where, index), f"{what} {where}[{first[key]}]", shown[index])
        first[key] = index


class _Model(BaseModel):
    # Unknown keys are tolerated in the site file (extensions by newer stacks), but not in _Strict objects.
    model_config = ConfigDict(extra="allow", frozen=True)


class _Strict(_Model):
    """A contract 1.2 object (``primary`` and its probes, ``secondary``, ``connect.test_call``,
    ``backup.workers``): an unknown key is refused (exit 2 naming it), since a misspelt one would silently fall
    back to a default (docs/decisions.md, "Unknown keys in the 1.2 site keys")."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Objectives(_Model):
    rto_seconds: Int = Field(gt=0)
    rpo_seconds: Int = Field(gt=0)


class DnsRecord(_Model):
    name: str = Field(min_length=1)
    type: Literal["A", "AAAA", "CNAME", "TXT"]
    ttl: Int = Field(ge=0, le=2147483647)
    primary: list[str]
    secondary: list[str]

    @field_validator("primary", "secondary", mode="before")
    @classmethod
    def _as_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("name")
    @classmethod
    def _fqdn(cls, value: str) -> str:
        return value if value.endswith(".") else value + "."

    @model_validator(mode="after")
    def _values_match_type(self) -> Self:
        for side in ("primary", "secondary"):
            values = getattr(self, side)
            if not values:
                raise ValueError(f"{side}: at least one value is required")
            if self.type == "CNAME" and len(values) != 1:
                raise ValueError(f"{side}: a CNAME record takes exactly one value")
            if self.type in ("A", "AAAA"):
                version = 4 if self.type == "A" else 6
                for value in values:
                    try:
                        address = ipaddress.ip_address(value)
                    except ValueError:
                        raise ValueError(f"{side}: {value!r} is not an IP address") from None
                    if address.version != version:
                        raise ValueError(f"{side}: {value!r} is not an IPv{version} address")
        return self


class Dns(_Model):
    zone_id: str = Field(min_length=1)
    records: list[DnsRecord] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_entry_per_name(self) -> Self:
        """Route 53 refuses a change batch naming one record set twice, and a CNAME beside any other
        record of its name: refuse such a file here, not at the gated cutover."""
        names = [normal_name(r.name) for r in self.records]
        _fail_on_repeats(
            [(n, r.type) for n, r in zip(names, self.records, strict=True)],
            [f"{r.name} {r.type}" for r in self.records],
            "records",
            "the same record (name and type; case and the trailing dot do not count) as",
        )
        cnames = {n for n, r in zip(names, self.records, strict=True) if r.type == "CNAME"}
        others = [n if n in cnames and r.type != "CNAME" else None for n, r in zip(names, self.records, strict=True)]
        for index, name in enumerate(others):
            if name is not None:
                fail_at(("records", index), "a name with a CNAME record can have no other record", name)
        return self


class SshEndpoint(_Model):
    host: str = Field(min_length=1)
    port: Int = Field(default=22, ge=1, le=65535)
    username: str = Field(min_length=1)
    host_key: str
    private_key_secret: str | None = None
    private_key_file: str | None = None

    @field_validator("host_key")
    @classmethod
    def _openssh_public_key(cls, value: str) -> str:
        parts = value.split()
        if len(parts) < 2 or parts[0] not in HOST_KEY_TYPES:
            raise ValueError("expected an OpenSSH public key line such as 'ssh-ed25519 AAAA...'")
        _parse_public_key(parts[0], parts[1])
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        if bool(self.private_key_secret) == bool(self.private_key_file):
            raise ValueError("give exactly one of private_key_secret or private_key_file")
        return self


def _parse_public_key(key_type: str, text: str) -> None:
    """The key must load the way the SSH adapter will load it to pin the server (same parser), so that a
    malformed key is a site-file error now rather than a failed step later."""
    import paramiko

    try:
        blob = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError(f"the {key_type} key is not valid base64 (expected 'TYPE BASE64 [comment]')") from None
    try:
        paramiko.PKey.from_type_string(key_type, blob)
    except Exception:  # anything the parser raises on hostile bytes means "not a key"
        raise ValueError(f"the base64 text is not an {key_type} public key") from None


def probe_address(value: str | None) -> str | None:
    """``vpn.appliance.probe``: None, or an IP address (v4 or v6); the stack's config checks it the same way."""
    if value is not None:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"expected an IP address (e.g. 198.51.100.129), not {value!r}") from None
    return value


class Appliance(SshEndpoint):
    kind: Literal["strongswan"]
    connections: list[ConnectionName] = Field(min_length=1)
    swanctl: str = Field(default="swanctl", min_length=1)
    #: an address on the far side of the tunnel that the appliance pings to prove traffic passes
    probe: str | None = None

    @field_validator("probe")
    @classmethod
    def _probe_address(cls, value: str | None) -> str | None:
        return probe_address(value)

    @model_validator(mode="after")
    def _connections_once(self) -> Self:
        _fail_on_repeats(list(self.connections), list(self.connections), "connections", "the same connection as")
        return self


class Vpn(_Model):
    connection_ids: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    appliance: Appliance

    @model_validator(mode="after")
    def _ids_once(self) -> Self:
        ids = list(self.connection_ids)
        _fail_on_repeats(ids, ids, "connection_ids", "the same VPN connection as")
        return self


class Sftp(SshEndpoint):
    path: str = Field(min_length=1)


def _critical_pattern(value: object) -> object:
    problem = pattern_problem(value)
    if problem:
        raise ValueError(problem)
    return value


#: one ``backup.critical`` entry: a glob relative to the snapshot directory (tiered restore, contract 1.1)
CriticalPattern = Annotated[str, BeforeValidator(_critical_pattern)]


#: a standard SQS queue's URL, as AWS prints it (FIFO queues are refused: the work needs no order)
SQS_QUEUE_URL = r"^https://sqs\.[a-z]{2}(-[a-z]+)+-\d\.amazonaws\.com(\.cn)?/\d{12}/[A-Za-z0-9_-]{1,80}$"


class Workers(_Strict):
    """``backup.workers`` (contract 1.2, restore workers): the bulk tier is restored by ``orchestrator
    restore-worker`` processes taking work units from ``queue_url`` (docs/contract.md, "Restore workers")."""

    queue_url: str
    #: tries of one work unit when the queue has no redrive policy (with one, its ``maxReceiveCount`` rules)
    max_tries: int = Field(default=3, ge=1, le=100)

    @field_validator("queue_url")
    @classmethod
    def _sqs_url(cls, value: str) -> str:
        if value.endswith(".fifo"):
            raise ValueError("a FIFO queue is not supported: restore workers need a standard SQS queue")
        if not re.match(SQS_QUEUE_URL, value):
            raise ValueError("expected a standard SQS queue URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME")
        return value

    @property
    def region(self) -> str:
        return self.queue_url.split(".", 2)[1]


class Backup(_Model):
    sftp: Sftp
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    critical: list[CriticalPattern] | None = None
    #: restore workers for the bulk tier (contract 1.2); without it the run restores every tier itself
    workers: Workers | None = None

    @field_validator("prefix")
    @classmethod
    def _normal_prefix(cls, value: str) -> str:
        value = value.strip("/")
        return value + "/" if value else ""


class Seats(_Model):
    asg_name: str = Field(min_length=1)
    warm: Int = Field(ge=0)
    target: Int = Field(ge=1)

    @model_validator(mode="after")
    def _target_above_warm(self) -> Self:
        if self.target < self.warm:
            raise ValueError("target must be >= warm")
        return self


class StatusPage(_Model):
    """Where the live status page for managers and agents is published (issue 15): a private S3 object,
    shared through a presigned link carried by every milestone message."""

    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    #: how long the presigned link in a milestone message stays valid (S3 allows at most 7 days)
    link_expiry_seconds: Int = Field(default=12 * 3600, gt=0, le=7 * 24 * 3600)


class Notify(_Model):
    topic_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:")
    status_page: StatusPage | None = None


Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]


def _connect_id(value: str) -> str:
    """An Amazon Connect id or ARN: never blank, no spaces or control characters (none has any)."""
    if not value.strip():
        raise ValueError("cannot be blank")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"{value!r} contains spaces or control characters (a Connect id or ARN has none)")
    return value


def _connect_words(value: str) -> str:
    """A name or text for people: never blank, no control characters."""
    if not value.strip():
        raise ValueError("cannot be blank")
    if any(not c.isprintable() for c in value):
        raise ValueError("cannot contain newlines or control characters")
    return value


ConnectId = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_connect_id)]
ConnectWords = Annotated[str, Field(min_length=1), AfterValidator(_connect_words)]


class ConnectAnnouncement(_Model):
    """The outage announcement the contact flow already carries, switched on without rewriting the flow:
    an hours-of-operation override on ``hours_of_operation_id`` named ``override_name`` (issue 16)."""

    hours_of_operation_id: ConnectId
    override_name: ConnectWords = Field(default="dr-outage-announcement", max_length=127)
    #: the prompt the flow plays during the override (for readiness and the report; optional)
    prompt_id: ConnectId | None = None
    #: what callers hear, in words, for the runbook render and the report
    text: ConnectWords | None = None


class ConnectTestCall(_Strict):
    """What a test call needs in the secondary Region (contract 1.2, answered calls): an outbound voice contact
    (``StartOutboundVoiceContact``) from ``source_phone_number`` to ``destination_phone_number`` -- the
    secondary instance's own DR test line -- through ``contact_flow_id``, which queues it on ``queue_id``, a
    test queue staffed by a synthetic agent (a softphone bot that accepts calls). The call is answered when
    ``DescribeContact`` shows ``AgentInfo.ConnectedToAgentTimestamp``."""

    contact_flow_id: ConnectId
    queue_id: ConnectId
    destination_phone_number: str = Field(pattern=r"^\+[1-9]\d{4,14}$")
    source_phone_number: str | None = Field(default=None, pattern=r"^\+[1-9]\d{4,14}$")
    answer_within_seconds: Int = Field(default=120, ge=1, le=3600)
    poll_seconds: float = Field(default=2.0, gt=0, le=60)


class ConnectShiftGuard(_Model):
    """Queue thresholds of a call-aware traffic shift (``connect.shift_guard``, our extension of the contract):
    before each step of ``connect.shift_traffic`` / ``connect.shift_back`` the Region taking the calls must have
    at most ``contacts_in_queue`` contacts waiting and no contact waiting longer than
    ``oldest_contact_age_seconds`` in the site's queues (GetCurrentMetricData, voice); while either is exceeded
    the shift holds, and once held ``hold_limit_seconds`` it stops at the share it reached (``shift-held``).
    Unlike the rest of the site file, an unknown key here is refused: a misspelt limit of a safety guard must
    not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: at most this many contacts waiting in the site's queues (CONTACTS_IN_QUEUE, summed over the queues)
    contacts_in_queue: Int | None = Field(default=None, ge=0)
    #: no contact waiting longer than this (OLDEST_CONTACT_AGE, the oldest of the site's queues)
    oldest_contact_age_seconds: Int | None = Field(default=None, ge=0)
    #: how long a step holds for the queues before the shift stops at the share it reached
    hold_limit_seconds: float = Field(default=300.0, gt=0, le=86400)
    #: how often the queues are read while holding
    poll_seconds: float = Field(default=10.0, gt=0, le=600)

    @model_validator(mode="after")
    def _a_threshold(self) -> Self:
        if self.contacts_in_queue is None and self.oldest_contact_age_seconds is None:
            raise ValueError("give contacts_in_queue, oldest_contact_age_seconds or both: with neither the "
                             "shift would have nothing to watch")
        return self


class Connect(_Model):
    """An Amazon Connect site (Connect Global Resiliency): telephony and agents move by shifting the
    traffic distribution group between ``primary_region`` and ``secondary_region``."""

    instance_id: ConnectId
    #: arn:PARTITION:connect:REGION:ACCOUNT:instance/ID (its Region is where the traffic distribution group lives)
    instance_arn: str = Field(pattern=r"^arn:aws[a-z-]*:connect:[a-z]{2}(-[a-z]+)+-\d:\d{12}:instance/[^\s/]+$")
    traffic_distribution_group_id: ConnectId
    primary_region: Region
    secondary_region: Region
    announcement: ConnectAnnouncement | None = None
    #: 1.2: the test call that proves a caller reaches an agent at the backup site (step kind connect.test_call)
    test_call: ConnectTestCall | None = None
    #: agents that must be available in the secondary Region before each traffic shift step (0: no gate)
    min_agents_available: Int = Field(default=0, ge=0)
    #: the queues whose current metrics count available agents (and whose load the shift guard watches)
    queue_ids: list[ConnectId] = Field(default_factory=list)
    #: queue thresholds each traffic shift step waits on in the Region taking the calls (none: no queue wait)
    shift_guard: ConnectShiftGuard | None = None

    @model_validator(mode="after")
    def _two_regions(self) -> Self:
        if self.primary_region == self.secondary_region:
            raise ValueError("primary_region and secondary_region must differ")
        if self.shift_guard is not None and not self.queue_ids:
            fail_at(("queue_ids",), "connect.shift_guard watches the queues named here: name at least one "
                    "(the queues calls wait in)", self.queue_ids)
        return self


class State(_Model):
    table: str = Field(min_length=3)


class Access(_Model):
    """The IAM roles the stack declares (stacks/warm_site/access.py): which one an operator assumes."""

    orchestrator_role_arn: str = Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/")
    readiness_role_arn: str = Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/")


class Probe(_Strict):
    """One check of the primary site (contract 1.2, detection): exactly one of ``tcp`` (HOST:PORT: the SBC or
    agent gateway accepts a connection), ``http`` (a URL answering ``expect_status``), ``sip`` (HOST:PORT
    answering a SIP ``OPTIONS`` over ``transport``) or ``alarm`` (a CloudWatch alarm of the site's region not
    in state ``ALARM``)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    tcp: str | None = Field(default=None, pattern=r"^\S+:\d{1,5}$")
    http: str | None = Field(default=None, pattern=r"^https?://\S+$")
    expect_status: Int = Field(default=200, ge=100, le=599)
    sip: str | None = Field(default=None, pattern=r"^\S+:\d{1,5}$")
    transport: Literal["udp", "tcp"] = "udp"
    alarm: str | None = Field(default=None, min_length=1, max_length=255)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [k for k in ("tcp", "http", "sip", "alarm") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a probe has exactly one of tcp, http, sip, alarm (probe {self.name!r} has "
                             f"{', '.join(kinds) or 'none'})")
        for key in ("tcp", "sip"):
            value = getattr(self, key)
            if value is not None and not 1 <= int(value.rsplit(":", 1)[1]) <= 65535:
                raise ValueError(f"{key}: the port of {value!r} must be 1-65535")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("tcp", "http", "sip", "alarm") if getattr(self, k) is not None)

    @property
    def target(self) -> str:
        return str(getattr(self, self.kind))


class Primary(_Strict):
    """The primary site as ``orchestrator watch`` sees it: down when every probe failed in every round for at
    least ``down_after_seconds``."""

    probes: list[Probe] = Field(min_length=1, max_length=64)
    down_after_seconds: Int = Field(default=180, ge=0, le=7 * 24 * 3600)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        _unique_probe_names(self.probes)
        return self


class Secondary(_Strict):
    """The warm site's own endpoints, checked with the same probe kinds as the primary's (our extension of
    contract 1.2): its SBC answering a SIP ``OPTIONS`` (how a SIP/DNS site without Amazon Connect shows that
    calls can reach it), its agent desktop... A warning in preflight and readiness when one fails; after the
    cutover the smoke check ``smoke.secondary`` fails the run when one does not answer."""

    probes: list[Probe] = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        _unique_probe_names(self.probes)
        return self


def _unique_probe_names(probes: list[Probe]) -> None:
    names = [p.name for p in probes]
    if len(set(names)) != len(names):
        raise ValueError(f"probe names must be unique: {sorted(n for n in set(names) if names.count(n) > 1)}")


class Site(_Model):
    schema_: Annotated[Literal[1], BeforeValidator(_not_a_boolean)] = Field(alias="schema")
    site: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    objectives: Objectives
    dns: Dns
    vpn: Vpn
    backup: Backup
    seats: Seats
    notify: Notify
    state: State | None = None
    access: Access | None = None
    connect: Connect | None = None
    primary: Primary | None = None
    secondary: Secondary | None = None

    @model_validator(mode="after")
    def _evidence_key(self) -> Self:
        """The optional ``evidence`` key (contract 1.2; an extension key, so a step's ``when`` cannot name it):
        ``{"bucket": NAME, "retention_days": N, "prefix": "runs/", "decision_limit_seconds": S}``."""
        value = (self.model_extra or {}).get("evidence")
        if value is None:
            return self
        if not isinstance(value, dict):
            fail_at(("evidence",), "expected an object", value)
        rules = {"bucket": (str, r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"), "prefix": (str, None),
                 "retention_days": (int, None), "decision_limit_seconds": (int, None)}
        for key, item in value.items():
            if key not in rules:
                fail_at(("evidence", key), f"unknown key (expected one of {', '.join(rules)})", item)
            kind, pattern = rules[key]
            if not isinstance(item, kind) or isinstance(item, bool):
                fail_at(("evidence", key), f"expected {'a string' if kind is str else 'an integer'}", item)
            if isinstance(item, int) and not 1 <= item <= 36500:
                fail_at(("evidence", key), "expected 1..36500", item)
            if pattern and isinstance(item, str) and not re.match(pattern, item):
                fail_at(("evidence", key), "not an S3 bucket name", item)
        return self

    @model_validator(mode="after")
    def _page_apart_from_the_restore(self) -> Self:
        page = self.notify.status_page
        if page is not None:
            problem = page_collision(page.bucket, page.key, self.backup.bucket, self.backup.prefix)
            if problem:
                fail_at(("notify", "status_page", "key"), problem, page.key)
        return self


def page_collision(page_bucket: str, page_key: str, restore_bucket: str, restore_prefix: str) -> str | None:
    """Why a status page at ``page_bucket/page_key`` would collide with the restore (None: it does not). The
    restore writes every file and its markers (``_RESTORE_CRITICAL.json``, ``_RESTORE_COMPLETE.json``) under
    ``s3://BUCKET/PREFIX/`` and a drill's cleanup deletes them there: a page under it could overwrite a marker
    (a restore then never seen complete, or a false one) or be deleted. The stack's config checks it too."""
    prefix = restore_prefix.strip("/")
    prefix = prefix + "/" if prefix else ""
    if page_bucket != restore_bucket or not page_key.startswith(prefix):
        return None
    name = page_key.rsplit("/", 1)[-1]
    what = f"the restore's marker {name}" if name in RESERVED_NAMES else "what the restore writes"
    return (f"the status page's key {page_key!r} is under s3://{restore_bucket}/{prefix}, where the restore "
            f"writes restored files and their markers (and a drill's cleanup deletes them): it would collide "
            f"with {what}; publish the page to another bucket, or to a key outside that prefix")


def parse_site(data: object, source: str = "<site>") -> Site:
    """Validate already-decoded site data; raises InvalidInput naming source and key path."""
    if not isinstance(data, dict):
        raise InvalidInput("expected a JSON object at the top level", source=source, location="(top level)")
    data = _unwrap_stack_output(data)
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        raise_invalid(exc, source)
        raise  # unreachable; keeps type checkers quiet


def _unwrap_stack_output(data: dict[str, Any]) -> dict[str, Any]:
    """`pulumi stack output --json` prints plain values, but secrets-aware tooling may wrap them as
    ``{"value": ..., "secret": false}``; accept both forms."""
    if all(isinstance(v, dict) and set(v) <= {"value", "secret"} and "value" in v for v in data.values()):
        return {k: v["value"] for k, v in data.items()}
    return data


def load_site(path: str | Path) -> Site:
    """Read and validate a site file (read and decoded with bounded size and nesting); unknown keys (tolerated
    outside the 1.2 objects) are named in one warning per file and process."""
    source = str(path)
    site = parse_site(decode_json(read_text(Path(path), "site file"), source), source)
    unknown = [f"{source}:{key}" for key in unknown_keys(site)]
    if unknown and source not in _WARNED:
        _WARNED.add(source)
        import structlog

        structlog.get_logger("orchestrator").warning(
            "site.unknown_keys", keys=unknown, detail="not known to this orchestrator, ignored (a misspelling? a "
            "newer stack's key?)")
    return site


#: the site files whose unknown keys were named already (one warning per file and process: a watch loop)
_WARNED: set[str] = set()
#: keys read from the extras on purpose (our extension keys that are not fields)
_EXTENSION_KEYS = frozenset({"evidence"})


def unknown_keys(model: BaseModel, prefix: str = "") -> list[str]:
    """The key paths of ``model`` (a loaded site) that no field declares, sorted."""
    found = [f"{prefix}{k}" for k in (model.model_extra or {}) if prefix or k not in _EXTENSION_KEYS]
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = list(enumerate(value)) if isinstance(value, list | tuple) else [(None, value)]
        for index, item in items:
            if isinstance(item, BaseModel):
                where = f"{prefix}{name}" + (f"[{index}]" if index is not None else "")
                found += unknown_keys(item, where + ".")
    return sorted(found)
