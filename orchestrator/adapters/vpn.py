"""EC2 site-to-site VPN connections (AWS side). moto reports no VgwTelemetry: tunnels is then []."""

from __future__ import annotations

from typing import Any, TypedDict

from orchestrator.adapters.aws import AwsSession


class VpnTunnel(TypedDict):
    """One tunnel's AWS telemetry (None where AWS reports nothing)."""

    outside_ip: str | None
    status: str | None
    detail: str | None


class VpnConnection(TypedDict):
    """A VPN connection as ``describe`` returns it: never its pre-shared keys."""

    id: str
    state: str
    tunnels: list[VpnTunnel]
    customer_gateway_id: str | None
    vpn_gateway_id: str | None
    transit_gateway_id: str | None


class VpnConnections:
    """Describe VPN connections through ``aws``."""

    def __init__(self, aws: AwsSession):
        self.aws = aws

    def describe(self, ids: list[str]) -> list[VpnConnection]:
        """One dict per connection: id, state, tunnels [{outside_ip, status}], customer/vpn gateway ids.

        The connection's CustomerGatewayConfiguration (which holds the pre-shared keys) is never
        returned.
        """
        answer = self.aws.call("ec2", "describe_vpn_connections", VpnConnectionIds=list(ids))
        return [_connection(c) for c in answer.get("VpnConnections", [])]


def _connection(raw: dict[str, Any]) -> VpnConnection:
    return {
        "id": raw["VpnConnectionId"],
        "state": raw.get("State", "unknown"),
        "tunnels": [_tunnel(t) for t in raw.get("VgwTelemetry") or []],
        "customer_gateway_id": raw.get("CustomerGatewayId"),
        "vpn_gateway_id": raw.get("VpnGatewayId"),
        "transit_gateway_id": raw.get("TransitGatewayId"),
    }


def _tunnel(raw: dict[str, Any]) -> VpnTunnel:
    return {
        "outside_ip": raw.get("OutsideIpAddress"),
        "status": raw.get("Status"),
        "detail": raw.get("StatusMessage"),
    }
