"""The bulk tier by 1, 2, 4, 8 restore workers over a WAN-like link (contract 1.2, ``backup.workers``).

For each fleet size N, one fresh embedded site (moto, the provider's real sshd) and:

* the delay proxy (``bench/delayproxy.py``, its own process) in front of the sshd with a round trip and a
  bandwidth cap **per connection** (``--workers-rtt-ms``, ``--workers-rate-mbit``): one TCP flow over a WAN
  is capped by its window and the path, not by the machine; more flows carry more, which is the case for a
  fleet;
* an SQS queue and its dead-letter queue in moto, a copy of the site file whose ``backup.sftp.port`` is the
  proxy's and whose ``backup.workers`` names the queue;
* N ``orchestrator restore-worker`` processes on that site file (each its default 4 download threads);
* one real ``orchestrator failover --yes``; from its report the bulk step's duration (enqueue → every unit
  verified → complete marker).

The reference is the same failover **without** ``backup.workers`` (today's single-process pipeline, 4 download
threads, through the same proxy): its bulk step time, and its CPU. CPU per GB is every process that restores
(the failover process plus the workers), user+sys, over the snapshot's size; the proxy's, moto's and sshd's
CPU is nobody's; the workers' start-up share (CPU-s when each has logged ``worker.started``) is also
shown apart. The workers run with their default options (as ``orchestrator restore-worker --site`` is
typed). On a 2-core machine every worker, sshd and moto share the same cores: past the cores, the
figures show the plateau, not what a fleet of instances gives.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import REPO, embedded_site, median, process_cpu_seconds, table
from bench.restore import delay_proxy
from bench.rto import failover

BULK_STEP = "restore-bulk"
FLEETS = (1, 2, 4, 8)
QUEUE = "bench-restore-work"


def add_arguments(parser) -> None:
    parser.add_argument("--workers-mb", type=float, default=None, help="snapshot size (MB), both tiers")
    parser.add_argument("--workers-runs", type=int, default=None, help="failovers per fleet size")
    parser.add_argument("--workers-fleets", type=str, default=None, help="fleet sizes, e.g. 1,2,4,8")
    parser.add_argument("--workers-rtt-ms", type=float, default=30.0, help="round trip of the link (0: loopback)")
    parser.add_argument("--workers-rate-mbit", type=float, default=16.0,
                        help="bandwidth cap per connection and direction (0: none)")


def _queue(endpoint: str, region: str) -> str:
    """The work queue and its dead-letter queue (3 receives) in moto, as the stack declares them."""
    import boto3

    sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    dlq = sqs.create_queue(QueueName=f"{QUEUE}-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"})
    sqs.create_queue(QueueName=QUEUE, Attributes={"RedrivePolicy": redrive})
    return f"https://sqs.{region}.amazonaws.com/{arn.split(':')[4]}/{QUEUE}"


def _site_through(state: dict, folder: Path, port: int, queue_url: str | None) -> Path:
    """A copy of the sandbox's site file: the provider through the proxy, and the workers' queue (or none)."""
    site = json.loads(Path(state["site_file"]).read_text())
    site["backup"]["sftp"]["port"] = port
    site["backup"].pop("workers", None)
    if queue_url is not None:
        site["backup"]["workers"] = {"queue_url": queue_url}
    path = folder / ("site-workers.json" if queue_url else "site-single.json")
    path.write_text(json.dumps(site, indent=2))
    return path


@contextlib.contextmanager
def _workers(count: int, site_file: Path, folder: Path) -> Iterator[list[subprocess.Popen]]:
    """``count`` restore-worker processes; stopped with SIGTERM (then SIGKILL) after the block."""
    processes = []
    try:
        for index in range(count):
            log = (folder / f"worker-{index}.log").open("ab")
            processes.append(subprocess.Popen(
                [str(REPO / ".venv" / "bin" / "orchestrator"), "restore-worker", "--site", str(site_file),
                 "--log-format", "json", "--retry-after", "5"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=REPO, env=dict(os.environ),
            ))
            log.close()
        _until_started(count, folder)
        yield processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _until_started(count: int, folder: Path, bound: float = 120.0) -> None:
    """Until every worker logged ``worker.started`` (its start-up done: interpreter, imports, the site's
    adapters), so that the CPU read next is each worker's start-up share."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        logs = [folder / f"worker-{index}.log" for index in range(count)]
        if all(p.exists() and b'"worker.started"' in p.read_bytes() for p in logs):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the restore workers did not start within {bound:g}s (see {folder}/worker-*.log)")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one(workers: int, size_mb: float, options: dict, args: argparse.Namespace, workdir: Path) -> dict:
    """One failover with ``workers`` restore workers (0: the single-process pipeline)."""
    with embedded_site(workdir / "site", **options) as state:
        sftp = state["sshd"]
        with delay_proxy(("127.0.0.1", int(sftp["port"])), args.workers_rtt_ms, args.workers_rate_mbit) as port:
            queue = _queue(state["moto"]["endpoint"], state["region"]) if workers else None
            site_file = _site_through(state, workdir, port, queue)
            run_state = dict(state, site_file=str(site_file))
            with _workers(workers, site_file, workdir) as processes:
                startup_cpu = sum(process_cpu_seconds(p.pid) for p in processes)
                cpu_before = _children_cpu()
                report = failover(run_state, workdir, None)
                # the failover process has been reaped (its CPU is in RUSAGE_CHILDREN); the workers still run
                worker_cpu = sum(process_cpu_seconds(p.pid) for p in processes)
                failover_cpu = _children_cpu() - cpu_before
    bulk = next(s for s in report["steps"] if s["id"] == BULK_STEP)
    cpu = failover_cpu + worker_cpu
    bulk_mb = ((bulk.get("outputs") or {}).get("bytes") or 0) / 1e6
    return {"bulk_s": bulk["duration_seconds"], "bulk_mb": bulk_mb, "data_restored_s": report["data_restored_seconds"],
            "cpu_s": cpu, "worker_cpu_s": worker_cpu, "cpu_s_per_gb": cpu / (size_mb / 1000),
            "worker_startup_cpu_s": startup_cpu,
            "cpu_s_per_gb_after_worker_startup": (cpu - startup_cpu) / (size_mb / 1000)}


def run(args: argparse.Namespace, full: bool = False) -> dict:
    size_mb = args.workers_mb if args.workers_mb is not None else (960.0 if full else 240.0)
    runs = args.workers_runs if args.workers_runs is not None else (3 if full else 1)
    fleets = tuple(int(n) for n in args.workers_fleets.split(",")) if args.workers_fleets else FLEETS
    link = ("loopback" if not args.workers_rtt_ms else f"{args.workers_rtt_ms:g} ms RTT") + (
        f", {args.workers_rate_mbit:g} Mbit/s per connection" if args.workers_rate_mbit else ", no cap")
    print(f"\n== the bulk tier by restore workers: {size_mb:.0f} MB snapshot, {link}, fleets {fleets}, "
          f"{runs} run(s) each ==")
    options = {"size_mb": size_mb, "days": 1, "files": 60, "tunnel_seconds": 0.0, "appliance": "fake",
               "connect": False}
    out: dict = {"size_mb": size_mb, "link": link, "fleets": {}}
    with tempfile.TemporaryDirectory(prefix="ccdr-bench-workers-") as tmp:
        for workers in (0, *fleets):
            measured = [one(workers, size_mb, options, args, Path(tmp) / f"w{workers}-{i}") for i in range(runs)]
            out["fleets"][str(workers)] = {
                "runs": measured, **{k: median([m[k] for m in measured])
                                     for k in ("bulk_s", "bulk_mb", "data_restored_s", "cpu_s_per_gb",
                                               "worker_startup_cpu_s", "cpu_s_per_gb_after_worker_startup")}}
            print(f"  {'single process' if not workers else f'{workers} worker(s)'}: "
                  f"bulk {out['fleets'][str(workers)]['bulk_s']:.1f} s", file=sys.stderr)
    print(table(f"bulk restore by N workers ({link}; median of runs)", _header(), _rows(out, size_mb, fleets)))
    print(f"machine: {os.cpu_count()} cores shared by the workers, sshd, moto and the proxy; "
          f"load average at the end {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    return out


def _header() -> list[str]:
    return ["restore by", "bulk step (s)", "bulk MB/s", "x one worker", "CPU-s/GB", "CPU/GB vs single process",
            "workers' start-up CPU-s", "CPU-s/GB after it", "vs single process"]


def _rows(out: dict, size_mb: float, fleets: tuple[int, ...]) -> list[list[object]]:
    single = out["fleets"]["0"]
    one_worker = out["fleets"].get("1", {}).get("bulk_s")
    rows: list[list[object]] = [["single process (today)", single["bulk_s"], single["bulk_mb"] / single["bulk_s"], "—",
                                 single["cpu_s_per_gb"], 1.0, 0.0, single["cpu_s_per_gb"], 1.0]]
    for workers in fleets:
        f = out["fleets"][str(workers)]
        rows.append([f"{workers} worker(s)", f["bulk_s"], f["bulk_mb"] / f["bulk_s"],
                     one_worker / f["bulk_s"] if one_worker else "—", f["cpu_s_per_gb"],
                     f["cpu_s_per_gb"] / single["cpu_s_per_gb"], f["worker_startup_cpu_s"],
                     f["cpu_s_per_gb_after_worker_startup"],
                     f["cpu_s_per_gb_after_worker_startup"] / single["cpu_s_per_gb"]])
    return rows
