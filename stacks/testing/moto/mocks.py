"""``MotoMocks``: Pulumi's mocks that create every resource for real in a moto server, dispatching each type
to its service's translation (one module per service, like moto's own packages)."""

from __future__ import annotations

import threading

import botocore.exceptions
import pulumi
import structlog

from stacks.testing.mocks import Resource
from stacks.testing.moto.autoscaling import AutoScaling
from stacks.testing.moto.base import Creator, MotoAccount, Service, plain
from stacks.testing.moto.dynamodb import DynamoDb
from stacks.testing.moto.ec2 import Ec2
from stacks.testing.moto.iam import Iam
from stacks.testing.moto.route53 import Route53
from stacks.testing.moto.s3 import S3
from stacks.testing.moto.secretsmanager import SecretsManager
from stacks.testing.moto.sns import Sns

log = structlog.get_logger("stacks.testing.moto")

MOTO_AMI_NAMES = ("amzn2-ami-hvm-*-x86_64-gp2", "*")
#: every service the warm-site program uses
SERVICES: tuple[type[Service], ...] = (Ec2, AutoScaling, S3, SecretsManager, Sns, DynamoDb, Iam, Route53)


class MotoMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that create every resource for real in a moto server and answer with moto's ids.

    ``resources`` records each registration as a ``Resource`` (type, name, camelCase inputs);
    ``skipped`` lists what moto cannot do (e.g. VPN static routes) and was therefore only recorded.
    """

    def __init__(self, endpoint_url: str, region: str):
        self.account = MotoAccount(endpoint_url, region)
        self.endpoint_url = endpoint_url
        self.region = region
        self.resources: list[Resource] = []
        self.skipped = self.account.skipped
        self._lock = threading.Lock()
        self._route53 = Route53(self.account)
        self._creators: dict[str, Creator] = {}
        for service in SERVICES:
            self._creators |= (self._route53 if service is Route53 else service(self.account)).creators()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider", dict(args.inputs)
        if not args.custom:  # a component: nothing to create, but keep it in the record
            with self._lock:
                self.resources.append(Resource(args.typ, args.name, dict(args.inputs)))
            return "", {}
        create = self._creators.get(args.typ)
        if create is None:
            raise NotImplementedError(f"MotoMocks cannot create {args.typ} ({args.name})")
        inputs = plain(dict(args.inputs))
        resource_id, outputs = create(args.name, inputs)
        with self._lock:
            self.resources.append(Resource(args.typ, args.name, inputs))
        log.debug("sandbox.resource_created", type=args.typ, name=args.name, id=resource_id)
        return resource_id, {**inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":  # noqa: S105 (a type token)
            zones = self.client("ec2").describe_availability_zones()["AvailabilityZones"]
            names = sorted(z["ZoneName"] for z in zones if z.get("State", "available") == "available")
            return {"id": self.region, "names": names, "zoneIds": [z["ZoneId"] for z in zones]}
        if args.token == "aws:route53/getZone:getZone":  # noqa: S105 (a type token)
            return self._route53._find_zone(args.args["name"])
        raise NotImplementedError(f"MotoMocks cannot answer {args.token}")

    def client(self, service: str):
        """One boto3 client per service, built lazily and once (boto3 sessions are not thread-safe)."""
        return self.account.client(service)

    def known_ami(self, wanted: str | None) -> str:
        """``wanted`` if moto knows that image, else an Amazon Linux 2 image moto ships (sorted, so stable).

        Lookups are filtered: moto answers an unfiltered DescribeImages with ~1300 images in ~3 s.
        """
        ec2 = self.client("ec2")
        if wanted:
            try:
                if ec2.describe_images(ImageIds=[wanted])["Images"]:
                    return wanted
            except botocore.exceptions.ClientError:
                pass  # InvalidAMIID.*: not an image moto knows
        for pattern in MOTO_AMI_NAMES:
            images = ec2.describe_images(Filters=[{"Name": "name", "Values": [pattern]}])["Images"]
            if images:
                return sorted(image["ImageId"] for image in images)[0]
        raise RuntimeError("moto offers no AMI to launch seats from")
