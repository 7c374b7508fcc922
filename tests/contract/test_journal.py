"""The journal's contract: every behaviour defined once and run against both backends, the SQLite file in a
state dir and the DynamoDB table on the moto server (team mode). A journal opened a second time on the same
file or table stands for another process or machine.

Backend-only behaviours stay with their backend: the file's damage, loss and rescue in
tests/unit/test_journal_state.py; the table's lease, fencing, takeover records, throttling and claims in
tests/integration/test_journal_dynamodb.py."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from orchestrator.approvals import Approval
from orchestrator.clock import FakeClock, iso
from orchestrator.errors import InvalidInput, LockHeld
from orchestrator.journal.dynamodb.store import DynamoJournal
from orchestrator.journal.findings import DynamoFindingStore, SqliteFindingStore
from orchestrator.journal.lease import LEASE_SECONDS
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import Holder, OutboxEntry, RunNotFound, RunRecord, RunSettings, StepRecord
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.journal.watch import DynamoWatchStore, SqliteWatchStore
from orchestrator.model import EventName, RunStatus
from tests.fixtures.aws import REGION

pytestmark = pytest.mark.integration

TABLE = "cc-dr-runs"
AT = "2026-11-23T03:10:00.000Z"


@dataclass
class Backend:
    """One backend: ``open()`` a journal on its store (each call another process's view of the same store)."""

    name: str
    source: str
    _open: Callable[[], Journal]
    state_dir: Path
    clock: FakeClock
    opened: list[Journal] = field(default_factory=list)

    def open(self) -> Journal:
        journal = self._open()
        self.opened.append(journal)
        return journal

    def write_run_as_before(self, run_id: str, options: dict[str, Any]) -> None:
        """A run as the releases before RunSettings wrote it: its options one JSON object, written raw."""
        if self.name == "sqlite":
            self.open().close()  # the tables
            with contextlib.closing(sqlite3.connect(self.state_dir / "journal.sqlite")) as db, db:
                db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                           (run_id, "failover", "s1", "-", "{}", json.dumps(options), "held", AT, None, None, 1))
            return
        plain = {"run_id": run_id, "kind": "failover", "site": "s1", "site_file": "-", "runbook": "{}",
                 "options": json.dumps(options), "status": "held", "started_at": AT}
        item = {k: {"S": v} for k, v in plain.items()} | {"finished_at": {"NULL": True}, "error": {"NULL": True},
                                                          "resumes": {"N": "1"}}
        boto3.client("dynamodb", region_name=REGION).put_item(
            TableName=TABLE, Item={"pk": {"S": f"RUN#{run_id}"}, "sk": {"S": "META"}, **item})

    def findings(self) -> Any:
        if self.name == "sqlite":
            return SqliteFindingStore(self.state_dir)
        return DynamoFindingStore(TABLE, REGION, self.clock)

    def watch(self) -> Any:
        if self.name == "sqlite":
            return SqliteWatchStore(self.state_dir)
        return DynamoWatchStore(TABLE, REGION, self.clock)


def create_table() -> None:
    """The warm-site stack's state table, in the reset moto server."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Backend]:
    state = tmp_path / "state"
    if request.param == "sqlite":
        made = Backend("sqlite", str(state / "journal.sqlite"), lambda: SqliteJournal(state), state, clock)
    else:
        request.getfixturevalue("aws_env")
        create_table()
        made = Backend("dynamodb", f"dynamodb://{REGION}/{TABLE}",
                       lambda: DynamoJournal(TABLE, region=REGION, clock=clock), state, clock)
    yield made
    for journal in made.opened:
        journal.close()


@pytest.fixture
def journal(backend: Backend) -> Journal:
    return backend.open()


def new_run(journal: Journal, run_id: str, site: str = "s1", at: str = "2026-11-23T03:00:00.000Z",
            steps: tuple[str, ...] = ("a", "b", "c")) -> None:
    run = RunRecord(run_id, "failover", site, "/sites/s1.json", {"name": "book", "steps": list(steps)},
                    RunSettings.from_json({"approved": []}), status=RunStatus.PENDING, started_at=at)
    journal.create_run(run, [StepRecord(run_id, s, "builtin.noop", "sre") for s in steps])


# ------------------------------------------------------------------ runs


def test_runs_round_trip_explicit_writes_and_list_newest_first(backend: Backend, journal: Journal) -> None:
    """Runs are created, read, changed by explicit writes (each changing only what it names) and listed
    newest first, per site or all."""
    new_run(journal, "r1", at="2026-11-23T03:00:00.000Z")
    new_run(journal, "r2", site="s2", at="2026-11-23T04:00:00.000Z")
    new_run(journal, "r3", at="2026-11-23T05:00:00.000Z")
    journal.mark_running("r1")
    journal.mark_running("r1", resumed=True)
    journal.mark_running("r1", resumed=True)
    journal.finish("r1", RunStatus.FAILED, "2026-11-23T03:05:00.000Z", "boom")
    journal.finish("r1", RunStatus.FAILED, AT, None)
    run = backend.open().get_run("r1")
    assert (run.status, run.error, run.resumes) == ("failed", None, 2)
    assert run.finished_at == AT and run.runbook == {"name": "book", "steps": ["a", "b", "c"]}
    journal.set_error("r1", "the journal was removed")
    assert backend.open().get_run("r1").error == "the journal was removed"
    assert backend.open().get_run("r1").finished_at == AT
    assert [r.run_id for r in journal.list_runs()] == ["r3", "r2", "r1"]
    assert [r.run_id for r in journal.list_runs(limit=1)] == ["r3"]
    assert [r.run_id for r in journal.list_runs(site="s1")] == ["r3", "r1"]


def test_running_again_clears_the_end_and_the_error(journal: Journal) -> None:
    """mark_running after an end: running, no end time, no error; resumes unchanged unless resumed."""
    new_run(journal, "r1")
    journal.finish("r1", RunStatus.HELD, AT, "refused")
    journal.mark_running("r1")
    run = journal.get_run("r1")
    assert (run.status, run.finished_at, run.error, run.resumes) == ("running", None, None, 0)


def test_settings_round_trip_and_change_only_by_explicit_writes(backend: Backend, journal: Journal) -> None:
    """A run's settings come back as given; approvals are appended (never replacing the earlier ones), the
    site replaced, and nothing else of the settings changes."""
    start = Approval("*", "sre", "--yes at start", "2026-11-23T03:00:00.000Z")
    settings = RunSettings(accept_rpo_breach=True, approvals=(start,), objectives={"rto_seconds": 900},
                           detected_at="2026-11-23T02:59:00.000Z", site={"site": "s1", "region": "us-west-2"})
    journal.create_run(RunRecord("r1", "failover", "s1", "-", {}, settings, status=RunStatus.PENDING), [])
    assert backend.open().get_run("r1").settings == settings
    prompt = Approval("cutover", "ops", "prompt", "2026-11-23T03:01:00.000Z", host="h1", waited_seconds=2.5)
    journal.add_approvals("r1", [prompt])
    backend.open().add_approvals("r1", [Approval("b", "ops", "resume --approve", AT)])
    journal.replace_site("r1", {"site": "s1", "region": "us-east-1"})
    got = backend.open().get_run("r1").settings
    assert [a.source for a in got.approvals] == ["--yes at start", "prompt", "resume --approve"]
    assert got.approvals[1] == prompt
    assert got.site == {"site": "s1", "region": "us-east-1"}
    assert (got.accept_rpo_breach, got.objectives, got.detected_at) == (True, {"rto_seconds": 900},
                                                                       "2026-11-23T02:59:00.000Z")


def test_a_run_written_before_run_settings_reads_and_changes_as_its_settings(backend: Backend) -> None:
    """A run journaled by an earlier release (options as one JSON object; 1.0 kept only approved step ids,
    1.1 the approvals, unknown keys possible): read as typed settings, resumed and given more approvals, with
    every key it held kept."""
    site = {"schema": 1, "site": "s1"}
    backend.write_run_as_before("old", {"approved": ["cutover"], "accept_rpo_breach": True, "site": site,
                                        "objectives": {"rto_seconds": 900}, "future_key": [1, 2]})
    journal = backend.open()
    settings = journal.get_run("old").settings
    assert settings.approvals == (Approval("cutover", "unknown", "--approve", ""),)
    assert (settings.accept_rpo_breach, settings.site, settings.objectives) == (True, site, {"rto_seconds": 900})
    journal.mark_running("old", resumed=True)
    journal.add_approvals("old", [Approval("*", "sre", "resume --yes", AT)])
    run = backend.open().get_run("old")
    assert (run.status, run.resumes, run.started_at) == ("running", 2, AT)
    assert [a.step for a in run.settings.approvals] == ["cutover", "*"]
    assert run.settings.other == {"future_key": [1, 2]} and run.options["future_key"] == [1, 2]
    assert run.settings.site == site


def test_every_write_to_an_unknown_run_raises_run_not_found(backend: Backend, journal: Journal) -> None:
    """Reading or writing a run the journal does not hold raises RunNotFound naming the run and the store
    (never a silent no-op)."""
    writes: list[Callable[[], None]] = [
        lambda: journal.mark_running("nope"),
        lambda: journal.mark_running("nope", resumed=True),
        lambda: journal.finish("nope", RunStatus.FAILED, AT, None),
        lambda: journal.set_error("nope", "x"),
        lambda: journal.add_approvals("nope", [Approval("*", "sre", "--yes at start", AT)]),
        lambda: journal.replace_site("nope", {"site": "s1"}),
        lambda: journal.get_run("nope") and None,
    ]
    for write in writes:
        with pytest.raises(RunNotFound, match="no run 'nope'") as raised:
            write()
        assert raised.value.source == backend.source and raised.value.exit_code == 2


def test_an_existing_run_is_never_overwritten(backend: Backend) -> None:
    """Creating a run whose id another journal already created is refused and leaves it untouched."""
    new_run(backend.open(), "r1", steps=("a",))
    with pytest.raises(InvalidInput, match="run 'r1' already exists"):
        new_run(backend.open(), "r1", site="elsewhere", steps=("a",))
    assert backend.open().get_run("r1").site == "s1"


# ------------------------------------------------------------------ steps and events


def test_steps_round_trip_in_runbook_order(backend: Backend, journal: Journal) -> None:
    """Step records come back in runbook order with every field, state and types intact."""
    new_run(journal, "r1", steps=("zeta", "alpha", "mid"))
    step = journal.get_steps("r1")[1]
    step.status, step.attempts, step.applied, step.duration_seconds = "succeeded", 2, True, 1.5  # type: ignore[assignment]
    step.state = {"previous": [{"name": "agents.example.com.", "ttl": 60}], "ratio": 0.25}
    step.started_at, step.seq, step.phase = "2026-11-23T03:00:00.000Z", 3, "cutover"
    journal.save_step(step)
    steps = backend.open().get_steps("r1")
    assert [s.step_id for s in steps] == ["zeta", "alpha", "mid"]
    assert steps[1] == step
    assert steps[0].state == {} and steps[0].applied is False and steps[0].duration_seconds is None


def test_last_save_wins_between_two_journals(backend: Backend) -> None:
    """Between two journals (no lock held) the later save wins; runbook order is kept."""
    one, two = backend.open(), backend.open()
    new_run(one, "r1", steps=("z", "a"))
    step = two.get_steps("r1")[1]
    for journal, status in ((two, "running"), (two, "failed"), (one, "succeeded")):
        step.status = status  # type: ignore[assignment]
        journal.save_step(step)
    assert [(s.step_id, s.status) for s in two.get_steps("r1")] == [("z", "pending"), ("a", "succeeded")]


def test_events_ordered_and_continued_by_another_process(backend: Backend, clock: FakeClock) -> None:
    """Events come back in the order written, also when a second journal (another process) adds more."""
    first = backend.open()
    new_run(first, "r1")
    for name in ("run_started", "step_started", "step_succeeded"):
        first.add_event("r1", iso(clock.now()) or "", name, "a" if name != "run_started" else None, {"n": name})
    backend.open().add_event("r1", iso(clock.now()) or "", "run_resumed", None, {"by": "other"})
    events = first.get_events("r1")
    assert [e["event"] for e in events] == ["run_started", "step_started", "step_succeeded", "run_resumed"]
    assert events[1] == {"at": iso(clock.now()), "step": "a", "event": "step_started", "n": "step_started"}
    assert first.get_events("other") == []
    backend.open().add_event("r1", iso(clock.now()) or "", "step_failed", "b", {"step": "a", "at": "not the time"})
    records = backend.open().event_records("r1")
    assert [(r.name, r.step_id) for r in records][-3:] == [
        (EventName.STEP_SUCCEEDED, "a"), ("run_resumed", None), (EventName.STEP_FAILED, "b")]
    assert records[-1].at == iso(clock.now()) and records[-1].fields == {"step": "a", "at": "not the time"}


def test_drills_newest_first_per_site_and_rerecorded_once(journal: Journal) -> None:
    """Drill history is newest first, filtered by site, and a drill recorded again appears once (latest)."""
    for run_id, site, day in (("d1", "s1", 1), ("d2", "s2", 2), ("d3", "s1", 3), ("d1", "s1", 4)):
        journal.record_drill(
            {"run_id": run_id, "site": site, "finished_at": f"2026-11-0{day}T00:00:00.000Z", "rto_seconds": 100.5 + day}
        )
    assert [(d["run_id"], d["rto_seconds"]) for d in journal.drills(None, 10)] == [
        ("d1", 104.5),
        ("d3", 103.5),
        ("d2", 102.5),
    ]
    assert [d["run_id"] for d in journal.drills("s1", 10)] == ["d1", "d3"]
    assert [d["run_id"] for d in journal.drills(None, 2)] == ["d1", "d3"]


# ------------------------------------------------------------------ the outbox


def test_the_outbox_keeps_entries_in_order_until_marked_sent(journal: Journal) -> None:
    """Entries come back in the order written, a second write of an id keeps the first, and marking one
    sent records when and the far side's receipt; other runs' entries stay apart."""
    first = OutboxEntry("r1:started", "r1", "sns", "started", "2026-11-29T03:00:00.000Z", {"kind": "failover"}, 1)
    journal.add_outbox(OutboxEntry("r1:prepared:page", "r1", "status_page", "prepared", "2026-11-29T03:00:01.000Z",
                                   {}, 2))
    journal.add_outbox(first)
    journal.add_outbox(OutboxEntry("r2:started", "r2", "sns", "started", "2026-11-29T03:00:02.000Z", {}, 1))
    journal.add_outbox(OutboxEntry("r1:started", "r1", "sns", "started", "2026-11-29T04:00:00.000Z", {"x": 1}, 9))
    assert [e.entry_id for e in journal.outbox("r1")] == ["r1:started", "r1:prepared:page"]
    assert journal.outbox("r1")[0] == first and all(e.pending for e in journal.outbox("r1"))
    journal.mark_sent("r1", "r1:started", "2026-11-29T03:00:05.000Z", "message-1")
    sent, page = journal.outbox("r1")
    assert (sent.pending, sent.sent_at, sent.receipt) == (False, "2026-11-29T03:00:05.000Z", "message-1")
    assert page.pending and [e.entry_id for e in journal.outbox("r2")] == ["r2:started"]


def test_a_claim_is_taken_once_until_sent_run_out_or_its_claimer_is_dead(journal: Journal) -> None:
    """An entry claimed by one process cannot be claimed by another while the claim lasts; it can when the
    claim ran out, or when its claimer is known dead (``stale``); the claimer may renew its own claim; a sent
    entry is claimed by nobody."""
    journal.add_outbox(OutboxEntry("r1:started", "r1", "sns", "started", "2026-11-29T03:00:00.000Z", {}, 1))
    at, until, later = "2026-11-29T03:00:00.000Z", "2026-11-29T03:02:00.000Z", "2026-11-29T03:02:00.001Z"
    assert journal.claim_outbox("r1", "r1:started", "a", at, until)
    assert not journal.claim_outbox("r1", "r1:started", "b", at, until)
    assert journal.claim_outbox("r1", "r1:started", "a", at, until)  # a retried claim of one's own
    [entry] = journal.outbox("r1")
    assert (entry.claimed_by, entry.claimed_until, entry.pending) == ("a", until, True)
    assert journal.claim_outbox("r1", "r1:started", "b", later, "2026-11-29T03:04:00.000Z")  # a's claim ran out
    assert not journal.claim_outbox("r1", "r1:started", "c", later, until)
    assert not journal.claim_outbox("r1", "r1:started", "c", later, until, stale="a")  # a's claim is gone anyway
    assert journal.claim_outbox("r1", "r1:started", "c", later, until, stale="b")  # b is dead
    assert journal.outbox("r1")[0].claimed_by == "c"
    journal.mark_sent("r1", "r1:started", at, "message-1")
    assert not journal.claim_outbox("r1", "r1:started", "d", later, until)
    assert not journal.claim_outbox("r1", "r1:missing", "d", at, until)


# ------------------------------------------------------------------ the site lock


def test_lock_held_by_a_live_process_names_the_holder(backend: Backend, clock: FakeClock) -> None:
    """A lock held by a live process on this host is refused with who holds it, where and since when,
    however old its heartbeat (the PID decides on the same host)."""
    backend.open().acquire_lock("s1", Holder("other-run", Holder.me("x").host, 1, ""), clock.now())
    clock.advance(LEASE_SECONDS * 10)
    held = r"locked by run other-run \(pid 1 on .*\) since 2026-11-23T03:00"
    with pytest.raises(LockHeld, match=held) as e:
        backend.open().acquire_lock("s1", Holder.me("mine"), clock.now())
    assert e.value.exit_code == 3


def test_lock_of_a_dead_process_is_taken_over(backend: Backend, clock: FakeClock) -> None:
    """A lock whose holder process on this host is gone is taken over at once; the previous holder is
    returned."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    crashed = Holder("crashed-run", Holder.me("x").host, dead.pid, "")
    backend.open().acquire_lock("s1", crashed, clock.now())
    me = Holder.me("mine")
    previous = backend.open().acquire_lock("s1", me, clock.now())
    assert previous is not None and previous.holder == crashed
    assert backend.open().current_lock("s1").holder == me  # type: ignore[union-attr]


def test_release_then_reacquire_and_same_holder_refresh(backend: Backend, clock: FakeClock) -> None:
    """The holder may take its own lock again (refresh); after release anyone takes it; a released lock
    has no heartbeat."""
    journal, me = backend.open(), Holder.me("mine")
    assert journal.acquire_lock("s1", me, clock.now()) is None
    clock.advance(5)
    assert journal.heartbeat("s1", me, clock.now())
    assert journal.acquire_lock("s1", me, clock.now()) is None
    assert journal.current_lock("s1").acquired_at == iso(clock.now())  # type: ignore[union-attr]
    journal.release_lock("s1", me)
    assert journal.current_lock("s1") is None
    assert journal.heartbeat("s1", me, clock.now()) is False
    assert backend.open().acquire_lock("s1", Holder("next", "elsewhere", 9, ""), clock.now()) is None


# ------------------------------------------------------------------ versioned stores: findings and watch


def test_findings_are_versioned_per_site(backend: Backend) -> None:
    """A finding is written as version 1 only over none, then only over the version read: a second writer
    holding an older version is refused and reads again; findings list per site."""
    one, two = backend.findings(), backend.findings()
    assert one.read("s1", "f1") == (0, {})
    assert one.write("s1", "f1", {"id": "f1", "state": "open"}, 0)
    assert not two.write("s1", "f1", {"id": "f1", "state": "other"}, 0)
    assert two.read("s1", "f1") == (1, {"id": "f1", "state": "open"})
    assert two.write("s1", "f1", {"id": "f1", "state": "closed"}, 1)
    assert not one.write("s1", "f1", {"id": "f1", "state": "open"}, 1)
    assert one.write("s2", "f2", {"id": "f2", "state": "open"}, 0)
    assert one.list("s1") == [{"id": "f1", "state": "closed"}]
    assert [f["id"] for f in one.list("s2")] == ["f2"]


def test_watch_state_is_versioned_per_site(backend: Backend) -> None:
    """A site's watch state: version 0 before the first round, each write only over the version read, so
    two watchers never both write from the same read; sites stay apart."""
    one, two = backend.watch(), backend.watch()
    assert one.read("s1") == (0, {})
    assert one.write("s1", {"failing_since": "t0"}, 0)
    assert not two.write("s1", {"failing_since": "t1"}, 0)
    assert two.read("s1") == (1, {"failing_since": "t0"})
    assert two.write("s1", {"incident": "i1"}, 1)
    assert one.read("s1") == (2, {"incident": "i1"}) and one.read("s2") == (0, {})
