"""S3: where restored backups land. Every call goes through ``AwsSession`` (translation + logged retries).

"A corrupt file never sits at its final key" is achieved without a staging copy:

* a small file is held in memory while it streams and hashed; it is PUT (with its sha256 in the
  object metadata) only after the digest matched SHA256SUMS;
* a large file is streamed straight into a multipart upload *at its final key*: S3 shows no object
  until ``CompleteMultipartUpload``, which is called only after the running sha256 matched; on a
  mismatch (or any failure) the upload is aborted and nothing ever existed at that key.

Why not a staging key + ``copy_object``? The copy doubles the S3-side work for every byte (server-side
copies of multi-GB objects need multipart copies too) and a crash between the two leaves debris under
a staging prefix; spooling to local disk first would serialise download and upload and needs local
space as large as the snapshot. The multipart approach pipelines download -> hash -> upload and is
atomic at the final key. Uploads interrupted by a crash are aborted by ``abort_uploads`` on the next
run (and by the bucket's lifecycle rule for incomplete multipart uploads, if any).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import structlog
from botocore.exceptions import BotoCoreError

from orchestrator.adapters.aws import AwsFatalError, AwsSession, is_not_found
from orchestrator.errors import OrchestratorError

log = structlog.get_logger("orchestrator.s3")

MAX_PARTS = 10_000


#: why a link lives shorter than asked: the temporary credentials that signed it expire sooner
LINK_LIMITED = "credentials"
#: a link signed with temporary credentials whose expiry the SDK does not know: it dies with them, when unknown
LINK_EXPIRY_UNKNOWN = "unknown"


@dataclass(frozen=True)
class PresignedLink:
    """A presigned URL and how long it really lives (None: signed by temporary credentials of unknown end)."""

    url: str
    expires_in_seconds: int | None
    expires_at: datetime | None
    #: None (as asked), ``LINK_LIMITED`` (cut to the credentials' end) or ``LINK_EXPIRY_UNKNOWN``
    limited_by: str | None = None


#: the codes of a conditional PUT that lost to another write of the same object
_RACE_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


class S3:
    """Object operations on one AWS session (the S3 client is built on first use)."""

    def __init__(self, aws: AwsSession):
        self.aws = aws

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self.aws.call("s3", method, **kwargs)

    def head(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The object's headers (ContentLength, Metadata, ...) or None when there is no such object."""
        try:
            return cast("dict[str, Any] | None", self._call("head_object", Bucket=bucket, Key=key))
        except OrchestratorError as exc:
            if is_not_found(exc) or getattr(exc, "code", "") in ("404", "NoSuchKey"):
                return None
            raise

    def exists(self, bucket: str, key: str) -> bool:
        return self.head(bucket, key) is not None

    def get_bytes(self, bucket: str, key: str) -> bytes | None:
        try:
            answer = self._call("get_object", Bucket=bucket, Key=key)
        except OrchestratorError as exc:
            if is_not_found(exc):
                return None
            raise
        return cast("bytes | None", self.aws.run(answer["Body"].read, service="s3", operation="get_object.read"))

    def get_json(self, bucket: str, key: str) -> Any | None:
        data = self.get_bytes(bucket, key)
        return None if data is None else json.loads(data)

    def put_bytes(
        self,
        bucket: str,
        key: str,
        body: bytes,
        metadata: dict[str, str] | None = None,
        content_type: str = "application/octet-stream",
        sha256: str | None = None,
    ) -> None:
        """PUT ``body``; with ``sha256`` (hex, the digest the caller verified) S3 checks the bytes it
        received against it and refuses the PUT (BadDigest) on a mismatch: end-to-end integrity from
        the manifest to the stored object, and no CRC32 of the body computed here."""
        checksum = {}
        if sha256:
            digest = base64.b64encode(bytes.fromhex(sha256)).decode()
            checksum = {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": digest}
        self._call(
            "put_object", Bucket=bucket, Key=key, Body=body, Metadata=metadata or {}, ContentType=content_type,
            **checksum,
        )

    def put_locked(self, bucket: str, key: str, body: bytes, retain_until: datetime, sha256: str) -> str | None:
        """PUT ``body`` under S3 Object Lock in compliance mode until ``retain_until`` (no one, root included,
        can delete or overwrite this version before then; the bucket must have Object Lock enabled). S3 checks
        the bytes against ``sha256``. Returns the new version's id."""
        answer = self._call(
            "put_object", Bucket=bucket, Key=key, Body=body, ContentType="application/octet-stream",
            ChecksumAlgorithm="SHA256", ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode(),
            ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=retain_until,
        )
        return answer.get("VersionId") if isinstance(answer, dict) else None

    def put_page(
        self, bucket: str, key: str, html: str, *, policy: str = "notify", metadata: dict[str, str] | None = None,
        replacing: str | None = None, absent: bool = False,
    ) -> bool:
        """Publish an HTML page that browsers and CDNs must fetch afresh every time (the live status page).

        A conditional write when asked: only over the object of ETag ``replacing`` (If-Match), or only where
        there is none (``absent``: If-None-Match *). False when that condition failed (another write of the
        object came first: S3's ``PreconditionFailed``, or ``ConditionalRequestConflict`` for two at once)."""
        condition = {"IfMatch": replacing} if replacing else {"IfNoneMatch": "*"} if absent else {}
        try:
            self.aws.call(
                "s3",
                "put_object",
                policy=policy,
                Bucket=bucket,
                Key=key,
                Body=html.encode("utf-8"),
                ContentType="text/html; charset=utf-8",
                CacheControl="no-cache",
                Metadata=metadata or {},
                **condition,
            )
        except OrchestratorError as exc:
            if condition and getattr(exc, "code", "") in _RACE_CODES:
                return False
            raise
        return True

    def presigned_get(self, bucket: str, key: str, expires_seconds: int) -> str:
        """A link that fetches the object without credentials until it expires (computed locally: no call)."""
        return self.presign_get(bucket, key, expires_seconds).url

    def presign_get(self, bucket: str, key: str, wanted_seconds: int) -> PresignedLink:
        """A presigned GET that lives ``wanted_seconds``, or less: a link signed with temporary credentials
        (a role session) stops working when they expire, so it is signed for no longer than they have left,
        and says how long it really lives. Computed locally, no call; the times are the signature's own
        (the system clock, which the link's ``X-Amz-Date`` carries)."""
        credentials = self.aws.signing_credentials()
        now = datetime.now(UTC)
        seconds, limit = wanted_seconds, None
        if credentials.expires_at is not None:
            left = int((credentials.expires_at - now).total_seconds())
            if left < wanted_seconds:
                seconds, limit = max(1, left), LINK_LIMITED
        elif credentials.session:
            limit = LINK_EXPIRY_UNKNOWN
        try:
            url: str = self.aws.presigner("s3").generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
            )
        except BotoCoreError as exc:  # no credentials to sign with: a clear failure, never an internal error
            raise AwsFatalError(f"s3 presign of s3://{bucket}/{key}: {type(exc).__name__}: {exc}") from None
        if limit == LINK_EXPIRY_UNKNOWN:
            log.warning("status_page.link_expiry_unknown", wanted_seconds=wanted_seconds,
                        hint="temporary credentials without a known expiry sign the link: it dies with them; "
                             "give AWS_CREDENTIAL_EXPIRATION or use a profile (role, SSO) so that it is stated")
            return PresignedLink(url, None, None, limit)
        return PresignedLink(url, seconds, now + timedelta(seconds=seconds), limit)

    def put_json(self, bucket: str, key: str, data: object) -> None:
        body = json.dumps(data, indent=2, sort_keys=True).encode()
        self.put_bytes(bucket, key, body, content_type="application/json")

    def copy(self, bucket: str, source_key: str, key: str) -> None:
        """Server-side copy (metadata copied). Single-request copy: objects up to 5 GB."""
        self._call("copy_object", Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key})

    def delete(self, bucket: str, key: str) -> None:
        self._call("delete_object", Bucket=bucket, Key=key)

    def delete_many(self, bucket: str, keys: list[str]) -> int:
        """Delete ``keys`` in batches of 1000 (DeleteObjects); FatalError naming the first key S3 refused."""
        from orchestrator.errors import FatalError

        deleted = 0
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            answer = self._call("delete_objects", Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise FatalError(f"s3 refused to delete {first.get('Key')}: {first.get('Code')} ({len(errors)} keys)")
            deleted += len(batch)
        return deleted

    def list_keys(self, bucket: str, prefix: str) -> dict[str, int]:
        """key -> size for every object under ``prefix``."""
        out: dict[str, int] = {}
        token: str | None = None
        while True:
            kwargs = {"Bucket": bucket, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            answer = self._call("list_objects_v2", **kwargs)
            out.update({item["Key"]: int(item["Size"]) for item in answer.get("Contents", [])})
            token = answer.get("NextContinuationToken")
            if not answer.get("IsTruncated") or not token:
                return out

    def start_upload(self, bucket: str, key: str, metadata: dict[str, str] | None = None) -> MultipartUpload:
        """A multipart upload at ``key``: invisible until :meth:`MultipartUpload.complete`."""
        answer = self._call(
            "create_multipart_upload",
            Bucket=bucket,
            Key=key,
            Metadata=metadata or {},
            ContentType="application/octet-stream",
        )
        return MultipartUpload(self, bucket, key, answer["UploadId"])

    def abort_uploads(self, bucket: str, prefix: str) -> int:
        """Abort every unfinished multipart upload under ``prefix`` (debris of a crashed run)."""
        answer = self._call("list_multipart_uploads", Bucket=bucket, Prefix=prefix)
        uploads = answer.get("Uploads", [])
        for upload in uploads:
            self._call(
                "abort_multipart_upload", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        return len(uploads)

    def abort_uploads_of(self, bucket: str, key: str) -> int:
        """Abort the unfinished multipart uploads of exactly ``key`` (a dead restore worker's)."""
        answer = self._call("list_multipart_uploads", Bucket=bucket, Prefix=key)
        uploads = [u for u in answer.get("Uploads", []) if u["Key"] == key]
        for upload in uploads:
            self._call("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload["UploadId"])
        return len(uploads)


@dataclass
class MultipartUpload:
    s3: S3
    bucket: str
    key: str
    upload_id: str
    parts: dict[int, str] = field(default_factory=dict)

    def upload_part(self, number: int, body: bytes) -> None:
        """Send part ``number`` (1-based; 5 MiB minimum except the last). Thread-safe per part."""
        if not 1 <= number <= MAX_PARTS:
            raise ValueError(f"part number {number} outside 1..{MAX_PARTS}")
        answer = self.s3._call(
            "upload_part",
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,
        )
        self.parts[number] = answer["ETag"]

    def complete(self) -> None:
        parts = [{"PartNumber": n, "ETag": self.parts[n]} for n in sorted(self.parts)]
        self.s3._call(
            "complete_multipart_upload",
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": parts},
        )

    def abort(self) -> None:
        """Abandon the upload: nothing is (or ever was) visible at the key."""
        try:
            self.s3._call("abort_multipart_upload", Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except OrchestratorError as exc:
            log.warning("s3.abort_failed", key=self.key, error=str(exc))
