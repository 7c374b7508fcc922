"""Network: a VPC across two availability zones with private subnets, each with its own route table.

No internet gateway: the seats reach the primary site through the VPN and AWS APIs through the VPC's
own routing; nothing here is reachable from the internet.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stacks.warm_site.tags import Tags


@dataclass
class NetworkArgs:
    vpc_cidr: str
    subnet_cidrs: list[str]
    tags: Tags
    availability_zones: list[str] | None = None


class Network(pulumi.ComponentResource):
    """The VPC, one private subnet per availability zone, one route table per subnet."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=args.tags.of(f"{name}-vpc"),
            opts=child,
        )
        zones = _zone_names(args, child)
        self.subnets: list[aws.ec2.Subnet] = []
        self.route_tables: list[aws.ec2.RouteTable] = []
        for index, cidr in enumerate(args.subnet_cidrs):
            self._private_subnet(name, index, cidr, zones[index % len(zones)], args.tags, child)
        self.vpc_id = self.vpc.id
        self.subnet_ids = [subnet.id for subnet in self.subnets]
        self.route_table_ids = [table.id for table in self.route_tables]
        self.register_outputs({"vpc_id": self.vpc_id, "subnet_ids": self.subnet_ids})

    def _private_subnet(self, name, index, cidr, zone, tags: Tags, child) -> None:
        subnet = aws.ec2.Subnet(
            f"{name}-private-{index}",
            vpc_id=self.vpc.id,
            cidr_block=cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags=tags.of(f"{name}-private-{index}"),
            opts=child,
        )
        table = aws.ec2.RouteTable(
            f"{name}-private-{index}",
            vpc_id=self.vpc.id,
            tags=tags.of(f"{name}-private-{index}"),
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-private-{index}", subnet_id=subnet.id, route_table_id=table.id, opts=child
        )
        self.subnets.append(subnet)
        self.route_tables.append(table)


def _zone_names(args: NetworkArgs, child: pulumi.ResourceOptions) -> list:
    """Two zones: from config when pinned, else the first two available in the region."""
    if args.availability_zones:
        return list(args.availability_zones)
    zones = aws.get_availability_zones_output(
        state="available", opts=pulumi.InvokeOutputOptions(parent=child.parent)
    )
    return [zones.names[0], zones.names[1]]
