"""EC2: the VPC, its subnets, routes and security groups, the VPN gateway side, the seats' launch template."""

from __future__ import annotations

import hashlib
from typing import Any

from stacks.testing.moto.base import MOTO_ACCOUNT, Service, tag_list, tag_spec


class Ec2(Service):
    TYPES = {
        "aws:ec2/vpc:Vpc": "_vpc",
        "aws:ec2/subnet:Subnet": "_subnet",
        "aws:ec2/routeTable:RouteTable": "_route_table",
        "aws:ec2/routeTableAssociation:RouteTableAssociation": "_route_table_association",
        "aws:ec2/route:Route": "_route",
        "aws:ec2/securityGroup:SecurityGroup": "_security_group",
        "aws:ec2/customerGateway:CustomerGateway": "_customer_gateway",
        "aws:ec2/vpnGateway:VpnGateway": "_vpn_gateway",
        "aws:ec2/vpnConnection:VpnConnection": "_vpn_connection",
        "aws:ec2/vpnConnectionRoute:VpnConnectionRoute": "_vpn_connection_route",
        "aws:ec2/launchTemplate:LaunchTemplate": "_launch_template",
    }

    def _vpc(self, name: str, inputs: dict) -> tuple[str, dict]:
        vpc = self.client("ec2").create_vpc(
            CidrBlock=inputs["cidrBlock"], TagSpecifications=tag_spec("vpc", inputs)
        )["Vpc"]
        vpc_id = vpc["VpcId"]
        return vpc_id, {"arn": self._arn("ec2", f"vpc/{vpc_id}"), "ownerId": MOTO_ACCOUNT}

    def _subnet(self, name: str, inputs: dict) -> tuple[str, dict]:
        subnet = self.client("ec2").create_subnet(
            VpcId=inputs["vpcId"],
            CidrBlock=inputs["cidrBlock"],
            AvailabilityZone=inputs["availabilityZone"],
            TagSpecifications=tag_spec("subnet", inputs),
        )["Subnet"]
        return subnet["SubnetId"], {"arn": subnet.get("SubnetArn", "")}

    def _route_table(self, name: str, inputs: dict) -> tuple[str, dict]:
        table = self.client("ec2").create_route_table(
            VpcId=inputs["vpcId"], TagSpecifications=tag_spec("route-table", inputs)
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
            TagSpecifications=tag_spec("security-group", inputs),
        )["GroupId"]
        permissions = [_ip_permission(rule) for rule in inputs.get("ingress") or []]
        if permissions:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
        # moto, like AWS, starts a group with an allow-all egress rule: the only egress the stack declares.
        return group_id, {
            "arn": self._arn("ec2", f"security-group/{group_id}"),
            "name": inputs.get("name") or name,
        }

    def _customer_gateway(self, name: str, inputs: dict) -> tuple[str, dict]:
        gateway = self.client("ec2").create_customer_gateway(
            Type=inputs["type"],
            IpAddress=inputs["ipAddress"],
            BgpAsn=int(inputs["bgpAsn"]),
            TagSpecifications=tag_spec("customer-gateway", inputs),
        )["CustomerGateway"]
        return gateway["CustomerGatewayId"], {}

    def _vpn_gateway(self, name: str, inputs: dict) -> tuple[str, dict]:
        ec2 = self.client("ec2")
        gateway_id = ec2.create_vpn_gateway(
            Type="ipsec.1", TagSpecifications=tag_spec("vpn-gateway", inputs)
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
            TagSpecifications=tag_spec("vpn-connection", inputs),
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
            {"ResourceType": spec["resourceType"], "Tags": tag_list(spec.get("tags"))}
            for spec in inputs.get("tagSpecifications") or []
        ]
        template = self.client("ec2").create_launch_template(
            LaunchTemplateName=inputs.get("name") or name,
            LaunchTemplateData=data,
            TagSpecifications=tag_spec("launch-template", inputs),
        )["LaunchTemplate"]
        template_id = template["LaunchTemplateId"]
        version = template.get("LatestVersionNumber", 1)
        return template_id, {
            "arn": self._arn("ec2", f"launch-template/{template_id}"),
            "latestVersion": version,
            "defaultVersion": version,
        }


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
