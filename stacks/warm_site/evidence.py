"""Evidence: the bucket that keeps each run's evidence pack (contract 1.2) where nobody can change it.

Like the other buckets (``buckets.private_bucket``) it is versioned, encrypted, closed to the public and TLS
only; in addition Object Lock is enabled at creation with a default retention in **compliance** mode: each
version the orchestrator uploads (it sets the same retention on each object) can be neither deleted nor
overwritten, nor its retention shortened, by anyone -- the account root included -- until it expires. The
orchestrator role may put objects and their retention, never delete them (access.py); the policy pack checks
both (stacks/policy/rules.py ``evidence-lock``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stacks.warm_site.buckets import private_bucket
from stacks.warm_site.tags import Tags


@dataclass
class EvidenceArgs:
    bucket_name: str
    retention_days: int
    tags: Tags
    kms_key_id: str | None = None


class Evidence(pulumi.ComponentResource):
    """The evidence bucket: versioned, encrypted, private, TLS only, Object Lock in compliance mode."""

    def __init__(self, name: str, args: EvidenceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:Evidence", name, None, opts)
        self.bucket = private_bucket(name, args.bucket_name, args.tags, args.kms_key_id, self, object_lock=True)
        aws.s3.BucketObjectLockConfiguration(
            f"{name}-object-lock", bucket=self.bucket.id, object_lock_enabled="Enabled",
            rule={"default_retention": {"mode": "COMPLIANCE", "days": args.retention_days}},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.bucket_name = self.bucket.bucket
        self.retention_days = args.retention_days
        self.register_outputs({"bucket": self.bucket_name})
