"""Restore throughput: our ``backup.restore`` pipeline vs rclone (sftp -> s3) vs OpenSSH sftp (to disk).

Over each link of ``--link-rtt-ms`` (default ``0,30``): 0 is plain loopback; N > 0 puts a user-space TCP
delay proxy (bench/delayproxy.py, N/2 ms each way, its own process) in front of the sshd, and **every
tool of that link connects through it** (our SFTP and rclone's alike); S3 (moto) stays local, as the
secondary site's S3 is to a restore running in AWS.

The same backup set (default 6 x 128 MiB + 1000 x 64 KiB, smaller with flags) is written as a complete
snapshot on the embedded site's SFTP account (real OpenSSH sshd); each tool copies it to the moto S3
bucket (OpenSSH ``sftp``: to local disk, the SFTP-only ceiling; boto3 from a local copy: the S3-side
ceiling). Every tool runs as its own process under ``/usr/bin/time -v`` (wall, user+sys CPU-s, peak
RSS); the moto server's own CPU-s are read from /proc. Tools alternate within a round, medians are
reported, and the objects are deleted between runs (outside the timing).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import PYTHON, REPO, Measured, embedded_site, measure, median, process_cpu_seconds, table
from orchestrator.backup.sha256sums import format_sha256sums

RCLONE_TUNED = ["--transfers", "8", "--checkers", "16", "--sftp-concurrency", "128",
                "--s3-upload-concurrency", "8", "--s3-chunk-size", "16M"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--large", type=int, default=None, help="large files (full: 6)")
    parser.add_argument("--large-mib", type=int, default=None, help="size of each large file (full: 128)")
    parser.add_argument("--small", type=int, default=None, help="small files (full: 1000)")
    parser.add_argument("--small-kib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=None, help="rounds (each tool once per round)")
    parser.add_argument("--tools", default="ours,rclone,rclone-tuned,sftp,s3-ceiling",
                        help="comma list of: ours, rclone, rclone-tuned, sftp, sftp-R256, s3-ceiling")
    parser.add_argument("--workers", type=int, default=4, help="our pipeline's workers (the runbook's value)")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="passed to bench.restore_once (tuning experiments)")
    parser.add_argument("--link-rtt-ms", default="0,30",
                        help="comma list of round trips to restore over: 0 = loopback, N = the delay proxy")
    parser.add_argument("--link-rate-mbit", type=float, default=0.0,
                        help="bandwidth cap of the delay proxy, per direction (0: none)")


def sizes(args: argparse.Namespace, full: bool) -> tuple[int, int, int, int, int]:
    large = args.large if args.large is not None else (6 if full else 2)
    large_mib = args.large_mib if args.large_mib is not None else (128 if full else 64)
    small = args.small if args.small is not None else (1000 if full else 200)
    runs = args.runs if args.runs is not None else (3 if full else 1)
    return large, large_mib, small, args.small_kib, runs


def write_backup_set(exports: Path, large: int, large_mib: int, small: int, small_kib: int) -> tuple[str, int]:
    """A complete snapshot (newer than the seeded ones) with its SHA256SUMS; returns (name, bytes)."""
    import hashlib

    name = (datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)).strftime("%Y%m%dT%H%M%SZ")
    base = exports / name
    rng = random.Random(7)
    block = rng.randbytes(4 << 20)
    sums, total = [], 0

    def write(rel: str, size: int, seed: int) -> None:
        nonlocal total
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with path.open("wb") as handle:
            offset, left = seed % len(block), size
            while left:
                take = min(left, len(block) - offset)
                chunk = block[offset: offset + take]
                handle.write(chunk)
                digest.update(chunk)
                left -= take
                offset = (offset + take + 4099) % len(block)
        sums.append((rel, digest.hexdigest()))
        total += size

    for i in range(large):
        write(f"recordings/large-{i:02d}.wav", large_mib << 20, i * 65537)
    for i in range(small):
        write(f"crm/part-{i // 100:02d}/record-{i:05d}.json", small_kib << 10, i * 8191)
    (base / "SHA256SUMS").write_text(format_sha256sums(sorted(sums)))
    for path in [base, *base.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return name, total


class Tools:
    """The command line of each tool against one snapshot; cleans up what it made."""

    def __init__(self, state: dict, snapshot: str, workdir: Path, args: argparse.Namespace, port: int | None = None):
        from orchestrator.adapters import Services
        from orchestrator.site import load_site

        self.state, self.snapshot, self.workdir, self.args = state, snapshot, workdir, args
        self.site = load_site(state["site_file"])
        self.services = Services(self.site)
        sftp = self.site.backup.sftp
        self.port = port or sftp.port  # the delay proxy's when the link has one
        self.remote_dir = f"{sftp.path.rstrip('/')}/{snapshot}"
        self.key_file = workdir / "id_backup"
        self.key_file.write_text(self.services.secrets.ssh_private_key(sftp))
        self.key_file.chmod(0o600)
        self.known_hosts = workdir / "known_hosts"
        self.known_hosts.write_text(f"[{sftp.host}]:{self.port} {sftp.host_key}\n")
        self.bucket = self.site.backup.bucket
        self.env = dict(os.environ)
        self.env.pop("AWS_CA_BUNDLE", None)
        (workdir / "rclone.conf").write_text("")
        endpoint = state["moto"]["endpoint"]
        self.env.update({
            "RCLONE_CONFIG": str(workdir / "rclone.conf"),
            "RCLONE_CONFIG_SRC_TYPE": "sftp",
            "RCLONE_CONFIG_SRC_HOST": sftp.host,
            "RCLONE_CONFIG_SRC_PORT": str(self.port),
            "RCLONE_CONFIG_SRC_USER": sftp.username,
            "RCLONE_CONFIG_SRC_KEY_FILE": str(self.key_file),
            "RCLONE_CONFIG_SRC_KNOWN_HOSTS_FILE": str(self.known_hosts),
            "RCLONE_CONFIG_DST_TYPE": "s3",
            "RCLONE_CONFIG_DST_PROVIDER": "Other",
            "RCLONE_CONFIG_DST_ACCESS_KEY_ID": "testing",
            "RCLONE_CONFIG_DST_SECRET_ACCESS_KEY": "testing",
            "RCLONE_CONFIG_DST_ENDPOINT": endpoint,
            "RCLONE_CONFIG_DST_REGION": self.site.region,
            "RCLONE_CONFIG_DST_FORCE_PATH_STYLE": "true",
        })

    def command(self, tool: str, prefix: str) -> list[str]:
        if tool == "ours":
            extra = [f"--option={o}" for o in self.args.option]
            return [PYTHON, "-m", "bench.restore_once", "--site", self.state["site_file"], "--snapshot",
                    self.snapshot, "--prefix", prefix, "--workers", str(self.args.workers),
                    "--sftp-port", str(self.port), *extra]
        if tool in ("rclone", "rclone-tuned"):
            tuned = RCLONE_TUNED if tool == "rclone-tuned" else []
            return ["rclone", "copy", f"src:{self.remote_dir}", f"dst:{self.bucket}/{prefix}{self.snapshot}",
                    *tuned]
        if tool.startswith("sftp"):
            batch = self.workdir / "sftp.batch"
            local = self.workdir / "sftp-out"
            batch.write_text(f"get -r {self.remote_dir} {local}\n")
            requests = ["-R", "256"] if tool == "sftp-R256" else []
            sftp = self.site.backup.sftp
            return ["sftp", "-q", *requests, "-b", str(batch), "-i", str(self.key_file), "-P", str(self.port),
                    "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                    "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", f"{sftp.username}@{sftp.host}"]
        if tool == "s3-ceiling":
            return [PYTHON, "-m", "bench.s3_ceiling", str(Path(self.state["exports"]) / self.snapshot),
                    self.bucket, f"{prefix}{self.snapshot}/"]
        raise ValueError(f"unknown tool {tool}")

    def run(self, tool: str) -> tuple[Measured, float]:
        prefix = f"bench-{tool}-{uuid.uuid4().hex[:8]}/"
        moto_pid = self.state["moto"]["pid"]
        before = process_cpu_seconds(moto_pid)
        try:
            result = measure(self.command(tool, prefix), env=self.env, cwd=REPO)
            moto_cpu = process_cpu_seconds(moto_pid) - before
        finally:
            self.cleanup(prefix)
        return result, moto_cpu

    def startup_cpu(self) -> float:
        """CPU-s of our process doing everything but the transfer (interpreter, imports, site, SSH
        connection, listing + manifest): the fixed part of "ours" (rclone's is a Go binary's)."""
        argv = [*self.command("ours", "unused/"), "--manifest-only"]
        return measure(argv, env=self.env, cwd=REPO).cpu

    def cleanup(self, prefix: str) -> None:
        shutil.rmtree(self.workdir / "sftp-out", ignore_errors=True)
        reset_s3(self.state["moto"]["endpoint"], self.site, self.key_file.read_text())

    def close(self) -> None:
        self.services.close()


def reset_s3(endpoint: str, site, private_key: str) -> None:
    """Empty the moto server and put back what a restore needs (the bucket, the SFTP key secret).

    Deleting the objects is not enough: moto 5.2.5 keeps every deleted object's (and multipart part's)
    spooled temp file open, ~4 GB per restore of the full set, until the disk is full. A reset frees
    them; the rest of the embedded site (DNS, seats, VPN) is not needed by this benchmark.
    """
    import urllib.request

    import boto3

    if not endpoint.startswith("http://127.0.0.1:"):
        raise ValueError(f"not the embedded site's moto server: {endpoint}")
    request = urllib.request.Request(endpoint.rstrip("/") + "/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        answer.read()
    boto3.client("s3", region_name=site.region).create_bucket(
        Bucket=site.backup.bucket, CreateBucketConfiguration={"LocationConstraint": site.region})
    boto3.client("secretsmanager", region_name=site.region).create_secret(
        Name=site.backup.sftp.private_key_secret, SecretString=private_key)


LABELS = {
    "ours": "ours: backup.restore pipeline (sha256 on)",
    "rclone": "rclone copy sftp->s3, defaults (md5 check on)",
    "rclone-tuned": "rclone copy sftp->s3, tuned",
    "sftp": "OpenSSH sftp get -r -> local disk (defaults)",
    "sftp-R256": "OpenSSH sftp -R 256 get -r -> local disk",
    "s3-ceiling": "boto3 upload of a local copy -> moto, 4 workers",
}


@contextlib.contextmanager
def delay_proxy(upstream: tuple[str, int], rtt_ms: float, rate_mbit: float) -> Iterator[int]:
    """bench.delayproxy in its own process (its CPU is no tool's) in front of ``upstream``; yields its port."""
    argv = [PYTHON, "-m", "bench.delayproxy", "--upstream", f"{upstream[0]}:{upstream[1]}",
            "--delay-ms", str(rtt_ms / 2), "--rate-mbit", str(rate_mbit)]
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if "listening on" not in line:
            raise RuntimeError(f"the delay proxy did not start: {line!r}")
        yield int(line.split()[-1].rsplit(":", 1)[1])
    finally:
        process.terminate()
        process.wait(10)


def links(args: argparse.Namespace) -> list[float]:
    return [float(x) for x in str(args.link_rtt_ms).split(",") if x.strip()]


def run(args: argparse.Namespace, full: bool = False) -> dict:
    large, large_mib, small, small_kib, runs = sizes(args, full)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    rtts = links(args)
    with embedded_site(size_mb=1.0, days=1, files=6) as state, \
            tempfile.TemporaryDirectory(prefix="ccdr-bench-restore-") as tmp:
        snapshot, total = write_backup_set(Path(state["exports"]), large, large_mib, small, small_kib)
        print(f"\n== Restore throughput: {large} x {large_mib} MiB + {small} x {small_kib} KiB = {total / 1e6:.0f} MB, "
              f"{runs} round(s), medians; links (RTT ms): {', '.join(f'{r:g}' for r in rtts)} ==")
        results = {}
        for rtt in rtts:
            results[link_name(rtt)] = run_link(args, state, snapshot, total, Path(tmp), tools, runs, rtt)
    out = {"bytes": total, "files": large + small, "runs": runs, "links": results}
    if "loopback" in results:
        out["figures"] = results["loopback"]["figures"]  # the loopback figures under their old name
    print(side_by_side(results))
    return out


def link_name(rtt: float) -> str:
    return "loopback" if rtt == 0 else f"rtt{rtt:g}ms"


def run_link(args: argparse.Namespace, state: dict, snapshot: str, total: int, tmp: Path, tools: list[str],
             runs: int, rtt: float) -> dict:
    from orchestrator.site import load_site

    sftp = load_site(state["site_file"]).backup.sftp
    with contextlib.ExitStack() as stack:
        port = None
        if rtt > 0:
            port = stack.enter_context(delay_proxy((sftp.host, sftp.port), rtt, args.link_rate_mbit))
        workdir = tmp / link_name(rtt)
        workdir.mkdir()
        bench_tools = Tools(state, snapshot, workdir, args, port=port)
        samples: dict[str, list[tuple[Measured, float]]] = {t: [] for t in tools}
        try:
            for _ in range(runs):
                for tool in tools:
                    samples[tool].append(bench_tools.run(tool))
            startup = bench_tools.startup_cpu() if "ours" in tools else None
        finally:
            bench_tools.close()
    figures = summarize(samples, tools, total)
    if startup is not None:
        ours = figures["ours"]
        ours["startup_cpu_s"] = startup
        ours["cpu_s_per_gb_after_startup"] = (ours["cpu_s"] - startup) / (total / 1e9)
    rows = [[LABELS[t], f["mb_per_s"], f["wall_s"], f["cpu_s"], f["cpu_s_per_gb"], f["peak_rss_mb"], f["moto_cpu_s"],
             f["ratio_to_rclone"]] for t, f in figures.items()]
    where = "loopback" if rtt == 0 else f"through the delay proxy, {rtt:g} ms RTT" + (
        f", {args.link_rate_mbit:g} Mbit/s" if args.link_rate_mbit else "")
    print(table(f"Restore {total / 1e6:.0f} MB, {where}",
                ["tool", "MB/s", "wall (s)", "client CPU-s", "CPU-s/GB", "peak RSS (MB)", "moto CPU-s", "x rclone"],
                rows))
    if startup is not None:
        print(f"ours: {startup:.2f} CPU-s of start-up (interpreter, imports, site, connection, listing: "
              f"`bench.restore_once --manifest-only`); "
              f"{figures['ours']['cpu_s_per_gb_after_startup']:.2f} CPU-s/GB after it")
    return {"rtt_ms": rtt, "figures": figures}


def summarize(samples: dict[str, list[tuple[Measured, float]]], tools: list[str], total: int) -> dict:
    figures = {}
    for tool in tools:
        walls = [m.wall for m, _ in samples[tool]]
        wall = median(walls)
        cpu = median([m.cpu for m, _ in samples[tool]])
        figures[tool] = {
            "mb_per_s": total / wall / 1e6,
            "wall_s": wall,
            "walls": walls,
            "cpu_s": cpu,
            "cpu_s_per_gb": cpu / (total / 1e9),
            "peak_rss_mb": max(m.max_rss_mb for m, _ in samples[tool]),
            "moto_cpu_s": median([c for _, c in samples[tool]]),
        }
    reference = figures.get("rclone", {}).get("mb_per_s")
    for f in figures.values():
        f["ratio_to_rclone"] = f["mb_per_s"] / reference if reference else float("nan")
    return figures


#: the goals of issue 14, per link: (ours / rclone speed at least, ours / rclone CPU-s per GB at most)
GOALS = {"loopback": 1.25, "rtt30ms": 1.5}


def side_by_side(results: dict) -> str:
    """Ours vs rclone defaults on every link, from this run: speed ratio and CPU-s per GB."""
    rows = []
    for name, link in results.items():
        f = link["figures"]
        if "ours" not in f or "rclone" not in f:
            continue
        ours, rclone = f["ours"], f["rclone"]
        speed = ours["mb_per_s"] / rclone["mb_per_s"]
        cpu = ours["cpu_s_per_gb"] / rclone["cpu_s_per_gb"]
        goal = GOALS.get(name)
        rows.append([name, ours["mb_per_s"], rclone["mb_per_s"], speed,
                     f">= {goal}: {'met' if speed >= goal else 'BELOW'}" if goal else "-",
                     ours["cpu_s_per_gb"], rclone["cpu_s_per_gb"], cpu, f"<= 1: {'met' if cpu <= 1 else 'ABOVE'}",
                     ours.get("cpu_s_per_gb_after_startup", float("nan"))])
        link["ours_vs_rclone"] = {"speed": speed, "cpu_per_gb": cpu}
    if not rows:
        return ""
    return table("Ours vs rclone defaults, side by side (one run)",
                 ["link", "ours MB/s", "rclone MB/s", "speed x", "goal", "ours CPU-s/GB", "rclone CPU-s/GB",
                  "CPU x", "goal", "ours CPU-s/GB after start-up"], rows)
