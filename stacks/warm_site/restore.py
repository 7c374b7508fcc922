"""Restore: where restored backups land, and the key for the third-party SFTP account they come from.

The bucket is versioned (a bad restore never destroys a good one), encrypted by default (SSE-S3, or
SSE-KMS when a key is configured) and closed to the public by all four public-access-block switches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

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
    """The restore bucket (versioning, encryption, public access blocked) and the SFTP key secret."""

    def __init__(self, name: str, args: RestoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:Restore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket", bucket=args.bucket_name, tags=args.tags.of(args.bucket_name), opts=child
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=self.bucket.id, rules=[encryption_rule(args.kms_key_id)], opts=child
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-no-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        self.key_secret = private_key_secret(
            f"{name}-sftp-key", args.key_secret_name, args.private_key, args.tags, self
        )
        self.bucket_name = self.bucket.bucket
        self.key_secret_name = self.key_secret.name
        self.register_outputs({"bucket": self.bucket_name, "key_secret_name": self.key_secret_name})


def encryption_rule(kms_key_id: str | None) -> dict:
    """Default encryption: SSE-KMS with the given key, else SSE-S3 (AES256); shared by the site's buckets."""
    default = (
        {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_id}
        if kms_key_id
        else {"sse_algorithm": "AES256"}
    )
    return {"apply_server_side_encryption_by_default": default, "bucket_key_enabled": bool(kms_key_id)}
