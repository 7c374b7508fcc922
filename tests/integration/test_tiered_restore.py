"""The tiered restore through the real CLI against the embedded site (moto server process + real sshd):
the cutover waits for the critical tier only, the bulk follows; order observed in S3 and Route 53 while the
run goes, never in logs. Corrupt files in either tier, a kill -9 during the bulk, a site without tiers and
bad patterns."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.sandbox import site as embedded
from tests.e2e_helpers import aws_state, cli, drain, subscribe_queue
from tests.fixtures.sandbox import EmbeddedSite, embedded_site_up
from tests.helpers import REPO, SITE

pytestmark = pytest.mark.integration

#: a small critical tier (~4 MB: roster, prompts, CRM) and a bulk tier 40x its size, so the bulk outlasts
#: the cutover by seconds on this machine
TIERED = embedded.SandboxOptions(size_mb=160, days=1, files=40, seats=10, tunnel_seconds=0.0, appliance="fake",
                                 connect=False)
BULK_RATIO = "40"
CRITICAL, COMPLETE = "_RESTORE_CRITICAL.json", "_RESTORE_COMPLETE.json"


@pytest.fixture
def tiered_site(tmp_path_factory, monkeypatch) -> Iterator[EmbeddedSite]:
    """The embedded site with a heavy bulk tier; boto3 in this process pointed at it."""
    with embedded_site_up(tmp_path_factory.mktemp("tiered"), TIERED, monkeypatch,
                          env={"ORCHESTRATOR_SANDBOX_BULK_RATIO": BULK_RATIO}) as site:
        yield site


def newest_snapshot(site: EmbeddedSite) -> Path:
    return sorted(p for p in site.exports.iterdir() if (p / "SHA256SUMS").exists())[-1]


def listed_files(snapshot: Path) -> list[str]:
    return [line.split(None, 1)[1].lstrip("*") for line in (snapshot / "SHA256SUMS").read_text().splitlines()]


def flip_byte(path: Path) -> None:
    """Corrupt (or, called again, repair) a file: one byte in the middle XOR 0xFF."""
    with path.open("r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))


def largest(snapshot: Path, top: str) -> Path:
    return max((p for p in (snapshot / top).rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


@dataclass
class Seen:
    critical: bool
    dns_secondary: bool
    complete: bool


class Watcher:
    """Polls S3 and Route 53 while a run goes: critical marker, then the records, then the complete
    marker, in that order within each look (so 'critical present, then records at primary' proves the
    marker came first, and 'records at secondary, then complete absent' proves the cutover came first)."""

    def __init__(self, site: EmbeddedSite):
        self.site, self.seen = site, []
        self.s3, self.r53 = site.client("s3"), site.client("route53")
        data = site.site
        self.bucket, self.zone = data["backup"]["bucket"], data["dns"]["zone_id"]
        self.prefix = data["backup"]["prefix"] + newest_snapshot(site).name + "/"
        record = data["dns"]["records"][0]
        self.name, self.secondary = record["name"], record["secondary"]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def exists(self, key: str) -> bool:
        return self.s3.list_objects_v2(Bucket=self.bucket, Prefix=key).get("KeyCount", 0) > 0

    def at_secondary(self) -> bool:
        sets = self.r53.list_resource_record_sets(HostedZoneId=self.zone)["ResourceRecordSets"]
        values = [v["Value"] for r in sets if r["Name"] == self.name for v in r.get("ResourceRecords", [])]
        return values == [self.secondary]

    def look(self) -> Seen:
        critical = self.exists(self.prefix + CRITICAL)
        secondary = self.at_secondary()
        return Seen(critical, secondary, self.exists(self.prefix + COMPLETE))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen.append(self.look())

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def start_cli(site: EmbeddedSite, state_dir: Path, *args: str) -> subprocess.Popen:
    env = {**site.env, "ORCHESTRATOR_STATE_DIR": str(state_dir)}
    return subprocess.Popen([sys.executable, "-m", "orchestrator", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def only_report(state_dir: Path) -> dict:
    return json.loads(next((state_dir / "reports").glob("*/report.json")).read_text())


def versions_per_key(site: EmbeddedSite, prefix: str) -> dict[str, int]:
    """How many times each key was written (the restore bucket is versioned)."""
    s3, counts = site.client("s3"), {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=site.site["backup"]["bucket"], Prefix=prefix):
        for version in page.get("Versions", []):
            counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


def test_cutover_after_the_critical_marker_and_before_the_complete_marker(tiered_site, tmp_path):
    """S3 and Route 53 show the order: critical marker, then the cutover, then the complete marker; the
    run exits 0 only once the bulk is done, with data_restored_seconds after rto_seconds."""
    state_dir = tmp_path / "state"
    with Watcher(tiered_site) as watcher:
        run = start_cli(tiered_site, state_dir, "failover", "--site", str(tiered_site.site_file), "--yes")
        _, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr[-3000:]
    seen = watcher.seen
    assert any(s.critical and not s.dns_secondary for s in seen), "critical marker never seen before the cutover"
    assert any(s.dns_secondary and not s.complete for s in seen), "cutover never seen before the complete marker"
    assert not any(s.complete and not s.critical for s in seen)
    assert seen[-1] == Seen(True, True, True)
    report = only_report(state_dir)
    assert report["status"] == "succeeded"
    assert 0 < report["rto_seconds"] < report["data_restored_seconds"]
    markdown = next((state_dir / "reports").glob("*/report.md")).read_text()
    assert "Data restored:" in markdown


def test_corrupt_bulk_file_keeps_traffic_at_secondary_and_resume_finishes(tiered_site, tmp_path):
    """A corrupt recording: exit 1 naming the bulk step, DNS stays at secondary, the critical marker is
    there and the complete marker is not; once repaired, resume completes without re-sending verified files."""
    snapshot = newest_snapshot(tiered_site)
    bad = largest(snapshot, "recordings")
    flip_byte(bad)
    state_dir = tmp_path / "state"
    watcher = Watcher(tiered_site)
    result = cli(tiered_site, state_dir, "failover", "--site", str(tiered_site.site_file), "--yes")
    assert result.returncode == 1, result.stderr[-3000:]
    assert watcher.look() == Seen(critical=True, dns_secondary=True, complete=False)
    report = only_report(state_dir)
    assert report["status"] == "failed" and "restore-bulk" in report["error"] and "sha256" in report["error"]
    relpath = bad.relative_to(snapshot).as_posix()
    assert not watcher.exists(watcher.prefix + relpath)  # never at its final key
    before = versions_per_key(tiered_site, watcher.prefix)

    flip_byte(bad)  # the provider fixes the file
    resumed = cli(tiered_site, state_dir, "resume", report["run_id"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert watcher.look() == Seen(critical=True, dns_secondary=True, complete=True)
    after = versions_per_key(tiered_site, watcher.prefix)
    assert all(after[key] == 1 for key in before if not key.endswith((CRITICAL, COMPLETE)))
    assert set(after) == {watcher.prefix + f for f in listed_files(snapshot)} | {
        watcher.prefix + CRITICAL, watcher.prefix + COMPLETE}


def test_corrupt_critical_file_means_no_cutover(tiered_site, tmp_path):
    """A corrupt roster: exit 1, the run rolled back, DNS at primary, neither marker written."""
    snapshot = newest_snapshot(tiered_site)
    flip_byte(snapshot / "agents" / "roster.csv")
    before = aws_state(tiered_site)
    state_dir = tmp_path / "state"
    result = cli(tiered_site, state_dir, "failover", "--site", str(tiered_site.site_file), "--yes")
    assert result.returncode == 1, result.stderr[-3000:]
    watcher = Watcher(tiered_site)
    assert watcher.look() == Seen(critical=False, dns_secondary=False, complete=False)
    assert aws_state(tiered_site)["records"] == before["records"]
    report = only_report(state_dir)
    assert report["status"] == "rolled_back" and "restore-critical" in report["error"]


def test_kill_during_the_bulk_then_resume_resends_no_verified_file(tiered_site, tmp_path):
    """kill -9 while the bulk is under way (critical marker there, some recordings restored, no complete
    marker); resume finishes and every object was written exactly once."""
    state_dir = tmp_path / "state"
    watcher = Watcher(tiered_site)
    run = start_cli(tiered_site, state_dir, "failover", "--site", str(tiered_site.site_file), "--yes")
    deadline = time.monotonic() + 120
    recordings = watcher.prefix + "recordings/"
    while time.monotonic() < deadline:
        if watcher.exists(watcher.prefix + CRITICAL) and watcher.exists(recordings):
            break
        time.sleep(0.02)
    os.kill(run.pid, signal.SIGKILL)
    run.communicate(timeout=30)
    restored_at_kill = [k for k in versions_per_key(tiered_site, recordings)]
    assert restored_at_kill and not watcher.exists(watcher.prefix + COMPLETE)
    run_id = json.loads(cli(tiered_site, state_dir, "status", "--json").stdout)["runs"][0]["run_id"]
    resumed = cli(tiered_site, state_dir, "resume", run_id, "--yes")  # the kill may precede the cutover
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    versions = versions_per_key(tiered_site, watcher.prefix)
    assert all(count == 1 for count in versions.values()), {k: c for k, c in versions.items() if c != 1}
    assert len(versions) == len(listed_files(newest_snapshot(tiered_site))) + 2


def publish_copy_newer(site: EmbeddedSite, snapshot: Path) -> Path:
    """The provider publishes a newer complete snapshot (a copy of ``snapshot`` under a later name)."""
    taken = datetime.strptime(snapshot.name, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    newer = site.exports / max(taken + timedelta(seconds=1), datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    shutil.copytree(snapshot, newer)
    assert newest_snapshot(site) == newer
    return newer


def test_a_resumed_restore_finishes_the_snapshot_it_started_with(tiered_site, tmp_path):
    """A corrupt recording of snapshot A fails the bulk (exit 1, critical marker kept); the provider repairs
    it and publishes a newer snapshot B; `resume RUN` restores the rest of A -- A's complete marker, no object
    of B, no verified file of A sent twice -- instead of switching to B."""
    a = newest_snapshot(tiered_site)
    bad = largest(a, "recordings")
    flip_byte(bad)
    state_dir = tmp_path / "state"
    watcher = Watcher(tiered_site)
    failed = cli(tiered_site, state_dir, "failover", "--site", str(tiered_site.site_file), "--yes")
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert watcher.look() == Seen(critical=True, dns_secondary=True, complete=False)
    run_id = only_report(state_dir)["run_id"]
    before = versions_per_key(tiered_site, watcher.prefix)

    flip_byte(bad)  # repaired
    b = publish_copy_newer(tiered_site, a)
    resumed = cli(tiered_site, state_dir, "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    bucket_prefix = tiered_site.site["backup"]["prefix"]
    assert versions_per_key(tiered_site, f"{bucket_prefix}{b.name}/") == {}
    assert watcher.look() == Seen(critical=True, dns_secondary=True, complete=True)
    after = versions_per_key(tiered_site, watcher.prefix)
    assert all(after[key] == 1 for key in before)  # the critical marker and every verified file: written once
    assert set(after) == {watcher.prefix + f for f in listed_files(a)} | {
        watcher.prefix + CRITICAL, watcher.prefix + COMPLETE}
    status = json.loads(cli(tiered_site, state_dir, "status", run_id, "--json").stdout)["runs"][0]
    bulk = next(step for step in status["steps"] if step["id"] == "restore-bulk")
    assert bulk["status"] == "succeeded"


def test_a_critical_pattern_matching_no_file_is_not_ready_and_no_failover_starts(tiered_site, tmp_path):
    """backup.critical ["nomatch/**", "Agents/**"] (a case typo: the snapshot has agents/): readiness is not
    ready (exit 4) naming both patterns; the failover refuses before any change -- no milestone, no object,
    DNS, seats and tunnels as they were, no run journaled -- exit 4 naming them and the site file."""
    data = tiered_site.site
    data["backup"]["critical"] = ["nomatch/**", "Agents/**"]
    site_file = tmp_path / "site-typo.json"
    site_file.write_text(json.dumps(data))
    state_dir = tmp_path / "state"
    named = ("backup.critical[0] 'nomatch/**'", "backup.critical[1] 'Agents/**'")

    ready = cli(tiered_site, state_dir, "readiness", "--site", str(site_file), "--json")
    assert ready.returncode == 4, ready.stderr[-3000:]
    answer = json.loads(ready.stdout)
    assert answer["ready"] is False and "backup.critical" in answer["blocking_failures"]
    detail = next(c["detail"] for c in answer["checks"] if c["name"] == "backup.critical")
    assert all(name in detail for name in named) and newest_snapshot(tiered_site).name in detail
    table = cli(tiered_site, state_dir, "readiness", "--site", str(site_file))
    assert table.returncode == 4 and "nomatch/**" in table.stdout and "NOT READY" in table.stdout

    queue = subscribe_queue(tiered_site)
    before = aws_state(tiered_site)
    refused = cli(tiered_site, state_dir, "failover", "--site", str(site_file), "--yes")
    assert refused.returncode == 4, refused.stderr[-3000:]
    assert all(name in refused.stderr for name in named) and str(site_file) in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert aws_state(tiered_site) == before and before["keys"] == []
    assert drain(tiered_site, queue) == []
    assert json.loads(cli(tiered_site, state_dir, "status", "--json").stdout)["runs"] == []


def test_without_backup_critical_the_restore_is_todays(tiered_site, tmp_path):
    """No backup.critical: every file and then _RESTORE_COMPLETE.json before the cutover, no critical
    marker at all, one restore gating the DNS change."""
    data = tiered_site.site
    del data["backup"]["critical"]
    site_file = tmp_path / "site-untiered.json"
    site_file.write_text(json.dumps(data))
    state_dir = tmp_path / "state"
    with Watcher(tiered_site) as watcher:
        result = cli(tiered_site, state_dir, "failover", "--site", str(site_file), "--yes")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not any(s.dns_secondary and not s.complete for s in watcher.seen)
    assert any(s.complete and not s.dns_secondary for s in watcher.seen)
    keys = set(versions_per_key(tiered_site, watcher.prefix))
    snapshot = newest_snapshot(tiered_site)
    assert keys == {watcher.prefix + f for f in listed_files(snapshot)} | {watcher.prefix + COMPLETE}
    report = only_report(state_dir)
    assert report["status"] == "succeeded" and report["data_restored_seconds"] <= report["rto_seconds"]


def test_readiness_shows_the_critical_restore_estimate(tiered_site, tmp_path):
    """readiness --json carries the estimate: the critical tier's bytes (a fraction of the bulk's), a
    measured throughput and whether it fits the RTO objective."""
    result = cli(tiered_site, tmp_path / "state", "readiness", "--site", str(tiered_site.site_file), "--json")
    estimate = json.loads(result.stdout)["restore_estimate"]
    assert estimate["tiered"] is True and estimate["bulk_bytes"] > 30 * estimate["critical_bytes"] > 0
    assert estimate["throughput_source"] == "probe" and estimate["holds"] is True


@pytest.mark.parametrize(
    ("critical", "location", "expected"),
    [
        ("roster/**", "backup.critical", "valid list"),
        (["roster/**", ""], "backup.critical[1]", "empty string"),
        (["/exports/roster/**"], "backup.critical[0]", "absolute"),
        (["ivr/../../etc/*"], "backup.critical[0]", "'..'"),
    ],
)
def test_bad_critical_patterns_exit_2_naming_the_entry(tmp_path, critical, location, expected):
    """A backup.critical that is not a list, or holds an empty, absolute or escaping pattern: exit 2,
    the file and backup.critical[i] named, nothing run."""
    data = json.loads(Path(SITE).read_text())
    data["backup"]["critical"] = critical
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(data))
    result = subprocess.run([sys.executable, "-m", "orchestrator", "--state-dir", str(tmp_path / "state"),
                             "failover", "--site", str(site_file), "--dry-run"],
                            capture_output=True, text=True, cwd=REPO, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert f"{site_file}:{location}" in result.stderr and expected in result.stderr
    assert not (tmp_path / "state" / "journal.sqlite").exists()
