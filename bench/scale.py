"""Scale: how time and memory grow with the size of the site (should be linear or better).

On one embedded site (with its AWS proxy, which counts the calls that reach moto), each dimension runs
the real CLI (``orchestrator failover --runbook ONE-STEP.yaml --yes``) against a site file grown to the
size, under ``/usr/bin/time -v`` (peak RSS), and reads the step's own duration from report.json:

* Route 53 cutover of 10 / 100 / 1000 records (``dns.cutover``: API calls and time; one ChangeBatch,
  split only at Route 53's limits);
* seats from warm 2 to 10 / 100 / 1000 (``seats.scale_up``: time until that many are InService);
* snapshots of 10 / 1000 / 100 000 files (listing + manifest, restore: time and peak RSS; tiny files;
  the short default restores 10 000 and lists 100 000, ``--full`` restores 100 000 too);
* the engine with 10 / 100 / 1000 no-op steps (chain; journal included).

Growth factor = time(largest) / time(smallest) against size(largest) / size(smallest).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import boto3

from bench.common import PYTHON, REPO, embedded_site, measure, table
from orchestrator.backup.sha256sums import format_sha256sums

ORCH = str(REPO / ".venv" / "bin" / "orchestrator")


def add_arguments(parser) -> None:
    parser.add_argument("--scale-dims", default="dns,seats,snapshot,engine",
                        help="comma list of: dns, seats, snapshot, engine")
    parser.add_argument("--restore-max-files", type=int, default=None,
                        help="restore snapshots up to this many files (default 10 000; --full: 100 000); "
                             "larger ones are listed only")


def _runbook(path: Path, step_id: str, uses: str, params: dict) -> Path:
    path.write_text(json.dumps({"name": f"scale-{step_id}", "kind": "failover", "defaults": {"retry": "aws"},
                                "steps": [{"id": step_id, "uses": uses, "with": params}]}))
    return path


def _cli(state: dict, site_file: Path, runbook: Path, workdir: Path) -> tuple[dict, float, float]:
    """Run the one-step failover; (report, step seconds, peak RSS MB)."""
    reports = workdir / "reports"
    argv = [ORCH, "--state-dir", str(workdir / "state"), "--report-dir", str(reports), "--log-format", "json",
            "failover", "--site", str(site_file), "--runbook", str(runbook), "--yes"]
    result = measure(argv, cwd=REPO, check=False, timeout=1800)
    found = sorted(reports.glob("*/report.json"), key=lambda p: p.stat().st_mtime)
    if result.exit_code != 0 or not found:
        moto_log = Path(state["moto"].get("log_file") or "/dev/null").read_text(errors="replace")
        errors = [line for line in moto_log.splitlines() if " 200 " not in line][-15:]
        raise RuntimeError(f"failover exited {result.exit_code}: {result.stderr[-2000:]}\nmoto: {errors}")
    report = json.loads(found[-1].read_text())
    return report, float(report["steps"][0]["duration_seconds"]), result.max_rss_mb


def _proxy_calls(state: dict) -> dict:
    from tests.support import awsproxy

    return awsproxy.fetch_stats(state["proxy"]["endpoint"])["calls"]


def _reset_calls(state: dict) -> None:
    from tests.support import awsproxy

    awsproxy.reset_stats(state["proxy"]["endpoint"])


def dns(state: dict, site: dict, workdir: Path, sizes: list[int]) -> list[dict]:
    r53 = boto3.client("route53")
    zone_id = site["dns"]["zone_id"]
    zone = r53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"]
    book = _runbook(workdir / "dns.json", "dns-cutover", "dns.cutover",
                    {"timeout_seconds": 600, "poll_interval_seconds": 0.5})
    rows = []
    for n in sizes:
        records = [{"name": f"agent-{n}-{i}.{zone}", "type": "CNAME", "ttl": 60,
                    "primary": f"a{i}.primary.example.net", "secondary": f"a{i}.dr.example.net"} for i in range(n)]
        changes = [{"Action": "UPSERT", "ResourceRecordSet": {"Name": r["name"], "Type": "CNAME", "TTL": 60,
                                                             "ResourceRecords": [{"Value": r["primary"]}]}}
                   for r in records]
        for start in range(0, len(changes), 500):
            r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes[start:start + 500]})
        grown = {**site, "dns": {**site["dns"], "records": records}}
        site_file = workdir / f"site-dns-{n}.json"
        site_file.write_text(json.dumps(grown))
        _reset_calls(state)
        _report, seconds, rss = _cli(state, site_file, book, workdir / f"dns-{n}")
        calls = _proxy_calls(state)
        changes_calls = calls.get("route53.ChangeResourceRecordSets", 0)
        rows.append({"size": n, "seconds": seconds, "peak_rss_mb": rss, "api_calls": sum(calls.values()),
                     "change_batches": changes_calls, "get_change": calls.get("route53.GetChange", 0)})
    return rows


def seats(state: dict, site: dict, workdir: Path, sizes: list[int]) -> list[dict]:
    asg = boto3.client("autoscaling")
    name = site["seats"]["asg_name"]
    book = _runbook(workdir / "seats.json", "seats-up", "seats.scale_up",
                    {"timeout_seconds": 1200, "poll_interval_seconds": 0.5})
    # the stack's subnets are sized for a contact center's seats, not for 1000 more instances (and moto
    # never reuses an address): the group moves to a /19 made for the benchmark
    ec2 = boto3.client("ec2")
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    vpc = ec2.create_vpc(CidrBlock="10.213.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.213.0.0/19",
                               AvailabilityZone=group["AvailabilityZones"][0])["Subnet"]["SubnetId"]
    asg.update_auto_scaling_group(AutoScalingGroupName=name, VPCZoneIdentifier=subnet)
    rows = []
    for n in sizes:
        asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=max(sizes) + 10,
                                      DesiredCapacity=2)
        _wait_capacity(asg, name, 2)
        grown = {**site, "seats": {**site["seats"], "warm": 2, "target": n}}
        site_file = workdir / f"site-seats-{n}.json"
        site_file.write_text(json.dumps(grown))
        _reset_calls(state)
        _report, seconds, rss = _cli(state, site_file, book, workdir / f"seats-{n}")
        calls = _proxy_calls(state)
        rows.append({"size": n, "seconds": seconds, "peak_rss_mb": rss, "api_calls": sum(calls.values())})
    asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, DesiredCapacity=2)
    return rows


def _wait_capacity(asg, name: str, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        if len(group["Instances"]) == n:
            return
        time.sleep(0.2)


def write_tiny_snapshot(exports: Path, name: str, files: int, size: int) -> None:
    base = exports / name
    sums = []
    import hashlib

    for i in range(files):
        rel = f"d{i // 1000:03d}/f{i:06d}.bin"
        path = base / rel
        if i % 1000 == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        data = i.to_bytes(8, "big") * (size // 8)
        path.write_bytes(data)
        sums.append((rel, hashlib.sha256(data).hexdigest()))
    (base / "SHA256SUMS").write_text(format_sha256sums(sums))
    subprocess.run(["chmod", "-R", "a+rX", str(base)], check=True)


def snapshot(state: dict, site: dict, workdir: Path, sizes: list[int], restore_max: int) -> list[dict]:
    from datetime import UTC, datetime, timedelta

    from bench.restore import reset_s3
    from orchestrator.adapters import Services
    from orchestrator.site import load_site

    site_obj = load_site(state["site_file"])
    services = Services(site_obj)
    key = services.secrets.ssh_private_key(site_obj.backup.sftp)
    services.close()
    exports = Path(state["exports"])
    rows = []
    for index, n in enumerate(sizes):
        name = (datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30 - index)).strftime("%Y%m%dT%H%M%SZ")
        write_tiny_snapshot(exports, name, n, 1024)
        listing = measure([PYTHON, "-m", "bench.restore_once", "--site", state["site_file"], "--snapshot", name,
                           "--prefix", "scale/", "--manifest-only"], cwd=REPO)
        row = {"size": n, "manifest_seconds": json.loads(listing.stdout)["manifest_seconds"],
               "manifest_rss_mb": listing.max_rss_mb, "seconds": float("nan"), "peak_rss_mb": float("nan")}
        if n <= restore_max:
            restored = measure([PYTHON, "-m", "bench.restore_once", "--site", state["site_file"], "--snapshot", name,
                                "--prefix", "scale/"], cwd=REPO, timeout=7200)
            row["seconds"] = json.loads(restored.stdout)["seconds"]
            row["peak_rss_mb"] = restored.max_rss_mb
            reset_s3(state["moto"]["endpoint"], site_obj, key)
        rows.append(row)
    return rows


def engine(sizes: list[int]) -> list[dict]:
    from bench.engine_overhead import run_shape

    rows = []
    for n in sizes:
        r = run_shape("chain", n)
        rows.append({"size": n, "seconds": r["run_s"], "peak_rss_mb": r["peak_rss_mb"],
                     "per_step_ms": r["per_step_ms"]})
    return rows


def _growth(rows: list[dict], key: str = "seconds") -> dict:
    done = [r for r in rows if r.get(key) == r.get(key)]  # not nan
    first, last = done[0], done[-1]
    return {"size_growth": last["size"] / first["size"],
            "time_growth": last[key] / first[key] if first[key] else float("nan")}


def run(args: argparse.Namespace, full: bool = False) -> dict:
    dims = [d.strip() for d in args.scale_dims.split(",") if d.strip()]
    out: dict = {}
    print("\n== Scale: time and memory against size ==")
    with tempfile.TemporaryDirectory(prefix="ccdr-bench-scale-") as tmp:
        workdir = Path(tmp)
        if {"dns", "seats", "snapshot"} & set(dims):
            # a tiny latency switches the sandbox's AWS proxy on: it counts the API calls
            with embedded_site(workdir / "site", size_mb=1.0, days=1, files=6, insync_seconds=0.2,
                               inservice_seconds=0.2) as state:
                site = json.loads(Path(state["site_file"]).read_text())
                if "dns" in dims:
                    rows = dns(state, site, workdir, [10, 100, 1000])
                    out["dns"] = {"rows": rows, **_growth(rows)}
                    print(table("Route 53 cutover (dns.cutover step)",
                                ["records", "step (s)", "API calls", "ChangeBatches", "GetChange polls",
                                 "CLI peak RSS (MB)"],
                                [[r["size"], r["seconds"], r["api_calls"], r["change_batches"], r["get_change"],
                                  r["peak_rss_mb"]] for r in rows]))
                if "seats" in dims:
                    rows = seats(state, site, workdir, [10, 100, 1000])
                    out["seats"] = {"rows": rows, **_growth(rows)}
                    print(table("Seats scale-up from 2 (seats.scale_up step)",
                                ["target seats", "step (s)", "API calls", "CLI peak RSS (MB)"],
                                [[r["size"], r["seconds"], r["api_calls"], r["peak_rss_mb"]] for r in rows]))
                if "snapshot" in dims:
                    restore_max = args.restore_max_files or (100_000 if full else 10_000)
                    rows = snapshot(state, site, workdir, [10, 1000, 10_000, 100_000], restore_max)
                    out["snapshot"] = {"rows": rows, **_growth(rows)}
                    listing = _growth(rows, "manifest_seconds")
                    out["snapshot_listing"] = {"rows": rows, **listing}
                    print(table("Snapshot of N files of 1 KiB (listing + manifest; restore to S3)",
                                ["files", "manifest (s)", "manifest peak RSS (MB)", "restore (s)",
                                 "restore peak RSS (MB)", "files/s"],
                                [[r["size"], r["manifest_seconds"], r["manifest_rss_mb"], r["seconds"],
                                  r["peak_rss_mb"], r["size"] / r["seconds"] if r["seconds"] else float("nan")]
                                 for r in rows]))
        if "engine" in dims:
            rows = engine([10, 100, 1000])
            out["engine"] = {"rows": rows, **_growth(rows)}
            print(table("Engine: chain of N no-op steps (journal included)",
                        ["steps", "run (s)", "per step (ms)", "peak RSS (MB)"],
                        [[r["size"], r["seconds"], r["per_step_ms"], r["peak_rss_mb"]] for r in rows]))
    print(table("Growth (largest / smallest)", ["dimension", "size x", "time x"],
                [[k, v["size_growth"], v["time_growth"]] for k, v in out.items()]))
    return out
