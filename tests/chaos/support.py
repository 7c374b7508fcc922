"""Shared pieces of the chaos suite: trial counts (fast under `make test`, full under `make chaos`),
an embedded site kept for a whole module and put back to its warm state between trials, and readers
for what the proxy counted, the journal and the audit log."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import yaml

from orchestrator.backup.contract import RESERVED_NAMES
from orchestrator.sandbox import fake_swanctl
from orchestrator.sandbox import site as embedded
from tests.fixtures.sandbox import EmbeddedSite
from tests.helpers import REPO
from tests.support import awsproxy

#: the fake appliance: the chaos tests configure it (latency, modes) and read its state
SMALL = dict(size_mb=12, days=3, files=24, seats=10, appliance="fake", connect=False)  # a SIP/DNS site
#: latency the shared chaos site injects, so that each wait takes real time and a kill can land inside it
LATENCY = {"insync_seconds": 1.5, "inservice_seconds": 2.0, "tunnel_seconds": 1.0}


def trials(config, fast: int, full: int) -> int:
    """How many trials a chaos test runs: ``fast`` in the default run, ``full`` with --chaos-full."""
    return full if config.getoption("--chaos-full") else fast


def seeded(name: str, config) -> tuple[int, random.Random]:
    """A seed for this test and its generator: CHAOS_SEED=N when set (to replay a failure); else a fixed
    seed per test in the default run (a flaky test is a failing test), a fresh random one under
    --chaos-full. Printed either way."""
    import os
    import zlib

    if os.environ.get("CHAOS_SEED"):
        seed = int(os.environ["CHAOS_SEED"])
    elif config.getoption("--chaos-full"):
        seed = random.SystemRandom().randrange(1, 10**6)
    else:
        seed = zlib.crc32(name.encode()) % 10**6
    print(f"{name}: seed={seed} (replay with CHAOS_SEED={seed})")
    return seed, random.Random(seed)


@contextlib.contextmanager
def site_up(folder: Path, **options) -> Iterator[EmbeddedSite]:
    """An embedded site built with ``SandboxOptions(**SMALL, **options)``; every process stopped after."""
    state = embedded.up(folder, embedded.SandboxOptions(**{**SMALL, **options}), front=awsproxy.start_process)
    try:
        yield EmbeddedSite(folder, state)
    finally:
        embedded.down(folder)


def proxy_endpoint(site: EmbeddedSite) -> str:
    return site.state["proxy"]["endpoint"]


def proxy_stats(site: EmbeddedSite) -> dict:
    return awsproxy.fetch_stats(proxy_endpoint(site))


def back_to_warm(site: EmbeddedSite, warm_group: dict) -> None:
    """Undo a failover straight in moto (no proxy): records at primary, the seats group as it was, the
    bucket empty (uploads aborted), the appliance without SAs, the proxy's counters zeroed."""
    data = site.site
    changes = [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": r["name"], "Type": r["type"], "TTL": r["ttl"],
        "ResourceRecords": [{"Value": v} for v in ([r["primary"]] if isinstance(r["primary"], str) else r["primary"])]}}
        for r in data["dns"]["records"]]
    site.client("route53").change_resource_record_sets(HostedZoneId=data["dns"]["zone_id"],
                                                       ChangeBatch={"Changes": changes})
    site.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=warm_group["AutoScalingGroupName"], MinSize=warm_group["MinSize"],
        DesiredCapacity=warm_group["DesiredCapacity"])
    s3, bucket = site.client("s3"), data["backup"]["bucket"]
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    keys = [{"Key": o["Key"]} for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    if keys:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    fake_swanctl.reset(site.appliance_dir)
    if "proxy" in site.state:
        awsproxy.reset_stats(proxy_endpoint(site))


def seats_group(site: EmbeddedSite) -> dict:
    name = site.site["seats"]["asg_name"]
    return site.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def fast_runbook(folder: Path, poll: float = 0.25) -> Path:
    """runbooks/failover.yaml with every wait polling every ``poll`` seconds (production polls every
    2-10 s, which only stretches the tests: the steps and their order are unchanged)."""
    book = yaml.safe_load((REPO / "runbooks" / "failover.yaml").read_text())
    for step in book["steps"]:
        if "poll_interval_seconds" in (step.get("with") or {}):
            step["with"]["poll_interval_seconds"] = poll
    path = folder / "failover-fast.yaml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    return path


def audit_events(state_dir: Path, run_id: str | None = None) -> list[dict]:
    out = []
    for path in sorted(state_dir.glob(f"runs/{run_id or '*'}/audit.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def run_ids(state_dir: Path) -> list[str]:
    return sorted(p.name for p in state_dir.glob("runs/*") if p.is_dir())


def step_statuses(state_dir: Path, run_id: str) -> dict[str, str]:
    """step id -> status, read straight from the SQLite journal (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{state_dir / 'journal.sqlite'}?mode=ro", uri=True)) as db:
        columns = [c[1] for c in db.execute("PRAGMA table_info(steps)")]
        rows = db.execute("SELECT * FROM steps WHERE run_id = ?", (run_id,)).fetchall()
    return {row[columns.index("step_id")]: row[columns.index("status")] for row in rows}


def corrupt_objects(site: EmbeddedSite) -> list[str]:
    """Keys under the restore prefix whose bytes do not hash to the snapshot's SHA256SUMS entry."""
    data, s3 = site.site, site.client("s3")
    bucket, prefix = data["backup"]["bucket"], data["backup"]["prefix"]
    bad = []
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        key = item["Key"]
        snapshot, _, rel = key[len(prefix):].partition("/")
        if rel in RESERVED_NAMES:  # the markers are not snapshot files
            continue
        sums = site.exports / snapshot / "SHA256SUMS"
        wanted = {line.split(None, 1)[1].lstrip("*"): line.split(None, 1)[0]
                  for line in sums.read_text().splitlines() if line.strip()}
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if wanted.get(rel) != hashlib.sha256(body).hexdigest():
            bad.append(key)
    return bad


def lock_rows(state_dir: Path) -> list[tuple]:
    """Every row of the journal's lock table (empty when no run holds a site)."""
    with contextlib.closing(sqlite3.connect(f"file:{state_dir / 'journal.sqlite'}?mode=ro", uri=True)) as db:
        return db.execute("SELECT site, run_id, pid FROM locks").fetchall()


def run_status(state_dir: Path, run_id: str) -> str:
    """The run's status in the SQLite journal (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{state_dir / 'journal.sqlite'}?mode=ro", uri=True)) as db:
        return db.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0]
