"""``python -m bench [all|rto|tiers|restore|scale|engine|workers|detect] [--full] [flags]`` (``make bench ARGS=...``).

Without a name every benchmark runs with a short default (a few minutes on 2 cores); ``--full`` uses
the sizes BENCHMARKS.md records (6 x 128 MiB + 1000 x 64 KiB restore, 3 rounds; 100 000-file snapshot).
``--json FILE`` also writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import structlog

NAMES = ("rto", "tiers", "restore", "scale", "engine", "workers", "detect")


def parser() -> argparse.ArgumentParser:
    from bench import detect, restore, rto, scale, tiers, workers

    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("name", nargs="?", default="all", choices=("all", *NAMES))
    p.add_argument("--full", action="store_true", help="the full sizes (slow); default: a short run")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    rto.add_arguments(p.add_argument_group("rto"))
    tiers.add_arguments(p.add_argument_group("tiers"))
    restore.add_arguments(p.add_argument_group("restore"))
    scale.add_arguments(p.add_argument_group("scale"))
    workers.add_arguments(p.add_argument_group("workers"))
    detect.add_arguments(p.add_argument_group("detect"))
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from bench import detect, engine_overhead, restore, rto, scale, tiers, workers
    from bench.common import dump_json, print_machine

    print_machine()
    names = NAMES if args.name == "all" else (args.name,)
    results: dict = {}
    for name in names:
        if name == "rto":
            results[name] = rto.run(args, full=args.full)
        elif name == "tiers":
            results[name] = tiers.run(args, full=args.full)
        elif name == "restore":
            results[name] = restore.run(args, full=args.full)
        elif name == "scale":
            results[name] = scale.run(args, full=args.full)
        elif name == "workers":
            results[name] = workers.run(args, full=args.full)
        elif name == "detect":
            results[name] = detect.run(args, full=args.full)
        else:
            results[name] = engine_overhead.main()
    if len(names) > 1:
        print(summary(results))
    dump_json(args.json, results)
    return 0


def summary(results: dict) -> str:
    lines = ["\n== Summary: figures and ratios from this run =="]
    if "rto" in results:
        r = results["rto"]
        lines.append(f"RTO / critical path (parallel runbook): {r['parallel']['ratio']:.3f} (goal <= 1.05); "
                     f"sequential RTO / parallel RTO: {r['speedup']:.2f}x")
    if "detect" in results:
        lines.append(f"detection-to-staged / (down_after + staging critical path): {results['detect']['ratio']:.3f}")
    if "tiers" in results:
        lines.append(f"RTO with a bulk tier / critical alone: {results['tiers']['ratio']:.3f} (goal <= 1.1)")
    if "restore" in results:
        from bench.restore import GOALS

        for name, link in results["restore"]["links"].items():
            f = link["figures"]
            if "ours" in f and "rclone" in f:
                ours, rclone, goal = f["ours"], f["rclone"], GOALS.get(name)
                lines.append(
                    f"restore {name}: ours {ours['mb_per_s']:.1f} MB/s, rclone {rclone['mb_per_s']:.1f} MB/s: "
                    f"{ours['ratio_to_rclone']:.2f}x rclone" + (f" (goal >= {goal})" if goal else "")
                    + f"; client CPU-s/GB ours {ours['cpu_s_per_gb']:.2f}, rclone {rclone['cpu_s_per_gb']:.2f}"
                    " (goal: ours <= rclone)")
    if "scale" in results:
        for dim, info in results["scale"].items():
            lines.append(f"scale {dim}: time growth x{info['time_growth']:.1f} for size x{info['size_growth']:.0f}")
    if "engine" in results:
        for r in results["engine"]:
            lines.append(f"engine {r['shape']}: {r['per_step_ms']:.2f} ms/step")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
