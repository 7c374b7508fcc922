"""VPN: the site-to-site VPN from the warm site to the primary site's appliance.

Customer gateway (the appliance's public IKE address), a VPN gateway attached to the VPC, a VPN
connection with static routes to the primary CIDRs, and routes from every private route table to the
primary through the VPN gateway. The appliance's SSH key (the orchestrator drives it over SSH) lives in
Secrets Manager; only the secret's name leaves this component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.warm_site.secrets import private_key_secret
from stacks.warm_site.tags import Tags


@dataclass
class VpnArgs:
    vpc_id: pulumi.Input[str]
    route_table_ids: list[pulumi.Input[str]]
    customer_gateway_ip: str
    bgp_asn: int
    primary_cidrs: list[str]
    key_secret_name: str
    tags: Tags
    private_key: Any = None


class Vpn(pulumi.ComponentResource):
    """Customer gateway, VPN gateway, VPN connection (static routes) and the appliance key secret."""

    def __init__(self, name: str, args: VpnArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:Vpn", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.customer_gateway = aws.ec2.CustomerGateway(
            f"{name}-cgw",
            bgp_asn=str(args.bgp_asn),
            ip_address=args.customer_gateway_ip,
            type="ipsec.1",
            tags=args.tags.of(f"{name}-cgw"),
            opts=child,
        )
        self.vpn_gateway = aws.ec2.VpnGateway(
            f"{name}-vgw", vpc_id=args.vpc_id, tags=args.tags.of(f"{name}-vgw"), opts=child
        )
        self.connection = aws.ec2.VpnConnection(
            f"{name}-connection",
            customer_gateway_id=self.customer_gateway.id,
            vpn_gateway_id=self.vpn_gateway.id,
            type="ipsec.1",
            static_routes_only=True,
            tags=args.tags.of(f"{name}-connection"),
            opts=child,
        )
        self._routes_to_primary(name, args, child)
        self.key_secret = private_key_secret(
            f"{name}-appliance-key", args.key_secret_name, args.private_key, args.tags, self
        )
        self.connection_id = self.connection.id
        self.key_secret_name = self.key_secret.name
        self.register_outputs({"connection_id": self.connection_id, "key_secret_name": self.key_secret_name})

    def _routes_to_primary(self, name: str, args: VpnArgs, child: pulumi.ResourceOptions) -> None:
        for index, cidr in enumerate(args.primary_cidrs):
            aws.ec2.VpnConnectionRoute(
                f"{name}-static-{index}",
                vpn_connection_id=self.connection.id,
                destination_cidr_block=cidr,
                opts=child,
            )
            for table_index, table_id in enumerate(args.route_table_ids):
                aws.ec2.Route(
                    f"{name}-to-primary-{index}-{table_index}",
                    route_table_id=table_id,
                    destination_cidr_block=cidr,
                    gateway_id=self.vpn_gateway.id,
                    opts=child,
                )
