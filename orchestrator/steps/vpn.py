"""``vpn.bring_up`` / ``vpn.tear_down``: the AWS site-to-site VPN and the strongSwan appliance facing it.

Bring-up: the AWS VPN connections must exist and be ``available``; then each appliance connection
(a CHILD SA name) is initiated over SSH, and ``swanctl --list-sas`` is polled through
``ctx.wait_until`` until every child is INSTALLED under an ESTABLISHED IKE SA, or StepTimeout.
Children already up are not initiated again (the step is idempotent; a resumed run re-initiates
nothing that is up). Tunnel telemetry is checked when AWS reports it (moto does not).

With ``vpn.appliance.probe`` in the site file, SA state is not proof enough (a wrong traffic selector or
a missing route shows INSTALLED and carries nothing): bring-up also requires the appliance's bounded
ping to that address to get replies, and tear-down requires it to get none.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from orchestrator.errors import FatalError, OrchestratorError, RetryableError
from orchestrator.steps import register
from orchestrator.steps.base import Output, Params, PollResult, StepContext, StepKind
from orchestrator.strongswan import PingResult


class BringUpParams(Params):
    timeout_seconds: float = Field(default=120.0, gt=0)
    poll_interval_seconds: float = Field(default=2.0, gt=0)
    #: when AWS reports tunnel telemetry, also wait for at least one tunnel UP per connection
    require_tunnel_up: bool = False


class TearDownParams(Params):
    pass


def _probe(ctx: StepContext) -> PingResult | None:
    """The appliance's ping to the site's probe address (None when the site names none)."""
    address = ctx.site.vpn.appliance.probe
    return None if address is None else ctx.services.appliance.ping(address)


def _require_traffic(ctx: StepContext) -> None:
    """FatalError when the probe does not answer through tunnels that show ESTABLISHED/INSTALLED."""
    answer = _probe(ctx)
    if answer is None:
        return
    ctx.record(probe=answer.to_dict())
    if not answer.answered:
        raise FatalError(
            f"vpn: tunnel(s) {', '.join(_children(ctx))} are ESTABLISHED/INSTALLED but carry no traffic: "
            f"ping on the appliance to the probe {answer.describe()}; check the traffic selectors and "
            "routes on both sides")
    ctx.log.info("vpn.traffic", probe=answer.address, rtt_ms=answer.rtt_ms, replies=answer.received)


def _traffic_stopped(ctx: StepContext) -> bool:
    answer = _probe(ctx)
    return answer is None or not answer.answered


def _children(ctx: StepContext) -> list[str]:
    return list(ctx.site.vpn.appliance.connections)


def _aws_connections(ctx: StepContext) -> PollResult:
    """Probe: every site VPN connection exists and is available."""
    ids = list(ctx.site.vpn.connection_ids)
    found = {c["id"]: c for c in ctx.services.vpn.describe(ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise FatalError(f"vpn: AWS VPN connection(s) {', '.join(missing)} not found in {ctx.site.region}")
    states = {i: found[i]["state"] for i in ids}
    gone = [i for i, state in states.items() if state in ("deleting", "deleted")]
    if gone:
        raise FatalError(f"vpn: AWS VPN connection(s) {', '.join(gone)} are being deleted")
    detail = ", ".join(f"{i} {s}" for i, s in states.items())
    return PollResult(all(s == "available" for s in states.values()), detail, found)


def _tunnels_probe(ctx: StepContext) -> PollResult:
    """Probe: each connection with telemetry has a tunnel UP (connections without telemetry pass)."""
    found = ctx.services.vpn.describe(list(ctx.site.vpn.connection_ids))
    down = [
        c["id"] for c in found if c.get("tunnels") and not any(t.get("status") == "UP" for t in c["tunnels"])
    ]
    return PollResult(not down, f"no tunnel UP on {', '.join(down)}" if down else "tunnels up")


def _appliance_probe(ctx: StepContext) -> PollResult:
    """Probe: every child SA is INSTALLED under an ESTABLISHED IKE SA."""
    sas = ctx.services.appliance.list_sas()
    children = _children(ctx)
    return PollResult(all(sas.is_up(c) for c in children), "; ".join(sas.describe(c) for c in children), sas)


class BringUpOutput(Output):
    #: the IPsec children this step initiated (rollback terminates them)
    initiated: list[str] = []


class TearDownOutput(Output):
    terminated: list[str] = []


@register
class BringUp(StepKind):
    name = "vpn.bring_up"
    Params = BringUpParams
    Output = BringUpOutput
    summary = "check the AWS VPN connections are available; initiate the appliance's tunnels; wait until up"
    compensable = True

    def plan(self, ctx: StepContext) -> list[str]:
        sas = ctx.services.appliance.list_sas()
        lines = [
            f"check AWS VPN connection(s) {', '.join(ctx.site.vpn.connection_ids)} are available"
        ]
        for child in _children(ctx):
            if sas.is_up(child):
                lines.append(f"{child} already up on the appliance: no change")
            else:
                lines.append(
                    f"swanctl --initiate --child {child} on {ctx.site.vpn.appliance.host}"
                )
        return lines

    def verify(self, ctx: StepContext) -> bool:
        if not _appliance_probe(ctx).done:
            return False
        answer = _probe(ctx)
        if answer is not None:
            ctx.record(probe=answer.to_dict())
        return answer is None or answer.answered

    def apply(self, ctx: StepContext) -> None:
        params = ctx.params
        ctx.wait_until(
            lambda: _aws_connections(ctx),
            timeout=params.timeout_seconds,
            interval=params.poll_interval_seconds,
            what="AWS VPN connections available",
        )
        sas = ctx.services.appliance.list_sas()
        started = [child for child in _children(ctx) if not sas.is_up(child)]
        # A tunnel this step already initiated (an earlier attempt, or the run before a crash) whose IKE SA
        # is still CONNECTING is left to charon: initiating it again would start a second negotiation.
        connecting = any(ike.state == "CONNECTING" for ike in sas.ikes)
        waiting = [c for c in started if connecting and c in ctx.state.get("initiated", [])]
        if waiting:
            ctx.log.info("vpn.still_connecting", children=waiting, detail="not initiated again")
        started = [c for c in started if c not in waiting]
        # journaled before initiating, so a rollback after a crash mid-initiate still tears them down
        ctx.record(initiated=sorted(set(ctx.state.get("initiated", [])) | set(started)))
        for child in started:
            ctx.services.appliance.initiate(child)
        ctx.wait_until(
            lambda: _appliance_probe(ctx),
            timeout=params.timeout_seconds,
            interval=params.poll_interval_seconds,
            what=f"appliance tunnels {', '.join(_children(ctx))} ESTABLISHED/INSTALLED",
        )
        if params.require_tunnel_up:
            ctx.wait_until(
                lambda: _tunnels_probe(ctx),
                timeout=params.timeout_seconds,
                interval=params.poll_interval_seconds,
                what="AWS tunnel telemetry UP",
            )
        else:
            _log_telemetry(ctx)
        _require_traffic(ctx)
        ctx.log.info("vpn.up", children=_children(ctx))

    def rollback(self, ctx: StepContext) -> None:
        # Only what this step brought up is taken down: a tunnel that was already up stays up.
        # A retried rollback skips the tunnels an earlier attempt already terminated.
        done = ctx.state.get("terminated", [])
        _terminate_each(ctx, [c for c in ctx.state.get("initiated", []) if c not in done], done)
        ctx.record(rolled_back=True)

    def manual(self, params: Any) -> str:
        return (
            "In the AWS console check the site-to-site VPN connections are 'available'; on the appliance run "
            "`swanctl --initiate --child NAME` for each connection, then `swanctl --list-sas` until each "
            "shows ESTABLISHED with its CHILD SA INSTALLED; when the site file names a `probe`, "
            "`ping -c 3 PROBE` on the appliance must get replies (no reply: check the traffic selectors)."
        )


@register
class TearDown(StepKind):
    name = "vpn.tear_down"
    Params = TearDownParams
    Output = TearDownOutput
    summary = "terminate the appliance's VPN tunnels (failback)"

    def plan(self, ctx: StepContext) -> list[str]:
        host = ctx.site.vpn.appliance.host
        return [f"swanctl --terminate --child {child} on {host}" for child in _children(ctx)]

    def verify(self, ctx: StepContext) -> bool:
        sas = ctx.services.appliance.list_sas()
        if any(c.name in _children(ctx) for ike in sas.ikes for c in ike.children):
            return False
        return _traffic_stopped(ctx)

    def apply(self, ctx: StepContext) -> None:
        terminated = _terminate_each(ctx, _children(ctx), [])
        answer = _probe(ctx)
        if answer is not None:
            ctx.record(probe=answer.to_dict())  # the evidence that traffic stopped, for the report
        if answer is not None and answer.answered:
            raise FatalError(f"vpn: the tunnels are terminated but the probe still answers: {answer.describe()} "
                             "(traffic still reaches the warm site another way)")
        ctx.log.info("vpn.down", terminated=terminated)

    def manual(self, params: Any) -> str:
        return ("On the appliance run `swanctl --terminate --child NAME` for each connection; when the site "
                "file names a `probe`, `ping -c 3 PROBE` on the appliance must then get no reply.")


def _terminate_each(ctx: StepContext, children: list[str], already: list[str]) -> list[str]:
    """``swanctl --terminate`` every child, going on past a failure (one stuck tunnel must not leave
    the others up); journals the ones terminated, then raises one error naming every failure."""
    terminated, failures = list(already), []
    for child in children:
        try:
            if ctx.services.appliance.terminate(child):
                terminated.append(child)
        except OrchestratorError as exc:
            ctx.log.error("vpn.terminate_failed", child=child, error=str(exc))
            failures.append(exc)
        ctx.record(terminated=terminated)
    if failures:
        error = RetryableError if all(isinstance(f, RetryableError) for f in failures) else FatalError
        raise error(
            f"vpn: {len(failures)} of {len(children)} tunnel(s) could not be terminated: "
            + "; ".join(str(f) for f in failures)
        )
    return terminated


def _log_telemetry(ctx: StepContext) -> None:
    for connection in ctx.services.vpn.describe(list(ctx.site.vpn.connection_ids)):
        tunnels = connection.get("tunnels") or []
        if not tunnels:
            ctx.log.info(
                "vpn.telemetry", connection=connection["id"], detail="AWS reports no tunnel telemetry"
            )
        elif not any(t.get("status") == "UP" for t in tunnels):
            ctx.log.warning(
                "vpn.telemetry", connection=connection["id"], detail="no tunnel UP yet (AWS lags)"
            )
