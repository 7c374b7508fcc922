"""Route 53: the hosted zone and its records (and the getZone lookup)."""

from __future__ import annotations

import uuid

from stacks.testing.moto.base import Service, tag_list


class Route53(Service):
    TYPES = {
        "aws:route53/zone:Zone": "_zone",
        "aws:route53/record:Record": "_record",
    }

    def _zone(self, name: str, inputs: dict) -> tuple[str, dict]:
        route53 = self.client("route53")
        zone = route53.create_hosted_zone(Name=inputs["name"], CallerReference=str(uuid.uuid4()))
        zone_id = zone["HostedZone"]["Id"].split("/")[-1]
        if inputs.get("tags"):
            route53.change_tags_for_resource(
                ResourceType="hostedzone", ResourceId=zone_id, AddTags=tag_list(inputs["tags"])
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


def _record_value(record_type: str, value: str) -> str:
    # The aws provider quotes TXT values for Route 53; do the same.
    if record_type == "TXT" and not value.startswith('"'):
        return f'"{value}"'
    return value
