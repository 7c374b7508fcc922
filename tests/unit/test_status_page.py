"""The status page for managers and agents: the phase in plain words, the ETA as a range, the template
(self-contained, autoescaped) and nothing of the site's hosts, keys or ARNs in it."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator import site_change
from orchestrator.eta import Eta
from orchestrator.journal.records import RunRecord, RunSettings, StepRecord
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.model import RunStatus, StepStatus
from orchestrator.report import Report, from_json
from orchestrator.runbook import load_runbook
from orchestrator.site import load_site, parse_site
from orchestrator.status_page import NO_ESTIMATE, phases, render_page, render_run
from orchestrator.status_page import build_view as build_typed_view
from orchestrator.status_page.view import eta_words, plain_duration
from tests.helpers import REPO


def build_view(report: dict | Report, *args, **kwargs):
    """The page of a report written here as report.json holds it (read into a ``Report`` first)."""
    return build_typed_view(from_json(report) if isinstance(report, dict) else report, *args, **kwargs)

NOW = datetime(2026, 11, 29, 3, 10, tzinfo=UTC)
STARTED = "2026-11-29T03:00:00.000Z"
SECRET_SITE = {
    "schema": 1, "site": "cc-dr-west", "region": "us-west-2",
    "objectives": {"rto_seconds": 900, "rpo_seconds": 86400},
    "dns": {"zone_id": "Z0123456789", "records": [
        {"name": "agents.example.com.", "type": "CNAME", "ttl": 60,
         "primary": "agents.primary.example.net", "secondary": "agents.dr.example.net"}]},
    "vpn": {"connection_ids": ["vpn-0abc"], "appliance": {
        "kind": "strongswan", "host": "appliance.corp.internal", "port": 22, "username": "vpnadmin",
        "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0i6NdUvGTR0Wq4X1a9fK0S2m0x7C6xkAqL4tLhB7cR",
        "private_key_secret": "cc-dr/appliance-key", "connections": ["dr-tunnel-1"], "swanctl": "swanctl"}},
    "backup": {"sftp": {"host": "sftp.backup-vendor.internal", "port": 22, "username": "cc-export",
                        "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0i6NdUvGTR0Wq4X1a9fK0S2m0x7C6xkAqL4tLhB7cR",
                        "private_key_secret": "cc-dr/backup-key", "path": "/exports/contact-center"},
               "bucket": "cc-dr-restore", "prefix": "restored/"},
    "seats": {"asg_name": "cc-agent-seats", "warm": 2, "target": 40},
    "notify": {"topic_arn": "arn:aws:sns:us-west-2:123456789012:cc-dr-milestones",
               "status_page": {"bucket": "cc-dr-status", "key": "status/index.html"}},
}
#: what must never reach the page: hosts, users, key material and secret names, account ids and ARNs
NEVER_SHOWN = ["appliance.corp.internal", "sftp.backup-vendor.internal", "vpnadmin", "cc-export", "AAAAC3Nz",
               "cc-dr/appliance-key", "cc-dr/backup-key", "123456789012", "arn:aws", "/exports/contact-center",
               "vpn-0abc", "cc-agent-seats"]


def _failover_book() -> dict:
    """The default failover runbook as a run on a SIP/DNS site has it (its `when: connect` steps left out)."""
    site = load_site(REPO / "tests" / "data" / "site.json")
    return load_runbook(REPO / "runbooks" / "failover.yaml").for_site(site).to_dict()


def _report(statuses: dict[str, str], run_status: str = RunStatus.RUNNING, **extra: object) -> dict:
    book = _failover_book()
    steps = [{"id": s["id"], "uses": s["uses"], "owner": s["owner"], "status": statuses.get(s["id"], "pending"),
              "finished_at": f"2026-11-29T03:0{i}:00.000Z" if statuses.get(s["id"]) == "succeeded" else None,
              "rto": s["rto"]} for i, s in enumerate(book["steps"])]
    return {"run_id": "r1", "kind": "failover", "site": "cc-dr-west", "status": run_status, "started_at": STARTED,
            "finished_at": None, "rto_objective_seconds": 900, "rpo_objective_seconds": 86400, "rto_seconds": None,
            "rpo_seconds": None, "steps": steps, "timeline": [], **extra}


@pytest.mark.parametrize(("uses", "words"), [
    ("checks.preflight", "Checking the backup site"),
    ("vpn.bring_up", "Connecting the VPN"),
    ("backup.restore", "Restoring customer data"),
    ("seats.scale_up", "Scaling up agent seats"),
    ("dns.cutover", "Pointing our addresses (DNS) at the backup site"),
    ("checks.smoke", "Checking the backup site serves calls"),
    ("dns.cutback", "Pointing our addresses (DNS) back at the main site"),
    ("connect.announce", "Telling callers about the outage"),
    ("connect.shift_traffic", "Routing phone calls and agent sign-ins to the backup Region"),
    ("connect.shift_back", "Routing phone calls and agent sign-ins back to the main Region"),
    ("connect.unannounce", "Ending the outage announcement"),
    ("some.new_kind", "Some new kind"),
])
def test_each_step_kind_has_plain_words(uses, words):
    """Every step kind of the default runbooks reads as a manager would say it; an unknown one is humanized."""
    assert phases.step_words(uses) == words


def test_every_step_kind_and_milestone_of_the_default_runbooks_has_its_own_words():
    """No step kind or milestone of failover/failback/drill falls back to a humanized identifier."""
    for name in ("failover", "failback", "drill"):
        book = load_runbook(REPO / "runbooks" / f"{name}.yaml")
        assert {s.uses for s in book.steps} <= set(phases.STEP_WORDS), name
        assert {s.milestone for s in book.steps if s.milestone} <= set(phases.MILESTONE_WORDS), name


def test_the_bulk_restore_is_named_as_background_work():
    """The bulk tier (tier: bulk / rto: false) is the call recordings, in the background."""
    assert phases.step_words("backup.restore", {"tier": "bulk"}) == "Restoring call recordings (background)"
    assert phases.step_words("backup.restore", {}, rto=False) == "Restoring call recordings (background)"


def test_the_running_service_step_is_the_phase_not_the_background_restore():
    """While the critical restore and the bulk run together, the phase is the critical one (what gates service)."""
    view = build_view(_report({"announce": "succeeded", "preflight": "succeeded", "vpn-up": "succeeded",
                               "restore-bulk": "running", "restore-critical": "running"}), _failover_book(), None, NOW)
    assert view.phase == "Restoring customer data"
    assert view.last_milestone == "VPN connected"
    assert view.next_milestone == "Customer data restored"
    assert view.eta == NO_ESTIMATE


def test_only_background_work_left_is_said_so():
    """After the cutover, with only the bulk restore running, the phase says call recordings (background)."""
    done = {s["id"]: "succeeded" for s in _failover_book()["steps"]}
    view = build_view(_report({**done, "restore-bulk": "running", "done": "pending"}), _failover_book(), None, NOW)
    assert view.phase == "Restoring call recordings (background)"


@pytest.mark.parametrize(("status", "timeline", "words"), [
    (RunStatus.SUCCEEDED, [], "Failover complete"),
    (RunStatus.FAILED, [], "Failover failed — the on-call team is on it"),
    (RunStatus.ROLLED_BACK, [], "Failover failed and was undone — calls stay on the main site"),
    (RunStatus.INTERRUPTED, [{"event": "approval_missing"}], "On hold — waiting for the incident commander to decide"),
    (RunStatus.INTERRUPTED, [], "Failover interrupted — the on-call team is resuming it"),
])
def test_the_end_in_plain_words(status, timeline, words):
    """After the end the phase is the outcome (a failover undone says where calls stay); a run stopped at the
    approval gate is on hold for the commander."""
    view = build_view(_report({}, status, timeline=timeline, finished_at="2026-11-29T03:08:00.000Z"),
                      _failover_book(), None, NOW)
    assert view.phase == words and view.ended and view.eta is None


def test_waiting_at_the_prompt_is_a_pause_for_the_commander():
    """A run asking for the DNS cutover approval shows that it waits for the incident commander."""
    timeline = [{"event": "run_started"}, {"event": "approval_requested"}]
    view = build_view(_report({"preflight": "succeeded"}, timeline=timeline), _failover_book(), None, NOW)
    assert view.phase == "Paused — waiting for the incident commander" and view.tone == "paused"


def test_eta_is_a_range_of_clock_times_and_minutes():
    """An ETA reads as two clock times, minutes from now and how many drills it comes from."""
    eta = Eta(NOW + timedelta(minutes=5), NOW + timedelta(minutes=9, seconds=30), drills=3)
    assert eta_words(eta, NOW) == ("Service expected back between 03:15 and 03:19 UTC "
                                   "(in 5 min to 9 min 30 s; learned from 3 drills)")
    assert eta_words(None, NOW) == "No estimate yet — run a drill"


def test_durations_read_as_a_person_says_them():
    """Seconds, minutes and hours in words (no 12m34s shorthand)."""
    assert [plain_duration(s) for s in (7, 754, 900, 7260, 86400, None)] == [
        "7 s", "12 min 34 s", "15 min", "2 h 1 min", "24 h", "—"]


def test_the_page_is_self_contained_and_forbids_every_request():
    """One HTML file: inline CSS only, no script, link, external URL or font; a CSP forbids any request;
    a viewport for phones."""
    html = render_page(build_view(_report({"preflight": "running"}), _failover_book(), None, NOW))
    assert ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">") in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(|https?://", html, re.IGNORECASE)
    assert "Checking the backup site" in html and NO_ESTIMATE in html


def test_the_page_escapes_what_it_shows():
    """Autoescape: an owner written as markup is shown as text, never run."""
    report = _report({"preflight": "running"})
    report["steps"][1]["owner"] = "<script>alert(1)</script>"
    html = render_page(build_view(report, _failover_book(), None, NOW))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_no_host_key_or_arn_of_the_site_reaches_the_page(tmp_path):
    """A run of a site with an SFTP host, an appliance host, key secrets and ARNs, with step errors naming
    hosts: the page shows none of it (only the site name, words, owners and times)."""
    site = parse_site(copy.deepcopy(SECRET_SITE), source="site.json")
    journal = SqliteJournal(tmp_path)
    book = _failover_book()
    journal.create_run(
        RunRecord("r1", "failover", "cc-dr-west", "/etc/cc/site.json", book,
                  RunSettings(objectives=site.objectives.model_dump(), site=site_change.journaled(site)),
                  RunStatus.FAILED, STARTED, "2026-11-29T03:05:00.000Z",
                  "step vpn-up failed: ssh vpnadmin@appliance.corp.internal refused"),
        [StepRecord("r1", s["id"], s["uses"], s["owner"]) for s in book["steps"]],
    )
    step = StepRecord("r1", "vpn-up", "vpn.bring_up", "network-oncall", StepStatus.FAILED,
                      error="sftp.backup-vendor.internal: arn:aws:iam::123456789012:role/x denied",
                      state={"host": "appliance.corp.internal"})
    journal.save_step(step)
    journal.add_event("r1", STARTED, "step_failed", "vpn-up", {"error": "appliance.corp.internal timed out"})
    html = render_run(journal, "r1", None, NOW)
    assert [s for s in NEVER_SHOWN if s in html] == []
    assert "cc-dr-west" in html and "network-oncall" in html and "Failover failed" in html


def test_a_message_says_what_was_happening_when_its_milestone_was_reached():
    """Rewound to a milestone's time (as_of), a report of a finished run shows the run then: later steps not
    started, the next one about to start as the phase, no outcome yet."""
    from orchestrator.status_page.view import as_of

    book = _failover_book()
    report = _report({s["id"]: "succeeded" for s in book["steps"]}, RunStatus.SUCCEEDED,
                     finished_at="2026-11-29T03:09:00.000Z")
    for number, step in enumerate(report["steps"]):
        step["started_at"], step["finished_at"] = f"2026-11-29T03:0{number}:00.000Z", f"2026-11-29T03:0{number}:30.000Z"
        step["needs"] = next(s["needs"] for s in book["steps"] if s["id"] == step["id"])
    during = datetime(2026, 11, 29, 3, 3, 10, tzinfo=UTC)  # restore-critical running
    then = build_view(as_of(from_json(report), during), book, None, during)
    assert not then.ended and then.phase == "Restoring customer data" and then.eta == NO_ESTIMATE
    assert [s.state for s in then.steps[:4]] == ["Done", "Done", "Done", "In progress"]
    assert then.steps[-1].state == "Not started" and then.last_milestone == "VPN connected"
    between = datetime(2026, 11, 29, 3, 2, 45, tzinfo=UTC)  # vpn-up done, nothing running: what starts next
    assert build_view(as_of(from_json(report), between), book, None, between).phase == "Restoring customer data"
    assert build_view(report, book, None, NOW).phase == "Failover complete"


# --------------------------------------------------------------------------- one page state per run state

_ALL_DONE = ["announce", "preflight", "vpn-up", "restore-critical", "restore-bulk", "seats-up", "dns-cutover",
             "smoke", "done"]
_ENDED_AT = "2026-11-29T03:04:00.000Z"


def _done(*ids: str, **others: str) -> dict[str, str]:
    return {**{i: "succeeded" for i in ids}, **others}


#: (page state, live, the report's status, step statuses, extra report fields): one run in each state
RUN_STATES = {
    "running": (True, RunStatus.RUNNING, _done("announce", "preflight", vpn_up="running"), {}),
    "undoing": (True, RunStatus.RUNNING,
                _done("announce", "preflight", vpn_up="rolling_back", restore_critical="failed"),
                {"timeline": [{"event": "run_started"}, {"event": "rollback_started"}]}),
    "waiting": (True, RunStatus.RUNNING, _done("announce", "preflight", "vpn-up", "restore-critical", "seats-up",
                                               dns_cutover="awaiting_approval", restore_bulk="running"),
                {"timeline": [{"event": "run_started"}, {"event": "approval_requested", "step": "dns-cutover",
                                                          "at": "2026-11-29T03:01:00.000Z"}]}),
    "held": (True, RunStatus.INTERRUPTED, _done("announce", "preflight", "vpn-up", "restore-critical", "seats-up",
                                                "restore-bulk", dns_cutover="awaiting_approval"),
             {"timeline": [{"event": "run_started"}, {"event": "approval_missing", "step": "dns-cutover"}],
              "finished_at": "2026-11-29T03:00:03.000Z"}),
    "interrupted": (True, RunStatus.INTERRUPTED, _done("announce", "preflight", vpn_up="interrupted"),
                    {"finished_at": _ENDED_AT}),
    "orphaned": (False, RunStatus.RUNNING, _done("announce", "preflight", vpn_up="running"),
                 {"timeline": [{"event": "run_started", "at": STARTED},
                               {"event": "step_started", "step": "vpn-up", "at": "2026-11-29T03:02:00.000Z"}]}),
    "succeeded": (True, RunStatus.SUCCEEDED, _done(*_ALL_DONE),
                  {"finished_at": _ENDED_AT, "rto_seconds": 240, "rpo_seconds": 3600}),
    "failed_serving": (True, RunStatus.FAILED, _done(*[i for i in _ALL_DONE if i != "restore-bulk"],
                                                     restore_bulk="failed"),
                       {"finished_at": _ENDED_AT, "rto_seconds": 4, "rpo_seconds": 3600}),
    "failed": (True, RunStatus.FAILED, _done("announce", "preflight", vpn_up="failed"), {"finished_at": _ENDED_AT}),
    "rolled_back": (True, RunStatus.ROLLED_BACK,
                    _done("announce", "preflight", vpn_up="rolled_back", restore_critical="failed"),
                    {"finished_at": _ENDED_AT}),
    "stood_down": (True, "stood_down", _done("announce", "preflight", vpn_up="rolled_back"),
                   {"finished_at": _ENDED_AT}),
}

#: what each state shows: (headline, colour, the line under it, "Service back after", elapsed label)
EXPECTED = {
    "running": ("Connecting the VPN", "running", NO_ESTIMATE, None, "Elapsed"),
    "undoing": ("Failover failed — undoing its changes", "failed",
                "No estimate: the run's changes are being undone.", None, "Elapsed"),
    "waiting": ("Paused — waiting for the incident commander", "paused",
                "Waiting since 03:01 UTC for incident-commander to approve "
                "“Pointing our addresses (DNS) at the backup site”. "
                "If approved now: no estimate yet — run a drill", None, "Elapsed"),
    "held": ("On hold — waiting for the incident commander to decide", "paused",
             "Stopped at 03:00 UTC after 3 s: nothing more happens until incident-commander approves "
             "“Pointing our addresses (DNS) at the backup site”.", "not yet — on hold", "Ran for"),
    "interrupted": ("Failover interrupted — the on-call team is resuming it", "paused",
                    "Stopped at 03:04 UTC after 4 min; it continues where it stopped when resumed.",
                    "not yet — the run is stopped", "Ran for"),
    "orphaned": ("Failover stopped unexpectedly — the on-call team is resuming it", "paused",
                 "No progress since 03:02 UTC (2 min after the start): the orchestrator running it stopped; "
                 "it continues where it stopped when resumed.", "not yet — the run is stopped", "Ran for"),
    "succeeded": ("Failover complete", "done", "Finished after 4 min.", "4 min (objective 15 min) — met", "Took"),
    "failed_serving": ("Backup site serving calls, but restoring call recordings (background) failed — the on-call "
                       "team is on it", "partial", "Finished after 4 min.", "4 s (objective 15 min) — met", "Took"),
    "failed": ("Failover failed — the on-call team is on it", "failed", "Finished after 4 min.", "not reached",
               "Took"),
    "rolled_back": ("Failover failed and was undone — calls stay on the main site", "failed",
                    "Finished after 4 min.", "not reached", "Took"),
    "stood_down": ("Failover stood down — its changes were undone; calls stay on the main site", "done",
                   "Finished after 4 min.", "not reached", "Took"),
}


def _state_report(state: str) -> tuple[dict, bool]:
    live, status, statuses, extra = RUN_STATES[state]
    report = _report({k.replace("_", "-"): v for k, v in statuses.items()}, status, **extra)
    for step in report["steps"]:
        if step["id"] == "dns-cutover":
            step["owner"] = "incident-commander"
    return report, live


def test_every_page_state_is_tested():
    """The table below covers every state the page knows (a new state needs its own expectations)."""
    assert set(RUN_STATES) == set(EXPECTED) == set(phases.PAGE_STATES)


@pytest.mark.parametrize("state", sorted(EXPECTED))
def test_one_page_state_per_run_state(state):
    """Each run state maps to exactly one page state, and every element of the page comes from it: headline,
    colour, the line under it (the ETA only while an orchestrator works on the run), the service line and the
    elapsed label."""
    report, live = _state_report(state)
    view = build_view(report, _failover_book(), None, NOW, live=live)
    headline, tone, detail, service, elapsed_label = EXPECTED[state]
    assert (view.state, view.phase, view.tone) == (state, headline, tone)
    assert (view.detail, view.service, view.elapsed_label) == (detail, service, elapsed_label)
    look = phases.PAGE_STATES[state]
    assert view.ended is (not look.moving) and view.finished is look.finished
    assert (view.eta is not None) is look.moving


@pytest.mark.parametrize("state", sorted(EXPECTED))
def test_no_page_contradicts_itself(state):
    """What the rendered page says agrees with its state: "Finished after" only for a final outcome, an ETA
    line only while the run moves, no step "In progress" when no orchestrator runs it, a red headline never
    beside a met objective, and a step being undone or undone never styled as not started."""
    report, live = _state_report(state)
    page = render_page(build_view(report, _failover_book(), None, NOW, live=live))
    look = phases.PAGE_STATES[state]
    assert ("Finished after" in page) is look.finished
    assert ('id="eta"' in page) is look.moving and ('id="outcome"' in page) is (not look.moving)
    assert ("In progress" in page) is (look.moving and state != "undoing")
    if look.tone == "failed":
        assert "— met" not in page
    if "Not started" not in page:
        assert "step-pending" not in page
    assert not re.search(rf'<li class="step-pending">[^\n]*{phases.STEP_STATE_WORDS[StepStatus.ROLLED_BACK]}', page)
    assert not re.search(rf'<li class="step-pending">[^\n]*{phases.STEP_STATE_WORDS[StepStatus.ROLLING_BACK]}', page)


def test_steps_being_undone_and_undone_have_their_own_style():
    """A step being undone and an undone one are styled as such (the page's CSS knows both), not as pending."""
    report, _ = _state_report("undoing")
    next(s for s in report["steps"] if s["id"] == "preflight")["status"] = "rolled_back"  # vpn-up being undone
    lines = {s.words: s for s in build_view(report, _failover_book(), None, NOW).steps}
    assert (lines["Connecting the VPN"].state, lines["Connecting the VPN"].tone) == ("Being undone", "undoing")
    assert (lines["Checking the backup site"].state, lines["Checking the backup site"].tone) == ("Undone", "undone")
    assert build_view(report, _failover_book(), None, NOW).next_milestone is None  # nothing is next: undoing
    page = render_page(build_view(report, _failover_book(), None, NOW))
    assert "li.step-undoing" in page and "li.step-undone" in page


def test_a_killed_run_delivered_by_status_is_shown_stopped():
    """The journal still says running, but no orchestrator runs it (live=False: `status` delivering a killed
    run's pending page): no step "In progress", no ETA, the stop time is its last activity."""
    report, _ = _state_report("orphaned")
    view = build_view(report, _failover_book(), None, NOW, live=False)
    assert [s.state for s in view.steps if s.words == "Connecting the VPN"] == ["Stopped"]
    assert view.eta is None and view.elapsed == "2 min"
    assert build_view(report, _failover_book(), None, NOW).state == "running"  # the same run while alive


def test_a_failback_says_when_calls_are_back_on_the_main_site():
    """During a failback the ETA is about calls moving back to the main site, not "service expected back"."""
    book = load_runbook(REPO / "runbooks" / "failback.yaml").to_dict()
    steps = [{"id": s["id"], "uses": s["uses"], "owner": s["owner"], "status": "pending", "rto": True}
             for s in book["steps"]]
    steps[0]["status"] = "running"
    report = {"run_id": "r2", "kind": "failback", "site": "cc-dr-west", "status": "running", "started_at": STARTED,
              "finished_at": None, "rto_objective_seconds": 900, "steps": steps, "timeline": []}
    eta = Eta(NOW + timedelta(minutes=5), NOW + timedelta(minutes=9), drills=2)
    view = build_view(report, book, eta, NOW)
    assert view.eta is not None and view.eta.startswith("Calls expected back on the main site between 03:15 and")
    assert "Service expected back" not in render_page(view)
    done = build_view(report, book, Eta(NOW, NOW, drills=2, done=True), NOW)
    assert done.eta == "Calls back on the main site at 03:10 UTC"
    report.update(status="succeeded", finished_at=_ENDED_AT, rto_seconds=200)
    assert build_view(report, book, None, NOW).phase == "Failback complete"
    report.update(status="rolled_back", rto_seconds=None)
    assert build_view(report, book, None, NOW).phase == "Failback failed and was undone — calls stay on the backup site"


def test_the_page_says_until_when_the_messages_link_works():
    """With the link's real end given (from the credentials that signed it), the page says it; with temporary
    credentials of unknown end, it says that instead of a time it cannot know."""
    report, _ = _state_report("running")
    until = datetime(2026, 11, 29, 3, 55, tzinfo=UTC)
    page = render_page(build_view(report, _failover_book(), None, NOW, link_until=until))
    assert "works until 2026-11-29 03:55 UTC" in page
    unknown = render_page(build_view(report, _failover_book(), None, NOW, link_expiry_unknown=True))
    assert "temporary credentials that signed it expire" in unknown
    assert "link-expiry" not in render_page(build_view(report, _failover_book(), None, NOW))


# --------------------------------------------------------------------------- issue 25: what the page said


@pytest.mark.parametrize("runbook", ["failover", "failback"])
def test_no_two_steps_of_a_default_runbook_share_a_label(runbook):
    """Issue 25: both milestone steps read "Sending an update to everyone"; each now names its update."""
    book = load_runbook(REPO / "runbooks" / f"{runbook}.yaml").to_dict()
    words = [phases.step_words(s["uses"], s.get("with") or {}, bool(s.get("rto", True))) for s in book["steps"]]
    assert len(words) == len(set(words)), words
    assert f"Sending an update to everyone: {runbook.capitalize()} started" in words


def test_the_dns_and_connect_steps_read_differently():
    """Issue 25: "Moving calls to the backup site" (DNS) and "Moving calls and agents to the backup Region"
    (Connect) read alike; they now say what each moves, with no common opening."""
    for dns, connect in (("dns.cutover", "connect.shift_traffic"), ("dns.cutback", "connect.shift_back")):
        one, other = phases.step_words(dns), phases.step_words(connect)
        assert one.split()[0] != other.split()[0] and "DNS" in one and "calls" in other, (one, other)
    assert phases.milestone_words("dns-cut-over") != phases.milestone_words("calls-on-secondary")
    assert "DNS" in phases.milestone_words("dns-cut-over")


def test_an_eta_within_one_minute_is_said_once():
    """Issue 25: "between 23:20 and 23:20 (in 1 s to 1 s)": a range within one clock minute is one time, and a
    wait under a minute reads as such."""
    eta = Eta(NOW + timedelta(seconds=1), NOW + timedelta(seconds=1), drills=2)
    assert eta_words(eta, NOW) == ("Service expected back at about 03:10 UTC "
                                   "(in less than a minute; learned from 2 drills)")
    wider = Eta(NOW + timedelta(seconds=20), NOW + timedelta(minutes=3), drills=2)
    assert "between 03:10 and 03:13 UTC (in less than a minute to 3 min;" in eta_words(wider, NOW)


def test_data_restored_says_the_backups_age():
    """Issue 25: "Data restored: as of 1 h 18 min before the start" read as a time; it says the backup's age."""
    report = _report({s: "succeeded" for s in ("preflight",)}, run_status=RunStatus.SUCCEEDED,
                     rpo_seconds=4680, rto_seconds=600, finished_at="2026-11-29T03:10:00.000Z")
    view = build_view(report, _failover_book(), None, NOW, live=False)
    assert view.data == "from a backup 1 h 18 min old when the run started (objective: at most 24 h) — met"


def test_the_site_name_is_never_broken_at_its_hyphens():
    """Issue 25: the heading broke the site name as "cc-/dr-sandbox" on a phone; it is one unbreakable word."""
    view = build_view(_report({}), _failover_book(), None, NOW)
    html = render_page(view)
    assert '<span class="site">cc-dr-west</span>' in html
    assert re.search(r"\.site\s*\{\s*white-space:\s*nowrap;", html)


# --------------------------------------------------------------------------- a failover staged on detection

DETECTED = "2026-11-29T02:57:00.000Z"


@pytest.mark.parametrize("state", ["running", "waiting", "held"])
def test_a_staged_failover_opens_on_the_outage_until_someone_decides(state):
    """A failover `watch --stage` started (its report has `detected_at`) reads "Primary site unreachable since
    HH:MM UTC" while it stages, waits at its gate or is held there; the line under it still says what happens
    (getting ready, waiting for whom, stopped until whom)."""
    report, live = _state_report(state)
    view = build_view({**report, "detected_at": DETECTED}, _failover_book(), None, NOW, live=live)
    assert view.phase == "Primary site unreachable since 02:57 UTC" and view.outage == view.phase
    assert view.state == state
    expected = {"running": "Getting the backup site ready (Connecting the VPN). ",
                "waiting": "Waiting since 03:01 UTC for incident-commander to approve",
                "held": "nothing more happens until incident-commander approves"}[state]
    assert expected in view.detail
    html = render_page(view)
    assert "Primary site unreachable since 02:57 UTC" in html and 'id="outage"' not in html  # said once


def test_once_approved_the_staged_failover_reads_as_any_failover_and_the_outage_stays_as_a_notice():
    """After the commander approved, the headline is the running step again; the outage line stays under it
    until the run has an outcome, and leaves the page with the outcome."""
    report, live = _state_report("running")
    timeline = [{"event": "run_started"}, {"event": "approval_requested", "step": "dns-cutover"},
                {"event": "approval_granted", "step": "dns-cutover"}]
    view = build_view({**report, "timeline": timeline, "detected_at": DETECTED}, _failover_book(), None, NOW,
                      live=live)
    assert view.phase == "Connecting the VPN" and view.outage == "Primary site unreachable since 02:57 UTC"
    assert '<p class="notice" id="outage">Primary site unreachable since 02:57 UTC</p>' in render_page(view)
    report, live = _state_report("succeeded")
    done = build_view({**report, "detected_at": DETECTED}, _failover_book(), None, NOW, live=live)
    assert done.outage is None and "unreachable" not in render_page(done)


def test_a_failover_started_by_hand_has_no_outage_line():
    report, live = _state_report("waiting")
    view = build_view(report, _failover_book(), None, NOW, live=live)
    assert view.outage is None and view.phase == "Paused — waiting for the incident commander"


def test_a_shift_stopped_on_full_queues_says_where_calls_stand_not_that_the_failover_failed():
    """connect.shift_guard stopped the shift at 30 % (the step failed with `held`): the page's headline is the
    paused share, amber, and what happens next; not "Failover failed"."""
    report, live = _state_report("failed")
    report["steps"].append({"id": "connect-shift", "uses": "connect.shift_traffic", "owner": "telephony-oncall",
                            "status": "failed", "outputs": {"held": {"share": 30, "percent": 40}}})
    view = build_view(report, _failover_book(), None, NOW, live=live)
    assert view.phase == "Call routing paused at 30 % — the backup Region's queues are full"
    assert view.tone == "paused"
    assert view.detail.endswith("the on-call team resumes the move once the backup Region's queues drain.")
    assert view.detail.startswith("Stopped after ")
    back = copy.deepcopy(report)
    back["kind"] = "failback"
    back["steps"][-1]["uses"] = "connect.shift_back"
    assert build_view(back, _failover_book(), None, NOW, live=live).phase.endswith("the main Region's queues are full")
    plain, live = _state_report("failed")
    failed = build_view(plain, _failover_book(), None, NOW, live=live)
    assert failed.phase == "Failover failed — the on-call team is on it"
