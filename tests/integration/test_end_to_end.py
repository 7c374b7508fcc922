"""Whole runs through the real CLI against the embedded site (moto server process + real sshd):
failover then failback leave AWS as the contract says; --dry-run changes nothing; a drill leaves the
warm site as it found it and reports both halves; readiness."""

from __future__ import annotations

import json

import pytest

from tests.e2e_helpers import aws_state, cli, drain, subscribe_queue

pytestmark = pytest.mark.integration


def test_failover_then_failback_leave_aws_as_the_contract_says(embedded_site, tmp_path):
    """failover: records at secondary, seats at target, every file and both tiers' markers in S3 (the
    embedded site declares backup.critical), tunnel up, milestones on SNS, the secondary SBC answering the
    smoke check's SIP OPTIONS; failback: records at primary,
    seats at warm, tunnel terminated."""
    site = embedded_site.site
    queue = subscribe_queue(embedded_site)
    state_dir = tmp_path / "state"
    result = cli(embedded_site, state_dir, "failover", "--site", str(embedded_site.site_file), "--yes")
    assert result.returncode == 0, result.stderr[-3000:]
    after = aws_state(embedded_site)
    for rec in site["dns"]["records"]:
        secondary = rec["secondary"] if isinstance(rec["secondary"], list) else [rec["secondary"]]
        assert after["records"][(rec["name"], rec["type"])] == sorted(v.rstrip(".") for v in secondary) or \
            after["records"][(rec["name"], rec["type"])] == sorted(secondary)
    assert after["desired"] == site["seats"]["target"]
    newest = sorted(p.name for p in embedded_site.exports.iterdir() if (p / "SHA256SUMS").exists())[-1]
    sums = (embedded_site.exports / newest / "SHA256SUMS").read_text().splitlines()
    prefix = site["backup"]["prefix"] + newest + "/"
    expected = sorted([prefix + line.split(None, 1)[1].lstrip("*") for line in sums] +
                      [prefix + "_RESTORE_COMPLETE.json", prefix + "_RESTORE_CRITICAL.json"])
    assert [k for k in after["keys"] if k.startswith(prefix)] == expected
    marker = json.loads(embedded_site.client("s3").get_object(
        Bucket=site["backup"]["bucket"], Key=prefix + "_RESTORE_COMPLETE.json")["Body"].read())
    assert marker["snapshot"] == newest and marker["files"] == len(sums)
    assert after["appliance"]["children"]["dr-tunnel-1"]["initiations"] == 1
    milestones = [m.get("milestone") or m.get("event") for m in drain(embedded_site, queue)]
    assert {"started", "vpn-up", "critical-data-restored", "all-data-restored", "seats-in-service",
            "dns-cut-over", "finished"} <= set(milestones), milestones

    report = json.loads(next((state_dir / "reports").glob("*/report.json")).read_text())
    assert report["status"] == "succeeded" and report["rpo_seconds"] > 0 and report["rto_seconds"] > 0
    # after the cutover the smoke check sent SIP OPTIONS to the embedded site's own secondary SBC
    (smoke,) = [c for s in report["steps"] if s["uses"] == "checks.smoke"
                for c in s["outputs"].get("checks", []) if c["name"] == "smoke.secondary"]
    assert smoke["ok"] and "answer: dr-sbc (sip 127.0.0.1:" in smoke["detail"], smoke

    back = cli(embedded_site, state_dir, "failback", "--site", str(embedded_site.site_file), "--yes")
    assert back.returncode == 0, back.stderr[-3000:]
    final = aws_state(embedded_site)
    for rec in site["dns"]["records"]:
        primary = rec["primary"] if isinstance(rec["primary"], list) else [rec["primary"]]
        assert final["records"][(rec["name"], rec["type"])] in (sorted(primary), sorted(v.rstrip(".") for v in primary))
    assert final["desired"] == site["seats"]["warm"]
    assert final["appliance"]["children"]["dr-tunnel-1"]["terminations"] >= 1
    assert final["keys"] == after["keys"]  # failback keeps the verified restored data


def test_dry_run_changes_nothing(embedded_site, tmp_path):
    """--dry-run prints each step's plan and leaves Route 53, the seats, S3 and the appliance untouched."""
    before = aws_state(embedded_site)
    result = cli(embedded_site, tmp_path / "state", "failover", "--site", str(embedded_site.site_file), "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DRY RUN" in result.stdout and "dns-cutover" in result.stdout and "UPSERT" in result.stdout.upper()
    assert aws_state(embedded_site) == before
    assert not (tmp_path / "state" / "journal.sqlite").exists()


def test_dry_run_names_each_step_kind_once(embedded_site, tmp_path):
    """Issue 25: the dry run (and the approval prompt, which prints the same plan) said the kind twice,
    "vpn.bring_up: vpn.bring_up: check ..."; the heading names it, the plan lines do not repeat it."""
    result = cli(embedded_site, tmp_path / "state", "failover", "--site", str(embedded_site.site_file), "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    plan_lines = [line.strip() for line in result.stdout.splitlines() if line.startswith("       ")]
    assert any("swanctl --initiate" in line for line in plan_lines), result.stdout
    repeated = [line for line in plan_lines if line.split(":", 1)[0] in ("vpn.bring_up", "backup.restore")]
    assert not repeated, repeated


def test_drill_leaves_the_warm_site_as_it_found_it_and_reports_both_halves(embedded_site, tmp_path):
    """A drill fails over, verifies, fails back and cleans up: AWS ends as it started, one report covers
    both halves with RTO/RPO against the objectives, a PNG timeline and JUnit; the history records it."""
    before = aws_state(embedded_site)
    state_dir = tmp_path / "state"
    result = cli(embedded_site, state_dir, "drill", "--site", str(embedded_site.site_file))
    assert result.returncode == 0, result.stderr[-3000:]
    after = aws_state(embedded_site)
    assert after["records"] == before["records"]
    assert after["desired"] == before["desired"]
    assert after["keys"] == before["keys"] == []
    folder = next((state_dir / "reports").glob("*-drill-*"))
    report = json.loads((folder / "report.json").read_text())
    assert report["kind"] == "drill" and report["status"] == "succeeded"
    phases = {s["phase"] for s in report["steps"]}
    assert {"failover", "failback", "cleanup"} <= phases
    assert report["rto_seconds"] > 0 and report["rto_met"] is True and report["rpo_met"] is True
    assert report["approvals"] and all(a["source"] == "drill" and a["by"] and a["at"] for a in report["approvals"])
    import matplotlib.image

    picture = matplotlib.image.imread(folder / "timeline.png")
    assert picture.shape[0] > 100 and picture.shape[1] > 100
    assert "<testsuite" in (folder / "junit.xml").read_text()
    history = json.loads(cli(embedded_site, state_dir, "drills", "--json").stdout)["drills"]
    assert [d["run_id"] for d in history] == [report["run_id"]] and history[0]["passed"] is True


def test_readiness_ready_then_not_ready(embedded_site, tmp_path):
    """readiness exits 0 on a healthy warm site and 4 (naming the check) once a blocking check fails."""
    state_dir = tmp_path / "state"
    ready = cli(embedded_site, state_dir, "readiness", "--site", str(embedded_site.site_file), "--json")
    assert ready.returncode == 0, ready.stdout + ready.stderr[-2000:]
    assert json.loads(ready.stdout)["ready"] is True
    strict = cli(embedded_site, state_dir, "readiness", "--site", str(embedded_site.site_file), "--strict")
    assert strict.returncode == 4  # no drill yet: a warning, fatal only with --strict
    s3 = embedded_site.client("s3")
    s3.delete_bucket(Bucket=embedded_site.site["backup"]["bucket"])
    broken = cli(embedded_site, state_dir, "readiness", "--site", str(embedded_site.site_file), "--json")
    assert broken.returncode == 4
    assert "backup.bucket" in json.loads(broken.stdout)["blocking_failures"]


def test_a_drill_after_a_real_failover_restores_its_own_copy_and_removes_only_it(embedded_site, tmp_path):
    """After a failover and failback (the site's restored copy stays in the bucket), a drill still restores
    the whole snapshot -- into PREFIX/drills/RUN_ID/, each restore step applied, not found "already in the
    desired state" -- so its data_restored_seconds is measured; its cleanup leaves the bucket as the drill
    found it: the failover's copy kept, nothing of the drill's."""
    state_dir = tmp_path / "state"
    for command in ("failover", "failback"):
        done = cli(embedded_site, state_dir, command, "--site", str(embedded_site.site_file), "--yes")
        assert done.returncode == 0, done.stderr[-3000:]
    kept = aws_state(embedded_site)["keys"]
    assert kept  # the failover's verified copy, markers included
    drill = cli(embedded_site, state_dir, "drill", "--site", str(embedded_site.site_file))
    assert drill.returncode == 0, drill.stderr[-3000:]
    folder = next((state_dir / "reports").glob("*-drill-*"))
    report = json.loads((folder / "report.json").read_text())
    assert report["status"] == "succeeded" and report["data_restored_seconds"] is not None
    audit_log = state_dir / "runs" / report["run_id"] / "audit.jsonl"
    audit = [json.loads(line) for line in audit_log.read_text().splitlines()]
    restores = {e["step"]: e["applied"] for e in audit
                if e.get("event") == "step_verified" and e.get("step", "").startswith("failover/restore-")}
    assert restores == {"failover/restore-critical": True, "failover/restore-bulk": True}
    drill_prefix = f"{embedded_site.site['backup']['prefix']}drills/{report['run_id']}/"
    cleaned = [e for e in audit if e.get("event") == "cleanup.done"]
    assert [e["prefix"] for e in cleaned] == [drill_prefix] and cleaned[0]["deleted_objects"] > 2
    assert aws_state(embedded_site)["keys"] == kept
