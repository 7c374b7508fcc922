"""What every bucket of the site carries: versioning, default encryption, the four public-access-block
switches and a bucket policy refusing any request not made over TLS. One helper, so that the restore bucket
and the status-page bucket cannot drift apart (the policy pack checks each rule on every bucket)."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.warm_site.tags import Tags


def encryption_rule(kms_key_id: str | None) -> dict:
    """Default encryption: SSE-KMS with the given key, else SSE-S3 (AES256)."""
    default = (
        {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_id}
        if kms_key_id
        else {"sse_algorithm": "AES256"}
    )
    return {"apply_server_side_encryption_by_default": default, "bucket_key_enabled": bool(kms_key_id)}


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


def private_bucket(name: str, bucket_name: str, tags: Tags, kms_key_id: str | None,
                   parent: pulumi.Resource, object_lock: bool = False) -> aws.s3.Bucket:
    """A bucket (logical name ``NAME-bucket``) with its versioning, encryption, public access block and
    TLS-only policy (``NAME-versioning``, ``-encryption``, ``-no-public-access``, ``-tls-only``)."""
    child = pulumi.ResourceOptions(parent=parent)
    # Object Lock can only be enabled when a bucket is created (the evidence bucket)
    lock = {"object_lock_enabled": True} if object_lock else {}
    bucket = aws.s3.Bucket(f"{name}-bucket", bucket=bucket_name, tags=tags.of(bucket_name), opts=child, **lock)
    aws.s3.BucketVersioning(
        f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption", bucket=bucket.id, rules=[encryption_rule(kms_key_id)], opts=child
    )
    blocked = aws.s3.BucketPublicAccessBlock(
        f"{name}-no-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketPolicy(
        f"{name}-tls-only",
        bucket=bucket.id,
        policy=bucket.arn.apply(lambda arn: json.dumps(tls_only_policy(arn))),
        # after the public access block: S3 checks a new bucket policy against it
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[blocked]),
    )
    return bucket
