"""Detection as a pure function of the watch state (contract 1.2): down only when every probe failed in every
round for down_after_seconds, one incident per outage, a flapping primary opens nothing, one staging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestrator import detection
from orchestrator.journal.watch import SqliteWatchStore

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def _round(*ok: bool) -> list[dict]:
    return [{"name": f"p{i}", "ok": good, "detail": "x"} for i, good in enumerate(ok)]


def _run(rounds: list[tuple[float, list[dict]]], down_after: float = 180, stage: bool = False):
    state: dict = {}
    verdicts = []
    for seconds, results in rounds:
        verdict = detection.advance(state, results, T0 + timedelta(seconds=seconds), down_after, stage)
        state = verdict.state
        if detection.PRIMARY_DOWN in verdict.actions:  # the watcher records that it sent the message
            state["incident"]["notified"] = True
        verdicts.append(verdict)
    return verdicts


def test_down_only_after_every_probe_failed_for_down_after_seconds_and_one_message():
    """Rounds every 30 s, every probe failing: not down at 150 s, down at 180 s (from the first failing
    round), ``primary-down`` once, then nothing more while it stays down."""
    verdicts = _run([(t, _round(False, False)) for t in range(0, 301, 30)])
    assert [v.down for v in verdicts] == [t >= 180 for t in range(0, 301, 30)]
    actions = [a for v in verdicts for a in v.actions]
    assert actions == [detection.PRIMARY_DOWN]
    assert verdicts[-1].incident["down_since"] == "2026-12-07T03:00:00.000Z"  # the first failing round


def test_one_probe_answering_resets_the_count():
    """A round where one probe answers is not a failing round: the 180 s count starts again after it."""
    rounds = [(0, _round(False, False)), (120, _round(True, False)), (150, _round(False, False)),
              (300, _round(False, False)), (330, _round(False, False))]
    assert [v.down for v in _run(rounds)] == [False, False, False, False, True]


def test_a_flapping_primary_opens_no_incident():
    """Down 2 s, up 1 s, again and again (rounds every 0.5 s) with down_after 3 s: never down, no message."""
    rounds = [(i * 0.5, _round(not (i % 6 < 4))) for i in range(120)]
    verdicts = _run(rounds, down_after=3)
    assert not any(v.down for v in verdicts) and not any(v.actions for v in verdicts)


def test_a_primary_down_whose_sender_died_is_sent_again_after_a_minute():
    """The watcher that opened the incident died before recording that it sent ``primary-down``: a round a
    minute later sends it (at least once after a crash; never twice from live watchers)."""
    first = detection.advance({}, _round(False), T0, 0, False)
    assert first.actions == [detection.PRIMARY_DOWN]
    soon = detection.advance(first.state, _round(False), T0 + timedelta(seconds=30), 0, False)
    assert soon.actions == []
    later = detection.advance(soon.state, _round(False), T0 + timedelta(seconds=61), 0, False)
    assert later.actions == [detection.PRIMARY_DOWN]


def test_up_again_closes_the_incident_with_one_primary_up():
    """Once down, the first round where a probe answers sends ``primary-up`` once and closes the incident."""
    verdicts = _run([(0, _round(False)), (10, _round(False)), (20, _round(True)), (30, _round(True))], down_after=5)
    assert [v.actions for v in verdicts] == [[], [detection.PRIMARY_DOWN], [detection.PRIMARY_UP], []]
    assert verdicts[-1].incident is None and verdicts[-1].state["last_incident"]["up_at"]


def test_stage_once_per_outage_and_again_only_after_a_dead_stager_lease():
    """``--stage``: one staging per outage; a second round while staging runs stages nothing; a staging that
    never recorded its run within the lease (its watcher died) is started again."""
    state: dict = {}
    first = detection.advance(state, _round(False), T0, 0, True)
    assert first.actions == [detection.PRIMARY_DOWN, detection.STAGE]
    second = detection.advance(first.state, _round(False), T0 + timedelta(seconds=30), 0, True)
    assert second.actions == []
    late = T0 + timedelta(seconds=detection.STAGING_LEASE_SECONDS + 1)
    third = detection.advance(second.state, _round(False), late, 0, True)
    assert detection.STAGE in third.actions
    third.state["incident"]["staged_run"] = "run-1"
    much_later = late + timedelta(seconds=detection.STAGING_LEASE_SECONDS * 2)
    fourth = detection.advance(third.state, _round(False), much_later, 0, True)
    assert detection.STAGE not in fourth.actions


def test_the_store_lets_one_of_two_writers_of_the_same_version_win(tmp_path):
    """Two watchers read version N and both write: one write applies, the other is told to read again."""
    one, two = SqliteWatchStore(tmp_path), SqliteWatchStore(tmp_path)
    version, state = one.read("s")
    assert (version, state) == (0, {})
    assert one.write("s", {"by": "one"}, version) is True
    assert two.write("s", {"by": "two"}, version) is False
    assert two.read("s") == (1, {"by": "one"})


def test_a_staging_whose_watcher_is_known_dead_is_taken_over_at_once():
    """A staging started by a watcher killed on this host (``stager_lost``) is started again by the next round,
    not after ``STAGING_LEASE_SECONDS``; the incident names who stages; a live staging blocks a second one."""
    first = detection.advance({}, _round(False), T0, 0, True, stager="host|1|s|stage")
    assert first.actions == [detection.PRIMARY_DOWN, detection.STAGE]
    assert first.incident["staging_by"] == "host|1|s|stage"
    soon = T0 + timedelta(seconds=5)
    alive = detection.advance(first.state, _round(False), soon, 0, True, stager="host|2|s|stage")
    assert detection.STAGE not in alive.actions
    lost = detection.advance(first.state, _round(False), soon, 0, True, stager="host|2|s|stage", stager_lost=True)
    assert detection.STAGE in lost.actions and lost.incident["staging_by"] == "host|2|s|stage"
    lost.state["incident"]["staged_run"] = "run-1"
    after = detection.advance(lost.state, _round(False), soon, 0, True, stager="host|3|s|stage", stager_lost=True)
    assert detection.STAGE not in after.actions  # a recorded run is never staged again


def test_the_watcher_calls_a_stager_lost_only_when_its_process_on_this_host_is_gone():
    """``staging_by`` of a dead process on this host: lost; of this (live) process, or with a run recorded: not."""
    from orchestrator import watcher
    from orchestrator.journal.lease import claimer_id

    me = claimer_id("stage")
    host, _pid, start, token = me.rsplit("|", 3)
    dead = f"{host}|{2**22 + 12345}|{start}|{token}"
    assert watcher._stager_lost({"incident": {"staging_by": dead, "staged_run": None}}) is True
    assert watcher._stager_lost({"incident": {"staging_by": me, "staged_run": None}}) is False
    assert watcher._stager_lost({"incident": {"staging_by": dead, "staged_run": "run-1"}}) is False
    assert watcher._stager_lost({}) is False
