"""S3: the restore bucket and its versioning, encryption, public access block and policy."""

from __future__ import annotations

from stacks.testing.moto.base import BUCKET_ENCRYPTION, Service, tag_list


class S3(Service):
    TYPES = {
        "aws:s3/bucket:Bucket": "_bucket",
        "aws:s3/bucketVersioning:BucketVersioning": "_bucket_versioning",
        BUCKET_ENCRYPTION: "_bucket_encryption",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "_public_access_block",
        "aws:s3/bucketPolicy:BucketPolicy": "_bucket_policy",
    }

    def _bucket(self, name: str, inputs: dict) -> tuple[str, dict]:
        bucket = inputs.get("bucket") or name
        s3 = self.client("s3")
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
        if inputs.get("tags"):
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_list(inputs["tags"])})
        return bucket, {
            "bucket": bucket,
            "arn": f"arn:aws:s3:::{bucket}",
            "region": self.region,
            "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        }

    def _bucket_versioning(self, name: str, inputs: dict) -> tuple[str, dict]:
        status = inputs["versioningConfiguration"]["status"]
        self.client("s3").put_bucket_versioning(
            Bucket=inputs["bucket"], VersioningConfiguration={"Status": status}
        )
        return inputs["bucket"], {}

    def _bucket_encryption(self, name: str, inputs: dict) -> tuple[str, dict]:
        rules = []
        for rule in inputs["rules"]:
            default = rule["applyServerSideEncryptionByDefault"]
            by_default = {"SSEAlgorithm": default["sseAlgorithm"]}
            if default.get("kmsMasterKeyId"):
                by_default["KMSMasterKeyID"] = default["kmsMasterKeyId"]
            rules.append(
                {
                    "ApplyServerSideEncryptionByDefault": by_default,
                    "BucketKeyEnabled": bool(rule.get("bucketKeyEnabled")),
                }
            )
        self.client("s3").put_bucket_encryption(
            Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules}
        )
        return inputs["bucket"], {}

    def _public_access_block(self, name: str, inputs: dict) -> tuple[str, dict]:
        switches = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
        configuration = {s: bool(inputs.get(s[0].lower() + s[1:])) for s in switches}
        self.client("s3").put_public_access_block(
            Bucket=inputs["bucket"], PublicAccessBlockConfiguration=configuration
        )
        return inputs["bucket"], {}

    def _bucket_policy(self, name: str, inputs: dict) -> tuple[str, dict]:
        if self.endpoint_url.startswith("http:") and "aws:SecureTransport" in inputs["policy"]:
            # moto enforces bucket policies, and a moto server on plain HTTP makes every request non-TLS: the
            # TLS-only policy would refuse the orchestrator's own reads and writes. Recorded (and
            # policy-checked) only; AWS is always reached over HTTPS.
            with self._lock:
                self.skipped.append(f"TLS-only bucket policy of {inputs['bucket']} (moto served over plain HTTP)")
            return inputs["bucket"], {}
        self.client("s3").put_bucket_policy(Bucket=inputs["bucket"], Policy=inputs["policy"])
        return inputs["bucket"], {}
