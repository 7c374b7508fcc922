"""backup.restore against a real OpenSSH sshd (SFTP) and a moto server (S3): happy path, skip on
resume, injected S3 throttling, a dropped SFTP link mid-file, corrupt files, stale snapshots, hostile
listings and a wrong host key."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from structlog.testing import capture_logs

from orchestrator.adapters.ssh import HostKeyMismatch
from orchestrator.backup.contract import CRITICAL_MARKER_NAME, MARKER_NAME, UnmatchedCriticalPattern, rpo_age
from orchestrator.backup.sha256sums import Sha256SumsError
from orchestrator.backup.transfer import ChecksumMismatch
from orchestrator.sandbox import snapshots
from orchestrator.sandbox.sshd import generate_keypair
from orchestrator.steps.backup import BackupRestore
from orchestrator.steps.base import RunOptions
from orchestrator.steps.snapshot_choice import SnapshotGone, StaleSnapshot
from tests.fixtures.aws import make_step_context, run_step

pytestmark = pytest.mark.integration

SMALL_PARTS = {"part_size_mib": 5}


def newest_time(clock, hours_old: float = 1.0):
    return clock.now() - timedelta(hours=hours_old)


def s3_client(ctx):
    return ctx.services.aws.client("s3")


def object_bytes(ctx, key: str) -> bytes:
    return s3_client(ctx).get_object(Bucket=ctx.site.backup.bucket, Key=key)["Body"].read()


def keys_under(ctx, prefix: str) -> set[str]:
    answer = s3_client(ctx).list_objects_v2(Bucket=ctx.site.backup.bucket, Prefix=prefix)
    return {item["Key"] for item in answer.get("Contents", [])}


@pytest.fixture
def restore_ctx():
    """A factory of backup.restore contexts; their SSH connections are closed after the test."""
    made = []

    def build(site, clock, **kwargs):
        params = {**SMALL_PARTS, **kwargs.pop("params", {})}
        ctx = make_step_context(BackupRestore, site, clock, params=params, **kwargs)
        made.append(ctx)
        return ctx

    yield build
    for ctx in made:
        ctx.services.close()


@pytest.fixture
def history(snapshot_root, clock):
    """Two daily snapshots (newest 1 h old); the newest has files above and below the part size."""
    infos = snapshots.make_snapshots(snapshot_root, newest=newest_time(clock), days=2, files=10, total_mb=28)
    return infos


def test_restore_puts_every_file_then_the_marker(make_ssh_site, history, clock, restore_ctx):
    """Every listed file lands at PREFIX/SNAPSHOT/RELPATH with identical bytes; the marker lists them all."""
    site = make_ssh_site()
    newest = history[-1]
    ctx = restore_ctx(site, clock)
    assert run_step(BackupRestore(), ctx)
    for relpath, digest in newest.files.items():
        data = object_bytes(ctx, f"restored/{newest.name}/{relpath}")
        assert hashlib.sha256(data).hexdigest() == digest
    marker = ctx.services.s3.get_json(site.backup.bucket, f"restored/{newest.name}/{MARKER_NAME}")
    assert marker["snapshot"] == newest.name
    assert marker["run_id"] == "run-test"
    assert marker["files"] == len(newest.files)
    assert marker["bytes"] == newest.bytes
    assert {e["path"]: e["sha256"] for e in marker["sha256"]} == newest.files
    assert ctx.state["snapshot"] == newest.name
    assert ctx.state["rpo_seconds"] == pytest.approx(3600)
    assert ctx.state["bytes"] == newest.bytes
    assert ctx.state["bytes_per_second"] > 0
    assert max(newest.sizes.values()) > 5 << 20  # the multipart path was taken


def test_whole_files_carry_the_manifest_sha256_as_their_s3_checksum(make_ssh_site, history, clock, restore_ctx):
    """A file sent in one PUT carries SHA256SUMS's digest as its S3 checksum (x-amz-checksum-sha256: S3
    refuses the PUT when the bytes it received differ, and anyone can check the object with
    `head-object --checksum-mode ENABLED`); a part carries botocore's CRC32. No request SHA-256-signs its
    body (UNSIGNED-PAYLOAD, as botocore already does over HTTPS): the restore hashes each byte once."""
    site = make_ssh_site()
    newest = history[-1]
    ctx = restore_ctx(site, clock)
    sent: list[tuple[str, dict]] = []
    client = s3_client(ctx)
    client.meta.events.register(
        "before-send.s3", lambda request, **kw: sent.append((request.method, dict(request.headers))))
    assert run_step(BackupRestore(), ctx)
    small = [rel for rel, size in newest.sizes.items() if size <= 5 << 20]
    assert small and len(small) < len(newest.sizes)
    for relpath in small:
        head = client.head_object(Bucket=site.backup.bucket, Key=f"restored/{newest.name}/{relpath}",
                                  ChecksumMode="ENABLED")
        assert base64.b64decode(head["ChecksumSHA256"]).hex() == newest.files[relpath]
    bodies = [headers for method, headers in sent if method == "PUT"]
    assert bodies and all(h["X-Amz-Content-SHA256"] == b"UNSIGNED-PAYLOAD" for h in bodies)
    assert all(("x-amz-checksum-sha256" in h) != ("x-amz-checksum-crc32" in h) for h in bodies), bodies
    assert sum("x-amz-checksum-sha256" in h for h in bodies) == len(small)


def test_restore_skips_files_already_restored(make_ssh_site, history, clock, restore_ctx):
    """A second run of apply re-downloads nothing whose sha256 is already at its key."""
    site = make_ssh_site()
    BackupRestore().apply(restore_ctx(site, clock))
    again = restore_ctx(site, clock)
    BackupRestore().apply(again)
    assert again.state["skipped_files"] == len(history[-1].files)
    assert again.state["bytes_transferred"] == 0


def test_restore_ignores_incomplete_newer_snapshot(make_ssh_site, history, snapshot_root, clock, restore_ctx):
    """A newer snapshot without SHA256SUMS (still being written) is not restored."""
    snapshots.make_incomplete(snapshot_root, snapshots.snapshot_name(clock.now()), files=4, total_mb=1)
    site = make_ssh_site()
    ctx = restore_ctx(site, clock)
    BackupRestore().apply(ctx)
    assert ctx.state["snapshot"] == history[-1].name


def test_restore_retries_injected_s3_throttling(make_ssh_site, history, clock, restore_ctx):
    """SlowDown answers on PutObject and UploadPart are retried (logged) and the restore completes."""
    site = make_ssh_site()
    ctx = restore_ctx(site, clock)
    failures = {"PutObject": 2, "UploadPart": 1}

    def throttle(model, **_):
        if failures.get(model.name, 0) > 0:
            failures[model.name] -= 1
            raise ClientError(
                {
                    "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                    "ResponseMetadata": {"HTTPStatusCode": 503},
                },
                model.name,
            )

    ctx.services.aws.add_event_hook("before-call.s3.*", throttle)
    with capture_logs() as logs:
        assert run_step(BackupRestore(), ctx)
    retries = [e for e in logs if e["event"] == "retry"]
    assert len(retries) == 3
    assert failures == {"PutObject": 0, "UploadPart": 0}


def test_restore_resumes_a_file_after_the_sftp_link_drops(
    make_ssh_site, snapshot_root, cutting_proxy, clock, restore_ctx
):
    """The link carrying a large file is cut mid-file; the download resumes at its offset, bytes intact."""
    info = snapshots.write_snapshot(
        snapshot_root, snapshots.snapshot_name(newest_time(clock)), files=4, total_mb=12
    )
    largest = max(info.sizes, key=info.sizes.get)
    proxy = cutting_proxy(after_bytes=3_000_000)
    site = make_ssh_site(sftp={"port": proxy.port})
    ctx = restore_ctx(site, clock, params={"workers": 1})
    with capture_logs() as logs:
        assert run_step(BackupRestore(), ctx)
    resumes = [e for e in logs if e["event"] == "sftp.resume"]
    assert proxy.cuts_done == 1
    assert resumes and resumes[0]["offset"] > 0
    data = object_bytes(ctx, f"restored/{info.name}/{largest}")
    assert hashlib.sha256(data).hexdigest() == info.files[largest]


@pytest.mark.parametrize("which", ["largest", "agents/roster.csv"])
def test_corrupt_file_fails_without_marker_or_object(make_ssh_site, history, clock, which, restore_ctx):
    """A file whose bytes differ from SHA256SUMS fails the step; neither it nor the marker exists in S3."""
    relpath = snapshots.corrupt(history[-1], None if which == "largest" else which)
    site = make_ssh_site()
    ctx = restore_ctx(site, clock)
    with pytest.raises(ChecksumMismatch, match="sha256 mismatch"):
        BackupRestore().apply(ctx)
    prefix = f"restored/{history[-1].name}/"
    present = keys_under(ctx, prefix)
    assert prefix + relpath not in present
    assert prefix + MARKER_NAME not in present
    uploads = s3_client(ctx).list_multipart_uploads(Bucket=site.backup.bucket, Prefix=prefix)
    assert not uploads.get("Uploads")
    assert not BackupRestore().verify(ctx)


def test_stale_snapshot_is_refused(make_ssh_site, snapshot_root, clock, restore_ctx):
    """A newest snapshot older than the RPO objective is refused, naming its age and the objective."""
    snapshots.write_snapshot(
        snapshot_root, snapshots.snapshot_name(newest_time(clock, 30)), files=4, total_mb=1
    )
    site = make_ssh_site()
    ctx = restore_ctx(site, clock)
    with pytest.raises(StaleSnapshot, match="--accept-rpo-breach"):
        BackupRestore().apply(ctx)
    assert keys_under(ctx, "restored/") == set()
    assert ctx.state["rpo_seconds"] == pytest.approx(30 * 3600)


def test_stale_snapshot_restored_when_breach_accepted(make_ssh_site, snapshot_root, clock, restore_ctx):
    """With accept_rpo_breach the stale snapshot is restored and the breach is logged and recorded."""
    info = snapshots.write_snapshot(
        snapshot_root, snapshots.snapshot_name(newest_time(clock, 30)), files=4, total_mb=1
    )
    site = make_ssh_site()
    ctx = restore_ctx(site, clock, options=RunOptions(accept_rpo_breach=True))
    with capture_logs() as logs:
        assert run_step(BackupRestore(), ctx)
    assert ctx.state["rpo_breach_accepted"] is True
    assert any(e["event"] == "rpo.breach_accepted" for e in logs)
    assert ctx.services.s3.exists(site.backup.bucket, f"restored/{info.name}/{MARKER_NAME}")


def test_wrong_host_key_is_refused_without_retry(make_ssh_site, history, clock, restore_ctx):
    """A server whose key differs from the pinned one is refused at once (FatalError, no retry, no sleep)."""
    site = make_ssh_site(sftp={"host_key": generate_keypair().public_line})
    ctx = restore_ctx(site, clock)
    with capture_logs() as logs, pytest.raises(HostKeyMismatch, match="host key mismatch"):
        BackupRestore().apply(ctx)
    assert not [e for e in logs if e["event"] == "retry"]
    assert clock.sleeps == []


def test_listing_with_parent_path_is_refused(make_ssh_site, snapshot_root, clock, restore_ctx):
    """A SHA256SUMS naming ../ outside the snapshot fails before anything is read or written."""
    info = snapshots.write_snapshot(
        snapshot_root, snapshots.snapshot_name(newest_time(clock)), files=4, total_mb=1
    )
    (info.path / "SHA256SUMS").write_text("0" * 64 + "  ../../etc/passwd\n")
    site = make_ssh_site()
    ctx = restore_ctx(site, clock)
    with pytest.raises(Sha256SumsError, match="line 1"):
        BackupRestore().apply(ctx)
    assert keys_under(ctx, "restored/") == set()


def test_symlinked_file_is_not_followed(make_ssh_site, snapshot_root, clock, restore_ctx):
    """A listed file that is a symlink (e.g. to a file outside the snapshot) is refused, not read."""
    info = snapshots.write_snapshot(
        snapshot_root, snapshots.snapshot_name(newest_time(clock)), files=4, total_mb=1
    )
    target = info.path / "agents/roster.csv"
    target.unlink()
    target.symlink_to("/etc/passwd")
    site = make_ssh_site()
    with pytest.raises(Exception, match="not a regular file"):
        BackupRestore().apply(restore_ctx(site, clock))


def test_rpo_age_reports_age_against_the_objective(make_ssh_site, history, clock, restore_ctx):
    """The contract's RPO age names the newest complete snapshot and whether it is within the RPO."""
    site = make_ssh_site()
    ctx = restore_ctx(site, clock)
    newest = ctx.services.backup_source.newest_complete_snapshot()
    fresh = rpo_age(newest, 86400, clock.now())
    assert (fresh.within, fresh.snapshot, fresh.age_seconds) == (True, history[-1].name, 3600)
    assert not rpo_age(newest, 600, clock.now()).within


def with_critical(site, patterns):
    """The site with ``backup.critical`` set to ``patterns`` (a tiered site)."""
    return site.model_copy(update={"backup": site.backup.model_copy(update={"critical": list(patterns)})})


def publish_newer(snapshot_root, clock):
    """The provider publishes a snapshot newer than the history's newest (30 min old, within the RPO)."""
    return snapshots.write_snapshot(snapshot_root, snapshots.snapshot_name(newest_time(clock, 0.5)), files=4,
                                    total_mb=1, seed=99)


def test_a_later_attempt_restores_the_snapshot_the_run_chose(
    make_ssh_site, history, snapshot_root, clock, restore_ctx
):
    """The first attempt chooses the newest snapshot A and journals it before any transfer; A has a corrupt
    file, so the attempt fails. The provider repairs it and publishes a newer B: the next attempt (the same
    journaled state, as after a resume) restores A to the end -- A's marker, nothing of B."""
    site, a = make_ssh_site(), history[-1]
    snapshots.corrupt(a)
    first = restore_ctx(site, clock)
    with pytest.raises(ChecksumMismatch):
        BackupRestore().apply(first)
    snapshots.corrupt(a)  # repaired
    b = publish_newer(snapshot_root, clock)
    again = restore_ctx(site, clock, state=dict(first.state))
    assert run_step(BackupRestore(), again)
    assert keys_under(again, f"restored/{b.name}/") == set()
    assert again.services.s3.exists(site.backup.bucket, f"restored/{a.name}/{MARKER_NAME}")
    assert again.state["snapshot"] == a.name and again.state["rpo_seconds"] == pytest.approx(3600)
    assert first.state["restoring_snapshot"] == again.state["restoring_snapshot"] == a.name


def test_the_bulk_step_restores_the_snapshot_the_critical_step_chose(
    make_ssh_site, history, snapshot_root, clock, restore_ctx
):
    """The critical step restored A; a newer B is published before the bulk step starts (a resume in another
    process, nothing journaled by the bulk step yet): the bulk takes the run's snapshot A over, with its
    RPO as judged then, and writes A's complete marker; B is never touched."""
    site, a = with_critical(make_ssh_site(), snapshots.CRITICAL_PATTERNS), history[-1]
    critical = restore_ctx(site, clock, params={"tier": "critical"}, step_id="restore-critical")
    assert run_step(BackupRestore(), critical)
    b = publish_newer(snapshot_root, clock)
    clock.advance(7200)
    bulk = restore_ctx(site, clock, params={"tier": "bulk"}, step_id="restore-bulk",
                       kind_outputs={"restore-critical": critical.state})
    assert run_step(BackupRestore(), bulk)
    assert keys_under(bulk, f"restored/{b.name}/") == set()
    s3 = bulk.services.s3
    assert s3.exists(site.backup.bucket, f"restored/{a.name}/{CRITICAL_MARKER_NAME}")
    assert s3.get_json(site.backup.bucket, f"restored/{a.name}/{MARKER_NAME}")["files"] == len(a.files)
    assert bulk.state["snapshot"] == a.name
    assert bulk.state["rpo_seconds"] == pytest.approx(3600)  # judged when the run chose A, not now
    assert bulk.state["restoring_snapshot"] == a.name


def test_a_run_whose_snapshot_disappeared_stops_naming_it(
    make_ssh_site, history, snapshot_root, clock, restore_ctx
):
    """The run's snapshot is no longer complete at the provider (its SHA256SUMS gone) when an attempt
    starts: the step fails naming it (and the newest one there), never restoring another snapshot."""
    site, a = make_ssh_site(), history[-1]
    snapshots.corrupt(a)
    first = restore_ctx(site, clock)
    with pytest.raises(ChecksumMismatch):
        BackupRestore().apply(first)
    (a.path / "SHA256SUMS").unlink()
    b = publish_newer(snapshot_root, clock)
    again = restore_ctx(site, clock, state=dict(first.state))
    assert not BackupRestore().verify(again)
    with pytest.raises(SnapshotGone, match=f"snapshot {a.name}, which this run started restoring.*{b.name}"):
        BackupRestore().apply(again)
    assert keys_under(again, f"restored/{b.name}/") == set()


@pytest.mark.parametrize("tier", ["critical", "bulk"])
def test_a_critical_pattern_matching_no_file_refuses_the_tier(make_ssh_site, history, clock, restore_ctx, tier):
    """backup.critical with a pattern that matches no file of the snapshot (a case typo): both tier steps
    refuse before any transfer, naming each such pattern and its index; nothing is written, no marker."""
    site = with_critical(make_ssh_site(), ["nomatch/**", "Agents/**", "ivr/**"])
    ctx = restore_ctx(site, clock, params={"tier": tier})
    expected = r"backup.critical\[0\] 'nomatch/\*\*', backup.critical\[1\] 'Agents/\*\*' match no file"
    with pytest.raises(UnmatchedCriticalPattern, match=expected):
        BackupRestore().plan(ctx)
    with pytest.raises(UnmatchedCriticalPattern, match=expected) as refused:
        BackupRestore().apply(ctx)
    assert "ivr/**" not in str(refused.value)
    assert keys_under(ctx, "restored/") == set()
