"""The ETA learned from drills (orchestrator/eta.py): critical path of the RTO-counted steps, p50..p90 of
the last drills, the running step's elapsed time, live restore bytes, and no estimate without history.

The seeded history below (5 drills of the default failover runbook, as a drill records it: ``failover/ID``)
gives, by hand, with numpy's linear interpolation (position (n-1)*q = 2 for p50 and 3.6 for p90 over 5
sorted values v0..v4: p50 = v2, p90 = v3 + 0.6 * (v4 - v3)):

    step              drills (s)               sorted                  p50     p90
    announce          1 1 1 1 1                1 1 1 1 1               1       1
    preflight         4 6 5 7 3                3 4 5 6 7               5       6 + 0.6*1  = 6.6
    vpn-up            10 12 11 14 13           10 11 12 13 14          12      13 + 0.6*1 = 13.6
    restore-critical  40 50 45 60 55           40 45 50 55 60          50      55 + 0.6*5 = 58
    restore-bulk      200 220 210 260 240      200 210 220 240 260     220     240 + 0.6*20 = 252
    seats-up          30 35 32 38 33           30 32 33 35 38          33      35 + 0.6*3 = 36.8
    dns-cutover       8 9 10 12 11             8 9 10 11 12            10      11 + 0.6*1 = 11.6
    smoke             3 4 5 4 3                3 3 4 4 5               4       4 + 0.6*1  = 4.6
    done              1 1 1 1 1                1 1 1 1 1               1       1

The run (t in seconds after its start T0) really takes: announce 0-1, preflight 0-5, vpn-up 5-17,
restore-critical 5-57, seats-up 5-39, restore-bulk 5-230, dns-cutover 57-67, smoke 67-71, done 71-72.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.clock import iso
from orchestrator.eta import NO_ESTIMATE, ByteProgress, Eta, StepHistory, describe, estimate
from orchestrator.history import entry_of, percentile
from orchestrator.journal.records import StepRecord
from orchestrator.model import StepStatus
from orchestrator.runbook import load_runbook
from orchestrator.site import load_site
from tests.helpers import REPO

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
DRILLS = {
    "announce": [1, 1, 1, 1, 1],
    "preflight": [4, 6, 5, 7, 3],
    "vpn-up": [10, 12, 11, 14, 13],
    "restore-critical": [40, 50, 45, 60, 55],
    "restore-bulk": [200, 220, 210, 260, 240],
    "seats-up": [30, 35, 32, 38, 33],
    "dns-cutover": [8, 9, 10, 12, 11],
    "smoke": [3, 4, 5, 4, 3],
    "done": [1, 1, 1, 1, 1],
}
#: (start, end) of each step in the run, seconds after T0
ACTUAL = {
    "announce": (0, 1),
    "preflight": (0, 5),
    "vpn-up": (5, 17),
    "restore-critical": (5, 57),
    "seats-up": (5, 39),
    "restore-bulk": (5, 230),
    "dns-cutover": (57, 67),
    "smoke": (67, 71),
    "done": (71, 72),
}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def drill_entries(durations: dict[str, list[float]] = DRILLS) -> list[dict]:
    """Drill history entries (newest first), each step named as a drill names it."""
    count = len(next(iter(durations.values())))
    return [
        {"run_id": f"d{i}", "status": "succeeded", "steps": [
            {"id": f"failover/{step}", "status": "succeeded", "duration_seconds": values[i]}
            for step, values in durations.items()
        ]}
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def failover():
    """The default failover runbook as a run on a SIP/DNS site has it (its `when: connect` steps left out)."""
    return load_runbook(REPO / "runbooks" / "failover.yaml").for_site(load_site(REPO / "tests" / "data" / "site.json"))


def records_at(book, t: float, overrides: dict[str, StepStatus] | None = None) -> dict[str, StepRecord]:
    """The step records of the run as the journal holds them t seconds after T0 (from ACTUAL)."""
    out = {}
    for step in book.steps:
        start, end = ACTUAL[step.id]
        rec = StepRecord("run-1", step.id, step.uses, step.owner)
        if end <= t:
            rec.status, rec.started_at, rec.finished_at = StepStatus.SUCCEEDED, iso(at(start)), iso(at(end))
        elif start <= t:
            rec.status, rec.started_at = StepStatus.RUNNING, iso(at(start))
        out[step.id] = rec
    for step_id, status in (overrides or {}).items():
        out[step_id].status = status
    return out


def _from_drills(entries: list[dict], last: int | None = None) -> StepHistory:
    """The ETA's history from drill entries as the journal gives them."""
    records = [entry_of(e) for e in entries]
    return StepHistory.from_drills(records) if last is None else StepHistory.from_drills(records, last=last)


def history() -> StepHistory:
    return _from_drills(drill_entries())


def test_percentile_is_numpys_linear_interpolation():
    """p50 of 3..7 is 5; p90 is 6.6 (position 3.6); one value is its own p50 and p90."""
    assert percentile([4, 6, 5, 7, 3], 0.5) == 5
    assert percentile([4, 6, 5, 7, 3], 0.9) == pytest.approx(6.6)
    assert percentile([42], 0.9) == 42


# (milestone, t, hand-computed earliest, latest: seconds after T0)
MILESTONES = [
    # nothing ran: preflight 5 / 6.6; then critical restore 5+50=55 / 6.6+58=64.6 is the longest of vpn (17 /
    # 20.2), restore and seats (38 / 43.4); dns 55+10=65 / 64.6+11.6=76.2; smoke 69 / 80.8; done 70 / 81.8
    ("started", 0, 70, 81.8),
    # vpn ended at 17; restore running for 12 s: 50-12=38 -> 55 / 58-12=46 -> 63; seats 33-12=21 -> 38 /
    # 36.8-12=24.8 -> 41.8; dns max(17, 55, 38)+10 = 65 / max(17, 63, 41.8)+11.6 = 74.6; smoke 69 / 79.2;
    # done 70 / 80.2
    ("vpn-up", 17, 70, 80.2),
    # seats ended at 39; restore running for 34 s: 16 -> 55 / 24 -> 63: the same path, the same range
    ("seats-in-service", 39, 70, 80.2),
    # critical restore ended at 57: dns 57+10=67 / 57+11.6=68.6; smoke 71 / 73.2; done 72 / 74.2
    ("critical-data-restored", 57, 72, 74.2),
    # dns ended at 67: smoke 67+4=71 / 67+4.6=71.6; done 72 / 72.6
    ("dns-cut-over", 67, 72, 72.6),
]


@pytest.mark.parametrize(("milestone", "t", "earliest", "latest"), MILESTONES, ids=[m[0] for m in MILESTONES])
def test_eta_at_each_milestone_is_the_hand_computed_p50_p90_range(failover, milestone, t, earliest, latest):
    """At each milestone of a failover, the ETA is now + the remaining critical path at p50 (earliest)
    and p90 (latest) of the seeded drills, as computed by hand in the table above."""
    eta = estimate(failover, records_at(failover, t), history(), at(t))
    assert eta is not None and eta.drills == 5 and not eta.done
    assert (eta.earliest, eta.latest) == (at(earliest), at(latest))
    assert eta.earliest <= eta.latest and eta.overdue == eta.unestimated == ()


def test_the_service_eta_ignores_the_bulk_restore_and_the_data_eta_gives_it(failover):
    """The bulk restore (rto: false, p50 220 s) does not move the service ETA; the data ETA is its end:
    preflight 5 + 220 = 225 / 6.6 + 252 = 258.6 at the start."""
    eta = estimate(failover, records_at(failover, 0), history(), at(0))
    assert eta is not None and eta.latest < at(100)
    assert eta.data is not None and (eta.data.earliest, eta.data.latest) == (at(225), at(258.6))


def test_once_every_counted_step_ended_the_eta_is_when_service_was_restored(failover):
    """After `done` (t=72) the range collapses to the moment the last counted step ended, marked done;
    the bulk restore still running keeps its own data ETA."""
    eta = estimate(failover, records_at(failover, 100), history(), at(100))
    assert eta is not None and eta.done and eta.earliest == eta.latest == at(72)
    assert eta.data is not None and not eta.data.done
    # bulk running for 95 s of p50 220 / p90 252: 125 / 157 s more
    assert (eta.data.earliest, eta.data.latest) == (at(225), at(257))


def test_a_step_past_its_p90_is_overdue_and_ends_now_not_in_the_past(failover):
    """The critical restore running for 70 s (p90 58 s) counts as ending now, and is named overdue."""
    records = records_at(failover, 75)  # restore-critical ran 5-57 in ACTUAL: make it still running
    records["restore-critical"].status, records["restore-critical"].finished_at = StepStatus.RUNNING, None
    for later in ("dns-cutover", "smoke", "done"):
        records[later] = StepRecord("run-1", later, "x", "o")
    eta = estimate(failover, records, history(), at(75))
    assert eta is not None and eta.overdue == ("restore-critical",)
    # restore ends now (75): dns 85 / 86.6, smoke 89 / 91.2, done 90 / 92.2
    assert (eta.earliest, eta.latest) == (at(90), at(92.2))


def test_live_byte_progress_times_the_running_restore(failover):
    """At t=17 the critical restore has 200 MB of 500 MB to go at 10 MB/s: it ends at 17+20=37 whatever
    the drills said; seats (38 / 41.8) then hold the path: dns 48 / 53.4, smoke 52 / 58, done 53 / 59."""
    live = {"restore-critical": ByteProgress(300_000_000, 500_000_000, 10_000_000, at(17))}
    eta = estimate(failover, records_at(failover, 17), history(), at(17), live)
    assert eta is not None and (eta.earliest, eta.latest) == (at(53), at(59))


def test_progress_read_earlier_counts_from_when_it_was_read(failover):
    """Progress read 5 s ago with 20 s to go ends 15 s from now, not 20."""
    assert ByteProgress(300, 500, 10, at(12)).end() == at(32)
    assert ByteProgress(0, 500, 0, at(12)).end() is None


def test_a_step_no_drill_timed_counts_as_zero_and_is_named(failover):
    """Drills without `smoke` (a step added since): it counts 0 s and is listed as unestimated, so the
    page can say the ETA is a lower bound; at the start: done 66 / 77.2 instead of 70 / 81.8."""
    without = {k: v for k, v in DRILLS.items() if k != "smoke"}
    eta = estimate(failover, records_at(failover, 0), _from_drills(drill_entries(without)), at(0))
    assert eta is not None and eta.unestimated == ("smoke",)
    assert (eta.earliest, eta.latest) == (at(66), at(77.2))


def test_no_drill_history_is_no_estimate(failover):
    """No drill at all, or only drills recorded before per-step durations: None, never an invented ETA."""
    assert estimate(failover, records_at(failover, 17), _from_drills([]), at(17)) is None
    old = [{"run_id": "d0", "status": "succeeded", "rto_seconds": 70}]
    assert estimate(failover, records_at(failover, 17), _from_drills(old), at(17)) is None


def test_the_last_ten_drills_count_by_default():
    """12 timed drills: the ETA's durations come from the newest 10."""
    entries = drill_entries({"preflight": list(range(1, 13))})
    kept = _from_drills(entries)
    assert kept.drills == 10 and kept.samples["failover/preflight"] == list(range(1, 11))


def test_only_the_last_n_drills_count():
    """With last=2 only the two newest timed drills count (newest first); untimed ones are skipped."""
    entries = [{"run_id": "old"}, *drill_entries()]
    kept = _from_drills(entries, last=2)
    assert kept.drills == 2 and kept.samples["failover/preflight"] == [4, 6]


def test_a_run_rolling_back_has_no_eta(failover):
    """A step rolled back: the run is undoing the failover, no service ETA."""
    records = records_at(failover, 39, {"seats-up": StepStatus.ROLLED_BACK})
    assert estimate(failover, records, history(), at(39)) is None


def test_a_drill_counts_its_failover_phase_only():
    """In a drill (steps `failover/...`), the service ETA is its failover phase: once that phase ended the
    ETA is done at its end while failback steps are still pending."""
    drill = load_runbook(REPO / "runbooks" / "drill.yaml").for_site(load_site(REPO / "tests" / "data" / "site.json"))
    records = {}
    for step in drill.steps:
        rec = StepRecord("run-1", step.id, step.uses, step.owner)
        if step.phase == "failover":
            start, end = ACTUAL[step.id.split("/", 1)[1]]
            rec.status, rec.started_at, rec.finished_at = StepStatus.SUCCEEDED, iso(at(start)), iso(at(end))
        records[step.id] = rec
    eta = estimate(drill, records, history(), at(240))
    assert eta is not None and eta.done and eta.earliest == at(72)
    assert eta.data is not None and eta.data.done and eta.data.earliest == at(230)


def test_describe_says_the_range_its_source_and_its_doubts():
    """In words: a UTC range from N drills, the overdue and untimed steps; restored once done; no estimate."""
    assert describe(None) == NO_ESTIMATE == "no estimate yet \u2014 run a drill"
    assert describe(Eta(at(70), at(190), 5)) == "between 03:01 and 03:03 UTC (learned from 5 drills)"
    assert describe(Eta(at(70), at(80), 1, overdue=("vpn-up",), unestimated=("smoke",))) == (
        "about 03:01 UTC (learned from 1 drill; vpn-up taking longer than in the drills; "
        "or later: no drill has timed smoke)")
    assert describe(Eta(at(72), at(72), 5, done=True)) == "service restored at 03:01 UTC"


def test_an_eta_journaled_with_a_milestone_reads_back_the_same():
    """eta_fields -> JSON -> eta_of gives the same Eta (doubts included); anything else reads as None."""
    import json

    from orchestrator.eta import eta_fields, eta_of

    eta = Eta(at(70), at(80), 3, overdue=("vpn-up",), unestimated=("smoke",))
    assert eta_of(json.loads(json.dumps(eta_fields(eta)))) == eta
    assert eta_of(None) is None and eta_of({"earliest": "soon"}) is None
