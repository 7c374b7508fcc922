"""dns.cutover / dns.cutback against a moto server: one batch, journaled previous values, exact
rollback, INSYNC waits (timeout driven by a FakeClock), resolver check skipped on moto."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from orchestrator.adapters import Services
from orchestrator.errors import StepTimeout
from orchestrator.steps.dns import DnsCutback, DnsCutover
from tests.fixtures.aws import DEFAULT_RECORDS, make_step_context, run_step

pytestmark = pytest.mark.integration


def live(site, services, name, type_):
    record = services.route53.get_record(site.dns.zone_id, name, type_)
    return None if record is None else sorted(record.values)


def test_cutover_moves_every_record_in_one_batch(moto_site, clock):
    """Cutover UPSERTs every record to its secondary values in a single change batch."""
    ctx = make_step_context(DnsCutover, moto_site, clock)
    assert run_step(DnsCutover(), ctx)
    assert live(moto_site, ctx.services, "agents.example.com.", "CNAME") == ["agents.dr.example.net"]
    assert live(moto_site, ctx.services, "sip.example.com.", "A") == ["192.0.2.10", "192.0.2.11"]
    assert len(ctx.state["change_ids"]) == 1


def test_cutover_journals_previous_values_before_changing(moto_site, clock):
    """The values that were live are recorded (persisted) before the change is submitted."""
    persisted = []
    ctx = make_step_context(DnsCutover, moto_site, clock)
    ctx._persist = lambda state: persisted.append(state)
    DnsCutover().apply(ctx)
    first = persisted[0]
    assert "change_ids" not in first
    assert {(p["name"], tuple(p["values"])) for p in first["previous"]} == {
        ("agents.example.com.", ("agents.primary.example.net",)),
        ("sip.example.com.", ("198.51.100.10", "198.51.100.11")),
    }


def test_cutover_verify_is_idempotent(moto_site, clock):
    """A second run sees the secondary values already there and changes nothing."""
    run_step(DnsCutover(), make_step_context(DnsCutover, moto_site, clock))
    ctx = make_step_context(DnsCutover, moto_site, clock)
    assert DnsCutover().verify(ctx)
    assert DnsCutover().plan(ctx)[0].startswith("unchanged")


def test_plan_reads_only(moto_site, clock):
    """plan lists what would change and changes nothing."""
    ctx = make_step_context(DnsCutover, moto_site, clock)
    lines = DnsCutover().plan(ctx)
    assert any("UPSERT sip.example.com. A -> 192.0.2.10, 192.0.2.11" in line for line in lines)
    assert live(moto_site, ctx.services, "sip.example.com.", "A") == ["198.51.100.10", "198.51.100.11"]


def test_rollback_restores_exactly_and_deletes_new_records(make_moto_site, clock):
    """Rollback puts back the previous values and deletes a record that did not exist before."""
    records = [
        *DEFAULT_RECORDS,
        {
            "name": "status.example.com.",
            "type": "A",
            "ttl": 30,
            "primary": "198.51.100.50",
            "secondary": "192.0.2.50",
        },
    ]
    site = make_moto_site(records=records, create_records=["agents.example.com.", "sip.example.com."])
    services = Services(site, clock)
    # the live TTL differs from the site file: rollback must restore what was there, not the file
    services.route53.apply(
        site.dns.zone_id, [_change("agents.example.com.", "CNAME", 300, "old.example.net")]
    )
    ctx = make_step_context(DnsCutover, site, clock, services=services)
    run_step(DnsCutover(), ctx)
    assert live(site, services, "status.example.com.", "A") == ["192.0.2.50"]
    DnsCutover().rollback(ctx)
    agents = services.route53.get_record(site.dns.zone_id, "agents.example.com.", "CNAME")
    assert (agents.values, agents.ttl) == (("old.example.net",), 300)
    assert live(site, services, "sip.example.com.", "A") == ["198.51.100.10", "198.51.100.11"]
    assert live(site, services, "status.example.com.", "A") is None


def test_rollback_without_journal_changes_nothing(moto_site, clock):
    """A cutover that never recorded previous values has nothing to undo."""
    ctx = make_step_context(DnsCutover, moto_site, clock)
    DnsCutover().rollback(ctx)
    assert live(moto_site, ctx.services, "sip.example.com.", "A") == ["198.51.100.10", "198.51.100.11"]


def test_resumed_cutover_keeps_the_original_previous_values(moto_site, clock):
    """Re-applying after a crash does not overwrite the journaled values with the new ones."""
    state: dict = {}
    run_step(DnsCutover(), make_step_context(DnsCutover, moto_site, clock, state=state))
    DnsCutover().apply(make_step_context(DnsCutover, moto_site, clock, state=state))
    previous = {p["name"]: p["values"] for p in state["previous"]}
    assert previous["agents.example.com."] == ["agents.primary.example.net"]


def test_cutback_restores_primary_values(moto_site, clock):
    """Cutback points every record back at the primary values from the site file."""
    run_step(DnsCutover(), make_step_context(DnsCutover, moto_site, clock))
    ctx = make_step_context(DnsCutback, moto_site, clock)
    assert run_step(DnsCutback(), ctx)
    assert live(moto_site, ctx.services, "agents.example.com.", "CNAME") == ["agents.primary.example.net"]
    assert live(moto_site, ctx.services, "sip.example.com.", "A") == ["198.51.100.10", "198.51.100.11"]


def test_insync_wait_times_out_when_change_stays_pending(moto_site, clock, monkeypatch):
    """A change that never reaches INSYNC ends in StepTimeout after the timeout (FakeClock, no sleep)."""
    ctx = make_step_context(
        DnsCutover, moto_site, clock, params={"timeout_seconds": 60, "poll_interval_seconds": 5}
    )
    monkeypatch.setattr(ctx.services.route53, "change_status", lambda change_id: "PENDING")
    with pytest.raises(StepTimeout, match=r"INSYNC.*PENDING"):
        DnsCutover().apply(ctx)
    assert 0 < clock.monotonic() <= 60
    assert clock.sleeps[0] == 5


def test_insync_wait_polls_until_insync(moto_site, clock, monkeypatch):
    """PENDING twice then INSYNC: the step waits through the clock and succeeds."""
    ctx = make_step_context(DnsCutover, moto_site, clock, params={"poll_interval_seconds": 2})
    answers = iter(["PENDING", "PENDING", "INSYNC"])
    monkeypatch.setattr(ctx.services.route53, "change_status", lambda change_id: next(answers))
    DnsCutover().apply(ctx)
    assert clock.sleeps == [2, 3]


def test_resolver_check_is_skipped_on_moto_with_a_reason(moto_site, clock):
    """resolve: true against moto logs why the check was skipped instead of querying fake servers."""
    ctx = make_step_context(DnsCutover, moto_site, clock, params={"resolve": True})
    with capture_logs() as logs:
        run_step(DnsCutover(), ctx)
    skipped = [e for e in logs if e["event"] == "dns.resolve_skipped"]
    assert skipped and "not real" in skipped[0]["reason"]
    assert ctx.state["resolve"]["status"] == "skipped"


def test_params_reject_unknown_keys():
    """A typo in the step's with: block is an error."""
    with pytest.raises(ValueError, match="extra"):
        DnsCutover.Params(timeout_second=5)


def _change(name, type_, ttl, value):
    from orchestrator.adapters.route53 import Change, RecordSet

    return Change("UPSERT", RecordSet(name, type_, ttl, (value,)))


def test_many_records_are_read_with_one_zone_listing_and_cut_over_in_one_batch(make_moto_site, clock):
    """Past a handful of records the zone is listed page by page instead of one call per record, and 400
    records still go out in one change batch; rollback restores them all."""
    records = [
        {"name": f"agent{i:03d}.example.com.", "type": "A", "ttl": 60, "primary": f"198.51.100.{i % 250 + 1}",
         "secondary": f"192.0.2.{i % 250 + 1}"}
        for i in range(400)
    ]
    site = make_moto_site(records=records, create_records=[r["name"] for r in records[:350]])
    services = Services(site, clock)
    calls = []
    services.aws.add_event_hook("before-call.route53.ListResourceRecordSets", lambda **kw: calls.append(1))
    keys = [(r.name, r.type) for r in site.dns.records]
    found = services.route53.get_records(site.dns.zone_id, keys)
    assert len(found) == 400 and sum(v is not None for v in found.values()) == 350
    assert found[("agent007.example.com.", "A")].values == ("198.51.100.8",)
    assert 1 <= len(calls) <= 3  # 350 sets + the zone's NS/SOA at 300 a page
    ctx = make_step_context(DnsCutover, site, clock, services=services)
    assert run_step(DnsCutover(), ctx)
    assert len(ctx.state["change_ids"]) == 1
    assert live(site, services, "agent399.example.com.", "A") == ["192.0.2.150"]
    DnsCutover().rollback(ctx)
    assert live(site, services, "agent007.example.com.", "A") == ["198.51.100.8"]
    assert live(site, services, "agent399.example.com.", "A") is None
