"""One restore of one snapshot with our pipeline, as its own process (so /usr/bin/time -v measures it
exactly as it measures rclone): SFTP listing + manifest + RestorePipeline (sha256 verified) + the marker.

    python -m bench.restore_once --site SITE.json --snapshot NAME --prefix PREFIX/ [--workers N] ...

Prints one JSON line: files, bytes, seconds (inside the process), bytes_per_second.
The environment must point boto3 at the site's S3 (``orchestrator sandbox env``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import structlog


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.restore_once")
    parser.add_argument("--site", required=True)
    parser.add_argument("--snapshot", required=True)
    parser.add_argument("--prefix", required=True, help="target prefix inside the site's bucket, ending with /")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--sftp-port", type=int, default=None, help="connect here instead (the delay proxy)")
    parser.add_argument("--part-size-mib", type=int, default=8)
    parser.add_argument("--cipher", default=None, help="prefer this SSH cipher (experiments; paramiko has no chacha20)")
    parser.add_argument("--manifest-only", action="store_true", help="list + manifest only, no transfer")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="a RestorePipeline/SftpBackupSource tuning attribute (experiments)")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    from orchestrator.adapters import Services
    from orchestrator.backup.contract import RestoreTarget
    from orchestrator.backup.pipeline import RestorePipeline
    from orchestrator.backup.source import Snapshot, parse_snapshot_name
    from orchestrator.site import load_site

    if args.cipher:
        from orchestrator.adapters import ssh

        ssh.PREFERRED_CIPHERS = (args.cipher, *(c for c in ssh.PREFERRED_CIPHERS if c != args.cipher))
    started = time.perf_counter()
    site = load_site(args.site)
    if args.sftp_port:
        sftp = site.backup.sftp.model_copy(update={"port": args.sftp_port})
        site = site.model_copy(update={"backup": site.backup.model_copy(update={"sftp": sftp})})
    services = Services(site)
    try:
        source = services.backup_source
        options = dict(item.split("=", 1) for item in args.option)
        for name in [n for n in options if n.startswith("source.")]:
            setattr(source, name.removeprefix("source."), _value(options.pop(name)))
        snapshot = Snapshot(args.snapshot, parse_snapshot_name(args.snapshot), True)
        listed = time.perf_counter()
        files = source.manifest(snapshot)
        manifest_seconds = time.perf_counter() - listed
        if args.manifest_only:
            out = {"files": len(files), "bytes": sum(f.size for f in files), "manifest_seconds": manifest_seconds}
            print(json.dumps(out))
            return out
        target = RestoreTarget(site.backup.bucket, args.prefix)
        pipeline = RestorePipeline(source, services.s3, target, log=structlog.get_logger("bench"),
                                   workers=args.workers, part_size=args.part_size_mib << 20)
        for name, value in options.items():
            setattr(pipeline, name, _value(value))
        result = pipeline.run(snapshot, files)
        services.s3.put_json(site.backup.bucket, target.marker_key(snapshot.name),
                             {"snapshot": snapshot.name, "files": len(result.files), "bytes": result.bytes_total})
    finally:
        services.close()
    seconds = time.perf_counter() - started
    out = {"files": len(result.files), "bytes": result.bytes_total, "pipeline_seconds": result.seconds,
           "manifest_seconds": manifest_seconds,
           "seconds": seconds, "bytes_per_second": result.bytes_total / seconds}
    print(json.dumps(out))
    return out


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


if __name__ == "__main__":
    main()
