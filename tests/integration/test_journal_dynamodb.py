"""Team mode: the DynamoDB journal against a moto server — what only the table does (the behaviour both
backends share is tests/contract/test_journal.py): compressed large items, versioned step writes, the lock as a
lease (race between processes, expiry, takeover, fencing), throttled writes, the engine end to end, and
kill -9 then resume from another process with an empty state dir through the real CLI."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
import structlog
from botocore.exceptions import ClientError
from structlog.testing import capture_logs

from orchestrator.adapters.aws import AwsSession
from orchestrator.clock import iso
from orchestrator.engine import Engine
from orchestrator.errors import FatalError, LockHeld
from orchestrator.journal.dynamodb.lock import LockLost
from orchestrator.journal.dynamodb.store import DynamoJournal
from orchestrator.journal.lease import LEASE_SECONDS
from orchestrator.journal.records import Holder, RunRecord, RunSettings, StepRecord
from orchestrator.model import RunStatus
from tests.fixtures.aws import REGION
from tests.helpers import REPO, SITE, chain, load, orchestrator

pytestmark = pytest.mark.integration

TABLE = "cc-dr-runs"


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture
def table(aws_env: str) -> str:
    """The warm-site stack's state table, created in a reset moto server."""
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    )
    client.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    return TABLE


def journal_for(clock, *hooks) -> DynamoJournal:
    """A DynamoJournal whose client carries the given botocore event hooks (fault injection)."""
    session = AwsSession(REGION, clock=clock, event_hooks=hooks)
    return DynamoJournal(TABLE, region=REGION, clock=clock, client=session)


def items(prefix: str = "") -> list[dict]:
    """Every item in the table (a test-side scan), optionally only those whose sk starts with prefix."""
    client = boto3.client("dynamodb", region_name=REGION)
    found = [i for page in client.get_paginator("scan").paginate(TableName=TABLE) for i in page["Items"]]
    return [i for i in found if i["sk"]["S"].startswith(prefix)]


def client_error(code: str, operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation
    )


def fail_every_other(event: str, code: str = "ProvisionedThroughputExceededException"):
    """A hook for ``event`` raising ``code`` on every other call (first call included); counts failures."""
    calls = itertools.count()
    failures: list[str] = []

    def hook(**kwargs):
        if next(calls) % 2 == 0:
            failures.append(event)
            raise client_error(code, event.rsplit(".", 1)[-1])

    hook.failures = failures
    return event, hook


def new_run(
    journal: DynamoJournal,
    run_id: str,
    site: str = "s1",
    at: str = "2026-11-23T03:00:00.000Z",
    steps: tuple[str, ...] = ("a", "b", "c"),
) -> None:
    run = RunRecord(
        run_id,
        "failover",
        site,
        "/sites/s1.json",
        {"name": "book", "steps": list(steps)},
        RunSettings.from_json({"approved": []}),
        status="pending",
        started_at=at,
    )
    journal.create_run(run, [StepRecord(run_id, s, "builtin.noop", "sre") for s in steps])


# ------------------------------------------------------------------ the table's own behaviour (the journal's
# contract, the same on both backends, is tests/contract/test_journal.py)


def test_large_step_state_is_stored_compressed(table, clock):
    """A state too big for a plain attribute is compressed and reads back the same."""
    journal = journal_for(clock)
    new_run(journal, "r1", steps=("big",))
    step = journal.get_steps("r1")[0]
    step.state = {"files": [f"restored/20261123T020000Z/file-{i:06d}.dat" for i in range(5000)]}
    journal.save_step(step)
    assert "B" in items("STEP#big")[0]["state"]
    assert journal_for(clock).get_steps("r1")[0].state == step.state


def test_an_older_snapshot_never_overwrites_a_newer_one(table, clock):
    """save_step from two threads: the first snapshot, delayed on the wire, does not overwrite the second."""
    release = threading.Event()
    held = threading.Event()

    def delay_old(params, **kwargs):
        if '"old"' in params["Item"].get("state", {}).get("S", "") and not release.is_set():
            held.set()
            assert release.wait(10)

    journal = journal_for(clock, ("before-parameter-build.dynamodb.PutItem", delay_old))
    new_run(journal, "r1", steps=("a",))
    step = journal.get_steps("r1")[0]
    step.state = {"phase": "old"}
    slow = threading.Thread(target=journal.save_step, args=(StepRecord(**vars(step)),))
    slow.start()
    assert held.wait(10)
    step.state, step.status = {"phase": "new"}, "succeeded"
    journal.save_step(step)
    release.set()
    slow.join(10)
    stored = journal_for(clock).get_steps("r1")[0]
    assert stored.state == {"phase": "new"} and stored.status == "succeeded"


# ------------------------------------------------------------------ the lock


def test_lock_of_a_dead_process_is_taken_over_and_recorded(table, clock):
    """A lock whose holder process on this host is gone is taken over at once (tests/contract); the table
    records the takeover."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    crashed = Holder("crashed-run", Holder.me("x").host, dead.pid, "")
    journal_for(clock).acquire_lock("s1", crashed, clock.now())
    me = Holder.me("mine")
    previous = journal_for(clock).acquire_lock("s1", me, clock.now())
    assert previous.holder == crashed
    assert journal_for(clock).current_lock("s1").holder == me
    [takeover] = journal_for(clock).takeovers("s1")
    assert takeover["previous"]["holder"]["run_id"] == "crashed-run" and takeover["by"]["run_id"] == "mine"


def test_lease_of_another_host_expires_unless_heartbeaten_then_takeover(table, clock):
    """Another host's lock holds while heartbeats renew the lease, is taken over once the lease expired,
    and the old holder then learns it lost the lock (heartbeat False; fenced writes refused)."""
    remote_journal = journal_for(clock)
    new_run(remote_journal, "remote-run", steps=("a",))
    remote = Holder("remote-run", "elsewhere.example", 4242, "")
    assert remote_journal.acquire_lock("s1", remote, clock.now()) is None
    mine, me = journal_for(clock), Holder.me("mine")
    clock.advance(LEASE_SECONDS - 10)
    assert remote_journal.heartbeat("s1", remote, clock.now())
    clock.advance(LEASE_SECONDS - 1)  # past the first lease, inside the renewed one
    with pytest.raises(LockHeld, match=r"remote-run \(pid 4242 on elsewhere\.example\)"):
        mine.acquire_lock("s1", me, clock.now())
    clock.advance(2)
    previous = mine.acquire_lock("s1", me, clock.now())
    assert previous.holder == remote
    assert previous.heartbeat_at == iso(clock.now() - timedelta(seconds=LEASE_SECONDS + 1))
    [takeover] = mine.takeovers("s1")
    assert takeover["at"] == iso(clock.now())
    assert takeover["previous"]["holder"]["host"] == "elsewhere.example"
    assert remote_journal.heartbeat("s1", remote, clock.now()) is False
    step = remote_journal.get_steps("remote-run")[0]
    step.status = "succeeded"
    with pytest.raises(LockLost, match="now held by run mine") as info:
        remote_journal.save_step(step)
    assert info.value.exit_code == 3
    with pytest.raises(LockLost):
        remote_journal.finish("remote-run", RunStatus.FAILED, iso(clock.now()), None)
    assert mine.get_steps("remote-run")[0].status == "pending"
    remote_journal.release_lock("s1", remote)  # not its lock any more: a no-op
    assert mine.current_lock("s1").holder == me


def test_release_then_reacquire_records_no_takeover(table, clock):
    """A refresh by the holder and a lock taken after a release (tests/contract) are not takeovers: the
    table records none."""
    journal, me = journal_for(clock), Holder.me("mine")
    assert journal.acquire_lock("s1", me, clock.now()) is None
    clock.advance(5)
    assert journal.acquire_lock("s1", me, clock.now()) is None
    journal.release_lock("s1", me)
    assert journal_for(clock).acquire_lock("s1", Holder("next", "elsewhere", 9, ""), clock.now()) is None
    assert journal.takeovers("s1") == []


def test_resources_shared_by_two_sites_are_held_by_one_run_at_a_time(table, clock):
    """Issue 23 item 1, team mode: a run of site-b sharing a resource with a live run of site-a (another host,
    its lease renewed) is refused naming that run, its site and the resource, and claims nothing (all or
    none: neither its site lock nor its other resources); a site sharing nothing runs; once site-a's lease
    ran out its claims are taken over (site-a's heartbeat then says it lost them); release frees them."""
    remote_journal, remote = journal_for(clock), Holder("run-a", "host-a.example", 11, "")
    shared, own = "dns:Z1/agents.example.com.", "restore-prefix:s3://b-restore/"
    assert remote_journal.acquire_lock("site-a", remote, clock.now(), ["seat-group:r/seats", shared]) is None
    mine, me = journal_for(clock), Holder.me("run-b")
    clock.advance(LEASE_SECONDS - 10)
    assert remote_journal.heartbeat("site-a", remote, clock.now())
    clock.advance(LEASE_SECONDS - 1)  # past the first lease, inside the renewed one
    with pytest.raises(LockHeld) as refused:
        mine.acquire_lock("site-b", me, clock.now(), [shared, own])
    assert refused.value.exit_code == 3
    since = iso(clock.now() - timedelta(seconds=2 * LEASE_SECONDS - 11))
    assert (f"{shared} is locked by run run-a of site 'site-a' (pid 11 on host-a.example) since {since}: "
            "a run of site 'site-b' would change it too") in str(refused.value)
    assert "`orchestrator status run-a --site SITE.json`" in str(refused.value)
    assert mine.current_lock("site-b") is None and mine.locks.current_claim(own) is None
    assert mine.locks.current_claim(shared)[0] == "site-a"
    other = journal_for(clock)
    assert other.acquire_lock("site-c", Holder.me("run-c"), clock.now(), ["dns:Z2/agents.example.com."]) is None
    other.release_lock("site-c", Holder.me("run-c"))
    clock.advance(2)  # site-a's lease ran out
    assert mine.acquire_lock("site-b", me, clock.now(), [shared, own]) is None
    assert mine.locks.current_claim(shared) == ("site-b", mine.locks.current_claim(shared)[1])
    assert mine.locks.current_claim(shared)[1].holder == me
    assert remote_journal.heartbeat("site-a", remote, clock.now()) is False
    assert mine.heartbeat("site-b", me, clock.now())
    mine.release_lock("site-b", me)
    assert mine.locks.current_claim(shared) is None and mine.locks.current_claim(own) is None


def test_two_site_names_sharing_resources_exclude_each_other_across_machines(table, tmp_path):
    """Issue 23 item 1 through the real CLI in team mode: a failover of the team site holds it; on another
    machine (another state dir, another machine-wide lock scope: only the table is shared) a failover of a
    copy of the site file under another name exits 3 naming the holding run, its site and a shared
    resource, and records no run."""
    work = tmp_path / "work"
    work.mkdir()
    site = team_site(tmp_path)
    copy = tmp_path / "copy.json"
    copy.write_text(json.dumps({**json.loads(site.read_text()), "site": "cc-dr-sandbox-b"}))
    first = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "failover", "--site", str(site), "--runbook",
         str(chain(work, 1, delay=60)), "--state-dir", str(tmp_path / "machine-1")],
        cwd=REPO, env={**os.environ, "ORCHESTRATOR_LOCK_SCOPE": "machine-1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # the lock and its claims are taken before the run is recorded
        wait_for(lambda: bool(DynamoJournal(TABLE, region=REGION).list_runs()), first)
        [holder] = DynamoJournal(TABLE, region=REGION).list_runs()
        second = orchestrator(
            "failover", "--site", str(copy), "--runbook", str(chain(tmp_path / "work2", 1, delay=0)), "--yes",
            state_dir=tmp_path / "machine-2", env={"ORCHESTRATOR_LOCK_SCOPE": "machine-2"},
        )
        assert second.returncode == 3, second.stderr[-1500:]
        message = " ".join(second.stderr.split())
        assert f"locked by run {holder.run_id} of site 'cc-dr-west' (pid {first.pid} on" in message, message
        assert "dns:Z0123456789/agents.example.com." in message and "a run of site 'cc-dr-sandbox-b'" in message
        assert f"orchestrator resume {holder.run_id} --site SITE.json" in message
        assert DynamoJournal(TABLE, region=REGION).list_runs(site="cc-dr-sandbox-b") == []
        assert applied_counts(tmp_path / "work2", 1) == [0]
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    assert first.returncode == 130
    assert DynamoJournal(TABLE, region=REGION).locks.current_claim("seat-group:us-west-2/cc-agent-seats") is None


RACER = textwrap.dedent("""
    import sys
    from orchestrator.clock import SystemClock
    from orchestrator.errors import LockHeld
    from orchestrator.journal.dynamodb.store import DynamoJournal
    from orchestrator.journal.records import Holder

    journal = DynamoJournal(sys.argv[1], region=sys.argv[2])
    clock = SystemClock()
    journal.current_lock("warm-up")  # build the client before the start signal
    print("ready", flush=True)
    for site in sys.argv[3:]:
        sys.stdin.readline()
        try:
            journal.acquire_lock(site, Holder.me("run-" + site), clock.now())
            print("won", flush=True)
        except LockHeld as exc:
            print("held", exc, flush=True)
    sys.stdin.read()  # stay alive (a live holder) until the test is done
""")


def test_two_processes_race_for_the_lock_exactly_one_wins(table):
    """Two processes started together race for each of several site locks: exactly one wins each time."""
    sites = [f"race-{i}" for i in range(6)]
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, TABLE, REGION, *sites],
            cwd=REPO,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        assert [p.stdout.readline().strip() for p in racers] == ["ready", "ready"]
        for site in sites:
            for racer in racers:
                racer.stdin.write("go\n")
                racer.stdin.flush()
            answers = sorted(p.stdout.readline().strip() for p in racers)
            assert answers[0].startswith("held") and answers[1] == "won", answers
            assert f"locked by run run-{site} (pid" in answers[0]
    finally:
        for racer in racers:
            racer.stdin.close()
            racer.wait(30)
    assert [p.returncode for p in racers] == [0, 0], [p.stderr.read() for p in racers]


# ------------------------------------------------------------------ throttling and faults


def test_throttled_writes_are_retried_logged_and_stored_exactly_once(table, clock):
    """Every other PutItem / UpdateItem / TransactWriteItems / Query is throttled: all retried (logged),
    every entry present exactly once."""
    hooks = [
        fail_every_other(f"before-call.dynamodb.{op}")
        for op in ("PutItem", "UpdateItem", "TransactWriteItems", "Query", "GetItem")
    ]
    journal = journal_for(clock, *hooks)
    me = Holder.me("r1")
    with capture_logs() as logs:
        new_run(journal, "r1")
        journal.acquire_lock("s1", me, clock.now())
        for step in journal.get_steps("r1"):
            step.status = "succeeded"
            journal.save_step(step)
            journal.add_event("r1", iso(clock.now()), "step_succeeded", step.step_id, {})
        journal.finish("r1", RunStatus.SUCCEEDED, iso(clock.now()), None)
        assert journal.heartbeat("s1", me, clock.now())
        journal.record_drill({"run_id": "r1", "site": "s1", "finished_at": iso(clock.now())})
    retries = [e for e in logs if e["event"] == "retry"]
    assert len(retries) == sum(len(hook.failures) for _, hook in hooks) > 10
    assert all("ProvisionedThroughputExceededException" in r["error"] for r in retries)
    assert clock.sleeps and all(s > 0 for s in clock.sleeps)
    keys = Counter((i["pk"]["S"], i["sk"]["S"]) for i in items())
    assert set(keys.values()) == {1}
    assert len(items("EVENT#")) == 3 and len(items("STEP#")) == 3
    assert [s.status for s in journal_for(clock).get_steps("r1")] == ["succeeded"] * 3
    assert journal_for(clock).get_run("r1").status == "succeeded"


def test_lost_responses_never_duplicate_an_entry(table, clock):
    """A write that landed but whose answer was lost (throttled after the call) is retried harmlessly:
    no duplicate event, no step or run update applied twice, the lock taken once."""
    hooks = [fail_every_other(f"after-call.dynamodb.{op}") for op in ("PutItem", "TransactWriteItems")]
    journal = journal_for(clock, *hooks)
    dead = subprocess.Popen(["true"])
    dead.wait()
    new_run(journal, "r1")
    journal.acquire_lock("s1", Holder("crashed", Holder.me("x").host, dead.pid, ""), clock.now())
    me = Holder.me("r1")
    previous = journal.acquire_lock("s1", me, clock.now())
    assert previous.holder.run_id == "crashed"
    for n in range(5):
        journal.add_event("r1", iso(clock.now()), f"e{n}", None, {"n": n})
    step = journal.get_steps("r1")[0]
    for attempts in (1, 2):
        step.attempts = attempts
        journal.save_step(step)
    assert sum(len(hook.failures) for _, hook in hooks) >= 6
    assert [e["event"] for e in journal.get_events("r1")] == [f"e{n}" for n in range(5)]
    assert journal.get_steps("r1")[0].attempts == 2
    assert len(journal.takeovers("s1")) == 1 and journal.current_lock("s1").holder == me


def test_conditional_failures_are_results_and_access_denied_is_fatal(table, clock):
    """A failed condition is never retried; access denied fails at once as a fatal error."""
    journal = journal_for(clock)
    journal.acquire_lock("s1", Holder("other", "elsewhere", 1, ""), clock.now())
    with capture_logs() as logs:
        assert journal.heartbeat("s1", Holder("not-me", "elsewhere", 2, ""), clock.now()) is False
        journal.release_lock("s1", Holder("not-me", "elsewhere", 2, ""))
    assert not [e for e in logs if e["event"] == "retry"]

    def deny(**kwargs):
        raise client_error("AccessDeniedException", "GetItem")

    denied = journal_for(clock, ("before-call.dynamodb.GetItem", deny))
    with capture_logs() as logs, pytest.raises(FatalError, match="AccessDeniedException"):
        denied.get_run("r1")
    assert not [e for e in logs if e["event"] == "retry"]


def test_missing_table_is_fatal_and_names_it(aws_env, clock):
    """A site naming a table that does not exist fails at once with ResourceNotFound (not retried)."""
    with pytest.raises(FatalError, match="ResourceNotFoundException"):
        DynamoJournal("no-such-table", region=REGION, clock=clock).get_run("r1")


# ------------------------------------------------------------------ the engine on the table


def _engine(journal, clock) -> Engine:
    return Engine(journal=journal, services=None, site=None, clock=clock, log=structlog.get_logger("test"))


def _start(engine: Engine, book, run_id: str = "run-1", site: str = "s1"):
    engine.create(
        RunRecord(run_id=run_id, kind="failover", site=site, site_file="-", runbook={}, status="pending"),
        book,
    )
    return engine.run(run_id)


def test_engine_runs_a_runbook_on_the_table_under_throttling(table, clock, tmp_path):
    """A parallel runbook succeeds on the DynamoDB journal with throttled writes: each step applied once,
    every step succeeded, the lock released, the timeline complete."""
    book = load(
        tmp_path,
        f"""
        name: e2e
        steps:
          - {{id: a, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
          - {{id: b, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
          - {{id: c, uses: builtin.marker, needs: [a, b], with: {{dir: "{tmp_path}"}}}}
    """,
    )
    faults = (("before", "PutItem"), ("after", "TransactWriteItems"), ("before", "UpdateItem"))
    hooks = [fail_every_other(f"{when}-call.dynamodb.{op}") for when, op in faults]
    journal = journal_for(clock, *hooks)
    assert _start(_engine(journal, clock), book).status == "succeeded"
    assert {p.name.split(".")[0] for p in tmp_path.glob("*.applied.*")} == {"a", "b", "c"}
    assert len(list(tmp_path.glob("*.applied.*"))) == 3
    fresh = journal_for(clock)
    assert [s.status for s in fresh.get_steps("run-1")] == ["succeeded"] * 3
    events = [e["event"] for e in fresh.get_events("run-1")]
    assert (events[0], events[-1], events.count("step_succeeded")) == ("run_started", "run_succeeded", 3)
    assert fresh.current_lock("s1") is None


def test_stopped_run_resumed_from_a_new_journal_skips_done_steps(table, clock, tmp_path):
    """on_failure: stop, then resume from a NEW journal instance (another machine): done steps are not
    applied again and the run succeeds."""
    book = load(
        tmp_path,
        f"""
        name: s
        defaults: {{on_failure: stop, retry: none}}
        steps:
          - {{id: first, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
          - {{id: second, uses: builtin.fail, needs: [first], with: {{failures: 1}}}}
          - {{id: third, uses: builtin.marker, needs: [second], with: {{dir: "{tmp_path}"}}}}
    """,
    )
    assert _start(_engine(journal_for(clock), clock), book).status == "failed"
    other_machine = journal_for(clock)
    assert {s.step_id: s.status for s in other_machine.get_steps("run-1")} == {
        "first": "succeeded",
        "second": "failed",
        "third": "pending",
    }
    assert _engine(other_machine, clock).run("run-1").status == "succeeded"
    assert len(list(tmp_path.glob("first.applied.*"))) == 1
    assert len(list(tmp_path.glob("third.applied.*"))) == 1
    assert journal_for(clock).get_run("run-1").resumes == 1


def test_engine_refused_while_another_host_leases_then_takes_over(table, clock, tmp_path):
    """The engine is refused while another host's lease runs (recording nothing), and a start after it
    takes over, journaling who it took the lock from."""
    book = load(tmp_path, "name: l\nsteps:\n  - {id: a, uses: builtin.noop}\n")
    journal = journal_for(clock)
    journal.acquire_lock("s1", Holder("remote-run", "elsewhere.example", 7, ""), clock.now())
    with pytest.raises(LockHeld, match="remote-run"):
        _start(_engine(journal, clock), book)
    assert journal.list_runs(site="s1") == []
    clock.advance(LEASE_SECONDS + 1)
    assert _start(_engine(journal_for(clock), clock), book).status == "succeeded"
    taken = [e for e in journal.get_events("run-1") if e["event"] == "lock_taken_over"]
    assert taken[0]["previous_run"] == "remote-run" and taken[0]["previous_host"] == "elsewhere.example"
    assert journal.takeovers("s1")[0]["by"]["run_id"] == "run-1"


# ------------------------------------------------------------------ the real CLI, two processes


def team_site(folder: Path) -> Path:
    data = json.loads(SITE.read_text())
    data["state"] = {"table": TABLE}
    path = folder / "site.json"
    path.write_text(json.dumps(data))
    return path


def applied_counts(folder: Path, n: int) -> list[int]:
    return [len(list(folder.glob(f"s{i}.applied.*"))) for i in range(n)]


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll a real child process (there is no clock to inject into another process)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_kill_9_then_resume_from_another_process_with_an_empty_state_dir(table, tmp_path):
    """`failover` is killed with -9 mid-run; `resume RUN_ID --site` from an empty state dir (another
    machine: only the site file and the table) finishes it, each step applied exactly once."""
    n = 8
    work = tmp_path / "work"
    work.mkdir()
    site, book = team_site(tmp_path), chain(work, n, delay=0.2)
    first_dir, second_dir = tmp_path / "machine-1", tmp_path / "machine-2"
    command = ["failover", "--site", str(site), "--runbook", str(book), "--state-dir", str(first_dir)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *command],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: sum(applied_counts(work, n)) >= 3, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert 3 <= sum(applied_counts(work, n)) < n
    assert not (first_dir / "journal.sqlite").exists()
    [run] = DynamoJournal(TABLE, region=REGION).list_runs(site="cc-dr-west")
    assert run.status == "running"  # the table still says running: the process died mid-run
    shutil.rmtree(first_dir)
    result = orchestrator(
        "resume", run.run_id, "--site", str(site), "--state-dir", str(second_dir), state_dir=second_dir
    )
    assert result.returncode == 0, result.stderr
    assert applied_counts(work, n) == [1] * n
    report = json.loads((second_dir / "reports" / run.run_id / "report.json").read_text())
    assert report["status"] == "succeeded" and report["resumes"] == 1
    assert any(e["event"] == "lock_taken_over" for e in report["timeline"])
    assert not (second_dir / "journal.sqlite").exists()
    final = DynamoJournal(TABLE, region=REGION)
    assert final.get_run(run.run_id).status == "succeeded" and final.current_lock("cc-dr-west") is None


def test_drill_history_read_from_the_table_by_another_machine(table, tmp_path):
    """A drill recorded by one machine is listed by `drills --site` on another with an empty state dir."""
    work = tmp_path / "work"
    work.mkdir()
    site, book = team_site(tmp_path), chain(work, 2, delay=0)
    first = orchestrator("drill", "--site", str(site), "--runbook", str(book), state_dir=tmp_path / "machine-1")
    assert first.returncode == 0, first.stderr
    listed = orchestrator("drills", "--site", str(site), "--json", state_dir=tmp_path / "machine-2")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["drills"]) == 1
    assert not (tmp_path / "machine-2" / "journal.sqlite").exists()


def test_status_read_from_the_table_by_another_machine(table, tmp_path):
    """`status RUN_ID --site --json` on a machine with an empty state dir reads the run from the table.
    (Needs the lead's wiring: `status --site` opening the site's journal.)"""
    work = tmp_path / "work"
    work.mkdir()
    site, book = team_site(tmp_path), chain(work, 2, delay=0)
    assert (
        orchestrator(
            "failover", "--site", str(site), "--runbook", str(book), state_dir=tmp_path / "machine-1"
        ).returncode
        == 0
    )
    [run] = DynamoJournal(TABLE, region=REGION).list_runs()
    shown = orchestrator("status", run.run_id, "--site", str(site), "--json", state_dir=tmp_path / "machine-2")
    assert shown.returncode == 0, shown.stderr
    [data] = json.loads(shown.stdout)["runs"]
    assert data["run_id"] == run.run_id and data["status"] == "succeeded"
    assert [s["status"] for s in data["steps"]] == ["succeeded", "succeeded"]
    latest = orchestrator("status", "--site", str(site), "--json", state_dir=tmp_path / "machine-2")
    assert json.loads(latest.stdout)["runs"][0]["run_id"] == run.run_id
