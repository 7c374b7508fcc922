"""What every service's translation shares: one moto account (endpoint, region, a boto3 client per service,
what was only recorded), the ``Service`` base class, and the input conversions from Pulumi's wire format."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import boto3

MOTO_ACCOUNT = "123456789012"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"

#: creates one resource in moto: (Pulumi name, camelCase inputs) -> (id, camelCase outputs)
Creator = Callable[[str, dict], tuple[str, dict]]


class MotoAccount:
    """The moto server the stack is deployed into. Pulumi calls the mocks from several threads: the clients
    and ``skipped`` are guarded by ``lock``."""

    def __init__(self, endpoint_url: str, region: str):
        self.endpoint_url = endpoint_url
        self.region = region
        #: what moto cannot do (e.g. VPN static routes) and was therefore only recorded
        self.skipped: list[str] = []
        self.lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """One boto3 client per service, built lazily and once (boto3 sessions are not thread-safe)."""
        with self.lock:
            if service not in self._clients:
                # moto takes any credentials; fixed dummies make sure real ones never travel to it.
                session = boto3.session.Session(
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",  # noqa: S106 (moto's dummy credentials)
                    region_name=self.region,
                )
                self._clients[service] = session.client(
                    service, endpoint_url=self.endpoint_url, verify=not self.endpoint_url.startswith("http:")
                )
            return self._clients[service]

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{MOTO_ACCOUNT}:{resource}"


class Service:
    """The translation of one AWS service's resource types: ``TYPES`` maps each Pulumi type token to the
    method that creates it in moto (moto's own package per service, as here)."""

    TYPES: ClassVar[dict[str, str]] = {}

    def __init__(self, account: MotoAccount):
        self.account = account
        self.client = account.client
        self.region = account.region
        self.endpoint_url = account.endpoint_url
        self.skipped = account.skipped
        self._lock = account.lock

    def creators(self) -> dict[str, Creator]:
        return {token: getattr(self, method) for token, method in self.TYPES.items()}

    def _arn(self, service: str, resource: str) -> str:
        return self.account.arn(service, resource)


# Pulumi's wire encoding of a secret value inside mock inputs (pulumi.runtime.rpc's signature constants).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (a type signature, not a secret)


def plain(value: Any) -> Any:
    """Inputs as boto3 wants them: secret wrappers replaced by their values (moto must receive the real key
    text), and whole numbers back to int (Pulumi's wire format carries every number as a float)."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def tag_list(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


def tag_spec(resource_type: str, inputs: dict) -> list[dict]:
    tags = tag_list(inputs.get("tags"))
    return [{"ResourceType": resource_type, "Tags": tags}] if tags else []
