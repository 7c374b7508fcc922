"""The S3-side ceiling: boto3 uploads a local copy of the snapshot to the moto server, 4 workers.

    python -m bench.s3_ceiling LOCAL_DIR BUCKET PREFIX/

boto3's TransferManager (upload_file: multipart above 8 MiB, its defaults) on 4 threads, no hashing:
whatever the restore pipeline does, it cannot beat what moto can absorb on this machine.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config


def main(argv: list[str]) -> None:
    local, bucket, prefix = Path(argv[0]), argv[1], argv[2]
    client = boto3.client("s3", config=Config(max_pool_connections=16))
    files = sorted((p for p in local.rglob("*") if p.is_file() and p.name != "SHA256SUMS"),
                   key=lambda p: p.stat().st_size, reverse=True)
    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(client.upload_file, str(p), bucket, prefix + str(p.relative_to(local)))
                       for p in files]:
            future.result()


if __name__ == "__main__":
    main(sys.argv[1:])
