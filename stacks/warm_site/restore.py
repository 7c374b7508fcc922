"""Restore: where restored backups land, and the key for the third-party SFTP account they come from.

The bucket is versioned (a bad restore never destroys a good one), encrypted by default (SSE-S3, or
SSE-KMS when a key is configured), closed to the public by all four public-access-block switches, and its
policy refuses any request not made over TLS (``buckets.private_bucket``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from stacks.warm_site.buckets import private_bucket
from stacks.warm_site.secrets import private_key_secret
from stacks.warm_site.tags import Tags


@dataclass
class RestoreArgs:
    bucket_name: str
    key_secret_name: str
    tags: Tags
    kms_key_id: str | None = None
    private_key: Any = None


class Restore(pulumi.ComponentResource):
    """The restore bucket (versioning, encryption, public access blocked, TLS only) and the SFTP key secret."""

    def __init__(self, name: str, args: RestoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:Restore", name, None, opts)
        self.bucket = private_bucket(name, args.bucket_name, args.tags, args.kms_key_id, self)
        self.key_secret = private_key_secret(
            f"{name}-sftp-key", args.key_secret_name, args.private_key, args.tags, self
        )
        self.bucket_name = self.bucket.bucket
        self.key_secret_name = self.key_secret.name
        self.register_outputs({"bucket": self.bucket_name, "key_secret_name": self.key_secret_name})

