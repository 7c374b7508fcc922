"""EC2 site-to-site VPN connections (AWS side). moto reports no VgwTelemetry: tunnels is then []."""

from __future__ import annotations

from orchestrator.adapters.aws import AwsSession


class VpnConnections:
    """Describe VPN connections through ``aws``."""

    def __init__(self, aws: AwsSession):
        self.aws = aws

    def describe(self, ids: list[str]) -> list[dict]:
        """One dict per connection: id, state, tunnels [{outside_ip, status}], customer/vpn gateway ids.

        The connection's CustomerGatewayConfiguration (which holds the pre-shared keys) is never
        returned.
        """
        answer = self.aws.call("ec2", "describe_vpn_connections", VpnConnectionIds=list(ids))
        return [_connection(c) for c in answer.get("VpnConnections", [])]


def _connection(raw: dict) -> dict:
    return {
        "id": raw["VpnConnectionId"],
        "state": raw.get("State", "unknown"),
        "tunnels": [_tunnel(t) for t in raw.get("VgwTelemetry") or []],
        "customer_gateway_id": raw.get("CustomerGatewayId"),
        "vpn_gateway_id": raw.get("VpnGatewayId"),
        "transit_gateway_id": raw.get("TransitGatewayId"),
    }


def _tunnel(raw: dict) -> dict:
    return {
        "outside_ip": raw.get("OutsideIpAddress"),
        "status": raw.get("Status"),
        "detail": raw.get("StatusMessage"),
    }
