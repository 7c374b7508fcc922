"""Amazon Connect (Global Resiliency): move telephony and agents between the site's two Regions in steps, and
switch the outage announcement on and off.

``connect.shift_traffic`` (failover: to the secondary Region) and ``connect.shift_back`` (failback: to the
primary) bring the traffic distribution group's telephony and agent distribution to at least each percentage
of ``steps`` in the target Region in turn (10 % steps ending at 100, AWS's own granularity), each dimension
moved from where it is (one already further along keeps its share: nothing is ever moved back towards the
Region the traffic leaves), each step made with UpdateTrafficDistribution in the Region taking the traffic
and read back with GetTrafficDistribution. Each step is journaled in ``shifts`` before its call and marked
verified once read back (a run killed in between settles it on resume: kept if it took, dropped if not).
Before each step a gate: the seats in service (the seats step's typed output, when ``seats_step`` names it)
and, with ``connect.min_agents_available`` > 0, that many agents available in the target Region
(GetCurrentMetricData, waited for through the step's clock, bounded); with ``connect.shift_guard``, the target
Region's queues within its thresholds (``shift_guard``: held past its limit, the shift stops at the share
reached, sends ``shift-held`` and fails resumably). The distribution found before the first
change is journaled first; rollback restores it exactly. A resumed step starts from the distribution it finds:
a step already reached is never applied again. On the default group (the only one AWS lets change sign-in)
agents are also allowed to sign in to the target Region.

``connect.announce`` / ``connect.unannounce``: an hours-of-operation override (CLOSED, all day) named
``connect.announcement.override_name`` on ``announcement.hours_of_operation_id`` in each Region, which sends
the contact flow's hours check down the branch that plays the outage announcement (docs/decisions.md says
why an override). Only an override in effect today (its EffectiveFrom..EffectiveTill, days of the hours of
operation's time zone, holds today) counts as on: one of that name that expired or is not yet effective plays
nothing, and is replaced. The override lasts ``days``; its last day is the output ``until`` (per Region), which
the status page and readiness show and warn about before it lapses. Verified by reading the overrides back; a
Region that fails does not stop the others, and the step fails naming it: run it with ``on_failure: continue``
so a failed announcement never blocks the failover.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any, Literal

from pydantic import Field, field_validator

from orchestrator.adapters.connect import Connect, ContactState, Distribution, Override, QueueLoad
from orchestrator.clock import iso
from orchestrator.errors import FatalError, OrchestratorError, VerificationFailed
from orchestrator.site import Connect as ConnectSite
from orchestrator.site import ConnectAnnouncement, ConnectShiftGuard, ConnectTestCall
from orchestrator.steps import register, shift_guard
from orchestrator.steps.base import Output, Params, PollResult, StepContext, StepKind
from orchestrator.steps.notify import publish_event
from orchestrator.steps.seats import SeatsOutput
from orchestrator.steps.shift_guard import SHIFT_HELD, Verdict


class ShiftParams(Params):
    #: percent of telephony and agents in the target Region after each step: 10 % multiples, rising, ending at 100
    steps: list[int] = Field(default_factory=lambda: [10, 50, 100], min_length=1)
    #: the id of the seats step whose output (seats in service) gates each step; none: no seats gate
    seats_step: str | None = None
    #: how long to wait for enough agents available before a step
    agents_timeout_seconds: float = Field(default=600.0, gt=0)
    poll_interval_seconds: float = Field(default=10.0, gt=0)
    #: on the default group, let agents sign in to the target Region too
    sign_in: bool = True

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: list[int]) -> list[int]:
        for percent in steps:
            if percent % 10 or not 10 <= percent <= 100:
                raise ValueError(f"{percent}: each step is a multiple of 10 from 10 to 100 (AWS's 10 % increments)")
        if any(b <= a for a, b in pairwise(steps)):
            raise ValueError(f"{steps}: the steps must rise")
        if steps[-1] != 100:
            raise ValueError(f"{steps}: the last step must be 100 (everything moved)")
        return steps


class ShiftOutput(Output):
    #: the distribution read before the first change (rollback restores it)
    original: dict[str, Any] | None = None
    #: the last step reached (percent in the target Region)
    reached: int | None = None
    #: the Region the traffic moved to
    region: str | None = None
    #: each step applied by this step (percent, when, the distribution set; ``verified``: read back), for the
    #: report; journaled before its call, so a run killed right after it still shows it
    shifts: list[dict[str, Any]] = []
    #: each wait on full queues before a step (``connect.shift_guard``): the step it held, the share the
    #: traffic stayed at, for how long, what was seen, and whether the shift stopped there (``stopped``)
    holds: list[dict[str, Any]] = []
    #: the hold the shift stopped at, while it is stopped (cleared once a resumed shift goes on)
    held: dict[str, Any] | None = None


class ShiftHeld(FatalError):
    """The queues of the Region taking the calls stayed over the site's thresholds past the hold limit: the
    shift stopped at the share it reached (the run is resumable; a resume reads the queues again)."""


def _site(ctx: StepContext) -> ConnectSite:
    if ctx.site.connect is None:
        raise FatalError(f"{ctx.step_id}: the site file has no connect key (not an Amazon Connect site)")
    return ctx.site.connect


class _Shift(StepKind):
    Params = ShiftParams
    Output = ShiftOutput
    compensable = True
    direction: str = ""
    #: the Region taking the calls, as a person says it (the ``shift-held`` message)
    receiving: str = ""

    def regions(self, site: ConnectSite) -> tuple[str, str]:
        """(target, source)."""
        raise NotImplementedError

    def plan(self, ctx: StepContext) -> list[str]:
        to, source = self.regions(_site(ctx))
        current = ctx.services.connect.distribution(to)
        lines = [f"now: {current.describe()}"]
        for percent in ctx.params.steps:
            if current.share(to) >= percent:
                lines.append(f"step {percent}%: telephony {to} {current.telephony.get(to, 0)}%, agents {to} "
                             f"{current.agents.get(to, 0)}% (already there: skipped)")
                continue
            wanted = current.toward(to, percent, source)
            lines.append(f"step {percent}%: {_split_words(current, wanted, to, source)} "
                         f"(UpdateTrafficDistribution in {to})")
            current = wanted
        guard = _site(ctx).shift_guard
        if guard is not None:
            lines.append(f"before each step: the queues in {to} within {_thresholds(guard)} (held up to "
                         f"{guard.hold_limit_seconds:g}s, then the shift stops at the share reached)")
        return lines

    def verify(self, ctx: StepContext) -> bool:
        to, _ = self.regions(_site(ctx))
        return ctx.services.connect.distribution(to).share(to) == 100

    def apply(self, ctx: StepContext) -> None:
        to, source = self.regions(_site(ctx))
        connect = ctx.services.connect
        current = connect.distribution(to)
        if "original" not in ctx.state:  # journaled before anything changes; a resumed step keeps the first one
            ctx.record(original=current.to_dict(), region=to)
        self._settle(ctx, current)
        sign_in = self._sign_in(ctx, connect, current, to)
        for percent in ctx.params.steps:
            if current.share(to) >= percent:
                ctx.log.info("connect.step_already_reached", percent=percent, region=to, now=current.describe())
                continue
            self._gate(ctx, to, percent, current.share(to))
            # each dimension from where it is: never back towards the Region the traffic leaves
            wanted = replace(current.toward(to, percent, source), sign_in=dict(sign_in))
            # journaled before the call: a run killed right after it still shows this share (settled on resume)
            ctx.record(shifts=[*ctx.state.get("shifts", []), {"percent": percent, "at": ctx.clock.now().isoformat(),
                                                              **wanted.to_dict(), "verified": False}])
            try:
                connect.update_distribution(to, wanted, sign_in=bool(sign_in))
                current = self._read_back(ctx, to, wanted)
            except Exception:
                with contextlib.suppress(Exception):  # best effort: a resume or the rollback settles it otherwise
                    self._settle(ctx, connect.distribution(to))
                raise
            self._settle(ctx, current)
            ctx.log.info("connect.shifted", percent=percent, region=to, now=current.describe())
            ctx.progress(text=f"{to} at {percent}% ({current.describe()})")

    def _settle(self, ctx: StepContext, found: Distribution) -> None:
        """The last journaled shift, if not yet read back, against the distribution ``found`` now: kept as
        verified when that is what it set, dropped when it never took (the call did not reach Connect)."""
        shifts = list(ctx.state.get("shifts", []))
        if not shifts or shifts[-1].get("verified", True):
            return
        last = shifts.pop()
        if last["telephony"] == found.telephony and last["agents"] == found.agents:
            ctx.record(reached=last["percent"], shifts=[*shifts, {**last, **found.to_dict(), "verified": True}])
            return
        ctx.log.warning("connect.shift_not_applied", percent=last["percent"], now=found.describe())
        ctx.record(shifts=shifts)

    def _sign_in(self, ctx: StepContext, connect: Connect, current: Distribution, to: str) -> dict[str, bool]:
        """The sign-in distribution to send: only on the default group (AWS refuses it on any other),
        with the target Region enabled when ``sign_in`` asks for it."""
        if not current.sign_in or not connect.group(to).is_default:
            return {}
        if ctx.params.sign_in and not current.sign_in.get(to, False):
            ctx.record(sign_in_changed=True)
            return {**current.sign_in, to: True}
        return dict(current.sign_in)

    def _gate(self, ctx: StepContext, to: str, percent: int, share: int) -> None:
        """Before a step: the seats in service, enough agents available in the target Region and its queues
        under the site's thresholds (``share``: the part of the traffic it takes now)."""
        site = _site(ctx)
        if ctx.params.seats_step:
            serving = ctx.output_of(ctx.params.seats_step, SeatsOutput).serving
            if serving is None or serving < ctx.site.seats.target:
                raise FatalError(f"{ctx.step_id}: before {percent}% to {to}: the seats step "
                                 f"{ctx.params.seats_step!r} recorded {serving} seats in service, "
                                 f"fewer than the target {ctx.site.seats.target}")
        if site.min_agents_available > 0:
            self._wait_agents(ctx, site, to, percent)
        if site.shift_guard is not None:
            self._wait_queues(ctx, site.shift_guard, to, percent, share)

    def _wait_queues(self, ctx: StepContext, guard: ConnectShiftGuard, to: str, percent: int, share: int) -> None:
        """Hold while the queues of ``to`` exceed a threshold, reading them again every ``poll_seconds`` through
        the step's clock; held ``hold_limit_seconds``, stop at ``share`` (:meth:`_stop`)."""
        started, since, holding = ctx.clock.monotonic(), ctx.clock.now(), False
        while True:
            load = ctx.services.connect.queue_load(to)
            held = round(ctx.clock.monotonic() - started, 3)
            decision = shift_guard.verdict(load, guard, held)
            if decision is Verdict.GO:
                if holding:
                    self._note_hold(ctx, to, percent, share, since, held, load, stopped=False)
                    ctx.log.info("connect.queues_drained", region=to, percent=percent, held_seconds=held,
                                 seen=load.describe())
                elif ctx.state.get("held"):  # a resumed shift that stopped: the queues drained meanwhile
                    ctx.record(held=None)
                return
            if decision is Verdict.STOP:
                self._stop(ctx, to, percent, share, since, held, load)
            if not holding:
                ctx.log.warning("connect.shift_holding", region=to, percent=percent, share=share,
                                seen=load.describe(), over=shift_guard.breaches(load, guard),
                                hold_limit_seconds=guard.hold_limit_seconds)
                holding = True
            ctx.progress(waiting_for=f"the queues in {to} to drain before {percent}%", waited_seconds=held,
                         last_seen=load.describe())
            wait = shift_guard.next_poll(guard, held)
            if ctx.deadline is not None and ctx.clock.monotonic() + wait >= ctx.deadline:
                self._stop(ctx, to, percent, share, since, held, load)  # the step's timeout comes first: told
            ctx.sleep(wait)

    def _note_hold(self, ctx: StepContext, to: str, percent: int, share: int, since: datetime, held: float,
                   load: QueueLoad, *, stopped: bool) -> None:
        hold = {"percent": percent, "share": share, "region": to, "since": iso(since), "held_seconds": held,
                "seen": load.describe(), "contacts_in_queue": load.contacts_in_queue,
                "oldest_contact_age_seconds": load.oldest_contact_age_seconds, "stopped": stopped}
        ctx.record(holds=[*ctx.state.get("holds", []), hold], held=hold if stopped else None)

    def _stop(self, ctx: StepContext, to: str, percent: int, share: int, since: datetime, held: float,
              load: QueueLoad) -> None:
        """The shift stops at ``share``: journaled, told (``shift-held``: SNS and the status page), then the
        step fails with ShiftHeld and the run stays resumable; the distribution is left as it is."""
        guard = _site(ctx).shift_guard
        assert guard is not None
        over = shift_guard.breaches(load, guard)
        self._note_hold(ctx, to, percent, share, since, held, load, stopped=True)
        words = shift_guard.held_words(share, self.receiving)
        ctx.log.error("connect.shift_held", region=to, share=share, next_percent=percent, held_seconds=held,
                      over=over)
        _tell(ctx, SHIFT_HELD, text=words, region=to, share=share, next_percent=percent, held_seconds=held,
              contacts_in_queue=load.contacts_in_queue,
              oldest_contact_age_seconds=load.oldest_contact_age_seconds, over=over)
        raise ShiftHeld(f"{ctx.step_id}: {words}: held {held:g}s before {percent}% to {to} with "
                        f"{'; '.join(over)}; the distribution stays at {share}% in {to}. `orchestrator resume "
                        f"{ctx.run_id}` reads the queues again and continues from {share}%")

    def _wait_agents(self, ctx: StepContext, site: ConnectSite, to: str, percent: int) -> None:
        if not site.queue_ids:
            raise FatalError(f"{ctx.step_id}: connect.min_agents_available is {site.min_agents_available} but "
                             "connect.queue_ids is empty: name the queues whose agents count")

        def probe() -> PollResult:
            available = ctx.services.connect.agents_available(to)
            return PollResult(available >= site.min_agents_available, f"{available} agents available in {to}")

        ctx.wait_until(probe, timeout=ctx.params.agents_timeout_seconds, interval=ctx.params.poll_interval_seconds,
                       what=f"{site.min_agents_available} agents available in {to} before {percent}%")

    def _read_back(self, ctx: StepContext, region: str, wanted: Distribution) -> Distribution:
        found = ctx.services.connect.distribution(region)
        if found.telephony != wanted.telephony or found.agents != wanted.agents:
            raise VerificationFailed(f"{ctx.step_id}: asked for {wanted.describe()}, read back {found.describe()}")
        return found

    def rollback(self, ctx: StepContext) -> None:
        if "original" not in ctx.state:
            ctx.log.info("connect.rollback_nothing", reason="no distribution was journaled: nothing changed")
            return
        original = Distribution.from_dict(ctx.state["original"])
        # the Region that takes the most traffic once restored makes the call (AWS requires a Region taking traffic)
        region = max(original.telephony, key=lambda r: original.telephony[r])
        connect = ctx.services.connect
        current = connect.distribution(region)
        self._settle(ctx, current)
        if current.telephony != original.telephony or current.agents != original.agents or (
                ctx.state.get("sign_in_changed") and current.sign_in != original.sign_in):
            connect.update_distribution(region, original, sign_in=bool(ctx.state.get("sign_in_changed")))
            self._read_back(ctx, region, original)
        ctx.log.info("connect.restored", now=original.describe())
        ctx.record(rolled_back=True)

    def manual(self, params: Any) -> str:
        steps = " -> ".join(f"{p}%" for p in params.steps)
        return (f"In the Region taking the traffic, call UpdateTrafficDistribution on the traffic distribution group "
                f"({self.direction}): telephony and agents {steps} (a dimension already further along keeps its "
                "share), checking GetTrafficDistribution after each. Before each step, on a site with "
                "connect.shift_guard, read the receiving Region's real-time queue metrics: wait while contacts in "
                "queue or the oldest contact's age exceed the thresholds, and stop at the share reached if they do "
                "not drain within the hold limit.")


def _thresholds(guard: ConnectShiftGuard) -> str:
    parts = []
    if guard.contacts_in_queue is not None:
        parts.append(f"{guard.contacts_in_queue} contacts in queue")
    if guard.oldest_contact_age_seconds is not None:
        parts.append(f"{guard.oldest_contact_age_seconds}s oldest wait")
    return " and ".join(parts)


def _tell(ctx: StepContext, milestone: str, **fields: Any) -> None:
    """A milestone of this step: into the run's outbox (SNS and the status page, never lost) when the run has
    one, else published to the site's topic at once. Never raises (a notification never fails the step)."""
    if ctx.announce is not None:
        ctx.announce(milestone, event=milestone, step=ctx.step_id, kind=ctx.options.kind, **fields)
        return
    publish_event(ctx.services, ctx.site, ctx.run_id, milestone, log=ctx.log, step=ctx.step_id,
                  kind=ctx.options.kind, **fields)


def _split_words(before: Distribution, after: Distribution, to: str, source: str) -> str:
    """A step's distribution in words: one split when telephony and agents end alike, else each dimension,
    saying which one keeps its share."""
    def split(shares: dict[str, int]) -> str:
        return f"{to} {shares[to]}% / {source} {shares[source]}%"

    if after.telephony == after.agents:
        return f"telephony and agents {split(after.telephony)}"
    parts = []
    for name, was, now in (("telephony", before.telephony, after.telephony), ("agents", before.agents, after.agents)):
        kept = " (kept: already there)" if was.get(to, 0) == now[to] else ""
        parts.append(f"{name} {split(now)}{kept}")
    return ", ".join(parts)


@register
class ShiftTraffic(_Shift):
    name = "connect.shift_traffic"
    summary = "move Amazon Connect telephony and agents to the secondary Region in steps, each verified"
    direction = "to the secondary Region"
    receiving = "backup"

    def regions(self, site: ConnectSite) -> tuple[str, str]:
        return site.secondary_region, site.primary_region


@register
class ShiftBack(_Shift):
    name = "connect.shift_back"
    summary = "move Amazon Connect telephony and agents back to the primary Region in steps, each verified"
    direction = "back to the primary Region"
    receiving = "main"

    def regions(self, site: ConnectSite) -> tuple[str, str]:
        return site.primary_region, site.secondary_region


# ---------------------------------------------------------------------------------------------- announcement

RegionRole = Literal["secondary", "primary"]
_BOTH: tuple[RegionRole, ...] = ("secondary", "primary")


class AnnounceParams(Params):
    #: the Regions whose hours of operation carry the override, in order (the secondary first: it answers
    #: the calls once shifted; the primary may be the one that is down)
    regions: list[RegionRole] = Field(default_factory=lambda: list(_BOTH), min_length=1)
    #: how many days the override lasts (it is removed by connect.unannounce at failback)
    days: int = Field(default=7, ge=1, le=365)


class AnnounceOutput(Output):
    #: Region -> the override this step created (rollback deletes these only)
    created: dict[str, str] = {}
    #: Region -> why it failed
    failed: dict[str, str] = {}
    #: Region -> the last day the announcement plays there (the override's EffectiveTill, a day of the hours of
    #: operation's time zone): the status page and readiness warn before it lapses
    until: dict[str, str] = {}
    #: Region -> the window of an override of that name found expired or not yet effective, replaced
    replaced: dict[str, str] = {}


def _announcement(ctx: StepContext) -> ConnectAnnouncement | None:
    return _site(ctx).announcement


def _region_of(site: ConnectSite, role: str) -> str:
    return site.secondary_region if role == "secondary" else site.primary_region


def today_there(connect: Connect, region: str, announcement: ConnectAnnouncement, now: datetime) -> date:
    """Today in the time zone of the announcement's hours of operation in ``region`` (override dates are its days)."""
    return connect.today(region, announcement.hours_of_operation_id, now)


class _Announcement(StepKind):
    Params = AnnounceParams
    Output = AnnounceOutput

    def regions(self, ctx: StepContext) -> list[str]:
        site = _site(ctx)
        return [_region_of(site, role) for role in ctx.params.regions]

    def named(self, ctx: StepContext, region: str, announcement: ConnectAnnouncement) -> list[Override]:
        """The overrides named like the announcement in ``region``, whatever their dates."""
        return ctx.services.connect.named_overrides(region, announcement.hours_of_operation_id,
                                                    announcement.override_name)

    def active(self, ctx: StepContext, region: str, announcement: ConnectAnnouncement) -> list[Override]:
        """The overrides named like the announcement that are in effect today in ``region`` (one past its
        EffectiveTill, or not yet at its EffectiveFrom, plays nothing: it does not count as on)."""
        named = self.named(ctx, region, announcement)
        if not named:
            return []
        today = today_there(ctx.services.connect, region, announcement, ctx.clock.now())
        return [o for o in named if o.active_on(today)]

    def each_region(self, ctx: StepContext, action: Any) -> None:
        """``action(region)`` in every Region; failures collected and raised together at the end."""
        failed: dict[str, str] = {}
        for region in self.regions(ctx):
            try:
                action(region)
            except OrchestratorError as exc:
                failed[region] = str(exc)
                ctx.log.warning("connect.announcement_failed", region=region, error=str(exc))
        ctx.record(failed=failed)
        if failed:
            raise FatalError(f"{self.name}: " + "; ".join(f"{r}: {e}" for r, e in failed.items()))


@register
class Announce(_Announcement):
    name = "connect.announce"
    summary = "switch on the outage announcement: an hours-of-operation override, read back"
    compensable = True

    def plan(self, ctx: StepContext) -> list[str]:
        announcement = _announcement(ctx)
        if announcement is None:
            return ["no connect.announcement in the site file: nothing to announce"]
        said = f"; callers hear: {announcement.text!r}" if announcement.text else ""
        return [f"{region}: override {announcement.override_name!r} (CLOSED, all day, {ctx.params.days} days) on "
                f"hours of operation {announcement.hours_of_operation_id}{self.seen(ctx, region, announcement)}"
                f"{said}" for region in self.regions(ctx)]

    def seen(self, ctx: StepContext, region: str, announcement: ConnectAnnouncement) -> str:
        """For a plan: an override of that name already in effect (until when), or one there that plays
        nothing now (replaced); a Region that does not answer (e.g. the primary that is down) is said so."""
        try:
            named = self.named(ctx, region, announcement)
            today = today_there(ctx.services.connect, region, announcement, ctx.clock.now()) if named else None
        except OrchestratorError as exc:
            return f" (cannot read now: {exc})"
        on = [o for o in named if today is not None and o.active_on(today)]
        if on:
            return f" (already on, until {on[0].effective_till}: kept)"
        if named:
            return f" (an override of that name for {named[0].window()} is not in effect today: replaced)"
        return ""

    def verify(self, ctx: StepContext) -> bool:
        announcement = _announcement(ctx)
        return announcement is None or all(self.active(ctx, r, announcement) for r in self.regions(ctx))

    def apply(self, ctx: StepContext) -> None:
        announcement = _announcement(ctx)
        if announcement is None:
            return
        connect = ctx.services.connect
        hours_id = announcement.hours_of_operation_id

        def announce(region: str) -> None:
            named = self.named(ctx, region, announcement)
            today = today_there(connect, region, announcement, ctx.clock.now())
            on = [o for o in named if o.active_on(today)]
            if not on:
                for stale in named:  # expired or not yet effective: plays nothing, and its name must be free
                    connect.delete_override(region, hours_id, stale.override_id)
                    ctx.record(replaced={**ctx.state.get("replaced", {}), region: stale.window()})
                    ctx.log.warning("connect.announcement_replaced", region=region, window=stale.window(),
                                    reason=f"not in effect on {today.isoformat()}")
                till = (today + timedelta(days=ctx.params.days)).isoformat()
                override = connect.create_override(
                    region, hours_id, name=announcement.override_name,
                    description=f"outage announcement (run {ctx.run_id})"[:250],
                    effective_from=today.isoformat(), effective_till=till)
                ctx.record(created={**ctx.state.get("created", {}), region: override})
                on = self.active(ctx, region, announcement)
                if not on:
                    raise VerificationFailed(f"{region}: override {announcement.override_name!r} not read back "
                                             f"in effect on {today.isoformat()}")
            until = max(o.effective_till for o in on)
            ctx.record(until={**ctx.state.get("until", {}), region: until})
            ctx.log.info("connect.announced", region=region, override=announcement.override_name, until=until)
            ctx.progress(text=f"announcement on in {region} until {until}")

        self.each_region(ctx, announce)

    def rollback(self, ctx: StepContext) -> None:
        announcement = _announcement(ctx)
        if announcement is None:
            return
        for region, override in dict(ctx.state.get("created", {})).items():
            if override in [o.override_id for o in self.named(ctx, region, announcement)]:
                ctx.services.connect.delete_override(region, announcement.hours_of_operation_id, override)
            ctx.log.info("connect.announcement_removed", region=region, override=announcement.override_name)

    def manual(self, params: Any) -> str:
        return ("In the Connect console, on the announcement's hours of operation, add a CLOSED override for "
                f"every day from today for {params.days} days, named as the site file's "
                "connect.announcement.override_name (replace one of that name whose dates are past).")


@register
class Unannounce(_Announcement):
    name = "connect.unannounce"
    summary = "switch off the outage announcement: remove the hours-of-operation override, read back"

    def plan(self, ctx: StepContext) -> list[str]:
        announcement = _announcement(ctx)
        if announcement is None:
            return ["no connect.announcement in the site file: nothing to remove"]
        return [f"{region}: remove override {announcement.override_name!r}"
                f"{self.seen(ctx, region, announcement)}" for region in self.regions(ctx)]

    def seen(self, ctx: StepContext, region: str, announcement: ConnectAnnouncement) -> str:
        try:
            present = bool(self.named(ctx, region, announcement))
        except OrchestratorError as exc:
            return f" (cannot read now: {exc})"
        return "" if present else " (already off)"

    def verify(self, ctx: StepContext) -> bool:
        announcement = _announcement(ctx)
        return announcement is None or not any(self.named(ctx, r, announcement) for r in self.regions(ctx))

    def apply(self, ctx: StepContext) -> None:
        announcement = _announcement(ctx)
        if announcement is None:
            return

        def unannounce(region: str) -> None:
            for override in self.named(ctx, region, announcement):  # in effect or not: every one of that name
                ctx.services.connect.delete_override(region, announcement.hours_of_operation_id, override.override_id)
            if self.named(ctx, region, announcement):
                raise VerificationFailed(f"{region}: override {announcement.override_name!r} still there")
            ctx.log.info("connect.unannounced", region=region, override=announcement.override_name)

        self.each_region(ctx, unannounce)

    def manual(self, params: Any) -> str:
        return "In the Connect console, delete the outage override from the announcement's hours of operation."


class TestCallParams(Params):
    #: override the site's ``connect.test_call.answer_within_seconds`` (how long the agent has to answer)
    answer_within_seconds: float | None = Field(default=None, gt=0)


class TestCallOutput(Output):
    #: the call this step placed last (a resumed step places a new one), and where it stands
    contact_id: str | None = None
    region: str | None = None
    placed_at: str | None = None
    answered_at: str | None = None
    agent_id: str | None = None
    #: seconds from the call placed to the answer
    answer_seconds: float | None = None
    #: calls an earlier attempt placed and did not see answered (stopped when this one was placed)
    abandoned: list[str] = []


def _test_call(site: ConnectSite, step_id: str) -> ConnectTestCall:
    if site.test_call is None:
        raise FatalError(f"{step_id}: the site file has no connect.test_call: no test call can be placed")
    return site.test_call


@register
class TestCall(StepKind):
    """Contract 1.2, answered calls: a call placed in the secondary Region must be answered by an agent
    within ``answer_within_seconds``; service is restored when it is (``first_call_answered_seconds``)."""

    name = "connect.test_call"
    summary = "place a test call at the backup site; pass only when an agent answers it"
    Params = TestCallParams
    Output = TestCallOutput

    def plan(self, ctx: StepContext) -> list[str]:
        site = _site(ctx)
        call = _test_call(site, ctx.step_id)
        within = ctx.params.answer_within_seconds or call.answer_within_seconds
        return [f"call {call.destination_phone_number} in {site.secondary_region} through contact flow "
                f"{call.contact_flow_id} (queue {call.queue_id}); an agent must answer within {within:g}s "
                "(StartOutboundVoiceContact, then DescribeContact)"]

    def verify(self, ctx: StepContext) -> bool:
        """Only a call this step saw answered counts (a resumed step whose call was not answered yet places a
        new one; one answered before a crash is counted once)."""
        return bool(ctx.state.get("contact_id") and ctx.state.get("answered_at"))

    def apply(self, ctx: StepContext) -> None:
        site = _site(ctx)
        call = _test_call(site, ctx.step_id)
        region = site.secondary_region
        connect = ctx.services.connect
        earlier = ctx.state.get("contact_id") if not ctx.state.get("answered_at") else None
        abandoned = [*ctx.state.get("abandoned", []), *([earlier] if earlier else [])]
        if earlier:
            with contextlib.suppress(OrchestratorError):  # it may have ended already; a new call decides
                connect.stop_contact(region, earlier)
        token = f"{ctx.run_id}:{ctx.step_id}:{len(abandoned)}"
        placed = ctx.clock.now()
        contact_id = connect.start_test_call(region, call.contact_flow_id, call.queue_id,
                                             call.destination_phone_number, call.source_phone_number, token[:500])
        ctx.record(contact_id=contact_id, region=region, placed_at=iso(placed), answered_at=None,
                   abandoned=abandoned)
        within = ctx.params.answer_within_seconds or call.answer_within_seconds
        seen = ctx.wait_until(lambda: _answered(connect.contact(region, contact_id)), timeout=within,
                              interval=call.poll_seconds, max_interval=call.poll_seconds,
                              what=f"an agent to answer the test call {contact_id} in {region}")
        state = seen.value
        answered = state.answered_at
        initiated = state.initiated_at or placed  # Connect's own clock for both ends when it says
        ctx.record(placed_at=iso(initiated), answered_at=iso(answered), agent_id=state.agent_id,
                   answer_seconds=round((answered - initiated).total_seconds(), 3) if answered else None)
        ctx.log.info("test_call.answered", contact_id=contact_id, agent=state.agent_id, answered_at=iso(answered))


def _answered(state: ContactState) -> PollResult:
    if state.disconnected_at is not None and state.answered_at is None:
        raise VerificationFailed(f"test call {state.contact_id}: {state.describe()}")
    return PollResult(state.answered_at is not None, state.describe(), state)
