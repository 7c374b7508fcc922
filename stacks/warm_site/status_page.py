"""StatusPage: the private bucket the live status page is published to (issue 15).

Managers and agents read the page through a presigned link carried by every milestone message; the bucket
itself is never public. Like the restore bucket it is versioned (every published state of the page is kept:
the evidence of what people were told, and when), encrypted by default (SSE-S3, or SSE-KMS when a key is
configured) and closed by all four public-access-block switches; its bucket policy also refuses any request
not made over TLS (a presigned link is a bearer credential: it must never travel in clear).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.warm_site.restore import encryption_rule
from stacks.warm_site.tags import Tags


@dataclass
class StatusPageArgs:
    bucket_name: str
    tags: Tags
    kms_key_id: str | None = None


def tls_only_policy(bucket_arn: str) -> dict[str, Any]:
    """Deny every S3 action on the bucket and its objects to a request not made over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }


class StatusPage(pulumi.ComponentResource):
    """The status-page bucket: versioning, encryption, public access blocked, TLS only."""

    def __init__(self, name: str, args: StatusPageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:StatusPage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket", bucket=args.bucket_name, tags=args.tags.of(args.bucket_name), opts=child
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=self.bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=self.bucket.id, rules=[encryption_rule(args.kms_key_id)], opts=child
        )
        blocked = aws.s3.BucketPublicAccessBlock(
            f"{name}-no-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(lambda arn: json.dumps(tls_only_policy(arn))),
            # after the public access block: S3 checks a new policy against it
            opts=pulumi.ResourceOptions(parent=self, depends_on=[blocked]),
        )
        self.bucket_name = self.bucket.bucket
        self.register_outputs({"bucket": self.bucket_name})
