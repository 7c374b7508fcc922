"""The site file (contract schema 1): the warm-site stack's outputs as typed, validated data.

The same models validate `pulumi stack output --json` in the stack tests, so the stack and the
orchestrator cannot drift apart.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from orchestrator.backup.contract import pattern_problem
from orchestrator.errors import InvalidInput
from orchestrator.validation import raise_invalid, read_input_text

HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-256",
    "rsa-sha2-512",
)


class _Model(BaseModel):
    # Unknown keys are tolerated in the site file (extensions by newer stacks), but see Site.extra_keys.
    model_config = ConfigDict(extra="allow", frozen=True)


class Objectives(_Model):
    rto_seconds: int = Field(gt=0)
    rpo_seconds: int = Field(gt=0)


class DnsRecord(_Model):
    name: str = Field(min_length=1)
    type: Literal["A", "AAAA", "CNAME", "TXT"]
    ttl: int = Field(ge=0, le=2147483647)
    primary: list[str]
    secondary: list[str]

    @field_validator("primary", "secondary", mode="before")
    @classmethod
    def _as_list(cls, value):
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("name")
    @classmethod
    def _fqdn(cls, value: str) -> str:
        return value if value.endswith(".") else value + "."

    @model_validator(mode="after")
    def _values_match_type(self):
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


class SshEndpoint(_Model):
    host: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
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
        return value

    @model_validator(mode="after")
    def _one_key_source(self):
        if bool(self.private_key_secret) == bool(self.private_key_file):
            raise ValueError("give exactly one of private_key_secret or private_key_file")
        return self


class Appliance(SshEndpoint):
    kind: Literal["strongswan"]
    connections: list[str] = Field(min_length=1)
    swanctl: str = "swanctl"


class Vpn(_Model):
    connection_ids: list[str] = Field(min_length=1)
    appliance: Appliance


class Sftp(SshEndpoint):
    path: str = Field(min_length=1)


def _critical_pattern(value: object) -> object:
    problem = pattern_problem(value)
    if problem:
        raise ValueError(problem)
    return value


#: one ``backup.critical`` entry: a glob relative to the snapshot directory (tiered restore, contract 1.1)
CriticalPattern = Annotated[str, BeforeValidator(_critical_pattern)]


class Backup(_Model):
    sftp: Sftp
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    critical: list[CriticalPattern] | None = None

    @field_validator("prefix")
    @classmethod
    def _normal_prefix(cls, value: str) -> str:
        value = value.strip("/")
        return value + "/" if value else ""


class Seats(_Model):
    asg_name: str = Field(min_length=1)
    warm: int = Field(ge=0)
    target: int = Field(ge=1)

    @model_validator(mode="after")
    def _target_above_warm(self):
        if self.target < self.warm:
            raise ValueError("target must be >= warm")
        return self


class Notify(_Model):
    topic_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:")


class State(_Model):
    table: str = Field(min_length=3)


class Site(_Model):
    schema_: Literal[1] = Field(alias="schema")
    site: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    objectives: Objectives
    dns: Dns
    vpn: Vpn
    backup: Backup
    seats: Seats
    notify: Notify
    state: State | None = None


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


def _unwrap_stack_output(data: dict) -> dict:
    """`pulumi stack output --json` prints plain values, but secrets-aware tooling may wrap them as
    ``{"value": ..., "secret": false}``; accept both forms."""
    if all(isinstance(v, dict) and set(v) <= {"value", "secret"} and "value" in v for v in data.values()):
        return {k: v["value"] for k, v in data.items()}
    return data


def load_site(path: str | Path) -> Site:
    """Read and validate a site file."""
    path = Path(path)
    source = str(path)
    text = read_input_text(path, "site file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"not valid JSON: {exc.msg}", source=source, location=f"{exc.lineno}:{exc.colno}"
        ) from None
    return parse_site(data, source)
