"""The evidence pack's pure parts: the framework index, the status page versions kept, the findings derived
from a report, the readiness warning on old findings, the site's ``evidence`` key."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.evidence import findings, index
from orchestrator.evidence.pack import write_pack
from orchestrator.journal.findings import SqliteFindingStore
from orchestrator.site import parse_site
from orchestrator.status_page.render import write_page
from tests.helpers import SITE

FRAMEWORK_ELEMENTS = {
    ("NIST SP 800-34 Rev. 1", "Notification procedures"),
    ("NIST SP 800-34 Rev. 1", "System recovery on an alternate platform from backup media"),
    ("NIST SP 800-34 Rev. 1", "Internal and external connectivity"),
    ("NIST SP 800-34 Rev. 1", "System performance using alternate equipment"),
    ("NIST SP 800-34 Rev. 1", "Restoration of normal operations"),
    ("ISO 22301:2019", "Exercise objectives"),
    ("ISO 22301:2019", "Exercise scenario"),
    ("ISO 22301:2019", "Post-exercise report"),
    ("ISO 22301:2019", "Actions (findings tracked to closure)"),
    ("SOC 2 (TSC 2017)", "Recovery plan test record"),
    ("SOC 2 (TSC 2017)", "RTO/RPO achieved against the targets"),
    ("SOC 2 (TSC 2017)", "Backup integrity"),
}


def step(id_: str, uses: str, status: str = "succeeded", duration: float = 1.0, attempts: int = 1,
         owner: str = "sre") -> dict:
    return {"id": id_, "uses": uses, "status": status, "duration_seconds": duration, "attempts": attempts,
            "owner": owner}


FAILOVER = [step("announce", "notify.milestone"), step("restore", "backup.restore"), step("vpn", "vpn.bring_up"),
            step("seats", "seats.scale_up"), step("dns", "dns.cutover", owner="network"),
            step("smoke", "checks.smoke")]
FAILBACK = [step("dns-back", "dns.cutback"), step("seats-down", "seats.scale_down"), step("vpn-down", "vpn.tear_down")]


def report(kind: str, steps: list[dict], **extra) -> dict:
    return {"run_id": "r1", "kind": kind, "site": "s1", "status": "succeeded", "rto_seconds": 100,
            "rto_objective_seconds": 900, "rto_met": True, "rpo_seconds": 60, "rpo_objective_seconds": 86400,
            "rpo_met": True, "runbook": kind, "steps": steps, "findings": {"new": [], "recurred": [], "open": []},
            **extra}


def test_the_index_maps_every_framework_element_and_a_drill_covers_them_all():
    mapping = index.build(report("drill", FAILOVER + FAILBACK), ["status-page/001.html"])
    assert {(e["framework"], e["element"]) for e in mapping["elements"]} == FRAMEWORK_ELEMENTS
    assert all(e["where"] for e in mapping["elements"])
    assert mapping["not_covered"] == []
    assert "nothing: every element above is covered" in index.render(mapping)


def test_a_failover_without_failback_says_plainly_it_did_not_restore_normal_operations():
    mapping = index.build(report("failover", FAILOVER), [])
    assert [e["element"] for e in mapping["elements"] if not e["covered"]] == ["Restoration of normal operations"]
    text = index.render(mapping)
    assert "did not restore normal operations (no failback ran" in text
    held = index.build(report("failover", [step("restore", "backup.restore", "failed")], rto_seconds=None,
                                rpo_seconds=None), [])
    gaps = "\n".join(held["not_covered"])
    assert "the restore did not finish" in gaps and "did not get far enough to measure the RTO and the RPO" in gaps


def test_every_published_page_version_is_kept_and_goes_into_the_pack(tmp_path):
    reports, state = tmp_path / "reports", tmp_path / "state"
    for n in range(3):
        write_page(f"<html>version {n}</html>", reports, "r1")
    assert (reports / "r1" / "status.html").read_text() == "<html>version 2</html>"
    pack = write_pack(reports, state, "r1", report("failover", FAILOVER), {"name": "failover"}, None, [],
                      "2026-12-07T00:00:00Z")
    pages = sorted(p.name for p in (pack / "status-page").iterdir())
    assert pages == ["001.html", "002.html", "003.html"]
    assert (pack / "status-page" / "002.html").read_text() == "<html>version 1</html>"
    assert "status-page/003.html" in json.loads((pack / "manifest.json").read_text())["files"]


def test_findings_derived_from_a_report_each_with_its_steps_owner():
    rep = report("drill", [
        step("preflight", "checks.preflight", owner="sre"),
        step("restore", "backup.restore", duration=50.0, owner="dba"),
        step("shift", "connect.shift_traffic", status="rolled_back", owner="telephony"),
        step("dns", "dns.cutover", attempts=4, owner="network"),
        {**step("bulk", "backup.restore", duration=99.0, owner="storage"), "rto": False},  # not in the RTO
    ], rto_met=False, rto_seconds=1000, rpo_met=False, rpo_breach_accepted=True, decision_seconds=700,
        approvals=[{"step": "dns"}], site_changes=[{"changes": [{"key": "vpn.appliance.host"}]}])
    states = {"restore": {"rpo_seconds": 90000},
              "preflight": {"checks": [{"name": "drill.recency", "ok": False, "blocking": False, "detail": "old"},
                                       {"name": "dns.zone", "ok": True, "blocking": True, "detail": ""}]}}
    drills = [{"run_id": f"d{i}", "steps": [{"id": "restore", "status": "succeeded", "duration_seconds": 10.0 + i}]}
              for i in range(3)]
    got = {(o.kind, o.step, o.owner) for o in findings.derive(rep, states, drills, {"decision_limit_seconds": 600})}
    assert got == {
        ("rto_missed", "restore", "dba"), ("rpo_missed", "restore", "dba"),
        ("override_accept_rpo_breach", "restore", "dba"), ("override_allow_site_change", None, None),
        ("step_slow", "restore", "dba"), ("retries", "dns", "network"),
        ("preflight_warning:drill.recency", "preflight", "sre"), ("connect_shift_held", "shift", "telephony"),
        ("decision_slow", "dns", "network"),
    }


def test_recording_a_run_twice_counts_it_once_and_readiness_warns_on_old_open_findings(tmp_path):
    store = SqliteFindingStore(tmp_path)
    rep = report("drill", [], started_at="2026-10-01T00:00:00Z", finished_at="2026-10-01T00:10:00Z")
    seen = [findings.Observed("retries", "dns", "network", "3 retries")]
    first = findings.record(store, rep, seen, "now")
    again = findings.record(store, rep, seen, "now")
    assert [f["id"] for f in first["new"]] == [f["id"] for f in again["new"]]
    assert store.list("s1")[0]["runs"] == ["r1"]
    warning = findings.readiness_check(store.list("s1"), datetime(2026, 12, 7, tzinfo=UTC))
    assert (warning.ok, warning.blocking) == (False, False)
    assert first["new"][0]["id"] in warning.detail and "owner network" in warning.detail
    assert findings.readiness_check(store.list("s1"), datetime(2026, 10, 20, tzinfo=UTC)).ok
    with pytest.raises(InvalidInput):
        findings.close(store, "s1", "F-nope", "me", "why", "now")


@pytest.mark.parametrize(("value", "where"), [
    ("cc-dr-evidence", "evidence"), ({"bucket": "Bad_Bucket"}, "evidence.bucket"),
    ({"bucket": "cc-dr-evidence", "retention_days": 0}, "evidence.retention_days"),
    ({"bucket": "cc-dr-evidence", "retention_days": "30"}, "evidence.retention_days"),
    ({"bucket": "cc-dr-evidence", "mode": "governance"}, "evidence.mode"),
])
def test_a_bad_evidence_key_is_invalid_input_naming_it(value, where):
    data = json.loads(SITE.read_text())
    data["evidence"] = value
    with pytest.raises(InvalidInput) as caught:
        parse_site(data, "site.json")
    assert f"site.json:{where}" in str(caught.value)
