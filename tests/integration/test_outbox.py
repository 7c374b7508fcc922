"""Milestones are never lost: each is journaled (the outbox) before it is sent. A kill -9 right after the last
step, or in the run's last second (the run journaled succeeded, its "finished" message not yet sent), loses
nothing: the next `resume` or `status` delivers it, exactly once (counted by an SQS queue subscribed to the
topic in a moto server). A throttled SNS delays the messages, never the run. The page uploaded to S3 has the
headers browsers and CDNs need, and the presigned link in the message fetches it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from orchestrator import site_change
from orchestrator.journal.dynamodb.store import DynamoJournal
from orchestrator.journal.records import RunSettings
from orchestrator.journal.sqlite import SqliteJournal
from tests.fixtures.aws import REGION, received_notifications
from tests.helpers import REPO, orchestrator, write_runbook
from tests.support.awsproxy import AwsProxy

pytestmark = pytest.mark.integration

STATUS_BUCKET = "cc-dr-west-status"
PAGE_KEY = "status/index.html"
#: the console program with the test hooks of tests/support/killpoints.py loaded first (they read their
#: ORCHESTRATOR_TEST_* variables when imported); the test step kinds come from the suite's entry points
HOOKED = "import sys, tests.support.killpoints; from orchestrator.cli import main; main(sys.argv[1:])"

RUNBOOK = """
name: failover
kind: failover
defaults: {owner: sre-oncall, retry: none, timeout: 1m, on_failure: stop}
steps:
  - id: prepare
    uses: builtin.marker
    with: {dir: "%(dir)s"}
    milestone: prepared
  - id: restore
    uses: builtin.marker
    owner: dba-oncall
    needs: [prepare]
    with: {dir: "%(dir)s"}
    milestone: data-restored
  - id: last
    uses: %(last)s
    owner: incident-commander
    needs: [restore]
%(last_with)s
"""


def _team_table() -> None:
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="cc-dr-runs", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])


def _site_file(tmp_path: Path, site, status_page: bool = True) -> Path:
    data = site_change.journaled(site)
    if status_page:
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=STATUS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        data["notify"]["status_page"] = {"bucket": STATUS_BUCKET, "key": PAGE_KEY, "link_expiry_seconds": 600}
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data))
    return path


def _runbook(tmp_path: Path, last: str = "builtin.marker", kind: str = "failover") -> Path:
    markers = tmp_path / "markers"
    markers.mkdir(exist_ok=True)
    last_with = f'    with: {{dir: "{markers}"}}' if last == "builtin.marker" else ""
    text = RUNBOOK % {"dir": markers, "last": last, "last_with": last_with}
    if kind != "failover":
        text = text.replace("name: failover\nkind: failover", f"name: {kind}\nkind: {kind}")
        (tmp_path / kind).mkdir(exist_ok=True)
        return write_runbook(tmp_path / kind, text)
    return write_runbook(tmp_path, text)


def _failover(tmp_path: Path, site_file: Path, book: Path, **env: str):
    return _hooked("failover", "--site", str(site_file), "--runbook", str(book), "--yes",
                   state_dir=tmp_path / "state", env=env)


def _hooked(*args: str, state_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The console program as ``orchestrator`` runs it, with the test hooks loaded."""
    return subprocess.run([sys.executable, "-c", HOOKED, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ORCHESTRATOR_STATE_DIR": str(state_dir), **(env or {})}, cwd=REPO)


def _only_run(tmp_path: Path) -> str:
    journal = SqliteJournal(tmp_path / "state")
    try:
        [run] = journal.list_runs()
        return run.run_id
    finally:
        journal.close()


def _ids(notes: list[dict]) -> Counter:
    return Counter(n["MessageAttributes"]["notification_id"]["Value"] for n in notes)


def test_a_kill_after_the_last_step_then_resume_delivers_finished_once(moto_site, tmp_path):
    """kill -9 right after the last step did its work: `resume` ends the run and "finished" is delivered once."""
    site_file = _site_file(tmp_path, moto_site)
    killed = _failover(tmp_path, site_file, _runbook(tmp_path, last="builtin.kill9"))
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_id = _only_run(tmp_path)
    before = received_notifications(moto_site)
    assert f"{run_id}:finished" not in _ids(before)

    resumed = _hooked("resume", run_id, state_dir=tmp_path / "state")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = received_notifications(moto_site)
    assert _ids(before + after)[f"{run_id}:finished"] == 1
    assert orchestrator("status", run_id, state_dir=tmp_path / "state").returncode == 0
    assert received_notifications(moto_site) == []  # nothing was left pending: nothing sent again


def test_status_shows_a_killed_run_stopped_on_its_page_not_in_progress(moto_site, tmp_path):
    """kill -9 mid-run leaves the journal saying "running" and the page "in progress"; the next `status` tells
    everyone once (an `interrupted` milestone) and republishes the page saying the run stopped (no step
    "In progress", no ETA), as `status` shows it interrupted; a second `status` sends nothing."""
    site_file = _site_file(tmp_path, moto_site)
    killed = _failover(tmp_path, site_file, _runbook(tmp_path, last="builtin.kill9"))
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_id = _only_run(tmp_path)
    opened = orchestrator("status", run_id, "--json", state_dir=tmp_path / "state")
    assert opened.returncode == 0, opened.stderr[-2000:]
    assert json.loads(opened.stdout)["runs"][0]["status"] == "interrupted"
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=STATUS_BUCKET, Key=PAGE_KEY)["Body"].read()
    page = body.decode()
    assert page == (tmp_path / "state" / "reports" / run_id / "status.html").read_text()
    assert "Failover stopped unexpectedly — the on-call team is resuming it" in page
    assert "In progress" not in page and 'id="eta"' not in page and "Stopped" in page
    told = [n for n in received_notifications(moto_site) if n["body"]["milestone"] == "interrupted"]
    assert [n["body"]["phase"] for n in told] == ["Failover stopped unexpectedly — the on-call team is resuming it"]
    assert f"orchestrator resume {run_id}" in told[0]["body"]["error"]
    again = orchestrator("status", run_id, state_dir=tmp_path / "state")
    assert again.returncode == 0 and received_notifications(moto_site) == []  # each kill is told once


@pytest.mark.parametrize("command", ["status", "resume"])
def test_a_kill_in_the_last_second_loses_nothing(moto_site, tmp_path, command):
    """kill -9 after the run journaled succeeded and its "finished" message was journaled, before it was sent:
    the next `status` (or `resume`) delivers it, once, with its stable id; running it again sends nothing."""
    site_file = _site_file(tmp_path, moto_site)
    killed = _failover(tmp_path, site_file, _runbook(tmp_path), ORCHESTRATOR_TEST_KILL_BEFORE_SENDING="finished")
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_id = _only_run(tmp_path)
    assert f"{run_id}:finished" not in _ids(received_notifications(moto_site))

    opened = orchestrator(command, run_id, state_dir=tmp_path / "state")
    assert opened.returncode == 0, opened.stderr[-2000:]
    if command == "status":
        assert f"delivered pending notifications of run {run_id}: {run_id}:finished" in opened.stderr
    [finished] = received_notifications(moto_site)
    assert finished["MessageAttributes"]["notification_id"]["Value"] == f"{run_id}:finished"
    assert finished["body"]["id"] == f"{run_id}:finished"
    assert finished["body"]["phase"] == "Failover complete"
    again = orchestrator(command, run_id, state_dir=tmp_path / "state")
    assert again.returncode == 0 and received_notifications(moto_site) == []


def test_team_mode_a_kill_in_the_last_second_is_delivered_from_another_machine(moto_site, tmp_path):
    """In team mode the outbox is in the DynamoDB table: after a kill -9 in the run's last second, `status
    RUN_ID --site` from another state dir (another machine) delivers "finished", once."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="cc-dr-runs", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])
    site_file = _site_file(tmp_path, moto_site)
    site_file.write_text(json.dumps({**json.loads(site_file.read_text()), "state": {"table": "cc-dr-runs"}}))
    killed = _failover(tmp_path, site_file, _runbook(tmp_path), ORCHESTRATOR_TEST_KILL_BEFORE_SENDING="finished")
    assert killed.returncode == -9, killed.stderr[-2000:]
    [run] = DynamoJournal("cc-dr-runs", region=REGION).list_runs()
    assert run.status == "succeeded" and f"{run.run_id}:finished" not in _ids(received_notifications(moto_site))

    opened = orchestrator("status", run.run_id, "--site", str(site_file), state_dir=tmp_path / "elsewhere")
    assert opened.returncode == 0, opened.stderr[-2000:]
    assert _ids(received_notifications(moto_site)) == Counter({f"{run.run_id}:finished": 1})


def test_every_message_carries_phase_eta_and_a_link_that_fetches_the_page(moto_site, tmp_path):
    """Each milestone message has the phase, the ETA the app's source gives and a presigned link; the link
    fetches the uploaded page (no credentials) and the object has Cache-Control no-cache and an HTML type."""
    site_file = _site_file(tmp_path, moto_site)
    result = _failover(tmp_path, site_file, _runbook(tmp_path), ORCHESTRATOR_TEST_ETA="5,9,3")
    assert result.returncode == 0, result.stderr[-2000:]
    run_id = _only_run(tmp_path)
    notes = {n["body"]["milestone"]: n["body"] for n in received_notifications(moto_site)}
    assert {"started", "prepared", "data-restored", "finished"} <= set(notes)
    assert notes["prepared"]["eta"].startswith("Service expected back between ")
    assert "learned from 3 drills" in notes["prepared"]["eta"]
    assert notes["finished"]["phase"] == "Failover complete"
    assert all(n["status_page"] and n["status_page_expires_in_seconds"] == 600 for n in notes.values())

    head = boto3.client("s3", region_name=REGION).head_object(Bucket=STATUS_BUCKET, Key=PAGE_KEY)
    assert head["CacheControl"] == "no-cache"
    assert head["ContentType"] == "text/html; charset=utf-8"
    with urllib.request.urlopen(notes["finished"]["status_page"], timeout=10) as answer:  # noqa: S310 (moto)
        page = answer.read().decode()
    assert "Failover complete" in page and "dba-oncall" in page
    assert page == (tmp_path / "state" / "reports" / run_id / "status.html").read_text()
    assert f"status page: {tmp_path / 'state' / 'reports' / run_id / 'status.html'}" in result.stdout
    assert "status page link (presigned, for managers and agents): http" in result.stdout


def _expires(link: str) -> int:
    return int(parse_qs(urlsplit(link).query)["X-Amz-Expires"][0])


def test_a_link_signed_by_a_role_session_lives_no_longer_than_the_session(moto_site, tmp_path):
    """Temporary credentials (a session token) that expire in 30 min, and a site asking for 2 h links: every
    link is signed for at most what the credentials have left, and the messages, the page and the CLI say
    the real end, not the 2 h asked for; with long-term keys the 2 h are kept."""
    site_file = _site_file(tmp_path, moto_site)
    data = json.loads(site_file.read_text())
    data["notify"]["status_page"]["link_expiry_seconds"] = 7200
    site_file.write_text(json.dumps(data))
    ends = datetime.now(UTC) + timedelta(minutes=30)
    result = _failover(tmp_path, site_file, _runbook(tmp_path), AWS_SESSION_TOKEN="role-session-token",
                       AWS_CREDENTIAL_EXPIRATION=ends.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert result.returncode == 0, result.stderr[-2000:]
    notes = [n["body"] for n in received_notifications(moto_site)]
    assert len(notes) >= 4
    for note in notes:
        left = note["status_page_expires_in_seconds"]
        assert 0 < left <= 1800 and _expires(note["status_page"]) == left, note
        assert datetime.fromisoformat(note["status_page_expires_at"]) <= ends
        assert "the temporary credentials that signed it expire then" in note["status_page_expiry_note"]
    page = (tmp_path / "state" / "reports" / _only_run(tmp_path) / "status.html").read_text()
    assert f"works until {ends:%Y-%m-%d} " in page
    [line] = [x for x in result.stdout.splitlines() if x.startswith("status page link works until")]
    assert 0 < int(line.split("(")[1].split(" s)")[0]) <= 1800

    long_term = _failover(tmp_path, site_file, _runbook(tmp_path))
    assert long_term.returncode == 0, long_term.stderr[-2000:]
    assert {n["body"]["status_page_expires_in_seconds"] for n in received_notifications(moto_site)} == {7200}


def test_a_link_signed_by_a_session_of_unknown_end_does_not_claim_an_expiry(moto_site, tmp_path):
    """A session token without its expiry (AWS_SESSION_TOKEN alone): the messages do not promise the site's
    link expiry; they say that the link dies with the credentials."""
    site_file = _site_file(tmp_path, moto_site)
    result = _failover(tmp_path, site_file, _runbook(tmp_path), AWS_SESSION_TOKEN="role-session-token")
    assert result.returncode == 0, result.stderr[-2000:]
    notes = [n["body"] for n in received_notifications(moto_site)]
    assert notes and all(n["status_page"] and n["status_page_expires_in_seconds"] is None for n in notes)
    assert all("expiry is unknown" in n["status_page_expiry_note"] for n in notes)


class _SnsThrottle(AwsProxy):
    """Every SNS Publish answered with AWS's Throttling error while ``throttling`` is set; nothing else fails."""

    throttling = True

    def fault_for(self, call):
        if self.throttling and call.name == "sns.Publish":
            with self._lock:
                self._injected["throttle"] += 1
            return "throttle"
        return None


def test_a_throttled_sns_delays_the_messages_not_the_run(moto_site, moto_server, tmp_path):
    """With every SNS publish throttled the run takes no longer than its steps (a send would cost ~7 s of
    retries per milestone); the messages stay pending and the next `status` delivers each one once."""
    site_file = _site_file(tmp_path, moto_site)
    with _SnsThrottle(moto_server) as proxy:
        result = _failover(tmp_path, site_file, _runbook(tmp_path), AWS_ENDPOINT_URL=proxy.endpoint)
        assert result.returncode == 0, result.stderr[-2000:]
        assert proxy.stats()["injected"]["throttle"] >= 4
        run_id = _only_run(tmp_path)
        assert received_notifications(moto_site) == []
        journal = SqliteJournal(tmp_path / "state")
        events = {e["event"]: e["at"] for e in journal.get_events(run_id)}
        pending = [e.entry_id for e in journal.outbox(run_id) if e.pending and e.channel == "sns"]
        journal.close()
        took = (datetime.fromisoformat(events["run_succeeded"]) - datetime.fromisoformat(events["run_started"]))
        assert took.total_seconds() < 5.0, took
        assert f"{run_id}:finished" in pending

        proxy.throttling = False
        opened = orchestrator("status", run_id, state_dir=tmp_path / "state", env={"AWS_ENDPOINT_URL": proxy.endpoint})
        assert opened.returncode == 0, opened.stderr[-2000:]
    delivered = _ids(received_notifications(moto_site))
    assert sorted(delivered) == sorted(pending) and set(delivered.values()) == {1}


def test_the_eta_in_the_messages_is_learned_from_the_drill_history(moto_site, tmp_path):
    """No test hook: the app's ETA source is the estimator. With no drill history the messages say there is
    no estimate; with two drills of these steps in the journal, they carry a range learned from 2 drills."""
    site_file = _site_file(tmp_path, moto_site, status_page=False)
    book = _runbook(tmp_path)
    first = _failover(tmp_path, site_file, book)
    assert first.returncode == 0, first.stderr[-2000:]
    notes = {n["body"]["milestone"]: n["body"] for n in received_notifications(moto_site)}
    assert notes["prepared"]["eta"].lower().startswith("no estimate yet")

    journal = SqliteJournal(tmp_path / "state")
    # two drills whose steps took 1 and 3 min: a real range (equal drills give one time, said once)
    for day, seconds in ((1, 60.0), (2, 180.0)):
        journal.record_drill({"run_id": f"drill-{day}", "site": moto_site.site, "status": "succeeded",
                              "finished_at": f"2026-11-0{day}T03:00:00+00:00",
                              "steps": [{"id": f"failover/{step}", "status": "succeeded", "duration_seconds": seconds}
                                        for step in ("prepare", "restore", "last")]})
    journal.close()
    second = _failover(tmp_path, site_file, book)
    assert second.returncode == 0, second.stderr[-2000:]
    later = [n["body"] for n in received_notifications(moto_site) if n["body"]["milestone"] == "prepared"]
    assert later and later[-1]["eta"].startswith("Service expected back between ")
    assert "learned from 2 drills" in later[-1]["eta"]


# ---------------------------------------------------------------------------------------------- issue 23


def test_a_journal_written_before_claims_gets_their_columns(tmp_path):
    """A state dir whose outbox table predates claims (no claimed_by/claimed_until) opens, keeps its entries
    and claims them."""
    import sqlite3

    (tmp_path / "state").mkdir()
    old = sqlite3.connect(tmp_path / "state" / "journal.sqlite")
    old.executescript(
        "CREATE TABLE runs (run_id TEXT PRIMARY KEY, kind TEXT, site TEXT, site_file TEXT, runbook TEXT, "
        "options TEXT, status TEXT, started_at TEXT, finished_at TEXT, error TEXT, resumes INTEGER DEFAULT 0);"
        "CREATE TABLE outbox (entry_id TEXT PRIMARY KEY, run_id TEXT, channel TEXT, milestone TEXT, "
        "created_at TEXT, fields TEXT, seq INTEGER, sent_at TEXT, receipt TEXT);"
        "INSERT INTO outbox VALUES ('r1:started', 'r1', 'sns', 'started', '2026-11-29T03:00:00.000Z', '{}', 1, "
        "NULL, NULL);")
    old.commit()
    old.close()
    journal = SqliteJournal(tmp_path / "state")
    try:
        [entry] = journal.outbox("r1")
        assert entry.pending and entry.claimed_by is None
        assert journal.claim_outbox("r1", "r1:started", "a", "2026-11-29T03:00:00.000Z", "2026-11-29T03:02:00.000Z")
    finally:
        journal.close()


def _status_at_once(count: int, barrier: Path, args: list[list[str]], state_dirs: list[Path]):
    """``count`` real `status` processes started together; each reads the outbox, then waits until all have read
    it (the test hook's barrier), so that every one of them sees the same messages pending."""
    barrier.mkdir()
    code = ("import sys, tests.support.killpoints; from orchestrator.cli import main; "
            "main(sys.argv[1:])")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, "status", *args[i % len(args)]], cwd=REPO, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "ORCHESTRATOR_STATE_DIR": str(state_dirs[i % len(state_dirs)]),
                 "ORCHESTRATOR_TEST_OUTBOX_BARRIER": f"{barrier},{count}"},
        )
        for i in range(count)
    ]
    results = [(p, *p.communicate(timeout=120)) for p in processes]
    for process, _out, err in results:
        assert process.returncode == 0, err[-2000:]
    assert len(list(barrier.iterdir())) == count  # every process did read the outbox with messages pending
    return [err for _p, _out, err in results]


def _pending_messages_after_a_throttled_run(tmp_path: Path, site_file: Path, moto_server) -> None:
    """A run whose every SNS publish was throttled: its messages stay pending in the outbox."""
    with _SnsThrottle(moto_server) as proxy:
        result = _failover(tmp_path, site_file, _runbook(tmp_path), AWS_ENDPOINT_URL=proxy.endpoint)
        assert result.returncode == 0, result.stderr[-2000:]


def test_four_status_at_once_send_each_pending_message_once(moto_site, moto_server, tmp_path):
    """Four people run `status` at the same moment (four processes, one state dir) while a run's messages are
    pending (SNS was throttled during the run): each message reaches the topic's SQS queue exactly once, and
    the outbox is left with nothing pending."""
    site_file = _site_file(tmp_path, moto_site)
    _pending_messages_after_a_throttled_run(tmp_path, site_file, moto_server)
    run_id = _only_run(tmp_path)
    journal = SqliteJournal(tmp_path / "state")
    pending = [e.entry_id for e in journal.outbox(run_id) if e.pending and e.channel == "sns"]
    journal.close()
    assert len(pending) >= 4 and received_notifications(moto_site) == []

    _status_at_once(4, tmp_path / "barrier", [[run_id]], [tmp_path / "state"])
    assert _ids(received_notifications(moto_site)) == Counter(dict.fromkeys(pending, 1))
    journal = SqliteJournal(tmp_path / "state")
    try:
        assert [e.entry_id for e in journal.outbox(run_id) if e.pending] == []
    finally:
        journal.close()


def test_team_mode_four_status_on_two_machines_send_each_pending_message_once(moto_site, moto_server, tmp_path):
    """Team mode: four `status RUN_ID --site` at once from two state dirs (two machines sharing the DynamoDB
    table) while the run's messages are pending: each message goes out exactly once."""
    _team_table()
    site_file = _site_file(tmp_path, moto_site)
    site_file.write_text(json.dumps({**json.loads(site_file.read_text()), "state": {"table": "cc-dr-runs"}}))
    _pending_messages_after_a_throttled_run(tmp_path, site_file, moto_server)
    team = DynamoJournal("cc-dr-runs", region=REGION)
    [run] = team.list_runs()
    pending = [e.entry_id for e in team.outbox(run.run_id) if e.pending and e.channel == "sns"]
    assert len(pending) >= 4 and received_notifications(moto_site) == []

    _status_at_once(4, tmp_path / "barrier", [[run.run_id, "--site", str(site_file)]],
                    [tmp_path / "machine-a", tmp_path / "machine-b"])
    assert _ids(received_notifications(moto_site)) == Counter(dict.fromkeys(pending, 1))
    assert [e.entry_id for e in team.outbox(run.run_id) if e.pending] == []


@pytest.mark.parametrize("machines", [1, 2])
def test_an_older_runs_pending_page_never_replaces_the_newer_runs_live_page(moto_site, tmp_path, machines):
    """The repro of issue 23: the page bucket is gone during a failback (its page uploads stay pending), it is
    recreated, a failover runs, then `status --last 3` delivers the failback's pending page: the shared page
    in S3 stays the failover's (the failback's page is kept beside its own report, marked superseded). With
    two machines that share no journal (the failover ran from another state dir), the page object's own
    record of its run (S3 metadata, replaced only by a conditional PUT) stops the older page just the same."""
    site_file = _site_file(tmp_path, moto_site)
    s3 = boto3.client("s3", region_name=REGION)
    s3.delete_bucket(Bucket=STATUS_BUCKET)
    failback = _hooked("failback", "--site", str(site_file), "--runbook", str(_runbook(tmp_path, kind="failback")),
                       "--yes", state_dir=tmp_path / "state")
    assert failback.returncode == 0, failback.stderr[-2000:]
    back = _only_run(tmp_path)
    journal = SqliteJournal(tmp_path / "state")
    assert [e.entry_id for e in journal.outbox(back) if e.pending and e.channel == "status_page"]
    journal.close()

    s3.create_bucket(Bucket=STATUS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    other = tmp_path / ("state" if machines == 1 else "machine-b")
    failover = _hooked("failover", "--site", str(site_file), "--runbook", str(_runbook(tmp_path)), "--yes",
                       state_dir=other)
    assert failover.returncode == 0, failover.stderr[-2000:]
    journal = SqliteJournal(other)
    [over] = [r.run_id for r in journal.list_runs() if r.run_id != back]
    journal.close()

    status = orchestrator("status", "--last", "3", state_dir=tmp_path / "state")
    assert status.returncode == 0, status.stderr[-2000:]
    live = s3.get_object(Bucket=STATUS_BUCKET, Key=PAGE_KEY)["Body"].read().decode()
    assert live == (other / "reports" / over / "status.html").read_text()
    own = (tmp_path / "state" / "reports" / back / "status.html").read_text()
    assert live != own and "Failback" in own  # its own copy, beside its report
    assert f"status page of run {back} not uploaded: run {over} is newer" in status.stderr
    journal = SqliteJournal(tmp_path / "state")
    try:
        pages = [e for e in journal.outbox(back) if e.channel == "status_page"]
        assert pages and all(not e.pending and e.receipt.startswith(f"superseded: run {over}") for e in pages)
    finally:
        journal.close()
    again = orchestrator("status", "--last", "3", state_dir=tmp_path / "state")
    assert again.returncode == 0 and "not uploaded" not in again.stderr
    assert s3.get_object(Bucket=STATUS_BUCKET, Key=PAGE_KEY)["Body"].read().decode() == live


def test_the_shared_page_is_written_only_over_the_object_that_was_read(aws_env):
    """The page's conditional PUT (moto server): where there is none (If-None-Match *), or over the ETag read
    (If-Match); a write that lost to another one answers False and changes nothing."""
    from orchestrator.adapters.aws import AwsSession
    from orchestrator.adapters.s3 import S3

    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=STATUS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3 = S3(AwsSession(REGION))
    assert s3.put_page(STATUS_BUCKET, PAGE_KEY, "<p>1</p>", metadata={"orchestrator-run": "a r1"}, absent=True)
    assert not s3.put_page(STATUS_BUCKET, PAGE_KEY, "<p>2</p>", absent=True)
    head = s3.head(STATUS_BUCKET, PAGE_KEY)
    assert head is not None and head["Metadata"] == {"orchestrator-run": "a r1"}
    assert s3.put_page(STATUS_BUCKET, PAGE_KEY, "<p>3</p>", replacing=head["ETag"])
    assert not s3.put_page(STATUS_BUCKET, PAGE_KEY, "<p>4</p>", replacing=head["ETag"])
    assert s3.get_bytes(STATUS_BUCKET, PAGE_KEY) == b"<p>3</p>"


def test_an_older_page_that_loses_the_race_to_a_newer_run_is_not_written(aws_env, tmp_path):
    """Between the page's read (HeadObject) and its conditional PUT, another machine writes a newer run's page:
    the PUT fails its If-Match, the page is read again, and the older run gives way (returns the newer id)."""
    from types import SimpleNamespace

    import structlog

    from orchestrator.adapters.aws import AwsSession
    from orchestrator.adapters.s3 import S3
    from orchestrator.journal.records import RunRecord
    from orchestrator.publisher import PAGE_RUN_META, Delivery

    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=STATUS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    real = S3(AwsSession(REGION))
    newer = {PAGE_RUN_META: "2026-11-29T03:10:00.000Z 20261129T031000Z-failover-bbbbbb"}

    class RacingS3:
        """The real S3 adapter; the newer run's machine writes its page just before our first PUT."""

        raced = False

        def head(self, bucket, key):
            return real.head(bucket, key)

        def put_page(self, bucket, key, html, **conditions):
            if not self.raced:
                self.raced = True
                assert real.put_page(bucket, key, "<p>newer</p>", metadata=newer)
            return real.put_page(bucket, key, html, **conditions)

    journal = SqliteJournal(tmp_path / "state")
    journal.create_run(RunRecord("20261129T030000Z-failback-aaaaaa", "failback", "cc-dr-west", "site.json", {},
                                 RunSettings(),
                                 started_at="2026-11-29T03:00:00.000Z"), [])
    page = SimpleNamespace(bucket=STATUS_BUCKET, key=PAGE_KEY, link_expiry_seconds=600)
    delivery = Delivery(journal, SimpleNamespace(notify=SimpleNamespace(status_page=page)),  # type: ignore[arg-type]
                        SimpleNamespace(s3=RacingS3()), tmp_path / "reports", lambda _run: lambda: None,
                        structlog.get_logger("test"))
    try:
        assert delivery._upload("20261129T030000Z-failback-aaaaaa", "<p>older</p>") == \
            "20261129T031000Z-failover-bbbbbb"
    finally:
        journal.close()
    assert real.get_bytes(STATUS_BUCKET, PAGE_KEY) == b"<p>newer</p>"
