"""Deploy the warm-site stack program into a moto server, without the Pulumi CLI.

The very program the Pulumi CLI runs (:func:`stacks.warm_site.program.build_site`) runs here under
``pulumi.runtime.set_mocks``. :class:`MotoMocks` turns each resource registration into the boto3 calls
that create it for real in moto, and answers with moto's ids and outputs (camelCase, like a provider).
:func:`deploy_into_moto` runs the program and returns the resolved stack outputs: the site file.
The sandbox (``orchestrator sandbox up``) and the tests use it.

Pulumi calls ``Mocks.new_resource`` from several threads; clients and the resource log are guarded.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import botocore.exceptions
import pulumi
import structlog

from stacks.testing.mocks import Resource, run_under_mocks
from stacks.warm_site import config as config_module
from stacks.warm_site import program as program_module

log = structlog.get_logger(__name__)

MOTO_ACCOUNT = "123456789012"
MOTO_AMI_NAMES = ("amzn2-ami-hvm-*-x86_64-gp2", "*")
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"


def deploy_into_moto(
    config: Mapping[str, Any], endpoint_url: str, *, mocks: MotoMocks | None = None
) -> dict[str, Any]:
    """Create the site described by ``config`` (the stack config dict, see stacks/README.md) in the moto
    server at ``endpoint_url``; return the stack outputs, i.e. the site file, as plain data.

    ``seats.ami`` is replaced by an image moto knows when moto does not know it. Pass ``mocks`` to keep
    the record of what was created (``mocks.resources``) for policy checks.
    """
    mocks = mocks or MotoMocks(endpoint_url, config["region"])
    raw = copy.deepcopy(dict(config))
    raw["seats"]["ami"] = mocks.known_ami(raw["seats"].get("ami"))
    cfg = config_module.parse_config(raw)
    outputs = run_under_mocks(lambda: program_module.build_site(cfg), mocks, stack=cfg.site)
    log.info("sandbox.deployed", site=cfg.site, resources=len(mocks.resources), skipped=mocks.skipped)
    return outputs


class MotoMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that create every resource for real in a moto server and answer with moto's ids.

    ``resources`` records each registration as a ``Resource`` (type, name, camelCase inputs);
    ``skipped`` lists what moto cannot do (e.g. VPN static routes) and was therefore only recorded.
    """

    def __init__(self, endpoint_url: str, region: str):
        self.endpoint_url = endpoint_url
        self.region = region
        self.resources: list[Resource] = []
        self.skipped: list[str] = []
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._creators: dict[str, Callable[[str, dict], tuple[str, dict]]] = {
            "aws:ec2/vpc:Vpc": self._vpc,
            "aws:ec2/subnet:Subnet": self._subnet,
            "aws:ec2/routeTable:RouteTable": self._route_table,
            "aws:ec2/routeTableAssociation:RouteTableAssociation": self._route_table_association,
            "aws:ec2/route:Route": self._route,
            "aws:ec2/securityGroup:SecurityGroup": self._security_group,
            "aws:ec2/customerGateway:CustomerGateway": self._customer_gateway,
            "aws:ec2/vpnGateway:VpnGateway": self._vpn_gateway,
            "aws:ec2/vpnConnection:VpnConnection": self._vpn_connection,
            "aws:ec2/vpnConnectionRoute:VpnConnectionRoute": self._vpn_connection_route,
            "aws:ec2/launchTemplate:LaunchTemplate": self._launch_template,
            "aws:autoscaling/group:Group": self._auto_scaling_group,
            "aws:s3/bucket:Bucket": self._bucket,
            "aws:s3/bucketVersioning:BucketVersioning": self._bucket_versioning,
            BUCKET_ENCRYPTION: self._bucket_encryption,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": self._public_access_block,
            "aws:s3/bucketPolicy:BucketPolicy": self._bucket_policy,
            "aws:secretsmanager/secret:Secret": self._secret,
            "aws:secretsmanager/secretVersion:SecretVersion": self._secret_version,
            "aws:sns/topic:Topic": self._topic,
            "aws:dynamodb/table:Table": self._table,
            "aws:route53/zone:Zone": self._zone,
            "aws:route53/record:Record": self._record,
            "aws:iam/role:Role": self._role,
            "aws:iam/rolePolicy:RolePolicy": self._role_policy,
            "aws:iam/openIdConnectProvider:OpenIdConnectProvider": self._oidc_provider,
        }

    # -- pulumi.runtime.Mocks ------------------------------------------------------------------------------

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
        inputs = _plain(dict(args.inputs))
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
            return self._find_zone(args.args["name"])
        raise NotImplementedError(f"MotoMocks cannot answer {args.token}")

    # -- helpers ---------------------------------------------------------------------------------------------

    def client(self, service: str):
        """One boto3 client per service, built lazily and once (boto3 sessions are not thread-safe)."""
        with self._lock:
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

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{MOTO_ACCOUNT}:{resource}"

    # -- ec2: network ----------------------------------------------------------------------------------------

    def _vpc(self, name: str, inputs: dict) -> tuple[str, dict]:
        vpc = self.client("ec2").create_vpc(
            CidrBlock=inputs["cidrBlock"], TagSpecifications=_tag_spec("vpc", inputs)
        )["Vpc"]
        vpc_id = vpc["VpcId"]
        return vpc_id, {"arn": self._arn("ec2", f"vpc/{vpc_id}"), "ownerId": MOTO_ACCOUNT}

    def _subnet(self, name: str, inputs: dict) -> tuple[str, dict]:
        subnet = self.client("ec2").create_subnet(
            VpcId=inputs["vpcId"],
            CidrBlock=inputs["cidrBlock"],
            AvailabilityZone=inputs["availabilityZone"],
            TagSpecifications=_tag_spec("subnet", inputs),
        )["Subnet"]
        return subnet["SubnetId"], {"arn": subnet.get("SubnetArn", "")}

    def _route_table(self, name: str, inputs: dict) -> tuple[str, dict]:
        table = self.client("ec2").create_route_table(
            VpcId=inputs["vpcId"], TagSpecifications=_tag_spec("route-table", inputs)
        )["RouteTable"]
        return table["RouteTableId"], {"arn": self._arn("ec2", f"route-table/{table['RouteTableId']}")}

    def _route_table_association(self, name: str, inputs: dict) -> tuple[str, dict]:
        answer = self.client("ec2").associate_route_table(
            RouteTableId=inputs["routeTableId"], SubnetId=inputs["subnetId"]
        )
        return answer["AssociationId"], {}

    def _route(self, name: str, inputs: dict) -> tuple[str, dict]:
        self.client("ec2").create_route(
            RouteTableId=inputs["routeTableId"],
            DestinationCidrBlock=inputs["destinationCidrBlock"],
            GatewayId=inputs["gatewayId"],
        )
        digest = hashlib.sha256(inputs["destinationCidrBlock"].encode()).hexdigest()[:10]
        return f"r-{inputs['routeTableId']}{digest}", {}

    def _security_group(self, name: str, inputs: dict) -> tuple[str, dict]:
        ec2 = self.client("ec2")
        group_id = ec2.create_security_group(
            GroupName=inputs.get("name") or name,
            Description=inputs.get("description") or name,
            VpcId=inputs["vpcId"],
            TagSpecifications=_tag_spec("security-group", inputs),
        )["GroupId"]
        permissions = [_ip_permission(rule) for rule in inputs.get("ingress") or []]
        if permissions:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        # moto, like AWS, starts a group with an allow-all egress rule: the only egress the stack declares.
        return group_id, {
            "arn": self._arn("ec2", f"security-group/{group_id}"),
            "name": inputs.get("name") or name,
        }

    # -- ec2: vpn --------------------------------------------------------------------------------------------

    def _customer_gateway(self, name: str, inputs: dict) -> tuple[str, dict]:
        gateway = self.client("ec2").create_customer_gateway(
            Type=inputs["type"],
            IpAddress=inputs["ipAddress"],
            BgpAsn=int(inputs["bgpAsn"]),
            TagSpecifications=_tag_spec("customer-gateway", inputs),
        )["CustomerGateway"]
        return gateway["CustomerGatewayId"], {}

    def _vpn_gateway(self, name: str, inputs: dict) -> tuple[str, dict]:
        ec2 = self.client("ec2")
        gateway_id = ec2.create_vpn_gateway(
            Type="ipsec.1", TagSpecifications=_tag_spec("vpn-gateway", inputs)
        )["VpnGateway"]["VpnGatewayId"]
        if inputs.get("vpcId"):
            ec2.attach_vpn_gateway(VpcId=inputs["vpcId"], VpnGatewayId=gateway_id)
        return gateway_id, {"arn": self._arn("ec2", f"vpn-gateway/{gateway_id}")}

    def _vpn_connection(self, name: str, inputs: dict) -> tuple[str, dict]:
        connection = self.client("ec2").create_vpn_connection(
            Type=inputs["type"],
            CustomerGatewayId=inputs["customerGatewayId"],
            VpnGatewayId=inputs["vpnGatewayId"],
            Options={"StaticRoutesOnly": bool(inputs.get("staticRoutesOnly"))},
            TagSpecifications=_tag_spec("vpn-connection", inputs),
        )["VpnConnection"]
        return connection["VpnConnectionId"], {
            "arn": self._arn("ec2", f"vpn-connection/{connection['VpnConnectionId']}")
        }

    def _vpn_connection_route(self, name: str, inputs: dict) -> tuple[str, dict]:
        # moto does not implement CreateVpnConnectionRoute: recorded (and policy-checked) only.
        with self._lock:
            self.skipped.append(
                f"vpn static route {inputs['destinationCidrBlock']} (CreateVpnConnectionRoute)"
            )
        return f"{inputs['destinationCidrBlock']}:{inputs['vpnConnectionId']}", {}

    # -- seats -----------------------------------------------------------------------------------------------

    def _launch_template(self, name: str, inputs: dict) -> tuple[str, dict]:
        data: dict[str, Any] = {
            "ImageId": inputs["imageId"],
            "InstanceType": inputs["instanceType"],
            "SecurityGroupIds": list(inputs.get("vpcSecurityGroupIds") or []),
        }
        if inputs.get("metadataOptions"):
            options = inputs["metadataOptions"]
            data["MetadataOptions"] = {
                "HttpTokens": options.get("httpTokens", "required"),
                "HttpEndpoint": options.get("httpEndpoint", "enabled"),
            }
        data["TagSpecifications"] = [
            {"ResourceType": spec["resourceType"], "Tags": _tag_list(spec.get("tags"))}
            for spec in inputs.get("tagSpecifications") or []
        ]
        template = self.client("ec2").create_launch_template(
            LaunchTemplateName=inputs.get("name") or name,
            LaunchTemplateData=data,
            TagSpecifications=_tag_spec("launch-template", inputs),
        )["LaunchTemplate"]
        template_id = template["LaunchTemplateId"]
        version = template.get("LatestVersionNumber", 1)
        return template_id, {
            "arn": self._arn("ec2", f"launch-template/{template_id}"),
            "latestVersion": version,
            "defaultVersion": version,
        }

    def _auto_scaling_group(self, name: str, inputs: dict) -> tuple[str, dict]:
        group_name = inputs.get("name") or name
        template = inputs["launchTemplate"]
        self.client("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName=group_name,
            LaunchTemplate={
                "LaunchTemplateId": template["id"],
                "Version": str(template.get("version", "$Latest")),
            },
            MinSize=inputs["minSize"],
            MaxSize=inputs["maxSize"],
            DesiredCapacity=inputs.get("desiredCapacity", 0),
            VPCZoneIdentifier=",".join(inputs.get("vpcZoneIdentifiers") or []),
            Tags=[
                {
                    "Key": t["key"],
                    "Value": t["value"],
                    "PropagateAtLaunch": bool(t.get("propagateAtLaunch")),
                    "ResourceId": group_name,
                    "ResourceType": "auto-scaling-group",
                }
                for t in inputs.get("tags") or []
            ],
        )
        # moto's own ARN (the access component scopes the orchestrator's role to it)
        (group,) = self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])[
            "AutoScalingGroups"]
        return group_name, {"name": group_name, "arn": group["AutoScalingGroupARN"]}

    # -- restore ---------------------------------------------------------------------------------------------

    def _bucket(self, name: str, inputs: dict) -> tuple[str, dict]:
        bucket = inputs.get("bucket") or name
        s3 = self.client("s3")
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
        if inputs.get("tags"):
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tag_list(inputs["tags"])})
        return bucket, {
            "bucket": bucket,
            "arn": f"arn:aws:s3:::{bucket}",
            "region": self.region,
            "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        }

    def _bucket_versioning(self, name: str, inputs: dict) -> tuple[str, dict]:
        status = inputs["versioningConfiguration"]["status"]
        self.client("s3").put_bucket_versioning(
            Bucket=inputs["bucket"], VersioningConfiguration={"Status": status}
        )
        return inputs["bucket"], {}

    def _bucket_encryption(self, name: str, inputs: dict) -> tuple[str, dict]:
        rules = []
        for rule in inputs["rules"]:
            default = rule["applyServerSideEncryptionByDefault"]
            by_default = {"SSEAlgorithm": default["sseAlgorithm"]}
            if default.get("kmsMasterKeyId"):
                by_default["KMSMasterKeyID"] = default["kmsMasterKeyId"]
            rules.append(
                {
                    "ApplyServerSideEncryptionByDefault": by_default,
                    "BucketKeyEnabled": bool(rule.get("bucketKeyEnabled")),
                }
            )
        self.client("s3").put_bucket_encryption(
            Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules}
        )
        return inputs["bucket"], {}

    def _public_access_block(self, name: str, inputs: dict) -> tuple[str, dict]:
        switches = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        configuration = {s: bool(inputs.get(s[0].lower() + s[1:])) for s in switches}
        self.client("s3").put_public_access_block(
            Bucket=inputs["bucket"], PublicAccessBlockConfiguration=configuration
        )
        return inputs["bucket"], {}

    def _bucket_policy(self, name: str, inputs: dict) -> tuple[str, dict]:
        if self.endpoint_url.startswith("http:") and "aws:SecureTransport" in inputs["policy"]:
            # moto enforces bucket policies, and a moto server on plain HTTP makes every request non-TLS: the
            # TLS-only policy would refuse the orchestrator's own reads and writes. Recorded (and
            # policy-checked) only; AWS is always reached over HTTPS.
            with self._lock:
                self.skipped.append(f"TLS-only bucket policy of {inputs['bucket']} (moto served over plain HTTP)")
            return inputs["bucket"], {}
        self.client("s3").put_bucket_policy(Bucket=inputs["bucket"], Policy=inputs["policy"])
        return inputs["bucket"], {}

    def _secret(self, name: str, inputs: dict) -> tuple[str, dict]:
        answer = self.client("secretsmanager").create_secret(
            Name=inputs["name"], Description=inputs.get("description", ""), Tags=_tag_list(inputs.get("tags"))
        )
        return answer["ARN"], {"arn": answer["ARN"], "name": answer["Name"]}

    def _secret_version(self, name: str, inputs: dict) -> tuple[str, dict]:
        answer = self.client("secretsmanager").put_secret_value(
            SecretId=inputs["secretId"], SecretString=inputs["secretString"]
        )
        return f"{answer['ARN']}|{answer['VersionId']}", {
            "arn": answer["ARN"],
            "versionId": answer["VersionId"],
        }

    # -- notify, state ---------------------------------------------------------------------------------------

    def _topic(self, name: str, inputs: dict) -> tuple[str, dict]:
        arn = self.client("sns").create_topic(
            Name=inputs.get("name") or name, Tags=_tag_list(inputs.get("tags"))
        )["TopicArn"]
        return arn, {"arn": arn, "name": inputs.get("name") or name}

    def _table(self, name: str, inputs: dict) -> tuple[str, dict]:
        dynamodb = self.client("dynamodb")
        table_name = inputs.get("name") or name
        keys = [{"AttributeName": inputs["hashKey"], "KeyType": "HASH"}]
        if inputs.get("rangeKey"):
            keys.append({"AttributeName": inputs["rangeKey"], "KeyType": "RANGE"})
        table = dynamodb.create_table(
            TableName=table_name,
            BillingMode=inputs.get("billingMode", "PAY_PER_REQUEST"),
            KeySchema=keys,
            AttributeDefinitions=[
                {"AttributeName": a["name"], "AttributeType": a["type"]} for a in inputs["attributes"]
            ],
            SSESpecification={"Enabled": bool((inputs.get("serverSideEncryption") or {}).get("enabled"))},
            Tags=_tag_list(inputs.get("tags")),
        )["TableDescription"]
        ttl = inputs.get("ttl") or {}
        if ttl.get("enabled"):
            dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["attributeName"]},
            )
        if (inputs.get("pointInTimeRecovery") or {}).get("enabled"):
            dynamodb.update_continuous_backups(
                TableName=table_name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        return table_name, {"name": table_name, "arn": table["TableArn"]}

    # -- access ----------------------------------------------------------------------------------------------

    def _role(self, name: str, inputs: dict) -> tuple[str, dict]:
        role = self.client("iam").create_role(
            RoleName=inputs["name"], AssumeRolePolicyDocument=inputs["assumeRolePolicy"],
            Description=inputs.get("description", ""), MaxSessionDuration=int(inputs.get("maxSessionDuration", 3600)),
            Tags=_tag_list(inputs.get("tags")),
        )["Role"]
        return role["RoleName"], {"arn": role["Arn"], "name": role["RoleName"], "uniqueId": role["RoleId"]}

    def _role_policy(self, name: str, inputs: dict) -> tuple[str, dict]:
        self.client("iam").put_role_policy(
            RoleName=inputs["role"], PolicyName=inputs["name"], PolicyDocument=inputs["policy"]
        )
        return f"{inputs['role']}:{inputs['name']}", {}

    def _oidc_provider(self, name: str, inputs: dict) -> tuple[str, dict]:
        arn = self.client("iam").create_open_id_connect_provider(
            Url=inputs["url"], ClientIDList=list(inputs.get("clientIdLists") or []),
            ThumbprintList=list(inputs.get("thumbprintLists") or []), Tags=_tag_list(inputs.get("tags")),
        )["OpenIDConnectProviderArn"]
        return arn, {"arn": arn}

    # -- route53 ---------------------------------------------------------------------------------------------

    def _zone(self, name: str, inputs: dict) -> tuple[str, dict]:
        route53 = self.client("route53")
        zone = route53.create_hosted_zone(Name=inputs["name"], CallerReference=str(uuid.uuid4()))
        zone_id = zone["HostedZone"]["Id"].split("/")[-1]
        if inputs.get("tags"):
            route53.change_tags_for_resource(
                ResourceType="hostedzone", ResourceId=zone_id, AddTags=_tag_list(inputs["tags"])
            )
        return zone_id, {
            "zoneId": zone_id,
            "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
            "nameServers": zone["DelegationSet"]["NameServers"],
        }

    def _record(self, name: str, inputs: dict) -> tuple[str, dict]:
        values = [_record_value(inputs["type"], v) for v in inputs["records"]]
        self.client("route53").change_resource_record_sets(
            HostedZoneId=inputs["zoneId"],
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": inputs["name"],
                            "Type": inputs["type"],
                            "TTL": int(inputs["ttl"]),
                            "ResourceRecords": [{"Value": v} for v in values],
                        },
                    }
                ]
            },
        )
        return f"{inputs['zoneId']}_{inputs['name']}_{inputs['type']}", {"fqdn": inputs["name"].rstrip(".")}

    def _find_zone(self, zone_name: str) -> dict:
        wanted = zone_name if zone_name.endswith(".") else zone_name + "."
        zones = self.client("route53").list_hosted_zones_by_name(DNSName=wanted)["HostedZones"]
        for zone in zones:
            if zone["Name"] == wanted:
                zone_id = zone["Id"].split("/")[-1]
                return {
                    "id": zone_id,
                    "zoneId": zone_id,
                    "name": wanted.rstrip("."),
                    "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
                }
        raise LookupError(f"no hosted zone named {zone_name!r} in moto")


# Pulumi's wire encoding of a secret value inside mock inputs (pulumi.runtime.rpc's signature constants).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (a type signature, not a secret)


def _plain(value: Any) -> Any:
    """Inputs as boto3 wants them: secret wrappers replaced by their values (moto must receive the real key
    text), and whole numbers back to int (Pulumi's wire format carries every number as a float)."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _tag_list(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


def _tag_spec(resource_type: str, inputs: dict) -> list[dict]:
    tags = _tag_list(inputs.get("tags"))
    return [{"ResourceType": resource_type, "Tags": tags}] if tags else []


def _ip_permission(rule: dict) -> dict:
    permission: dict[str, Any] = {
        "IpProtocol": rule["protocol"],
        "IpRanges": [
            {"CidrIp": c, "Description": rule.get("description", "")} for c in rule.get("cidrBlocks") or []
        ],
    }
    if rule["protocol"] != "-1":
        permission |= {"FromPort": rule["fromPort"], "ToPort": rule["toPort"]}
    return permission


def _record_value(record_type: str, value: str) -> str:
    # The aws provider quotes TXT values for Route 53; do the same.
    if record_type == "TXT" and not value.startswith('"'):
        return f'"{value}"'
    return value
