"""connect.shift_traffic / shift_back / announce / unannounce and the Connect readiness checks, against the
Connect double over HTTP with the real boto3 client (waits driven by a FakeClock)."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from orchestrator import checks
from orchestrator.adapters.aws import AwsFatalError
from orchestrator.adapters.connect import Distribution
from orchestrator.errors import FatalError, StepTimeout
from orchestrator.steps.connect import Announce, ShiftBack, ShiftParams, ShiftTraffic, Unannounce
from tests.fixtures.aws import make_step_context, run_step
from tests.fixtures.connect import PRIMARY, SECONDARY, with_connect

pytestmark = pytest.mark.integration


def updates(double) -> list[dict]:
    """The UpdateTrafficDistribution requests the double accepted: Region called in, telephony percent there."""
    return [{"region": r["region"],
             "telephony": {d["Region"]: d["Percentage"] for d in r["params"]["TelephonyConfig"]["Distributions"]}}
            for r in double.service.accepted if r["operation"] == "UpdateTrafficDistribution"]


def shift_ctx(site, clock, **params):
    return make_step_context(ShiftTraffic, site, clock, params=params,
                             outputs={"seats-up": {"serving": site.seats.target}})


def test_shift_in_steps_each_made_in_the_secondary_and_verified(connect_site, connect_double, clock):
    """10 -> 50 -> 100 %: three updates, each made in the secondary Region, telephony and agents alike; the
    distribution found first is journaled; verify holds after."""
    ctx = shift_ctx(connect_site, clock, steps=[10, 50, 100], seats_step="seats-up")
    assert run_step(ShiftTraffic(), ctx)
    assert [u["telephony"][SECONDARY] for u in updates(connect_double)] == [10, 50, 100]
    assert {u["region"] for u in updates(connect_double)} == {SECONDARY}
    world = connect_double.world.snapshot()
    assert world["telephony"] == world["agents"] == {PRIMARY: 0, SECONDARY: 100}
    assert ctx.state["original"]["telephony"] == {PRIMARY: 100, SECONDARY: 0}
    assert ctx.state["reached"] == 100
    assert [(s["percent"], s["telephony"][SECONDARY]) for s in ctx.state["shifts"]] == [(10, 10), (50, 50), (100, 100)]


def test_plan_prints_each_steps_percentages_and_changes_nothing(connect_site, connect_double, clock):
    """The plan lists every step's split and the Region it is made in; no update is made."""
    lines = ShiftTraffic().plan(shift_ctx(connect_site, clock, steps=[20, 100]))
    assert lines[1] == f"step 20%: telephony and agents {SECONDARY} 20% / {PRIMARY} 80% " \
                       f"(UpdateTrafficDistribution in {SECONDARY})"
    assert lines[2].startswith(f"step 100%: telephony and agents {SECONDARY} 100% / {PRIMARY} 0%")
    assert updates(connect_double) == []


@pytest.mark.parametrize("steps", [[10, 55, 100], [50, 20, 100], [10, 50], [0, 100], [10, 50, 100, 100]])
def test_steps_param_refuses_bad_sequences(steps):
    """Steps must be 10 % multiples from 10 to 100, rising, ending at 100."""
    with pytest.raises(ValueError, match=r"multiple of 10|must rise|last step must be 100"):
        ShiftParams(steps=steps)


def test_throttled_update_is_retried_and_logged(connect_site, connect_double, clock):
    """Two ThrottlingException answers to an update are retried (each retry logged); the shift completes."""
    connect_double.service.faults.throttle["UpdateTrafficDistribution"] = 2
    ctx = shift_ctx(connect_site, clock, steps=[100])
    with capture_logs() as logs:
        run_step(ShiftTraffic(), ctx)
    retries = [e for e in logs if e["event"] == "retry"]
    assert [e["what"] for e in retries] == ["connect.update_traffic_distribution"] * 2
    assert "ThrottlingException" in retries[0]["error"]
    assert connect_double.world.snapshot()["telephony"] == {PRIMARY: 0, SECONDARY: 100}
    assert len(updates(connect_double)) == 3  # two throttled, one applied


def test_refused_update_is_fatal_named_and_not_retried(connect_site, connect_double, clock):
    """An update not summing to 100: AwsFatalError naming the operation, the code and AWS's reason; one request."""
    connect = make_step_context(ShiftTraffic, connect_site, clock).services.connect
    wrong = Distribution({SECONDARY: 60, PRIMARY: 50}, {SECONDARY: 60, PRIMARY: 40})
    with pytest.raises(AwsFatalError) as caught:
        connect.update_distribution(SECONDARY, wrong, sign_in=False)
    assert str(caught.value).startswith("connect.update_traffic_distribution: InvalidRequestException:")
    assert "adds up to 110 %" in str(caught.value)
    assert len(updates(connect_double)) == 1
    assert connect_double.world.snapshot()["telephony"] == {PRIMARY: 100, SECONDARY: 0}


def test_group_not_active_fails_the_shift_without_change(connect_site, connect_double, clock):
    """A group still replicating (not ACTIVE) refuses the update: the step fails at once, nothing moved."""
    connect_double.world.status = "UPDATE_IN_PROGRESS"
    with pytest.raises(AwsFatalError, match=r"InvalidRequestException.*not ACTIVE"):
        ShiftTraffic().apply(shift_ctx(connect_site, clock, steps=[10, 100]))
    assert len(updates(connect_double)) == 1
    assert connect_double.world.snapshot()["telephony"] == {PRIMARY: 100, SECONDARY: 0}


def test_rollback_restores_the_exact_earlier_distribution(connect_site, connect_double, clock):
    """From an uneven start (telephony 70/30, agents 80/20, sign-in off in the secondary) a shift and its
    rollback leave telephony, agents and sign-in exactly as found."""
    connect = make_step_context(ShiftTraffic, connect_site, clock).services.connect
    start = Distribution({PRIMARY: 70, SECONDARY: 30}, {PRIMARY: 80, SECONDARY: 20},
                         {PRIMARY: True, SECONDARY: False})
    connect.update_distribution(PRIMARY, start, sign_in=True)
    before = connect_double.world.snapshot()
    ctx = shift_ctx(connect_site, clock, steps=[50, 100])
    run_step(ShiftTraffic(), ctx)
    assert connect_double.world.snapshot()["sign_in"] == {PRIMARY: True, SECONDARY: True}
    ShiftTraffic().rollback(ctx)
    assert connect_double.world.snapshot() == before
    assert updates(connect_double)[-1]["region"] == PRIMARY  # the Region taking the most traffic once restored


def test_resumed_shift_continues_from_what_it_finds(connect_site, connect_double, clock):
    """A shift already at 50 % (a run killed after that step) applies only 100 %; its journaled original stays."""
    ctx = shift_ctx(connect_site, clock, steps=[10, 50, 100])
    ctx.state["original"] = Distribution({PRIMARY: 100, SECONDARY: 0}, {PRIMARY: 100, SECONDARY: 0}).to_dict()
    connect = ctx.services.connect
    connect.update_distribution(SECONDARY, Distribution.split(SECONDARY, 50, PRIMARY, {}), sign_in=False)
    ShiftTraffic().apply(ctx)
    assert [u["telephony"][SECONDARY] for u in updates(connect_double)] == [50, 100]
    assert ctx.state["original"]["telephony"] == {PRIMARY: 100, SECONDARY: 0}


def test_a_journaled_shift_that_never_took_is_dropped_and_one_that_took_is_kept(connect_site, connect_double, clock):
    """A run killed after journaling a step but before its call reached Connect: on resume the distribution
    found is not that step's, so the entry is dropped (the report shows only shares really set); the step is
    then applied and read back."""
    ctx = shift_ctx(connect_site, clock, steps=[50, 100])
    ctx.state["original"] = Distribution({PRIMARY: 100, SECONDARY: 0}, {PRIMARY: 100, SECONDARY: 0}).to_dict()
    never = Distribution.split(SECONDARY, 50, PRIMARY, {}).to_dict()
    ctx.state["shifts"] = [{"percent": 50, "at": "2026-11-22T23:00:00+00:00", **never, "verified": False}]
    with capture_logs() as logs:
        ShiftTraffic().apply(ctx)
    assert [(e["percent"], e["now"]) for e in logs if e["event"] == "connect.shift_not_applied"] == \
        [(50, f"telephony {PRIMARY} 100%, {SECONDARY} 0%; agents {PRIMARY} 100%, {SECONDARY} 0%")]
    assert [(s["percent"], s["at"], s["verified"]) for s in ctx.state["shifts"]] == \
        [(50, "2026-11-23T03:00:00+00:00", True), (100, "2026-11-23T03:00:00+00:00", True)]
    assert [u["telephony"][SECONDARY] for u in updates(connect_double)] == [50, 100]


def test_seats_gate_stops_before_any_change(connect_site, connect_double, clock):
    """The seats step recorded fewer seats in service than the target: FatalError naming it, no update."""
    ctx = make_step_context(ShiftTraffic, connect_site, clock, params={"seats_step": "seats-up"},
                            outputs={"seats-up": {"serving": 3}})
    with pytest.raises(FatalError, match="'seats-up' recorded 3 seats in service, fewer than the target 6"):
        ShiftTraffic().apply(ctx)
    assert updates(connect_double) == []


def test_agents_gate_waits_through_the_clock_and_times_out(connect_site, connect_double, clock):
    """Fewer agents available in the secondary than the minimum: the gate polls through the FakeClock and ends
    in StepTimeout naming the count seen; no update was made."""
    connect_double.world.set_agents(SECONDARY, 2)
    ctx = shift_ctx(connect_site, clock, agents_timeout_seconds=60, poll_interval_seconds=10)
    with pytest.raises(StepTimeout, match=r"5 agents available in us-west-2 before 10%.*2 agents available"):
        ShiftTraffic().apply(ctx)
    assert updates(connect_double) == []
    assert clock.monotonic() >= 50  # it waited, on the fake clock


def test_agents_gate_between_steps_waits_for_agents(connect_site, connect_double, clock, monkeypatch):
    """Agents who drop after the first step hold the second until they are back (gate between steps)."""
    connect_double.world.set_agents(SECONDARY, 1, after_updates=1)
    ctx = shift_ctx(connect_site, clock, steps=[10, 100], poll_interval_seconds=5)
    polls = []
    real = ctx.services.connect.agents_available

    def counted(region):
        polls.append(region)
        if len(polls) == 4:  # agents back while the gate waits
            connect_double.world.set_agents(SECONDARY, 9)
        return real(region)

    monkeypatch.setattr(ctx.services.connect, "agents_available", counted)
    ShiftTraffic().apply(ctx)
    assert [u["telephony"][SECONDARY] for u in updates(connect_double)] == [10, 100]
    assert len(polls) == 4  # 1 before 10 %, 3 before 100 % (2 short, then enough)


def test_shift_back_moves_to_the_primary_calling_there(connect_site, connect_double, clock):
    """After a shift, shift_back returns everything to the primary, its updates made in the primary."""
    run_step(ShiftTraffic(), shift_ctx(connect_site, clock, steps=[100]))
    back = make_step_context(ShiftBack, connect_site, clock, params={"steps": [50, 100]})
    assert run_step(ShiftBack(), back)
    assert [(u["region"], u["telephony"][PRIMARY]) for u in updates(connect_double)[1:]] == \
        [(PRIMARY, 50), (PRIMARY, 100)]
    assert connect_double.world.snapshot()["telephony"] == {PRIMARY: 100, SECONDARY: 0}


def agent_updates(double) -> list[dict]:
    return [{d["Region"]: d["Percentage"] for d in r["params"]["AgentConfig"]["Distributions"]}
            for r in double.service.accepted if r["operation"] == "UpdateTrafficDistribution"]


def test_shift_moves_each_dimension_from_where_it_is_never_back_to_the_primary(connect_site, connect_double, clock):
    """Telephony already 100 % in the secondary, agents 100 % in the primary: every step keeps telephony at 100 %
    in the secondary (no call sent back to the failed Region, not even through the agent gate) and moves the
    agents 10 -> 50 -> 100; the plan (the dry run) says so per dimension, before anything changes."""
    connect = make_step_context(ShiftTraffic, connect_site, clock).services.connect
    connect.update_distribution(SECONDARY, Distribution({PRIMARY: 0, SECONDARY: 100}, {PRIMARY: 100, SECONDARY: 0}),
                                sign_in=False)
    ctx = shift_ctx(connect_site, clock, steps=[10, 50, 100])
    lines = ShiftTraffic().plan(ctx)
    assert len(updates(connect_double)) == 1  # the plan changed nothing
    assert run_step(ShiftTraffic(), ctx)
    assert [u["telephony"] for u in updates(connect_double)[1:]] == [{PRIMARY: 0, SECONDARY: 100}] * 3
    assert [a[SECONDARY] for a in agent_updates(connect_double)[1:]] == [10, 50, 100]
    assert [(s["percent"], s["telephony"][SECONDARY], s["agents"][SECONDARY]) for s in ctx.state["shifts"]] == \
        [(10, 100, 10), (50, 100, 50), (100, 100, 100)]
    assert lines[1:] == [
        f"step 10%: telephony {SECONDARY} 100% / {PRIMARY} 0% (kept: already there), agents {SECONDARY} 10% / "
        f"{PRIMARY} 90% (UpdateTrafficDistribution in {SECONDARY})",
        f"step 50%: telephony {SECONDARY} 100% / {PRIMARY} 0% (kept: already there), agents {SECONDARY} 50% / "
        f"{PRIMARY} 50% (UpdateTrafficDistribution in {SECONDARY})",
        f"step 100%: telephony and agents {SECONDARY} 100% / {PRIMARY} 0% (UpdateTrafficDistribution in {SECONDARY})"]


def test_shift_back_mirror_case_keeps_telephony_in_the_primary(connect_site, connect_double, clock):
    """Failback with telephony already 100 % in the primary and agents 100 % in the secondary: no step sends
    calls back to the secondary (it was 50/50 before the fix); only the agents move, 50 -> 100."""
    connect = make_step_context(ShiftBack, connect_site, clock).services.connect
    connect.update_distribution(PRIMARY, Distribution({PRIMARY: 100, SECONDARY: 0}, {PRIMARY: 0, SECONDARY: 100}),
                                sign_in=False)
    back = make_step_context(ShiftBack, connect_site, clock, params={"steps": [50, 100]})
    lines = ShiftBack().plan(back)
    assert run_step(ShiftBack(), back)
    assert [(u["region"], u["telephony"][PRIMARY]) for u in updates(connect_double)[1:]] == \
        [(PRIMARY, 100), (PRIMARY, 100)]
    assert [a[PRIMARY] for a in agent_updates(connect_double)[1:]] == [50, 100]
    assert connect_double.world.snapshot()["agents"] == {PRIMARY: 100, SECONDARY: 0}
    assert lines[1] == (f"step 50%: telephony {PRIMARY} 100% / {SECONDARY} 0% (kept: already there), agents "
                        f"{PRIMARY} 50% / {SECONDARY} 50% (UpdateTrafficDistribution in {PRIMARY})")


def test_a_dimension_past_a_step_is_left_alone_and_a_step_both_passed_is_skipped(connect_site, connect_double, clock):
    """Agents 60 % in the secondary, telephony 0 %: step 50 moves only telephony (agents stay at 60, never back to
    50); a step both dimensions have passed is skipped in the plan and in the run."""
    connect = make_step_context(ShiftTraffic, connect_site, clock).services.connect
    connect.update_distribution(PRIMARY, Distribution({PRIMARY: 100, SECONDARY: 0}, {PRIMARY: 40, SECONDARY: 60}),
                                sign_in=False)
    ctx = shift_ctx(connect_site, clock, steps=[50, 100])
    assert ShiftTraffic().plan(ctx)[1] == (
        f"step 50%: telephony {SECONDARY} 50% / {PRIMARY} 50%, agents {SECONDARY} 60% / {PRIMARY} 40% "
        f"(kept: already there) (UpdateTrafficDistribution in {SECONDARY})")
    run_step(ShiftTraffic(), ctx)
    assert [(a[SECONDARY], u["telephony"][SECONDARY]) for a, u in
            zip(agent_updates(connect_double)[1:], updates(connect_double)[1:], strict=True)] == [(60, 50), (100, 100)]
    again = shift_ctx(connect_site, clock, steps=[50, 100])
    assert ShiftTraffic().plan(again)[1] == f"step 50%: telephony {SECONDARY} 100%, agents {SECONDARY} 100% " \
                                             "(already there: skipped)"


# ------------------------------------------------------------------------------------------- announcement


def overrides(double) -> dict:
    return {region: names for region, by_hours in double.world.snapshot()["overrides"].items()
            for names in by_hours.values()}


def test_announce_and_unannounce_are_idempotent(connect_site, connect_double, clock):
    """announce twice: one override per Region, verified; unannounce twice: none left."""
    ctx = make_step_context(Announce, connect_site, clock)
    assert run_step(Announce(), ctx)
    Announce().apply(ctx)  # again: nothing new
    assert not run_step(Announce(), ctx)
    assert overrides(connect_double) == {PRIMARY: ["dr-outage-announcement"], SECONDARY: ["dr-outage-announcement"]}
    creates = [r for r in connect_double.service.accepted if r["operation"] == "CreateHoursOfOperationOverride"]
    assert len(creates) == 2 and creates[0]["params"]["OverrideType"] == "CLOSED"
    off = make_step_context(Unannounce, connect_site, clock)
    assert run_step(Unannounce(), off)
    Unannounce().apply(off)
    assert overrides(connect_double) == {PRIMARY: [], SECONDARY: []}


def test_announce_rollback_removes_only_what_it_created(connect_site, connect_double, clock):
    """An override already there (in effect today) before the step is kept by the rollback; the one it created
    goes."""
    site = connect_site
    hours = site.connect.announcement.hours_of_operation_id
    ctx = make_step_context(Announce, site, clock)
    ctx.services.connect.create_override(PRIMARY, hours, name="dr-outage-announcement", description="by hand",
                                         effective_from="2026-11-20", effective_till="2026-12-01")
    run_step(Announce(), ctx)
    assert set(ctx.state["created"]) == {SECONDARY}
    Announce().rollback(ctx)
    assert overrides(connect_double) == {PRIMARY: ["dr-outage-announcement"], SECONDARY: []}


def override_windows(double) -> dict:
    """Region -> [(name, EffectiveFrom, EffectiveTill)] of every override on the announcement's hours."""
    return {region: sorted((o["Name"], o["EffectiveFrom"], o["EffectiveTill"])
                           for by_id in state.overrides.values() for o in by_id.values())
            for region, state in double.world.by_region.items()}


def test_an_expired_override_of_that_name_is_not_on_and_is_replaced(connect_site, connect_double, clock):
    """An override named like ours that ended before today (the clock: 2026-11-23) plays nothing: the plan says
    so, verify does not hold, and announce replaces it with one from today for `days` days (before the fix it said
    "already on" and callers heard nothing); the output names its last day per Region."""
    hours = connect_site.connect.announcement.hours_of_operation_id
    ctx = make_step_context(Announce, connect_site, clock, params={"days": 7})
    for region in (PRIMARY, SECONDARY):
        ctx.services.connect.create_override(region, hours, name="dr-outage-announcement", description="last drill",
                                             effective_from="2026-11-01", effective_till="2026-11-08")
    assert not Announce().verify(ctx)
    assert all("not in effect today: replaced" in line for line in Announce().plan(ctx))
    assert run_step(Announce(), ctx)
    assert override_windows(connect_double) == {
        region: [("dr-outage-announcement", "2026-11-23", "2026-11-30")] for region in (PRIMARY, SECONDARY)}
    assert ctx.state["until"] == {SECONDARY: "2026-11-30", PRIMARY: "2026-11-30"}
    assert ctx.state["replaced"] == {SECONDARY: "2026-11-01 to 2026-11-08", PRIMARY: "2026-11-01 to 2026-11-08"}
    Announce().rollback(ctx)  # what it created goes; the expired one it replaced played nothing and stays gone
    assert overrides(connect_double) == {PRIMARY: [], SECONDARY: []}


def test_an_override_in_effect_is_kept_and_its_last_day_recorded(connect_site, connect_double, clock):
    """An override of that name in effect today is on: nothing is created, and ``until`` is its EffectiveTill."""
    hours = connect_site.connect.announcement.hours_of_operation_id
    ctx = make_step_context(Announce, connect_site, clock)
    for region in (PRIMARY, SECONDARY):
        ctx.services.connect.create_override(region, hours, name="dr-outage-announcement", description="by hand",
                                             effective_from="2026-11-23", effective_till="2026-11-24")
    assert Announce().plan(ctx)[0].endswith("(already on, until 2026-11-24: kept); callers hear: "
                                            f"{connect_site.connect.announcement.text!r}")
    Announce().apply(ctx)
    assert ctx.state.get("created", {}) == {} and ctx.state["until"] == {SECONDARY: "2026-11-24", PRIMARY: "2026-11-24"}


def test_override_days_are_days_of_the_hours_of_operation_time_zone(connect_site, connect_double, clock):
    """At 03:00 UTC on 2026-11-23 it is still the 22nd in Los Angeles: the secondary's hours (that time zone) get
    an override from the 22nd (one from the 23rd would leave callers without the announcement until local
    midnight), the primary's (UTC) from the 23rd; an override there ending on the 22nd still counts as on."""
    hours = connect_site.connect.announcement.hours_of_operation_id
    connect_double.world.by_region[SECONDARY].hours[hours]["TimeZone"] = "America/Los_Angeles"
    ctx = make_step_context(Announce, connect_site, clock, params={"days": 7})
    run_step(Announce(), ctx)
    assert override_windows(connect_double) == {
        SECONDARY: [("dr-outage-announcement", "2026-11-22", "2026-11-29")],
        PRIMARY: [("dr-outage-announcement", "2026-11-23", "2026-11-30")]}
    connect_double.world.by_region[SECONDARY].overrides[hours].clear()
    ctx.services.connect.create_override(SECONDARY, hours, name="dr-outage-announcement", description="by hand",
                                         effective_from="2026-11-20", effective_till="2026-11-22")
    assert Announce().verify(make_step_context(Announce, connect_site, clock))


def test_announce_failing_in_one_region_still_announces_the_other_and_names_it(connect_site, connect_double, clock):
    """The primary's hours of operation gone: the secondary is announced, the step fails naming the primary."""
    hours = connect_site.connect.announcement.hours_of_operation_id
    del connect_double.world.by_region[PRIMARY].hours[hours]
    ctx = make_step_context(Announce, connect_site, clock)
    with pytest.raises(FatalError, match=f"connect.announce: {PRIMARY}: .*ResourceNotFoundException"):
        Announce().apply(ctx)
    assert overrides(connect_double)[SECONDARY] == ["dr-outage-announcement"]
    assert set(ctx.state["failed"]) == {PRIMARY}


def test_announce_without_an_announcement_is_a_no_op(moto_site, connect_double, clock):
    """A Connect site with no announcement key: verify holds, nothing is created."""
    site = with_connect(moto_site, announcement=None)
    ctx = make_step_context(Announce, site, clock)
    assert Announce().verify(ctx) and Announce().plan(ctx)[0].startswith("no connect.announcement")
    assert [r for r in connect_double.service.accepted if r["operation"].startswith("Create")] == []


# ------------------------------------------------------------------------------------------- readiness


def connect_checks(site, services) -> dict:
    return {r.name: r for r in checks.run_checks(checks.CONNECT, checks.CheckEnv(services, site))}


def test_readiness_checks_pass_on_a_ready_connect_site(connect_site, connect_double, clock):
    """Group ACTIVE (replicated), the announcement's hours and prompt found, 12 agents >= 5, queue thresholds
    given (connect.shift_guard: without them readiness warns, tests/integration/test_connect_shift_guard.py)."""
    connect_site = with_connect(connect_site, shift_guard={"contacts_in_queue": 20})
    services = make_step_context(ShiftTraffic, connect_site, clock).services
    found = connect_checks(connect_site, services)
    assert all(r.ok for r in found.values()), found
    assert "ACTIVE" in found["connect.traffic_group"].detail
    assert found["connect.agents"].detail == "12 agents available in us-west-2 (minimum 5)"
    assert "connect.traffic_group" in [c.check_name for c in checks.preflight_for(connect_site)]
    assert "connect.traffic_group" not in [c.check_name for c in checks.preflight_for(
        connect_site.model_copy(update={"connect": None}))]


def test_readiness_flags_a_group_not_replicated_and_too_few_agents(connect_site, connect_double, clock):
    """A group still being created is a blocking failure; too few agents a warning."""
    connect_double.world.status = "CREATION_IN_PROGRESS"
    connect_double.world.set_agents(SECONDARY, 1)
    services = make_step_context(ShiftTraffic, connect_site, clock).services
    found = connect_checks(connect_site, services)
    assert (found["connect.traffic_group"].ok, found["connect.traffic_group"].blocking) == (False, True)
    assert (found["connect.agents"].ok, found["connect.agents"].blocking) == (False, False)


def test_readiness_warns_before_the_announcement_in_effect_lapses(connect_site, connect_double, clock):
    """An announcement override in effect whose last day is tomorrow (the clock: 2026-11-23): a warning naming
    the Region, the day and what to extend (callers would stop hearing it silently); one ending a week later is
    only noted; an expired one is noted as playing nothing. The primary that cannot be read is a note."""
    hours = connect_site.connect.announcement.hours_of_operation_id
    services = make_step_context(ShiftTraffic, connect_site, clock).services
    services.connect.create_override(SECONDARY, hours, name="dr-outage-announcement", description="run 1",
                                     effective_from="2026-11-17", effective_till="2026-11-24")
    services.connect.create_override(PRIMARY, hours, name="dr-outage-announcement", description="old drill",
                                     effective_from="2026-11-01", effective_till="2026-11-08")
    found = connect_checks(connect_site, services)["connect.announcement"]
    assert (found.ok, found.blocking) == (False, False)
    assert found.detail.startswith(
        f"the outage announcement in {SECONDARY} ends after 2026-11-24 (1 day left): callers stop hearing it then; "
        f"extend override 'dr-outage-announcement' (its EffectiveTill) on hours of operation {hours}")
    assert f"override 'dr-outage-announcement' in {PRIMARY} ended on 2026-11-08: it plays nothing" in found.detail

    connect_double.world.by_region[SECONDARY].overrides[hours].clear()
    services.connect.create_override(SECONDARY, hours, name="dr-outage-announcement", description="run 2",
                                     effective_from="2026-11-23", effective_till="2026-11-30")
    del connect_double.world.by_region[PRIMARY].hours[hours]  # the primary answers nothing of its hours
    found = connect_checks(connect_site, services)["connect.announcement"]
    assert found.ok, found.detail
    assert f"the outage announcement is on in {SECONDARY} until 2026-11-30" in found.detail
    assert f"{PRIMARY}: overrides not read (" in found.detail
