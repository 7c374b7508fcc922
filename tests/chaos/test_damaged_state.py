"""Damaged state and contention, through the CLI as a user types it: a damaged journal file, state and
report directories that cannot be used, a journal removed or replaced under a running failover, two
failovers started at the same moment on a fresh state dir (SQLite and DynamoDB team mode), and a resume
given another site file than the run's own.

Runbooks of ``builtin.marker`` steps (kind ``test``) count every application as a file, so "exactly one
run applied anything" is checked on disk; the site-file tests run the real failover runbook against the
shared chaos site."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from tests.chaos.support import back_to_warm, fast_runbook, seeded, trials
from tests.e2e_helpers import aws_state, cli
from tests.fixtures.aws import REGION
from tests.helpers import REPO, SITE, chain, orchestrator

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

TABLE = "cc-dr-runs-chaos"


# ------------------------------------------------------------------ helpers


def applied(folder: Path, n: int) -> list[int]:
    return [len(list(folder.glob(f"s{i}.applied.*"))) for i in range(n)]


def spawn(*args: str, state_dir: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=REPO,
        env={**os.environ, **(env or {}), "ORCHESTRATOR_STATE_DIR": str(state_dir)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Poll a condition that a real child process brings about (no clock can be injected into it)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc is None or proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def audit_text(state: Path) -> str:
    return "".join(p.read_text() for p in state.glob("runs/*/audit.jsonl"))


def holding_in(state: Path, step: str) -> bool:
    """The run's audit log says ``step`` is applying (a held marker step then waits for its file)."""
    for line in audit_text(state).splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("event") == "step_applying" and record.get("step") == step:
                return True
    return False


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def settle(state: Path) -> None:
    """Fold the WAL into the journal file and remove it, so the file alone holds the journal."""
    db = sqlite3.connect(state / "journal.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()


# ------------------------------------------------------------------ a damaged journal


@pytest.fixture(scope="module")
def journal_with_runs(tmp_path_factory) -> tuple[Path, list[str]]:
    """A state dir whose journal holds three finished runs (two failovers, one drill), settled into one file."""
    root = tmp_path_factory.mktemp("journal-with-runs")
    state = root / "state"
    for number, kind in enumerate(("failover", "failover", "drill")):
        book = chain(root / f"work{number}", 2, delay=0)
        done = orchestrator(kind, "--site", str(SITE), "--runbook", str(book), "--yes", state_dir=state)
        assert done.returncode == 0, done.stderr
    settle(state)
    runs = json.loads(orchestrator("status", "--json", "--last", "5", state_dir=state).stdout)["runs"]
    return state, [r["run_id"] for r in runs]


def commands(run_id: str, work: Path) -> list[tuple[str, ...]]:
    book = chain(work, 1, delay=0)
    return [
        ("status",),
        ("status", run_id, "--json"),
        ("resume", run_id, "--yes"),
        ("failover", "--site", str(SITE), "--runbook", str(book), "--yes"),
        ("drills",),
        ("readiness", "--site", str(SITE)),
    ]


def check_damaged(state: Path, run_id: str, work: Path) -> None:
    """Every command: exit 2, "the journal FILE is damaged", what to do; never "no run", the file untouched."""
    journal = state / "journal.sqlite"
    before = digest(journal)
    for args in commands(run_id, work):
        result = orchestrator(*args, state_dir=state)
        shown = " ".join(args[:2])
        assert result.returncode == 2, (shown, result.stderr[-800:])
        assert f"the journal {journal} is damaged" in result.stderr, (shown, result.stderr[-800:])
        assert "mv " in result.stderr and "restore it from a backup" in result.stderr
        assert "no run" not in result.stderr and "internal error" not in result.stderr
    assert digest(journal) == before
    assert applied(work, 1) == [0]


def test_journal_overwritten_with_garbage_every_command_says_damaged(journal_with_runs, tmp_path):
    """A journal file overwritten with random bytes: status, resume, failover, drills, readiness all exit 2
    with "the journal FILE is damaged" and what to do; the file is never written; nothing runs."""
    source, runs = journal_with_runs
    state = tmp_path / "state"
    shutil.copytree(source, state)
    size = (state / "journal.sqlite").stat().st_size
    (state / "journal.sqlite").write_bytes(os.urandom(size))
    check_damaged(state, runs[0], tmp_path / "work")


def test_journal_of_another_program_is_not_taken_over(journal_with_runs, tmp_path):
    """An SQLite file of another program where the journal should be is refused as damaged, never
    extended with the journal's tables."""
    _, runs = journal_with_runs
    state = tmp_path / "state"
    state.mkdir()
    db = sqlite3.connect(state / "journal.sqlite")
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    db.commit()
    db.close()
    check_damaged(state, runs[0], tmp_path / "work")


def test_garbage_in_a_few_pages_of_the_journal(journal_with_runs, tmp_path, request):
    """Random 4 KiB pages of the journal replaced by random bytes (seeded trials): every command either
    works as on the intact journal or exits 2 saying the journal is damaged; never an internal error,
    never "no run" for a run that is in it; a damaged file is never written."""
    source, runs = journal_with_runs
    seed, rng = seeded("garbage_in_pages", request.config)
    outcomes = {"damaged": 0, "unaffected": 0}
    for trial in range(trials(request.config, fast=3, full=30)):
        state = tmp_path / f"state{trial}"
        shutil.copytree(source, state)
        journal = state / "journal.sqlite"
        data = bytearray(journal.read_bytes())
        pages = len(data) // 4096
        for page in rng.sample(range(1, pages), k=min(3, pages - 1)):
            data[page * 4096 : (page + 1) * 4096] = rng.randbytes(4096)
        journal.write_bytes(bytes(data))
        status = orchestrator("status", "--json", "--last", "5", state_dir=state)
        if status.returncode == 2:
            outcomes["damaged"] += 1
            check_damaged(state, runs[trial % len(runs)], tmp_path / f"work{trial}")
            continue
        outcomes["unaffected"] += 1
        assert status.returncode == 0 and "internal error" not in status.stderr, status.stderr
        resumed = orchestrator("resume", runs[0], state_dir=state)
        assert "internal error" not in resumed.stderr and "no run" not in resumed.stderr, resumed.stderr
    print(f"garbage_in_pages seed={seed}: {outcomes}")
    assert outcomes["damaged"] >= 1


# ------------------------------------------------------------------ state and report directories


@pytest.mark.parametrize(
    "where",
    ["--report-dir=/dev/null", "--report-dir=FILE", "--state-dir=/dev/null", "--state-dir=FILE",
     "--report-dir=UNDER_FILE"],
)
def test_unusable_state_or_report_dir_exit_2_before_any_change(tmp_path, where):
    """A state or report directory that is a file, /dev/null or under a file: exit 2 naming the path, before
    the run is created or any step applied."""
    option, _, value = where.partition("=")
    (tmp_path / "a-file").write_text("not a directory\n")
    path = {"FILE": str(tmp_path / "a-file"), "UNDER_FILE": str(tmp_path / "a-file" / "reports")}.get(value, value)
    book = chain(tmp_path / "work", 2, delay=0)
    state = tmp_path / "state"
    result = orchestrator("failover", "--site", str(SITE), "--runbook", str(book), "--yes", option, path,
                          state_dir=state)
    assert result.returncode == 2, result.stderr
    assert path in result.stderr and "internal error" not in result.stderr
    assert applied(tmp_path / "work", 2) == [0, 0]
    if option == "--report-dir":
        assert json.loads(orchestrator("status", "--json", state_dir=state).stdout)["runs"] == []


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_report_that_cannot_be_written_is_a_warning_with_the_runs_exit_code(tmp_path, outcome):
    """The report dir replaced by a file while the run goes on: the run's own exit code (0, or 1 for a failed
    run), a warning naming the report dir, "report: not written", the run complete in the journal."""
    work = tmp_path / "work"
    book = chain(work, 3, delay=0.3)
    if outcome == "failed":
        text = book.read_text() + "  - {id: broken, uses: builtin.fail, needs: [s2], on_failure: stop, " \
                                  "with: {retryable: false}}\n"
        book.write_text(text)
    state, reports = tmp_path / "state", tmp_path / "reports"
    proc = spawn("failover", "--site", str(SITE), "--runbook", str(book), "--yes", "--report-dir", str(reports),
                 state_dir=state)
    wait_for(lambda: "step_started" in audit_text(state), proc)
    shutil.rmtree(reports)
    reports.write_text("the report dir was replaced by a file\n")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == (0 if outcome == "succeeded" else 1), err[-1500:]
    assert "report_not_written" in err and str(reports) in err and "internal error" not in err
    assert "report: not written" in out
    run = json.loads(orchestrator("status", "--json", state_dir=state).stdout)["runs"][0]
    assert run["status"] == outcome


# ------------------------------------------------------------------ the journal removed under a run


def test_journal_removed_mid_run_stops_it_refuses_a_second_run_and_is_put_back(tmp_path, request):
    """`rm journal.sqlite*` while a failover is inside a step: a second failover exits 3 naming the live
    holder (its pid), the first stops as interrupted at its next journal write (exit 130) naming the
    journal, its journal is put back (or merged into the one the second run created), and `resume`
    finishes it: every step applied once."""
    n = 3
    for trial in range(trials(request.config, fast=1, full=5)):
        work = tmp_path / f"work{trial}"
        release = tmp_path / f"release{trial}"
        book = chain(work, n, delay=0.0, hold={"s1": release})  # s1 waits for the second failover to be refused
        state = tmp_path / f"state{trial}"
        first = spawn("failover", "--site", str(SITE), "--runbook", str(book), "--yes", state_dir=state)
        # inside s1 (its apply journaled, now holding): no journal write is due before the heartbeat's, so the
        # first run cannot notice the removal (and let go of its lock) before the second failover asks for it
        wait_for(lambda state=state: holding_in(state, "s1"), first)
        assert applied(work, n)[0] == 1
        for name in ("journal.sqlite", "journal.sqlite-wal", "journal.sqlite-shm"):
            (state / name).unlink(missing_ok=True)
        second = orchestrator("failover", "--site", str(SITE), "--runbook", str(book), "--yes", state_dir=state)
        release.touch()
        assert second.returncode == 3, second.stderr[-1500:]
        assert f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
        out, err = first.communicate(timeout=60)
        assert first.returncode == 130, err[-1500:]
        # removed, or (when the second run's new file was there first) replaced: either way named
        assert f"the journal {state / 'journal.sqlite'} was re" in out
        assert applied(work, n) == [1, 1, 0]
        run_id = out.split()[1].rstrip(":")
        shown = json.loads(orchestrator("status", run_id, "--json", state_dir=state).stdout)["runs"][0]
        assert shown["status"] == "interrupted" and "the journal" in shown["error"]
        resumed = orchestrator("resume", run_id, "--yes", state_dir=state)
        assert resumed.returncode == 0, resumed.stderr[-1500:]
        assert applied(work, n) == [1] * n
        assert not list(state.glob("journal.sqlite.rescued-*"))


def test_journal_replaced_mid_run_is_detected_and_merged(tmp_path):
    """The journal file replaced by another journal (mv over it) while a failover runs: the run stops
    (exit 130) saying it was replaced; its run is merged into the journal now there, next to that
    journal's own runs; resume finishes it."""
    n = 6
    work, other = tmp_path / "work", tmp_path / "other"
    book = chain(work, n, delay=0.4)
    other_state = tmp_path / "other-state"
    done = orchestrator("failover", "--site", str(SITE), "--runbook", str(chain(other, 1, 0)), "--yes",
                        state_dir=other_state)
    assert done.returncode == 0, done.stderr
    settle(other_state)
    state = tmp_path / "state"
    first = spawn("failover", "--site", str(SITE), "--runbook", str(book), "--yes", state_dir=state)
    wait_for(lambda: sum(applied(work, n)) >= 2, first)
    os.replace(other_state / "journal.sqlite", state / "journal.sqlite")
    out, err = first.communicate(timeout=60)
    assert first.returncode == 130, err[-1500:]
    assert "was replaced by another file" in out + err and "merged" in out + err
    runs = json.loads(orchestrator("status", "--json", "--last", "5", state_dir=state).stdout)["runs"]
    assert len(runs) == 2
    run_id = out.split()[1].rstrip(":")
    assert orchestrator("resume", run_id, "--yes", state_dir=state).returncode == 0
    assert applied(work, n) == [1] * n


# ------------------------------------------------------------------ two failovers at the same moment

#: imports everything first, then waits for a common start instant: the two processes reach the journal
#: within a millisecond of each other (a plain start spreads them over the interpreter's start-up time)
SYNCHRONIZED = (
    "import sys, time; from orchestrator import cli; "
    "time.sleep(max(0.0, float(sys.argv[1]) - time.time())); cli.main(sys.argv[2:])"
)


def race(
    args: list[str], state: Path, synchronized: bool, release: Path | None = None
) -> list[subprocess.CompletedProcess]:
    """Two processes of ``args`` at once. With ``release`` (the file the runbook's first step holds on), the
    winner keeps the lock until the loser has exited (or 60 s passed): the two always overlap, however slow
    the machine makes either start."""
    full_env = {**os.environ, "ORCHESTRATOR_STATE_DIR": str(state)}
    if synchronized:
        go = f"{time.time() + 3.0:.6f}"
        commands = [[sys.executable, "-c", SYNCHRONIZED, go, *args]] * 2
    else:
        commands = [[sys.executable, "-m", "orchestrator", *args]] * 2
    procs = [
        subprocess.Popen(c, cwd=REPO, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    if release is not None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and all(proc.poll() is None for proc in procs):
            time.sleep(0.05)
        release.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def check_one_ran(results: list[subprocess.CompletedProcess], work: Path, n: int) -> None:
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 3], [r.stderr[-1200:] for r in results]
    loser = next(r for r in results if r.returncode == 3)
    assert "locked by run" in loser.stderr and "pid" in loser.stderr, loser.stderr[-1200:]
    assert "Traceback" not in loser.stderr and "database is locked" not in loser.stderr
    assert applied(work, n) == [1] * n


@pytest.mark.timeout(1800)
def test_two_failovers_at_once_on_a_fresh_state_dir(tmp_path, request):
    """Two `orchestrator failover` on one site and a fresh state dir, started together (half the trials
    synchronized to the same instant after imports): always exactly one runs (exit 0) and the other
    exits 3 naming the holder; never "database is locked"; every step applied once."""
    n = 2
    for trial in range(trials(request.config, fast=8, full=50)):
        work, release = tmp_path / f"work{trial}", tmp_path / f"release{trial}"
        book = chain(work, n, delay=0.3, hold={"s0": release})  # the winner holds until the loser is out
        args = ["failover", "--site", str(SITE), "--runbook", str(book), "--yes"]
        check_one_ran(race(args, tmp_path / f"state{trial}", synchronized=trial % 2 == 0, release=release), work, n)


#: one process opening the journal of a fresh state dir at the start instant, then taking the site lock
OPEN_AND_LOCK = r"""
import sys, time
from datetime import UTC, datetime
from orchestrator.errors import LockHeld
from orchestrator.journal.records import Holder
from orchestrator.journal.sqlite import SqliteJournal
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
try:
    SqliteJournal(sys.argv[1]).acquire_lock("s1", Holder.me("r"), datetime.now(UTC))
    time.sleep(0.3)
    print("ok")
except LockHeld:
    print("held")
except Exception as exc:
    print("error", type(exc).__name__, exc)
"""


@pytest.mark.timeout(1800)
def test_four_processes_open_a_fresh_journal_at_once(tmp_path, request):
    """Four processes create the journal of a fresh state dir (schema, WAL) and take the site lock at the
    same instant: every trial, exactly one holds the lock and three get LockHeld; never "database is
    locked" (before the fix: 10 of 40 trials had one)."""
    for trial in range(trials(request.config, fast=6, full=100)):
        state, go = tmp_path / f"state{trial}", f"{time.time() + 1.5:.6f}"
        procs = [
            subprocess.Popen([sys.executable, "-c", OPEN_AND_LOCK, str(state), go], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for _ in range(4)
        ]
        answers = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
        assert answers == ["held", "held", "held", "ok"], (trial, answers)


@pytest.fixture
def team_table(aws_env: str) -> str:
    """A state table like the warm-site stack's, in a reset moto server."""
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
    )
    return TABLE


def team_site(folder: Path, table: str) -> Path:
    data = json.loads(SITE.read_text())
    data["state"] = {"table": table}
    path = folder / "team-site.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.timeout(1800)
def test_two_team_mode_failovers_at_once(team_table, tmp_path, request):
    """Team mode (DynamoDB on the moto server), two machines (two state dirs) starting a failover at the
    same instant: exactly one runs, the other exits 3 naming the holder; every step applied once."""
    n = 2
    site = team_site(tmp_path, team_table)
    for trial in range(trials(request.config, fast=3, full=20)):
        work = tmp_path / f"work{trial}"
        book = chain(work, n, delay=0.5)
        results = []
        go = f"{time.time() + 3.0:.6f}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", SYNCHRONIZED, go, "failover", "--site", str(site), "--runbook", str(book),
                 "--yes"],
                cwd=REPO, env={**os.environ, "ORCHESTRATOR_STATE_DIR": str(tmp_path / f"m{trial}-{i}")},
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(2)
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        check_one_ran(results, work, n)


# ------------------------------------------------------------------ resume with another site file


def stopped_at_the_gate(site, warm_group, tmp_path) -> tuple[Path, Path, str]:
    """A failover of the chaos site (from a copy of its site file) stopped at the DNS gate (exit 4)."""
    back_to_warm(site, warm_group)
    state = tmp_path / "state"
    site_file = tmp_path / "site.json"
    site_file.write_text(site.site_file.read_text())
    started = cli(site, state, "failover", "--site", str(site_file), "--runbook", str(fast_runbook(tmp_path)))
    assert started.returncode == 4, started.stderr[-1500:]
    run_id = json.loads(cli(site, state, "status", "--json").stdout)["runs"][0]["run_id"]
    return state, site_file, run_id


def edited(site_file: Path, target: Path, change) -> Path:
    data = json.loads(site_file.read_text())
    change(data)
    target.write_text(json.dumps(data))
    return target


def dns_values(site) -> list[list[str]]:
    """The site's records as Route 53 holds them now, in site-file order."""
    records = aws_state(site)["records"]
    return [records[(r["name"].rstrip(".") + ".", r["type"])] for r in site.site["dns"]["records"]]


def side(site, which: str) -> list[list[str]]:
    """The site file's primary or secondary values, in the same form."""
    return [sorted([r[which]] if isinstance(r[which], str) else r[which]) for r in site.site["dns"]["records"]]


def test_resume_with_another_site_file_is_refused_and_uses_the_runs_own_site(chaos_site, warm_group, tmp_path):
    """A run stopped at the DNS gate: `resume --site OTHER.json` (another secondary value, another appliance
    port) exits 2 naming each differing key and whether a flag may allow it, changing nothing; the run's own
    site file then edited in place, `resume` without --site cuts over to the values journaled at the start."""
    state, site_file, run_id = stopped_at_the_gate(chaos_site, warm_group, tmp_path)
    assert dns_values(chaos_site) == side(chaos_site, "primary")

    def evil(data):
        data["dns"]["records"][0]["secondary"] = "evil.example.net"
        data["vpn"]["appliance"]["port"] = 2222

    other = edited(site_file, tmp_path / "other.json", evil)
    refused = cli(chaos_site, state, "resume", run_id, "--approve", "dns-cutover", "--site", str(other))
    assert refused.returncode == 2, refused.stderr[-1500:]
    assert str(other) in refused.stderr and "dns.records[0].secondary" in refused.stderr
    assert "never allowed" in refused.stderr and "--allow-site-change vpn.appliance.port" in refused.stderr
    assert dns_values(chaos_site) == side(chaos_site, "primary")
    renamed = edited(site_file, tmp_path / "renamed.json", lambda d: d.update(site="another-site"))
    refused = cli(chaos_site, state, "resume", run_id, "--approve", "dns-cutover", "--site", str(renamed))
    assert refused.returncode == 2 and "belongs to site" in refused.stderr, refused.stderr[-1500:]
    edited(site_file, site_file, evil)  # the recorded file changed on disk since the start
    resumed = cli(chaos_site, state, "resume", run_id, "--approve", "dns-cutover")
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    assert dns_values(chaos_site) == side(chaos_site, "secondary")


def test_resume_with_a_moved_appliance_needs_the_flag_and_is_recorded(chaos_site, warm_group, tmp_path):
    """The appliance reached at another address on resume: refused (exit 2, with the flag to give) until
    `--allow-site-change vpn.appliance.host`; then the run finishes and the change is in the journal's
    timeline and in report.json's site_changes; a key that decides what the run changes cannot be allowed."""
    state, site_file, run_id = stopped_at_the_gate(chaos_site, warm_group, tmp_path)
    moved = edited(site_file, tmp_path / "moved.json", lambda d: d["vpn"]["appliance"].update(host="localhost"))
    args = ("resume", run_id, "--approve", "dns-cutover", "--site", str(moved))
    refused = cli(chaos_site, state, *args)
    assert refused.returncode == 2 and "--allow-site-change vpn.appliance.host" in refused.stderr
    wrong = cli(chaos_site, state, *args, "--allow-site-change", "dns.zone_id")
    assert wrong.returncode == 2 and "only where the appliance" in wrong.stderr
    resumed = cli(chaos_site, state, *args, "--allow-site-change", "vpn.appliance.host")
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    report = json.loads((state / "reports" / run_id / "report.json").read_text())
    [change] = report["site_changes"]
    assert change["changes"] == [{"key": "vpn.appliance.host", "was": "127.0.0.1", "now": "localhost"}]
    assert report["status"] == "succeeded"



def test_team_mode_lock_item_deleted_mid_run(team_table, tmp_path):
    """Team mode: the site's lock item deleted from the table while a failover is inside a step: a second
    failover (another machine) exits 3 naming the live run; the first stops at its next journal write (the
    fence) with exit 3 naming the lost lock and how to resume; `resume --site` finishes it, each step once."""
    n = 3
    work = tmp_path / "work"
    site, book = team_site(tmp_path, team_table), chain(work, n, delay=4.0)
    first = spawn("failover", "--site", str(site), "--runbook", str(book), "--yes", state_dir=tmp_path / "m1")
    wait_for(lambda: applied(work, n)[0] == 1, first)
    site_name = json.loads(site.read_text())["site"]
    boto3.client("dynamodb", region_name=REGION).delete_item(
        TableName=team_table, Key={"pk": {"S": f"LOCK#{site_name}"}, "sk": {"S": "LOCK"}}
    )
    second = orchestrator("failover", "--site", str(site), "--runbook", str(book), "--yes", state_dir=tmp_path / "m2")
    assert second.returncode == 3, second.stderr[-1500:]
    assert "is running" in second.stderr and "lock item is missing" in second.stderr
    _, err = first.communicate(timeout=60)
    assert first.returncode == 3, err[-1500:]
    assert "was lost" in err and "orchestrator resume" in err
    assert applied(work, n)[0] == 1 and applied(work, n)[2] == 0  # stopped before the last step
    run_id = err.split("stopped writing to run ")[1].split(";")[0]
    resumed = orchestrator("resume", run_id, "--site", str(site), state_dir=tmp_path / "m3")
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    assert applied(work, n) == [1, 1, 1]
