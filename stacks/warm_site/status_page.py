"""StatusPage: the private bucket the live status page is published to (issue 15).

Managers and agents read the page through a presigned link carried by every milestone message; the bucket
itself is never public. Like the restore bucket (``buckets.private_bucket``) it is versioned (every published
state of the page is kept: the evidence of what people were told, and when), encrypted by default (SSE-S3, or
SSE-KMS when a key is configured), closed by all four public-access-block switches, and its policy refuses
any request not made over TLS (a presigned link is a bearer credential: it must never travel in clear).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from stacks.warm_site.buckets import private_bucket
from stacks.warm_site.tags import Tags


@dataclass
class StatusPageArgs:
    bucket_name: str
    tags: Tags
    kms_key_id: str | None = None


class StatusPage(pulumi.ComponentResource):
    """The status-page bucket: versioning, encryption, public access blocked, TLS only."""

    def __init__(self, name: str, args: StatusPageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:StatusPage", name, None, opts)
        self.bucket = private_bucket(name, args.bucket_name, args.tags, args.kms_key_id, self)
        self.bucket_name = self.bucket.bucket
        self.register_outputs({"bucket": self.bucket_name})
