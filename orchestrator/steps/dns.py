"""DNS cutover and cutback (Route 53).

All of the site's records change in one ChangeBatch (split only at Route 53's quotas). Before any
change the values that were there are journaled (``ctx.record(previous=...)``), so rollback puts
back exactly what was there, deleting records that did not exist before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import dns.resolver
from pydantic import Field

from orchestrator.adapters.route53 import Change, RecordSet
from orchestrator.dns_names import normal_name, normal_value
from orchestrator.errors import VerificationFailed
from orchestrator.steps import register
from orchestrator.steps.base import Output, Params, PollResult, StepContext, StepKind


class DnsParams(Params):
    timeout_seconds: float = Field(default=300.0, gt=0)
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    #: after INSYNC, ask the zone's own name servers (skipped, with the reason logged, where unreachable)
    resolve: bool = False
    resolve_timeout_seconds: float = Field(default=3.0, gt=0)


def wanted_records(site: Any, side: str) -> list[RecordSet]:
    """The site's records with their ``side`` ("primary"/"secondary") values."""
    return [RecordSet(normal_name(r.name), r.type, r.ttl, tuple(getattr(r, side))) for r in site.dns.records]


def current_records(ctx: StepContext, wanted: list[RecordSet]) -> dict[tuple[str, str], RecordSet | None]:
    return ctx.services.route53.get_records(ctx.site.dns.zone_id, [(r.name, r.type) for r in wanted])


def differing(ctx: StepContext, wanted: list[RecordSet]) -> list[RecordSet]:
    """The wanted records whose live values (or TTL) differ."""
    current = current_records(ctx, wanted)
    return [w for w in wanted if not _holds(current[(w.name, w.type)], w)]


def _holds(current: RecordSet | None, wanted: RecordSet) -> bool:
    return current is not None and current.same_values(wanted.values, wanted.ttl)


def wait_insync(ctx: StepContext, change_ids: list[str]) -> None:
    """Poll get_change until every change is INSYNC (StepTimeout after timeout_seconds)."""
    route53 = ctx.services.route53

    def probe() -> PollResult:
        statuses = {cid: route53.change_status(cid) for cid in change_ids}
        detail = ", ".join(f"{cid}={status}" for cid, status in statuses.items())
        return PollResult(done=all(s == "INSYNC" for s in statuses.values()), detail=detail)

    ctx.wait_until(
        probe,
        timeout=ctx.params.timeout_seconds,
        interval=ctx.params.poll_interval_seconds,
        what=f"Route 53 change {', '.join(change_ids)} INSYNC",
    )
    ctx.log.info("dns.insync", change_ids=change_ids)


class DnsOutput(Output):
    #: the records as they were before the first change (rollback puts them back)
    previous: list[dict[str, Any]] | None = None
    change_ids: list[str] = []
    #: what the public resolvers answered (status, detail or reason)
    resolve: dict[str, Any] | None = None


class _DnsSwitch(StepKind):
    Output = DnsOutput
    """UPSERT every site record to one side's values; journal what was there first."""

    side: ClassVar[str] = "secondary"
    Params = DnsParams
    compensable = True

    def plan(self, ctx: StepContext) -> list[str]:
        wanted = wanted_records(ctx.site, self.side)
        current = current_records(ctx, wanted)
        return [_plan_line(w, current[(w.name, w.type)]) for w in wanted]

    def verify(self, ctx: StepContext) -> bool:
        return not differing(ctx, wanted_records(ctx.site, self.side))

    def apply(self, ctx: StepContext) -> None:
        wanted = wanted_records(ctx.site, self.side)
        current = current_records(ctx, wanted)
        if "previous" not in ctx.state:  # a resumed step keeps the values from before the first change
            ctx.record(previous=[_snapshot(w, current[(w.name, w.type)]) for w in wanted])
        changes = [Change("UPSERT", w) for w in wanted if not _holds(current[(w.name, w.type)], w)]
        if changes:
            ids = ctx.services.route53.apply(ctx.site.dns.zone_id, changes, comment=_comment(ctx, self.side))
            names = [c.record.name for c in changes]
            ctx.log.info("dns.changed", side=self.side, records=names, change_ids=ids)
            ctx.record(change_ids=ids)
            wait_insync(ctx, ids)
        if ctx.params.resolve:
            _resolve(ctx, wanted)

    def rollback(self, ctx: StepContext) -> None:
        previous = ctx.state.get("previous")
        if not previous:
            ctx.log.info("dns.rollback_nothing", reason="no previous values were journaled: nothing changed")
            return
        changes = _restore_changes(ctx, previous)
        if changes:
            ids = ctx.services.route53.apply(ctx.site.dns.zone_id, changes, comment=_comment(ctx, "rollback"))
            done = [f"{c.action} {c.record.name}" for c in changes]
            ctx.log.info("dns.restored", records=done, change_ids=ids)
            wait_insync(ctx, ids)
        ctx.record(rolled_back=True)


def _restore_changes(ctx: StepContext, previous: list[dict[str, Any]]) -> list[Change]:
    """UPSERT what existed before; DELETE (with its live values) what did not exist before."""
    route53 = ctx.services.route53
    changes = []
    for old in previous:
        live = route53.get_record(ctx.site.dns.zone_id, old["name"], old["type"])
        if old.get("absent"):
            if live is not None:
                changes.append(Change("DELETE", live))
            continue
        record = RecordSet(old["name"], old["type"], int(old["ttl"]), tuple(old["values"]))
        if not _holds(live, record):
            changes.append(Change("UPSERT", record))
    return changes


def _snapshot(wanted: RecordSet, current: RecordSet | None) -> dict[str, Any]:
    if current is None:
        return {"name": wanted.name, "type": wanted.type, "absent": True}
    return current.as_dict()


def _plan_line(wanted: RecordSet, current: RecordSet | None) -> str:
    target = f"{wanted.name} {wanted.type} -> {', '.join(wanted.values)} (ttl {wanted.ttl})"
    if _holds(current, wanted):
        return f"unchanged: {wanted.name} {wanted.type} already {', '.join(wanted.values)}"
    was = "absent" if current is None else f"{', '.join(current.values)} (ttl {current.ttl})"
    return f"UPSERT {target}; now {was}"


def _comment(ctx: StepContext, what: str) -> str:
    return f"cc-failover {ctx.run_id} {ctx.step_id} {what}"


@register
class DnsCutover(_DnsSwitch):
    name = "dns.cutover"
    side = "secondary"
    summary = "point every site DNS record at the secondary site (one Route 53 change batch)"

    def manual(self, params: Any) -> str:
        return "In Route 53, UPSERT every record listed in the site file to its secondary value; wait INSYNC."


@register
class DnsCutback(_DnsSwitch):
    name = "dns.cutback"
    side = "primary"
    summary = "point every site DNS record back at the primary site (one Route 53 change batch)"

    def manual(self, params: Any) -> str:
        return "In Route 53, UPSERT every record listed in the site file to its primary value; wait INSYNC."


# ------------------------------------------------------------------ optional resolver check

QueryFn = Callable[[str, str, str, float], list[str]]


def _resolve(ctx: StepContext, wanted: list[RecordSet]) -> None:
    reason = _resolver_skip_reason(ctx)
    if reason:
        ctx.log.info("dns.resolve_skipped", reason=reason)
        ctx.record(resolve={"status": "skipped", "reason": reason})
        return
    names = ctx.services.route53.name_servers(ctx.site.dns.zone_id)
    status, detail = resolver_check(wanted, names, ctx.params.resolve_timeout_seconds)
    ctx.log.info("dns.resolve", status=status, detail=detail)
    ctx.record(resolve={"status": status, "detail": detail})
    if status == "mismatch":
        raise VerificationFailed(f"dns: the zone's name servers answer otherwise: {detail}")


def _resolver_skip_reason(ctx: StepContext) -> str | None:
    endpoint = ctx.services.aws.endpoint_override
    if endpoint:
        return f"AWS_ENDPOINT_URL={endpoint} is not real AWS: the zone's name servers are not real"
    return None


def resolver_check(
    wanted: list[RecordSet],
    name_servers: list[str],
    timeout: float,
    *,
    addresses: Callable[[str, float], list[str]] | None = None,
    query: QueryFn | None = None,
) -> tuple[str, str]:
    """Ask the first reachable name server for each record: ("ok"|"mismatch"|"skipped", detail)."""
    addresses = addresses or _addresses
    query = query or _query
    last = "the zone has none"
    for server in name_servers:
        try:
            for ip in addresses(server, timeout):
                return _compare(wanted, functools.partial(_ask_at, query, ip, timeout))
        except (dns.exception.DNSException, OSError) as exc:
            last = f"{server}: {type(exc).__name__}"
    return "skipped", f"no name server reachable ({last})"


def _ask_at(query: QueryFn, ip: str, timeout: float, name: str, type_: str) -> list[str]:
    return query(ip, name, type_, timeout)


def _compare(wanted: list[RecordSet], ask: Callable[[str, str], list[str]]) -> tuple[str, str]:
    wrong = []
    for record in wanted:
        got = sorted(normal_value(v, record.type) for v in ask(record.name, record.type))
        if got != sorted(normal_value(v, record.type) for v in record.values):
            wrong.append(f"{record.name} {record.type} = {', '.join(got) or 'nothing'}")
    if wrong:
        return "mismatch", "; ".join(wrong)
    return "ok", f"{len(wanted)} record(s) answered as expected"


def _addresses(host: str, timeout: float) -> list[str]:
    return [r.to_text() for r in dns.resolver.resolve(host, "A", lifetime=timeout)]


def _query(ip: str, name: str, type_: str, timeout: float) -> list[str]:
    answer = dns.query.udp(dns.message.make_query(name, type_), ip, timeout=timeout)
    rdtype = dns.rdatatype.from_text(type_)
    return [item.to_text() for rrset in answer.answer if rrset.rdtype == rdtype for item in rrset]
